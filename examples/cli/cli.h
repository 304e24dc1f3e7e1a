// examples/cli/cli.h — the small command-line toolkit shared by libfw's
// tools (fwctl, fwbench): exit codes, long options written into a command's
// option struct, positional arguments, the subcommand table, error lines.
//
// A subcommand declares its options as a table of OptionSpec whose apply
// functions store into its own option struct, so adding a subcommand is one
// table row in the tool's main.cc plus one run function.
//
// Thread-safety: plain functions; used from main() only.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fw::cli {

// Process exit codes, the same for every tool (docs/fwctl.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // a file, a build or the engine failed, or a check disagreed
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
  bool help_requested = false;  // "--help" or "-h" was given
  std::vector<std::string_view> positionals;
};

// Parses `args` (everything after the subcommand name). Arguments that do not
// start with "-" are positionals, in order ("-" alone is a value: stdout).
// "--opt --other" is a missing value, not a value "--other". Returns a
// one-line message on a usage error.
std::optional<std::string> parse_command_line(std::span<const std::string_view> args,
                                              std::span<const OptionSpec> specs,
                                              CommandLine& parsed);

// The option list of a subcommand's --help.
void print_options(std::FILE* out, std::span<const OptionSpec> specs);

// Value parser for option tables: a whole number in [min, max].
OptionError parse_count(std::string_view text, std::size_t min, std::size_t max,
                        std::size_t& out);

// One row of a tool's subcommand table.
struct Subcommand {
  std::string_view name;
  std::string_view summary;  // one line for `<tool> --help`
  int (*run)(std::span<const std::string_view> args);
};

// "<tool> <command>: <message> (see '<tool> <command> --help')"; returns kExitUsageError.
int usage_error(std::string_view tool, std::string_view command, std::string_view message);
// "<tool> <command>: <message>"; returns kExitFailure.
int failure(std::string_view tool, std::string_view command, std::string_view message);

}  // namespace fw::cli
