// The inventory and incremental group evaluation (fw/inventory.h).
//
// Layout of the state, all guarded by Impl::mutex:
//   vms     VM id -> VmRecord (originals for queries, folded fields for
//           matching, its vNIC ids)
//   vnics   vNIC id -> VnicRecord (owning VM, addresses with source flags,
//           the groups it is currently a member of)
//   groups  one GroupRecord per policy group: prepared criteria, static VM
//           / vNIC members and exclusions, nesting (children, parents, a
//           topological rank), the member vNICs, a reference count per
//           address (how many member vNICs hold it), the addresses of its
//           excluded VMs (counted alike).
//   log     every change of presence since the sink last accepted a batch
//           (an address entering or leaving a group or its exclusions, a
//           vNIC joining or leaving), appended as it happens (Transition).
//   index   which groups a change can affect (see GroupIndex).
//
// Every mutation: validate everything first (so a refused call changes
// nothing), update the records, re-evaluate the candidate groups (plus
// their ancestors, children before parents) for the affected vNICs only,
// then commit and flush: fold the log into GroupDeltas (what the sink last
// saw against what holds now) and hand them to the sink. A batch
// (InventoryBatch) runs several mutations before one commit.
//
// Why a log and not a per-group "what the sink last saw" map: a change
// appends to one contiguous vector instead of inserting into (and, at the
// flush, finding again and clearing) hash nodes of each group it touches;
// a batch of thousands of changes then flushes from one sequential pass
// over memory it wrote last, instead of revisiting every group's records.
#include "fw/inventory.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <boost/container/small_vector.hpp>
#include <fmt/format.h>

#include "libfw/groups/criteria.h"

namespace fw {
namespace {

using groups::PreparedCriterion;
using groups::VmFields;

struct IpHash {
  std::size_t operator()(const IpAddress& a) const noexcept {
    std::uint64_t lo, hi;
    std::memcpy(&lo, a.bytes.data(), 8);
    std::memcpy(&hi, a.bytes.data() + 8, 8);
    std::uint64_t h = (lo ^ (hi * 0x9e3779b97f4a7c15ULL) ^ static_cast<std::uint64_t>(a.family)) * 0xff51afd7ed558ccdULL;
    return static_cast<std::size_t>(h ^ (h >> 32));
  }
};

bool ip_less(const IpAddress& a, const IpAddress& b) {
  if (a.family != b.family) return a.family < b.family;
  return a.bytes < b.bytes;
}

Cidr host_cidr(const IpAddress& a) {
  return Cidr{.address = a, .prefix_length = static_cast<std::uint8_t>(a.is_v4() ? 32 : 128)};
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

struct VmRecord {
  std::string id;
  std::string name;
  std::string os_name;
  std::string computer_name;
  boost::container::small_vector<Tag, 2> tags;  // as VmFields::tags
  VmFields folded;  // folded.tags[i] is tags[i] folded
  std::vector<std::uint32_t> vnics;
};

struct VnicRecord {
  std::uint32_t id = 0;
  VmRecord* vm = nullptr;  // unordered_map nodes do not move
  MacAddress mac;
  std::vector<VnicAddress> addresses;
  boost::container::small_vector<std::uint32_t, 4> groups;  // group indexes it is a member of
};

struct GroupRecord {
  std::string id;
  std::vector<std::vector<PreparedCriterion>> criteria;  // OR of ANDs
  StringSet vm_ids;
  StringSet exclude_vm_ids;
  std::unordered_set<std::uint32_t> vnic_ids;
  std::vector<std::uint32_t> children;
  std::vector<std::uint32_t> parents;
  std::uint32_t rank = 0;  // children have lower ranks than their parents
  std::unordered_set<std::uint32_t> members;
  std::unordered_map<IpAddress, std::uint32_t, IpHash> counts;
  // Addresses of the vNICs of VMs in exclude_vm_ids (counted).
  std::unordered_map<IpAddress, std::uint32_t, IpHash> excluded;
  bool changed = false;  // listed in Impl::changed (take_changed_groups)
};

// One change of presence the sink has not accepted yet: `key` (an address
// of the group or of its excluded VMs, or a member vNIC) became present
// (now) or absent (!now). Each entry is a real flip, so what the sink last
// saw of a key is the opposite of its first entry's `now`, and the key has
// a net change when its last entry's `now` differs from that.
struct Transition {
  enum Kind : std::uint8_t { kAddress, kExcluded, kVnic };
  std::uint32_t group = 0;
  std::uint32_t order = 0;  // position in the log: a key's entries fold in order
  Kind kind = kAddress;
  bool now = false;
  std::uint32_t vnic = 0;  // kVnic
  IpAddress address;       // kAddress, kExcluded
};

// Groups a key's entries together (group, kind, key), oldest first; keys
// in the order a delta lists them (ascending addresses / vNIC ids).
bool transition_less(const Transition& x, const Transition& y) {
  if (x.group != y.group) return x.group < y.group;
  if (x.kind != y.kind) return x.kind < y.kind;
  if (x.kind == Transition::kVnic) {
    if (x.vnic != y.vnic) return x.vnic < y.vnic;
  } else if (x.address != y.address) {
    return ip_less(x.address, y.address);
  }
  return x.order < y.order;
}
bool same_key(const Transition& x, const Transition& y) {
  return x.group == y.group && x.kind == y.kind &&
         (x.kind == Transition::kVnic ? x.vnic == y.vnic : x.address == y.address);
}

// Which groups a change can affect.
//   tag_exact  "scope\0value" -> groups with an EQUALS / NOT_EQUALS / IN /
//              NOT_IN tag criterion on that value (scope "" = any scope);
//              only a tag equal to a value can change their outcome.
//   tag_scope  scope -> groups with a CONTAINS / STARTS_WITH / ENDS_WITH /
//              MATCHES tag criterion in that scope ("" = any scope).
//   fields     groups with a VM name / OS name / computer name criterion.
//   negative   groups with a NOT_EQUALS / NOT_IN tag criterion: a new vNIC
//              may match them without having any tag.
//   by_vm      VM id -> groups listing it in vm_ids or exclude_vm_ids.
//   by_vnic    vNIC id -> groups listing it in vnic_ids.
struct GroupIndex {
  StringMap<std::vector<std::uint32_t>> tag_exact;
  bool any_scope_exact = false;  // tag_exact has keys with scope ""
  StringMap<std::vector<std::uint32_t>> tag_scope;
  std::vector<std::uint32_t> fields;
  std::vector<std::uint32_t> negative;
  StringMap<std::vector<std::uint32_t>> by_vm;
  StringMap<std::vector<std::uint32_t>> excluded_by;  // VM id -> groups listing it in exclude_vm_ids
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> by_vnic;
};

std::string exact_key(std::string_view scope, std::string_view value) {
  std::string k;
  k.reserve(scope.size() + 1 + value.size());
  k.append(scope).push_back('\0');
  k.append(value);
  return k;
}

template <typename Map, typename Key>
void append_from(const Map& map, const Key& key, std::vector<std::uint32_t>& out) {
  if (auto it = map.find(key); it != map.end()) out.insert(out.end(), it->second.begin(), it->second.end());
}

}  // namespace

struct Inventory::Impl {
  explicit Impl(InventoryOptions o) : options(o) {}

  InventoryOptions options;
  mutable std::mutex mutex;
  StringMap<VmRecord> vms;
  std::unordered_map<std::uint32_t, VnicRecord> vnics;
  std::vector<GroupRecord> groups;
  StringMap<std::uint32_t> group_by_id;
  GroupIndex index;
  std::vector<Transition> log;  // see Transition; folded by fold_log()
  std::vector<std::uint32_t> changed;  // groups whose membership changed (take_changed_groups)
  std::uint64_t sequence = 0;
  Status last_error;
  InventoryStats stats;
  // Scratch for candidate sets: a group is in the set when mark == epoch.
  std::vector<std::uint32_t> mark;
  std::uint32_t epoch = 0;
  // Scratch reused by every change, so the change path does not allocate
  // once they have grown: the candidate groups of a tag change, the set
  // reevaluate() walks, and the deltas flush() hands the sink (their
  // vectors keep their capacity; see flush()).
  std::vector<std::uint32_t> candidates_scratch;
  std::vector<std::uint32_t> evaluation_scratch;
  std::vector<GroupDelta> delta_pool;

  // Realization, apart from `mutex` so that waiters never hold it.
  mutable std::mutex wait_mutex;
  mutable std::condition_variable realized_cv;
  std::atomic<std::uint64_t> realized{0};
  std::atomic<std::uint64_t> handed_out{0};

  // ---- validation --------------------------------------------------------

  Status check_string(std::string_view what, std::string_view s) const {
    if (s.size() > options.max_string_length)
      return invalid_argument(fmt::format("{}: {} bytes; the limit is {}", what, s.size(), options.max_string_length));
    return Status::Ok();
  }

  Status check_tag(const Tag& tag) const {
    if (Status s = check_string("tag scope", tag.scope); !s.ok()) return s;
    if (Status s = check_string("tag value", tag.value); !s.ok()) return s;
    if (tag.value.empty()) return invalid_argument("tag value: empty");
    return Status::Ok();
  }

  Status check_vm_spec(const VmSpec& vm, bool take_over) const {
    if (vm.id.empty()) return invalid_argument("vm id: empty");
    const std::string where = "vm " + vm.id.substr(0, options.max_string_length) + ": ";
    if (Status s = check_string(where + "id", vm.id); !s.ok()) return s;
    if (Status s = check_string(where + "name", vm.name); !s.ok()) return s;
    if (Status s = check_string(where + "os_name", vm.os_name); !s.ok()) return s;
    if (Status s = check_string(where + "computer_name", vm.computer_name); !s.ok()) return s;
    std::vector<Tag> distinct;
    for (std::size_t i = 0; i < vm.tags.size(); ++i) {
      if (Status s = check_tag(vm.tags[i]); !s.ok())
        return invalid_argument(fmt::format("{}tags[{}]: {}", where, i, s.message()));
      if (std::find(distinct.begin(), distinct.end(), vm.tags[i]) == distinct.end()) distinct.push_back(vm.tags[i]);
    }
    if (distinct.size() > options.max_tags_per_vm)
      return resource_exhausted(fmt::format("{}{} tags; the limit is {}", where, distinct.size(), options.max_tags_per_vm));
    if (vm.vnics.size() > options.max_vnics_per_vm)
      return resource_exhausted(
          fmt::format("{}{} vNICs; the limit is {}", where, vm.vnics.size(), options.max_vnics_per_vm));
    for (std::size_t i = 0; i < vm.vnics.size(); ++i) {
      const VnicSpec& n = vm.vnics[i];
      for (std::size_t j = 0; j < i; ++j) {
        if (vm.vnics[j].id == n.id) return invalid_argument(fmt::format("{}vnics[{}]: vNIC {} twice", where, i, n.id));
      }
      if (auto it = vnics.find(n.id); !take_over && it != vnics.end() && it->second.vm->id != vm.id)
        return already_exists(fmt::format("{}vnics[{}]: vNIC {} belongs to vm {}", where, i, n.id, it->second.vm->id));
      for (std::size_t k = 0; k < n.addresses.size(); ++k) {
        if (n.addresses[k].family != IpFamily::kIpv4 && n.addresses[k].family != IpFamily::kIpv6)
          return invalid_argument(fmt::format("{}vnics[{}].addresses[{}]: not an IPv4 or IPv6 address", where, i, k));
      }
      // Learned addresses the vNIC keeps count against the limit too (a
      // vNIC taken over from another VM keeps none).
      std::size_t total = n.addresses.size();
      if (auto it = vnics.find(n.id); it != vnics.end() && it->second.vm->id == vm.id) {
        for (const VnicAddress& a : it->second.addresses) {
          if (a.learned && std::find(n.addresses.begin(), n.addresses.end(), a.address) == n.addresses.end()) ++total;
        }
      }
      if (total > options.max_addresses_per_vnic)
        return resource_exhausted(fmt::format("{}vnics[{}]: {} addresses; the limit is {}", where, i, total,
                                              options.max_addresses_per_vnic));
    }
    return Status::Ok();
  }

  // ---- membership ---------------------------------------------------------

  void inc(std::uint32_t g, const IpAddress& a) {
    GroupRecord& group = groups[g];
    if (++group.counts[a] == 1) note_change(g, a, false);
  }
  void dec(std::uint32_t g, const IpAddress& a) {
    GroupRecord& group = groups[g];
    auto it = group.counts.find(a);
    if (it == group.counts.end()) return;  // cannot happen: counts mirror members' addresses
    if (--it->second == 0) {
      group.counts.erase(it);
      note_change(g, a, true);
    }
  }
  // Records a flip of `a` in group g's addresses.
  void note_change(std::uint32_t g, const IpAddress& a, bool was_present) {
    log.push_back(Transition{.group = g,
                             .order = static_cast<std::uint32_t>(log.size()),
                             .kind = Transition::kAddress,
                             .now = !was_present,
                             .address = a});
  }

  // An excluded VM's vNIC gained / lost address `a`.
  void excluded_address(const VmRecord& vm, const IpAddress& a, bool gained) {
    if (index.excluded_by.empty()) return;
    auto it = index.excluded_by.find(vm.id);
    if (it == index.excluded_by.end()) return;
    for (std::uint32_t g : it->second) {
      GroupRecord& group = groups[g];
      if (gained) {
        if (++group.excluded[a] != 1) continue;
      } else {
        auto e = group.excluded.find(a);
        if (e == group.excluded.end() || --e->second != 0) continue;
        group.excluded.erase(e);
      }
      note_excluded_change(g, a, gained);
    }
  }
  void note_excluded_change(std::uint32_t g, const IpAddress& a, bool now) {
    log.push_back(Transition{.group = g,
                             .order = static_cast<std::uint32_t>(log.size()),
                             .kind = Transition::kExcluded,
                             .now = now,
                             .address = a});
  }

  void mark_changed(std::uint32_t g) {
    if (groups[g].changed) return;
    groups[g].changed = true;
    changed.push_back(g);
  }

  // Records a flip of vNIC `id`'s membership of group g.
  void note_member_change(std::uint32_t g, std::uint32_t id, bool was_member) {
    log.push_back(Transition{.group = g,
                             .order = static_cast<std::uint32_t>(log.size()),
                             .kind = Transition::kVnic,
                             .now = !was_member,
                             .vnic = id});
  }

  // Folds the log to one entry per key with a net change (dropping keys
  // that flipped back), sorted by group, kind and key, renumbered.
  void fold_log() {
    if (log.empty()) return;
    std::sort(log.begin(), log.end(), transition_less);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < log.size();) {
      std::size_t j = i + 1;
      while (j < log.size() && same_key(log[i], log[j])) ++j;
      // The sink saw !log[i].now; now holds log[j - 1].now.
      if (log[j - 1].now == log[i].now) {
        log[kept] = log[j - 1];
        log[kept].order = static_cast<std::uint32_t>(kept);
        ++kept;
      }
      i = j;
    }
    log.resize(kept);
  }

  void join(std::uint32_t g, VnicRecord& n) {
    mark_changed(g);
    note_member_change(g, n.id, false);
    groups[g].members.insert(n.id);
    n.groups.push_back(g);
    for (const VnicAddress& a : n.addresses) inc(g, a.address);
  }
  void leave(std::uint32_t g, VnicRecord& n) {
    mark_changed(g);
    note_member_change(g, n.id, true);
    groups[g].members.erase(n.id);
    n.groups.erase(std::find(n.groups.begin(), n.groups.end(), g));
    for (const VnicAddress& a : n.addresses) dec(g, a.address);
  }

  bool criteria_match(const GroupRecord& group, const VmFields& vm) const {
    for (const std::vector<PreparedCriterion>& all_of : group.criteria) {
      bool all = true;
      for (const PreparedCriterion& c : all_of) {
        if (!groups::matches(c, vm)) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }

  bool should_be_member(const GroupRecord& group, const VnicRecord& n) const {
    const VmRecord& vm = *n.vm;
    if (!group.exclude_vm_ids.empty() && group.exclude_vm_ids.contains(vm.id)) return false;
    if (!group.vnic_ids.empty() && group.vnic_ids.contains(n.id)) return true;
    if (!group.vm_ids.empty() && group.vm_ids.contains(vm.id)) return true;
    for (std::uint32_t c : group.children) {
      if (groups[c].members.contains(n.id)) return true;
    }
    return criteria_match(group, vm.folded);
  }

  // Re-evaluates `candidates` and every group nesting one of them, children
  // before parents, for the given vNICs.
  void reevaluate(std::vector<std::uint32_t>& candidates, std::span<const std::uint32_t> vnic_ids) {
    if (candidates.empty() || vnic_ids.empty()) return;
    if (mark.size() != groups.size()) mark.assign(groups.size(), 0);
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      epoch = 1;
    }
    std::vector<std::uint32_t>& set = evaluation_scratch;
    set.clear();
    for (std::size_t i = 0; i < candidates.size(); ++i) {  // candidates grows with ancestors
      const std::uint32_t g = candidates[i];
      if (mark[g] == epoch) continue;
      mark[g] = epoch;
      set.push_back(g);
      for (std::uint32_t p : groups[g].parents) candidates.push_back(p);
    }
    std::sort(set.begin(), set.end(), [&](std::uint32_t a, std::uint32_t b) { return groups[a].rank < groups[b].rank; });
    for (std::uint32_t g : set) {
      for (std::uint32_t id : vnic_ids) {
        VnicRecord& n = vnics.at(id);
        ++stats.group_evaluations;
        const bool want = should_be_member(groups[g], n);
        if (want == groups[g].members.contains(id)) continue;
        if (want) join(g, n);
        else leave(g, n);
      }
    }
  }

  // The index lookups a tag costs: its exact (scope, value), the same value
  // in any scope, its scope's pattern criteria and any scope's. Lookups of
  // index parts the policy leaves empty are skipped (each is a hash and a
  // likely cache miss on the tag-change hot path).
  void tag_candidates(const std::pair<std::string, std::string>& folded, std::vector<std::uint32_t>& out) const {
    append_from(index.tag_exact, exact_key(folded.first, folded.second), out);
    if (!folded.first.empty() && index.any_scope_exact) append_from(index.tag_exact, exact_key("", folded.second), out);
    if (index.tag_scope.empty()) return;
    append_from(index.tag_scope, folded.first, out);
    if (!folded.first.empty()) append_from(index.tag_scope, std::string_view(), out);
  }

  // Every group a vNIC new to `vm` could be a member of.
  void new_vnic_candidates(const VmRecord& vm, std::span<const std::uint32_t> vnic_ids,
                           std::vector<std::uint32_t>& out) const {
    for (const auto& t : vm.folded.tags) tag_candidates(t, out);
    out.insert(out.end(), index.fields.begin(), index.fields.end());
    out.insert(out.end(), index.negative.begin(), index.negative.end());
    append_from(index.by_vm, vm.id, out);
    for (std::uint32_t id : vnic_ids) append_from(index.by_vnic, id, out);
  }

  void drop_vnic(std::uint32_t id) {
    VnicRecord& n = vnics.at(id);
    while (!n.groups.empty()) leave(n.groups.back(), n);
    for (const VnicAddress& a : n.addresses) excluded_address(*n.vm, a.address, false);
    vnics.erase(id);
  }

  // Sets or clears one source flag; keeps group counts in step.
  void set_address_flag(VnicRecord& n, const IpAddress& a, AddressSource source, bool on) {
    auto it = std::find_if(n.addresses.begin(), n.addresses.end(), [&](const VnicAddress& x) { return x.address == a; });
    if (it == n.addresses.end()) {
      if (!on) return;
      n.addresses.push_back(VnicAddress{.address = a});
      it = n.addresses.end() - 1;
      for (std::uint32_t g : n.groups) {
        mark_changed(g);
        inc(g, a);
      }
      excluded_address(*n.vm, a, true);
    }
    (source == AddressSource::kDeclared ? it->declared : it->learned) = on;
    if (!it->declared && !it->learned) {
      n.addresses.erase(it);
      for (std::uint32_t g : n.groups) {
        mark_changed(g);
        dec(g, a);
      }
      excluded_address(*n.vm, a, false);
    }
  }

  // ---- the sink -------------------------------------------------------------

  // Hands every pending change to the sink; on success the realized
  // sequence becomes `sequence`.
  Status flush() {
    // Deltas are built in delta_pool's first `used` entries, whose vectors
    // keep their capacity from one flush to the next (trimmed below when a
    // big flush, such as a new policy's, left them large). The folded log
    // is sorted by group, then kind and key: each group's entries make one
    // delta, its lists come out sorted.
    fold_log();
    std::size_t used = 0;
    for (std::size_t i = 0; i < log.size(); ++used) {
      const std::uint32_t g = log[i].group;
      if (used == delta_pool.size()) delta_pool.emplace_back();
      GroupDelta& d = delta_pool[used];
      d.group_id.assign(groups[g].id);
      for (auto* v : {&d.added, &d.removed, &d.excluded_added, &d.excluded_removed}) v->clear();
      d.vnics_joined.clear();
      d.vnics_left.clear();
      for (; i < log.size() && log[i].group == g; ++i) {
        const Transition& t = log[i];
        switch (t.kind) {
          case Transition::kAddress: (t.now ? d.added : d.removed).push_back(host_cidr(t.address)); break;
          case Transition::kExcluded:
            (t.now ? d.excluded_added : d.excluded_removed).push_back(host_cidr(t.address));
            break;
          case Transition::kVnic: (t.now ? d.vnics_joined : d.vnics_left).push_back(t.vnic); break;
        }
      }
    }
    const std::span<const GroupDelta> deltas(delta_pool.data(), used);
    Status s = Status::Ok();
    if (!deltas.empty() && options.sink != nullptr) {
      ++stats.sink_calls;
      s = options.sink->apply(deltas);
    }
    if (!s.ok()) {
      trim_delta_pool(used);
      ++stats.sink_failures;
      last_error = s;
      return s;  // the log stays (folded): handed again, merged, next time
    }
    for (const GroupDelta& d : deltas) {
      stats.addresses_added += d.added.size();
      stats.addresses_removed += d.removed.size();
      stats.vnics_joined += d.vnics_joined.size();
      stats.vnics_left += d.vnics_left.size();
    }
    trim_delta_pool(used);
    log.clear();
    if (log.capacity() > kKeptLogCapacity) std::vector<Transition>().swap(log);
    last_error = Status::Ok();
    {
      std::lock_guard lock(wait_mutex);
      realized.store(sequence, std::memory_order_release);
    }
    realized_cv.notify_all();
    return Status::Ok();
  }
  // The log keeps its capacity for bursts, not for a new policy's flush.
  static constexpr std::size_t kKeptLogCapacity = 1 << 16;

  // What the delta pool keeps between flushes: enough entries for a burst,
  // none holding more than a burst's worth of one group (a new policy's
  // first flush hands every group's whole membership).
  // Only the `used` entries this flush filled can have grown.
  void trim_delta_pool(std::size_t used) {
    constexpr std::size_t kKeptDeltas = 16384;
    constexpr std::size_t kKeptCapacity = 64;
    if (delta_pool.size() > kKeptDeltas) {
      delta_pool.resize(kKeptDeltas);
      delta_pool.shrink_to_fit();
    }
    for (GroupDelta& d : std::span(delta_pool).first(std::min(used, delta_pool.size()))) {
      for (auto* v : {&d.added, &d.removed, &d.excluded_added, &d.excluded_removed})
        if (v->capacity() > kKeptCapacity) std::vector<Cidr>().swap(*v);
      for (auto* v : {&d.vnics_joined, &d.vnics_left})
        if (v->capacity() > kKeptCapacity) std::vector<std::uint32_t>().swap(*v);
    }
  }

  // A mutation is done: number it and hand its deltas to the sink. A sink
  // failure does not fail the call (the inventory did change); it holds the
  // realized sequence back and shows in realization().
  std::uint64_t commit() {
    ++sequence;
    handed_out.store(sequence, std::memory_order_release);
    flush().ignore_error();
    return sequence;
  }

  // ---- mutations ------------------------------------------------------------
  // Each validates everything first (a refused call changes nothing), then
  // updates the records and re-evaluates; none hands anything to the sink.
  // Called with `mutex` held, through alone() or in_batch().
  Status upsert_vm(const VmSpec& spec, UpsertOptions options);
  Status remove_vm(std::string_view vm_id);
  Status add_tag(std::string_view vm_id, const Tag& tag);
  Status remove_tag(std::string_view vm_id, const Tag& tag);
  Status add_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source);
  Status remove_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source);

  // A mutation on its own: applied, numbered and handed to the sink.
  template <typename Mutation>
  StatusOr<std::uint64_t> alone(Mutation mutation) {
    std::lock_guard lock(mutex);
    if (Status s = mutation(*this); !s.ok()) return s;
    return commit();
  }
  // A mutation of a batch: applied; InventoryBatch::commit() numbers it.
  template <typename Mutation>
  Status in_batch(Mutation mutation) {
    std::lock_guard lock(mutex);
    return mutation(*this);
  }

  // ---- groups ---------------------------------------------------------------

  StatusOr<std::vector<GroupRecord>> build_groups(const Policy& policy, GroupIndex& idx) const {
    std::vector<GroupRecord> out(policy.groups.size());
    StringMap<std::uint32_t> by_id;
    for (std::uint32_t g = 0; g < policy.groups.size(); ++g) by_id.emplace(policy.groups[g].id, g);
    for (std::uint32_t g = 0; g < policy.groups.size(); ++g) {
      const Group& src = policy.groups[g];
      GroupRecord& r = out[g];
      r.id = src.id;
      r.vm_ids.insert(src.vm_ids.begin(), src.vm_ids.end());
      r.exclude_vm_ids.insert(src.exclude_vm_ids.begin(), src.exclude_vm_ids.end());
      r.vnic_ids.insert(src.vnic_ids.begin(), src.vnic_ids.end());
      for (const std::string& child : src.groups) {
        const std::uint32_t c = by_id.at(child);  // validated: references resolve
        r.children.push_back(c);
        out[c].parents.push_back(g);
      }
      bool field = false, negative = false;
      for (std::size_t e = 0; e < src.criteria.size(); ++e) {
        std::vector<PreparedCriterion> all_of;
        for (std::size_t k = 0; k < src.criteria[e].all_of.size(); ++k) {
          auto p = groups::prepare(src.criteria[e].all_of[k]);
          if (!p.ok())
            return invalid_argument(
                fmt::format("group {}: criteria[{}].all_of[{}]: {}", src.id, e, k, p.status().message()));
          const PreparedCriterion& c = *p;
          if (c.key != CriterionKey::kTag) {
            field = true;
          } else if (groups::is_exact(c.op)) {
            for (const std::string& v : c.values) idx.tag_exact[exact_key(c.scope, v)].push_back(g);
            idx.any_scope_exact = idx.any_scope_exact || c.scope.empty();
            negative = negative || groups::is_negative(c.op);
          } else {
            idx.tag_scope[c.scope].push_back(g);
          }
          all_of.push_back(std::move(*p));
        }
        r.criteria.push_back(std::move(all_of));
      }
      if (field) idx.fields.push_back(g);
      if (negative) idx.negative.push_back(g);
      for (const std::string& vm : r.vm_ids) idx.by_vm[vm].push_back(g);
      for (const std::string& vm : r.exclude_vm_ids) {
        idx.by_vm[vm].push_back(g);
        idx.excluded_by[vm].push_back(g);
      }
      for (std::uint32_t n : r.vnic_ids) idx.by_vnic[n].push_back(g);
    }
    // Ranks: depth-first post-order (validation rejected cycles).
    std::vector<std::uint8_t> state(out.size(), 0);
    std::uint32_t next = 0;
    std::vector<std::pair<std::uint32_t, std::size_t>> stack;
    for (std::uint32_t root = 0; root < out.size(); ++root) {
      if (state[root]) continue;
      stack.push_back({root, 0});
      state[root] = 1;
      while (!stack.empty()) {
        auto& [g, i] = stack.back();
        if (i < out[g].children.size()) {
          const std::uint32_t c = out[g].children[i++];
          if (!state[c]) {
            state[c] = 1;
            stack.push_back({c, 0});
          }
        } else {
          out[g].rank = next++;
          stack.pop_back();
        }
      }
    }
    // Duplicate entries (a group indexed twice under one key) are harmless:
    // reevaluate() folds them.
    return out;
  }
};

Inventory::Inventory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Inventory::~Inventory() = default;

StatusOr<std::unique_ptr<Inventory>> Inventory::create(InventoryOptions options) {
  if (options.max_vms == 0 || options.max_string_length == 0)
    return invalid_argument("InventoryOptions: max_vms and max_string_length must be positive");
  return std::unique_ptr<Inventory>(new Inventory(std::make_unique<Impl>(options)));
}

StatusOr<std::uint64_t> Inventory::set_groups(const Policy& policy) {
  if (Status s = validate_policy(policy); !s.ok()) return s;
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  GroupIndex idx;
  auto built = m.build_groups(policy, idx);
  if (!built.ok()) return built.status();

  // What the sink last saw of each surviving group: its current state,
  // corrected by the log (each folded entry is a flip the sink has not
  // accepted: it saw the opposite).
  m.fold_log();
  StringMap<std::unordered_map<IpAddress, bool, IpHash>> seen;
  StringMap<std::unordered_map<std::uint32_t, bool>> seen_members;
  StringMap<std::unordered_map<IpAddress, bool, IpHash>> seen_excluded;
  for (GroupRecord& old : m.groups) {
    auto& view = seen[old.id];
    for (const auto& [a, n] : old.counts) view[a] = true;
    auto& members = seen_members[old.id];
    for (std::uint32_t id : old.members) members[id] = true;
    auto& excluded = seen_excluded[old.id];
    for (const auto& [a, n] : old.excluded) excluded[a] = true;
  }
  for (const Transition& t : m.log) {
    const std::string& id = m.groups[t.group].id;
    switch (t.kind) {
      case Transition::kAddress: seen[id][t.address] = !t.now; break;
      case Transition::kExcluded: seen_excluded[id][t.address] = !t.now; break;
      case Transition::kVnic: seen_members[id][t.vnic] = !t.now; break;
    }
  }

  m.groups = std::move(*built);
  m.index = std::move(idx);
  m.group_by_id.clear();
  for (std::uint32_t g = 0; g < m.groups.size(); ++g) m.group_by_id.emplace(m.groups[g].id, g);
  m.log.clear();
  m.changed.clear();
  for (std::uint32_t g = 0; g < m.groups.size(); ++g) m.mark_changed(g);
  m.mark.assign(m.groups.size(), 0);
  for (auto& [id, n] : m.vnics) n.groups.clear();
  std::vector<std::uint32_t> candidates;
  for (auto& [id, vm] : m.vms) {
    candidates.clear();
    m.new_vnic_candidates(vm, vm.vnics, candidates);
    m.reevaluate(candidates, vm.vnics);
  }
  // Excluded VMs' addresses, for the groups excluding them.
  for (const auto& [vm_id, excluding] : m.index.excluded_by) {
    auto vm = m.vms.find(vm_id);
    if (vm == m.vms.end()) continue;
    for (std::uint32_t id : vm->second.vnics)
      for (const VnicAddress& a : m.vnics.at(id).addresses)
        for (std::uint32_t g : excluding)
          if (++m.groups[g].excluded[a.address] == 1) m.note_excluded_change(g, a.address, true);
  }
  // Rebuilding logged everything as new. For the groups the sink knew,
  // log instead the difference from what it saw.
  std::erase_if(m.log, [&](const Transition& t) { return seen.contains(m.groups[t.group].id); });
  for (std::uint32_t g = 0; g < m.groups.size(); ++g) {
    GroupRecord& group = m.groups[g];
    auto was_present = seen.find(group.id);
    if (was_present == seen.end()) continue;
    for (const auto& [a, n] : group.counts) {
      auto v = was_present->second.find(a);
      if (v == was_present->second.end() || !v->second) m.note_change(g, a, false);
    }
    for (const auto& [a, present] : was_present->second) {
      if (present && !group.counts.contains(a)) m.note_change(g, a, true);
    }
    const auto& was_excluded = seen_excluded.at(group.id);
    for (const auto& [a, n] : group.excluded) {
      auto v = was_excluded.find(a);
      if (v == was_excluded.end() || !v->second) m.note_excluded_change(g, a, true);
    }
    for (const auto& [a, present] : was_excluded) {
      if (present && !group.excluded.contains(a)) m.note_excluded_change(g, a, false);
    }
    const auto& was_member = seen_members.at(group.id);
    for (std::uint32_t id : group.members) {
      auto v = was_member.find(id);
      if (v == was_member.end() || !v->second) m.note_member_change(g, id, false);
    }
    for (const auto& [id, present] : was_member) {
      if (present && !group.members.contains(id)) m.note_member_change(g, id, true);
    }
  }
  return m.commit();
}

Status Inventory::Impl::upsert_vm(const VmSpec& spec, UpsertOptions options) {
  Impl& m = *this;
  if (Status s = m.check_vm_spec(spec, options.take_over_vnics); !s.ok()) return s;
  auto it = m.vms.find(spec.id);
  const bool created = it == m.vms.end();
  if (created && m.vms.size() >= m.options.max_vms)
    return resource_exhausted(fmt::format("vm {}: the inventory holds {} VMs, the limit", spec.id, m.options.max_vms));
  // vNICs another VM owns leave it (only with take_over_vnics; validated).
  for (const VnicSpec& ns : spec.vnics) {
    auto owned = m.vnics.find(ns.id);
    if (owned == m.vnics.end() || owned->second.vm->id == spec.id) continue;
    std::vector<std::uint32_t>& theirs = owned->second.vm->vnics;
    theirs.erase(std::find(theirs.begin(), theirs.end(), ns.id));
    m.drop_vnic(ns.id);
  }
  if (created) it = m.vms.emplace(spec.id, VmRecord{.id = spec.id}).first;
  VmRecord& vm = it->second;

  std::vector<std::uint32_t>& candidates = m.candidates_scratch;
  candidates.clear();
  // Fields.
  std::string name = groups::ascii_lower(spec.name), os = groups::ascii_lower(spec.os_name),
              computer = groups::ascii_lower(spec.computer_name);
  if (name != vm.folded.name || os != vm.folded.os_name || computer != vm.folded.computer_name)
    candidates.insert(candidates.end(), m.index.fields.begin(), m.index.fields.end());
  vm.name = spec.name;
  vm.os_name = spec.os_name;
  vm.computer_name = spec.computer_name;
  vm.folded.name = std::move(name);
  vm.folded.os_name = std::move(os);
  vm.folded.computer_name = std::move(computer);
  // Tags: the groups of every tag that comes or goes.
  std::vector<Tag> tags;
  for (const Tag& t : spec.tags) {
    if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
  }
  decltype(VmFields::tags) folded_tags;
  for (const Tag& t : tags) folded_tags.emplace_back(groups::ascii_lower(t.scope), groups::ascii_lower(t.value));
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (std::find(vm.tags.begin(), vm.tags.end(), tags[i]) == vm.tags.end()) m.tag_candidates(folded_tags[i], candidates);
  }
  for (std::size_t i = 0; i < vm.tags.size(); ++i) {
    if (std::find(tags.begin(), tags.end(), vm.tags[i]) == tags.end()) m.tag_candidates(vm.folded.tags[i], candidates);
  }
  vm.tags.assign(tags.begin(), tags.end());
  vm.folded.tags = std::move(folded_tags);
  // vNICs: gone, kept (addresses follow the spec's declared list), new.
  std::vector<std::uint32_t> kept, added;
  for (std::uint32_t id : vm.vnics) {
    const bool stays = std::any_of(spec.vnics.begin(), spec.vnics.end(), [&](const VnicSpec& n) { return n.id == id; });
    if (!stays) m.drop_vnic(id);
  }
  for (const VnicSpec& ns : spec.vnics) {
    auto [nit, inserted] = m.vnics.try_emplace(ns.id);
    VnicRecord& n = nit->second;
    n.id = ns.id;
    n.vm = &vm;
    n.mac = ns.mac;
    (inserted ? added : kept).push_back(ns.id);
    std::vector<IpAddress> undeclare;
    for (const VnicAddress& a : n.addresses) {
      if (a.declared && std::find(ns.addresses.begin(), ns.addresses.end(), a.address) == ns.addresses.end())
        undeclare.push_back(a.address);
    }
    for (const IpAddress& a : undeclare) m.set_address_flag(n, a, AddressSource::kDeclared, false);
    for (const IpAddress& a : ns.addresses) m.set_address_flag(n, a, AddressSource::kDeclared, true);
  }
  vm.vnics.clear();
  for (const VnicSpec& ns : spec.vnics) vm.vnics.push_back(ns.id);
  // A new VM's vNICs are new; by_vm covers vm_ids / exclude_vm_ids only for
  // a new VM (they cannot change otherwise).
  m.reevaluate(candidates, kept);
  candidates.clear();
  m.new_vnic_candidates(vm, added, candidates);
  m.reevaluate(candidates, added);
  return Status::Ok();
}

Status Inventory::Impl::remove_vm(std::string_view vm_id) {
  Impl& m = *this;
  auto it = m.vms.find(vm_id);
  if (it == m.vms.end()) return not_found(fmt::format("vm {}: not in the inventory", vm_id));
  for (std::uint32_t id : it->second.vnics) m.drop_vnic(id);
  m.vms.erase(it);
  return Status::Ok();
}

Status Inventory::Impl::add_tag(std::string_view vm_id, const Tag& tag) {
  Impl& m = *this;
  if (Status s = m.check_tag(tag); !s.ok()) return s;
  auto it = m.vms.find(vm_id);
  if (it == m.vms.end()) return not_found(fmt::format("vm {}: not in the inventory", vm_id));
  VmRecord& vm = it->second;
  if (std::find(vm.tags.begin(), vm.tags.end(), tag) == vm.tags.end()) {
    if (vm.tags.size() >= m.options.max_tags_per_vm)
      return resource_exhausted(fmt::format("vm {}: {} tags, the limit", vm_id, m.options.max_tags_per_vm));
    vm.tags.push_back(tag);
    vm.folded.tags.emplace_back(groups::ascii_lower(tag.scope), groups::ascii_lower(tag.value));
    std::vector<std::uint32_t>& candidates = m.candidates_scratch;
    candidates.clear();
    m.tag_candidates(vm.folded.tags.back(), candidates);
    m.reevaluate(candidates, vm.vnics);
  }
  return Status::Ok();
}

Status Inventory::Impl::remove_tag(std::string_view vm_id, const Tag& tag) {
  Impl& m = *this;
  if (Status s = m.check_tag(tag); !s.ok()) return s;
  auto it = m.vms.find(vm_id);
  if (it == m.vms.end()) return not_found(fmt::format("vm {}: not in the inventory", vm_id));
  VmRecord& vm = it->second;
  auto t = std::find(vm.tags.begin(), vm.tags.end(), tag);
  if (t != vm.tags.end()) {
    const std::size_t i = static_cast<std::size_t>(t - vm.tags.begin());
    const auto folded = vm.folded.tags[i];
    vm.tags.erase(t);
    vm.folded.tags.erase(vm.folded.tags.begin() + static_cast<std::ptrdiff_t>(i));
    std::vector<std::uint32_t>& candidates = m.candidates_scratch;
    candidates.clear();
    m.tag_candidates(folded, candidates);
    m.reevaluate(candidates, vm.vnics);
  }
  return Status::Ok();
}

Status Inventory::Impl::add_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source) {
  Impl& m = *this;
  if (address.family != IpFamily::kIpv4 && address.family != IpFamily::kIpv6)
    return invalid_argument(fmt::format("vNIC {}: address: not an IPv4 or IPv6 address", vnic_id));
  auto it = m.vnics.find(vnic_id);
  if (it == m.vnics.end()) return not_found(fmt::format("vNIC {}: not in the inventory", vnic_id));
  VnicRecord& n = it->second;
  const bool known =
      std::any_of(n.addresses.begin(), n.addresses.end(), [&](const VnicAddress& a) { return a.address == address; });
  if (!known && n.addresses.size() >= m.options.max_addresses_per_vnic)
    return resource_exhausted(
        fmt::format("vNIC {}: {} addresses, the limit", vnic_id, m.options.max_addresses_per_vnic));
  m.set_address_flag(n, address, source, true);
  return Status::Ok();
}

Status Inventory::Impl::remove_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source) {
  Impl& m = *this;
  auto it = m.vnics.find(vnic_id);
  if (it == m.vnics.end()) return not_found(fmt::format("vNIC {}: not in the inventory", vnic_id));
  m.set_address_flag(it->second, address, source, false);
  return Status::Ok();
}

// ---- mutations: alone (one sequence each) or in a batch ----------------------

StatusOr<std::uint64_t> Inventory::upsert_vm(const VmSpec& spec, UpsertOptions options) {
  return impl_->alone([&](Impl& m) { return m.upsert_vm(spec, options); });
}
StatusOr<std::uint64_t> Inventory::remove_vm(std::string_view vm_id) {
  return impl_->alone([&](Impl& m) { return m.remove_vm(vm_id); });
}
StatusOr<std::uint64_t> Inventory::add_tag(std::string_view vm_id, const Tag& tag) {
  return impl_->alone([&](Impl& m) { return m.add_tag(vm_id, tag); });
}
StatusOr<std::uint64_t> Inventory::remove_tag(std::string_view vm_id, const Tag& tag) {
  return impl_->alone([&](Impl& m) { return m.remove_tag(vm_id, tag); });
}
StatusOr<std::uint64_t> Inventory::add_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source) {
  return impl_->alone([&](Impl& m) { return m.add_address(vnic_id, address, source); });
}
StatusOr<std::uint64_t> Inventory::remove_address(std::uint32_t vnic_id, const IpAddress& address,
                                                  AddressSource source) {
  return impl_->alone([&](Impl& m) { return m.remove_address(vnic_id, address, source); });
}

InventoryBatch Inventory::batch() { return InventoryBatch(impl_.get()); }

InventoryBatch::InventoryBatch(InventoryBatch&& other) noexcept
    : impl_(std::exchange(other.impl_, nullptr)), pending_(std::exchange(other.pending_, 0)) {}

InventoryBatch::~InventoryBatch() {
  if (pending_ > 0) commit().status().ignore_error();
}

template <typename Mutation>
Status InventoryBatch::run(Mutation mutation) {
  if (impl_ == nullptr) return failed_precondition("InventoryBatch: moved from");
  Status s = impl_->in_batch(mutation);
  if (s.ok()) ++pending_;
  return s;
}

Status InventoryBatch::upsert_vm(const VmSpec& vm, UpsertOptions options) {
  return run([&](Inventory::Impl& m) { return m.upsert_vm(vm, options); });
}
Status InventoryBatch::remove_vm(std::string_view vm_id) {
  return run([&](Inventory::Impl& m) { return m.remove_vm(vm_id); });
}
Status InventoryBatch::add_tag(std::string_view vm_id, const Tag& tag) {
  return run([&](Inventory::Impl& m) { return m.add_tag(vm_id, tag); });
}
Status InventoryBatch::remove_tag(std::string_view vm_id, const Tag& tag) {
  return run([&](Inventory::Impl& m) { return m.remove_tag(vm_id, tag); });
}
Status InventoryBatch::add_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source) {
  return run([&](Inventory::Impl& m) { return m.add_address(vnic_id, address, source); });
}
Status InventoryBatch::remove_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source) {
  return run([&](Inventory::Impl& m) { return m.remove_address(vnic_id, address, source); });
}

StatusOr<std::uint64_t> InventoryBatch::commit() {
  if (impl_ == nullptr) return failed_precondition("InventoryBatch: moved from");
  std::lock_guard lock(impl_->mutex);
  if (pending_ == 0) return impl_->sequence;
  pending_ = 0;
  return impl_->commit();
}

std::optional<VmInfo> Inventory::vm(std::string_view vm_id) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.vms.find(vm_id);
  if (it == m.vms.end()) return std::nullopt;
  const VmRecord& r = it->second;
  VmInfo info{.id = r.id, .name = r.name, .os_name = r.os_name, .computer_name = r.computer_name,
              .tags = std::vector<Tag>(r.tags.begin(), r.tags.end())};
  for (std::uint32_t id : r.vnics) {
    const VnicRecord& n = m.vnics.at(id);
    info.vnics.push_back(VnicInfo{.id = n.id, .mac = n.mac, .addresses = n.addresses});
  }
  return info;
}

std::vector<std::string> Inventory::vm_ids() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  std::vector<std::string> ids;
  ids.reserve(m.vms.size());
  for (const auto& [id, vm] : m.vms) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::size_t Inventory::vm_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->vms.size();
}

StatusOr<std::vector<Cidr>> Inventory::group_addresses(std::string_view group_id) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.group_by_id.find(group_id);
  if (it == m.group_by_id.end()) return not_found(fmt::format("group {}: not in the policy", group_id));
  std::vector<Cidr> out;
  for (const auto& [a, n] : m.groups[it->second].counts) out.push_back(host_cidr(a));
  std::sort(out.begin(), out.end(), [](const Cidr& x, const Cidr& y) { return ip_less(x.address, y.address); });
  return out;
}

StatusOr<std::vector<std::uint32_t>> Inventory::group_vnics(std::string_view group_id) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.group_by_id.find(group_id);
  if (it == m.group_by_id.end()) return not_found(fmt::format("group {}: not in the policy", group_id));
  const auto& members = m.groups[it->second].members;
  std::vector<std::uint32_t> out(members.begin(), members.end());
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::vector<GroupMember>> Inventory::group_members(std::string_view group_id) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto it = m.group_by_id.find(group_id);
  if (it == m.group_by_id.end()) return not_found(fmt::format("group {}: not in the policy", group_id));
  const auto& members = m.groups[it->second].members;
  std::vector<std::uint32_t> ids(members.begin(), members.end());
  std::sort(ids.begin(), ids.end());
  std::vector<GroupMember> out;
  out.reserve(ids.size());
  for (std::uint32_t id : ids) {
    const VnicRecord& n = m.vnics.at(id);
    GroupMember member{.vm_id = n.vm->id, .vnic_id = id};
    for (const VnicAddress& a : n.addresses) member.addresses.push_back(a.address);
    out.push_back(std::move(member));
  }
  return out;
}

std::vector<std::string> Inventory::take_changed_groups() {
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  std::sort(m.changed.begin(), m.changed.end());
  std::vector<std::string> out;
  out.reserve(m.changed.size());
  for (std::uint32_t g : m.changed) {
    m.groups[g].changed = false;
    out.push_back(m.groups[g].id);
  }
  m.changed.clear();
  return out;
}

std::vector<std::string> Inventory::group_ids() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  std::vector<std::string> out;
  for (const GroupRecord& g : m.groups) out.push_back(g.id);
  return out;
}

InventoryStats Inventory::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

Realization Inventory::realization() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  return Realization{.sequence = m.sequence, .realized = m.realized.load(), .last_error = m.last_error};
}

Status Inventory::wait_realized(std::uint64_t sequence, std::chrono::milliseconds timeout) const {
  const Impl& m = *impl_;
  if (sequence > m.handed_out.load(std::memory_order_acquire))
    return invalid_argument(fmt::format("sequence {} was never handed out (last {})", sequence, m.handed_out.load()));
  {
    std::unique_lock lock(m.wait_mutex);
    if (m.realized_cv.wait_for(lock, timeout, [&] { return m.realized.load() >= sequence; })) return Status::Ok();
  }
  const Realization r = realization();
  return failed_precondition(fmt::format("sequence {} not realized within {} ms (realized {}){}", sequence,
                                         timeout.count(), r.realized,
                                         r.last_error.ok() ? "" : "; the sink failed: " + r.last_error.to_string()));
}

Status Inventory::retry_sink() {
  std::lock_guard lock(impl_->mutex);
  return impl_->flush();
}

}  // namespace fw
