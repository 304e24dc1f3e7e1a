// Internal: the UDP tracker's state, for udp.cc and the table's inlined
// common path (table.cc). UDP pseudo-connections are "first" until the reply
// direction is seen, then "multiple" (established), as OVS's
// conntrack-other.c and netfilter's nf_conntrack_proto_udp.c. No header check
// beyond what the parser did.
//
// Thread-safety: pure functions over the L4State they are given.
#pragma once

#include <cstdint>

#include "libfw/conntrack/tracker.h"

namespace fw::conntrack::udp {

// L4State byte 0: 0 = only the original direction seen, 1 = both.
inline constexpr std::uint8_t kFirst = 0, kBoth = 1;

inline void new_conn(L4State& state) noexcept {
  state = {};
  state.bytes[0] = kFirst;
}
inline TrackResult update(L4State& state, Dir dir) noexcept {
  if (dir == Dir::kReply && state.bytes[0] != kBoth) state.bytes[0] = kBoth;  // no store when unchanged
  return TrackResult::kAccept;
}
inline TimeoutClass timeout_class(const L4State& state) noexcept {
  return state.bytes[0] == kBoth ? TimeoutClass::kUdpMultiple : TimeoutClass::kUdpFirst;
}
inline bool established(const L4State& state) noexcept { return state.bytes[0] == kBoth; }

}  // namespace fw::conntrack::udp
