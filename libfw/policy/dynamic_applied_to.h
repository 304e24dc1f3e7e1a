// libfw/policy/dynamic_applied_to.h — internal: dynamic applied-to for a
// slot filter compiled from a CompiledPolicy (the DFW's slot 2 and the
// service-insertion slot 4 share it).
//
// Keeps, per control object: each vNIC's dynamic groups (the inventory's
// joins and leaves, set semantics), the lists the filter installed on each
// vNIC of the last apply() decides with, that apply's filter, and the
// filters made from it per distinct pair of lists (shared by the vNICs that
// have that pair). update() recomputes the lists of the vNICs named for a
// group some rule is applied to, and re-installs the slot on those whose
// lists changed, in one engine generation (CompiledPolicy::lists_with_groups;
// docs/groups.md, "Dynamic applied-to").
//
// FilterT must be constructible as FilterT(const FilterT& base,
// const CompiledPolicy::VnicLists& lists): the same filter deciding with
// `lists`.
//
// Thread-safety: none; the owner's control mutex guards it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "libfw/policy/compile.h"

namespace fw::policy_compile {

template <typename FilterT>
class DynamicAppliedTo {
 public:
  struct Result {
    std::size_t reinstalled = 0;  // vNICs that got a filter for their new lists
    std::size_t unchanged = 0;    // named vNICs whose lists stayed the same
    std::size_t skipped = 0;      // lists changed, but the applied policy is not installed there
    std::uint64_t generation = 0; // the engine generation published; 0 when none
  };

  // Dynamic members per group (sorted), as CompileInput::group_vnics wants them.
  std::map<std::string, std::vector<std::uint32_t>> members_by_group() const {
    std::map<std::string, std::vector<std::uint32_t>> out;
    for (const auto& [vnic, groups] : groups_)
      for (const std::string& g : groups) out[g].push_back(vnic);
    for (auto& [g, vnics] : out) std::sort(vnics.begin(), vnics.end());
    return out;
  }

  // After a successful apply() of `cp` with `base` on `vnics`. With
  // `kept_groups`, the membership of every other group is forgotten.
  void applied(const CompiledPolicy& cp, const std::vector<std::uint32_t>& vnics, std::shared_ptr<const FilterT> base,
               const std::set<std::string_view>* kept_groups) {
    installed_.clear();
    for (std::uint32_t vnic : vnics) installed_[vnic] = cp.lists_of(vnic);
    base_ = std::move(base);
    pinned_.clear();
    if (kept_groups == nullptr) return;
    for (auto it = groups_.begin(); it != groups_.end();) {
      GroupIds& groups = it->second;
      groups.erase(std::remove_if(groups.begin(), groups.end(),
                                  [&](const std::string& g) { return !kept_groups->contains(g); }),
                   groups.end());
      it = it->second.empty() ? groups_.erase(it) : std::next(it);
    }
  }

  // Records `changes` and re-installs `slot` on the vNICs whose lists moved.
  StatusOr<Result> update(CompiledPolicy& cp, Engine& engine, std::uint8_t slot,
                          const std::vector<GroupVnicChange>& changes) {
    // Membership first (set semantics), then the vNICs whose lists may move:
    // those named for a group some rule is applied to.
    std::set<std::uint32_t> affected;
    for (const GroupVnicChange& c : changes) {
      const bool applied = cp.applies_to_group(c.group_id);  // false for a group the policy lacks
      for (std::uint32_t vnic : c.joined) {
        GroupIds& groups = groups_[vnic];
        auto at = std::lower_bound(groups.begin(), groups.end(), c.group_id);
        if (at == groups.end() || *at != c.group_id) groups.insert(at, c.group_id);
        if (applied) affected.insert(vnic);
      }
      for (std::uint32_t vnic : c.left) {
        if (auto it = groups_.find(vnic); it != groups_.end()) {
          GroupIds& groups = it->second;
          auto at = std::lower_bound(groups.begin(), groups.end(), c.group_id);
          if (at != groups.end() && *at == c.group_id) groups.erase(at);
          if (groups.empty()) groups_.erase(it);
        }
        if (applied) affected.insert(vnic);
      }
    }
    static const GroupIds kNoGroups;
    Result result;
    std::vector<FilterChange> filters;
    std::vector<std::pair<std::uint32_t, CompiledPolicy::VnicLists>> now_installed;
    for (std::uint32_t vnic : affected) {
      auto inst = installed_.find(vnic);
      if (inst == installed_.end()) {
        ++result.skipped;  // the applied policy is not installed on it
        continue;
      }
      auto groups = groups_.find(vnic);
      const CompiledPolicy::VnicLists lists =
          cp.lists_with_groups(vnic, ids_of(groups == groups_.end() ? kNoGroups : groups->second));
      if (lists == inst->second) {
        ++result.unchanged;
        continue;
      }
      if (!engine.describe_chain(vnic).ok()) {
        ++result.skipped;  // detached since the apply
        continue;
      }
      std::shared_ptr<const FilterT> filter;
      if (lists == cp.lists_of(vnic)) {
        filter = base_;  // back to its compiled lists
      } else {
        std::shared_ptr<const FilterT>& made = pinned_[lists];
        if (!made) made = std::make_shared<FilterT>(*base_, lists);
        filter = made;
      }
      filters.push_back({.vnic_id = vnic, .slot = slot, .filter = std::move(filter)});
      now_installed.emplace_back(vnic, lists);
    }
    if (!filters.empty()) {
      if (Status s = engine.set_filters(filters); !s.ok()) return s;
      result.generation = engine.generation();
    }
    for (const auto& [vnic, lists] : now_installed) installed_[vnic] = lists;
    result.reinstalled = now_installed.size();
    return result;
  }

 private:
  struct ListsHash {
    std::size_t operator()(const CompiledPolicy::VnicLists& l) const noexcept { return l.hash(); }
  };
  // A vNIC's groups, sorted; most vNICs are in a few groups, kept inline
  // (joining one costs no allocation).
  using GroupIds = boost::container::small_vector<std::string, 2>;
  std::unordered_map<std::uint32_t, GroupIds> groups_;  // vNIC -> its groups
  static std::span<const std::string> ids_of(const GroupIds& ids) { return {ids.data(), ids.size()}; }
  std::unordered_map<std::uint32_t, CompiledPolicy::VnicLists> installed_;
  std::shared_ptr<const FilterT> base_;
  std::unordered_map<CompiledPolicy::VnicLists, std::shared_ptr<const FilterT>, ListsHash> pinned_;
};

}  // namespace fw::policy_compile
