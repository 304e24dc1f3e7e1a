// bench/fwbench/cli.h — fwbench's binding of the shared command-line toolkit
// (examples/cli/cli.h): its error lines say "fwbench".
#pragma once

#include <string_view>

#include "examples/cli/cli.h"

namespace fwbench {

using fw::cli::CommandLine;
using fw::cli::kExitFailure;
using fw::cli::kExitOk;
using fw::cli::kExitUsageError;
using fw::cli::OptionError;
using fw::cli::OptionSpec;
using fw::cli::parse_command_line;
using fw::cli::parse_count;
using fw::cli::print_options;
using fw::cli::Subcommand;

inline int usage_error(std::string_view command, std::string_view message) {
  return fw::cli::usage_error("fwbench", command, message);
}
inline int failure(std::string_view command, std::string_view message) {
  return fw::cli::failure("fwbench", command, message);
}

}  // namespace fwbench
