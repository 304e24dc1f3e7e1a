// UDP pseudo-connections (the state and its rules are in udp.h, shared with
// the table's inlined common path).
#include "libfw/conntrack/udp.h"

namespace fw::conntrack {
namespace {

bool udp_valid_new(const PacketView&, const TrackerConfig&) { return true; }
void udp_new_conn(L4State& state, const PacketView&, const TrackerConfig&) { udp::new_conn(state); }
TrackResult udp_update(L4State& state, Dir dir, const PacketView&, const TrackerConfig&) {
  return udp::update(state, dir);
}
TimeoutClass udp_timeout_class(const L4State& state) { return udp::timeout_class(state); }
bool udp_established(const L4State& state) { return udp::established(state); }

constexpr L4Tracker kUdpTracker{udp_valid_new, udp_new_conn, udp_update, udp_timeout_class,
                                udp_established};

}  // namespace

const L4Tracker& udp_tracker() noexcept { return kUdpTracker; }

}  // namespace fw::conntrack
