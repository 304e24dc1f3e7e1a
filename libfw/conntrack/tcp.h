// libfw/conntrack/tcp.h — the TCP tracker: per-connection state machine and
// sequence/window validation in the manner of van Rooij's "Real Stateful TCP
// Packet Filtering in IP Filter" and OpenBSD pf's pf_tcp_track_full, with
// the fixes Linux conntrack learned from its packetdrill selftests.
//
// The tracker itself is tcp_tracker() (tracker.h). This header adds what a
// caller may want beyond the L4Tracker interface: the flag-combination check
// (for counting), and a read-only decoding of the 24-byte state (for tests,
// `fwctl replay --ct-states`, state export and debugging).
// docs/tcp-tracking.md describes every state, check and timeout class.
//
// Usage:
//   const L4Tracker& tcp = tcp_tracker();
//   if (tcp.valid_new(view, config)) tcp.new_conn(entry.l4, view, config);
//   ...
//   TrackResult r = tcp.update(entry.l4, Dir::kReply, view, config);
//   TcpConnectionView v = tcp_view(entry.l4);   // v.peer[0].state, ...
//
// Thread-safety: every function here is pure over its arguments and
// reentrant; update() writes only the L4State it is given (the table
// serialises calls for one entry). Nothing allocates, locks, throws or logs.
#pragma once

#include <cstdint>
#include <string_view>

#include "fw/packet.h"
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {

// What one side (peer) of a TCP connection has done, as far as the tracker
// has seen. Ordered: a side only moves forward, except that a connection
// restarted after close starts again from kClosed. Values are stable (they
// are exported).
enum class TcpPeerState : std::uint8_t {
  kClosed = 0,       // nothing seen from this side yet
  kSynSent = 1,      // this side sent its SYN (or its first packet)
  kEstablished = 2,  // this side's SYN was acknowledged (or picked up mid-stream)
  kClosing = 3,      // this side sent a FIN
  kFinWait2 = 4,     // this side's FIN was acknowledged
  kReset = 5,        // an accepted RST closed the connection (both sides)
};

// "closed", "syn-sent", "established", "closing", "fin-wait-2", "reset".
std::string_view tcp_peer_state_name(TcpPeerState state) noexcept;

struct TcpPeerView {
  TcpPeerState state = TcpPeerState::kClosed;
  std::uint32_t seqlo = 0;     // highest sequence number sent + 1 (end of data)
  std::uint32_t seqhi = 0;     // highest sequence number the other side allows
                               // (its last ack + its window)
  std::uint32_t max_window = 0;  // largest window advertised, in bytes (scaled)
  std::uint8_t window_scale = 0; // shift in use (0 when scaling is off)
  bool window_scale_option = false;  // this side's SYN carried the option
  bool picked_up = false;      // connection picked up mid-stream: scale unknown
};

struct TcpConnectionView {
  TcpPeerView peer[2];         // indexed by Dir: [0] original, [1] reply
  bool handshake_completed = false;
  bool challenge_ack_pending = false;  // see docs/tcp-tracking.md, "challenge ACK"
};

// Decodes a state written by tcp_tracker(). Thread-safety: pure.
TcpConnectionView tcp_view(const L4State& state) noexcept;

// True if `flags` (TcpInfo::flags, the wire byte) is a combination the
// tracker accepts. Rejected: SYN with RST or FIN; no SYN, ACK or RST at all
// (null, lone FIN/PSH/URG, "Xmas" without ACK); FIN, PSH or URG without ACK;
// RST with FIN. ECE and CWR never matter. Thread-safety: pure.
bool tcp_flags_valid(std::uint8_t flags) noexcept;

}  // namespace fw::conntrack
