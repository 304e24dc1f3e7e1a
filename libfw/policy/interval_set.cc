// IntervalSet: see interval_set.h.
#include "libfw/policy/interval_set.h"

#include <algorithm>

namespace fw::policy_compile {
namespace {

using Key = IntervalSet::Key;
constexpr Key kAllOnes = ~Key{0};

int width_of(IpFamily f) { return f == IpFamily::kIpv4 ? 32 : f == IpFamily::kIpv6 ? 128 : 0; }

}  // namespace

Key IntervalSet::key_of(const IpAddress& a) noexcept {
  Key k = 0;
  const int n = a.family == IpFamily::kIpv4 ? 4 : 16;
  for (int i = 0; i < n; ++i) k = (k << 8) | a.bytes[static_cast<std::size_t>(i)];
  return k;
}

IpAddress IntervalSet::address_of(IpFamily f, Key k) noexcept {
  if (f == IpFamily::kIpv4) return IpAddress::v4(static_cast<std::uint32_t>(k));
  std::uint8_t bytes[16];
  for (int i = 15; i >= 0; --i) {
    bytes[i] = static_cast<std::uint8_t>(k);
    k >>= 8;
  }
  return IpAddress::v6(bytes);
}

bool IntervalSet::bounds(const Cidr& c, IpFamily& f, Key& lo, Key& hi) noexcept {
  f = c.address.family;
  const int width = width_of(f);
  if (width == 0 || c.prefix_length > width) return false;
  const int host = width - c.prefix_length;
  const Key host_mask = host == 128 ? kAllOnes : ((Key{1} << host) - 1);
  lo = key_of(c.address) & ~host_mask;
  hi = lo | host_mask;
  return true;
}

bool IntervalSet::bounds(const IpRange& r, IpFamily& f, Key& lo, Key& hi) noexcept {
  f = r.first.family;
  if (width_of(f) == 0 || r.last.family != f) return false;
  lo = key_of(r.first);
  hi = key_of(r.last);
  return lo <= hi;
}

void IntervalSet::add(const Cidr& c) {
  IpFamily f;
  Key lo, hi;
  if (bounds(c, f, lo, hi)) add(f, lo, hi);
}

void IntervalSet::add(const IpRange& r) {
  IpFamily f;
  Key lo, hi;
  if (bounds(r, f, lo, hi)) add(f, lo, hi);
}

void IntervalSet::add(IpFamily family, Key lo, Key hi) {
  if (width_of(family) == 0 || lo > hi) return;
  std::vector<Interval>& v = list(family);
  v.push_back({lo, hi});
  normalize(v);
}

void IntervalSet::normalize(std::vector<Interval>& v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.lo < b.lo; });
  std::size_t out = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    // Merge overlapping or adjacent (hi + 1 == lo; no overflow as hi < lo).
    if (out > 0 && (v[i].lo <= v[out - 1].hi || v[i].lo - 1 == v[out - 1].hi)) {
      v[out - 1].hi = std::max(v[out - 1].hi, v[i].hi);
    } else {
      v[out++] = v[i];
    }
  }
  v.resize(out);
}

IntervalSet& IntervalSet::unite(const IntervalSet& other) {
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    const std::vector<Interval>& o = other.intervals(f);
    if (o.empty()) continue;
    std::vector<Interval>& v = list(f);
    v.insert(v.end(), o.begin(), o.end());
    normalize(v);
  }
  return *this;
}

std::vector<IntervalSet::Interval> IntervalSet::minus(const std::vector<Interval>& a,
                                                      const std::vector<Interval>& b) {
  std::vector<Interval> out;
  std::size_t j = 0;
  for (Interval cur : a) {
    while (j < b.size() && b[j].hi < cur.lo) ++j;
    bool alive = true;
    for (std::size_t k = j; k < b.size() && b[k].lo <= cur.hi; ++k) {
      if (b[k].lo > cur.lo) out.push_back({cur.lo, b[k].lo - 1});
      if (b[k].hi >= cur.hi) {
        alive = false;
        break;
      }
      cur.lo = b[k].hi + 1;  // b[k].hi < cur.hi: no overflow
    }
    if (alive) out.push_back(cur);
  }
  return out;
}

IntervalSet& IntervalSet::subtract(const IntervalSet& other) {
  v4_ = minus(v4_, other.v4_);
  v6_ = minus(v6_, other.v6_);
  return *this;
}

bool IntervalSet::contains(const IpAddress& a) const noexcept {
  if (width_of(a.family) == 0) return false;
  const std::vector<Interval>& v = intervals(a.family);
  const Key k = key_of(a);
  auto it = std::upper_bound(v.begin(), v.end(), k, [](Key x, const Interval& i) { return x < i.lo; });
  return it != v.begin() && std::prev(it)->hi >= k;
}

Key IntervalSet::size() const noexcept {
  Key total = 0;
  for (const std::vector<Interval>* v : {&v4_, &v6_}) {
    for (const Interval& i : *v) {
      const Key n = i.hi - i.lo;  // count - 1
      if (n == kAllOnes || total > kAllOnes - n - 1) return kAllOnes;
      total += n + 1;
    }
  }
  return total;
}

std::vector<IpRange> IntervalSet::ranges() const {
  std::vector<IpRange> out;
  out.reserve(v4_.size() + v6_.size());
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6})
    for (const Interval& i : intervals(f)) out.push_back({address_of(f, i.lo), address_of(f, i.hi)});
  return out;
}

}  // namespace fw::policy_compile
