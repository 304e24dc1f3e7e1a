#include "libfw/classify/rule_index.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fw::classify {
namespace {

constexpr std::size_t kWideAnyProtocol = 256;

// How many "specific" address bits a side is short of: IPv4 /16 and IPv6
// /64 and longer count as specific (0); each bit shorter doubles the weight
// (capped), so a rule lands under its narrow side unless that side's atoms
// are shared by many rules.
double width_factor(const AtomInfo& info) {
  const int specific = info.family == IpFamily::kIpv6 ? 64 : 16;
  const int coverage = info.coverage_log2;
  const int total = info.family == IpFamily::kIpv6 ? 128 : 32;
  const int prefix = total - coverage;
  const int shortfall = std::clamp(specific - prefix, 0, 24);
  return std::ldexp(1.0, shortfall);
}

bool indexable(const SideSpec& s) { return !s.atoms.empty() && !s.negate; }

// The wide list of a rule: its protocol if every service entry names the same
// one, else the any-protocol list.
std::size_t wide_list_of(const RuleSpec& r) {
  if (r.services.empty()) return kWideAnyProtocol;
  const std::optional<std::uint8_t> first = r.services.front().protocol;
  for (const ServiceSpec& s : r.services)
    if (!s.protocol || s.protocol != first) return kWideAnyProtocol;
  return *first;
}

}  // namespace

namespace {

// One bit per lane whose prefix/protocol/port fields accept the packet.
// SSE2 (the x86-64 baseline, so it inlines with no dispatch): two halves of
// four 32-bit lanes. Port fields hold 16-bit values, so signed compares are
// exact. Elsewhere a branch-free loop the compiler may vectorise.
template <typename Block>
inline std::uint32_t lane_mask(const Block& b, std::uint32_t src, std::uint32_t dst,
                               std::uint32_t protocol, std::uint32_t sport,
                               std::uint32_t dport) noexcept {
#if defined(__SSE2__)
  const __m128i vs = _mm_set1_epi32(static_cast<int>(src));
  const __m128i vd = _mm_set1_epi32(static_cast<int>(dst));
  const __m128i vp = _mm_set1_epi32(static_cast<int>(protocol));
  const __m128i vsp = _mm_set1_epi32(static_cast<int>(sport));
  const __m128i vdp = _mm_set1_epi32(static_cast<int>(dport));
  const __m128i zero = _mm_setzero_si128();
  std::uint32_t mask = 0;
  for (int half = 0; half < 2; ++half) {
    auto load = [&](const std::uint32_t* a) {
      return _mm_load_si128(reinterpret_cast<const __m128i*>(a + 4 * half));
    };
    const __m128i fail =
        _mm_or_si128(_mm_or_si128(_mm_and_si128(_mm_xor_si128(vs, load(b.src_net)), load(b.src_mask)),
                                  _mm_and_si128(_mm_xor_si128(vd, load(b.dst_net)), load(b.dst_mask))),
                     _mm_and_si128(_mm_xor_si128(vp, load(b.protocol)), load(b.protocol_mask)));
    __m128i ok = _mm_cmpeq_epi32(fail, zero);
    // first <= port <= last  <=>  !(first > port) && !(port > last)
    const __m128i out_of_range =
        _mm_or_si128(_mm_or_si128(_mm_cmpgt_epi32(load(b.src_first), vsp), _mm_cmpgt_epi32(vsp, load(b.src_last))),
                     _mm_or_si128(_mm_cmpgt_epi32(load(b.dst_first), vdp), _mm_cmpgt_epi32(vdp, load(b.dst_last))));
    ok = _mm_andnot_si128(out_of_range, ok);
    mask |= static_cast<std::uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(ok))) << (4 * half);
  }
  return mask;
#else
  std::uint32_t mask = 0;
  for (std::size_t l = 0; l < 8; ++l) {
    const bool ok = (((src ^ b.src_net[l]) & b.src_mask[l]) == 0) &
                    (((dst ^ b.dst_net[l]) & b.dst_mask[l]) == 0) &
                    (((protocol ^ b.protocol[l]) & b.protocol_mask[l]) == 0) &
                    (sport >= b.src_first[l]) & (sport <= b.src_last[l]) &
                    (dport >= b.dst_first[l]) & (dport <= b.dst_last[l]);
    mask |= static_cast<std::uint32_t>(ok) << l;
  }
  return mask;
#endif
}

}  // namespace

RuleIndex::RuleIndex(std::span<const RuleSpec> rules, std::span<const AtomInfo> atoms,
                     const AddressClassMap& map) {
  const std::size_t natoms = atoms.size();
  // How many rules name each atom on either side: the cost of filing under it.
  std::vector<std::uint32_t> frequency(natoms, 0);
  for (const RuleSpec& r : rules) {
    for (AtomId a : r.src.atoms) ++frequency[a];
    for (AtomId a : r.dst.atoms) ++frequency[a];
  }
  auto side_cost = [&](const SideSpec& s) {
    double cost = 0;
    for (AtomId a : s.atoms) cost += frequency[a] * width_factor(atoms[a]);
    return cost;
  };

  enum class Where : std::uint8_t { kSrc, kDst, kWide };
  std::vector<Where> where(rules.size());
  std::vector<std::uint32_t> src_count(natoms + 1, 0), dst_count(natoms + 1, 0), wide_count(258, 0);

  // Records are built once, then copied into every list they belong to.
  std::vector<Record> built(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleSpec& r = rules[i];
    Record& rec = built[i];
    rec = Record{};
    rec.position = static_cast<std::uint32_t>(i);
    auto fill_side = [&](const SideSpec& s, std::uint8_t& kind, std::uint8_t& negate,
                         std::uint32_t& a, std::uint32_t& b) {
      negate = s.negate ? 1 : 0;
      if (s.atoms.empty()) {
        kind = kSideAny;
      } else if (s.single_v4_cidr) {
        kind = kSideV4Cidr;
        const std::uint8_t len = s.single_v4_cidr->prefix_length;
        b = len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
        a = s.single_v4_cidr->address.v4_host_order() & b;
      } else {
        kind = kSideAtoms;
        a = static_cast<std::uint32_t>(side_atoms_.size());
        b = static_cast<std::uint32_t>(s.atoms.size());
        side_atoms_.insert(side_atoms_.end(), s.atoms.begin(), s.atoms.end());
        std::sort(side_atoms_.end() - b, side_atoms_.end());
      }
    };
    fill_side(r.src, rec.src_kind, rec.src_negate, rec.src_a, rec.src_b);
    fill_side(r.dst, rec.dst_kind, rec.dst_negate, rec.dst_a, rec.dst_b);
    if (r.services.empty()) {
      rec.service_kind = kServiceAny;
    } else if (r.services.size() == 1) {
      const ServiceSpec& s = r.services[0];
      rec.service_kind = kServiceOne;
      rec.protocol_any = s.protocol ? 0 : 1;
      rec.protocol = s.protocol.value_or(0);
      rec.src_first = s.src_first;
      rec.src_last = s.src_last;
      rec.dst_first = s.dst_first;
      rec.dst_last = s.dst_last;
    } else {
      rec.service_kind = kServiceMany;
      // Policies hold a handful of entries per rule; the count is 16-bit.
      rec.service_offset = static_cast<std::uint32_t>(services_.size());
      rec.dst_last = static_cast<std::uint16_t>(std::min<std::size_t>(r.services.size(), 0xffff));
      services_.insert(services_.end(), r.services.begin(), r.services.begin() + rec.dst_last);
    }

    const bool src_ok = indexable(r.src), dst_ok = indexable(r.dst);
    if (src_ok && (!dst_ok || side_cost(r.src) <= side_cost(r.dst))) {
      where[i] = Where::kSrc;
      for (AtomId a : r.src.atoms) ++src_count[a];
      ++stats_.indexed_src;
    } else if (dst_ok) {
      where[i] = Where::kDst;
      for (AtomId a : r.dst.atoms) ++dst_count[a];
      ++stats_.indexed_dst;
    } else {
      where[i] = Where::kWide;
      ++wide_count[wide_list_of(r)];
      ++stats_.wide;
    }
  }

  // Prefix sums -> offsets over one record array: src lists, then dst lists,
  // then wide lists. Only needed while building; the index keeps each list as
  // a Range (with its blocks).
  auto to_offsets = [](std::vector<std::uint32_t>& counts, std::uint32_t start) {
    std::uint32_t at = start;
    for (std::uint32_t& c : counts) {
      const std::uint32_t n = c;
      c = at;
      at += n;
    }
    return at;
  };
  std::vector<std::uint32_t>& src_begin = src_count;
  std::vector<std::uint32_t>& dst_begin = dst_count;
  std::vector<std::uint32_t>& wide_begin = wide_count;
  std::uint32_t total = to_offsets(src_begin, 0);
  total = to_offsets(dst_begin, total);
  total = to_offsets(wide_begin, total);
  records_.resize(total);
  std::vector<std::uint32_t> src_fill(src_begin), dst_fill(dst_begin), wide_fill(wide_begin);
  // Rules are visited in position order, so every list comes out sorted.
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleSpec& r = rules[i];
    switch (where[i]) {
      case Where::kSrc:
        for (AtomId a : r.src.atoms) records_[src_fill[a]++] = built[i];
        break;
      case Where::kDst:
        for (AtomId a : r.dst.atoms) records_[dst_fill[a]++] = built[i];
        break;
      case Where::kWide:
        records_[wide_fill[wide_list_of(r)]++] = built[i];
        break;
    }
  }

  // Block copies of the lists long enough to benefit.
  auto ranges_of = [&](const std::vector<std::uint32_t>& begin, std::vector<Range>& out) {
    out.resize(begin.size() - 1);
    for (std::size_t a = 0; a + 1 < begin.size(); ++a) out[a] = make_range(begin[a], begin[a + 1]);
  };
  ranges_of(src_begin, src_ranges_);
  ranges_of(dst_begin, dst_ranges_);
  ranges_of(wide_begin, wide_ranges_);

  stats_.rules = rules.size();
  for (std::size_t a = 0; a < src_ranges_.size(); ++a) {
    stats_.longest_list = std::max<std::size_t>(stats_.longest_list, src_ranges_[a].end - src_ranges_[a].begin);
    stats_.longest_list = std::max<std::size_t>(stats_.longest_list, dst_ranges_[a].end - dst_ranges_[a].begin);
  }
  build_wide_probes();
  build_class_probes(map);
  stats_.records = records_.size();
  stats_.blocks = blocks_.size();
  stats_.memory_bytes = class_probes_.size() * sizeof(ClassProbe) + probe_ranges_.size() * sizeof(Range) +
                        blocks_.size() * sizeof(Block) +
                        (src_ranges_.size() + dst_ranges_.size() + wide_ranges_.size() + wide_probes_.size()) *
                            sizeof(Range) +
                        records_.size() * sizeof(Record) + side_atoms_.size() * sizeof(AtomId) + services_.size() * sizeof(ServiceSpec);
}

inline bool RuleIndex::side_matches(std::uint8_t kind, std::uint8_t negate, std::uint32_t a,
                                    std::uint32_t b, const AddressClassMap& map, ClassId cls,
                                    const IpAddress& addr, std::uint32_t v4) const noexcept {
  bool in;
  switch (kind) {
    case kSideAny:
      return true;
    case kSideV4Cidr:
      in = addr.family == IpFamily::kIpv4 && (v4 & b) == a;
      break;
    default: {
      in = false;
      for (std::uint32_t i = 0; i < b && !in; ++i) in = map.contains(cls, side_atoms_[a + i]);
      break;
    }
  }
  return in != (negate != 0);
}

inline bool RuleIndex::service_matches(const Record& r, const LookupKey& k) const noexcept {
  auto one = [&](bool any_protocol, std::uint8_t protocol, std::uint16_t sf, std::uint16_t sl,
                 std::uint16_t df, std::uint16_t dl) {
    return (any_protocol || protocol == k.protocol) && k.src_port >= sf && k.src_port <= sl &&
           k.dst_port >= df && k.dst_port <= dl;
  };
  switch (r.service_kind) {
    case kServiceAny:
      return true;
    case kServiceOne:
      return one(r.protocol_any != 0, r.protocol, r.src_first, r.src_last, r.dst_first, r.dst_last);
    default: {
      for (std::uint32_t i = 0; i < r.dst_last; ++i) {
        const ServiceSpec& s = services_[r.service_offset + i];
        if (one(!s.protocol, s.protocol.value_or(0), s.src_first, s.src_last, s.dst_first, s.dst_last))
          return true;
      }
      return false;
    }
  }
}

inline bool RuleIndex::matches(const Record& r, const AddressClassMap& map, const Probe& p) const noexcept {
  return service_matches(r, *p.key) &&
         side_matches(r.src_kind, r.src_negate, r.src_a, r.src_b, map, p.src_class, p.key->src, p.src_v4) &&
         side_matches(r.dst_kind, r.dst_negate, r.dst_a, r.dst_b, map, p.dst_class, p.key->dst, p.dst_v4);
}

inline std::uint32_t RuleIndex::scan(const Record* begin, const Record* end, std::uint32_t best,
                                     const AddressClassMap& map, const Probe& p) const noexcept {
  for (const Record* r = begin; r != end && r->position < best; ++r)
    if (matches(*r, map, p)) return r->position;
  return best;
}

RuleIndex::Range RuleIndex::make_range(std::uint32_t begin, std::uint32_t end) {
  Range r{begin < end ? records_[begin].position : kNoMatch, begin, end, 0, 0};
  if (end - begin < kBlockMinRules) return r;
  r.block_begin = static_cast<std::uint32_t>(blocks_.size());
  for (std::uint32_t at = begin; at < end; at += kLanes) {
    Block b{};
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (at + l >= end) {  // padding: a protocol value no packet has
        b.position[l] = kNoMatch;
        b.protocol[l] = 0x100;
        b.protocol_mask[l] = 0x1ff;
        b.slow[l] = kNoMatch;
        continue;
      }
      const Record& rec = records_[at + l];
      b.position[l] = rec.position;
      bool slow = rec.src_negate || rec.dst_negate || rec.service_kind == kServiceMany;
      auto side = [&](std::uint8_t kind, std::uint32_t a, std::uint32_t bb, std::uint32_t& net,
                      std::uint32_t& mask) {
        if (kind == kSideV4Cidr) { net = a; mask = bb; }
        else if (kind == kSideAtoms) slow = true;  // checked by class membership
      };
      side(rec.src_kind, rec.src_a, rec.src_b, b.src_net[l], b.src_mask[l]);
      side(rec.dst_kind, rec.dst_a, rec.dst_b, b.dst_net[l], b.dst_mask[l]);
      b.src_last[l] = 0xffff;
      b.dst_last[l] = 0xffff;
      if (rec.service_kind == kServiceOne) {
        b.protocol[l] = rec.protocol;
        b.protocol_mask[l] = rec.protocol_any ? 0 : 0xff;
        b.src_first[l] = rec.src_first;
        b.src_last[l] = rec.src_last;
        b.dst_first[l] = rec.dst_first;
        b.dst_last[l] = rec.dst_last;
      }
      if (slow) {  // the vector check must not reject what the full check may accept
        b.src_mask[l] = b.dst_mask[l] = 0;
        if (rec.src_kind == kSideV4Cidr && !rec.src_negate) { b.src_net[l] = rec.src_a; b.src_mask[l] = rec.src_b; }
        if (rec.dst_kind == kSideV4Cidr && !rec.dst_negate) { b.dst_net[l] = rec.dst_a; b.dst_mask[l] = rec.dst_b; }
      }
      b.slow[l] = slow ? at + static_cast<std::uint32_t>(l) : kNoMatch;
    }
    blocks_.push_back(b);
  }
  r.block_end = static_cast<std::uint32_t>(blocks_.size());
  return r;
}

inline std::uint32_t RuleIndex::scan_blocks(const Block* begin, const Block* end, std::uint32_t best,
                                            const AddressClassMap& map, const Probe& p) const noexcept {
  const LookupKey& k = *p.key;
  for (const Block* b = begin; b != end && b->position[0] < best; ++b) {
    std::uint32_t m = lane_mask(*b, p.src_v4, p.dst_v4, k.protocol, k.src_port, k.dst_port);
    while (m != 0) {
      const unsigned l = static_cast<unsigned>(__builtin_ctz(m));
      if (b->position[l] >= best) return best;  // lanes are in position order
      if (b->slow[l] == kNoMatch || matches(records_[b->slow[l]], map, p)) return b->position[l];
      m &= m - 1;
    }
  }
  return best;
}

// Blocks compare IPv4 addresses only; other families take the records.
// A range whose first rule is not better than the best so far (or that is
// empty) is skipped without touching its records.
__attribute__((always_inline)) inline std::uint32_t RuleIndex::scan_range(
    const Range& r, std::uint32_t best, const AddressClassMap& map, const Probe& p) const noexcept {
  if (r.first >= best) return best;
  if (r.block_begin != r.block_end && p.key->src.family == IpFamily::kIpv4 &&
      p.key->dst.family == IpFamily::kIpv4)
    return scan_blocks(blocks_.data() + r.block_begin, blocks_.data() + r.block_end, best, map, p);
  return scan(records_.data() + r.begin, records_.data() + r.end, best, map, p);
}

// The records of several lists as one list in position order (a rule filed
// under two atoms of one class appears once).
RuleIndex::Range RuleIndex::merged_range(std::span<const Range> lists) {
  std::vector<Record> merged;
  for (const Range& r : lists) merged.insert(merged.end(), records_.begin() + r.begin, records_.begin() + r.end);
  std::sort(merged.begin(), merged.end(), [](const Record& x, const Record& y) { return x.position < y.position; });
  merged.erase(std::unique(merged.begin(), merged.end(),
                           [](const Record& x, const Record& y) { return x.position == y.position; }),
               merged.end());
  const auto begin = static_cast<std::uint32_t>(records_.size());
  records_.insert(records_.end(), merged.begin(), merged.end());
  return make_range(begin, static_cast<std::uint32_t>(records_.size()));
}

void RuleIndex::build_wide_probes() {
  const Range& any = wide_ranges_[kWideAnyProtocol];
  wide_probes_.resize(256);
  for (std::size_t protocol = 0; protocol < 256; ++protocol) {
    const Range& own = wide_ranges_[protocol];
    if (own.begin == own.end) wide_probes_[protocol] = any;
    else if (any.begin == any.end) wide_probes_[protocol] = own;
    else wide_probes_[protocol] = merged_range(std::array<Range, 2>{own, any});
  }
}

void RuleIndex::build_class_probes(const AddressClassMap& map) {
  const std::size_t nsrc = src_ranges_.size();
  const std::size_t nclasses = map.class_count();
  class_probes_.resize(nclasses);
  // A class side's lists, named by their atoms.
  auto lists_of = [&](ClassId c, int side, std::vector<AtomId>& atoms_out) {
    const std::vector<Range>& ranges = side == 0 ? src_ranges_ : dst_ranges_;
    atoms_out.clear();
    std::size_t total = 0;
    for (AtomId a : map.atoms(c)) {
      if (a >= nsrc || ranges[a].begin == ranges[a].end) continue;
      atoms_out.push_back(a);
      total += ranges[a].end - ranges[a].begin;
    }
    return total;
  };

  // Which sides to merge. Merging saves a lookup (lists - 1) range scans and
  // costs a copy of the lists' records, shared by every class with the same
  // lists on that side. Candidates are taken by saving per record copied
  // (the saving counted once per class that uses them) until the copies
  // reach a quarter of the lists' records: on ClassBench that keeps nearly
  // all of the saving (callgrind: the same instruction count as merging
  // every candidate) for a quarter of the memory.
  struct Candidate {
    std::size_t classes = 0, lists = 0, records = 0;
    bool chosen = false;
    Range merged{kNoMatch, 0, 0, 0, 0};
  };
  struct AtomsHash {
    std::size_t operator()(const std::vector<AtomId>& v) const noexcept {
      std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ v.size();
      for (AtomId a : v) h = (h ^ a) * 0x100000001b3ULL;
      return static_cast<std::size_t>(h ^ (h >> 29));
    }
  };
  constexpr std::uint32_t kNotMerged = 0xffffffffu;
  std::unordered_map<std::vector<AtomId>, std::uint32_t, AtomsHash> candidate_ids[2];
  std::vector<Candidate> candidates;
  std::vector<std::uint32_t> candidate_of(2 * nclasses, kNotMerged);  // [class * 2 + side]
  std::vector<AtomId> atoms;
  for (ClassId c = 0; c < nclasses; ++c) {
    for (int side = 0; side < 2; ++side) {
      const std::size_t total = lists_of(c, side, atoms);
      if (atoms.size() < 2 || total > kMergeLimit) continue;
      auto [it, added] = candidate_ids[side].try_emplace(atoms, static_cast<std::uint32_t>(candidates.size()));
      if (added) candidates.push_back(Candidate{.lists = atoms.size(), .records = total});
      ++candidates[it->second].classes;
      candidate_of[2 * c + side] = it->second;
    }
  }
  std::vector<std::uint32_t> order(candidates.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t i, std::uint32_t j) {
    const Candidate& x = candidates[i];
    const Candidate& y = candidates[j];
    return x.classes * (x.lists - 1) * y.records > y.classes * (y.lists - 1) * x.records;  // saving/records
  });
  std::size_t budget = records_.size() / 4;
  for (std::uint32_t i : order) {
    if (candidates[i].records > budget) continue;
    budget -= candidates[i].records;
    candidates[i].chosen = true;
  }

  std::vector<Range> lists;
  for (ClassId c = 0; c < nclasses; ++c) {
    ClassProbe& probe = class_probes_[c];
    probe.offset = static_cast<std::uint32_t>(probe_ranges_.size());
    for (int side = 0; side < 2; ++side) {
      const std::vector<Range>& ranges = side == 0 ? src_ranges_ : dst_ranges_;
      lists_of(c, side, atoms);
      lists.clear();
      for (AtomId a : atoms) lists.push_back(ranges[a]);
      const std::uint32_t id = candidate_of[2 * c + side];
      if (id != kNotMerged && candidates[id].chosen) {
        Candidate& cand = candidates[id];
        if (cand.merged.first == kNoMatch) {
          cand.merged = merged_range(lists);
          ++stats_.merged_lists;
        }
        lists.assign(1, cand.merged);
      }
      if (lists.size() >= 2) ++stats_.unmerged_probes;
      std::sort(lists.begin(), lists.end(), [](const Range& x, const Range& y) { return x.first < y.first; });
      probe_ranges_.insert(probe_ranges_.end(), lists.begin(), lists.end());
      (side == 0 ? probe.src_lists : probe.dst_lists) = static_cast<std::uint16_t>(lists.size());
    }
  }
}

// The source and destination lists of the packet's classes.
inline std::uint32_t RuleIndex::probe_lists(const AddressClassMap& map, const Probe& p) const noexcept {
  std::uint32_t best = kNoMatch;
  const std::size_t nprobes = class_probes_.size();
  if (p.src_class < nprobes && p.dst_class < nprobes) {
    const ClassProbe& s = class_probes_[p.src_class];
    const ClassProbe& d = class_probes_[p.dst_class];
    for (const Range* r = probe_ranges_.data() + s.offset, *e = r + s.src_lists; r != e; ++r)
      best = scan_range(*r, best, map, p);
    for (const Range* r = probe_ranges_.data() + d.offset + d.src_lists, *e = r + d.dst_lists; r != e; ++r)
      best = scan_range(*r, best, map, p);
    return best;
  }
  // A class newer than this index: walk its atoms.
  const std::size_t nsrc = src_ranges_.size();
  for (AtomId a : map.atoms(p.src_class))
    if (a < nsrc) best = scan_range(src_ranges_[a], best, map, p);
  for (AtomId a : map.atoms(p.dst_class))
    if (a < nsrc) best = scan_range(dst_ranges_[a], best, map, p);
  return best;
}

std::uint32_t RuleIndex::classify(const AddressClassMap& map, const LookupKey& key) const noexcept {
  Probe p;
  p.key = &key;
  p.src_class = map.lookup(key.src);
  p.dst_class = map.lookup(key.dst);
  p.src_v4 = key.src.family == IpFamily::kIpv4 ? key.src.v4_host_order() : 0;
  p.dst_v4 = key.dst.family == IpFamily::kIpv4 ? key.dst.v4_host_order() : 0;
  return scan_range(wide_probes_[key.protocol], probe_lists(map, p), map, p);
}

void RuleIndex::classify(const AddressClassMap& map, std::span<const LookupKey> keys,
                         std::span<std::uint32_t> out) const noexcept {
  // Staged: classes of all sources and destinations (the map overlaps their
  // memory latency), then the class atom arrays, then the list scans.
  constexpr std::size_t kChunk = 64;
  std::uint32_t v4[2 * kChunk];
  ClassId classes[2 * kChunk];
  const Record* const base = records_.data();  // for the record prefetch below
  for (std::size_t at = 0; at < keys.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, keys.size() - at);
    bool all_v4 = true;
    for (std::size_t i = 0; i < n; ++i) {
      const LookupKey& k = keys[at + i];
      all_v4 = all_v4 && k.src.family == IpFamily::kIpv4 && k.dst.family == IpFamily::kIpv4;
      v4[i] = k.src.v4_host_order();
      v4[n + i] = k.dst.v4_host_order();
    }
    if (all_v4) {
      map.lookup_burst_v4(std::span<const std::uint32_t>(v4, 2 * n), classes);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        classes[i] = map.lookup(keys[at + i].src);
        classes[n + i] = map.lookup(keys[at + i].dst);
      }
    }
    // Stage: the class probes; then their first range; then the first
    // record of that range and the wide lists of the packet's protocol.
    const std::size_t nprobes = class_probes_.size();
    for (std::size_t i = 0; i < 2 * n; ++i) {
      if (classes[i] < nprobes) __builtin_prefetch(&class_probes_[classes[i]]);
      else map.prefetch_atoms(classes[i]);
    }
    for (std::size_t i = 0; i < 2 * n; ++i) {
      if (classes[i] < nprobes) {
        const ClassProbe& probe = class_probes_[classes[i]];
        __builtin_prefetch(probe_ranges_.data() + probe.offset + (i < n ? 0 : probe.src_lists));
      }
    }
    for (std::size_t i = 0; i < 2 * n; ++i) {
      if (classes[i] >= nprobes) continue;
      const ClassProbe& probe = class_probes_[classes[i]];
      const bool src = i < n;
      if ((src ? probe.src_lists : probe.dst_lists) == 0) continue;
      __builtin_prefetch(base + probe_ranges_[probe.offset + (src ? 0 : probe.src_lists)].begin);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const LookupKey& key = keys[at + i];
      Probe p;
      p.key = &key;
      p.src_class = classes[i];
      p.dst_class = classes[n + i];
      p.src_v4 = v4[i];
      p.dst_v4 = v4[n + i];
      out[at + i] = scan_range(wide_probes_[key.protocol], probe_lists(map, p), map, p);
    }
  }
}
}  // namespace fw::classify
