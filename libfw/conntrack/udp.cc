// UDP pseudo-connections: "first" until the reply direction is seen, then
// "multiple" (established), as OVS's conntrack-other.c and netfilter's
// nf_conntrack_proto_udp.c. No header check beyond what the parser did.
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {
namespace {

// L4State byte 0: 0 = only the original direction seen, 1 = both.
constexpr std::uint8_t kFirst = 0, kBoth = 1;

bool udp_valid_new(const PacketView&, const TrackerConfig&) { return true; }

void udp_new_conn(L4State& state, const PacketView&, const TrackerConfig&) {
  state = {};
  state.bytes[0] = kFirst;
}

TrackResult udp_update(L4State& state, Dir dir, const PacketView&, const TrackerConfig&) {
  if (dir == Dir::kReply) state.bytes[0] = kBoth;
  return TrackResult::kAccept;
}

TimeoutClass udp_timeout_class(const L4State& state) {
  return state.bytes[0] == kBoth ? TimeoutClass::kUdpMultiple : TimeoutClass::kUdpFirst;
}

bool udp_established(const L4State& state) { return state.bytes[0] == kBoth; }

constexpr L4Tracker kUdpTracker{udp_valid_new, udp_new_conn, udp_update, udp_timeout_class,
                                udp_established};

}  // namespace

const L4Tracker& udp_tracker() noexcept { return kUdpTracker; }

}  // namespace fw::conntrack
