#include "examples/service-vm/verdict_output.h"

#include <cstring>

#include <fmt/core.h>

#include "fw/packet.h"

namespace svm {
namespace {

std::string endpoint(const fw::IpAddress& ip, std::uint16_t port) {
  if (ip.is_v6()) return fmt::format("[{}]:{}", ip.to_string(), port);
  return fmt::format("{}:{}", ip.to_string(), port);
}

std::string protocol_name(std::uint8_t protocol) {
  if (protocol == fw::kIpProtoTcp) return "tcp";
  if (protocol == fw::kIpProtoUdp) return "udp";
  return std::to_string(protocol);
}

void put16(std::uint8_t* p, std::uint16_t v) { p[0] = v >> 8, p[1] = v & 0xff; }
void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
void put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
std::uint64_t get64(const std::uint8_t* p) {
  return std::uint64_t{get32(p)} << 32 | get32(p + 4);
}

}  // namespace

std::string format_flow_line(const Flow& flow, FlowEnd end, bool unscannable_blocks) {
  bool block = flow.blocked || (flow.unscannable && unscannable_blocks);
  std::string line = fmt::format(
      "flow={} verdict={} reason={} proto={} client={} server={}", flow.sequence,
      block ? "block" : "allow", verdict_reason_name(flow.reason), protocol_name(flow.key.protocol),
      endpoint(flow.client_ip(), flow.client_port()), endpoint(flow.server_ip(), flow.server_port()));
  if (flow.reason == VerdictReason::kSignature) {
    line += fmt::format(" sig={} dir={} offset={}", flow.block_match.signature_id,
                        flow_direction_name(flow.block_match.direction), flow.block_match.offset);
  }
  line += fmt::format(" bytes={}/{} end={}", flow.dir[0].bytes, flow.dir[1].bytes,
                      flow_end_name(end));
  if (!flow.alerts.empty()) {
    line += " alerts=";
    for (std::size_t i = 0; i < flow.alerts.size(); ++i) {
      const Match& m = flow.alerts[i];
      line += fmt::format("{}{}/{}/{}", i == 0 ? "" : ",", m.signature_id,
                          flow_direction_name(m.direction), m.offset);
    }
    if (flow.alerts_dropped > 0) line += fmt::format(",+{}", flow.alerts_dropped);
  }
  return line;
}

std::string format_summary(const ScannerStats& s, double elapsed_seconds) {
  double gbps = s.scan_ns == 0 ? 0.0 : static_cast<double>(s.bytes_scanned) * 8.0 / static_cast<double>(s.scan_ns);
  return fmt::format(
      "summary frames={} flows={} blocked={} unscannable={} bytes_scanned={} block_matches={} "
      "alert_matches={} duplicate_bytes={} malformed={} not_inspected={} fragments={} idle={} "
      "evicted={} scan_errors={} scan_seconds={:.6f} scan_gbps={:.2f} elapsed_seconds={:.3f}",
      s.frames, s.flows, s.flows_blocked, s.flows_unscannable, s.bytes_scanned, s.block_matches,
      s.alert_matches, s.duplicate_bytes, s.malformed, s.not_inspected, s.fragments, s.flows_idle,
      s.flows_evicted, s.scan_errors, static_cast<double>(s.scan_ns) / 1e9, gbps, elapsed_seconds);
}

void add_stats(ScannerStats& into, const ScannerStats& from) {
  into.frames += from.frames;
  into.malformed += from.malformed;
  into.not_inspected += from.not_inspected;
  into.fragments += from.fragments;
  into.tcp_segments += from.tcp_segments;
  into.udp_datagrams += from.udp_datagrams;
  into.flows += from.flows;
  into.flows_blocked += from.flows_blocked;
  into.flows_unscannable += from.flows_unscannable;
  into.flows_idle += from.flows_idle;
  into.flows_evicted += from.flows_evicted;
  into.bytes_scanned += from.bytes_scanned;
  into.duplicate_bytes += from.duplicate_bytes;
  into.block_matches += from.block_matches;
  into.alert_matches += from.alert_matches;
  into.scan_errors += from.scan_errors;
  into.scan_ns += from.scan_ns;
}

VerdictRecord encode_verdict(const FrameVerdict& v) {
  VerdictRecord r{};
  r[0] = kVerdictRecordVersion;
  r[1] = static_cast<std::uint8_t>(v.action);
  r[2] = static_cast<std::uint8_t>(v.reason);
  if (v.has_flow) {
    r[3] = v.client_ip.is_v6() ? 6 : 4;
    r[4] = v.protocol;
    r[5] = static_cast<std::uint8_t>(v.direction);
    put16(&r[12], v.client_port);
    put16(&r[14], v.server_port);
    std::memcpy(&r[16], v.client_ip.bytes.data(), 16);
    std::memcpy(&r[32], v.server_ip.bytes.data(), 16);
  }
  if (v.reason == VerdictReason::kSignature) {
    r[6] = static_cast<std::uint8_t>(v.match.direction);
    put32(&r[8], v.match.signature_id);
    put64(&r[48], v.match.offset);
  }
  if (v.has_nsh) {
    r[7] = 1;
    put32(&r[56], v.nsh.service_path);
  }
  return r;
}

fw::StatusOr<FrameVerdict> decode_verdict(std::span<const std::uint8_t> r) {
  if (r.size() != kVerdictRecordSize)
    return fw::invalid_argument(fmt::format("verdict record: {} bytes, expected {}", r.size(),
                                            kVerdictRecordSize));
  if (r[0] != kVerdictRecordVersion)
    return fw::invalid_argument(fmt::format("verdict record: version {}", r[0]));
  if (r[1] > 1 || r[2] > static_cast<std::uint8_t>(VerdictReason::kFragment) ||
      (r[3] != 0 && r[3] != 4 && r[3] != 6) || r[5] > 1 || r[6] > 1)
    return fw::invalid_argument("verdict record: a field is out of range");
  FrameVerdict v;
  v.action = static_cast<Action>(r[1]);
  v.reason = static_cast<VerdictReason>(r[2]);
  v.has_flow = r[3] != 0;
  if (v.has_flow) {
    v.protocol = r[4];
    v.direction = static_cast<FlowDirection>(r[5]);
    v.client_port = static_cast<std::uint16_t>(r[12] << 8 | r[13]);
    v.server_port = static_cast<std::uint16_t>(r[14] << 8 | r[15]);
    fw::IpFamily family = r[3] == 6 ? fw::IpFamily::kIpv6 : fw::IpFamily::kIpv4;
    v.client_ip.family = family;
    v.server_ip.family = family;
    std::memcpy(v.client_ip.bytes.data(), &r[16], 16);
    std::memcpy(v.server_ip.bytes.data(), &r[32], 16);
  }
  v.match.direction = static_cast<FlowDirection>(r[6]);
  v.match.signature_id = get32(&r[8]);
  v.match.offset = get64(&r[48]);
  v.has_nsh = (r[7] & 1) != 0;
  v.nsh.service_path = get32(&r[56]);
  return v;
}

}  // namespace svm
