// examples/service-vm/scanner.h — one worker of the service VM: frames in,
// per-frame and per-flow verdicts out.
//
// Usage (one Scanner per thread; the database is shared):
//   auto db = svm::SignatureDatabase::compile(std::move(signatures)).value();
//   auto scanner = svm::Scanner::create(db, {.max_flows = 65536},
//       [](const svm::Flow& flow, svm::FlowEnd end) { print(flow, end); }).value();
//   for (frame : input) svm::FrameVerdict v = scanner->process(frame, now_ns);
//   scanner->finish();  // reports every flow still open
//
// What happens to a frame:
//   - an NSH header is stripped (nsh_strip.h): always behind Ethernet
//     EtherType 0x894F; with ScannerOptions::nsh also a bare NSH at the
//     start of a frame without that EtherType;
//   - fw::parse_frame; a frame that does not parse gets block/malformed;
//   - not TCP or UDP over IPv4/IPv6: allow/not-inspected; an IP fragment:
//     the unscannable verdict with reason fragment (fragments are not
//     reassembled);
//   - TCP: the payload goes through the direction's TcpReassembler and every
//     byte that becomes in order is scanned in the direction's Hyperscan
//     stream; UDP: each datagram is scanned on its own (the direction's
//     stream is reset after each datagram, so a pattern never spans two).
//   - A block signature that matches blocks the flow: scanning stops, every
//     later frame of the flow gets block. Alert signatures are recorded on the
//     flow (at most kMaxAlertsPerFlow) and scanning goes on.
//
// The flow sink is called exactly once per flow: when its verdict is final
// (block, or unscannable) with FlowEnd::kOpen, or else when the flow ends
// (FIN both ways, RST, idle, evicted, finish()).
//
// Thread-safety: a Scanner is owned by one thread (it holds that thread's
// Hyperscan scratch, cloned from the database's prototype).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "examples/service-vm/nsh_strip.h"
#include "examples/service-vm/signatures.h"
#include "examples/service-vm/stream_table.h"
#include "fw/packet.h"
#include "fw/status.h"

namespace svm {

struct ScannerOptions {
  // Flows tracked at once. At the bound, idle flows are expired first, then
  // the least recently active flow is evicted (reported with kEvicted).
  std::size_t max_flows = 65536;
  // A flow without a frame for this long ends (reported with kIdle).
  std::uint64_t idle_timeout_ns = 120'000'000'000ULL;
  ReassemblyLimits reassembly;
  // Out-of-order bytes queued over all flows of this scanner (one thread).
  std::size_t max_out_of_order_bytes_total = 64u << 20;
  // Verdict for flows that cannot be scanned (reassembly overflow) and for
  // IP fragments: false = allow (fail open), true = block (fail closed).
  bool unscannable_blocks = false;
  // Frames that are not Ethernet + NSH (EtherType 0x894F, always
  // decapsulated) start with a bare NSH header (socket messages).
  bool nsh = false;
  // Time every Hyperscan call (ScannerStats::scan_ns); two clock reads per call.
  bool measure_scan_time = true;
};

enum class Action : std::uint8_t { kAllow = 0, kBlock = 1 };

// The answer for one frame: the verdict of its flow as it stands after the frame.
struct FrameVerdict {
  Action action = Action::kAllow;
  VerdictReason reason = VerdictReason::kNoMatch;
  bool has_flow = false;                  // a TCP/UDP frame (key fields valid)
  std::uint8_t protocol = 0;
  fw::IpAddress client_ip, server_ip;
  std::uint16_t client_port = 0, server_port = 0;
  FlowDirection direction = FlowDirection::kToServer;  // of this frame
  Match match;                            // valid if reason == kSignature
  bool has_nsh = false;
  NshInfo nsh;
};

struct ScannerStats {
  std::uint64_t frames = 0;
  std::uint64_t malformed = 0;
  std::uint64_t not_inspected = 0;
  std::uint64_t fragments = 0;
  std::uint64_t tcp_segments = 0;
  std::uint64_t udp_datagrams = 0;
  std::uint64_t flows = 0;            // created
  std::uint64_t flows_blocked = 0;
  std::uint64_t flows_unscannable = 0;
  std::uint64_t flows_idle = 0;
  std::uint64_t flows_evicted = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t duplicate_bytes = 0;  // TCP retransmitted/overlapping bytes not rescanned
  std::uint64_t block_matches = 0;
  std::uint64_t alert_matches = 0;
  std::uint64_t scan_errors = 0;      // Hyperscan errors other than "terminated"
  std::uint64_t scan_ns = 0;          // inside Hyperscan (measure_scan_time)
};

using FlowSink = std::function<void(const Flow& flow, FlowEnd end)>;

class Scanner {
 public:
  static fw::StatusOr<std::unique_ptr<Scanner>> create(
      std::shared_ptr<const SignatureDatabase> database, const ScannerOptions& options,
      FlowSink sink);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // One frame (Ethernet, or NSH as in ScannerOptions::nsh), seen at `now_ns`
  // (any monotonic clock: the capture time in pcap mode).
  FrameVerdict process(std::span<const std::uint8_t> frame, std::uint64_t now_ns);
  // Ends every flow idle at `now_ns` (for inputs that go quiet).
  void expire(std::uint64_t now_ns) { expire_idle(now_ns, table_.size()); }
  // Ends every flow (FlowEnd::kEndOfInput), in creation order.
  void finish();

  const ScannerStats& stats() const noexcept { return stats_; }
  std::size_t flow_count() const noexcept { return table_.size(); }
  std::size_t out_of_order_bytes() const noexcept { return budget_.used_bytes; }
  const SignatureDatabase& database() const noexcept { return *database_; }

 private:
  struct MatchContext;
  Scanner(std::shared_ptr<const SignatureDatabase> database, const ScannerOptions& options,
          FlowSink sink, ScratchPtr scratch);
  static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                      unsigned int flags, void* context);

  void expire_idle(std::uint64_t now_ns, std::size_t budget);
  Flow* create_flow(const FlowKey& key, bool client_is_low, std::uint64_t now_ns);
  void scan(Flow& flow, FlowDirection direction, std::span<const std::uint8_t> bytes);
  void scan_datagram(Flow& flow, FlowDirection direction, std::span<const std::uint8_t> bytes);
  void close_stream(Flow& flow, FlowDirection direction, bool report_end_matches);
  void stop_scanning(Flow& flow);
  void report(Flow& flow, FlowEnd end);
  void end_flow(Flow& flow, FlowEnd end);
  void fill_verdict(const Flow& flow, FrameVerdict& verdict) const;
  void handle_tcp(Flow& flow, FlowDirection direction, const fw::TcpInfo& tcp,
                  std::span<const std::uint8_t> payload, bool& flow_removed);

  std::shared_ptr<const SignatureDatabase> database_;
  ScannerOptions options_;
  FlowSink sink_;
  ScratchPtr scratch_;
  OutOfOrderBudget budget_;  // before table_: the flows' reassemblers point to it
  FlowTable table_;
  ScannerStats stats_;
  std::vector<std::uint8_t> nsh_buffer_;
  FrameVerdict ended_flow_verdict_;  // set by end_flow() for process()
};

}  // namespace svm
