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
//   * group membership changes (set_/add_/remove_group_addresses) cost the
//     size of the delta: each group's sets are ordered interval trees, a
//     delta is pushed up the nesting as the exact pieces that entered or
//     left each group, and only those pieces touch the map; rules and
//     indexes are not touched.
//   * recompile(previous, input) builds the next policy of a LINEAGE: when
//     the groups and vNIC addresses are unchanged it shares previous's map
//     and membership state (adding only atoms new literals need) and reuses
//     every rule list whose match content did not change; only changed
//     lists are built. Otherwise it falls back to a full compile.
//
// Lineage: compile() starts one; recompile() continues it. Policies of one
// lineage share the AddressClassMap and the group membership state, so a
// membership change made through any of them is seen by all (their groups
// are identical by construction). Atoms a recompile adds are never removed
// while the lineage lives (unused ones cost map memory and classes only,
// never answers); a full compile starts a fresh lineage.
//
// Dynamic membership (Group::criteria, vm_ids, exclude_vm_ids) is the
// inventory's job and is ignored here: the addresses it resolves arrive
// through the group address calls, the member vNICs (for applied-to)
// through CompileInput::group_vnics at compile time and lists_with_groups()
// after it.
//
// Dynamic applied-to: a rule applied to group G applies to G's static vNIC
// members (vnic_ids, nested included) and to the vNICs CompileInput::
// group_vnics lists for G. When a vNIC's dynamic groups change between
// compiles, lists_with_groups() gives the vNIC's new pair of lists — an
// existing list when one has the same rules, else a list built then (the
// cost of one list: the merge of the vNIC's rule positions plus, for a new
// list, one RuleIndex over its rules) — and the DFW slot pins them in a
// filter installed on that vNIC only (decide()/decide_burst() with
// VnicLists). Lists built this way belong to the policy and live as long
// as it does; a recompile may reuse them by content.
//
// Thread-safety: decide()/decide_burst() from any number of threads,
// concurrently with ONE control thread per lineage calling the membership
// calls or recompile() (the map's guarantee: a lookup sees an address's
// class before or after a change). compile() of unrelated inputs may run in
// parallel.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <span>
#include <unordered_map>
#include <vector>

#include "fw/packet.h"
#include "fw/policy.h"
#include "fw/status.h"
#include "fw/verdict.h"
#include "libfw/classify/address_class_map.h"
#include "libfw/classify/rule_index.h"
#include "libfw/policy/interval_set.h"

namespace fw::policy_compile {

// What the rules look at of a parsed packet, written in place (the DFW and
// service slots fill arrays of these per burst). Without an L4 header (a
// non-first fragment) no port is known: 0, which matches only rules that
// accept every port.
inline void fill_lookup_key(const PacketView& v, classify::LookupKey& key) noexcept {
  key.src = v.src_ip;
  key.dst = v.dst_ip;
  key.protocol = v.protocol;
  key.src_port = v.has_l4 ? v.src_port : 0;
  key.dst_port = v.has_l4 ? v.dst_port : 0;
}
// The same as a LookupKeyV4: false (nothing written) unless both addresses
// are IPv4.
inline bool fill_lookup_key(const PacketView& v, classify::LookupKeyV4& key) noexcept {
  if (v.src_ip.family != IpFamily::kIpv4 || v.dst_ip.family != IpFamily::kIpv4) return false;
  key.src = v.src_ip.v4_host_order();
  key.dst = v.dst_ip.v4_host_order();
  key.src_port = v.has_l4 ? v.src_port : 0;
  key.dst_port = v.has_l4 ? v.dst_port : 0;
  key.protocol = v.protocol;
  return true;
}

struct Decision {
  std::uint32_t rule_id = 0;
  RuleAction action = RuleAction::kAllow;  // kAllow, kDrop or kReject; never a jump
  bool is_default = false;
  bool stateless = false;  // the rule's section is stateless
  bool logged = false;
  Category category = Category::kApplication;  // the default rule: kApplication
  // The rule's place in evaluation order among the policy's enabled rules
  // (0-based, categories then sections then rules); kDefaultPosition for the
  // default rule. Dense, so the DFW slot counts hits in arrays by it.
  std::uint32_t position = kDefaultPosition;
  static constexpr std::uint32_t kDefaultPosition = 0xffffffffu;
  friend bool operator==(const Decision&, const Decision&) = default;
};
// 16 bytes: a burst's decisions are copied per packet (the rule's free-text
// tag is CompiledPolicy::tag_of(), read when a packet is logged).
static_assert(sizeof(Decision) == 16);

struct CompileInput {
  const Policy* policy = nullptr;
  std::vector<std::uint32_t> vnics;  // vNICs to compile lists for
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  // Addresses set through the API per group id (as set_group_addresses()).
  std::map<std::string, std::vector<Cidr>> group_addresses;
  // Addresses excluded through the API per group id (as add_group_exclusions()).
  std::map<std::string, std::vector<Cidr>> group_exclusions;
  // Member vNICs of groups as the inventory evaluates them (criteria, VM
  // members, nesting and exclusions applied), per group id: rules applied
  // to a group apply to these vNICs too. Not propagated through nesting
  // (the inventory's membership of a group already holds its nested
  // groups' members, minus its exclusions). Ids the policy lacks are ignored.
  std::map<std::string, std::vector<std::uint32_t>> group_vnics;
};

// What building a CompiledPolicy cost (compile_stats()).
struct CompileStats {
  bool incremental = false;   // recompile() reused `previous`'s lineage
  std::size_t lists_built = 0;   // distinct rule lists whose RuleIndexes were built
  std::size_t lists_reused = 0;  // ... taken unchanged from the previous policy
  std::size_t atoms_added = 0;   // atoms added to the map (all of them for a full compile)
};

class CompiledPolicy;
// Validates (fw::validate_policy) then compiles; the policy is copied.
StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input);

// Validates then compiles `input` as the successor of `previous`. The API-set
// addresses of every group the new policy still has (same id) are carried
// over from `previous`; input.group_addresses must be empty
// (kInvalidArgument otherwise). When the policy's groups and
// input.vnic_addresses equal previous's, the result shares previous's
// lineage (see above) and rebuilds only rule lists whose rules' match
// content (addresses, services, order, category boundary) changed; a rule
// whose action, id, tag, logged flag or direction changes still reuses its
// list if the list's match content is unchanged. Otherwise: a full compile.
// `previous` stays usable (it answers as before) until the caller drops it;
// after a successful incremental recompile, make membership changes through
// the newest policy (they reach the shared map either way).
StatusOr<std::unique_ptr<CompiledPolicy>> recompile(const CompiledPolicy& previous, const CompileInput& input);

class CompiledPolicy {
 private:
  struct RuleList;

 public:
  // A vNIC's rule lists, one per direction: a handle a filter pins so that
  // the vNIC is decided by lists other than its compiled ones (dynamic
  // applied-to). Valid while this policy lives.
  class VnicLists {
   public:
    friend bool operator==(const VnicLists&, const VnicLists&) = default;
    std::size_t hash() const noexcept {
      return std::hash<const void*>{}(by_direction[0]) * 31 + std::hash<const void*>{}(by_direction[1]);
    }

   private:
    friend class CompiledPolicy;
    std::array<const RuleList*, kDirectionCount> by_direction{};
  };
  // What lists_with_groups() cost since the policy was built.
  struct DynamicListStats {
    std::size_t lists_built = 0;  // new lists (one RuleIndex each)
    std::size_t lists_found = 0;  // lists that existed with the same rules
  };

  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  Decision decide(std::uint32_t vnic, Direction direction, const classify::LookupKey& key) const noexcept;
  // The same for a burst of one vNIC and direction: the rule list is found
  // once and the classifier runs its staged burst lookup. out.size() >=
  // keys.size(). This is what the DFW slot calls.
  void decide_burst(std::uint32_t vnic, Direction direction, std::span<const classify::LookupKey> keys,
                    std::span<Decision> out) const noexcept;
  // The same with pinned lists (from lists_of() / lists_with_groups() of
  // this policy).
  Decision decide(const VnicLists& lists, Direction direction, const classify::LookupKey& key) const noexcept;
  void decide_burst(const VnicLists& lists, Direction direction, std::span<const classify::LookupKey> keys,
                    std::span<Decision> out) const noexcept;
  // The same for a burst known to be IPv4, given as LookupKeyV4 (16 bytes
  // a packet, host-order addresses): same decisions as the LookupKeys of the
  // same packets, with less to fill and to read.
  void decide_burst(std::uint32_t vnic, Direction direction, std::span<const classify::LookupKeyV4> keys,
                    std::span<Decision> out) const noexcept;
  void decide_burst(const VnicLists& lists, Direction direction, std::span<const classify::LookupKeyV4> keys,
                    std::span<Decision> out) const noexcept;
  // The free-text tag of the rule that made `d` (the policy's default_tag
  // for the default rule), for logs; valid as long as this compiled policy.
  std::string_view tag_of(const Decision& d) const noexcept;

  // --- dynamic applied-to ---
  // The lists decide(vnic, ...) uses: the vNIC's compiled lists, or those of
  // vNICs not known.
  VnicLists lists_of(std::uint32_t vnic) const noexcept;
  // Whether the policy has `group`; whether an enabled rule names it in
  // applied_to_groups.
  bool has_group(std::string_view group) const;
  bool applies_to_group(std::string_view group) const;
  // The lists of `vnic` when its dynamic groups (CompileInput::group_vnics
  // membership) are `groups`: the rules applied everywhere, to the vNIC, to
  // a group it is a static member of, or to one of `groups` (ids the policy
  // lacks are ignored). Finds the list with those rules or builds it. Cost:
  // sorting the vNIC's rule positions, plus one RuleIndex for a new list.
  // Control thread only (as the membership calls); the datapath may decide
  // with other lists meanwhile — the new list is added, nothing moves.
  VnicLists lists_with_groups(std::uint32_t vnic, std::span<const std::string> groups);
  const DynamicListStats& dynamic_list_stats() const noexcept { return dynamic_stats_; }
  // Number of distinct rule lists (RuleIndexes) over all vNICs and both
  // directions, the lists of vNICs not known included.
  std::size_t rule_lists() const noexcept { return lists_.size(); }
  const CompileStats& compile_stats() const noexcept { return stats_; }

  // Enabled rules in evaluation order: rule_id_at(Decision::position).
  std::size_t rule_count() const noexcept { return rules_.size(); }
  std::uint32_t rule_id_at(std::uint32_t position) const noexcept { return rules_[position].rule->id; }
  std::uint32_t default_rule_id() const noexcept { return policy_.default_rule_id; }
  // The policy this was compiled from (the compiler's copy).
  const Policy& policy() const noexcept { return policy_; }

  // --- group membership set through the API (on top of static members) ---
  // All three: kNotFound for an unknown group, kInvalidArgument for a
  // malformed CIDR (nothing changes then). Live for the next lookup.
  //
  // Replaces the group's API-set addresses. Costs the size of the old and
  // new lists plus the delta.
  Status set_group_addresses(const std::string& group, std::vector<Cidr> addresses);
  // Adds / removes addresses (set semantics over addresses: removing a /32
  // out of an added /24 leaves the rest of the /24). Costs O(delta pieces *
  // log(group size)) per group on the nesting path, plus map updates for the
  // addresses that really entered or left a group; never the group's size.
  // An address that is also a static member (or in a nested group) stays in
  // the group when removed from its API set.
  Status add_group_addresses(const std::string& group, std::span<const Cidr> addresses);
  Status remove_group_addresses(const std::string& group, std::span<const Cidr> addresses);
  // The API-set addresses of every group that has some, as CIDRs (ranges
  // left by removals are split into CIDRs). O(their size).
  std::map<std::string, std::vector<Cidr>> group_addresses() const;
  // Addresses excluded from a group through the API: never in the group,
  // whichever contributor (static members, API set, nested groups) has
  // them, as exclude_cidrs; they still reach the groups nesting it through
  // their other contributors. The inventory's DFW sink excludes the
  // addresses of a group's exclude_vm_ids this way (docs/groups.md). Costs
  // as add/remove_group_addresses. kNotFound / kInvalidArgument as above.
  Status add_group_exclusions(const std::string& group, std::span<const Cidr> addresses);
  Status remove_group_exclusions(const std::string& group, std::span<const Cidr> addresses);
  std::map<std::string, std::vector<Cidr>> group_exclusions() const;

  const classify::AddressClassMap& address_map() const noexcept;

 private:
  friend StatusOr<std::unique_ptr<CompiledPolicy>> compile(const CompileInput& input);
  friend StatusOr<std::unique_ptr<CompiledPolicy>> recompile(const CompiledPolicy& previous,
                                                             const CompileInput& input);
  struct Shared;  // the lineage's map and membership state (compile.cc)
  struct Builder;
  CompiledPolicy() = default;

  struct RuleInfo {  // an enabled rule, by global position
    const Rule* rule;
    Category category;
    bool stateless;
  };
  // The classifier structures of a list: shared by every policy of a
  // lineage whose list has the same match content.
  struct ListIndex {
    std::unique_ptr<classify::RuleIndex> index;      // over all positions
    std::unique_ptr<classify::RuleIndex> app_index;  // over positions[app_begin ..]; null without a jump rule
  };
  struct RuleList {
    std::vector<std::uint32_t> positions;  // global positions, ascending
    std::uint32_t app_begin = 0;           // first index of an Application rule
    const classify::RuleIndex* index = nullptr;      // = built->index, one load less per burst
    const classify::RuleIndex* app_index = nullptr;
    std::shared_ptr<const ListIndex> built;
    std::uint64_t content_hash = 0;  // of the specs of `positions` and app_begin
  };

  const RuleList& list_for(std::uint32_t vnic, Direction direction) const noexcept;
  template <typename Key>
  void decide_burst_in(const RuleList& list, std::span<const Key> keys, std::span<Decision> out) const noexcept;
  bool direction_ok(std::uint32_t position, Direction d) const noexcept;
  // The list with exactly `positions` (ascending), or nullptr.
  const RuleList* find_list(const std::vector<std::uint32_t>& positions) const noexcept;
  // The decision for a first match at index `r` of `list` (kNoMatch: the
  // default rule), following a jump to the Application category.
  template <typename Key>
  Decision resolve(const RuleList& list, std::uint32_t r, const Key& key) const noexcept;
  Decision decision_of(std::uint32_t position) const noexcept;
  Decision default_decision() const noexcept;

  Policy policy_;
  std::vector<RuleInfo> rules_;
  // The decision each position gives (and whether it is a jump), laid out
  // for the datapath: one contiguous read per packet instead of two loads
  // into the policy copy's large Rule objects.
  std::vector<Decision> decisions_;
  std::vector<std::uint8_t> is_jump_;
  Decision default_decision_;
  // Match content of each rule by position, kept to tell the next
  // recompile() which lists it can reuse and to build lists later
  // (lists_with_groups). Encoded flat, a few words a rule instead of a
  // RuleSpec and its three heap vectors (compile.cc: encode_spec): rule p
  // is spec_words_[spec_offsets_[p] .. spec_offsets_[p + 1]); equal words
  // mean equal match content. Decoded when a list is built.
  std::vector<std::uint32_t> spec_words_;
  std::vector<std::uint32_t> spec_offsets_;
  std::vector<std::uint64_t> spec_hashes_;
  std::span<const std::uint32_t> spec_words(std::uint32_t position) const noexcept {
    return std::span<const std::uint32_t>(spec_words_).subspan(
        spec_offsets_[position], spec_offsets_[position + 1] - spec_offsets_[position]);
  }
  std::shared_ptr<Shared> shared_;
  const classify::AddressClassMap* map_ = nullptr;  // = &shared_->map
  std::vector<std::unique_ptr<RuleList>> lists_;
  std::unordered_map<std::uint32_t, std::array<const RuleList*, kDirectionCount>> by_vnic_;
  std::array<const RuleList*, kDirectionCount> unknown_{};
  CompileStats stats_;
  // Dynamic applied-to: positions (ascending, rules that can match) of the
  // rules naming each group (by group index) in applied_to_groups, and of
  // the rules applied statically to each vNIC named by an applied-to
  // (applied_to_vnics, static group members); every list by a hash of its
  // positions, to find one again.
  std::vector<std::vector<std::uint32_t>> applied_by_group_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> static_applied_;
  std::unordered_multimap<std::uint64_t, const RuleList*> list_by_positions_;
  DynamicListStats dynamic_stats_;
};

}  // namespace fw::policy_compile
