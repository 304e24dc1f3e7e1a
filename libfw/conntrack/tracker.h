// libfw/conntrack/tracker.h — the small interface every L4 protocol tracker
// implements (one file each: tcp.cc, udp.cc, icmp.cc, other.cc), in the
// manner of OVS's struct ct_l4_proto {new_conn, valid_new, conn_update}.
//
// The connection table (fw/conntrack.h, table.cc) owns entries, keys, timers and limits; a
// tracker owns only the protocol state stored inside an entry (L4State, an
// opaque 24-byte area) and says, for each packet, whether it is acceptable
// and which timeout class the connection is now in.
//
// Thread-safety: trackers are stateless functions over the L4State they are
// given; the table serialises calls for one entry.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fw/packet.h"

namespace fw::conntrack {

// Which side of the connection sent a packet: the side that opened it
// (original) or the other (reply).
enum class Dir : std::uint8_t { kOriginal = 0, kReply = 1 };

// What a tracker says about one packet of an existing connection.
enum class TrackResult : std::uint8_t {
  kAccept = 0,  // in state and in window: pass it and refresh the timer
  kInvalid,     // out of window, bad flags, ...: drop it, the entry is unchanged
  kRestart,     // a new connection reuses a closed/TIME_WAIT 4-tuple (a SYN
                // from the original side): the table replaces the entry and
                // treats the packet as the first of a new connection
};

// Timeout classes. Each has a configurable timeout (TimeoutConfig, in the
// table) and its own expiry list, so expiry never walks the whole table.
enum class TimeoutClass : std::uint8_t {
  kTcpSynSent = 0,   // original SYN seen, no answer
  kTcpSynRecv,       // SYN+ACK seen, handshake not completed
  kTcpEstablished,
  kTcpFinWait,       // one side sent FIN
  kTcpClosing,       // both sides sent FIN, not all acknowledged
  kTcpTimeWait,      // both FINs acknowledged
  kTcpClosed,        // reset
  kUdpFirst,         // packets seen in one direction only
  kUdpMultiple,      // both directions seen
  kIcmp,             // echo / query pseudo-connections (ICMP and ICMPv6)
  kOtherFirst,
  kOtherMultiple,
  kCount
};
inline constexpr std::size_t kTimeoutClassCount = static_cast<std::size_t>(TimeoutClass::kCount);

// Protocol state kept inside a connection entry. 24 bytes: TCP keeps per
// side seqlo, seqhi, max window, window scale and state (pf's layout).
struct alignas(4) L4State {
  std::uint8_t bytes[24];
};
inline constexpr std::size_t kL4StateBytes = sizeof(L4State);

// Tracker behaviour chosen per policy / table.
struct TrackerConfig {
  // TCP: refuse connections picked up mid-stream (first packet not a SYN).
  // When false, a non-SYN first packet opens an entry in the established
  // state with windows learned from it ("loose" pickup).
  bool tcp_strict = true;
  // TCP: skip sequence/window checks entirely (still track state). Off by
  // default; for hosts that see only one direction of some flows.
  bool tcp_liberal = false;
};

struct L4Tracker {
  // May `packet` (already known to belong to no connection) open one?
  // TCP: a SYN without ACK/RST/FIN (or, when !tcp_strict, a valid non-RST
  // segment); ICMP: an echo/query request, never an error or a reply; UDP and
  // others: always.
  bool (*valid_new)(const PacketView& packet, const TrackerConfig& config);
  // Initialise `state` from the first packet (original direction).
  void (*new_conn)(L4State& state, const PacketView& packet, const TrackerConfig& config);
  // A later packet of the connection, from side `dir`.
  TrackResult (*update)(L4State& state, Dir dir, const PacketView& packet,
                        const TrackerConfig& config);
  // The timeout class the connection is in now.
  TimeoutClass (*timeout_class)(const L4State& state);
  // Established for eviction and the half-open count (TCP: the handshake
  // completed; others: the reply direction was seen): what is not
  // established is evicted first. The "est" ct_state flag is the table's:
  // set once a reply-direction packet is accepted, as OVS and netfilter do.
  bool (*established)(const L4State& state);
};

// The tracker for an IP protocol number (TCP, UDP, ICMP, ICMPv6, else other).
const L4Tracker& tracker_for(std::uint8_t ip_protocol) noexcept;

const L4Tracker& tcp_tracker() noexcept;    // tcp.cc
const L4Tracker& udp_tracker() noexcept;    // udp.cc
const L4Tracker& icmp_tracker() noexcept;   // icmp.cc (ICMP and ICMPv6 queries)
const L4Tracker& other_tracker() noexcept;  // other.cc

}  // namespace fw::conntrack
