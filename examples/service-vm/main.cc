// service-vm — a small NFV appliance on libfw: scans redirected traffic with
// Hyperscan and returns allow/block per flow. See docs/service-vm.md.
//
//   service-vm --signatures FILE --pcap FILE [options]
//   service-vm --signatures FILE --socket PATH [--nsh] [options]
//   service-vm --signatures FILE --check
//
// Exit codes: 0 ok (whatever the verdicts), 1 a file, the signatures, the
// capture or the socket failed, 2 usage error.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "examples/cli/cli.h"
#include "examples/fwctl/pcap_source.h"
#include "examples/service-vm/scanner.h"
#include "examples/service-vm/signatures.h"
#include "examples/service-vm/socket_server.h"
#include "examples/service-vm/verdict_output.h"

namespace {

using fw::cli::kExitFailure;
using fw::cli::kExitOk;
using fw::cli::kExitUsageError;
using fw::cli::OptionError;
using fw::cli::OptionSpec;

constexpr std::string_view kTool = "service-vm";

struct Options {
  std::string signatures_path;
  std::string pcap_path;
  std::string socket_path;
  bool check = false;
  bool quiet = false;
  bool progress = false;
  std::size_t max_connections = 16;
  svm::ScannerOptions scanner;
};

int usage(std::string_view message) {
  fmt::print(stderr, "{}: {} (see '{} --help')\n", kTool, message, kTool);
  return kExitUsageError;
}

int failure(std::string_view message) {
  fmt::print(stderr, "{}: {}\n", kTool, message);
  return kExitFailure;
}

std::vector<OptionSpec> option_specs(Options& o) {
  return {
      {"signatures", "FILE", "signature file (docs/service-vm.md); required",
       [&o](std::string_view v) -> OptionError { o.signatures_path = v; return std::nullopt; }},
      {"pcap", "FILE", "read frames from a capture (Ethernet link type)",
       [&o](std::string_view v) -> OptionError { o.pcap_path = v; return std::nullopt; }},
      {"socket", "PATH", "serve frames on a Unix SOCK_SEQPACKET socket until SIGINT/SIGTERM",
       [&o](std::string_view v) -> OptionError { o.socket_path = v; return std::nullopt; }},
      {"nsh", "", "frames not of EtherType 0x894F (always decapsulated) start with a bare NSH header",
       [&o](std::string_view) -> OptionError { o.scanner.nsh = true; return std::nullopt; }},
      {"check", "", "compile the signatures, print how many, and exit",
       [&o](std::string_view) -> OptionError { o.check = true; return std::nullopt; }},
      {"max-flows", "N", "flows tracked per worker (default 65536; LRU eviction beyond)",
       [&o](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 1, 1u << 24, o.scanner.max_flows);
       }},
      {"idle-timeout", "SECONDS", "a flow without frames for this long ends (default 120)",
       [&o](std::string_view v) -> OptionError {
         std::size_t seconds = 0;
         if (auto e = fw::cli::parse_count(v, 1, 86400, seconds)) return e;
         o.scanner.idle_timeout_ns = std::uint64_t{seconds} * 1'000'000'000ULL;
         return std::nullopt;
       }},
      {"ooo-segments", "N", "out-of-order TCP segments queued per direction (default 32)",
       [&o](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 1, 4096, o.scanner.reassembly.max_out_of_order_segments);
       }},
      {"ooo-bytes", "N", "out-of-order TCP bytes queued per direction (default 65536)",
       [&o](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 1, 16u << 20, o.scanner.reassembly.max_out_of_order_bytes);
       }},
      {"ooo-total-bytes", "N", "out-of-order TCP bytes queued over all flows (default 67108864)",
       [&o](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 1, std::size_t{1} << 34, o.scanner.max_out_of_order_bytes_total);
       }},
      {"unscannable", "allow|block", "verdict of flows that cannot be scanned and of IP fragments (default allow)",
       [&o](std::string_view v) -> OptionError {
         if (v == "allow") o.scanner.unscannable_blocks = false;
         else if (v == "block") o.scanner.unscannable_blocks = true;
         else return fmt::format("'{}' is not allow or block", v);
         return std::nullopt;
       }},
      {"max-connections", "N", "socket connections served at once (default 16)",
       [&o](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 1, 1024, o.max_connections);
       }},
      {"progress", "", "report progress every second even when stderr is not a terminal",
       [&o](std::string_view) -> OptionError { o.progress = true; return std::nullopt; }},
      {"quiet", "", "no summary, progress or notes (verdict lines and errors only)",
       [&o](std::string_view) -> OptionError { o.quiet = true; return std::nullopt; }},
  };
}

void print_help(std::span<const OptionSpec> specs) {
  fmt::print(
      "Usage: service-vm --signatures FILE (--pcap FILE | --socket PATH | --check) [options]\n"
      "\n"
      "A service VM on libfw: reassembles each TCP stream, scans it with Hyperscan in\n"
      "streaming mode against the signatures, and prints one verdict line per flow\n"
      "(allow, or block with the signature that matched) and a summary.\n"
      "\n"
      "Options:\n");
  fw::cli::print_options(stdout, specs);
  fmt::print("\nExit codes: 0 ok, 1 file, signature, capture or socket error, 2 usage error.\n");
}

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Verdict lines on stdout, one flow at a time (the socket mode calls this
// from several connection threads; the server serialises the calls).
svm::FlowSink make_printer(const Options& options) {
  bool unscannable_blocks = options.scanner.unscannable_blocks;
  return [unscannable_blocks](const svm::Flow& flow, svm::FlowEnd end) {
    std::string line = svm::format_flow_line(flow, end, unscannable_blocks);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  };
}

int run_pcap(const Options& options, std::shared_ptr<const svm::SignatureDatabase> db) {
  auto source = fwctl::PcapSource::open(options.pcap_path);
  if (!source.ok()) return failure(source.status().message());
  auto scanner = svm::Scanner::create(db, options.scanner, make_printer(options));
  if (!scanner.ok()) return failure(scanner.status().message());
  bool show_progress = !options.quiet && (options.progress || isatty(STDERR_FILENO) == 1);
  std::uint64_t start = steady_ns();
  std::uint64_t last_progress = start;
  fwctl::CapturedFrame frame;
  int status = kExitOk;
  for (std::uint64_t count = 1;; ++count) {
    fwctl::PcapSource::Next next = (*source)->next(frame);
    if (next == fwctl::PcapSource::Next::kEnd) break;
    if (next == fwctl::PcapSource::Next::kError) {
      status = failure(fmt::format("capture '{}': {} (after {} frames)", options.pcap_path,
                                   (*source)->error(), count - 1));
      break;
    }
    (*scanner)->process(frame.bytes, frame.timestamp_ns);
    if (show_progress && count % 4096 == 0) {
      std::uint64_t now = steady_ns();
      if (now - last_progress >= 1'000'000'000ULL) {
        last_progress = now;
        const svm::ScannerStats& s = (*scanner)->stats();
        fmt::print(stderr, "progress: frames={} flows={} open={} bytes_scanned={} blocked={}\n",
                   s.frames, s.flows, (*scanner)->flow_count(), s.bytes_scanned, s.flows_blocked);
      }
    }
  }
  (*scanner)->finish();
  if (!options.quiet) {
    double elapsed = static_cast<double>(steady_ns() - start) / 1e9;
    fmt::print("{}\n", svm::format_summary((*scanner)->stats(), elapsed));
  }
  std::fflush(stdout);
  return status;
}

svm::SocketServer* g_server = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_server != nullptr) g_server->stop();
}

int run_socket(const Options& options, std::shared_ptr<const svm::SignatureDatabase> db) {
  svm::SocketServerOptions server_options{.path = options.socket_path,
                                          .scanner = options.scanner,
                                          .max_connections = options.max_connections};
  auto server = svm::SocketServer::create(db, server_options, make_printer(options));
  if (!server.ok()) return failure(server.status().message());
  g_server = server->get();
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  if (!options.quiet) {
    fmt::print(stderr, "service-vm: listening on {} ({} signatures)\n", options.socket_path,
               db->signatures().size());
  }
  std::uint64_t start = steady_ns();
  fw::Status status = (*server)->run();
  g_server = nullptr;
  if (!options.quiet) {
    double elapsed = static_cast<double>(steady_ns() - start) / 1e9;
    fmt::print("{} connections={} refused={}\n",
               svm::format_summary((*server)->stats(), elapsed), (*server)->connections_served(),
               (*server)->connections_refused());
  }
  std::fflush(stdout);
  if (!status.ok()) return failure(status.message());
  return kExitOk;
}

int run(std::span<const std::string_view> args) {
  Options options;
  std::vector<OptionSpec> specs = option_specs(options);
  fw::cli::CommandLine parsed;
  if (auto error = fw::cli::parse_command_line(args, specs, parsed)) return usage(*error);
  if (parsed.help_requested) {
    print_help(specs);
    return kExitOk;
  }
  if (!parsed.positionals.empty())
    return usage(fmt::format("unexpected argument '{}'", parsed.positionals.front()));
  if (options.signatures_path.empty()) return usage("--signatures FILE is required");
  int modes = !options.pcap_path.empty() + !options.socket_path.empty() + options.check;
  if (modes != 1) return usage("give exactly one of --pcap FILE, --socket PATH or --check");

  auto parsed_signatures = svm::load_signature_file(options.signatures_path);
  if (!parsed_signatures.ok()) return failure(parsed_signatures.status().message());
  std::size_t count = parsed_signatures->size();
  auto db = svm::SignatureDatabase::compile(std::move(*parsed_signatures));
  if (!db.ok()) return failure(db.status().message());
  if (options.check) {
    fmt::print("{}: {} signatures compiled (stream state {} bytes per direction)\n",
               options.signatures_path, count, (*db)->stream_state_bytes());
    return kExitOk;
  }
  if (!options.pcap_path.empty()) return run_pcap(options, *db);
  return run_socket(options, *db);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return run(args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error: {}\n", kTool, e.what());
    return kExitFailure;
  }
}
