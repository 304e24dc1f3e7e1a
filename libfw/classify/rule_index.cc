#include "libfw/classify/rule_index.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// The AVX2 burst (rule_index_avx2.cc) exists.
#define FW_RULE_INDEX_AVX2 1
#else
#define FW_RULE_INDEX_AVX2 0
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
}  // namespace fw::classify

#define FW_SCAN_TARGET
#include "libfw/classify/rule_index_scan.inc"
#undef FW_SCAN_TARGET

namespace fw::classify {

RuleIndex::PackedRecord RuleIndex::pack(const Record& r) noexcept {
  PackedRecord p{};
  // A side's mask is a prefix's (or 0: any): its span is the host part.
  split16(p, 0, r.src_net, ~r.src_mask);
  split16(p, 2, r.dst_net, ~r.dst_mask);
  split16(p, 4, std::uint32_t{r.sport_first} | std::uint32_t{r.dport_first} << 16,
          std::uint32_t{r.sport_span} | std::uint32_t{r.dport_span} << 16);
  p.first[6] = r.protocol_mask != 0 ? r.protocol : 0;
  p.span[6] = r.protocol_mask != 0 ? 0 : 0xff;
  return p;  // lane 7: first and span 0, as the packet's
}

RuleIndex::Record RuleIndex::unpack(const PackedRecord& p, std::uint32_t position) const noexcept {
  Record r{};
  r.position = position;
  r.src_net = join16(p.first, 0);
  r.src_mask = ~join16(p.span, 0);
  r.dst_net = join16(p.first, 2);
  r.dst_mask = ~join16(p.span, 2);
  r.sport_first = p.first[4];
  r.sport_span = p.span[4];
  r.dport_first = p.first[5];
  r.dport_span = p.span[5];
  r.protocol = static_cast<std::uint8_t>(p.first[6]);
  r.protocol_mask = p.span[6] == 0 ? 0xff : 0;
  r.flags = flags_of_[position];
  return r;
}

void RuleIndex::pack_records() {
  packed_.resize(records_.size());
  packed_positions_.resize(records_.size());
  for (std::size_t i = 0; i < records_.size(); ++i) {
    packed_[i] = pack(records_[i]);
    packed_positions_[i] = records_[i].position;
  }
  records_.clear();
  records_.shrink_to_fit();
}

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
  slow_of_.assign(rules.size(), 0);
  flags_of_.assign(rules.size(), 0);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleSpec& r = rules[i];
    Record& rec = built[i];
    rec = Record{};
    rec.position = static_cast<std::uint32_t>(i);
    SlowRule slow{};
    // A side: any (mask 0), one IPv4 CIDR compared exactly (kSrcV4), or
    // atoms (class membership, kSrcAtoms). A negated side compares as any
    // and is decided by the full check (which keeps a CIDR's net and mask).
    auto fill_side = [&](const SideSpec& side, std::uint32_t& net, std::uint32_t& mask, std::uint32_t& slow_a,
                         std::uint32_t& slow_b, std::uint8_t atoms_flag, std::uint8_t v4_flag,
                         std::uint8_t negate_flag) {
      if (side.atoms.empty()) return;  // any (a negated "any" matches nothing; validation refuses it)
      if (side.negate) rec.flags |= negate_flag;
      if (side.single_v4_cidr) {
        const std::uint8_t len = side.single_v4_cidr->prefix_length;
        const std::uint32_t m = len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
        const std::uint32_t n = side.single_v4_cidr->address.v4_host_order() & m;
        rec.flags |= v4_flag;
        slow_a = n;
        slow_b = m;
        if (!side.negate) {
          net = n;
          mask = m;
        }
        return;
      }
      rec.flags |= atoms_flag;
      slow_a = static_cast<std::uint32_t>(side_atoms_.size());
      slow_b = static_cast<std::uint32_t>(side.atoms.size());
      side_atoms_.insert(side_atoms_.end(), side.atoms.begin(), side.atoms.end());
      std::sort(side_atoms_.end() - slow_b, side_atoms_.end());
    };
    fill_side(r.src, rec.src_net, rec.src_mask, slow.src_atoms, slow.src_count, kSrcAtoms, kSrcV4, kSrcNegate);
    fill_side(r.dst, rec.dst_net, rec.dst_mask, slow.dst_atoms, slow.dst_count, kDstAtoms, kDstV4, kDstNegate);
    rec.sport_span = rec.dport_span = 0xffff;
    if (r.services.size() == 1) {
      const ServiceSpec& svc = r.services[0];
      rec.protocol = svc.protocol.value_or(0);
      rec.protocol_mask = svc.protocol ? 0xff : 0;
      rec.sport_first = svc.src_first;
      rec.sport_span = static_cast<std::uint16_t>(svc.src_last - svc.src_first);
      rec.dport_first = svc.dst_first;
      rec.dport_span = static_cast<std::uint16_t>(svc.dst_last - svc.dst_first);
      if (svc.src_last < svc.src_first || svc.dst_last < svc.dst_first) {  // matches nothing
        rec.protocol_mask = 0xff;
        rec.sport_span = 0;
        rec.dport_span = 0;
        rec.flags |= kManyServices;  // the full check with this one entry says no
        slow.services = static_cast<std::uint32_t>(services_.size());
        slow.service_count = 1;
        services_.push_back(svc);
      }
    } else if (r.services.size() > 1) {
      // The fast compare takes the protocol when every entry names the same.
      const std::size_t wide = wide_list_of(r);
      if (wide != kWideAnyProtocol) {
        rec.protocol = static_cast<std::uint8_t>(wide);
        rec.protocol_mask = 0xff;
      }
      rec.flags |= kManyServices;
      slow.services = static_cast<std::uint32_t>(services_.size());
      slow.service_count = static_cast<std::uint32_t>(r.services.size());
      services_.insert(services_.end(), r.services.begin(), r.services.end());
    }
    flags_of_[i] = rec.flags;
    if (rec.flags & kSlow) {
      slow_of_[i] = static_cast<std::uint32_t>(slow_rules_.size());
      slow_rules_.push_back(slow);
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
  drop_block_records();
  build_side_probes();
  pack_records();
  stats_.records = packed_.size();
  stats_.blocks = blocks_.size();
  stats_.memory_bytes = (side_probes_[0].size() + side_probes_[1].size()) * sizeof(SideProbe) +
                        blocks_.size() * sizeof(Block) +
                        (src_lists_.size() + dst_lists_.size() + wide_lists_.size() + rest_lists_.size()) *
                            sizeof(List) +
                        packed_.size() * (sizeof(PackedRecord) + sizeof(std::uint32_t)) +
                        slow_rules_.size() * sizeof(SlowRule) +
                        slow_of_.size() * sizeof(std::uint32_t) + flags_of_.size() * sizeof(std::uint8_t) +
                        side_atoms_.size() * sizeof(AtomId) +
                        services_.size() * sizeof(ServiceSpec);
  // Staged lookups pay off once the index and the class map outgrow the
  // core's caches (measured: ClassBench 10k sets, ~1-5 MiB, are faster
  // without; the 100k sets, 40-70 MiB, with).
  staged_ = stats_.memory_bytes + map.memory_bytes() > kStagedFromBytes;
}

// The exact check of a record, for any family: what the fast compare
// cannot decide (atoms, negation, several services, non-IPv4 packets).
bool RuleIndex::full_match(const Record& r, const AddressClassMap& map, const Probe& p) const noexcept {
  // The protocol and ports from the lanes (filled for every family); the
  // families from the key (none: a LookupKeyV4, IPv4).
  const std::uint32_t protocol = p.lanes[3];
  const auto src_port = static_cast<std::uint16_t>(p.lanes[2]);
  const auto dst_port = static_cast<std::uint16_t>(p.lanes[2] >> 16);
  const bool src_is_v4 = p.key == nullptr || p.key->src.family == IpFamily::kIpv4;
  const bool dst_is_v4 = p.key == nullptr || p.key->dst.family == IpFamily::kIpv4;
  const SlowRule* slow = (r.flags & kSlow) ? &slow_rules_[slow_of_[r.position]] : nullptr;
  auto side = [&](std::uint8_t atoms_flag, std::uint8_t v4_flag, std::uint8_t negate_flag, std::uint32_t net,
                  std::uint32_t mask, std::uint32_t slow_a, std::uint32_t slow_b, bool is_v4,
                  std::uint32_t v4, ClassId cls) {
    bool in = true;
    if (r.flags & atoms_flag) {
      in = false;
      for (std::uint32_t i = 0; i < slow_b && !in; ++i) in = map.contains(cls, side_atoms_[slow_a + i]);
    } else if (r.flags & v4_flag) {
      // A negated CIDR keeps its net and mask in the slow rule.
      if (r.flags & negate_flag) {
        net = slow_a;
        mask = slow_b;
      }
      in = is_v4 && (v4 & mask) == net;
    }
    return in != ((r.flags & negate_flag) != 0);
  };
  if (!side(kSrcAtoms, kSrcV4, kSrcNegate, r.src_net, r.src_mask, slow ? slow->src_atoms : 0,
            slow ? slow->src_count : 0, src_is_v4, p.lanes[0], p.src_class) ||
      !side(kDstAtoms, kDstV4, kDstNegate, r.dst_net, r.dst_mask, slow ? slow->dst_atoms : 0,
            slow ? slow->dst_count : 0, dst_is_v4, p.lanes[1], p.dst_class))
    return false;
  if (r.flags & kManyServices) {
    for (std::uint32_t i = 0; i < slow->service_count; ++i) {
      const ServiceSpec& s = services_[slow->services + i];
      if ((!s.protocol || *s.protocol == protocol) && src_port >= s.src_first && src_port <= s.src_last &&
          dst_port >= s.dst_first && dst_port <= s.dst_last)
        return true;
    }
    return false;
  }
  return ((protocol ^ r.protocol) & r.protocol_mask) == 0 &&
         static_cast<std::uint16_t>(src_port - r.sport_first) <= r.sport_span &&
         static_cast<std::uint16_t>(dst_port - r.dport_first) <= r.dport_span;
}

RuleIndex::Range RuleIndex::make_range(std::uint32_t begin, std::uint32_t end) {
  Range r{begin < end ? records_[begin].position : kNoMatch, begin, end, kNoBlocks};
  if (end - begin < kBlockMinRules) return r;
  r.block_begin = static_cast<std::uint32_t>(blocks_.size());
  for (std::uint32_t at = begin; at < end; at += kLanes) {
    Block b{};
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (at + l >= end) {  // padding: ends the scan
        b.position[l] = kNoMatch;
        continue;
      }
      const Record& rec = records_[at + l];
      const PackedRecord packed = pack(rec);
      b.position[l] = rec.position;
      b.src_first[l] = join16(packed.first, 0);
      b.src_span[l] = join16(packed.span, 0);
      b.dst_first[l] = join16(packed.first, 2);
      b.dst_span[l] = join16(packed.span, 2);
      b.port_first[l] = join16(packed.first, 4);
      b.port_span[l] = join16(packed.span, 4);
      b.proto_first[l] = packed.first[6];
      b.proto_span[l] = packed.span[6];
    }
    blocks_.push_back(b);
  }
  return r;
}

void RuleIndex::drop_block_records() {
  std::vector<Record> kept;
  std::unordered_map<std::uint64_t, std::uint32_t> moved;  // old begin << 32 | end -> new begin
  auto fix = [&](Range& r) {
    if (r.block_begin != kNoBlocks) {
      r.end -= r.begin;
      r.begin = 0;
      return;
    }
    auto [it, added] =
        moved.try_emplace(std::uint64_t{r.begin} << 32 | r.end, static_cast<std::uint32_t>(kept.size()));
    if (added) kept.insert(kept.end(), records_.begin() + r.begin, records_.begin() + r.end);
    r.end = it->second + (r.end - r.begin);
    r.begin = it->second;
  };
  for (auto* ranges : {&src_ranges_, &dst_ranges_, &wide_ranges_, &wide_probes_, &probe_ranges_})
    for (Range& r : *ranges) fix(r);
  kept.shrink_to_fit();
  records_ = std::move(kept);
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
    Range merged{kNoMatch, 0, 0, kNoBlocks};
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

std::uint32_t RuleIndex::classify(const AddressClassMap& map, const LookupKey& key) const noexcept {
  alignas(16) std::uint32_t lanes[4];
  fill_lanes(lanes, key.src.family == IpFamily::kIpv4 ? key.src.v4_host_order() : 0,
             key.dst.family == IpFamily::kIpv4 ? key.dst.v4_host_order() : 0, key.src_port, key.dst_port,
             key.protocol);
  return decide_any<ScanIsa::kBase>(map, Probe{&key, lanes, map.lookup(key.src), map.lookup(key.dst)});
}

std::uint32_t RuleIndex::classify(const AddressClassMap& map, const LookupKeyV4& key) const noexcept {
  alignas(16) std::uint32_t lanes[4];
  fill_lanes(lanes, key.src, key.dst, key.src_port, key.dst_port, key.protocol);
  return decide_any<ScanIsa::kBase>(map, Probe{nullptr, lanes, map.lookup_v4(key.src), map.lookup_v4(key.dst)});
}

#if FW_RULE_INDEX_AVX2
extern template void RuleIndex::classify_burst<ScanIsa::kAvx2>(const AddressClassMap&, std::span<const LookupKey>,
                                                               std::span<std::uint32_t>) const noexcept;
extern template void RuleIndex::classify_burst<ScanIsa::kAvx2>(const AddressClassMap&, std::span<const LookupKeyV4>,
                                                               std::span<std::uint32_t>) const noexcept;
#endif

// The burst of the instruction set the walk variant says the CPU has.
template <typename Key>
void RuleIndex::dispatch_burst(const AddressClassMap& map, std::span<const Key> keys,
                               std::span<std::uint32_t> out) const noexcept {
#if FW_RULE_INDEX_AVX2
  if (AddressClassMap::walk_variant() != WalkVariant::kScalar) {
    classify_burst<ScanIsa::kAvx2>(map, keys, out);
    return;
  }
#endif
  classify_burst<ScanIsa::kBase>(map, keys, out);
}

void RuleIndex::classify(const AddressClassMap& map, std::span<const LookupKeyV4> keys,
                         std::span<std::uint32_t> out) const noexcept {
  dispatch_burst(map, keys, out);
}

void RuleIndex::classify(const AddressClassMap& map, std::span<const LookupKey> keys,
                         std::span<std::uint32_t> out) const noexcept {
  dispatch_burst(map, keys, out);
}

void RuleIndex::build_side_probes() {
  auto lists_of = [](const std::vector<Range>& ranges) {
    std::vector<List> out;
    out.reserve(ranges.size());
    for (const Range& r : ranges) out.push_back(to_list(r));
    return out;
  };
  src_lists_ = lists_of(src_ranges_);
  dst_lists_ = lists_of(dst_ranges_);
  wide_lists_ = lists_of(wide_probes_);
  constexpr List kEnd{kNoMatch, 0, 0};
  rest_lists_.assign(1, kEnd);
  for (int side = 0; side < 2; ++side) side_probes_[side].resize(class_probes_.size());
  for (std::size_t c = 0; c < class_probes_.size(); ++c) {
    const ClassProbe& cp = class_probes_[c];
    for (int side = 0; side < 2; ++side) {
      const Range* r = probe_ranges_.data() + cp.offset + (side == 0 ? 0 : cp.src_lists);
      const std::size_t count = side == 0 ? cp.src_lists : cp.dst_lists;
      SideProbe& sp = side_probes_[side][c];
      sp.list = count == 0 ? kEnd : to_list(r[0]);
      sp.rest = 0;
      if (count < 2) continue;
      sp.rest = static_cast<std::uint32_t>(rest_lists_.size());
      for (std::size_t i = 1; i < count; ++i) rest_lists_.push_back(to_list(r[i]));
      rest_lists_.push_back(kEnd);
    }
  }
  for (auto* v : {&src_ranges_, &dst_ranges_, &wide_ranges_, &wide_probes_, &probe_ranges_}) {
    v->clear();
    v->shrink_to_fit();
  }
  class_probes_.clear();
  class_probes_.shrink_to_fit();
  rest_lists_.shrink_to_fit();  // grown by push_back; the others were sized exactly
}
}  // namespace fw::classify
