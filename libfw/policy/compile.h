// libfw/policy/compile.h — internal: a validated fw::Policy compiled into
// per-vNIC, per-direction first-match decisions over the classifier
// (libfw/classify, docs/classifier.md).
//
// Evaluation (NSX DFW): categories Ethernet .. Application, sections and
// rules in order, disabled rules skipped, first match decides, else the
// default rule. JUMP_TO_APPLICATION as first match continues with the first
// rule of the Application category.
//
// Structure ("the cost of a change is the size of the change"):
//   * one AddressClassMap holds every atom: each group referenced on an
//     address side (its EFFECTIVE set), each distinct literal CIDR/range, each
//     vNIC referenced on an address side (its addresses);
//   * one RuleIndex (+ one over its Application suffix, for jumps) per
//     distinct list of applying rules; (vNIC, direction) pairs with the same
//     list share it. Lists are computed for the vNICs of CompileInput::vnics
//     and every vNIC named by an applied-to (directly or through a group's
//     static members); any other vNIC gets the rules with empty applied-to.
//   * set_group_addresses() recomputes the effective set of the group and of
//     every group that nests it and applies only the changed blocks to the
//     map; rules and indexes are not touched.
//
// Not yet: dynamic membership (Group::criteria, vm_ids, exclude_vm_ids) is
// the inventory's job (groups-and-feed component) and is ignored here; the
// addresses it resolves arrive through set_group_addresses().
//
// Thread-safety: decide() from any number of threads, concurrently with one
// control thread calling set_group_addresses() (the map's guarantee: a
// lookup sees an address's class before or after a change).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <span>
#include <unordered_map>
#include <vector>

#include "fw/policy.h"
#include "fw/status.h"
#include "fw/verdict.h"
#include "libfw/classify/address_class_map.h"
#include "libfw/classify/rule_index.h"
#include "libfw/policy/interval_set.h"

namespace fw::policy_compile {

struct Decision {
  std::uint32_t rule_id = 0;
  RuleAction action = RuleAction::kAllow;  // kAllow, kDrop or kReject; never a jump
  bool is_default = false;
  bool stateless = false;  // the rule's section is stateless
  bool logged = false;
  std::string_view tag;    // into the compiled policy's copy of the rule
  Category category = Category::kApplication;  // the default rule: kApplication
  friend bool operator==(const Decision&, const Decision&) = default;
};

struct CompileInput {
  const Policy* policy = nullptr;
  std::vector<std::uint32_t> vnics;  // vNICs to compile lists for
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  // Addresses set through the API per group id (as set_group_addresses()).
  std::map<std::string, std::vector<Cidr>> group_addresses;
};

class CompiledPolicy;
// Validates (fw::validate_policy) then compiles; the policy is copied.
StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input);

class CompiledPolicy {
 public:
  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  Decision decide(std::uint32_t vnic, Direction direction, const classify::LookupKey& key) const noexcept;
  // The same for a burst of one vNIC and direction: the rule list is found
  // once and the classifier runs its staged burst lookup. out.size() >=
  // keys.size(). This is what the DFW slot calls.
  void decide_burst(std::uint32_t vnic, Direction direction, std::span<const classify::LookupKey> keys,
                    std::span<Decision> out) const noexcept;
  // Number of distinct rule lists (RuleIndexes) over all vNICs and both
  // directions, the lists of vNICs not known included.
  std::size_t rule_lists() const noexcept { return lists_.size(); }

  // Replaces the API-set addresses of `group`. kNotFound for an unknown
  // group, kInvalidArgument for a malformed CIDR (nothing changes then).
  Status set_group_addresses(const std::string& group, std::vector<Cidr> addresses);

  const classify::AddressClassMap& address_map() const noexcept { return *map_; }

 private:
  friend StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input);
  CompiledPolicy() = default;

  struct RuleInfo {  // an enabled rule, by global position
    const Rule* rule;
    Category category;
    bool stateless;
  };
  struct RuleList {
    std::vector<std::uint32_t> positions;  // global positions, ascending
    std::uint32_t app_begin = 0;           // first index of an Application rule
    std::unique_ptr<classify::RuleIndex> index;      // over all positions
    std::unique_ptr<classify::RuleIndex> app_index;  // over positions[app_begin ..]
  };
  struct GroupState {
    std::vector<std::size_t> children;  // nested groups (indexes)
    std::vector<std::size_t> parents;   // groups nesting this one
    IntervalSet base;       // own cidrs, ranges, member vNICs' addresses
    IntervalSet api;        // set_group_addresses()
    IntervalSet exclude;    // exclude_cidrs
    IntervalSet effective;  // (base ∪ api ∪ children's effective) − exclude
    std::optional<classify::AtomId> atom;  // if referenced on an address side
  };

  const RuleList& list_for(std::uint32_t vnic, Direction direction) const noexcept;
  // The decision for a first match at index `r` of `list` (kNoMatch: the
  // default rule), following a jump to the Application category.
  Decision resolve(const RuleList& list, std::uint32_t r, const classify::LookupKey& key) const noexcept;
  Decision decision_of(std::uint32_t position) const noexcept;
  Decision default_decision() const noexcept;
  IntervalSet compute_effective(std::size_t g) const;

  Policy policy_;
  std::vector<RuleInfo> rules_;
  std::unique_ptr<classify::AddressClassMap> map_;
  std::vector<std::unique_ptr<RuleList>> lists_;
  std::unordered_map<std::uint32_t, std::array<const RuleList*, kDirectionCount>> by_vnic_;
  std::array<const RuleList*, kDirectionCount> unknown_{};
  std::vector<GroupState> groups_;
  std::vector<std::size_t> topo_;  // group indexes, nested groups before their parents
  std::unordered_map<std::string, std::size_t> group_index_;
};

}  // namespace fw::policy_compile
