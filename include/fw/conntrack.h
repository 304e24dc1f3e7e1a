// fw/conntrack.h — the connection table: stateful tracking of TCP, UDP,
// ICMP/ICMPv6 and other IP protocols per zone, in bursts.
//
// Usage:
//   auto table = fw::ConnTable::create({.capacity = 1 << 20}).value();
//
//   // Datapath, one burst of parsed packets of one zone (a vNIC):
//   std::array<fw::CtResult, 32> results;
//   table->lookup(zone, packets, now_ns, results);
//   for (std::size_t i = 0; i < packets.size(); ++i) {
//     fw::CtResult& r = results[i];
//     switch (r.outcome) {
//       case fw::CtOutcome::kNew:          // no connection yet: ask the policy
//         if (allowed(packets[i]))
//           table->create(zone, packets[i], {.rule_id = rule, .generation = gen}, now_ns, r);
//         break;
//       case fw::CtOutcome::kEstablished:  // a packet of r.conn; r.rule_id and
//       case fw::CtOutcome::kRelated:      // r.generation say what admitted it
//         break;
//       case fw::CtOutcome::kInvalid:      // drop; r.reason says why
//       case fw::CtOutcome::kUntracked:    // not for conntrack: decide statelessly
//         break;
//     }
//   }
//   std::string flags = fw::format_ct_state(results[0].ct_state);  // "new|trk"
//
// Model. A connection is keyed by (address family, zone, source and
// destination address, IP protocol, ports or ICMP query id): IPv4 and IPv6
// never compare equal, and each zone (one per vNIC, or shared by several
// when the caller passes the same id) is its own address space. Both
// directions of a connection find the same entry; the result says which
// direction a packet travels (CtDirection). ICMP/ICMPv6 errors are RELATED to
// the connection whose packet they quote, only when the quote really
// matches it (same family, outer destination = inner source, ports or echo
// id of a live connection); otherwise they are invalid. Non-first fragments
// are decided like their first fragment (docs/conntrack.md, "Fragments").
//
// Two phases, as OVS's ct() and ct(commit): lookup() never creates; a
// packet that may open a connection reports kNew, and create() commits it
// with the rule id and policy generation that admitted it. Every packet of a
// burst is looked up before the caller creates any: two first packets of
// one connection in the same burst both report kNew, and the second
// create() attaches to the entry the first made (the result becomes that
// connection's, in the packet's direction).
//
// Time is the caller's: every datapath call takes `now_ns`, a monotonic
// nanosecond clock the caller reads once per burst. libfw never reads a
// clock, so tests are deterministic. Timestamps passed by one thread must
// not go backwards.
//
// Limits (fixed at create(), memory preallocated): `capacity` entries of 112
// bytes plus two 8-byte bucket pointers per entry (docs/conntrack.md has the
// layout); a global limit, a per-zone limit and a half-open limit. At the
// global or half-open limit the oldest connection that is not established
// (within the shard the new one hashes to) is evicted; at a zone's limit
// the oldest non-established connection of that zone among the first
// kZoneEvictionScan of each list is evicted; when nothing is evictable the
// new connection is refused. Every eviction and refusal is counted
// (ConnTableStats).
//
// Thread-safety:
//   - create() (the factory), set_zone_limit(), stats(), clear() and
//     ~ConnTable may be called from any thread; clear() and the destructor
//     must not run concurrently with datapath calls.
//   - Datapath calls (lookup, create, remove, update_admission, expire, info)
//     never allocate, throw or log. With CtConcurrency::kShared (default)
//     any number of threads may call them at once, on the same zone too: the
//     table is split into `shards` by key hash, each with its own spinlock,
//     buckets, expiry lists and free list; a packet takes only its shard's
//     lock for the time of its compare and update (lock striping, no global
//     lock). Global counts (connections, per-zone, half-open) are atomics
//     touched only when a connection is created or removed.
//   - With CtConcurrency::kSingleThread the shard locks are skipped: exactly
//     one thread at a time may make datapath calls (the caller guarantees
//     it); one thread pays no atomic read-modify-write per packet.
//   - A CtResult is a plain value written only by the call that fills it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fw/packet.h"
#include "fw/status.h"

namespace fw {

// ct_state bits as Open vSwitch numbers them (lib/packets.h CS_*), so
// format_ct_state() prints what `ovstest test-conntrack pcap` prints.
inline constexpr std::uint8_t kCtNew = 0x01;
inline constexpr std::uint8_t kCtEstablished = 0x02;
inline constexpr std::uint8_t kCtRelated = 0x04;
inline constexpr std::uint8_t kCtReply = 0x08;
inline constexpr std::uint8_t kCtInvalid = 0x10;
inline constexpr std::uint8_t kCtTracked = 0x20;

// "new|trk", "est|rpl|trk", "rel|trk", "inv|trk"; names in bit order,
// separated by '|', as OVS's format_flags(); "0" when no bit is set. 0x40
// and 0x80 print as OVS's "snat" and "dnat" (libfw never sets them).
// Allocates: not for the datapath.
std::string format_ct_state(std::uint8_t ct_state);

// Which side sent a packet: the side that opened the connection, or the other.
enum class CtDirection : std::uint8_t { kOriginal = 0, kReply = 1 };

enum class CtOutcome : std::uint8_t {
  kNew = 0,      // no connection; the packet may open one (create())
  kEstablished,  // a packet of `conn`, accepted by its protocol tracker (the
                 // name is OVS's "tracked and known"; ct_state still says new
                 // until the reply direction is seen)
  kRelated,      // an ICMP/ICMPv6 error about `conn`
  kInvalid,      // drop it: `reason` says why (counted)
  kUntracked,    // conntrack has no opinion (non-IP, ND/MLD/router discovery):
                 // decide it statelessly
};

// Stable reasons for kInvalid/kUntracked and for refused creates. Values never
// change meaning; new reasons are appended before kCount.
enum class CtReason : std::uint8_t {
  kNone = 0,
  kNotIp,                 // untracked: not IPv4/IPv6
  kIcmpNotTrackable,      // untracked: ICMP that is neither a query nor an error
  kBadZone,               // zone >= ConnTableOptions::zones
  kCannotOpen,            // no connection and the packet may not open one
                          // (ICMP echo reply, TCP non-SYN when strict, ...)
  kTrackerRejected,       // the protocol tracker refused it (window, flags, a
                          // request on the reply side...)
  kIcmpErrorMismatch,     // ICMP error whose quote cannot belong to any
                          // connection (family, outer dst != inner src, no ports)
  kIcmpErrorNoConnection, // ICMP error quoting no live connection
  kFragmentBeforeFirst,   // non-first fragment with no first fragment seen
  kFragmentNotAdmitted,   // its first fragment opened no connection
  kFragmentOverlap,       // overlaps another fragment of its datagram
  kFragmentOversize,      // beyond max_datagram_bytes or the datagram's end
  kFragmentTooManyPieces, // more than kMaxFragmentPieces disjoint pieces
  kTableFull,             // create refused: global limit, nothing evictable
  kZoneLimit,             // create refused: the zone's limit, nothing evictable
  kHalfOpenLimit,         // create refused: half-open limit, nothing evictable
  kCount
};
inline constexpr std::size_t kCtReasonCount = static_cast<std::size_t>(CtReason::kCount);
std::string_view ct_reason_name(CtReason reason) noexcept;  // "not-ip", "bad-zone", ...

// A connection. Handles stay safe after the connection is gone: every call
// taking one checks it and answers "not found" for a stale handle.
struct ConnRef {
  static constexpr std::uint32_t kNone = 0xffffffffu;
  std::uint32_t index = kNone;
  std::uint32_t incarnation = 0;
  bool valid() const noexcept { return index != kNone; }
  friend bool operator==(const ConnRef&, const ConnRef&) = default;
};

// What lookup() says about one packet. 32 bytes.
struct CtResult {
  ConnRef conn;                       // kEstablished/kRelated, and kNew after create()
  std::uint64_t generation = 0;       // the policy generation that admitted `conn`
  std::uint32_t rule_id = 0;          // the rule that admitted `conn`
  CtOutcome outcome = CtOutcome::kUntracked;
  CtDirection direction = CtDirection::kOriginal;
  std::uint8_t ct_state = 0;          // kCt* bits
  CtReason reason = CtReason::kNone;
  std::uint32_t hash = 0;             // internal: lets create() skip rehashing
};

// What admitted a connection (stored in its entry, read back by lookups).
struct CtAdmission {
  std::uint32_t rule_id = 0;
  std::uint64_t generation = 0;
};

// Timeouts in seconds. Defaults are Open vSwitch 3.1's userspace defaults
// (lib/conntrack-tp.c ct_dpif_netdev_tp_def) except ICMP, which is
// netfilter's nf_conntrack_icmp_timeout (OVS: 60 s before a reply, 30 after).
struct CtTimeouts {
  std::uint32_t tcp_syn_sent = 30;        // OVS tcp_syn_sent
  std::uint32_t tcp_syn_recv = 30;        // OVS tcp_syn_recv
  std::uint32_t tcp_established = 86400;  // OVS tcp_established (24 h)
  std::uint32_t tcp_fin_wait = 900;       // OVS tcp_fin_wait (one side closing)
  std::uint32_t tcp_closing = 45;         // OVS tcp_time_wait (both sides closing)
  std::uint32_t tcp_time_wait = 30;       // OVS tcp_close (both FINs acknowledged)
  std::uint32_t tcp_closed = 30;          // OVS tcp_close (reset)
  std::uint32_t udp_first = 60;           // OVS udp_first
  std::uint32_t udp_multiple = 30;        // OVS udp_multiple (both directions seen)
  std::uint32_t icmp = 30;                // netfilter icmp_timeout
  std::uint32_t other_first = 60;         // OVS other first
  std::uint32_t other_multiple = 30;      // OVS other bidir
};

enum class CtConcurrency : std::uint8_t {
  kShared = 0,    // any threads at once, per-shard spinlocks
  kSingleThread,  // one datapath thread at a time, no locks taken
};

inline constexpr std::uint32_t kMaxFragmentPieces = 8;
inline constexpr std::uint32_t kZoneEvictionScan = 16;

struct ConnTableOptions {
  // Connections the table holds (preallocated). 1 .. 2^27 (134,217,728: the
  // expiry lists' 32-bit links span at most 16 GiB of entries).
  std::uint32_t capacity = 65536;
  // Global limit; 0 = capacity. At most capacity.
  std::uint32_t max_connections = 0;
  // Connections not yet established (TCP handshake not complete, UDP/ICMP/
  // other without a reply) at once; 0 = no limit other than the global one.
  std::uint32_t max_half_open = 0;
  // Zone ids are 0 .. zones-1 (per-zone counters are preallocated; 1..65536).
  std::uint32_t zones = 4096;
  // Default per-zone limit; 0 = none. set_zone_limit() overrides per zone.
  std::uint32_t zone_limit = 0;
  // Hash buckets; 0 = twice the capacity, rounded up to a power of two
  // (load <= 1/2: at 1M connections a third fewer lookups go past their
  // bucket's first entry than at load 1, and they take 17 % less time).
  // Rounded up to a power of two, at least one per shard.
  std::uint32_t buckets = 0;
  // Lock stripes; a power of two, 1..256, or 0 = chosen by capacity: 64
  // below 256k connections, 256 from there. More stripes make two workers
  // meet on one lock less often (at 1M connections and a burst of 32, 256
  // stripes let two workers reach 2x one where 64 gave 1.5x); fewer keep
  // more connections per shard to evict from when a small table is full
  // (eviction looks only at the new connection's shard).
  std::uint32_t shards = 0;
  CtConcurrency concurrency = CtConcurrency::kShared;
  CtTimeouts timeouts = {};
  // Expired entries freed by one lookup() call at most (bounded work per
  // burst); expire() frees more when the caller has time.
  std::uint32_t expiry_per_burst = 32;
  // TCP tracking (fw::conntrack TrackerConfig).
  bool tcp_strict = true;   // refuse mid-stream pickup
  bool tcp_liberal = false; // skip sequence/window checks
  // Fragment table: datagrams in flight (bounded; the oldest is dropped when
  // full), their timeout, and the largest datagram accepted.
  std::uint32_t fragment_capacity = 1024;
  std::uint32_t fragment_timeout = 30;       // seconds (netfilter ipfrag_time)
  std::uint32_t max_datagram_bytes = 65535;  // fragmentable part, in bytes
  // Hash seed; 0 = random at create() (hash flooding resistance).
  std::uint64_t hash_seed = 0;
};

struct ConnTableStats {
  std::uint64_t connections = 0;      // live now
  std::uint64_t half_open = 0;        // live and not established
  std::uint64_t created = 0;
  std::uint64_t expired = 0;          // freed by timeout (sweep or lookup)
  std::uint64_t evicted = 0;          // freed to make room (not established)
  std::uint64_t removed = 0;          // freed by remove() or a TCP restart
  std::uint64_t refused_table_full = 0;
  std::uint64_t refused_zone_limit = 0;
  std::uint64_t refused_half_open = 0;
  std::uint64_t fragments_tracked = 0;  // non-first fragments decided like their first
  std::uint64_t fragment_datagrams_evicted = 0;  // fragment table full: oldest dropped
  std::array<std::uint64_t, kCtReasonCount> invalid = {};  // packets by reason
};

// One connection, as read by info() (control plane, tests, export).
struct ConnInfo {
  IpAddress src;               // original direction
  IpAddress dst;
  std::uint16_t src_port = 0;  // ICMP: the query id
  std::uint16_t dst_port = 0;  // ICMP: the request type
  std::uint8_t protocol = 0;
  std::uint16_t zone = 0;
  bool established = false;
  std::uint8_t timeout_class = 0;  // fw::conntrack::TimeoutClass
  std::uint64_t last_seen_ns = 0;
  std::uint64_t expires_ns = 0;
  CtAdmission admission;
};

class ConnTable {
 public:
  // kInvalidArgument names the bad option.
  static StatusOr<std::unique_ptr<ConnTable>> create(const ConnTableOptions& options = {});
  ~ConnTable();
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;

  const ConnTableOptions& options() const noexcept;

  // --- datapath --------------------------------------------------------------
  // Fills results[i] for packets[i], i < min(sizes). Refreshes the timers and
  // protocol state of the connections hit; frees at most expiry_per_burst
  // expired entries. Never creates.
  void lookup(std::uint16_t zone, std::span<const PacketView> packets, std::uint64_t now_ns,
              std::span<CtResult> results) noexcept;
  // Only packets[active[k]] (ascending or not; each < packets.size()), result
  // in results[active[k]] (results.size() >= packets.size()), as a filter's
  // process() gets them. An index past either span is skipped.
  void lookup(std::uint16_t zone, std::span<const PacketView> packets,
              std::span<const std::uint16_t> active, std::uint64_t now_ns,
              std::span<CtResult> results) noexcept;

  // Commits a connection for `packet`, whose `result` lookup() set to kNew.
  // On success result.conn/rule_id/generation are set (outcome stays kNew,
  // ct_state new|trk; if another packet created the connection meanwhile,
  // `result` becomes a packet of that connection instead). When a limit
  // refuses it: outcome kInvalid, reason kTableFull/kZoneLimit/kHalfOpenLimit
  // and false. A first fragment's connection also admits its later fragments.
  bool create(std::uint16_t zone, const PacketView& packet, const CtAdmission& admission,
              std::uint64_t now_ns, CtResult& result) noexcept;

  // Deletes the connection (the DFW "reset" on a policy change). False if the
  // handle is stale.
  bool remove(ConnRef conn) noexcept;
  // Re-stamps what admitted the connection (a lazy revalidation that keeps
  // it). False if the handle is stale.
  bool update_admission(ConnRef conn, const CtAdmission& admission) noexcept;
  // Frees expired entries, at most `max_entries`; returns how many.
  std::size_t expire(std::uint64_t now_ns, std::size_t max_entries) noexcept;
  // The connection's state; false if the handle is stale.
  bool info(ConnRef conn, ConnInfo& out) const noexcept;

  // --- the service word: a slot after the DFW keeps per-connection state ----
  // Each connection carries one 32-bit word for service insertion
  // (fw/service.h: the redirect decision, pinned instances, the service's
  // flow verdict); 0 when the connection is created. Atomic with respect to
  // every other call.
  //
  // peek(): the connection of each packets[active[k]] without tracking it:
  // no protocol-tracker update, no timer refresh, no expiry, no counters (the
  // DFW has already tracked the packet). out[active[k]].found is false for a
  // packet of no live connection (and for non-IP packets and ICMP errors;
  // a non-first fragment finds its first fragment's connection). An expired
  // connection not yet freed is not found, by the caller's clock `now_ns`
  // (0: no expiry check).
  struct Peek {
    ConnRef conn;
    std::uint32_t service_word = 0;
    CtDirection direction = CtDirection::kOriginal;
    bool found = false;
  };
  void peek(std::uint16_t zone, std::span<const PacketView> packets, std::span<const std::uint16_t> active,
            std::uint64_t now_ns, std::span<Peek> out) const noexcept;
  // Replaces the word if it still equals `expected` (true); otherwise loads
  // the current word into `expected` (false). False with expected unchanged
  // for a stale handle: check with service_word() when it matters.
  bool exchange_service_word(ConnRef conn, std::uint32_t& expected, std::uint32_t desired) noexcept;
  // The word; false for a stale handle.
  bool service_word(ConnRef conn, std::uint32_t& out) const noexcept;

  // --- control plane ---------------------------------------------------------
  // 0 = no limit. kInvalidArgument for a zone >= options().zones.
  Status set_zone_limit(std::uint16_t zone, std::uint32_t limit);
  std::uint32_t zone_connections(std::uint16_t zone) const noexcept;
  ConnTableStats stats() const;
  // Deletes every connection and fragment record (not the counters).
  void clear();
  // Bytes preallocated: entries, buckets, shards, zone counters, fragments.
  std::size_t memory_bytes() const noexcept;

 private:
  struct Impl;
  explicit ConnTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
