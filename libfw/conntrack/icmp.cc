// ICMP and ICMPv6 query pseudo-connections (echo; for ICMPv4 also
// timestamp, information and address mask), keyed by the query id: a
// request opens one, replies travel in the reply direction. Errors are not
// tracked here: the table makes them RELATED to the connection they quote.
// As netfilter's nf_conntrack_proto_icmp.c and OVS's conntrack-icmp.c
// (which accept only echo requests as new).
#include "libfw/conntrack/key.h"
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {
namespace {

constexpr std::uint8_t kRequestOnly = 0, kReplied = 1;  // L4State byte 0

bool is_query(const PacketView& p, IcmpQuery& q) {
  if (!p.has_l4 || p.icmp.is_error) return false;
  return icmp_query(p.l3 == L3Kind::kIpv6, p.icmp.type, q);
}

bool icmp_valid_new(const PacketView& p, const TrackerConfig&) {
  IcmpQuery q;
  return is_query(p, q) && !q.is_reply;
}

void icmp_new_conn(L4State& state, const PacketView&, const TrackerConfig&) {
  state = {};
  state.bytes[0] = kRequestOnly;
}

// Requests travel in the original direction, replies in the reply direction
// (the key makes a reply find its request's entry reversed; a request sent
// by the other side with the same id and type would find it too, and is
// refused here rather than taken for a reply).
TrackResult icmp_update(L4State& state, Dir dir, const PacketView& p, const TrackerConfig&) {
  IcmpQuery q;
  if (!is_query(p, q) || q.is_reply != (dir == Dir::kReply)) return TrackResult::kInvalid;
  if (dir == Dir::kReply) state.bytes[0] = kReplied;
  return TrackResult::kAccept;
}

TimeoutClass icmp_timeout_class(const L4State&) { return TimeoutClass::kIcmp; }

bool icmp_established(const L4State& state) { return state.bytes[0] == kReplied; }

constexpr L4Tracker kIcmpTracker{icmp_valid_new, icmp_new_conn, icmp_update, icmp_timeout_class,
                                 icmp_established};

}  // namespace

const L4Tracker& icmp_tracker() noexcept { return kIcmpTracker; }

}  // namespace fw::conntrack
