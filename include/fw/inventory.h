// fw/inventory.h — the inventory (VMs, their vNICs, tags and addresses) and
// the incremental evaluation of the policy's groups against it.
//
// The inventory is what the membership feed (fw/feed.h) and, later, switch
// security's IP discovery write into. It evaluates every group of a policy
// (fw/policy.h: static VM and vNIC members, dynamic criteria on tags, VM
// name, OS name and computer name, nested groups, VM exclusions) and hands
// the resulting *address deltas* — group id, CIDRs added, CIDRs removed — to
// a GroupSink, typically the DFW adapter (make_dfw_group_sink), which makes
// them live on the datapath without recompiling rules.
//
// Usage:
//   auto dfw_sink = fw::make_dfw_group_sink(*dfw);
//   auto inventory = fw::Inventory::create({.sink = dfw_sink.get()}).value();
//   fw::StatusOr<std::uint64_t> s = inventory->set_groups(policy);
//   s = inventory->upsert_vm({.id = "vm-1", .name = "web-01",
//                             .tags = {{.scope = "tier", .value = "web"}},
//                             .vnics = {{.id = 3, .addresses = {ip}}}});
//   s = inventory->add_tag("vm-1", {.scope = "env", .value = "prod"});
//   if (s.ok()) fw::Status live = inventory->wait_realized(*s, std::chrono::seconds(1));
//
// Evaluation (docs/groups.md has the full semantics):
//   * Criteria compare case-insensitively (ASCII case folding, as NSX).
//     MATCHES is an ECMAScript regular expression (std::regex, icase),
//     searched anywhere in the value (anchor it with ^...$ to match the
//     whole value); policy validation rejects invalid ones and ones over
//     256 characters, so set_groups() never sees them.
//   * TAG criteria: EQUALS, CONTAINS, STARTS_WITH, ENDS_WITH, IN, MATCHES
//     hold when at least one tag of the VM (in the criterion's scope, any
//     scope when empty) satisfies them; NOT_EQUALS / NOT_IN hold when no tag
//     in the scope equals (one of) the value(s) — a VM without tags matches.
//   * A vNIC is a member of a group when it is not on a VM in
//     exclude_vm_ids and its VM matches the criteria or is in vm_ids, or
//     the vNIC is in vnic_ids, or it is a member of a nested group. A
//     group's dynamic addresses are its member vNICs' addresses. Static
//     CIDRs, ranges and exclude_cidrs are not the inventory's: the policy
//     compiler applies them on top of what the sink receives.
//
// Incremental: a tag change re-evaluates only the groups indexed under that
// tag (criteria EQUALS / NOT_EQUALS / IN / NOT_IN by scope and value, the
// other operators by scope) and the groups nesting them, and only for that
// VM's vNICs; an address change touches only that address in the groups
// that hold its vNIC. Nothing is ever recomputed in full except by
// set_groups() (a new policy).
//
// Realization (as OVN's nb_cfg / hv_cfg): every successful mutating call
// returns a new sequence number. When the sink has applied the call's
// deltas — for the DFW sink, live for the next packet — the realized
// sequence moves to it. If the sink fails, its deltas are kept and retried
// with the next change (or retry_sink()); the realized sequence stays
// behind until they succeed, and realization().last_error says why.
//
// Batches (InventoryBatch, from Inventory::batch()): several mutations
// applied one after the other, each validated and refused on its own as
// alone, but numbered with ONE sequence and handed to the sink in ONE
// GroupSink::apply call at commit(): the deltas of the whole batch, merged
// (an address or vNIC that joins a group and leaves it again inside the
// batch is never sent). The feed consumer applies a burst of messages this
// way (FeedConsumer::apply_messages).
//
// Limits (InventoryOptions): VMs, vNICs per VM, tags per VM, addresses per
// vNIC, string lengths. A call over a limit fails with kResourceExhausted
// or kInvalidArgument and changes nothing.
//
// Thread-safety: every method may be called from any thread; mutating calls
// and queries are serialised by one internal mutex (control plane only, the
// datapath never touches the inventory). The sink is called with that mutex
// held, from the mutating thread: it must not call back into the inventory.
// wait_realized() does not hold the mutex while it waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fw/address.h"
#include "fw/policy.h"
#include "fw/status.h"

namespace fw {

class Dfw;
class InventoryBatch;

// A security tag: scope (may be empty) and value. Identity is exact
// (case-sensitive) — "Web" and "web" are two tags; matching is not.
struct Tag {
  std::string scope;
  std::string value;
  friend bool operator==(const Tag&, const Tag&) = default;
};

// Where a vNIC address came from. An address may have both; it stays in the
// groups until both are gone.
enum class AddressSource : std::uint8_t {
  kDeclared = 1,  // the feed (VM upsert, address add/remove)
  kLearned = 2,   // switch security (ARP/ND/DHCP snooping)
};

struct VnicAddress {
  IpAddress address;
  bool declared = false;
  bool learned = false;
  friend bool operator==(const VnicAddress&, const VnicAddress&) = default;
};

struct VnicSpec {
  std::uint32_t id = 0;
  MacAddress mac;
  std::vector<IpAddress> addresses;  // declared addresses
  friend bool operator==(const VnicSpec&, const VnicSpec&) = default;
};

struct VmSpec {
  std::string id;  // non-empty, unique
  std::string name;
  std::string os_name;
  std::string computer_name;
  std::vector<Tag> tags;        // a set: exact duplicates are folded
  std::vector<VnicSpec> vnics;  // vNIC ids unique across the inventory
  friend bool operator==(const VmSpec&, const VmSpec&) = default;
};

// What the inventory holds about one vNIC.
struct VnicInfo {
  std::uint32_t id = 0;
  MacAddress mac;
  std::vector<VnicAddress> addresses;  // in the order they were first added
  friend bool operator==(const VnicInfo&, const VnicInfo&) = default;
};

struct VmInfo {
  std::string id;
  std::string name;
  std::string os_name;
  std::string computer_name;
  std::vector<Tag> tags;  // in the order they were added
  std::vector<VnicInfo> vnics;
  friend bool operator==(const VmInfo&, const VmInfo&) = default;
};

// One member vNIC of a group, for queries (Inventory::group_members).
struct GroupMember {
  std::string vm_id;
  std::uint32_t vnic_id = 0;
  std::vector<IpAddress> addresses;  // declared or learned, in the order first added
  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// A group's dynamic addresses that changed (host CIDRs: /32, /128).
// For a group with exclude_vm_ids, also the addresses of its excluded VMs
// that changed: the DFW excludes them from the group whatever contributes
// them (nested groups included; Dfw::add_group_exclusions). And the member
// vNICs that joined or left the group, for rules applied to it (dynamic
// applied-to; Dfw::update_group_vnics).
struct GroupDelta {
  std::string group_id;
  std::vector<Cidr> added;
  std::vector<Cidr> removed;
  std::vector<Cidr> excluded_added;
  std::vector<Cidr> excluded_removed;
  std::vector<std::uint32_t> vnics_joined;  // sorted
  std::vector<std::uint32_t> vnics_left;    // sorted
};

// Receives address deltas. apply() gets every changed group of one
// mutating call (or one committed InventoryBatch) at once, each group
// once; it either applies all of them and returns OK, or
// returns an error, and then the inventory will hand the same changes again
// (merged with later ones) on the next call.
class GroupSink {
 public:
  virtual ~GroupSink() = default;
  virtual Status apply(std::span<const GroupDelta> deltas) = 0;
};

// A sink that drives fw::Dfw: each delta becomes the DFW's
// remove_group_addresses / add_group_addresses (cost: the delta's size),
// live for the next packet, no recompilation; the vNICs that joined or left
// groups become one Dfw::update_group_vnics call per batch, which
// re-installs slot 2 on the vNICs whose applied rules changed, only them,
// in one engine generation. Before the DFW's first apply it fails with
// kFailedPrecondition, for a group the DFW's policy does not have with
// kNotFound. The DFW must outlive the sink.
// Thread-safety: called by the inventory (one thread at a time).
std::unique_ptr<GroupSink> make_dfw_group_sink(Dfw& dfw);

struct UpsertOptions {
  // A vNIC the spec lists that another VM owns moves to this VM (it leaves
  // the other VM's groups first) instead of failing with kAlreadyExists.
  // The feed consumer sets it: the latest message is the truth, and a
  // snapshot may list a vNIC's new owner before its old one.
  bool take_over_vnics = false;
};

struct InventoryOptions {
  GroupSink* sink = nullptr;  // not owned; nullptr = keep deltas nowhere (queries still work)
  std::size_t max_vms = 1u << 20;
  std::size_t max_vnics_per_vm = 32;
  std::size_t max_tags_per_vm = 128;
  std::size_t max_addresses_per_vnic = 64;
  std::size_t max_string_length = 256;  // ids, names, tag scopes and values
};

struct Realization {
  std::uint64_t sequence = 0;  // the last sequence handed out
  std::uint64_t realized = 0;  // every change up to this one is applied by the sink
  Status last_error;           // the sink's last failure, OK once it succeeds again
};

struct InventoryStats {
  std::uint64_t group_evaluations = 0;  // (group, vNIC) membership checks
  std::uint64_t addresses_added = 0;    // CIDRs handed to the sink as added
  std::uint64_t addresses_removed = 0;  // ... as removed
  std::uint64_t vnics_joined = 0;       // (group, vNIC) joins handed to the sink
  std::uint64_t vnics_left = 0;         // ... leaves
  std::uint64_t sink_calls = 0;         // GroupSink::apply calls, failed ones included
  std::uint64_t sink_failures = 0;
};

class Inventory {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<Inventory>> create(InventoryOptions options = {});
  ~Inventory();
  Inventory(const Inventory&) = delete;
  Inventory& operator=(const Inventory&) = delete;

  // Replaces the group definitions with the policy's (validated first:
  // kInvalidArgument and nothing changes for an invalid policy). Every
  // group's membership is recomputed; the sink receives, per group that
  // exists in the new policy, the difference from what it last received.
  [[nodiscard]] StatusOr<std::uint64_t> set_groups(const Policy& policy);

  // Creates or replaces a VM: name, OS, computer name, tags and vNICs with
  // their declared addresses. Learned addresses of vNICs the VM keeps stay.
  // kInvalidArgument (empty id, over-long strings, a vNIC twice, an address
  // without family), kAlreadyExists (a vNIC id owned by another VM, unless
  // options.take_over_vnics), kResourceExhausted (limits).
  [[nodiscard]] StatusOr<std::uint64_t> upsert_vm(const VmSpec& vm, UpsertOptions options = {});
  // kNotFound for an unknown VM.
  [[nodiscard]] StatusOr<std::uint64_t> remove_vm(std::string_view vm_id);
  // Adding a tag the VM has, or removing one it lacks, is a no-op that
  // still gets a sequence number. kNotFound for an unknown VM.
  [[nodiscard]] StatusOr<std::uint64_t> add_tag(std::string_view vm_id, const Tag& tag);
  [[nodiscard]] StatusOr<std::uint64_t> remove_tag(std::string_view vm_id, const Tag& tag);
  // Sets / clears one source flag of one address of a vNIC (idempotent).
  // kNotFound for an unknown vNIC.
  [[nodiscard]] StatusOr<std::uint64_t> add_address(std::uint32_t vnic_id, const IpAddress& address,
                                                    AddressSource source);
  [[nodiscard]] StatusOr<std::uint64_t> remove_address(std::uint32_t vnic_id, const IpAddress& address,
                                                       AddressSource source);

  // ---- queries ----
  std::optional<VmInfo> vm(std::string_view vm_id) const;
  std::vector<std::string> vm_ids() const;  // sorted
  std::size_t vm_count() const;
  // The group's dynamic addresses, sorted; kNotFound for an unknown group.
  StatusOr<std::vector<Cidr>> group_addresses(std::string_view group_id) const;
  // The group's member vNIC ids, sorted; kNotFound for an unknown group.
  StatusOr<std::vector<std::uint32_t>> group_vnics(std::string_view group_id) const;
  // The group's member vNICs with their VM and addresses, sorted by vNIC
  // id; kNotFound for an unknown group. Costs the group's size.
  StatusOr<std::vector<GroupMember>> group_members(std::string_view group_id) const;
  // Ids of the groups of the last set_groups(), in policy order.
  std::vector<std::string> group_ids() const;
  // Ids of the groups whose membership changed since the last call — a vNIC
  // joined or left, or a member vNIC gained or lost an address — in policy
  // order (set_groups() counts as a change of every group). For tools that
  // show membership as it changes (fwctl feed). Costs the number of changed
  // groups; a change undone before the call still lists the group.
  std::vector<std::string> take_changed_groups();
  InventoryStats stats() const;

  // ---- realization ----
  Realization realization() const;
  // OK once realized >= sequence; kInvalidArgument for a sequence never
  // handed out; kFailedPrecondition (with the sink's last error, if any)
  // when the timeout passes first.
  [[nodiscard]] Status wait_realized(std::uint64_t sequence, std::chrono::milliseconds timeout) const;
  // Hands pending deltas to the sink again (after a failure).
  [[nodiscard]] Status retry_sink();

  // ---- batches ----
  // Starts a batch of mutations that commit() numbers and hands to the sink
  // as one (InventoryBatch). The batch must not outlive the inventory.
  InventoryBatch batch();

 private:
  friend class InventoryBatch;
  struct Impl;
  explicit Inventory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Several mutations as one change (Inventory::batch()).
//
// Each call does what the Inventory method of the same name does, at once
// and with the same validation: a refused call returns its error and
// changes nothing, and the calls before and after it stand. What a batch
// defers is the hand-over: the calls get no sequence number and the sink
// sees nothing of them until commit(), which hands out ONE sequence for all
// of them and calls GroupSink::apply ONCE with the batch's net deltas — per
// group, the addresses, exclusions and member vNICs whose presence differs
// from what the sink last saw, so an address added and removed again inside
// the batch is never sent. The sink contract is unchanged: if it fails, the
// deltas stay pending, the realized sequence stays behind the batch's, and
// the next change or retry_sink() hands them again merged with newer ones.
//
// Cost: each call costs what it costs alone minus the sink; commit() costs
// one flush of the groups the batch changed (sorted deltas) and one sink
// call, whatever the number of calls.
//
// Queries made while a batch is open see its calls so far (the inventory is
// already changed; only the sink lags). A batch destroyed with calls not
// yet committed commits them.
//
// Thread-safety: a batch is used by one thread at a time. Each call takes
// the inventory's mutex for its own duration only, so other threads may
// query and mutate the inventory meanwhile; a mutation of another thread
// commits, and hands the sink, everything pending, this batch's calls so
// far included (numbered with that mutation's sequence; commit() still
// hands out the batch's own).
class InventoryBatch {
 public:
  InventoryBatch(InventoryBatch&& other) noexcept;
  InventoryBatch& operator=(InventoryBatch&&) = delete;
  InventoryBatch(const InventoryBatch&) = delete;
  InventoryBatch& operator=(const InventoryBatch&) = delete;
  ~InventoryBatch();

  // As the Inventory methods of the same names, without a sequence number.
  [[nodiscard]] Status upsert_vm(const VmSpec& vm, UpsertOptions options = {});
  [[nodiscard]] Status remove_vm(std::string_view vm_id);
  [[nodiscard]] Status add_tag(std::string_view vm_id, const Tag& tag);
  [[nodiscard]] Status remove_tag(std::string_view vm_id, const Tag& tag);
  [[nodiscard]] Status add_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source);
  [[nodiscard]] Status remove_address(std::uint32_t vnic_id, const IpAddress& address, AddressSource source);

  // Calls accepted (not refused) since the last commit().
  std::size_t pending() const noexcept { return pending_; }
  // Numbers the calls accepted since the last commit() with one new
  // sequence and hands their deltas to the sink in one call; returns the
  // sequence (wait_realized() takes it). With no call accepted, hands out
  // nothing and returns the last sequence handed out. A sink failure does
  // not fail the commit (see Realization). kFailedPrecondition on a
  // moved-from batch. The batch stays usable: later calls form the next
  // commit.
  [[nodiscard]] StatusOr<std::uint64_t> commit();

 private:
  friend class Inventory;
  explicit InventoryBatch(Inventory::Impl* impl) : impl_(impl) {}
  template <typename Mutation>
  Status run(Mutation mutation);  // libfw/groups/inventory.cc
  Inventory::Impl* impl_;
  std::size_t pending_ = 0;
};

}  // namespace fw
