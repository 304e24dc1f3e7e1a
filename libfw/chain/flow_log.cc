// Flow logs (fw/flow_log.h): one single-producer single-consumer ring per
// worker index, and the text and protobuf forms of a record.
#include "fw/flow_log.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <new>

#include <fmt/format.h>

#include "fw/conntrack.h"
#include "fw/v1/flow_log.pb.h"

namespace fw {

// A ring of one worker. The producer (the worker) owns `tail` and its
// counters; the consumer (drain) owns `head`. Each side reads the other's
// index with acquire and publishes its own with release, so a record is
// fully written before drain() sees it and fully read before the worker
// reuses its slot. The indices grow without wrapping (64 bits): `tail` is
// also the ring's count of records written, `head` of records drained.
struct FlowLog::Ring {
  alignas(64) std::atomic<std::uint64_t> tail{0};
  std::atomic<std::uint64_t> dropped{0};
  std::uint64_t cached_head = 0;  // producer's last view of head
  alignas(64) std::atomic<std::uint64_t> head{0};
  alignas(64) std::unique_ptr<FlowLogRecord[]> slots;
  std::uint64_t mask = 0;
};

StatusOr<std::shared_ptr<FlowLog>> FlowLog::create(const FlowLogOptions& options) {
  if (options.workers == 0 || options.workers > 1024)
    return invalid_argument(fmt::format("flow log: workers {} is out of range 1-1024", options.workers));
  if (options.capacity < 16 || options.capacity > (1u << 20) || !std::has_single_bit(options.capacity))
    return invalid_argument(
        fmt::format("flow log: capacity {} must be a power of two in 16-1048576", options.capacity));
  auto rings = std::make_unique<Ring[]>(options.workers);
  for (std::uint32_t w = 0; w < options.workers; ++w) {
    // Preallocated and touched here, never on the datapath.
    rings[w].slots = std::make_unique<FlowLogRecord[]>(options.capacity);
    rings[w].mask = options.capacity - 1;
  }
  return std::shared_ptr<FlowLog>(new FlowLog(options, std::move(rings)));
}

FlowLog::FlowLog(const FlowLogOptions& options, std::unique_ptr<Ring[]> rings)
    : options_(options), rings_(std::move(rings)) {}

FlowLog::~FlowLog() = default;

const FlowLogOptions& FlowLog::options() const noexcept { return options_; }

bool FlowLog::write(std::uint32_t worker_index, const FlowLogRecord& record) noexcept {
  if (worker_index >= options_.workers) {
    // No ring of its own: counted on the last ring (its producer does not
    // write this counter concurrently with a plain store: use fetch_add).
    rings_[options_.workers - 1].dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Ring& ring = rings_[worker_index];
  const std::uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  if (tail - ring.cached_head > ring.mask) {
    ring.cached_head = ring.head.load(std::memory_order_acquire);
    if (tail - ring.cached_head > ring.mask) {
      ring.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  ring.slots[tail & ring.mask] = record;
  ring.tail.store(tail + 1, std::memory_order_release);
  return true;
}

std::size_t FlowLog::drain(std::span<FlowLogRecord> out) noexcept {
  std::size_t n = 0;
  const std::uint32_t workers = options_.workers;
  // Visit every ring once, starting after the one the last call started
  // at, so that a busy worker cannot starve the others' rings.
  for (std::uint32_t k = 0; k < workers && n < out.size(); ++k) {
    Ring& ring = rings_[(next_ring_ + k) % workers];
    const std::uint64_t head = ring.head.load(std::memory_order_relaxed);
    const std::uint64_t tail = ring.tail.load(std::memory_order_acquire);
    const std::uint64_t take = std::min<std::uint64_t>(tail - head, out.size() - n);
    for (std::uint64_t i = 0; i < take; ++i) out[n++] = ring.slots[(head + i) & ring.mask];
    if (take > 0) ring.head.store(head + take, std::memory_order_release);
  }
  next_ring_ = (next_ring_ + 1) % workers;
  return n;
}

FlowLogStats FlowLog::stats() const noexcept {
  FlowLogStats s;
  for (std::uint32_t w = 0; w < options_.workers; ++w) {
    s.written += rings_[w].tail.load(std::memory_order_relaxed);
    s.dropped += rings_[w].dropped.load(std::memory_order_relaxed);
    s.drained += rings_[w].head.load(std::memory_order_relaxed);
  }
  return s;
}

// ---- formatting -----------------------------------------------------------------

namespace {

bool has_ports(std::uint8_t protocol) noexcept { return protocol == 6 || protocol == 17 || protocol == 132; }
bool is_icmp(std::uint8_t protocol) noexcept { return protocol == 1 || protocol == 58; }

std::string protocol_name(std::uint8_t protocol) {
  switch (protocol) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "icmpv6";
    case 132: return "sctp";
    default: return std::to_string(protocol);
  }
}

std::string tcp_flag_letters(std::uint8_t flags) {
  static constexpr char kLetters[] = "FSRPAUEC";  // bit 0 (FIN) .. bit 7 (CWR)
  std::string out;
  for (int b = 0; b < 8; ++b)
    if (flags & (1u << b)) out += kLetters[b];
  return out.empty() ? "-" : out;
}

void append_quoted(fmt::memory_buffer& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_endpoint(fmt::memory_buffer& out, const IpAddress& a, std::uint16_t port, bool with_port) {
  if (!with_port) {
    fmt::format_to(std::back_inserter(out), "{}", a.to_string());
  } else if (a.is_v6()) {
    fmt::format_to(std::back_inserter(out), "[{}]:{}", a.to_string(), port);
  } else {
    fmt::format_to(std::back_inserter(out), "{}:{}", a.to_string(), port);
  }
}

std::string address_bytes(const IpAddress& a) {
  if (a.is_v4()) return std::string(reinterpret_cast<const char*>(a.bytes.data()), 4);
  if (a.is_v6()) return std::string(reinterpret_cast<const char*>(a.bytes.data()), 16);
  return {};
}

v1::FlowLogRecord::Action proto_action(Action a) noexcept {
  switch (a) {
    case Action::kPass: return v1::FlowLogRecord::PASS;
    case Action::kDrop: return v1::FlowLogRecord::DROP;
    case Action::kReject: return v1::FlowLogRecord::REJECT;
    default: return v1::FlowLogRecord::ACTION_UNSPECIFIED;
  }
}

}  // namespace

std::string format_flow_log(const FlowLogRecord& r, const FlowLogRule* rule) {
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{} vnic={} {} {} rule={}{} {} ", r.time_ns, r.vnic_id, direction_name(r.direction),
                 action_name(r.action), r.rule_id, r.is_default ? "/default" : "", protocol_name(r.protocol));
  const bool ports = has_ports(r.protocol);
  append_endpoint(out, r.src, r.src_port, ports);
  fmt::format_to(it, " -> ");
  append_endpoint(out, r.dst, r.dst_port, ports);
  if (r.protocol == 6) fmt::format_to(it, " flags={}", tcp_flag_letters(r.tcp_flags));
  if (is_icmp(r.protocol)) fmt::format_to(it, " icmp={}/{}", r.icmp_type, r.icmp_code);
  fmt::format_to(it, " len={} ct={}", r.length, format_ct_state(r.ct_state));
  if (r.reason != DropReason::kNone) fmt::format_to(it, " reason={}", drop_reason_name(r.reason));
  fmt::format_to(it, " gen={}/{}", r.generation, r.policy_generation);
  if (rule != nullptr && !rule->name.empty()) {
    fmt::format_to(it, " name=");
    append_quoted(out, rule->name);
  }
  if (rule != nullptr && !rule->tag.empty()) {
    fmt::format_to(it, " tag=");
    append_quoted(out, rule->tag);
  }
  return fmt::to_string(out);
}

void append_flow_log_delimited(std::string& out, const FlowLogRecord& r, const FlowLogRule* rule) {
  v1::FlowLogRecord m;
  m.set_time_ns(r.time_ns);
  m.set_vnic_id(r.vnic_id);
  m.set_direction(r.direction == Direction::kFromVm ? v1::FlowLogRecord::FROM_VM : v1::FlowLogRecord::TO_VM);
  m.set_action(proto_action(r.action));
  if (r.reason != DropReason::kNone) m.set_reason(std::string(drop_reason_name(r.reason)));
  m.set_rule_id(r.rule_id);
  m.set_default_rule(r.is_default);
  if (rule != nullptr) {
    m.set_rule_name(std::string(rule->name));
    m.set_tag(std::string(rule->tag));
  }
  m.set_src_ip(address_bytes(r.src));
  m.set_dst_ip(address_bytes(r.dst));
  m.set_protocol(r.protocol);
  m.set_src_port(r.src_port);
  m.set_dst_port(r.dst_port);
  m.set_tcp_flags(r.tcp_flags);
  m.set_icmp_type(r.icmp_type);
  m.set_icmp_code(r.icmp_code);
  m.set_length(r.length);
  m.set_ct_state(r.ct_state);
  m.set_generation(r.generation);
  m.set_policy_generation(r.policy_generation);
  // The length as a base-128 varint, then the message.
  std::size_t size = m.ByteSizeLong();
  do {
    const auto byte = static_cast<std::uint8_t>(size & 0x7f);
    size >>= 7;
    out.push_back(static_cast<char>(size != 0 ? byte | 0x80 : byte));
  } while (size != 0);
  m.AppendToString(&out);
}

}  // namespace fw
