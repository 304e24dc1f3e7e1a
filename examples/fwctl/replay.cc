// fwctl replay — replays a pcap capture through one vNIC's filter chain and
// reports what the chain decided. See docs/fwctl.md for the options, the
// summary and the --verdicts format.
//
// The replay models a vNIC sitting between a VM and the virtual switch: a
// frame whose source MAC is the vNIC's MAC leaves the VM (Direction::kFromVm),
// every other frame is delivered to it (kToVm). Frames go to the engine in
// capture order, in bursts of up to kReplayBurst consecutive frames of the
// same direction, as a vswitch polling one queue per direction would.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <pcap/pcap.h>

#include "examples/fwctl/cli.h"
#include "examples/fwctl/commands.h"
#include "examples/fwctl/pcap_source.h"
#include "examples/fwctl/replay_tally.h"
#include "examples/fwctl/verdict_log.h"
#include "fw/address.h"
#include "fw/chain.h"
#include "fw/config.h"
#include "fw/dfw.h"
#include "fw/flow_log.h"
#include "fw/policy.h"
#include "fw/engine.h"
#include "fw/l2_acl.h"
#include "fw/nsh.h"
#include "fw/service.h"

namespace fwctl {
namespace {

constexpr std::string_view kCommand = "replay";
// Frames per engine burst: small enough that direction changes in a
// conversation still produce multi-frame bursts, large enough to exercise
// the engine's staged burst loop.
constexpr std::size_t kReplayBurst = 32;
constexpr std::uint32_t kVnicId = 1;
// The vNIC MAC used when neither --vnic-mac nor a first frame provides one.
constexpr std::uint64_t kFallbackVnicMac = 0x020000000001ULL;

struct ReplayOptions {
  std::string pcap_path;
  std::optional<fw::MacAddress> vnic_mac;  // nullopt: source MAC of the first frame
  std::string config_path;                 // empty: no filters (every frame passes)
  std::string policy_path;                 // empty: no DFW (slot 2)
  std::string verdicts_path;               // empty: none; "-": stdout
  std::string ct_states_path;              // empty: none; "-": stdout
  std::string flow_log_path;               // empty: none; "-": stdout
  std::string redirect_policy_path;        // empty: no service insertion (slot 4)
  std::string service_out_path;            // empty: none; pcap of what services receive
  std::vector<std::string> services_down;  // "PROFILE:POSITION" instances marked down
  std::string service_socket_path;         // empty: services allow everything
  bool quiet = false;                      // no summary, progress or notes
  bool progress = false;                   // progress even when stderr is not a TTY
};

std::vector<OptionSpec> replay_option_specs(ReplayOptions& options) {
  return {
      {.name = "pcap",
       .value_name = "FILE",
       .help = "capture to replay (pcap or pcapng, Ethernet link type); required",
       .apply = [&options](std::string_view v) -> OptionError {
         options.pcap_path = v;
         return std::nullopt;
       }},
      {.name = "vnic-mac",
       .value_name = "MAC",
       .help = "MAC of the replayed vNIC (default: source MAC of the first frame)",
       .apply = [&options](std::string_view v) -> OptionError {
         fw::StatusOr<fw::MacAddress> mac = fw::parse_mac(v);
         if (!mac.ok()) return mac.status().message();
         options.vnic_mac = *mac;
         return std::nullopt;
       }},
      {.name = "config",
       .value_name = "FILE",
       .help = "chain configuration, Protobuf text format fw.v1.ChainConfig",
       .apply = [&options](std::string_view v) -> OptionError {
         options.config_path = v;
         return std::nullopt;
       }},
      {.name = "policy",
       .value_name = "FILE",
       .help = "DFW policy (text, JSON or binary fw.v1.Policy) enforced in slot 2, stateful",
       .apply = [&options](std::string_view v) -> OptionError {
         options.policy_path = v;
         return std::nullopt;
       }},
      {.name = "verdicts",
       .value_name = "OUT",
       .help = "write one line per packet to OUT ('-' = stdout)",
       .apply = [&options](std::string_view v) -> OptionError {
         options.verdicts_path = v;
         return std::nullopt;
       }},
      {.name = "ct-states",
       .value_name = "OUT",
       .help = "write each packet's connection state to OUT ('-' = stdout), as OVS's "
               "'ovstest test-conntrack pcap' prints it (without --policy: a stateful "
               "DFW that allows everything)",
       .apply = [&options](std::string_view v) -> OptionError {
         options.ct_states_path = v;
         return std::nullopt;
       }},
      {.name = "flow-log",
       .value_name = "OUT",
       .help = "write the flow log of the policy's logged rules to OUT ('-' = stdout): one "
               "line per packet a logged rule decided (docs/flow-logs.md); needs --policy",
       .apply = [&options](std::string_view v) -> OptionError {
         options.flow_log_path = v;
         return std::nullopt;
       }},
      {.name = "redirect-policy",
       .value_name = "FILE",
       .help = "redirect policy (text, JSON or binary fw.v1.RedirectPolicy) for slot 4; every "
               "redirected packet is handed back at once, as if each service allowed it "
               "(without --policy: a stateful DFW that allows everything)",
       .apply = [&options](std::string_view v) -> OptionError {
         options.redirect_policy_path = v;
         return std::nullopt;
       }},
      {.name = "service-out",
       .value_name = "PCAP",
       .help = "write every frame handed to a service to PCAP, behind Ethernet + NSH for "
               "profiles that ask for NSH (e.g. input for examples/service-vm)",
       .apply = [&options](std::string_view v) -> OptionError {
         options.service_out_path = v;
         return std::nullopt;
       }},
      {.name = "service-socket",
       .value_name = "PATH",
       .help = "hand every redirected frame to the service at the Unix SOCK_SEQPACKET socket PATH "
               "(examples/service-vm --socket) and act on its verdict: block drops the packet and "
               "blocks its flow (a flow verdict), allow hands it back",
       .apply = [&options](std::string_view v) -> OptionError {
         options.service_socket_path = v;
         return std::nullopt;
       }},
      {.name = "service-down",
       .value_name = "PROFILE:POS",
       .help = "mark instance POS (0-based) of a profile down before the replay (repeatable)",
       .apply = [&options](std::string_view v) -> OptionError {
         if (v.find(':') == std::string_view::npos) return std::string("want PROFILE:POSITION");
         options.services_down.emplace_back(v);
         return std::nullopt;
       }},
      {.name = "progress",
       .value_name = "",
       .help = "report progress every second even when stderr is not a terminal",
       .apply = [&options](std::string_view) -> OptionError {
         options.progress = true;
         return std::nullopt;
       }},
      {.name = "quiet",
       .value_name = "",
       .help = "print no summary, progress or notes (errors only)",
       .apply = [&options](std::string_view) -> OptionError {
         options.quiet = true;
         return std::nullopt;
       }},
  };
}

void print_replay_help(std::FILE* out, std::span<const OptionSpec> specs) {
  fmt::print(out,
             "Usage: fwctl replay --pcap FILE [--vnic-mac MAC] [--config FILE]\n"
             "                    [--policy FILE [--flow-log OUT]] [--verdicts OUT] [--ct-states OUT]\n"
             "                    [--redirect-policy FILE [--service-out PCAP]\n"
             "                     [--service-socket PATH] [--service-down PROFILE:POS]...]\n"
             "                    [--progress] [--quiet]\n"
             "\n"
             "Replays a capture through the filter chain of one vNIC and prints what it\n"
             "decided. Frames whose source MAC is the vNIC's MAC go from the VM (from-vm);\n"
             "all others go to the VM (to-vm). Frames are processed in capture order, in\n"
             "bursts of up to {} consecutive frames of one direction.\n"
             "\n"
             "Options:\n",
             kReplayBurst);
  print_options(out, specs);
  fmt::print(out,
             "\n"
             "Summary goes to stdout (to stderr when --verdicts, --ct-states or --flow-log is '-').\n"
             "Exit codes: 0 ok, 1 runtime or data error, 2 usage error.\n");
}

// Reports progress on stderr about once a second.
class ProgressReporter {
 public:
  explicit ProgressReporter(bool enabled)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1),
        last_(std::chrono::steady_clock::now()) {}

  void update(std::uint64_t packets) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    double seconds = std::chrono::duration<double>(now - last_).count();
    double pps = static_cast<double>(packets - last_packets_) / seconds;
    fmt::print(stderr, "{}fwctl replay: {} packets, {:.0f} pps{}", tty_ ? "\r" : "", packets, pps,
               tty_ ? "   " : "\n");
    std::fflush(stderr);
    printed_ = true;
    last_ = now;
    last_packets_ = packets;
  }

  void finish() {
    if (printed_ && tty_) fmt::print(stderr, "\n");
  }

 private:
  bool enabled_;
  bool tty_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_;
  std::uint64_t last_packets_ = 0;
};

// Consecutive frames of one direction, copied out of libpcap's buffer (which
// is reused by the next read). The per-frame vectors keep their capacity, so
// steady-state replay does not allocate.
struct Burst {
  fw::Direction direction = fw::Direction::kFromVm;
  std::size_t size = 0;
  std::array<std::vector<std::uint8_t>, kReplayBurst> storage;
  std::array<fw::Frame, kReplayBurst> frames;
  std::array<fw::Verdict, kReplayBurst> verdicts;
  std::array<std::vector<std::uint32_t>, kReplayBurst> via;  // services visited, in order
  std::uint64_t now_ns = 0;  // timestamp of the burst's last frame
};

fw::Direction direction_of(std::span<const std::uint8_t> frame, const fw::MacAddress& vnic_mac) {
  // Bytes 6-11 are the source MAC; a frame too short to have one cannot
  // come from the vNIC (the engine drops it as malformed).
  if (frame.size() < 12) return fw::Direction::kToVm;
  for (std::size_t i = 0; i < 6; ++i) {
    if (frame[6 + i] != vnic_mac.bytes[i]) return fw::Direction::kToVm;
  }
  return fw::Direction::kFromVm;
}

std::string direction_columns(const std::array<std::uint64_t, fw::kDirectionCount>& by_direction) {
  return fmt::format("{:>12}{:>12}{:>12}", by_direction[0] + by_direction[1], by_direction[0],
                     by_direction[1]);
}

// A pcap file (Ethernet link type, microsecond timestamps) written frame by
// frame through libpcap's dumper: what the simulated services receive.
class PcapWriter {
 public:
  static fw::StatusOr<std::unique_ptr<PcapWriter>> open(const std::string& path) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    if (dead == nullptr) return fw::io_error("libpcap: cannot make a capture handle");
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    if (dumper == nullptr) {
      const std::string why = pcap_geterr(dead);
      pcap_close(dead);
      return fw::io_error(fmt::format("cannot write '{}': {}", path, why));
    }
    return std::unique_ptr<PcapWriter>(new PcapWriter(dead, dumper, path));
  }
  ~PcapWriter() { close().ignore_error(); }
  void write(std::uint64_t ts_ns, std::span<const std::uint8_t> frame) {
    pcap_pkthdr header{};
    header.ts.tv_sec = static_cast<time_t>(ts_ns / 1000000000u);
    header.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1000000000u / 1000u);
    header.caplen = static_cast<bpf_u_int32>(frame.size());
    header.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, frame.data());
    ++frames_;
  }
  std::uint64_t frames() const noexcept { return frames_; }
  fw::Status close() {
    if (dumper_ == nullptr) return fw::Status::Ok();
    const bool bad = pcap_dump_flush(dumper_) != 0 || std::ferror(pcap_dump_file(dumper_)) != 0;
    pcap_dump_close(dumper_);
    pcap_close(dead_);
    dumper_ = nullptr;
    if (bad) return fw::io_error(fmt::format("writing '{}' failed", path_));
    return fw::Status::Ok();
  }

 private:
  PcapWriter(pcap_t* dead, pcap_dumper_t* dumper, std::string path)
      : dead_(dead), dumper_(dumper), path_(std::move(path)) {}
  pcap_t* dead_;
  pcap_dumper_t* dumper_;
  std::string path_;
  std::uint64_t frames_ = 0;
};

// A connection to a service speaking examples/service-vm's socket protocol
// (docs/service-vm.md): one frame per message out, one 64-byte verdict
// record back, byte 1 = 0 allow, 1 block.
class ServiceSocket {
 public:
  static fw::StatusOr<std::unique_ptr<ServiceSocket>> connect(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
      return fw::invalid_argument(fmt::format("--service-socket {}: path too long", path));
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return fw::io_error(fmt::format("socket: {}", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const int e = errno;
      ::close(fd);
      return fw::io_error(fmt::format("cannot connect to the service at '{}': {}", path, std::strerror(e)));
    }
    return std::unique_ptr<ServiceSocket>(new ServiceSocket(fd, path));
  }
  ~ServiceSocket() { ::close(fd_); }
  // The service's answer for one frame: true = block.
  fw::StatusOr<bool> ask(std::span<const std::uint8_t> frame) {
    if (::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()))
      return fw::io_error(fmt::format("sending a frame to '{}': {}", path_, std::strerror(errno)));
    std::array<std::uint8_t, 128> record;
    const ssize_t got = ::recv(fd_, record.data(), record.size(), 0);
    if (got < 0) return fw::io_error(fmt::format("reading a verdict from '{}': {}", path_, std::strerror(errno)));
    if (got != 64 || record[0] != 1)
      return fw::io_error(fmt::format("'{}' answered {} bytes, not a 64-byte version-1 verdict record", path_, got));
    if (record[1] > 1) return fw::io_error(fmt::format("'{}' answered action {}", path_, record[1]));
    ++frames_;
    if (record[1] == 1) ++blocked_;
    return record[1] == 1;
  }
  std::uint64_t frames() const noexcept { return frames_; }
  std::uint64_t blocked() const noexcept { return blocked_; }

 private:
  ServiceSocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::uint64_t frames_ = 0, blocked_ = 0;
};

class Replayer {
 public:
  explicit Replayer(const ReplayOptions& options) : options_(options) {}
  int run();

 private:
  int fail(std::string_view message) { return runtime_error(kCommand, message); }
  // libfw's config errors usually name the file already ("path: line 3,
  // column 5: ..." or "path: l2_acl: rule 12: vlan: ..."); name it once.
  std::string config_error(const fw::Status& status) const {
    if (status.message().find(options_.config_path) != std::string::npos) {
      return "bad config: " + status.to_string();
    }
    return fmt::format("bad config '{}': {}", options_.config_path, status.to_string());
  }
  void note(std::string_view message) const {
    if (!options_.quiet) fmt::print(stderr, "fwctl replay: {}\n", message);
  }
  fw::Status install_chain();
  fw::Status install_policy();
  fw::Status install_services();
  void to_services(std::size_t n);
  std::span<const std::uint8_t> wire_frame(std::size_t i, const fw::Verdict& v);
  void append(const CapturedFrame& frame, fw::Direction direction);
  void flush();
  void drain_flow_log();
  std::string rule_label(std::uint8_t slot, std::uint32_t rule_id) const;
  int finish_and_report(std::optional<std::string> capture_error);
  void print_summary(std::FILE* out, const fw::VnicStats& stats,
                     const fw::ChainDescription& chain) const;

  const ReplayOptions& options_;
  std::optional<fw::ChainConfig> chain_config_;
  std::optional<fw::Policy> policy_;
  std::unique_ptr<fw::Dfw> dfw_;  // slot 2 control (it keeps no datapath state of its own)
  std::optional<fw::RedirectPolicy> redirect_policy_;
  std::unique_ptr<fw::ServiceInsertion> service_;  // slot 4 control
  std::unique_ptr<PcapWriter> service_out_;
  std::unique_ptr<ServiceSocket> service_socket_;
  std::optional<std::string> service_error_;  // the socket failed: the replay stops
  std::vector<std::uint8_t> nsh_buffer_;
  std::unique_ptr<PcapSource> source_;
  std::unique_ptr<VerdictLog> verdict_log_;
  std::unique_ptr<CtStateLog> ct_state_log_;
  // --flow-log: the Dfw's records, drained after every burst into text lines.
  std::shared_ptr<fw::FlowLog> flow_log_;
  std::unique_ptr<LineFile> flow_log_file_;
  std::vector<fw::FlowLogRecord> flow_records_;
  std::unique_ptr<fw::Engine> engine_;
  std::shared_ptr<const fw::L2AclFilter> l2_acl_;
  std::unique_ptr<fw::Worker> worker_;  // destroyed before engine_ (declared after)
  fw::MacAddress vnic_mac_;
  std::string vnic_mac_origin_;
  Burst burst_;
  ReplayTally tally_;
  std::uint64_t packets_done_ = 0;
  std::uint64_t captured_bytes_ = 0;
  std::array<std::uint64_t, fw::kDirectionCount> service_drops_{};  // packets a service dropped
};

// Installs the chain configuration and keeps a handle on the installed L2
// ACL, if any, to report its per-rule hit counters.
fw::Status Replayer::install_chain() {
  if (!chain_config_) return fw::Status::Ok();
  if (fw::Status s = fw::apply_chain_config(*engine_, kVnicId, *chain_config_); !s.ok()) return s;
  auto installed = engine_->filter(kVnicId, fw::kSlotL2Acl);
  if (!installed.ok()) return installed.status();
  l2_acl_ = std::dynamic_pointer_cast<const fw::L2AclFilter>(*installed);
  return fw::Status::Ok();
}

// Compiles the policy into slot 2 of the replayed vNIC.
fw::Status Replayer::install_policy() {
  if (!policy_) return fw::Status::Ok();
  if (flow_log_file_) {
    // A burst writes at most kReplayBurst records and is drained at once.
    auto log = fw::FlowLog::create({.workers = 1, .capacity = 1024});
    if (!log.ok()) return log.status();
    flow_log_ = std::move(*log);
    flow_records_.resize(1024);
  }
  auto dfw = fw::Dfw::create(*engine_, {.flow_log = flow_log_});
  if (!dfw.ok()) return dfw.status();
  dfw_ = std::move(*dfw);
  return dfw_->apply(*policy_, {kVnicId});
}

// Installs the redirect policy in slot 4 (pinning flows in slot 2's table).
fw::Status Replayer::install_services() {
  if (!redirect_policy_) return fw::Status::Ok();
  auto service = fw::ServiceInsertion::create(*engine_, {.connections = dfw_->shared_connections()});
  if (!service.ok()) return service.status();
  service_ = std::move(*service);
  if (fw::Status s = service_->apply(*redirect_policy_, {kVnicId}); !s.ok()) return s;
  for (const std::string& down : options_.services_down) {
    const std::size_t colon = down.rfind(':');
    std::size_t position = 0;
    const std::string digits = down.substr(colon + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 3)
      return fw::invalid_argument("--service-down " + down + ": POSITION must be a number");
    position = std::stoul(digits);
    if (fw::Status s = service_->set_instance_health(down.substr(0, colon), position, false); !s.ok())
      return fw::Status(s.code(), "--service-down " + down + ": " + s.message());
  }
  return fw::Status::Ok();
}

// Hands every redirected packet of the burst to its service and back (the
// simulated services allow everything), hop after hop, until none is left
// redirected. Each engine call's verdicts are tallied, as the engine counts
// every call.
// The frame as the service receives it: as captured, or behind Ethernet +
// NSH with libfw's metadata when the instance's profile asks for NSH.
std::span<const std::uint8_t> Replayer::wire_frame(std::size_t i, const fw::Verdict& v) {
  const fw::Frame frame = burst_.frames[i];
  if (service_->encapsulation(v) != fw::ServiceEncapsulation::kNsh) return frame;
  fw::StatusOr<fw::ServiceMetadata> md = service_->metadata(kVnicId, v);
  if (!md.ok()) return frame;
  const fw::NshContext ctx = fw::nsh_context(*md);
  const fw::NshOptions nsh_options{.framing = fw::NshFraming::kEthernetNsh,
                                   .dst_mac = fw::MacAddress::from_u64(0x02fe00000000ULL | (v.service & 0xffffffu)),
                                   .src_mac = vnic_mac_};
  nsh_buffer_.resize(fw::nsh_encapsulated_size(ctx, frame.size(), nsh_options));
  const fw::NshWriteResult w = fw::nsh_encapsulate(ctx, frame, nsh_buffer_, nsh_options);
  if (!w.ok()) return frame;
  return std::span<const std::uint8_t>(nsh_buffer_).first(w.bytes);
}

// Hands every redirected packet of the burst to its service and back, hop
// after hop, until none is left redirected. Without --service-socket each
// service allows everything. With it, the service's answer decides: block
// drops the packet (a drop the host decides: reason service-drop, reported
// with count_service_drop) and blocks its flow (set_flow_verdict), allow
// hands it back. Each engine call's verdicts are tallied, as the engine
// counts every call; the host's drops are not engine verdicts.
void Replayer::to_services(std::size_t n) {
  std::array<std::uint16_t, kReplayBurst> pending;
  std::array<fw::Frame, kReplayBurst> frames;
  std::array<fw::Verdict, kReplayBurst> verdicts;
  for (std::size_t hop = 0; hop <= fw::kMaxChainLength; ++hop) {
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (burst_.verdicts[i].action == fw::Action::kRedirect) pending[m++] = static_cast<std::uint16_t>(i);
    if (m == 0) return;
    std::size_t back = 0;
    for (std::size_t k = 0; k < m; ++k) {
      const std::uint16_t i = pending[k];
      fw::Verdict& v = burst_.verdicts[i];
      burst_.via[i].push_back(v.service);
      const std::span<const std::uint8_t> wire = wire_frame(i, v);
      if (service_out_) service_out_->write(burst_.now_ns, wire);
      if (service_socket_ && !service_error_) {
        fw::StatusOr<bool> blocked = service_socket_->ask(wire);
        if (!blocked.ok()) {
          service_error_ = blocked.status().message();
        } else if (*blocked) {
          service_->count_service_drop(v);
          // The flow may already be gone (a TCP RST closed it): nothing to block then.
          (void)service_->set_flow_verdict(kVnicId, burst_.frames[i], fw::FlowVerdict::kBlock);
          v.action = fw::Action::kDrop;
          v.reason = fw::DropReason::kServiceDrop;
          ++service_drops_[static_cast<std::size_t>(burst_.direction)];
          continue;
        }
      }
      frames[back] = burst_.frames[i];
      verdicts[back] = v;
      pending[back++] = i;
    }
    if (back == 0) continue;
    engine_->resume(*worker_, kVnicId, burst_.direction, std::span(frames.data(), back),
                    std::span(verdicts.data(), back), {.now_ns = burst_.now_ns});
    for (std::size_t k = 0; k < back; ++k) {
      const std::uint16_t i = pending[k];
      burst_.verdicts[i] = verdicts[k];
      tally_.add(burst_.direction, frames[k].size(), verdicts[k], true);
    }
  }
}

void Replayer::append(const CapturedFrame& frame, fw::Direction direction) {
  if (burst_.size == kReplayBurst || (burst_.size != 0 && burst_.direction != direction)) {
    flush();
  }
  burst_.direction = direction;
  // The engine's clock is the capture's, so a replay is deterministic;
  // captures whose timestamps step back are held at the latest time seen
  // (the connection table needs a clock that never goes backwards).
  burst_.now_ns = std::max(burst_.now_ns, frame.timestamp_ns);
  burst_.storage[burst_.size].assign(frame.bytes.begin(), frame.bytes.end());
  captured_bytes_ += frame.bytes.size();
  ++burst_.size;
}

void Replayer::flush() {
  if (burst_.size == 0) return;
  std::size_t n = burst_.size;
  for (std::size_t i = 0; i < n; ++i) {
    burst_.frames[i] = fw::Frame(burst_.storage[i].data(), burst_.storage[i].size());
    burst_.verdicts[i] = fw::Verdict{};
  }
  engine_->process(*worker_, kVnicId, burst_.direction, std::span(burst_.frames.data(), n),
                   std::span(burst_.verdicts.data(), n), {.now_ns = burst_.now_ns});
  for (std::size_t i = 0; i < n; ++i) {
    tally_.add(burst_.direction, burst_.frames[i].size(), burst_.verdicts[i]);
    burst_.via[i].clear();
  }
  if (service_) to_services(n);
  for (std::size_t i = 0; i < n; ++i) {
    ++packets_done_;
    if (verdict_log_) verdict_log_->write(packets_done_, burst_.direction, burst_.verdicts[i], burst_.via[i]);
    if (ct_state_log_) ct_state_log_->write(packets_done_, burst_.verdicts[i].ct_state);
  }
  burst_.size = 0;
  drain_flow_log();
}

void Replayer::drain_flow_log() {
  if (!flow_log_) return;
  for (std::size_t n; (n = flow_log_->drain(flow_records_)) > 0;) {
    for (std::size_t k = 0; k < n; ++k) {
      const fw::FlowLogRecord& r = flow_records_[k];
      // The one policy of the replay names every logged rule.
      const fw::StatusOr<fw::DfwRuleInfo> info = dfw_->rule_info(r.rule_id);
      const fw::FlowLogRule rule = info.ok() ? info->log_rule() : fw::FlowLogRule{};
      fmt::format_to(std::back_inserter(flow_log_file_->buffer()), "{}\n", fw::format_flow_log(r, &rule));
      flow_log_file_->line_done();
    }
  }
}

int Replayer::run() {
  // Inputs first, so a bad config or capture fails before any work.
  if (!options_.config_path.empty()) {
    fw::StatusOr<fw::ChainConfig> config = fw::load_chain_config(options_.config_path);
    if (!config.ok()) return fail(config_error(config.status()));
    chain_config_ = std::move(*config);
  }
  if (!options_.policy_path.empty()) {
    fw::StatusOr<fw::Policy> policy = fw::load_policy(options_.policy_path);
    if (!policy.ok()) return fail(fmt::format("bad policy: {}", policy.status().message()));
    policy_ = std::move(*policy);
  }
  if (!options_.redirect_policy_path.empty()) {
    fw::StatusOr<fw::RedirectPolicy> rp = fw::load_redirect_policy(options_.redirect_policy_path);
    if (!rp.ok()) return fail(fmt::format("bad redirect policy: {}", rp.status().message()));
    redirect_policy_ = std::move(*rp);
    if (!policy_) {
      // Flows are pinned to service instances in slot 2's connection table.
      policy_ = fw::Policy{};
      note("--redirect-policy without --policy: slot 2 is a stateful DFW that allows everything");
    }
  } else if (!options_.service_out_path.empty() || !options_.services_down.empty() ||
             !options_.service_socket_path.empty()) {
    return fail("--service-out, --service-socket and --service-down need --redirect-policy");
  }
  if (!options_.service_socket_path.empty()) {
    auto socket = ServiceSocket::connect(options_.service_socket_path);
    if (!socket.ok()) return fail(socket.status().message());
    service_socket_ = std::move(*socket);
  }
  if (!options_.service_out_path.empty()) {
    auto out = PcapWriter::open(options_.service_out_path);
    if (!out.ok()) return fail(out.status().message());
    service_out_ = std::move(*out);
  }
  {
    auto source = PcapSource::open(options_.pcap_path);
    if (!source.ok()) return fail(source.status().message());
    source_ = std::move(*source);
  }
  if (!options_.verdicts_path.empty()) {
    auto log = VerdictLog::open(options_.verdicts_path);
    if (!log.ok()) return fail(log.status().message());
    verdict_log_ = std::move(*log);
  }
  if (!options_.ct_states_path.empty()) {
    if (options_.ct_states_path == "-" && options_.verdicts_path == "-")
      return fail("--verdicts and --ct-states cannot both write to stdout");
    auto log = CtStateLog::open(options_.ct_states_path);
    if (!log.ok()) return fail(log.status().message());
    ct_state_log_ = std::move(*log);
    if (!policy_) {
      // As OVS's test commits every packet: connection states need a
      // stateful DFW, and one that allows everything changes no verdict.
      policy_ = fw::Policy{};
      note("--ct-states without --policy: slot 2 is a stateful DFW that allows everything");
    }
  }

  if (!options_.flow_log_path.empty()) {
    if (options_.policy_path.empty()) return fail("--flow-log needs --policy (the flow log is its logged rules')");
    if (options_.flow_log_path == "-" && (options_.verdicts_path == "-" || options_.ct_states_path == "-"))
      return fail("--flow-log cannot write to stdout with --verdicts or --ct-states there");
    auto file = LineFile::open(options_.flow_log_path, "flow log");
    if (!file.ok()) return fail(file.status().message());
    flow_log_file_ = std::move(*file);
  }

  // The first frame is read before the vNIC exists: it may name the MAC.
  CapturedFrame frame;
  PcapSource::Next next = source_->next(frame);
  if (options_.vnic_mac) {
    vnic_mac_ = *options_.vnic_mac;
    vnic_mac_origin_ = "--vnic-mac";
  } else if (next == PcapSource::Next::kFrame && frame.bytes.size() >= 12) {
    std::copy_n(frame.bytes.begin() + 6, 6, vnic_mac_.bytes.begin());
    vnic_mac_origin_ = "source MAC of the first frame";
    note(fmt::format("no --vnic-mac given; using {}, the source MAC of the first frame",
                     vnic_mac_.to_string()));
  } else {
    vnic_mac_ = fw::MacAddress::from_u64(kFallbackVnicMac);
    vnic_mac_origin_ = "default; the capture has no first frame with a source MAC";
    note(fmt::format("no --vnic-mac given and no first frame with a source MAC; using {}",
                     vnic_mac_.to_string()));
  }

  {
    auto engine = fw::Engine::create({.max_workers = 1, .max_vnics = 1});
    if (!engine.ok()) return fail("cannot create the engine: " + engine.status().to_string());
    engine_ = std::move(*engine);
  }
  if (fw::Status s = engine_->attach_vnic({.id = kVnicId, .mac = vnic_mac_, .name = "fwctl"});
      !s.ok()) {
    return fail(fmt::format("cannot attach vNIC {}: {}", vnic_mac_.to_string(), s.to_string()));
  }
  if (fw::Status s = install_chain(); !s.ok()) {
    return fail(config_error(s));
  }
  if (fw::Status s = install_policy(); !s.ok()) {
    return fail(fmt::format("bad policy '{}': {}", options_.policy_path, s.to_string()));
  }
  if (fw::Status s = install_services(); !s.ok()) {
    return fail(fmt::format("bad redirect policy '{}': {}", options_.redirect_policy_path, s.to_string()));
  }
  // The worker is created once the chain is configured: the replay changes
  // no configuration while frames flow.
  {
    auto worker = engine_->create_worker();
    if (!worker.ok()) return fail("cannot create a worker: " + worker.status().to_string());
    worker_ = std::move(*worker);
  }

  ProgressReporter progress(!options_.quiet &&
                            (options_.progress || isatty(STDERR_FILENO) == 1));
  std::uint64_t frames_read = 0;
  for (; next == PcapSource::Next::kFrame && !service_error_; next = source_->next(frame)) {
    ++frames_read;
    append(frame, direction_of(frame.bytes, vnic_mac_));
    // The clock is read every 4096 frames: often enough for one report a
    // second, rare enough to cost nothing.
    if ((frames_read & 4095) == 0) progress.update(packets_done_);
  }
  flush();
  progress.finish();

  std::optional<std::string> capture_error;
  if (next == PcapSource::Next::kError) {
    capture_error = fmt::format("capture '{}': read error after {} frames: {}",
                                options_.pcap_path, frames_read, source_->error());
  }
  if (service_error_) {
    capture_error = fmt::format("the service failed after {} frames of the capture: {}", frames_read,
                                *service_error_);
  }
  return finish_and_report(std::move(capture_error));
}

int Replayer::finish_and_report(std::optional<std::string> capture_error) {
  int exit_code = kExitOk;
  if (verdict_log_) {
    if (fw::Status s = verdict_log_->close(); !s.ok()) {
      runtime_error(kCommand, s.message());
      exit_code = kExitRuntimeError;
    }
  }
  if (ct_state_log_) {
    if (fw::Status s = ct_state_log_->close(); !s.ok()) {
      runtime_error(kCommand, s.message());
      exit_code = kExitRuntimeError;
    }
  }
  if (flow_log_file_) {
    if (fw::Status s = flow_log_file_->close(); !s.ok()) {
      runtime_error(kCommand, s.message());
      exit_code = kExitRuntimeError;
    }
  }
  if (service_out_) {
    if (fw::Status s = service_out_->close(); !s.ok()) {
      runtime_error(kCommand, s.message());
      exit_code = kExitRuntimeError;
    }
  }
  fw::StatusOr<fw::VnicStats> stats = engine_->vnic_stats(kVnicId);
  fw::StatusOr<fw::ChainDescription> chain = engine_->describe_chain(kVnicId);
  if (!stats.ok() || !chain.ok()) {
    return fail("cannot read the engine's vNIC state: " +
                (stats.ok() ? chain.status() : stats.status()).to_string());
  }
  std::size_t installed_slots = 0;
  for (const std::string& kind : chain->slots) installed_slots += kind.empty() ? 0 : 1;
  std::vector<std::string> differences = tally_.compare(*stats, installed_slots <= 1);
  if (engine_->unknown_vnic_packets() != 0) {
    differences.push_back(fmt::format("engine counted {} packets for an unknown vNIC",
                                      engine_->unknown_vnic_packets()));
  }
  if (l2_acl_ && installed_slots == 1) {
    // With the L2 ACL alone in the chain, each of its decisions is final:
    // its rule counters must match the verdicts naming slot 0.
    for (const fw::RuleHits& hits : l2_acl_->rule_hits()) {
      std::uint64_t from_verdicts = 0;
      auto it = tally_.deciders().find(Decider{fw::kSlotL2Acl, hits.rule_id});
      if (it != tally_.deciders().end()) from_verdicts = it->second[0] + it->second[1];
      if (from_verdicts != hits.packets) {
        differences.push_back(fmt::format("l2-acl {}: verdicts say {}, filter counters say {}",
                                          rule_label(fw::kSlotL2Acl, hits.rule_id),
                                          from_verdicts, hits.packets));
      }
    }
  }

  if (!options_.quiet) {
    const bool stdout_taken =
        (verdict_log_ && verdict_log_->is_stdout()) || (ct_state_log_ && ct_state_log_->is_stdout()) ||
        (flow_log_file_ && flow_log_file_->is_stdout());
    std::FILE* out = stdout_taken ? stderr : stdout;
    print_summary(out, *stats, *chain);
    if (differences.empty()) {
      fmt::print(out, "\nengine counters agree with the verdicts\n");
    }
    std::fflush(out);
  }
  if (!differences.empty()) {
    for (const std::string& d : differences) {
      fmt::print(stderr, "fwctl replay: counter mismatch: {}\n", d);
    }
    runtime_error(kCommand, fmt::format("engine counters disagree with the verdicts ({} "
                                        "differences); this is a libfw bug",
                                        differences.size()));
    exit_code = kExitRuntimeError;
  }
  if (capture_error) {
    runtime_error(kCommand, *capture_error);
    exit_code = kExitRuntimeError;
  }
  return exit_code;
}

std::string Replayer::rule_label(std::uint8_t slot, std::uint32_t rule_id) const {
  if (slot == fw::kSlotL2Acl && l2_acl_) {
    const fw::L2AclConfig& acl = l2_acl_->config();
    if (rule_id == acl.default_rule_id) return fmt::format("default rule {}", rule_id);
    for (const fw::L2AclRule& rule : acl.rules) {
      if (rule.id == rule_id && !rule.name.empty()) {
        return fmt::format("rule {} ({})", rule_id, rule.name);
      }
    }
  }
  if (rule_id == fw::kNoRule) return "no rule";
  return fmt::format("rule {}", rule_id);
}

void Replayer::print_summary(std::FILE* out, const fw::VnicStats& stats,
                             const fw::ChainDescription& chain) const {
  const fw::DirectionStats& from_vm = stats[fw::Direction::kFromVm];
  const fw::DirectionStats& to_vm = stats[fw::Direction::kToVm];
  auto row = [out](std::string_view label, std::uint64_t a, std::uint64_t b) {
    fmt::print(out, "{:<32}{}\n", label, direction_columns({a, b}));
  };

  fmt::print(out, "capture   {}: {} frames, {} bytes\n", options_.pcap_path, packets_done_, captured_bytes_);
  fmt::print(out, "vnic      {} mac {} ({})\n", kVnicId, vnic_mac_.to_string(), vnic_mac_origin_);
  std::string slots;
  for (std::size_t s = 0; s < fw::kNumSlots; ++s) {
    if (chain.slots[s].empty()) continue;
    slots += fmt::format("{}slot {} {}", slots.empty() ? "" : ", ", s, chain.slots[s]);
  }
  if (slots.empty()) slots = "no filters (every parsed frame passes)";
  fmt::print(out, "chain     generation {}: {}{}{}\n", chain.generation, slots,
             options_.config_path.empty() ? "" : fmt::format(" from '{}'", options_.config_path),
             options_.policy_path.empty() ? "" : fmt::format(", policy '{}'", options_.policy_path));

  fmt::print(out, "\n{:<32}{:>12}{:>12}{:>12}\n", "", "total", "from-vm", "to-vm");
  row("packets", from_vm.packets - from_vm.reinjected, to_vm.packets - to_vm.reinjected);
  if (service_) row("back from services", from_vm.reinjected, to_vm.reinjected);
  row(service_ ? "bytes (with those back)" : "bytes", from_vm.bytes, to_vm.bytes);
  for (std::size_t a = 0; a < fw::kActionCount; ++a) {
    row(fw::action_name(static_cast<fw::Action>(a)), from_vm.verdicts[a], to_vm.verdicts[a]);
  }

  fmt::print(out, "drops by reason\n");
  bool any = false;
  for (std::size_t r = 0; r < fw::kDropReasonCount; ++r) {
    if (from_vm.drops[r] + to_vm.drops[r] == 0) continue;
    row(fmt::format("  {}", fw::drop_reason_name(static_cast<fw::DropReason>(r))),
        from_vm.drops[r], to_vm.drops[r]);
    any = true;
  }
  if (!any) fmt::print(out, "  (none)\n");

  fmt::print(out, "parse errors\n");
  any = false;
  for (std::size_t e = 0; e < fw::kParseErrorCount; ++e) {
    if (from_vm.parse_errors[e] + to_vm.parse_errors[e] == 0) continue;
    row(fmt::format("  {}", fw::parse_error_name(static_cast<fw::ParseError>(e))),
        from_vm.parse_errors[e], to_vm.parse_errors[e]);
    any = true;
  }
  if (!any) fmt::print(out, "  (none)\n");

  fmt::print(out, "decisions by slot/rule\n");
  for (const auto& [decider, counts] : tally_.deciders()) {
    std::string label =
        decider.slot == fw::kNoSlot
            ? std::string("no slot decided")
            : fmt::format("slot {} {}", decider.slot, rule_label(decider.slot, decider.rule_id));
    row("  " + label, counts[0], counts[1]);
  }
  if (tally_.deciders().empty()) fmt::print(out, "  (none)\n");
  if (flow_log_) {
    const fw::FlowLogStats st = flow_log_->stats();
    fmt::print(out, "flow log  {} records of logged rules written to '{}'{}\n", st.drained,
               options_.flow_log_path, st.dropped ? fmt::format(" ({} lost: ring full)", st.dropped) : "");
  }

  if (service_) {
    const fw::ServiceStats st = service_->stats();
    fmt::print(out, "services (slot {}, {}){}\n", fw::kSlotServiceInsertion,
               service_socket_ ? fmt::format("the service at '{}' deciding", options_.service_socket_path)
                               : std::string("every service allowing what it gets"),
               service_out_ ? fmt::format("; {} frames written to '{}'", service_out_->frames(),
                                          options_.service_out_path)
                            : "");
    if (service_socket_)
      row("  dropped by the service", service_drops_[0], service_drops_[1]);
    fmt::print(out, "  {:<30}{:>12}{:>12}{:>12}{:>12}{:>12}\n", "profile/endpoint", "redirected", "skipped",
               "down-drop", "svc-drop", "flows");
    for (const fw::ServiceProfileStats& p : st.profiles) {
      for (const fw::ServiceInstanceStats& i : p.instances) {
        fmt::print(out, "  {:<30}{:>12}{:>12}{:>12}{:>12}{:>12}\n",
                   fmt::format("{}/{}{}", p.id, i.endpoint, i.healthy ? "" : " (down)"), i.redirected, i.skipped,
                   i.dropped_down, i.dropped_by_service, i.flows_pinned);
      }
    }
    if (st.flows_blocked != 0)
      fmt::print(out, "  flows blocked by the service: {}, later packets dropped without visiting it: {}\n",
                 st.flows_blocked, st.packets_flow_blocked);
  }
  if (l2_acl_) {
    fmt::print(out, "l2-acl rule hits (slot {} filter counters)\n", fw::kSlotL2Acl);
    for (const fw::RuleHits& hits : l2_acl_->rule_hits()) {
      fmt::print(out, "{:<32}{:>12}\n", "  " + rule_label(fw::kSlotL2Acl, hits.rule_id),
                 hits.packets);
    }
  }
}

}  // namespace

int run_replay(std::span<const std::string_view> args) {
  ReplayOptions options;
  std::vector<OptionSpec> specs = replay_option_specs(options);
  ParsedCommandLine parsed;
  if (std::optional<std::string> error = parse_options(args, specs, parsed)) {
    return usage_error(kCommand, *error);
  }
  if (parsed.help_requested) {
    print_replay_help(stdout, specs);
    return kExitOk;
  }
  if (options.pcap_path.empty()) return usage_error(kCommand, "missing required option --pcap FILE");
  return Replayer(options).run();
}

}  // namespace fwctl
