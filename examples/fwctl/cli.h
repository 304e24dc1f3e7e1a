// examples/fwctl/cli.h — fwctl's binding of the shared command-line toolkit
// (examples/cli/cli.h): its exit codes and error lines say "fwctl".
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "examples/cli/cli.h"

namespace fwctl {

using fw::cli::kExitOk;
using fw::cli::kExitUsageError;
using fw::cli::OptionError;
using fw::cli::OptionSpec;
using fw::cli::print_options;
using fw::cli::Subcommand;
using ParsedCommandLine = fw::cli::CommandLine;
inline constexpr int kExitRuntimeError = fw::cli::kExitFailure;  // docs/fwctl.md

// fwctl names every input (--pcap FILE): positional arguments are refused.
inline std::optional<std::string> parse_options(std::span<const std::string_view> args,
                                                std::span<const OptionSpec> specs,
                                                ParsedCommandLine& parsed) {
  if (auto error = fw::cli::parse_command_line(args, specs, parsed)) return error;
  if (!parsed.positionals.empty())
    return fmt::format("unexpected argument '{}'; inputs are given as --option VALUE",
                       parsed.positionals.front());
  return std::nullopt;
}

inline int usage_error(std::string_view command, std::string_view message) {
  return fw::cli::usage_error("fwctl", command, message);
}
inline int runtime_error(std::string_view command, std::string_view message) {
  return fw::cli::failure("fwctl", command, message);
}

}  // namespace fwctl
