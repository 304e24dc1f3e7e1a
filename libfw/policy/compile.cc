// Policy compiler: see compile.h.
#include "libfw/policy/compile.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <set>
#include <tuple>
#include <unordered_map>

#include <boost/container/small_vector.hpp>

#include "libfw/policy/internal.h"

namespace fw::policy_compile {
namespace {

using classify::AtomId;
using classify::AtomInfo;
using classify::RuleSpec;
using classify::ServiceSpec;
using classify::SideSpec;
using Key = IntervalSet::Key;

bool protocol_has_ports(std::uint8_t p) { return p == 6 || p == 17 || p == 132; }
bool protocol_is_icmp(std::uint8_t p) { return p == 1 || p == 58; }

int lowest_bit(Key k) {  // k != 0
  const auto low = static_cast<std::uint64_t>(k);
  return low ? std::countr_zero(low) : 64 + std::countr_zero(static_cast<std::uint64_t>(k >> 64));
}

std::uint8_t log2_of(Key n) {
  if (n <= 1) return 0;
  const auto hi = static_cast<std::uint64_t>(n >> 64);
  const int bits = hi ? 128 - std::countl_zero(hi) : 64 - std::countl_zero(static_cast<std::uint64_t>(n));
  return static_cast<std::uint8_t>(bits - 1);
}

// One service entry as classifier services (the cross product of its port
// range lists; ICMP type/code as destination "ports").
void expand_entry(const ServiceEntry& e, std::vector<ServiceSpec>& out) {
  ServiceSpec base;
  base.protocol = e.protocol;
  if (!e.protocol) {
    out.push_back(base);
    return;
  }
  if (protocol_is_icmp(*e.protocol)) {
    if (e.icmp_type) {
      const auto t = static_cast<std::uint16_t>(*e.icmp_type << 8);
      base.dst_first = e.icmp_code ? static_cast<std::uint16_t>(t | *e.icmp_code) : t;
      base.dst_last = e.icmp_code ? base.dst_first : static_cast<std::uint16_t>(t | 0xff);
    }
    out.push_back(base);
    return;
  }
  if (!protocol_has_ports(*e.protocol)) {
    out.push_back(base);
    return;
  }
  const std::vector<PortRange> any{PortRange{}};
  const std::vector<PortRange>& src = e.src_ports.empty() ? any : e.src_ports;
  const std::vector<PortRange>& dst = e.dst_ports.empty() ? any : e.dst_ports;
  for (const PortRange& s : src) {
    for (const PortRange& d : dst) {
      ServiceSpec spec = base;
      spec.src_first = s.first;
      spec.src_last = s.last;
      spec.dst_first = d.first;
      spec.dst_last = d.last;
      out.push_back(spec);
    }
  }
}

struct ListHash {
  std::size_t operator()(const std::vector<std::uint32_t>& v) const noexcept {
    std::size_t h = v.size();
    for (std::uint32_t x : v) h = (h ^ x) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
    return h;
  }
};

// ---- address sets with delta operations --------------------------------------

// A part of the address space of one family, [lo, hi] inclusive.
struct Piece {
  IpFamily family;
  Key lo, hi;
};
// A membership change moves one or a few pieces at a time: kept inline,
// they cost no allocation on the change path.
using Pieces = boost::container::small_vector<Piece, 4>;

IpRange to_range(const Piece& p) {
  return {IntervalSet::address_of(p.family, p.lo), IntervalSet::address_of(p.family, p.hi)};
}

// A set of addresses as ordered, disjoint, non-adjacent intervals in a
// balanced tree per family, so that adding or removing a block costs
// O(log n + intervals it touches) and reports exactly which parts changed.
// (IntervalSet, a sorted vector, re-sorts on every add: fine to build a set
// once, O(n) per change.)
class RangeSet {
 public:
  void assign(const IntervalSet& s) {
    for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      auto& m = tree(f);
      m.clear();
      for (const IntervalSet::Interval& i : s.intervals(f)) m.emplace_hint(m.end(), i.lo, i.hi);
    }
  }
  // Appends to `out` the parts of [lo, hi] not in the set / in the set.
  void outside(IpFamily f, Key lo, Key hi, Pieces& out) const {
    const auto& m = tree(f);
    Key cur = lo;
    for (auto it = first_overlap(m, lo); it != m.end() && it->first <= hi; ++it) {
      if (it->first > cur) out.push_back({f, cur, it->first - 1});
      if (it->second >= hi) return;
      cur = it->second + 1;  // < hi: no overflow
    }
    out.push_back({f, cur, hi});
  }
  void inside(IpFamily f, Key lo, Key hi, Pieces& out) const {
    const auto& m = tree(f);
    for (auto it = first_overlap(m, lo); it != m.end() && it->first <= hi; ++it)
      out.push_back({f, std::max(lo, it->first), std::min(hi, it->second)});
  }
  // Adds [lo, hi]; appends to *added (if given) the parts that were not in.
  void insert(IpFamily f, Key lo, Key hi, Pieces* added) {
    if (added) outside(f, lo, hi, *added);
    auto& m = tree(f);
    auto it = m.upper_bound(lo);
    if (it != m.begin()) {
      auto before = std::prev(it);
      if (before->second >= lo || before->second + 1 == lo) it = before;  // overlapping or adjacent
    }
    Key new_lo = lo, new_hi = hi;
    while (it != m.end() && (it->first <= hi || it->first - 1 == hi)) {
      new_lo = std::min(new_lo, it->first);
      new_hi = std::max(new_hi, it->second);
      it = m.erase(it);
    }
    m.emplace_hint(it, new_lo, new_hi);
  }
  // Removes [lo, hi]; appends to *removed (if given) the parts that were in.
  void erase(IpFamily f, Key lo, Key hi, Pieces* removed) {
    if (removed) inside(f, lo, hi, *removed);
    auto& m = tree(f);
    auto it = first_overlap(m, lo);
    while (it != m.end() && it->first <= hi) {
      const Key a = it->first, b = it->second;
      it = m.erase(it);
      if (a < lo) m.emplace_hint(it, a, lo - 1);
      if (b > hi) {
        m.emplace_hint(it, hi + 1, b);
        break;
      }
    }
  }
  Key size() const noexcept {
    Key total = 0;
    for (const auto* m : {&v4_, &v6_}) {
      for (const auto& [lo, hi] : *m) {
        const Key n = hi - lo;  // count - 1
        if (n == ~Key{0} || total > ~Key{0} - n - 1) return ~Key{0};
        total += n + 1;
      }
    }
    return total;
  }
  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6})
      for (const auto& [lo, hi] : tree(f)) fn(Piece{f, lo, hi});
  }

 private:
  using Tree = std::map<Key, Key>;  // lo -> hi
  Tree& tree(IpFamily f) { return f == IpFamily::kIpv4 ? v4_ : v6_; }
  const Tree& tree(IpFamily f) const { return f == IpFamily::kIpv4 ? v4_ : v6_; }
  // The first interval whose hi >= lo.
  static Tree::const_iterator first_overlap(const Tree& m, Key lo) {
    auto it = m.upper_bound(lo);
    if (it != m.begin() && std::prev(it)->second >= lo) --it;
    return it;
  }
  static Tree::iterator first_overlap(Tree& m, Key lo) {
    auto it = m.upper_bound(lo);
    if (it != m.begin() && std::prev(it)->second >= lo) --it;
    return it;
  }
  Tree v4_, v6_;
};

Pieces minus(const Pieces& in, const RangeSet& s) {
  Pieces out;
  for (const Piece& p : in) s.outside(p.family, p.lo, p.hi, out);
  return out;
}
Pieces intersect(const Pieces& in, const RangeSet& s) {
  Pieces out;
  for (const Piece& p : in) s.inside(p.family, p.lo, p.hi, out);
  return out;
}

// The CIDRs that exactly cover [lo, hi].
void cidrs_of(const Piece& p, std::vector<Cidr>& out) {
  const int width = p.family == IpFamily::kIpv4 ? 32 : 128;
  Key lo = p.lo;
  for (;;) {
    // The largest aligned block at lo that ends at or before hi.
    int bits = lo == 0 ? width : std::min(width, lowest_bit(lo));
    const Key span = p.hi - lo;  // count - 1
    while (bits > 0 && (bits == 128 ? ~Key{0} : (Key{1} << bits) - 1) > span) --bits;
    out.push_back(Cidr{IntervalSet::address_of(p.family, lo), static_cast<std::uint8_t>(width - bits)});
    if (bits == 128) return;
    const Key last = lo + ((Key{1} << bits) - 1);
    if (last >= p.hi) return;
    lo = last + 1;
  }
}

// ---- rule match content, to tell reusable lists -------------------------------

std::uint64_t mix(std::uint64_t h, std::uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0x100000001b3ull;
}
// A rule's match content as words: per side a header (atom count, negate
// bit 30, single-IPv4-CIDR bit 31), the atoms, then the CIDR's address and
// prefix length if any; then the service count and three words per service
// (protocol + 256 or 0 for any; source first/last; destination first/last).
// Every field is length-prefixed or fixed, so equal words <=> equal specs.
constexpr std::uint32_t kSpecNegate = 1u << 30;
constexpr std::uint32_t kSpecSingleV4 = 1u << 31;
void encode_side(const SideSpec& s, std::vector<std::uint32_t>& out) {
  out.push_back(static_cast<std::uint32_t>(s.atoms.size()) | (s.negate ? kSpecNegate : 0) |
                (s.single_v4_cidr ? kSpecSingleV4 : 0));
  out.insert(out.end(), s.atoms.begin(), s.atoms.end());
  if (s.single_v4_cidr) {
    out.push_back(s.single_v4_cidr->address.v4_host_order());
    out.push_back(s.single_v4_cidr->prefix_length);
  }
}
void encode_spec(const RuleSpec& r, std::vector<std::uint32_t>& out) {
  encode_side(r.src, out);
  encode_side(r.dst, out);
  out.push_back(static_cast<std::uint32_t>(r.services.size()));
  for (const ServiceSpec& s : r.services) {
    out.push_back(s.protocol ? 256u + *s.protocol : 0u);
    out.push_back(std::uint32_t{s.src_first} << 16 | s.src_last);
    out.push_back(std::uint32_t{s.dst_first} << 16 | s.dst_last);
  }
}
const std::uint32_t* decode_side(const std::uint32_t* w, SideSpec& s) {
  const std::uint32_t header = *w++;
  const std::uint32_t count = header & ~(kSpecNegate | kSpecSingleV4);
  s.negate = (header & kSpecNegate) != 0;
  s.atoms.assign(w, w + count);
  w += count;
  if (header & kSpecSingleV4) {
    s.single_v4_cidr = Cidr{IpAddress::v4(w[0]), static_cast<std::uint8_t>(w[1])};
    w += 2;
  }
  return w;
}
RuleSpec decode_spec(std::span<const std::uint32_t> words) {
  RuleSpec r;
  const std::uint32_t* w = decode_side(decode_side(words.data(), r.src), r.dst);
  r.services.resize(*w++);
  for (ServiceSpec& s : r.services) {
    if (w[0] != 0) s.protocol = static_cast<std::uint8_t>(w[0] - 256);
    s.src_first = static_cast<std::uint16_t>(w[1] >> 16);
    s.src_last = static_cast<std::uint16_t>(w[1]);
    s.dst_first = static_cast<std::uint16_t>(w[2] >> 16);
    s.dst_last = static_cast<std::uint16_t>(w[2]);
    w += 3;
  }
  return r;
}
std::uint64_t spec_hash(std::span<const std::uint32_t> words) {
  std::uint64_t h = mix(0x51ed270b27ull, words.size());
  for (std::uint32_t w : words) h = mix(h, w);
  return h;
}

}  // namespace

// ---- the lineage's shared state ------------------------------------------------

struct CompiledPolicy::Shared {
  struct GroupState {
    std::vector<std::size_t> children;  // nested groups (indexes)
    std::vector<std::size_t> parents;   // groups nesting this one
    RangeSet base;       // own cidrs, ranges, member vNICs' addresses
    RangeSet api;        // set through the API
    RangeSet exclude;    // exclude_cidrs
    RangeSet api_exclude;  // excluded through the API
    RangeSet effective;  // (base ∪ api ∪ children's effective) − exclude − api_exclude
    std::optional<AtomId> atom;  // if referenced on an address side
  };

  classify::AddressClassMap map;
  std::vector<AtomInfo> infos;  // by AtomId
  // Literal atoms by their range: IPv4 ones (nearly all) in an
  // open-addressing table of (lo << 32 | hi) keys, 12 bytes a slot at load
  // at most 1/2, instead of a 100-byte tree node each; IPv6 in a tree.
  struct V4Literals {
    // Keys are lo << 32 | hi. The free mark is lo = 1, hi = 0: no valid
    // range has lo > hi (all ones is 255.255.255.255/32, a valid key).
    static constexpr std::uint64_t kFree = std::uint64_t{1} << 32;
    std::vector<std::uint64_t> keys;
    std::vector<AtomId> atoms;
    std::size_t size = 0;
    static std::size_t slot_of(std::uint64_t key, std::size_t mask) {
      return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    }
    // The atom of `key`, or the slot to put it in (*found false).
    std::size_t find(std::uint64_t key, bool* found) const {
      const std::size_t mask = keys.size() - 1;
      std::size_t at = slot_of(key, mask);
      while (keys[at] != kFree && keys[at] != key) at = (at + 1) & mask;
      *found = keys[at] == key;
      return at;
    }
    void grow() {
      std::vector<std::uint64_t> old_keys = std::move(keys);
      std::vector<AtomId> old_atoms = std::move(atoms);
      const std::size_t n = std::max<std::size_t>(64, 2 * old_keys.size());
      keys.assign(n, kFree);
      atoms.assign(n, 0);
      for (std::size_t i = 0; i < old_keys.size(); ++i) {
        if (old_keys[i] == kFree) continue;
        bool found;
        const std::size_t at = find(old_keys[i], &found);
        keys[at] = old_keys[i];
        atoms[at] = old_atoms[i];
      }
    }
  };
  V4Literals v4_literals;
  std::map<std::pair<Key, Key>, AtomId> v6_literals;
  std::map<std::uint32_t, AtomId> vnic_atoms;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;  // as compiled
  std::vector<GroupState> groups;
  std::vector<std::size_t> topo;  // group indexes, nested groups before their parents
  // Looked up by string_view on the membership path (no string built).
  struct GroupIdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, std::size_t, GroupIdHash, std::equal_to<>> group_index;

  IntervalSet vnic_set(std::uint32_t vnic) const {
    IntervalSet s;
    if (auto it = vnic_addresses.find(vnic); it != vnic_addresses.end())
      for (const Cidr& c : it->second) s.add(c);
    return s;
  }
  AtomId new_atom(IpFamily family, Key size) {
    infos.push_back({family, log2_of(size)});
    return static_cast<AtomId>(infos.size() - 1);
  }
  // A full compile collects the atoms' blocks and adds them in one
  // AddressClassMap::add_all() (widest first: much cheaper than rule order)
  // before any rule list is built; a recompile, whose map is live, adds at
  // once.
  std::vector<classify::AddressClassMap::AtomBlock>* deferred_blocks = nullptr;
  void add_block(AtomId atom, const IpRange& range) {
    if (deferred_blocks) deferred_blocks->push_back({atom, range});
    else map.add(atom, range);
  }
  AtomId group_atom(std::size_t g) {
    GroupState& s = groups[g];
    if (!s.atom) {
      s.atom = new_atom(IpFamily::kNone, s.effective.size());
      s.effective.for_each([&](const Piece& p) { add_block(*s.atom, to_range(p)); });
    }
    return *s.atom;
  }
  AtomId literal_atom(IpFamily f, Key lo, Key hi) {
    AtomId* slot;
    if (f == IpFamily::kIpv4) {
      V4Literals& t = v4_literals;
      if (2 * (t.size + 1) > t.keys.size()) t.grow();
      const std::uint64_t key = static_cast<std::uint64_t>(lo) << 32 | static_cast<std::uint64_t>(hi);
      bool found;
      const std::size_t at = t.find(key, &found);
      if (found) return t.atoms[at];
      t.keys[at] = key;
      ++t.size;
      slot = &t.atoms[at];
    } else {
      auto [it, fresh] = v6_literals.emplace(std::pair{lo, hi}, 0);
      if (!fresh) return it->second;
      slot = &it->second;
    }
    *slot = new_atom(f, hi - lo == ~Key{0} ? hi - lo : hi - lo + 1);
    add_block(*slot, IpRange{IntervalSet::address_of(f, lo), IntervalSet::address_of(f, hi)});
    return *slot;
  }
  AtomId vnic_atom(std::uint32_t vnic) {
    auto [it, fresh] = vnic_atoms.emplace(vnic, 0);
    if (fresh) {
      const IntervalSet s = vnic_set(vnic);
      it->second = new_atom(IpFamily::kNone, s.size());
      for (const IpRange& r : s.ranges()) add_block(it->second, r);
    }
    return it->second;
  }

  // `candidates` may have entered group g (they entered a contributor: its
  // API set or a nested group). What really enters goes to the map and on
  // to the groups nesting g.
  void propagate_add(std::size_t g, const Pieces& candidates) {
    GroupState& s = groups[g];
    Pieces added;
    for (const Piece& p : minus(minus(candidates, s.exclude), s.api_exclude))
      s.effective.insert(p.family, p.lo, p.hi, &added);
    if (added.empty()) return;
    if (s.atom)
      for (const Piece& p : added) map.add(*s.atom, to_range(p));
    for (std::size_t parent : s.parents) propagate_add(parent, added);
  }
  // `candidates` left a contributor of group g; they leave g unless another
  // contributor still has them. Under a diamond (g reached through two
  // nested groups) g is re-checked after each, so the last one removes.
  void propagate_remove(std::size_t g, const Pieces& candidates) {
    GroupState& s = groups[g];
    Pieces leaving = minus(minus(intersect(candidates, s.effective), s.base), s.api);
    for (std::size_t c : s.children) {
      if (leaving.empty()) return;
      leaving = minus(leaving, groups[c].effective);
    }
    if (leaving.empty()) return;
    for (const Piece& p : leaving) s.effective.erase(p.family, p.lo, p.hi, nullptr);
    if (s.atom)
      for (const Piece& p : leaving) map.remove(*s.atom, to_range(p));
    for (std::size_t parent : s.parents) propagate_remove(parent, leaving);
  }
  void api_add(std::size_t g, const Pieces& pieces) {
    Pieces fresh;
    for (const Piece& p : pieces) groups[g].api.insert(p.family, p.lo, p.hi, &fresh);
    if (!fresh.empty()) propagate_add(g, fresh);
  }
  void api_remove(std::size_t g, const Pieces& pieces) {
    Pieces gone;
    for (const Piece& p : pieces) groups[g].api.erase(p.family, p.lo, p.hi, &gone);
    if (!gone.empty()) propagate_remove(g, gone);
  }
  // Newly excluded addresses leave g at once; its parents keep them only
  // through another contributor (propagate_remove checks).
  void exclusion_add(std::size_t g, const Pieces& pieces) {
    GroupState& s = groups[g];
    Pieces fresh;
    for (const Piece& p : pieces) s.api_exclude.insert(p.family, p.lo, p.hi, &fresh);
    Pieces leaving = intersect(fresh, s.effective);
    if (leaving.empty()) return;
    for (const Piece& p : leaving) s.effective.erase(p.family, p.lo, p.hi, nullptr);
    if (s.atom)
      for (const Piece& p : leaving) map.remove(*s.atom, to_range(p));
    for (std::size_t parent : s.parents) propagate_remove(parent, leaving);
  }
  // Addresses no longer excluded come back if a contributor has them.
  void exclusion_remove(std::size_t g, const Pieces& pieces) {
    GroupState& s = groups[g];
    Pieces gone;
    for (const Piece& p : pieces) s.api_exclude.erase(p.family, p.lo, p.hi, &gone);
    if (gone.empty()) return;
    Pieces back = intersect(gone, s.base);
    for (const Piece& p : intersect(gone, s.api)) back.push_back(p);
    for (std::size_t c : s.children)
      for (const Piece& p : intersect(gone, groups[c].effective)) back.push_back(p);
    if (!back.empty()) propagate_add(g, back);
  }
};

// Rules, atoms, specs and lists: what compile() and recompile() share once
// the lineage's group state exists.
struct CompiledPolicy::Builder {
  static void build(CompiledPolicy& cp, const CompileInput& input, const CompiledPolicy* previous);
  // A new list over `positions` (ascending), its RuleIndexes taken from a
  // list of `previous` with the same match content (in `reusable`, by
  // content hash) or built; owned by cp.lists_ and findable by positions.
  static RuleList* make_list(CompiledPolicy& cp, std::vector<std::uint32_t> positions,
                             const CompiledPolicy* previous,
                             const std::unordered_multimap<std::uint64_t, const RuleList*>& reusable,
                             CompileStats* stats);
};

namespace {
std::uint64_t positions_hash(const std::vector<std::uint32_t>& positions) {
  return ListHash{}(positions);
}
}  // namespace

CompiledPolicy::RuleList* CompiledPolicy::Builder::make_list(
    CompiledPolicy& cp, std::vector<std::uint32_t> positions, const CompiledPolicy* previous,
    const std::unordered_multimap<std::uint64_t, const RuleList*>& reusable, CompileStats* stats) {
  Shared& sh = *cp.shared_;
  auto same_content = [&](const RuleList& old, std::uint32_t app_begin) {
    if (old.app_begin != app_begin || old.positions.size() != positions.size()) return false;
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const std::uint32_t a = positions[i], b = old.positions[i];
      if (cp.spec_hashes_[a] != previous->spec_hashes_[b]) return false;
      const std::span<const std::uint32_t> x = cp.spec_words(a), y = previous->spec_words(b);
      if (!std::equal(x.begin(), x.end(), y.begin(), y.end())) return false;
    }
    return true;
  };
  auto list = std::make_unique<RuleList>();
  list->app_begin = static_cast<std::uint32_t>(positions.size());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (cp.rules_[positions[i]].category == Category::kApplication) {
      list->app_begin = static_cast<std::uint32_t>(i);
      break;
    }
  }
  std::uint64_t h = mix(0x6c62272e07bb0142ull, list->app_begin);
  for (std::uint32_t p : positions) h = mix(h, cp.spec_hashes_[p]);
  list->content_hash = h;
  if (previous) {
    auto [first, last] = reusable.equal_range(h);
    for (auto r = first; r != last; ++r) {
      if (same_content(*r->second, list->app_begin)) {
        list->built = r->second->built;
        if (stats) ++stats->lists_reused;
        break;
      }
    }
  }
  if (!list->built) {
    std::vector<RuleSpec> subset;
    subset.reserve(positions.size());
    for (std::uint32_t p : positions) subset.push_back(decode_spec(cp.spec_words(p)));
    auto built = std::make_shared<ListIndex>();
    built->index = std::make_unique<classify::RuleIndex>(subset, sh.infos, sh.map);
    // The Application suffix is searched only after a jump, and jumps sit
    // before app_begin: a list without one needs no second index (for a
    // policy all in the Application category it would be a full copy).
    const bool has_jump = std::any_of(positions.begin(), positions.begin() + list->app_begin, [&](std::uint32_t p) {
      return cp.rules_[p].rule->action == RuleAction::kJumpToApplication;
    });
    if (has_jump)
      built->app_index = std::make_unique<classify::RuleIndex>(
          std::span<const RuleSpec>(subset).subspan(list->app_begin), sh.infos, sh.map);
    list->built = std::move(built);
    if (stats) ++stats->lists_built;
  }
  list->index = list->built->index.get();
  list->app_index = list->built->app_index.get();  // null: no jump in this list
  const std::uint64_t key = positions_hash(positions);
  list->positions = std::move(positions);
  RuleList* raw = list.get();
  cp.lists_.push_back(std::move(list));
  cp.list_by_positions_.emplace(key, raw);
  return raw;
}

CompiledPolicy::~CompiledPolicy() = default;

const classify::AddressClassMap& CompiledPolicy::address_map() const noexcept { return *map_; }

void CompiledPolicy::Builder::build(CompiledPolicy& cp, const CompileInput& input,
                                    const CompiledPolicy* previous) {
  const Policy& policy = cp.policy_;
  Shared& sh = *cp.shared_;
  cp.map_ = &sh.map;
  const std::size_t atoms_before = sh.infos.size();
  const std::size_t group_count = policy.groups.size();
  std::vector<classify::AddressClassMap::AtomBlock> deferred_blocks;
  if (!previous) sh.deferred_blocks = &deferred_blocks;

  // ---- enabled rules in evaluation order ----
  for (std::size_t c = 0; c < kCategoryCount; ++c)
    for (const Section& section : policy.categories[c])
      for (const Rule& rule : section.rules)
        if (!rule.disabled) cp.rules_.push_back({&rule, static_cast<Category>(c), section.stateless});
  cp.decisions_.resize(cp.rules_.size());
  cp.is_jump_.resize(cp.rules_.size());
  for (std::size_t p = 0; p < cp.rules_.size(); ++p) {
    const RuleInfo& info = cp.rules_[p];
    Decision& d = cp.decisions_[p];
    d.rule_id = info.rule->id;
    d.action = info.rule->action;
    d.stateless = info.stateless;
    d.logged = info.rule->logged;
    d.category = info.category;
    d.position = static_cast<std::uint32_t>(p);
    cp.is_jump_[p] = info.rule->action == RuleAction::kJumpToApplication;
  }
  cp.default_decision_ = Decision{};
  cp.default_decision_.rule_id = policy.default_rule_id;
  cp.default_decision_.action = policy.default_action;
  cp.default_decision_.is_default = true;
  cp.default_decision_.logged = policy.default_logged;
  cp.default_decision_.category = Category::kApplication;

  // ---- atoms and rule specs ----
  auto side_spec = [&](const AddressSide& side) {
    SideSpec spec;
    spec.negate = side.negate;
    for (const std::string& g : side.groups) spec.atoms.push_back(sh.group_atom(sh.group_index.at(g)));
    IpFamily f;
    Key lo, hi;
    for (const Cidr& c : side.cidrs)
      if (IntervalSet::bounds(c, f, lo, hi)) spec.atoms.push_back(sh.literal_atom(f, lo, hi));
    for (const IpRange& r : side.ranges)
      if (IntervalSet::bounds(r, f, lo, hi)) spec.atoms.push_back(sh.literal_atom(f, lo, hi));
    for (std::uint32_t v : side.vnic_ids) spec.atoms.push_back(sh.vnic_atom(v));
    std::sort(spec.atoms.begin(), spec.atoms.end());
    spec.atoms.erase(std::unique(spec.atoms.begin(), spec.atoms.end()), spec.atoms.end());
    if (side.groups.empty() && side.ranges.empty() && side.vnic_ids.empty() && side.cidrs.size() == 1 &&
        side.cidrs[0].address.is_v4())
      spec.single_v4_cidr = side.cidrs[0];
    return spec;
  };
  std::map<std::string, std::size_t> service_index;
  for (std::size_t i = 0; i < policy.services.size(); ++i) service_index.emplace(policy.services[i].id, i);

  const std::size_t rule_count = cp.rules_.size();
  cp.spec_hashes_.resize(rule_count);
  cp.spec_offsets_.assign(1, 0);
  cp.spec_offsets_.reserve(rule_count + 1);
  cp.spec_words_.clear();
  std::vector<std::uint8_t> never(rule_count, 0);  // services that match nothing
  for (std::size_t p = 0; p < rule_count; ++p) {
    const Rule& rule = *cp.rules_[p].rule;
    RuleSpec spec;
    spec.src = side_spec(rule.sources);
    spec.dst = side_spec(rule.destinations);
    if (!rule.services.empty() || !rule.inline_services.empty()) {
      for (const std::string& id : rule.services)
        for (const ServiceEntry& e : policy.services[service_index.at(id)].entries) expand_entry(e, spec.services);
      for (const ServiceEntry& e : rule.inline_services) expand_entry(e, spec.services);
      // A service without entries matches nothing (validation refuses
      // them); an empty list would mean "any" to the classifier.
      never[p] = spec.services.empty();
    }
    encode_spec(spec, cp.spec_words_);
    cp.spec_offsets_.push_back(static_cast<std::uint32_t>(cp.spec_words_.size()));
    cp.spec_hashes_[p] = spec_hash(cp.spec_words(static_cast<std::uint32_t>(p)));
  }
  cp.spec_words_.shrink_to_fit();

  // ---- applied-to: static vNIC members of groups, nested included ----
  std::vector<std::set<std::uint32_t>> group_vnics(group_count);
  for (std::size_t g : sh.topo) {  // children first
    group_vnics[g].insert(policy.groups[g].vnic_ids.begin(), policy.groups[g].vnic_ids.end());
    for (std::size_t c : sh.groups[g].children) group_vnics[g].insert(group_vnics[c].begin(), group_vnics[c].end());
  }
  std::vector<std::uint8_t> everywhere(rule_count, 0);
  std::vector<std::set<std::uint32_t>> applied(rule_count);
  std::set<std::uint32_t> known(input.vnics.begin(), input.vnics.end());
  cp.applied_by_group_.assign(group_count, {});
  for (std::size_t p = 0; p < rule_count; ++p) {
    const Rule& rule = *cp.rules_[p].rule;
    everywhere[p] = rule.applied_to_groups.empty() && rule.applied_to_vnics.empty();
    applied[p].insert(rule.applied_to_vnics.begin(), rule.applied_to_vnics.end());
    for (const std::string& g : rule.applied_to_groups) {
      const std::size_t gi = sh.group_index.at(g);
      const auto& members = group_vnics[gi];
      applied[p].insert(members.begin(), members.end());
      if (!never[p] && (cp.applied_by_group_[gi].empty() || cp.applied_by_group_[gi].back() != p))
        cp.applied_by_group_[gi].push_back(static_cast<std::uint32_t>(p));
    }
    if (!never[p])
      for (std::uint32_t v : applied[p]) cp.static_applied_[v].push_back(static_cast<std::uint32_t>(p));
  }
  // Dynamic members (the inventory's): rules applied to their groups.
  for (const auto& [id, vnics] : input.group_vnics) {
    auto it = sh.group_index.find(id);
    if (it == sh.group_index.end()) continue;
    for (std::uint32_t p : cp.applied_by_group_[it->second]) applied[p].insert(vnics.begin(), vnics.end());
  }
  // A vNIC named by an applied-to gets its own lists even if the caller
  // did not list it: the lists of unknown vNICs hold only rules applied
  // everywhere.
  for (std::size_t p = 0; p < rule_count; ++p) known.insert(applied[p].begin(), applied[p].end());

  if (sh.deferred_blocks) {
    sh.map.add_all(deferred_blocks);
    sh.deferred_blocks = nullptr;
  }

  // ---- rule lists: interned by positions, reused from `previous` by content ----
  std::unordered_multimap<std::uint64_t, const RuleList*> reusable;
  if (previous)
    for (const auto& list : previous->lists_) reusable.emplace(list->content_hash, list.get());
  auto intern = [&](std::vector<std::uint32_t> positions) -> const RuleList* {
    if (const RuleList* found = cp.find_list(positions)) return found;
    return make_list(cp, std::move(positions), previous, reusable, &cp.stats_);
  };
  auto direction_ok = [&](std::size_t p, Direction d) { return cp.direction_ok(static_cast<std::uint32_t>(p), d); };
  for (Direction d : {Direction::kFromVm, Direction::kToVm}) {
    const auto di = static_cast<std::size_t>(d);
    std::vector<std::uint32_t> positions;
    for (std::size_t p = 0; p < rule_count; ++p)
      if (!never[p] && everywhere[p] && direction_ok(p, d)) positions.push_back(static_cast<std::uint32_t>(p));
    cp.unknown_[di] = intern(std::move(positions));
    for (std::uint32_t v : known) {
      positions.clear();
      for (std::size_t p = 0; p < rule_count; ++p)
        if (!never[p] && (everywhere[p] || applied[p].count(v)) && direction_ok(p, d))
          positions.push_back(static_cast<std::uint32_t>(p));
      cp.by_vnic_[v][di] = intern(std::move(positions));
    }
  }
  cp.stats_.atoms_added = sh.infos.size() - atoms_before;
}

StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input) {
  if (input.policy == nullptr) return invalid_argument("compile: no policy");
  if (Status s = validate_policy(*input.policy); !s.ok()) return s;
  std::unique_ptr<CompiledPolicy> cp(new CompiledPolicy());
  cp->policy_ = *input.policy;
  const Policy& policy = cp->policy_;
  cp->shared_ = std::make_shared<CompiledPolicy::Shared>();
  CompiledPolicy::Shared& sh = *cp->shared_;
  sh.vnic_addresses = input.vnic_addresses;

  // ---- groups: effective address sets, children before parents ----
  // Built as IntervalSets (cheap in bulk), then kept as RangeSets (cheap
  // per change).
  const std::size_t group_count = policy.groups.size();
  sh.groups.resize(group_count);
  std::vector<IntervalSet> base(group_count), api(group_count), exclude(group_count), effective(group_count),
      api_exclude(group_count);
  for (std::size_t g = 0; g < group_count; ++g) sh.group_index.emplace(policy.groups[g].id, g);
  for (std::size_t g = 0; g < group_count; ++g) {
    const Group& group = policy.groups[g];
    for (const Cidr& c : group.cidrs) base[g].add(c);
    for (const IpRange& r : group.ranges) base[g].add(r);
    for (std::uint32_t v : group.vnic_ids) base[g].unite(sh.vnic_set(v));
    for (const Cidr& c : group.exclude_cidrs) exclude[g].add(c);
    // group.criteria, vm_ids and exclude_vm_ids are dynamic membership: the
    // inventory resolves them to addresses, which arrive through
    // set_group_addresses(). Ignored here on purpose.
    for (const std::string& child : group.groups) {
      const std::size_t c = sh.group_index.at(child);
      sh.groups[g].children.push_back(c);
      sh.groups[c].parents.push_back(g);
    }
  }
  for (const auto& [id, cidrs] : input.group_addresses) {
    auto it = sh.group_index.find(id);
    if (it == sh.group_index.end()) return not_found("compile: group_addresses names unknown group " + id);
    for (const Cidr& c : cidrs) {
      if (auto problem = policy_internal::cidr_problem(c))
        return invalid_argument("compile: group_addresses of " + id + ": " + *problem);
      api[it->second].add(c);
    }
  }
  for (const auto& [id, cidrs] : input.group_exclusions) {
    auto it = sh.group_index.find(id);
    if (it == sh.group_index.end()) return not_found("compile: group_exclusions names unknown group " + id);
    for (const Cidr& c : cidrs) {
      if (auto problem = policy_internal::cidr_problem(c))
        return invalid_argument("compile: group_exclusions of " + id + ": " + *problem);
      api_exclude[it->second].add(c);
    }
  }
  {
    std::vector<std::uint8_t> done(group_count, 0);
    std::function<void(std::size_t)> visit = [&](std::size_t g) {
      if (done[g]) return;
      done[g] = 1;
      for (std::size_t c : sh.groups[g].children) visit(c);
      sh.topo.push_back(g);
    };
    for (std::size_t g = 0; g < group_count; ++g) visit(g);
    for (std::size_t g : sh.topo) {
      IntervalSet e = base[g];
      e.unite(api[g]);
      for (std::size_t c : sh.groups[g].children) e.unite(effective[c]);
      e.subtract(exclude[g]);
      e.subtract(api_exclude[g]);
      effective[g] = std::move(e);
    }
    for (std::size_t g = 0; g < group_count; ++g) {
      sh.groups[g].base.assign(base[g]);
      sh.groups[g].api.assign(api[g]);
      sh.groups[g].exclude.assign(exclude[g]);
      sh.groups[g].api_exclude.assign(api_exclude[g]);
      sh.groups[g].effective.assign(effective[g]);
    }
  }
  CompiledPolicy::Builder::build(*cp, input, nullptr);
  return cp;
}

StatusOr<std::unique_ptr<CompiledPolicy>> recompile(const CompiledPolicy& previous, const CompileInput& input) {
  if (input.policy == nullptr) return invalid_argument("recompile: no policy");
  if (!input.group_addresses.empty() || !input.group_exclusions.empty())
    return invalid_argument(
        "recompile: group_addresses and group_exclusions must be empty (they are carried over from the previous "
        "policy)");
  const Policy& policy = *input.policy;
  if (policy.groups != previous.policy_.groups || input.vnic_addresses != previous.shared_->vnic_addresses) {
    // Group structure or vNIC addresses changed: a new lineage, with the
    // API-set addresses of the groups that are still there.
    CompileInput full = input;
    for (auto& entry : previous.group_addresses()) {
      // Not a structured binding: clang 14 cannot capture one in the lambda.
      const std::string& id = entry.first;
      const bool kept = std::any_of(policy.groups.begin(), policy.groups.end(),
                                    [&](const Group& g) { return g.id == id; });
      if (kept) full.group_addresses.emplace(id, std::move(entry.second));
    }
    for (auto& entry : previous.group_exclusions()) {
      const std::string& id = entry.first;
      const bool kept = std::any_of(policy.groups.begin(), policy.groups.end(),
                                    [&](const Group& g) { return g.id == id; });
      if (kept) full.group_exclusions.emplace(id, std::move(entry.second));
    }
    return compile(full);
  }
  if (Status s = validate_policy(policy); !s.ok()) return s;
  std::unique_ptr<CompiledPolicy> cp(new CompiledPolicy());
  cp->policy_ = policy;
  cp->shared_ = previous.shared_;
  cp->stats_.incremental = true;
  CompiledPolicy::Builder::build(*cp, input, &previous);
  return cp;
}

bool CompiledPolicy::direction_ok(std::uint32_t position, Direction d) const noexcept {
  switch (rules_[position].rule->direction) {
    case RuleDirection::kIn: return d == Direction::kToVm;
    case RuleDirection::kOut: return d == Direction::kFromVm;
    default: return true;
  }
}

const CompiledPolicy::RuleList* CompiledPolicy::find_list(const std::vector<std::uint32_t>& positions) const noexcept {
  auto [first, last] = list_by_positions_.equal_range(positions_hash(positions));
  for (auto it = first; it != last; ++it)
    if (it->second->positions == positions) return it->second;
  return nullptr;
}

CompiledPolicy::VnicLists CompiledPolicy::lists_of(std::uint32_t vnic) const noexcept {
  VnicLists out;
  for (Direction d : {Direction::kFromVm, Direction::kToVm}) out.by_direction[static_cast<std::size_t>(d)] = &list_for(vnic, d);
  return out;
}

bool CompiledPolicy::has_group(std::string_view group) const {
  return shared_->group_index.contains(group);
}

bool CompiledPolicy::applies_to_group(std::string_view group) const {
  auto it = shared_->group_index.find(group);
  return it != shared_->group_index.end() && !applied_by_group_[it->second].empty();
}

CompiledPolicy::VnicLists CompiledPolicy::lists_with_groups(std::uint32_t vnic, std::span<const std::string> groups) {
  // Every source is ascending already; gather, then sort and fold.
  std::vector<const std::vector<std::uint32_t>*> sources;
  if (auto it = static_applied_.find(vnic); it != static_applied_.end()) sources.push_back(&it->second);
  for (const std::string& g : groups) {
    auto it = shared_->group_index.find(g);
    if (it != shared_->group_index.end() && !applied_by_group_[it->second].empty())
      sources.push_back(&applied_by_group_[it->second]);
  }
  VnicLists out;
  std::vector<std::uint32_t> positions;
  for (Direction d : {Direction::kFromVm, Direction::kToVm}) {
    const auto di = static_cast<std::size_t>(d);
    positions = unknown_[di]->positions;  // the rules applied everywhere
    for (const std::vector<std::uint32_t>* source : sources)
      for (std::uint32_t p : *source)
        if (direction_ok(p, d)) positions.push_back(p);
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    const RuleList* list = find_list(positions);
    if (list != nullptr) {
      ++dynamic_stats_.lists_found;
    } else {
      list = Builder::make_list(*this, positions, nullptr, {}, nullptr);
      ++dynamic_stats_.lists_built;
    }
    out.by_direction[di] = list;
  }
  return out;
}

Decision CompiledPolicy::default_decision() const noexcept { return default_decision_; }

Decision CompiledPolicy::decision_of(std::uint32_t position) const noexcept { return decisions_[position]; }

std::string_view CompiledPolicy::tag_of(const Decision& d) const noexcept {
  if (d.is_default) return policy_.default_tag;
  if (d.position >= rules_.size()) return {};
  return rules_[d.position].rule->tag;
}

const CompiledPolicy::RuleList& CompiledPolicy::list_for(std::uint32_t vnic,
                                                          Direction direction) const noexcept {
  const auto di = static_cast<std::size_t>(direction) & 1;
  if (auto it = by_vnic_.find(vnic); it != by_vnic_.end()) return *it->second[di];
  return *unknown_[di];
}

template <typename Key>
Decision CompiledPolicy::resolve(const RuleList& list, std::uint32_t r, const Key& key) const noexcept {
  if (r == classify::kNoMatch) return default_decision();
  const std::uint32_t position = list.positions[r];
  if (!is_jump_[position]) return decisions_[position];
  // Validation keeps jumps out of the Application category, so r < app_begin.
  const std::uint32_t a = list.app_index->classify(*map_, key);
  if (a == classify::kNoMatch) return default_decision();
  return decision_of(list.positions[list.app_begin + a]);
}

Decision CompiledPolicy::decide(std::uint32_t vnic, Direction direction,
                                const classify::LookupKey& key) const noexcept {
  const RuleList& list = list_for(vnic, direction);
  return resolve(list, list.index->classify(*map_, key), key);
}

Decision CompiledPolicy::decide(const VnicLists& lists, Direction direction,
                                const classify::LookupKey& key) const noexcept {
  const RuleList& list = *lists.by_direction[static_cast<std::size_t>(direction) & 1];
  return resolve(list, list.index->classify(*map_, key), key);
}

void CompiledPolicy::decide_burst(std::uint32_t vnic, Direction direction,
                                  std::span<const classify::LookupKey> keys,
                                  std::span<Decision> out) const noexcept {
  decide_burst_in(list_for(vnic, direction), keys, out);
}

void CompiledPolicy::decide_burst(const VnicLists& lists, Direction direction,
                                  std::span<const classify::LookupKey> keys,
                                  std::span<Decision> out) const noexcept {
  decide_burst_in(*lists.by_direction[static_cast<std::size_t>(direction) & 1], keys, out);
}

void CompiledPolicy::decide_burst(std::uint32_t vnic, Direction direction,
                                  std::span<const classify::LookupKeyV4> keys,
                                  std::span<Decision> out) const noexcept {
  decide_burst_in(list_for(vnic, direction), keys, out);
}

void CompiledPolicy::decide_burst(const VnicLists& lists, Direction direction,
                                  std::span<const classify::LookupKeyV4> keys,
                                  std::span<Decision> out) const noexcept {
  decide_burst_in(*lists.by_direction[static_cast<std::size_t>(direction) & 1], keys, out);
}

template <typename Key>
void CompiledPolicy::decide_burst_in(const RuleList& list, std::span<const Key> keys,
                                     std::span<Decision> out) const noexcept {
  constexpr std::size_t kChunk = 64;
  std::uint32_t first[kChunk];
  for (std::size_t at = 0; at < keys.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, keys.size() - at);
    list.index->classify(*map_, keys.subspan(at, n), std::span<std::uint32_t>(first, n));
    // The common case inline (a match on a rule that is not a jump): two
    // loads and the decision's copy; the default rule and jumps in resolve().
    // Those loads depend on each other and, with many rules, miss the cache:
    // for a large index they are staged over the chunk (the list's
    // position, then the rule's jump flag and decision) so the misses
    // overlap.
    const std::uint32_t* const positions = list.positions.data();
    if (list.index->staged()) {
      for (std::size_t i = 0; i < n; ++i)
        if (first[i] != classify::kNoMatch) __builtin_prefetch(positions + first[i]);
      for (std::size_t i = 0; i < n; ++i) {
        if (first[i] == classify::kNoMatch) continue;
        const std::uint32_t position = positions[first[i]];
        __builtin_prefetch(is_jump_.data() + position);
        __builtin_prefetch(decisions_.data() + position);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t r = first[i];
      if (r != classify::kNoMatch) {
        const std::uint32_t position = positions[r];
        if (!is_jump_[position]) {
          out[at + i] = decisions_[position];
          continue;
        }
      }
      out[at + i] = resolve(list, r, keys[at + i]);
    }
  }
}

// ---- membership ----------------------------------------------------------------

namespace {

Status pieces_of(std::string_view call, const std::string& group, std::span<const Cidr> cidrs, Pieces& out) {
  for (const Cidr& c : cidrs) {
    if (auto problem = policy_internal::cidr_problem(c))
      return invalid_argument(std::string(call) + ": " + group + ": " + *problem);
    IpFamily f;
    Key lo, hi;
    if (IntervalSet::bounds(c, f, lo, hi)) out.push_back({f, lo, hi});
  }
  return Status::Ok();
}

}  // namespace

Status CompiledPolicy::set_group_addresses(const std::string& group, std::vector<Cidr> addresses) {
  auto it = shared_->group_index.find(group);
  if (it == shared_->group_index.end()) return not_found("set_group_addresses: unknown group " + group);
  Pieces wanted;
  if (Status s = pieces_of("set_group_addresses", group, addresses, wanted); !s.ok()) return s;
  RangeSet next;
  for (const Piece& p : wanted) next.insert(p.family, p.lo, p.hi, nullptr);
  const RangeSet& now = shared_->groups[it->second].api;
  Pieces leaving, entering;
  now.for_each([&](const Piece& p) { next.outside(p.family, p.lo, p.hi, leaving); });
  next.for_each([&](const Piece& p) { now.outside(p.family, p.lo, p.hi, entering); });
  shared_->api_remove(it->second, leaving);
  shared_->api_add(it->second, entering);
  return Status::Ok();
}

Status CompiledPolicy::add_group_addresses(const std::string& group, std::span<const Cidr> addresses) {
  auto it = shared_->group_index.find(group);
  if (it == shared_->group_index.end()) return not_found("add_group_addresses: unknown group " + group);
  Pieces pieces;
  if (Status s = pieces_of("add_group_addresses", group, addresses, pieces); !s.ok()) return s;
  shared_->api_add(it->second, pieces);
  return Status::Ok();
}

Status CompiledPolicy::remove_group_addresses(const std::string& group, std::span<const Cidr> addresses) {
  auto it = shared_->group_index.find(group);
  if (it == shared_->group_index.end()) return not_found("remove_group_addresses: unknown group " + group);
  Pieces pieces;
  if (Status s = pieces_of("remove_group_addresses", group, addresses, pieces); !s.ok()) return s;
  shared_->api_remove(it->second, pieces);
  return Status::Ok();
}

std::map<std::string, std::vector<Cidr>> CompiledPolicy::group_addresses() const {
  std::map<std::string, std::vector<Cidr>> out;
  for (std::size_t g = 0; g < shared_->groups.size(); ++g) {
    const RangeSet& api = shared_->groups[g].api;
    if (api.empty()) continue;
    std::vector<Cidr>& cidrs = out[policy_.groups[g].id];
    api.for_each([&](const Piece& p) { cidrs_of(p, cidrs); });
  }
  return out;
}

Status CompiledPolicy::add_group_exclusions(const std::string& group, std::span<const Cidr> addresses) {
  auto it = shared_->group_index.find(group);
  if (it == shared_->group_index.end()) return not_found("add_group_exclusions: unknown group " + group);
  Pieces pieces;
  if (Status s = pieces_of("add_group_exclusions", group, addresses, pieces); !s.ok()) return s;
  shared_->exclusion_add(it->second, pieces);
  return Status::Ok();
}

Status CompiledPolicy::remove_group_exclusions(const std::string& group, std::span<const Cidr> addresses) {
  auto it = shared_->group_index.find(group);
  if (it == shared_->group_index.end()) return not_found("remove_group_exclusions: unknown group " + group);
  Pieces pieces;
  if (Status s = pieces_of("remove_group_exclusions", group, addresses, pieces); !s.ok()) return s;
  shared_->exclusion_remove(it->second, pieces);
  return Status::Ok();
}

std::map<std::string, std::vector<Cidr>> CompiledPolicy::group_exclusions() const {
  std::map<std::string, std::vector<Cidr>> out;
  for (std::size_t g = 0; g < shared_->groups.size(); ++g) {
    const RangeSet& excluded = shared_->groups[g].api_exclude;
    if (excluded.empty()) continue;
    std::vector<Cidr>& cidrs = out[policy_.groups[g].id];
    excluded.for_each([&](const Piece& p) { cidrs_of(p, cidrs); });
  }
  return out;
}

}  // namespace fw::policy_compile
