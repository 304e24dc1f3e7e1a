// examples/fwctl/cli.h — the small command-line toolkit shared by fwctl's
// subcommands: exit codes, long options, the subcommand table.
//
// Every subcommand declares its options as a table of OptionSpec that write
// into the subcommand's own option struct, so adding a subcommand (check,
// feed, policy, ...) is one table row in main.cc plus one run function.
//
// Thread-safety: single-threaded program code.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fwctl {

// Process exit codes; documented in docs/fwctl.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,  // a file, capture, config or the engine failed
  kExitUsageError = 2,    // the command line is wrong
};

// Returned by an option's apply function when the value is unacceptable.
using OptionError = std::optional<std::string>;

// One long option: "--name VALUE", "--name=VALUE", or a flag "--name".
struct OptionSpec {
  std::string_view name;        // without the leading "--"
  std::string_view value_name;  // e.g. "FILE"; empty = a flag without value
  std::string_view help;
  // Stores the value (empty for flags) into the subcommand's option struct.
  std::function<OptionError(std::string_view value)> apply;
};

struct ParsedCommandLine {
  bool help_requested = false;  // "--help" or "-h" was given
};

// Parses `args` (everything after the subcommand name) against `specs`.
// Positional arguments are refused: every input is named. Returns a one-line
// message on a usage error.
std::optional<std::string> parse_options(std::span<const std::string_view> args,
                                         std::span<const OptionSpec> specs,
                                         ParsedCommandLine& parsed);

// Writes the option list of a subcommand's --help.
void print_options(std::FILE* out, std::span<const OptionSpec> specs);

// One row of the subcommand table.
struct Subcommand {
  std::string_view name;
  std::string_view summary;  // one line for `fwctl --help`
  int (*run)(std::span<const std::string_view> args);
};

// Prints "fwctl <command>: <message> (see 'fwctl <command> --help')" and
// returns kExitUsageError.
int usage_error(std::string_view command, std::string_view message);
// Prints "fwctl <command>: <message>" and returns kExitRuntimeError.
int runtime_error(std::string_view command, std::string_view message);

}  // namespace fwctl
