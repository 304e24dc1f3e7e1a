// fwctl — command-line front end of libfw. See docs/fwctl.md.
//
//   fwctl replay --pcap FILE [--vnic-mac MAC] [--config FILE] [--verdicts OUT]
//   fwctl check FILE [--format text|json|binary] [--quiet]
//   fwctl feed --from FILE|etcd://HOST:PORT/PREFIX --policy FILE [--exit-after-sync] [--duration S]
//   fwctl version
//   fwctl --help
#include <array>
#include <exception>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "examples/fwctl/cli.h"
#include "examples/fwctl/commands.h"

namespace fwctl {
namespace {

int run_version(std::span<const std::string_view> args);
int run_help(std::span<const std::string_view> args);

// The subcommand table. A new subcommand (policy) is one row.
constexpr std::array kSubcommands = {
    Subcommand{"replay", "replay a pcap capture through one vNIC's filter chain", run_replay},
    Subcommand{"check", "validate a policy file and list every problem", run_check},
    Subcommand{"feed", "follow a membership feed and print groups as their members change", run_feed},
    Subcommand{"version", "print the fwctl and libfw version", run_version},
    Subcommand{"help", "show this help", run_help},
};

void print_main_help(std::FILE* out) {
  fmt::print(out,
             "Usage: fwctl <command> [options]\n"
             "\n"
             "Drives libfw, the embeddable per-vNIC firewall, from the command line.\n"
             "\n"
             "Commands:\n");
  for (const Subcommand& command : kSubcommands) {
    fmt::print(out, "  {:<10} {}\n", command.name, command.summary);
  }
  fmt::print(out,
             "\n"
             "Run 'fwctl <command> --help' for the options of a command.\n"
             "Exit codes: 0 ok, 1 runtime or data error, 2 usage error.\n");
}

int run_version(std::span<const std::string_view> args) {
  if (!args.empty() && args[0] != "--help" && args[0] != "-h") {
    return usage_error("version", fmt::format("unexpected argument '{}'", args[0]));
  }
  fmt::print("fwctl {} (libfw {})\n", FWCTL_VERSION, FWCTL_VERSION);
  return kExitOk;
}

int run_help(std::span<const std::string_view> args) {
  print_main_help(stdout);
  return kExitOk;
}

int dispatch(std::span<const std::string_view> args) {
  if (args.empty()) {
    fmt::print(stderr, "fwctl: missing command (see 'fwctl --help')\n");
    return kExitUsageError;
  }
  std::string_view name = args[0];
  if (name == "--help" || name == "-h") return run_help({});
  if (name == "--version") return run_version({});
  for (const Subcommand& command : kSubcommands) {
    if (command.name == name) return command.run(args.subspan(1));
  }
  fmt::print(stderr, "fwctl: unknown command '{}' (see 'fwctl --help')\n", name);
  return kExitUsageError;
}

}  // namespace
}  // namespace fwctl

int main(int argc, char** argv) {
  // No exception may escape as a crash: the library reports errors as
  // fw::Status, but std::bad_alloc or a formatting bug still ends as a
  // one-line message and a runtime-error exit code.
  try {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return fwctl::dispatch(args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fwctl: internal error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "fwctl: internal error\n");
  }
  return fwctl::kExitRuntimeError;
}
