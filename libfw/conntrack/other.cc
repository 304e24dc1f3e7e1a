// Protocols without a tracker of their own (GRE, ESP, SCTP, ...): keyed by
// addresses and protocol only (no ports), "first" until the reply direction
// is seen, then "multiple" (established). OVS's conntrack-other.c, which
// also serves UDP there; libfw gives UDP its own timeout classes.
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {
namespace {

constexpr std::uint8_t kFirst = 0, kBoth = 1;  // L4State byte 0

bool other_valid_new(const PacketView&, const TrackerConfig&) { return true; }

void other_new_conn(L4State& state, const PacketView&, const TrackerConfig&) {
  state = {};
  state.bytes[0] = kFirst;
}

TrackResult other_update(L4State& state, Dir dir, const PacketView&, const TrackerConfig&) {
  if (dir == Dir::kReply) state.bytes[0] = kBoth;
  return TrackResult::kAccept;
}

TimeoutClass other_timeout_class(const L4State& state) {
  return state.bytes[0] == kBoth ? TimeoutClass::kOtherMultiple : TimeoutClass::kOtherFirst;
}

bool other_established(const L4State& state) { return state.bytes[0] == kBoth; }

constexpr L4Tracker kOtherTracker{other_valid_new, other_new_conn, other_update,
                                  other_timeout_class, other_established};

}  // namespace

const L4Tracker& other_tracker() noexcept { return kOtherTracker; }

}  // namespace fw::conntrack
