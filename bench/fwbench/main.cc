// fwbench — libfw's macro benchmarks, each beside its peer. See docs/classbench.md.
//
//   fwbench classbench RULES TRACE [options]
//   fwbench membership [options]
//   fwbench conntrack [options]
//   fwbench --help
#include <array>
#include <exception>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "bench/fwbench/cli.h"
#include "bench/fwbench/commands.h"

namespace fwbench {
namespace {

int run_help(std::span<const std::string_view> args);

// The subcommand table.
constexpr std::array kSubcommands = {
    Subcommand{"classbench", "rule classification on ClassBench rules and traces, vs DPDK rte_acl",
               run_classbench},
    Subcommand{"membership", "tag change to enforcement: latency, burst throughput, memory at 100k VMs",
               run_membership},
    Subcommand{"conntrack", "connection table and stateful DFW: new/s, established pps, SYN flood, workers",
               run_conntrack},
    Subcommand{"help", "show this help", run_help},
};

int run_help(std::span<const std::string_view>) {
  fmt::print(
      "Usage: fwbench <command> [arguments] [options]\n"
      "\n"
      "Macro benchmarks of libfw, each run beside its peer implementation.\n"
      "\n"
      "Commands:\n");
  for (const Subcommand& command : kSubcommands) {
    fmt::print("  {:<12} {}\n", command.name, command.summary);
  }
  fmt::print(
      "\n"
      "Run 'fwbench <command> --help' for the options of a command.\n"
      "Exit codes: 0 ok, 1 failure (bad data, build error, classifiers disagree), 2 usage error.\n");
  return kExitOk;
}

int dispatch(std::span<const std::string_view> args) {
  if (args.empty()) {
    fmt::print(stderr, "fwbench: missing command (see 'fwbench --help')\n");
    return kExitUsageError;
  }
  std::string_view name = args[0];
  if (name == "--help" || name == "-h") return run_help({});
  for (const Subcommand& command : kSubcommands) {
    if (command.name == name) return command.run(args.subspan(1));
  }
  fmt::print(stderr, "fwbench: unknown command '{}' (see 'fwbench --help')\n", name);
  return kExitUsageError;
}

}  // namespace
}  // namespace fwbench

int main(int argc, char** argv) {
  // Errors are reported as fw::Status; std::bad_alloc (a 100k-rule build can
  // take GBs) still ends as a one-line message, not an abort.
  try {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return fwbench::dispatch(args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fwbench: {}\n", e.what());
    return fwbench::kExitFailure;
  }
}
