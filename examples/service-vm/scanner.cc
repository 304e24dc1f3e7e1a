#include "examples/service-vm/scanner.h"

#include <hs/hs.h>

#include <chrono>
#include <utility>

#include "fw/packet.h"

namespace svm {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::size_t index_of(FlowDirection direction) { return static_cast<std::size_t>(direction); }

// Idle flows examined per frame: expiry happens in small bounded steps on
// the owning thread (STYLE 4), plus whenever a new flow needs room.
constexpr std::size_t kExpiryBudgetPerFrame = 4;

}  // namespace

struct Scanner::MatchContext {
  Scanner* scanner;
  Flow* flow;
  FlowDirection direction;
  std::uint64_t base_offset;  // UDP: bytes of the direction before this datagram
};

fw::StatusOr<std::unique_ptr<Scanner>> Scanner::create(
    std::shared_ptr<const SignatureDatabase> database, const ScannerOptions& options,
    FlowSink sink) {
  if (database == nullptr) return fw::invalid_argument("scanner: no signature database");
  if (options.max_flows == 0) return fw::invalid_argument("scanner: max_flows must be at least 1");
  if (options.reassembly.max_out_of_order_segments == 0)
    return fw::invalid_argument("scanner: max_out_of_order_segments must be at least 1");
  ScratchPtr scratch = database->make_scratch();
  if (scratch == nullptr) return fw::resource_exhausted("scanner: cannot clone Hyperscan scratch");
  return std::unique_ptr<Scanner>(
      new Scanner(std::move(database), options, std::move(sink), std::move(scratch)));
}

Scanner::Scanner(std::shared_ptr<const SignatureDatabase> database, const ScannerOptions& options,
                 FlowSink sink, ScratchPtr scratch)
    : database_(std::move(database)),
      options_(options),
      sink_(std::move(sink)),
      scratch_(std::move(scratch)),
      budget_{.max_bytes = options.max_out_of_order_bytes_total},
      table_(options.max_flows) {}

Scanner::~Scanner() {
  // Free the streams of flows nobody finished (no report: finish() reports).
  for (Flow* flow : table_.flows_by_sequence()) {
    for (auto& d : flow->dir) {
      if (d.stream != nullptr) hs_close_stream(d.stream, nullptr, nullptr, nullptr);
      d.stream = nullptr;
    }
  }
}

int Scanner::on_match(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                      unsigned int /*flags*/, void* context) {
  auto* ctx = static_cast<MatchContext*>(context);
  const Signature& sig = ctx->scanner->database_->signatures()[id];
  if ((sig.direction == SignatureDirection::kToServer &&
       ctx->direction != FlowDirection::kToServer) ||
      (sig.direction == SignatureDirection::kToClient &&
       ctx->direction != FlowDirection::kToClient)) {
    return 0;  // applies to the other half of the flow
  }
  Match match{.signature_id = sig.id, .direction = ctx->direction,
              .offset = ctx->base_offset + to};
  Flow& flow = *ctx->flow;
  if (sig.action == SignatureAction::kBlock) {
    ++ctx->scanner->stats_.block_matches;
    flow.blocked = true;
    flow.reason = VerdictReason::kSignature;
    flow.block_match = match;
    return 1;  // stop: the flow's verdict is final
  }
  ++ctx->scanner->stats_.alert_matches;
  if (flow.alerts.size() < kMaxAlertsPerFlow) {
    flow.alerts.push_back(match);
  } else {
    ++flow.alerts_dropped;
  }
  return 0;
}

void Scanner::scan(Flow& flow, FlowDirection direction, std::span<const std::uint8_t> bytes) {
  if (flow.blocked || flow.unscannable || bytes.empty()) return;
  Flow::Direction& d = flow.dir[index_of(direction)];
  if (d.closed) return;
  if (d.stream == nullptr &&
      hs_open_stream(database_->database(), 0, &d.stream) != HS_SUCCESS) {
    ++stats_.scan_errors;
    d.stream = nullptr;
    return;
  }
  MatchContext ctx{this, &flow, direction, 0};
  std::uint64_t start = options_.measure_scan_time ? steady_ns() : 0;
  hs_error_t rc = hs_scan_stream(d.stream, reinterpret_cast<const char*>(bytes.data()),
                                 static_cast<unsigned int>(bytes.size()), 0, scratch_.get(),
                                 on_match, &ctx);
  if (options_.measure_scan_time) stats_.scan_ns += steady_ns() - start;
  d.bytes += bytes.size();
  stats_.bytes_scanned += bytes.size();
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) ++stats_.scan_errors;
  if (flow.blocked) {
    ++stats_.flows_blocked;
    stop_scanning(flow);
    report(flow, FlowEnd::kOpen);
  }
}

void Scanner::scan_datagram(Flow& flow, FlowDirection direction,
                            std::span<const std::uint8_t> bytes) {
  if (flow.blocked || bytes.empty()) return;
  Flow::Direction& d = flow.dir[index_of(direction)];
  if (d.stream == nullptr &&
      hs_open_stream(database_->database(), 0, &d.stream) != HS_SUCCESS) {
    ++stats_.scan_errors;
    d.stream = nullptr;
    return;
  }
  MatchContext ctx{this, &flow, direction, d.bytes};
  std::uint64_t start = options_.measure_scan_time ? steady_ns() : 0;
  hs_error_t rc = hs_scan_stream(d.stream, reinterpret_cast<const char*>(bytes.data()),
                                 static_cast<unsigned int>(bytes.size()), 0, scratch_.get(),
                                 on_match, &ctx);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) ++stats_.scan_errors;
  if (!flow.blocked) {
    // End of the datagram: report end-anchored matches, start afresh.
    rc = hs_reset_stream(d.stream, 0, scratch_.get(), on_match, &ctx);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) ++stats_.scan_errors;
  }
  if (options_.measure_scan_time) stats_.scan_ns += steady_ns() - start;
  d.bytes += bytes.size();
  ++d.datagrams;
  stats_.bytes_scanned += bytes.size();
  if (flow.blocked) {
    ++stats_.flows_blocked;
    stop_scanning(flow);
    report(flow, FlowEnd::kOpen);
  }
}

void Scanner::close_stream(Flow& flow, FlowDirection direction, bool report_end_matches) {
  Flow::Direction& d = flow.dir[index_of(direction)];
  d.closed = true;
  if (d.stream == nullptr) return;
  hs_stream_t* stream = std::exchange(d.stream, nullptr);
  if (report_end_matches && !flow.blocked && !flow.unscannable) {
    MatchContext ctx{this, &flow, direction, 0};
    hs_error_t rc = hs_close_stream(stream, scratch_.get(), on_match, &ctx);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) ++stats_.scan_errors;
    if (flow.blocked) {
      ++stats_.flows_blocked;
      stop_scanning(flow);
      report(flow, FlowEnd::kOpen);
    }
  } else {
    hs_close_stream(stream, nullptr, nullptr, nullptr);
  }
}

void Scanner::stop_scanning(Flow& flow) {
  for (std::size_t i = 0; i < 2; ++i) {
    Flow::Direction& d = flow.dir[i];
    if (d.stream != nullptr) hs_close_stream(std::exchange(d.stream, nullptr), nullptr, nullptr, nullptr);
    d.tcp.clear();
  }
}

void Scanner::report(Flow& flow, FlowEnd end) {
  if (flow.reported) return;
  flow.reported = true;
  if (sink_) sink_(flow, end);
}

void Scanner::end_flow(Flow& flow, FlowEnd end) {
  stop_scanning(flow);
  report(flow, end);
  for (const auto& d : flow.dir) stats_.duplicate_bytes += d.tcp.duplicate_bytes();
  fill_verdict(flow, ended_flow_verdict_);
  table_.remove(flow);
}

void Scanner::expire_idle(std::uint64_t now_ns, std::size_t budget) {
  while (budget-- > 0) {
    Flow* oldest = table_.oldest();
    if (oldest == nullptr || now_ns < oldest->last_seen_ns ||
        now_ns - oldest->last_seen_ns < options_.idle_timeout_ns) {
      return;
    }
    ++stats_.flows_idle;
    end_flow(*oldest, FlowEnd::kIdle);
  }
}

Flow* Scanner::create_flow(const FlowKey& key, bool client_is_low, std::uint64_t now_ns) {
  if (table_.size() >= table_.max_flows()) {
    expire_idle(now_ns, table_.size());
    if (table_.size() >= table_.max_flows()) {
      ++stats_.flows_evicted;
      end_flow(*table_.oldest(), FlowEnd::kEvicted);
    }
  }
  Flow* flow = table_.insert(key, now_ns);
  flow->client_is_low = client_is_low;
  for (auto& d : flow->dir) {
    d.tcp.set_limits(options_.reassembly);
    d.tcp.set_budget(&budget_);
  }
  ++stats_.flows;
  return flow;
}

void Scanner::fill_verdict(const Flow& flow, FrameVerdict& verdict) const {
  verdict.has_flow = true;
  verdict.protocol = flow.key.protocol;
  verdict.client_ip = flow.client_ip();
  verdict.server_ip = flow.server_ip();
  verdict.client_port = flow.client_port();
  verdict.server_port = flow.server_port();
  verdict.reason = flow.reason;
  if (flow.blocked) {
    verdict.action = Action::kBlock;
    verdict.match = flow.block_match;
  } else if (flow.unscannable) {
    verdict.action = options_.unscannable_blocks ? Action::kBlock : Action::kAllow;
  } else {
    verdict.action = Action::kAllow;
  }
}

void Scanner::handle_tcp(Flow& flow, FlowDirection direction, const fw::TcpInfo& tcp,
                         std::span<const std::uint8_t> payload, bool& flow_removed) {
  Flow::Direction& d = flow.dir[index_of(direction)];
  if ((tcp.flags & fw::kTcpRst) != 0) {
    end_flow(flow, FlowEnd::kRst);
    flow_removed = true;
    return;
  }
  if ((tcp.flags & fw::kTcpFin) != 0) d.fin_flag = true;
  if (flow.blocked || flow.unscannable) {
    // No longer scanned: only the end of the flow matters.
    if (flow.dir[0].fin_flag && flow.dir[1].fin_flag) {
      end_flow(flow, FlowEnd::kFin);
      flow_removed = true;
    }
    return;
  }
  TcpReassembler::Result result = d.tcp.on_segment(
      tcp.seq, tcp.flags, payload,
      [&](std::span<const std::uint8_t> bytes) { scan(flow, direction, bytes); });
  if (result == TcpReassembler::Result::kOverflow && !flow.blocked) {
    flow.unscannable = true;
    flow.reason = VerdictReason::kUnscannable;
    ++stats_.flows_unscannable;
    stop_scanning(flow);
    report(flow, FlowEnd::kOpen);
    return;
  }
  if (flow.blocked) return;
  if (d.tcp.finished() && !d.closed) close_stream(flow, direction, /*report_end_matches=*/true);
  if (flow.dir[0].closed && flow.dir[1].closed) {
    end_flow(flow, FlowEnd::kFin);
    flow_removed = true;
  }
}

FrameVerdict Scanner::process(std::span<const std::uint8_t> frame, std::uint64_t now_ns) {
  FrameVerdict verdict;
  ++stats_.frames;
  expire_idle(now_ns, kExpiryBudgetPerFrame);

  // Ethernet + NSH (EtherType 0x894F) is always decapsulated; with the nsh
  // option, a frame without it starts with a bare NSH header.
  const bool ethernet_nsh = frame.size() >= 14 && frame[12] == (kEtherTypeNsh >> 8) &&
                            frame[13] == (kEtherTypeNsh & 0xff);
  if (options_.nsh || ethernet_nsh) {
    std::span<const std::uint8_t> inner;
    if (!strip_nsh(frame, nsh_buffer_, inner, verdict.nsh).empty()) {
      ++stats_.malformed;
      verdict.action = Action::kBlock;
      verdict.reason = VerdictReason::kMalformed;
      return verdict;
    }
    verdict.has_nsh = true;
    frame = inner;
  }

  fw::PacketView view;
  if (fw::parse_frame(frame, view) != fw::ParseError::kOk) {
    ++stats_.malformed;
    verdict.action = Action::kBlock;
    verdict.reason = VerdictReason::kMalformed;
    return verdict;
  }
  if (view.l3 != fw::L3Kind::kIpv4 && view.l3 != fw::L3Kind::kIpv6) {
    ++stats_.not_inspected;
    verdict.reason = VerdictReason::kNotInspected;
    return verdict;
  }
  if (view.is_fragment) {
    ++stats_.fragments;
    verdict.action = options_.unscannable_blocks ? Action::kBlock : Action::kAllow;
    verdict.reason = VerdictReason::kFragment;
    return verdict;
  }
  const bool is_tcp = view.protocol == fw::kIpProtoTcp && view.has_l4;
  const bool is_udp = view.protocol == fw::kIpProtoUdp && view.has_l4;
  if (!is_tcp && !is_udp) {
    ++stats_.not_inspected;
    verdict.reason = VerdictReason::kNotInspected;
    return verdict;
  }

  bool sender_is_low = false;
  FlowKey key = make_flow_key(view.src_ip, view.src_port, view.dst_ip, view.dst_port,
                              view.protocol, sender_is_low);
  std::span<const std::uint8_t> payload = view.payload();
  Flow* flow = table_.find(key);
  if (is_tcp) ++stats_.tcp_segments;
  if (is_udp) ++stats_.udp_datagrams;
  if (flow == nullptr) {
    // A TCP flow starts with a SYN or with data (a flow picked up mid-way);
    // a lone ACK, FIN or RST does not create one.
    bool starts = is_udp || ((view.tcp.flags & fw::kTcpRst) == 0 &&
                             ((view.tcp.flags & fw::kTcpSyn) != 0 || !payload.empty()));
    if (!starts) {
      verdict.has_flow = true;
      verdict.protocol = view.protocol;
      verdict.client_ip = view.src_ip, verdict.client_port = view.src_port;
      verdict.server_ip = view.dst_ip, verdict.server_port = view.dst_port;
      return verdict;
    }
    // The client opened the flow: the sender, except for a SYN+ACK.
    bool sender_is_client =
        !(is_tcp && (view.tcp.flags & (fw::kTcpSyn | fw::kTcpAck)) == (fw::kTcpSyn | fw::kTcpAck));
    flow = create_flow(key, sender_is_client ? sender_is_low : !sender_is_low, now_ns);
  } else {
    table_.touch(*flow, now_ns);
  }
  FlowDirection direction =
      sender_is_low == flow->client_is_low ? FlowDirection::kToServer : FlowDirection::kToClient;
  bool removed = false;  // an RST or the last FIN ends the flow
  if (is_tcp) {
    handle_tcp(*flow, direction, view.tcp, payload, removed);
  } else {
    scan_datagram(*flow, direction, payload);
  }
  // The verdict of a flow that just ended is the one it ended with.
  FrameVerdict flow_verdict;
  if (removed) {
    flow_verdict = ended_flow_verdict_;
  } else {
    fill_verdict(*flow, flow_verdict);
  }
  flow_verdict.has_nsh = verdict.has_nsh;
  flow_verdict.nsh = verdict.nsh;
  verdict = flow_verdict;
  verdict.direction = direction;
  return verdict;
}

void Scanner::finish() {
  for (Flow* flow : table_.flows_by_sequence()) end_flow(*flow, FlowEnd::kEndOfInput);
}

}  // namespace svm
