// Policy compiler: see compile.h.
#include "libfw/policy/compile.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <set>
#include <tuple>

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

}  // namespace

CompiledPolicy::~CompiledPolicy() = default;

IntervalSet CompiledPolicy::compute_effective(std::size_t g) const {
  const GroupState& s = groups_[g];
  IntervalSet e = s.base;
  e.unite(s.api);
  for (std::size_t c : s.children) e.unite(groups_[c].effective);
  e.subtract(s.exclude);
  return e;
}

StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input) {
  if (input.policy == nullptr) return invalid_argument("compile: no policy");
  if (Status s = validate_policy(*input.policy); !s.ok()) return s;
  std::unique_ptr<CompiledPolicy> cp(new CompiledPolicy());
  cp->policy_ = *input.policy;
  const Policy& policy = cp->policy_;
  cp->map_ = std::make_unique<classify::AddressClassMap>();

  auto vnic_set = [&](std::uint32_t vnic) {
    IntervalSet s;
    if (auto it = input.vnic_addresses.find(vnic); it != input.vnic_addresses.end())
      for (const Cidr& c : it->second) s.add(c);
    return s;
  };

  // ---- groups: effective address sets, children before parents ----
  const std::size_t group_count = policy.groups.size();
  cp->groups_.resize(group_count);
  for (std::size_t g = 0; g < group_count; ++g) cp->group_index_.emplace(policy.groups[g].id, g);
  for (std::size_t g = 0; g < group_count; ++g) {
    const Group& group = policy.groups[g];
    CompiledPolicy::GroupState& s = cp->groups_[g];
    for (const Cidr& c : group.cidrs) s.base.add(c);
    for (const IpRange& r : group.ranges) s.base.add(r);
    for (std::uint32_t v : group.vnic_ids) s.base.unite(vnic_set(v));
    for (const Cidr& c : group.exclude_cidrs) s.exclude.add(c);
    // group.criteria, vm_ids and exclude_vm_ids are dynamic membership: the
    // inventory resolves them to addresses, which arrive through
    // set_group_addresses(). Ignored here on purpose.
    for (const std::string& child : group.groups) {
      const std::size_t c = cp->group_index_.at(child);
      s.children.push_back(c);
      cp->groups_[c].parents.push_back(g);
    }
  }
  for (const auto& [id, cidrs] : input.group_addresses) {
    auto it = cp->group_index_.find(id);
    if (it == cp->group_index_.end()) return not_found("compile: group_addresses names unknown group " + id);
    for (const Cidr& c : cidrs) {
      if (auto problem = policy_internal::cidr_problem(c))
        return invalid_argument("compile: group_addresses of " + id + ": " + *problem);
      cp->groups_[it->second].api.add(c);
    }
  }
  {
    std::vector<std::uint8_t> done(group_count, 0);
    std::function<void(std::size_t)> visit = [&](std::size_t g) {
      if (done[g]) return;
      done[g] = 1;
      for (std::size_t c : cp->groups_[g].children) visit(c);
      cp->topo_.push_back(g);
    };
    for (std::size_t g = 0; g < group_count; ++g) visit(g);
    for (std::size_t g : cp->topo_) cp->groups_[g].effective = cp->compute_effective(g);
  }

  // ---- enabled rules in evaluation order ----
  for (std::size_t c = 0; c < kCategoryCount; ++c)
    for (const Section& section : policy.categories[c])
      for (const Rule& rule : section.rules)
        if (!rule.disabled) cp->rules_.push_back({&rule, static_cast<Category>(c), section.stateless});

  // ---- atoms and rule specs ----
  std::vector<AtomInfo> infos;
  std::map<std::tuple<IpFamily, Key, Key>, AtomId> literal_atoms;
  std::map<std::uint32_t, AtomId> vnic_atoms;
  auto new_atom = [&](IpFamily family, Key size) {
    infos.push_back({family, log2_of(size)});
    return static_cast<AtomId>(infos.size() - 1);
  };
  auto group_atom = [&](const std::string& id) {
    CompiledPolicy::GroupState& s = cp->groups_[cp->group_index_.at(id)];
    if (!s.atom) {
      s.atom = new_atom(IpFamily::kNone, s.effective.size());
      for (const IpRange& r : s.effective.ranges()) cp->map_->add(*s.atom, r);
    }
    return *s.atom;
  };
  auto literal_atom = [&](IpFamily f, Key lo, Key hi) {
    auto [it, fresh] = literal_atoms.emplace(std::tuple{f, lo, hi}, 0);
    if (fresh) {
      it->second = new_atom(f, hi - lo == ~Key{0} ? hi - lo : hi - lo + 1);
      cp->map_->add(it->second, IpRange{IntervalSet::address_of(f, lo), IntervalSet::address_of(f, hi)});
    }
    return it->second;
  };
  auto vnic_atom = [&](std::uint32_t vnic) {
    auto [it, fresh] = vnic_atoms.emplace(vnic, 0);
    if (fresh) {
      const IntervalSet s = vnic_set(vnic);
      it->second = new_atom(IpFamily::kNone, s.size());
      for (const IpRange& r : s.ranges()) cp->map_->add(it->second, r);
    }
    return it->second;
  };
  auto side_spec = [&](const AddressSide& side) {
    SideSpec spec;
    spec.negate = side.negate;
    for (const std::string& g : side.groups) spec.atoms.push_back(group_atom(g));
    IpFamily f;
    Key lo, hi;
    for (const Cidr& c : side.cidrs)
      if (IntervalSet::bounds(c, f, lo, hi)) spec.atoms.push_back(literal_atom(f, lo, hi));
    for (const IpRange& r : side.ranges)
      if (IntervalSet::bounds(r, f, lo, hi)) spec.atoms.push_back(literal_atom(f, lo, hi));
    for (std::uint32_t v : side.vnic_ids) spec.atoms.push_back(vnic_atom(v));
    std::sort(spec.atoms.begin(), spec.atoms.end());
    spec.atoms.erase(std::unique(spec.atoms.begin(), spec.atoms.end()), spec.atoms.end());
    if (side.groups.empty() && side.ranges.empty() && side.vnic_ids.empty() && side.cidrs.size() == 1 &&
        side.cidrs[0].address.is_v4())
      spec.single_v4_cidr = side.cidrs[0];
    return spec;
  };
  std::map<std::string, std::size_t> service_index;
  for (std::size_t i = 0; i < policy.services.size(); ++i) service_index.emplace(policy.services[i].id, i);

  const std::size_t rule_count = cp->rules_.size();
  std::vector<RuleSpec> specs(rule_count);
  std::vector<std::uint8_t> never(rule_count, 0);  // services that match nothing
  for (std::size_t p = 0; p < rule_count; ++p) {
    const Rule& rule = *cp->rules_[p].rule;
    specs[p].src = side_spec(rule.sources);
    specs[p].dst = side_spec(rule.destinations);
    if (!rule.services.empty() || !rule.inline_services.empty()) {
      for (const std::string& id : rule.services)
        for (const ServiceEntry& e : policy.services[service_index.at(id)].entries) expand_entry(e, specs[p].services);
      for (const ServiceEntry& e : rule.inline_services) expand_entry(e, specs[p].services);
      // A service without entries matches nothing (validation refuses
      // them); an empty list would mean "any" to the classifier.
      never[p] = specs[p].services.empty();
    }
  }

  // ---- applied-to: static vNIC members of groups, nested included ----
  std::vector<std::set<std::uint32_t>> group_vnics(group_count);
  for (std::size_t g : cp->topo_) {  // children first
    group_vnics[g].insert(policy.groups[g].vnic_ids.begin(), policy.groups[g].vnic_ids.end());
    for (std::size_t c : cp->groups_[g].children) group_vnics[g].insert(group_vnics[c].begin(), group_vnics[c].end());
  }
  std::vector<std::uint8_t> everywhere(rule_count, 0);
  std::vector<std::set<std::uint32_t>> applied(rule_count);
  std::set<std::uint32_t> known(input.vnics.begin(), input.vnics.end());
  for (std::size_t p = 0; p < rule_count; ++p) {
    const Rule& rule = *cp->rules_[p].rule;
    everywhere[p] = rule.applied_to_groups.empty() && rule.applied_to_vnics.empty();
    applied[p].insert(rule.applied_to_vnics.begin(), rule.applied_to_vnics.end());
    for (const std::string& g : rule.applied_to_groups) {
      const auto& members = group_vnics[cp->group_index_.at(g)];
      applied[p].insert(members.begin(), members.end());
    }
    // A vNIC named by an applied-to gets its own lists even if the caller
    // did not list it: the lists of unknown vNICs hold only rules applied
    // everywhere.
    known.insert(applied[p].begin(), applied[p].end());
  }

  std::unordered_map<std::vector<std::uint32_t>, CompiledPolicy::RuleList*, ListHash> lists;
  auto intern = [&](std::vector<std::uint32_t> positions) -> const CompiledPolicy::RuleList* {
    auto it = lists.find(positions);
    if (it != lists.end()) return it->second;
    auto list = std::make_unique<CompiledPolicy::RuleList>();
    std::vector<RuleSpec> subset;
    subset.reserve(positions.size());
    for (std::uint32_t p : positions) subset.push_back(specs[p]);
    list->app_begin = static_cast<std::uint32_t>(positions.size());
    for (std::size_t i = 0; i < positions.size(); ++i) {
      if (cp->rules_[positions[i]].category == Category::kApplication) {
        list->app_begin = static_cast<std::uint32_t>(i);
        break;
      }
    }
    list->index = std::make_unique<classify::RuleIndex>(subset, infos, *cp->map_);
    list->app_index = std::make_unique<classify::RuleIndex>(
        std::span<const RuleSpec>(subset).subspan(list->app_begin), infos, *cp->map_);
    list->positions = positions;
    CompiledPolicy::RuleList* raw = list.get();
    cp->lists_.push_back(std::move(list));
    lists.emplace(std::move(positions), raw);
    return raw;
  };
  auto direction_ok = [&](std::size_t p, Direction d) {
    switch (cp->rules_[p].rule->direction) {
      case RuleDirection::kIn: return d == Direction::kToVm;
      case RuleDirection::kOut: return d == Direction::kFromVm;
      default: return true;
    }
  };
  for (Direction d : {Direction::kFromVm, Direction::kToVm}) {
    const auto di = static_cast<std::size_t>(d);
    std::vector<std::uint32_t> positions;
    for (std::size_t p = 0; p < rule_count; ++p)
      if (!never[p] && everywhere[p] && direction_ok(p, d)) positions.push_back(static_cast<std::uint32_t>(p));
    cp->unknown_[di] = intern(std::move(positions));
    for (std::uint32_t v : known) {
      positions.clear();
      for (std::size_t p = 0; p < rule_count; ++p)
        if (!never[p] && (everywhere[p] || applied[p].count(v)) && direction_ok(p, d))
          positions.push_back(static_cast<std::uint32_t>(p));
      cp->by_vnic_[v][di] = intern(std::move(positions));
    }
  }
  return cp;
}

Decision CompiledPolicy::default_decision() const noexcept {
  Decision d;
  d.rule_id = policy_.default_rule_id;
  d.action = policy_.default_action;
  d.is_default = true;
  d.category = Category::kApplication;
  return d;
}

Decision CompiledPolicy::decision_of(std::uint32_t position) const noexcept {
  const RuleInfo& info = rules_[position];
  Decision d;
  d.rule_id = info.rule->id;
  d.action = info.rule->action;
  d.stateless = info.stateless;
  d.logged = info.rule->logged;
  d.tag = info.rule->tag;
  d.category = info.category;
  return d;
}

const CompiledPolicy::RuleList& CompiledPolicy::list_for(std::uint32_t vnic,
                                                          Direction direction) const noexcept {
  const auto di = static_cast<std::size_t>(direction) & 1;
  if (auto it = by_vnic_.find(vnic); it != by_vnic_.end()) return *it->second[di];
  return *unknown_[di];
}

Decision CompiledPolicy::resolve(const RuleList& list, std::uint32_t r,
                                 const classify::LookupKey& key) const noexcept {
  if (r == classify::kNoMatch) return default_decision();
  const std::uint32_t position = list.positions[r];
  if (rules_[position].rule->action != RuleAction::kJumpToApplication) return decision_of(position);
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

void CompiledPolicy::decide_burst(std::uint32_t vnic, Direction direction,
                                  std::span<const classify::LookupKey> keys,
                                  std::span<Decision> out) const noexcept {
  const RuleList& list = list_for(vnic, direction);
  constexpr std::size_t kChunk = 64;
  std::uint32_t first[kChunk];
  for (std::size_t at = 0; at < keys.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, keys.size() - at);
    list.index->classify(*map_, keys.subspan(at, n), std::span<std::uint32_t>(first, n));
    for (std::size_t i = 0; i < n; ++i) out[at + i] = resolve(list, first[i], keys[at + i]);
  }
}

Status CompiledPolicy::set_group_addresses(const std::string& group, std::vector<Cidr> addresses) {
  auto it = group_index_.find(group);
  if (it == group_index_.end()) return not_found("set_group_addresses: unknown group " + group);
  IntervalSet api;
  for (const Cidr& c : addresses) {
    if (auto problem = policy_internal::cidr_problem(c))
      return invalid_argument("set_group_addresses: " + group + ": " + *problem);
    api.add(c);
  }
  groups_[it->second].api = std::move(api);
  // The group and every group nesting it, recomputed children first.
  std::vector<std::uint8_t> affected(groups_.size(), 0);
  std::vector<std::size_t> stack{it->second};
  while (!stack.empty()) {
    const std::size_t g = stack.back();
    stack.pop_back();
    if (affected[g]) continue;
    affected[g] = 1;
    for (std::size_t p : groups_[g].parents) stack.push_back(p);
  }
  for (std::size_t g : topo_) {
    if (!affected[g]) continue;
    GroupState& s = groups_[g];
    IntervalSet next = compute_effective(g);
    if (next == s.effective) continue;
    if (s.atom) {
      for (const IpRange& r : IntervalSet::difference(s.effective, next).ranges()) map_->remove(*s.atom, r);
      for (const IpRange& r : IntervalSet::difference(next, s.effective).ranges()) map_->add(*s.atom, r);
    }
    s.effective = std::move(next);
  }
  return Status::Ok();
}

}  // namespace fw::policy_compile
