// fw/flow_log.h — flow logs of logged rules, collected off the datapath.
//
// A rule with `logged: true` (fw/policy.h Rule::logged, or the policy's
// default_logged) makes the DFW (slot 2) write one FlowLogRecord for every
// packet the rule decides: a connection's first packet (allowed, dropped or
// rejected), every packet of a stateless section's rule, and a packet
// dropped when its connection is revalidated against a new policy. Packets
// of established connections are decided by the connection table and are
// not logged: one record per connection, as NSX's DFW logs (dfwpktlogs).
//
// Nothing on the datapath formats or writes a log. A worker copies a
// fixed-size record (no strings, no allocation) into its own bounded ring
// in the FlowLog; a logger thread of the host drains the rings, looks up
// the rule's name and tag (Dfw::rule_info) and formats each record as a
// text line (format_flow_log) or a protobuf fw.v1.FlowLogRecord
// (append_flow_log_delimited; libfw/proto/fw/v1/flow_log.proto).
//
// Usage:
//   auto log = fw::FlowLog::create({.workers = engine->options().max_workers}).value();
//   auto dfw = fw::Dfw::create(*engine, {.flow_log = log}).value();
//   // logger thread, every few milliseconds:
//   fw::FlowLogRecord records[256];
//   for (std::size_t n; (n = log->drain(records)) > 0;)
//     for (const fw::FlowLogRecord& r : std::span(records, n)) {
//       auto info = dfw->rule_info(r.rule_id);
//       std::string line = fw::format_flow_log(r, info.ok() ? &*info : nullptr);
//       ...
//     }
//
// Limits: each worker's ring holds FlowLogOptions::capacity records
// (104 bytes each; 4096 a worker by default, 416 KiB). When a ring is full
// the record is not written and counted (FlowLogStats::dropped): the
// datapath never waits for the logger. Records of one worker drain in the
// order they were written; drain() visits the workers in turn, so records
// of different workers are not globally ordered (sort by time_ns if needed).
//
// Thread-safety: create() and the formatting functions from any thread.
// The datapath writes from the engine's workers (one ring per worker
// index, so concurrent workers never share a ring). drain() is for one
// thread at a time (the logger); stats() from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fw/address.h"
#include "fw/status.h"
#include "fw/verdict.h"

namespace fw {

// One logged packet. Plain value; 104 bytes.
struct FlowLogRecord {
  std::uint64_t time_ns = 0;            // the burst's clock (BurstContext::now_ns)
  std::uint64_t generation = 0;         // the engine generation the packet saw
  std::uint64_t policy_generation = 0;  // the Dfw's policy generation (Dfw::policy_generation)
  IpAddress src;                        // as the packet carries them (for a
  IpAddress dst;                        // to-vm packet, dst is the VM's)
  std::uint32_t vnic_id = 0;
  std::uint32_t rule_id = kNoRule;      // the logged rule (or default rule)
  std::uint32_t length = 0;             // the whole frame, in bytes
  std::uint16_t src_port = 0;           // TCP/UDP/SCTP; 0 otherwise
  std::uint16_t dst_port = 0;           //   (and 0 for a non-first fragment)
  std::uint8_t protocol = 0;            // IP protocol number
  Direction direction = Direction::kFromVm;
  Action action = Action::kPass;        // kPass, kDrop or kReject
  DropReason reason = DropReason::kNone;  // kRule, kDefaultRule, kConntrackFull...
  std::uint8_t ct_state = 0;            // kCt* bits (fw/conntrack.h) as the verdict's
  std::uint8_t tcp_flags = 0;           // TCP only
  std::uint8_t icmp_type = 0;           // ICMP / ICMPv6 only
  std::uint8_t icmp_code = 0;
  bool is_default = false;              // decided by the policy's default rule
  std::uint8_t reserved[7] = {};
};
static_assert(sizeof(FlowLogRecord) == 104, "FlowLogRecord layout: a ring slot");

struct FlowLogOptions {
  // Rings, one per worker index: at least the engine's max_workers
  // (Dfw::create() refuses a smaller FlowLog). 1-1024.
  std::uint32_t workers = 64;
  // Records per ring, a power of two, 16-1Mi.
  std::uint32_t capacity = 4096;
};

struct FlowLogStats {
  std::uint64_t written = 0;  // records the datapath put in a ring
  std::uint64_t dropped = 0;  // records lost because their ring was full
  std::uint64_t drained = 0;  // records drain() has handed out
};

class FlowLog {
 public:
  // kInvalidArgument for options out of range (the message names them).
  static StatusOr<std::shared_ptr<FlowLog>> create(const FlowLogOptions& options = {});
  ~FlowLog();
  FlowLog(const FlowLog&) = delete;
  FlowLog& operator=(const FlowLog&) = delete;

  const FlowLogOptions& options() const noexcept;

  // Datapath: copies `record` into worker `worker_index`'s ring. Wait-free,
  // no allocation; false (and counted as dropped) when the ring is full or
  // worker_index >= options().workers. One thread per worker index at a time.
  bool write(std::uint32_t worker_index, const FlowLogRecord& record) noexcept;

  // Logger: moves up to out.size() records out of the rings, each ring's in
  // order, and returns how many. One thread at a time.
  std::size_t drain(std::span<FlowLogRecord> out) noexcept;

  FlowLogStats stats() const noexcept;

 private:
  struct Ring;
  FlowLog(const FlowLogOptions& options, std::unique_ptr<Ring[]> rings);
  FlowLogOptions options_;
  std::unique_ptr<Ring[]> rings_;
  std::uint32_t next_ring_ = 0;  // drain()'s round-robin start
};

// The rule a record names, for formatting: what Dfw::rule_info() returns.
struct FlowLogRule {
  std::string_view name;
  std::string_view tag;
};

// One text line (no newline), fields separated by spaces:
//   <time_ns> vnic=<id> <from-vm|to-vm> <pass|drop|reject> rule=<id>[/default]
//   <proto> <src>[:<port>] -> <dst>[:<port>] [flags=<SAFRPU..>] [icmp=<type>/<code>]
//   len=<bytes> ct=<flags|0> [reason=<name>] gen=<g>/<policy g>
//   [name="<rule name>"] [tag="<tag>"]
// e.g.
//   1500 vnic=1 from-vm pass rule=1001 tcp 10.0.0.1:40000 -> 10.0.0.2:80
//   flags=S len=74 ct=new|trk gen=3/1 name="web" tag="PCI web tier"
// <proto> is tcp, udp, icmp, icmpv6, sctp or the number; a name or tag is
// quoted with \" and \\ escaped and control bytes as \xNN, and omitted when
// empty. `rule` may be nullptr (no name, no tag).
std::string format_flow_log(const FlowLogRecord& record, const FlowLogRule* rule);

// Appends the record as a fw.v1.FlowLogRecord (flow_log.proto), preceded by
// its length as a varint: the same length-delimited framing as the feed
// (fw/feed.h), so a file of them is read with protobuf's
// ParseDelimitedFromZeroCopyStream.
void append_flow_log_delimited(std::string& out, const FlowLogRecord& record, const FlowLogRule* rule);

}  // namespace fw
