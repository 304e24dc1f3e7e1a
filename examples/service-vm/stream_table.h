// examples/service-vm/stream_table.h — flows of the service VM: the flow key
// (one key for both directions), TCP reassembly "enough to scan", and the
// bounded flow table with idle expiry and LRU eviction.
//
// Reassembly (docs/service-vm.md, "TCP reassembly"): each direction delivers
// its bytes in sequence order exactly once. A segment before the next
// expected byte is a retransmission (dropped); one that overlaps it delivers
// only its new tail (bytes already delivered win); one past it waits in a
// bounded out-of-order queue (ReassemblyLimits) until the gap fills. When a
// segment does not fit the queue the direction overflows: the caller stops
// scanning the flow and gives it the configured "unscannable" verdict.
// The stream starts at the SYN (ISN + 1) or, for a flow picked up mid-way, at
// the first segment seen in that direction; it ends when the FIN's sequence
// number is reached.
//
// Thread-safety: none; a FlowTable and its flows belong to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "fw/address.h"

struct hs_stream;

namespace svm {

// A flow's key with the endpoints in a canonical order (lower address/port
// first), so both directions of a flow find the same entry.
struct FlowKey {
  fw::IpAddress low_ip;
  fw::IpAddress high_ip;
  std::uint16_t low_port = 0;
  std::uint16_t high_port = 0;
  std::uint8_t protocol = 0;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

// Builds the canonical key; `sender_is_low` tells which endpoint sent.
FlowKey make_flow_key(const fw::IpAddress& src, std::uint16_t src_port, const fw::IpAddress& dst,
                      std::uint16_t dst_port, std::uint8_t protocol, bool& sender_is_low);

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& key) const noexcept;
};

enum class FlowDirection : std::uint8_t { kToServer = 0, kToClient = 1 };
std::string_view flow_direction_name(FlowDirection direction) noexcept;

struct ReassemblyLimits {
  // Segments and payload bytes waiting for a gap to fill, per direction.
  std::size_t max_out_of_order_segments = 32;
  std::size_t max_out_of_order_bytes = 64 * 1024;
  // A segment starting further than this past the next expected byte is not
  // queued (it cannot belong to a sane window): the direction overflows.
  std::uint32_t max_gap = 1u << 20;
};

// Out-of-order bytes queued by every direction of every flow of one
// scanner: the bound that keeps max_flows x max_out_of_order_bytes from being
// the memory a hostile input can pin.
struct OutOfOrderBudget {
  std::size_t max_bytes = 64u << 20;
  std::size_t used_bytes = 0;
};

// One direction of a TCP stream.
class TcpReassembler {
 public:
  TcpReassembler() = default;
  ~TcpReassembler() { clear(); }
  TcpReassembler(const TcpReassembler&) = delete;
  TcpReassembler& operator=(const TcpReassembler&) = delete;

  enum class Result : std::uint8_t {
    kOk,        // accepted (delivered, queued, or a harmless duplicate)
    kOverflow,  // did not fit the out-of-order queue: stop scanning this flow
  };
  using Deliver = std::function<void(std::span<const std::uint8_t>)>;

  // One segment of this direction: its sequence number, TCP flags and
  // payload. `deliver` receives every byte range that became in order, in
  // order (possibly several calls). RST is the caller's business.
  Result on_segment(std::uint32_t seq, std::uint8_t flags, std::span<const std::uint8_t> payload,
                    const Deliver& deliver);

  bool started() const noexcept { return started_; }
  // The FIN was seen and every byte before it delivered.
  bool finished() const noexcept { return fin_seen_ && next_seq_ == fin_seq_; }
  std::uint32_t next_seq() const noexcept { return next_seq_; }
  std::size_t queued_segments() const noexcept { return queue_.size(); }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  std::uint64_t delivered_bytes() const noexcept { return delivered_bytes_; }
  // Payload bytes dropped because they were already delivered (retransmits
  // and overlaps).
  std::uint64_t duplicate_bytes() const noexcept { return duplicate_bytes_; }
  void set_limits(const ReassemblyLimits& limits) { limits_ = limits; }
  // Queued bytes are also counted in `budget` (shared by one thread's
  // reassemblers; may be null). A segment that does not fit it overflows.
  void set_budget(OutOfOrderBudget* budget) { budget_ = budget; }
  // Drops the queue (the flow is no longer scanned).
  void clear() noexcept;

 private:
  struct Segment {
    std::uint32_t seq;
    std::vector<std::uint8_t> bytes;
  };
  void deliver_from(std::uint32_t seq, std::span<const std::uint8_t> bytes, const Deliver& deliver);
  void drain(const Deliver& deliver);

  ReassemblyLimits limits_;
  OutOfOrderBudget* budget_ = nullptr;
  bool started_ = false;
  bool fin_seen_ = false;
  std::uint32_t next_seq_ = 0;
  std::uint32_t fin_seq_ = 0;
  std::vector<Segment> queue_;  // sorted by seq (relative to next_seq_)
  std::size_t queued_bytes_ = 0;
  std::uint64_t delivered_bytes_ = 0;
  std::uint64_t duplicate_bytes_ = 0;
};

// Why a flow's verdict is what it is.
enum class VerdictReason : std::uint8_t {
  kNoMatch = 0,      // allow: no block signature matched (so far)
  kSignature = 1,    // block: a block signature matched
  kUnscannable = 2,  // the flow could not be scanned (reassembly overflow): configured verdict
  kMalformed = 3,    // the frame did not parse: block (socket replies only)
  kNotInspected = 4, // not TCP/UDP over IP (ARP, ICMP, ...): allow (socket replies only)
  kFragment = 5,     // an IP fragment (not reassembled): configured unscannable verdict
};
std::string_view verdict_reason_name(VerdictReason reason) noexcept;

// How a flow's record ended.
enum class FlowEnd : std::uint8_t { kOpen, kFin, kRst, kIdle, kEvicted, kEndOfInput };
std::string_view flow_end_name(FlowEnd end) noexcept;

struct Match {
  std::uint32_t signature_id = 0;
  FlowDirection direction = FlowDirection::kToServer;
  std::uint64_t offset = 0;  // end of the match in that direction's byte stream
};

inline constexpr std::size_t kMaxAlertsPerFlow = 8;

struct Flow {
  FlowKey key;
  std::uint64_t sequence = 0;  // creation order (1, 2, ...): flow=N in the output
  // The client (the side that opened the flow) is the low endpoint?
  bool client_is_low = true;
  bool blocked = false;
  bool unscannable = false;
  bool reported = false;             // the sink has seen this flow's verdict
  VerdictReason reason = VerdictReason::kNoMatch;
  Match block_match;                 // valid if reason == kSignature
  std::vector<Match> alerts;         // at most kMaxAlertsPerFlow
  std::uint64_t alerts_dropped = 0;  // alerts past that bound
  std::uint64_t last_seen_ns = 0;
  struct Direction {
    TcpReassembler tcp;
    hs_stream* stream = nullptr;     // open while the direction is scanned
    std::uint64_t bytes = 0;         // payload bytes scanned
    std::uint64_t datagrams = 0;     // UDP: datagrams scanned
    bool closed = false;             // stream ended (FIN reached, RST, block)
    bool fin_flag = false;           // a FIN was seen (ends a flow no longer scanned)
  } dir[2];
  std::list<Flow*>::iterator lru;    // position in FlowTable's LRU list

  const fw::IpAddress& client_ip() const { return client_is_low ? key.low_ip : key.high_ip; }
  const fw::IpAddress& server_ip() const { return client_is_low ? key.high_ip : key.low_ip; }
  std::uint16_t client_port() const { return client_is_low ? key.low_port : key.high_port; }
  std::uint16_t server_port() const { return client_is_low ? key.high_port : key.low_port; }
};

// The bounded flow table. Owns its flows; the caller closes a flow's
// Hyperscan streams before remove().
class FlowTable {
 public:
  explicit FlowTable(std::size_t max_flows);
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;
  ~FlowTable();

  Flow* find(const FlowKey& key);
  // Inserts a new flow; the table must have room (size() < max_flows()).
  Flow* insert(const FlowKey& key, std::uint64_t now_ns);
  // Marks `flow` as the most recently active.
  void touch(Flow& flow, std::uint64_t now_ns);
  // The least recently active flow, or null if empty.
  Flow* oldest() const;
  void remove(Flow& flow);
  std::size_t size() const noexcept { return flows_.size(); }
  std::size_t max_flows() const noexcept { return max_flows_; }
  // Every flow, in creation order (for the end-of-input report).
  std::vector<Flow*> flows_by_sequence() const;

 private:
  std::size_t max_flows_;
  std::uint64_t next_sequence_ = 1;
  std::unordered_map<FlowKey, Flow*, FlowKeyHash> flows_;
  std::list<Flow*> lru_;  // front: most recently active
};

}  // namespace svm
