// fw/dfw.h — slot 2: the distributed firewall, stateless for now.
//
// A Dfw compiles a policy (fw/policy.h) and installs it as the slot-2 filter
// of every vNIC it is given. Each IP packet is decided by the first matching
// rule of its vNIC's rule list for its direction (categories, sections and
// rules in order; jump-to-application; the default rule). Connection tracking
// comes with the conntrack component; until then every packet is classified
// on its own, as a stateless section would be.
//
// Usage:
//   auto dfw = fw::Dfw::create(*engine).value();
//   fw::Status s = dfw->apply(policy, {1, 2, 3});        // compile + install, one generation
//   s = dfw->add_group_addresses("web", {cidr("10.0.1.5/32")});     // live at once
//   s = dfw->remove_group_addresses("web", {cidr("10.0.1.5/32")});
//   policy.categories[4][0].rules[7].action = fw::RuleAction::kDrop;
//   s = dfw->apply(policy, {1, 2, 3});  // incremental: rebuilds only the changed rule lists
//   for (const fw::DfwRuleStats& r : dfw->rule_stats()) ...         // hits per rule
//
// What the slot decides:
//   - IPv4/IPv6 packets: allow -> kPass with the rule id (later slots still
//     run), drop -> kDrop (DropReason::kRule, or kDefaultRule for the
//     default rule), reject -> kReject (reason as drop; the answer packet is
//     built by the conntrack component).
//   - Non-IP frames (ARP, LLDP, ...) are not the DFW's: no opinion (slot 0
//     and switch security handle them).
//   - Fragments without an L4 header (non-first fragments) are decided with
//     ports 0, so they never match a rule that names ports; the conntrack
//     component will decide them like their first fragment.
//
// Generations and cost (docs/policy.md, "Updates and their cost"):
//   - apply() publishes the new filter on every listed vNIC in ONE engine
//     generation (Engine::set_filters): a burst on any vNIC sees the old
//     policy or the new one, never a mix across vNICs. When the new policy
//     has the same groups (and vNIC addresses) as the applied one, the
//     compile is incremental: the address-class map and every rule list
//     whose rules' match content is unchanged are reused; only changed
//     lists are built (last_apply() says how many). Otherwise a full compile.
//     vNICs given to an earlier apply() but not to this one keep the filter
//     they have.
//   - set_/add_/remove_group_addresses() do not change the generation: they
//     update the address-class map in place, and the next lookup of each
//     changed address sees the new membership (docs/classifier.md). add and
//     remove cost the size of the delta, never the group's size.
//
// Counters: packets and bytes per rule and per direction (and for the
// default rule), counted by each worker in its own cells without atomic
// read-modify-write, summed on read by rule_stats(). They are kept by rule
// id for the Dfw's lifetime: they survive every re-apply that keeps the
// rule id (an edited rule keeps its counts, as in NSX), and a rule id that
// leaves and comes back continues where it was. A packet of a generation
// counts for the rule (by id) that decided it in that generation.
//
// Limits: at most 16 Mi distinct rule ids (the default rule included) over
// the Dfw's lifetime (apply() fails with kResourceExhausted beyond); counter
// memory is 32 bytes per rule id per engine worker slot
// (EngineOptions::max_workers), allocated 1024 ids at a time, returned when
// the Dfw is destroyed.
//
// Thread-safety: every method may be called from any thread; they are
// serialised by the Dfw's own mutex (never taken on the datapath). apply()
// waits for one RCU grace period (Engine::set_filters), so never call it
// from inside a filter's process(). The installed filter is used by the
// datapath as any filter (fw/filter.h). The Dfw must outlive its use of the
// Engine; installed filters keep what they need alive on their own.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fw/policy.h"
#include "fw/status.h"
#include "fw/verdict.h"

namespace fw {

class Engine;

// Hits of one rule, summed over workers. Indexed by Direction.
struct DfwRuleStats {
  std::uint32_t rule_id = 0;
  bool is_default = false;  // the policy's default rule
  std::uint64_t packets[kDirectionCount] = {};
  std::uint64_t bytes[kDirectionCount] = {};  // whole frames, as the engine counts them
};

// What the last successful apply() did.
struct DfwApplyStats {
  bool incremental = false;      // reused the previous policy's structures
  std::size_t rule_lists = 0;    // distinct rule lists of the applied policy
  std::size_t lists_built = 0;   // of which built by this apply
  std::size_t lists_reused = 0;  // of which taken from the previous policy
  std::size_t atoms_added = 0;   // new address-class atoms (all of them when full)
  std::uint64_t generation = 0;  // the engine generation that published it
};

class Dfw {
 public:
  static StatusOr<std::unique_ptr<Dfw>> create(Engine& engine);
  ~Dfw();
  Dfw(const Dfw&) = delete;
  Dfw& operator=(const Dfw&) = delete;

  // Addresses of a vNIC, for rules that name vNICs on their address sides.
  // Takes effect at the next apply() (which is then a full compile).
  void set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses);

  // Validates and compiles `policy` and installs it on every vNIC in
  // `vnic_ids` (slot 2) in one generation. API-set addresses of groups the
  // new policy still has (same id) carry over; those of groups it drops are
  // forgotten. On error nothing changes: the previous policy stays in force
  // everywhere (kNotFound for a vNIC that is not attached, kInvalidArgument
  // for an invalid policy, kResourceExhausted past the rule-id limit).
  Status apply(const Policy& policy, const std::vector<std::uint32_t>& vnic_ids);
  DfwApplyStats last_apply() const;

  // Group addresses set through the API, on top of the group's static
  // members; live for the next packet, no recompilation, no new generation.
  // kFailedPrecondition before the first apply(), kNotFound for an unknown
  // group, kInvalidArgument for a malformed CIDR (nothing changes then).
  //
  // Replaces the group's API-set addresses (costs the old and new lists).
  Status set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses);
  // Adds / removes addresses, costing the size of the delta: set semantics
  // over addresses (removing a /32 out of an added /24 leaves the rest), and
  // an address that is also a static member or in a nested group stays in
  // the group. Removing what is not there is not an error.
  Status add_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs);
  Status remove_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs);
  // The API-set addresses of every group that has some, as CIDRs.
  std::map<std::string, std::vector<Cidr>> group_addresses() const;

  // Hits of every enabled rule of the applied policy in evaluation order,
  // then the default rule. Empty before the first apply().
  std::vector<DfwRuleStats> rule_stats() const;
  // Hits of one rule id of the applied policy (or its default rule);
  // kNotFound otherwise.
  StatusOr<DfwRuleStats> rule_stats(std::uint32_t rule_id) const;

 private:
  struct Impl;
  explicit Dfw(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
