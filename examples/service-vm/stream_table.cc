#include "examples/service-vm/stream_table.h"

#include <algorithm>
#include <cstring>

#include "fw/packet.h"

namespace svm {
namespace {

// Sequence-space difference a - b (RFC 793 modular comparison).
std::int32_t seq_diff(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b);
}

int compare_endpoint(const fw::IpAddress& a, std::uint16_t a_port, const fw::IpAddress& b,
                     std::uint16_t b_port) {
  if (a.family != b.family) return a.family < b.family ? -1 : 1;
  if (int c = std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()); c != 0) return c;
  if (a_port != b_port) return a_port < b_port ? -1 : 1;
  return 0;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

FlowKey make_flow_key(const fw::IpAddress& src, std::uint16_t src_port, const fw::IpAddress& dst,
                      std::uint16_t dst_port, std::uint8_t protocol, bool& sender_is_low) {
  FlowKey key;
  key.protocol = protocol;
  sender_is_low = compare_endpoint(src, src_port, dst, dst_port) <= 0;
  if (sender_is_low) {
    key.low_ip = src, key.low_port = src_port, key.high_ip = dst, key.high_port = dst_port;
  } else {
    key.low_ip = dst, key.low_port = dst_port, key.high_ip = src, key.high_port = src_port;
  }
  return key;
}

std::size_t FlowKeyHash::operator()(const FlowKey& key) const noexcept {
  std::uint64_t words[4];
  std::memcpy(&words[0], key.low_ip.bytes.data(), 16);
  std::memcpy(&words[2], key.high_ip.bytes.data(), 16);
  std::uint64_t h = (std::uint64_t{key.low_port} << 24) ^ (std::uint64_t{key.high_port} << 8) ^
                    key.protocol ^ (std::uint64_t{static_cast<std::uint8_t>(key.low_ip.family)} << 40);
  for (std::uint64_t w : words) h = mix(h, w);
  return static_cast<std::size_t>(h);
}

std::string_view flow_direction_name(FlowDirection direction) noexcept {
  return direction == FlowDirection::kToServer ? "to-server" : "to-client";
}

std::string_view verdict_reason_name(VerdictReason reason) noexcept {
  switch (reason) {
    case VerdictReason::kNoMatch: return "no-match";
    case VerdictReason::kSignature: return "signature";
    case VerdictReason::kUnscannable: return "unscannable";
    case VerdictReason::kMalformed: return "malformed";
    case VerdictReason::kNotInspected: return "not-inspected";
    case VerdictReason::kFragment: return "fragment";
  }
  return "unknown";
}

std::string_view flow_end_name(FlowEnd end) noexcept {
  switch (end) {
    case FlowEnd::kOpen: return "open";
    case FlowEnd::kFin: return "fin";
    case FlowEnd::kRst: return "rst";
    case FlowEnd::kIdle: return "idle";
    case FlowEnd::kEvicted: return "evicted";
    case FlowEnd::kEndOfInput: return "end-of-input";
  }
  return "unknown";
}

// ---- TcpReassembler ----------------------------------------------------------

TcpReassembler::Result TcpReassembler::on_segment(std::uint32_t seq, std::uint8_t flags,
                                                  std::span<const std::uint8_t> payload,
                                                  const Deliver& deliver) {
  std::uint32_t data_seq = seq;
  if ((flags & fw::kTcpSyn) != 0) {
    data_seq = seq + 1;  // the SYN takes one sequence number
    if (!started_) {
      started_ = true;
      next_seq_ = data_seq;
    } else if (next_seq_ != data_seq && delivered_bytes_ == 0 && queue_.empty() && !fin_seen_) {
      // A SYN with a new ISN before any data (the first SYN was lost or the
      // peer restarted): follow the latest.
      next_seq_ = data_seq;
    }
  } else if (!started_) {
    // Picked up mid-stream: the first segment seen starts the stream.
    started_ = true;
    next_seq_ = data_seq;
  }
  if ((flags & fw::kTcpFin) != 0 && !fin_seen_) {
    fin_seen_ = true;
    fin_seq_ = data_seq + static_cast<std::uint32_t>(payload.size());
  }
  if (fin_seen_) {
    // Nothing after the FIN belongs to the stream.
    std::int32_t room = seq_diff(fin_seq_, data_seq);
    if (room <= 0) {
      duplicate_bytes_ += payload.size();
      return Result::kOk;
    }
    if (payload.size() > static_cast<std::size_t>(room))
      payload = payload.first(static_cast<std::size_t>(room));
  }
  if (payload.empty()) return Result::kOk;

  std::int32_t ahead = seq_diff(data_seq, next_seq_);
  if (ahead <= 0) {
    deliver_from(data_seq, payload, deliver);
    drain(deliver);
    return Result::kOk;
  }
  // Out of order: queue it, sorted by sequence number (after equal ones, so
  // the copy received first is delivered first and wins an overlap).
  if (static_cast<std::uint32_t>(ahead) > limits_.max_gap) return Result::kOverflow;
  for (const Segment& s : queue_) {
    if (seq_diff(data_seq, s.seq) >= 0 &&
        seq_diff(data_seq + static_cast<std::uint32_t>(payload.size()),
                 s.seq + static_cast<std::uint32_t>(s.bytes.size())) <= 0) {
      duplicate_bytes_ += payload.size();  // a retransmission of a queued segment
      return Result::kOk;
    }
  }
  if (queue_.size() + 1 > limits_.max_out_of_order_segments ||
      queued_bytes_ + payload.size() > limits_.max_out_of_order_bytes ||
      (budget_ != nullptr && budget_->used_bytes + payload.size() > budget_->max_bytes)) {
    return Result::kOverflow;
  }
  auto position = std::find_if(queue_.begin(), queue_.end(), [&](const Segment& s) {
    return seq_diff(s.seq, next_seq_) > ahead;
  });
  queue_.insert(position, Segment{data_seq, {payload.begin(), payload.end()}});
  queued_bytes_ += payload.size();
  if (budget_ != nullptr) budget_->used_bytes += payload.size();
  return Result::kOk;
}

void TcpReassembler::deliver_from(std::uint32_t seq, std::span<const std::uint8_t> bytes,
                                  const Deliver& deliver) {
  std::int32_t already = seq_diff(next_seq_, seq);  // >= 0: bytes before next_seq_
  if (static_cast<std::size_t>(already) >= bytes.size()) {
    duplicate_bytes_ += bytes.size();
    return;
  }
  duplicate_bytes_ += static_cast<std::size_t>(already);
  std::span<const std::uint8_t> fresh = bytes.subspan(static_cast<std::size_t>(already));
  next_seq_ += static_cast<std::uint32_t>(fresh.size());
  delivered_bytes_ += fresh.size();
  deliver(fresh);
}

void TcpReassembler::drain(const Deliver& deliver) {
  while (!queue_.empty() && seq_diff(queue_.front().seq, next_seq_) <= 0) {
    Segment front = std::move(queue_.front());
    queue_.erase(queue_.begin());
    queued_bytes_ -= front.bytes.size();
    if (budget_ != nullptr) budget_->used_bytes -= front.bytes.size();
    deliver_from(front.seq, front.bytes, deliver);
  }
}

void TcpReassembler::clear() noexcept {
  if (budget_ != nullptr) budget_->used_bytes -= queued_bytes_;
  queue_.clear();
  queue_.shrink_to_fit();
  queued_bytes_ = 0;
}

// ---- FlowTable -----------------------------------------------------------------

FlowTable::FlowTable(std::size_t max_flows) : max_flows_(max_flows) { flows_.reserve(max_flows); }

FlowTable::~FlowTable() {
  for (auto& [key, flow] : flows_) delete flow;
}

Flow* FlowTable::find(const FlowKey& key) {
  auto it = flows_.find(key);
  return it == flows_.end() ? nullptr : it->second;
}

Flow* FlowTable::insert(const FlowKey& key, std::uint64_t now_ns) {
  auto* flow = new Flow();
  flow->key = key;
  flow->sequence = next_sequence_++;
  flow->last_seen_ns = now_ns;
  lru_.push_front(flow);
  flow->lru = lru_.begin();
  flows_.emplace(key, flow);
  return flow;
}

void FlowTable::touch(Flow& flow, std::uint64_t now_ns) {
  flow.last_seen_ns = std::max(flow.last_seen_ns, now_ns);
  if (flow.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, flow.lru);
}

Flow* FlowTable::oldest() const { return lru_.empty() ? nullptr : lru_.back(); }

void FlowTable::remove(Flow& flow) {
  lru_.erase(flow.lru);
  flows_.erase(flow.key);
  delete &flow;
}

std::vector<Flow*> FlowTable::flows_by_sequence() const {
  std::vector<Flow*> out;
  out.reserve(flows_.size());
  for (const auto& [key, flow] : flows_) out.push_back(flow);
  std::sort(out.begin(), out.end(),
            [](const Flow* a, const Flow* b) { return a->sequence < b->sequence; });
  return out;
}

}  // namespace svm
