// libfw/policy/interval_set.h — internal: sets of IP addresses as sorted,
// disjoint, non-adjacent inclusive intervals [lo, hi] per family, over
// unsigned __int128 keys (IPv4: the host-order address; IPv6: the 128 bits
// big-endian). The policy compiler keeps each group's effective address set
// as one, so a membership change becomes the exact delta of blocks to add to
// and remove from the AddressClassMap.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "fw/address.h"
#include "fw/policy.h"

namespace fw::policy_compile {

class IntervalSet {
 public:
  using Key = unsigned __int128;
  struct Interval {
    Key lo, hi;  // inclusive
    friend bool operator==(const Interval&, const Interval&) = default;
  };

  IntervalSet() = default;
  static IntervalSet of(const Cidr& c) { IntervalSet s; s.add(c); return s; }
  static IntervalSet of(const IpRange& r) { IntervalSet s; s.add(r); return s; }

  // Blocks of the wrong shape (family kNone, prefix past the width, range of
  // mixed families or first > last) are ignored; host bits of a CIDR are
  // ignored (the block is the prefix's).
  void add(const Cidr& c);
  void add(const IpRange& r);
  void add(IpFamily family, Key lo, Key hi);

  IntervalSet& unite(const IntervalSet& other);      // this ∪= other
  IntervalSet& subtract(const IntervalSet& other);   // this −= other
  static IntervalSet difference(const IntervalSet& a, const IntervalSet& b) {
    IntervalSet d = a;
    d.subtract(b);
    return d;
  }

  bool contains(const IpAddress& a) const noexcept;
  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }
  // Number of addresses, saturated at 2^128 - 1.
  Key size() const noexcept;
  const std::vector<Interval>& intervals(IpFamily f) const noexcept { return f == IpFamily::kIpv4 ? v4_ : v6_; }
  // The intervals as IpRange blocks, IPv4 first.
  std::vector<IpRange> ranges() const;

  static Key key_of(const IpAddress& a) noexcept;
  static IpAddress address_of(IpFamily f, Key k) noexcept;
  // Inclusive bounds of a CIDR / range; false for a malformed block.
  static bool bounds(const Cidr& c, IpFamily& f, Key& lo, Key& hi) noexcept;
  static bool bounds(const IpRange& r, IpFamily& f, Key& lo, Key& hi) noexcept;

  friend bool operator==(const IntervalSet&, const IntervalSet&) = default;

 private:
  std::vector<Interval>& list(IpFamily f) { return f == IpFamily::kIpv4 ? v4_ : v6_; }
  static void normalize(std::vector<Interval>& v);
  static std::vector<Interval> minus(const std::vector<Interval>& a, const std::vector<Interval>& b);

  std::vector<Interval> v4_, v6_;
};

}  // namespace fw::policy_compile
