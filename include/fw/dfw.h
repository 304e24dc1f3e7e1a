// fw/dfw.h — slot 2: the stateful distributed firewall.
//
// A Dfw compiles a policy (fw/policy.h) and installs it as the slot-2 filter
// of every vNIC it is given. The first packet of a connection is decided by
// the first matching rule of its vNIC's rule list for its direction
// (categories, sections and rules in order; jump-to-application; the default
// rule); an allow creates an entry in the Dfw's connection table
// (fw/conntrack.h, zone = vNIC id) and every later packet of either direction
// is decided by the table alone. docs/stateful-dfw.md has the whole model.
//
// Usage:
//   auto dfw = fw::Dfw::create(*engine).value();          // stateful, default table
//   auto dfw2 = fw::Dfw::create(*engine, {.conntrack = {.capacity = 1 << 20},
//                                         .revalidation = fw::RevalidationMode::kReset}).value();
//   auto stateless = fw::Dfw::create(*engine, {.stateful = false}).value();
//   fw::Status s = dfw->apply(policy, {1, 2, 3});        // compile + install, one generation
//   s = dfw->add_group_addresses("web", {cidr("10.0.1.5/32")});     // live at once
//   s = dfw->remove_group_addresses("web", {cidr("10.0.1.5/32")});
//   policy.categories[4][0].rules[7].action = fw::RuleAction::kDrop;
//   s = dfw->apply(policy, {1, 2, 3});  // incremental: rebuilds only the changed rule lists
//   for (const fw::DfwRuleStats& r : dfw->rule_stats()) ...         // hits per rule
//
// What the slot decides (stateful; Verdict::ct_state says what the table saw):
//   - A packet of a known connection, either direction: kPass with the rule
//     id that admitted the connection; an ICMP/ICMPv6 error RELATED to a
//     connection: kPass likewise. A packet the table refuses (out of window,
//     bad flags, an unrelated ICMP error, mid-stream TCP under TCP strict, a
//     fragment whose first fragment was not admitted): kDrop with
//     DropReason::kConntrackInvalid and no rule.
//   - A first packet: classified. allow -> kPass with the rule id and a new
//     connection (kDrop with kConntrackFull if the table refuses it at a
//     limit), drop -> kDrop (DropReason::kRule, or kDefaultRule for the
//     default rule), reject -> kReject (reason as drop) with the answer
//     frame when the caller asked for answers (ProcessOptions::answers).
//   - Rules of stateless sections bypass tracking: a packet they match is
//     classified every time and creates no connection.
//   - Non-IP frames (ARP, LLDP, ...) are not the DFW's: no opinion (slot 0
//     and switch security handle them).
//   - Non-first fragments are decided like their first fragment (stateful);
//     stateless, they are classified with ports 0, so they never match a rule
//     that names ports.
//
// Policy epochs: each connection records the Dfw's policy generation that
// admitted it (the Dfw counts its own applies, starting at 1; not the
// engine's generation). A connection from an older generation is re-checked
// lazily on its next packet, never by walking the table, as the applied
// policy's `revalidation` says (or DfwOptions::revalidation): kKeep trusts
// the old decision; kRevalidate classifies the connection's original-
// direction 5-tuple against the new policy (allowed: re-stamped with the new
// rule and generation; dropped: the packet is dropped, counted for the
// dropping rule, and the connection removed); kReset removes the connection
// and treats the packet as a first packet (a mid-stream TCP packet is then
// refused under TCP strict). Group membership changes
// (set_/add_/remove_group_addresses) do not move the generation: they apply
// to new connections only.
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
//   - update_group_vnics() (dynamic applied-to: vNICs that joined or left a
//     group, from the inventory) recomputes the rule lists of the vNICs it
//     names only, when a rule is applied to the group, and re-installs slot
//     2 on the vNICs whose lists changed, in one engine generation; other
//     vNICs keep their filter. No recompile; the Dfw's policy generation
//     does not move (established connections keep their decision, as for
//     address changes).
//
// Flow logs: a packet decided by a logged rule (Rule::logged, or the
// policy's default_logged) gets kVerdictLogged in Verdict::flags and, with
// DfwOptions::flow_log, a FlowLogRecord in the worker's ring (fw/flow_log.h,
// docs/flow-logs.md): first packets, stateless rules' packets, revalidation
// drops; never packets decided by their connection. rule_info() gives the
// logger the rule's name and tag.
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
// Connection table: one per Dfw, shared by every vNIC it is applied to (one
// zone per vNIC: vNIC ids must be < DfwOptions::conntrack.zones, default
// 4096), preallocated at create(). Its limits and eviction are ConnTable's
// (fw/conntrack.h); connections() reads its counters.
//
// Thread-safety: every method may be called from any thread; they are
// serialised by the Dfw's own mutex (never taken on the datapath). The
// datapath may process one vNIC from several workers at once when the table
// is CtConcurrency::kShared (the default); with kSingleThread, only one
// worker at a time may process the vNICs of this Dfw. apply()
// waits for one RCU grace period (Engine::set_filters), so never call it
// from inside a filter's process(). The installed filter is used by the
// datapath as any filter (fw/filter.h). The Dfw must outlive its use of the
// Engine; installed filters keep what they need alive on their own.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fw/conntrack.h"
#include "fw/flow_log.h"
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

// vNICs that joined / left a group, as the inventory evaluates it (criteria,
// VM members, nesting and exclusions applied): rules applied to the group
// apply to the joined vNICs and no longer to the left ones.
struct GroupVnicChange {
  std::string group_id;
  std::vector<std::uint32_t> joined;
  std::vector<std::uint32_t> left;
};

// What the last successful update_group_vnics() did.
struct DfwAppliedToStats {
  std::size_t vnics_reinstalled = 0;  // vNICs whose rule lists changed: new slot-2 filter
  std::size_t vnics_unchanged = 0;    // named vNICs whose lists stayed the same
  // Named vNICs whose lists changed but that have no filter of the applied
  // policy (not in the last apply()'s list, or detached from the engine):
  // nothing installed; the membership is kept for the next apply().
  std::size_t vnics_skipped = 0;
  std::size_t lists_built = 0;   // new rule lists (one classifier index each)
  std::size_t lists_found = 0;   // lists that existed with the same rules
  std::uint64_t generation = 0;  // the engine generation published; 0 when none
};

struct DfwOptions {
  // Track connections (the NSX DFW). false: every packet is classified on
  // its own, as if every section were stateless; no table is allocated.
  bool stateful = true;
  // The connection table (fw/conntrack.h): capacity, limits, timeouts, TCP
  // strict/liberal, concurrency. A policy's `tcp_strict: true` also refuses
  // mid-stream pickup when the table's tcp_strict is false (the table's
  // setting cannot be loosened by a policy).
  ConnTableOptions conntrack = {};
  // What happens to connections of an older policy generation on their next
  // packet; nullopt: the applied policy's `revalidation` setting.
  std::optional<RevalidationMode> revalidation;
  // Where the packets of logged rules are recorded (fw/flow_log.h); its
  // workers must be at least the engine's max_workers. nullptr: such
  // packets are only flagged (Verdict::flags & kVerdictLogged).
  std::shared_ptr<FlowLog> flow_log;
};

// A rule of the applied policy, for a flow log's record (Dfw::rule_info).
struct DfwRuleInfo {
  std::uint32_t rule_id = 0;
  bool is_default = false;
  std::string name;        // empty for the default rule
  std::string tag;         // the rule's tag (the policy's default_tag)
  std::string section_id;  // empty for the default rule
  Category category = Category::kApplication;
  RuleAction action = RuleAction::kAllow;
  bool logged = false;
  bool stateless = false;  // its section is stateless
  FlowLogRule log_rule() const noexcept { return {name, tag}; }
};

class Dfw {
 public:
  // kInvalidArgument for bad conntrack options (the message names them).
  static StatusOr<std::unique_ptr<Dfw>> create(Engine& engine, const DfwOptions& options);
  static StatusOr<std::unique_ptr<Dfw>> create(Engine& engine) { return create(engine, DfwOptions{}); }
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
  // Addresses excluded from a group through the API: never in the group,
  // whatever contributes them (static members, API set, nested groups), as
  // exclude_cidrs; the groups nesting it still get them from their other
  // contributors. The inventory's DFW sink excludes the addresses of a
  // group's exclude_vm_ids this way, so an excluded VM that is a member of
  // a nested group is not matched by rules naming the parent. Live for the
  // next packet, cost as add/remove_group_addresses; carried over by
  // apply() for the groups the new policy keeps. Errors as above.
  Status add_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs);
  Status remove_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs);
  std::map<std::string, std::vector<Cidr>> group_exclusions() const;

  // Dynamic applied-to: vNICs that joined / left groups (the inventory's DFW
  // sink calls this; docs/groups.md). A rule whose applied_to_groups names
  // a group applies to its static vNIC members and to the vNICs joined here.
  // For each vNIC named, if a rule is applied to the group, the vNIC's rule
  // lists are recomputed (rules applied everywhere, to the vNIC, to its
  // static groups and to its joined groups, in policy order) and, when they
  // changed, its slot-2 filter is replaced — all such vNICs in ONE engine
  // generation (Engine::set_filters); no other vNIC's filter is touched and
  // nothing is recompiled. Connections already admitted keep their
  // decision (as for address changes); new connections see the new lists.
  // Only vNICs the last apply() installed the policy on are re-installed;
  // others (and detached ones) are skipped and counted, their membership
  // kept for the next apply(), which always includes every joined vNIC.
  // Set semantics: joining twice or leaving what was not joined is a no-op,
  // so a batch handed again after an error converges. Memberships of groups
  // a later apply()'s policy drops are forgotten.
  // Cost: per named vNIC, the merge of its rule positions (its list
  // length), plus one classifier index for each list no vNIC had yet (a
  // vNIC joining a group often gets a list another vNIC already has); plus
  // Engine::set_filters once. Lists made here live until the next apply().
  // kFailedPrecondition before the first apply(), kNotFound for a group the
  // applied policy lacks (nothing changes then); an engine error (nothing
  // installed, the membership is kept: a retry installs it).
  Status update_group_vnics(const std::vector<GroupVnicChange>& changes);
  // The dynamic member vNICs of every group that has some, sorted.
  std::map<std::string, std::vector<std::uint32_t>> group_vnics() const;
  DfwAppliedToStats last_applied_to_update() const;

  // Hits of every enabled rule of the applied policy in evaluation order,
  // then the default rule. Empty before the first apply().
  std::vector<DfwRuleStats> rule_stats() const;
  // Hits of one rule id of the applied policy (or its default rule);
  // kNotFound otherwise.
  StatusOr<DfwRuleStats> rule_stats(std::uint32_t rule_id) const;

  // The name, tag and place of an enabled rule of the applied policy, or of
  // its default rule; kNotFound otherwise (also before the first apply()).
  // A logger resolves FlowLogRecord::rule_id with it; a record written
  // under an older policy (FlowLogRecord::policy_generation below
  // policy_generation()) gets the rule as the current policy has it.
  // Cost: a hash lookup and the strings' copies.
  StatusOr<DfwRuleInfo> rule_info(std::uint32_t rule_id) const;

  // The connection table (nullptr when not stateful): its stats(),
  // zone_connections(), set_zone_limit() are safe from any thread.
  ConnTable* connections() const noexcept;
  // The same table, shared: for slots after the DFW that keep state with
  // each connection (fw/service.h ServiceInsertionOptions::connections).
  std::shared_ptr<ConnTable> shared_connections() const noexcept;
  // The Dfw's policy generation: 0 before the first apply(), +1 per apply.
  std::uint64_t policy_generation() const;

 private:
  struct Impl;
  explicit Dfw(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
