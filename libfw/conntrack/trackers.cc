// tracker_for(): the L4 tracker of an IP protocol number.
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {

const L4Tracker& tracker_for(std::uint8_t ip_protocol) noexcept {
  switch (ip_protocol) {
    case kIpProtoUdp: return udp_tracker();
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: return icmp_tracker();
    // TCP: tcp_tracker() (tcp.cc) is being written alongside the table; until
    // it is committed TCP is tracked as "other" (addresses only). Tracked in
    // docs/conntrack.md, "Status".
    default: return other_tracker();
  }
}

}  // namespace fw::conntrack
