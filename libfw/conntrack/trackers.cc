// tracker_for(): the L4 tracker of an IP protocol number.
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {

const L4Tracker& tracker_for(std::uint8_t ip_protocol) noexcept {
  switch (ip_protocol) {
    case kIpProtoTcp: return tcp_tracker();
    case kIpProtoUdp: return udp_tracker();
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: return icmp_tracker();
    default: return other_tracker();
  }
}

}  // namespace fw::conntrack
