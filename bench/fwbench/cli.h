// bench/fwbench/cli.h — the small command-line toolkit of fwbench: exit
// codes, long options, positional arguments, the subcommand table.
//
// A subcommand declares its options as a table of OptionSpec writing into its
// own option struct, and its positional arguments as a list of names; adding
// a subcommand (conntrack, membership, ...) is one table row in main.cc and
// one run function.
//
// Thread-safety: single-threaded program code.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fwbench {

// Process exit codes; documented in docs/classbench.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // a file or a build failed, or a classifier disagreed
  kExitUsageError = 2,  // the command line is wrong
};

// Returned by an option's apply function when the value is unacceptable.
using OptionError = std::optional<std::string>;

// One long option: "--name VALUE", "--name=VALUE", or a flag "--name".
struct OptionSpec {
  std::string_view name;        // without the leading "--"
  std::string_view value_name;  // e.g. "FILE"; empty = a flag without value
  std::string_view help;
  std::function<OptionError(std::string_view value)> apply;  // value empty for flags
};

struct CommandLine {
  bool help_requested = false;
  std::vector<std::string_view> positionals;
};

// Parses `args` (everything after the subcommand name). Arguments that do not
// start with "--" are positionals, in order. Returns a one-line message on a
// usage error.
std::optional<std::string> parse_command_line(std::span<const std::string_view> args,
                                              std::span<const OptionSpec> specs,
                                              CommandLine& parsed);

void print_options(std::FILE* out, std::span<const OptionSpec> specs);

// Value parsers for option tables.
OptionError parse_count(std::string_view text, std::size_t min, std::size_t max,
                        std::size_t& out);

struct Subcommand {
  std::string_view name;
  std::string_view summary;  // one line for `fwbench --help`
  int (*run)(std::span<const std::string_view> args);
};

// "fwbench <command>: <message> (see 'fwbench <command> --help')", returns kExitUsageError.
int usage_error(std::string_view command, std::string_view message);
// "fwbench <command>: <message>", returns kExitFailure.
int failure(std::string_view command, std::string_view message);

}  // namespace fwbench
