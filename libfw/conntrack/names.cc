// ct_state formatting (OVS's format_flags with ct_state_to_string) and
// reason names.
#include <cstdio>

#include "fw/conntrack.h"

namespace fw {

std::string format_ct_state(std::uint8_t ct_state) {
  if (ct_state == 0) return "0";
  // Lowest bit first, as OVS's format_flags() walks rightmost_1bit().
  static constexpr const char* kNames[] = {"new", "est", "rel", "rpl", "inv", "trk"};
  std::string out;
  for (unsigned bit = 0; bit < 6; ++bit) {
    if ((ct_state & (1u << bit)) == 0) continue;
    if (!out.empty()) out += '|';
    out += kNames[bit];
  }
  // OVS names 0x40 snat and 0x80 dnat; libfw does no NAT, so it never sets
  // them, but a caller's value is printed as OVS would print it.
  if (ct_state & 0x40) out += out.empty() ? "snat" : "|snat";
  if (ct_state & 0x80) out += out.empty() ? "dnat" : "|dnat";
  return out;
}

std::string_view ct_reason_name(CtReason r) noexcept {
  switch (r) {
    case CtReason::kNone: return "none";
    case CtReason::kNotIp: return "not-ip";
    case CtReason::kIcmpNotTrackable: return "icmp-not-trackable";
    case CtReason::kBadZone: return "bad-zone";
    case CtReason::kCannotOpen: return "cannot-open";
    case CtReason::kTrackerRejected: return "tracker-rejected";
    case CtReason::kIcmpErrorMismatch: return "icmp-error-mismatch";
    case CtReason::kIcmpErrorNoConnection: return "icmp-error-no-connection";
    case CtReason::kFragmentBeforeFirst: return "fragment-before-first";
    case CtReason::kFragmentNotAdmitted: return "fragment-not-admitted";
    case CtReason::kFragmentOverlap: return "fragment-overlap";
    case CtReason::kFragmentOversize: return "fragment-oversize";
    case CtReason::kFragmentTooManyPieces: return "fragment-too-many-pieces";
    case CtReason::kTableFull: return "table-full";
    case CtReason::kZoneLimit: return "zone-limit";
    case CtReason::kHalfOpenLimit: return "half-open-limit";
    case CtReason::kCount: break;
  }
  return "unknown";
}

}  // namespace fw
