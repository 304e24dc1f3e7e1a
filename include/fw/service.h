// fw/service.h — slot 4: service insertion (redirect to service VMs).
//
// A ServiceInsertion steers chosen traffic of a vNIC through partner
// services (an NGFW or IDS VM, ...) and back, as NSX's Service Composer
// does: an ordered table of redirect rules (the DFW's match model: groups,
// CIDRs, ranges, vNICs, services, applied-to, direction) picks, on a
// connection's first packet, a service chain (or one profile) or "do not
// redirect"; the decision and the service instances chosen are stored with
// the connection, so every later packet of the flow, both directions, takes
// the same path (pinning). The host hands each redirected packet to the
// instance the verdict names and gives it back to Engine::resume() when the
// service returns it. docs/service-insertion.md has the whole model.
//
// Usage:
//   auto dfw = fw::Dfw::create(*engine).value();        // slot 2 tracks connections
//   auto si = fw::ServiceInsertion::create(*engine, {.connections = dfw->shared_connections()}).value();
//   fw::RedirectPolicy rp;
//   rp.profiles.push_back({.id = "ngfw", .service = "pan", .instances = {{.endpoint = 7}},
//                          .failure = fw::FailurePolicy::kFailClosed});
//   rp.rules.push_back({.id = 10, .destinations = {.groups = {"web"}}, .target = "ngfw"});
//   fw::Status s = si->apply(rp, {1, 2, 3});            // installs slot 4 on vNICs 1-3
//   engine->process(*worker, 1, fw::Direction::kFromVm, frames, verdicts);
//   // verdicts[i].action == kRedirect: send frames[i] to verdicts[i].service
//   // (an endpoint handle of the host), keep verdicts[i] with the packet, and
//   // when the service returns it:
//   engine->resume(*worker, 1, fw::Direction::kFromVm, returned_frames, kept_verdicts);
//   si->set_instance_health("ngfw", 0, false);          // the instance is down
//   si->set_flow_verdict(1, frame, fw::FlowVerdict::kAllow);  // offload the flow
//
// What the slot decides for an IP packet (non-IP frames: no opinion):
//   - The connection's service verdict (set_flow_verdict) first: kBlock ->
//     kDrop (DropReason::kServiceFlowBlock); kAllow -> no opinion, the
//     packet skips the services (fast path, like NGFW session offload).
//   - A redirected flow: the next hop of its path (forward direction:
//     the chain's profiles in order; reply direction: in reverse order) ->
//     kRedirect with `service` = the pinned instance's endpoint,
//     `service_hop` = how many hops the packet has already visited, and
//     `rule_id` = the redirect rule. When the last hop returns the packet
//     (Engine::resume), no opinion: the slots after this one decide.
//   - A hop whose pinned instance is down: the profile's failure policy.
//     kFailOpen skips that hop (the packet goes to the next one, or on);
//     kFailClosed drops it (DropReason::kServiceDown, rule = the redirect
//     rule). With `repin_on_failure`, the flow moves to a healthy instance
//     of the same profile instead, when there is one (and stays there).
//   - "do not redirect" (a rule, or no rule matched): no opinion.
//
// Pinning: the first packet of a connection that reaches the slot decides
// (the connection table of the slot-2 DFW, ConnTableOptions; a 32-bit word
// per connection, ConnTable::exchange_service_word, so two workers deciding
// the same new flow at once agree). New flows are spread over the healthy
// instances of each profile by a hash of the flow (both directions hash
// alike). A pinned flow never moves on its own: when its instance fails it
// gets the failure policy (or repin_on_failure); when the instance comes
// back, it returns to it; a new instance takes new flows only. An
// instance's position in ServiceProfile::instances is its identity for
// pinned flows: replacing the endpoint at a position moves that position's
// flows to the new endpoint. Redirect-rule changes apply to new
// connections; established flows keep their path while its profiles exist
// (a flow pinned to a profile that a later apply() removed is treated as
// failed, with that profile's last failure policy). Packets of no
// connection (no stateful DFW, a stateless DFW section, an untracked
// packet) are decided per packet and spread by the same hash over the
// healthy instances, so a flow still sticks to one instance while the set
// of healthy instances does not change.
//
// Limits (apply() says which is exceeded): at most kMaxChainLength
// profiles in a chain, kMaxInstancesPerProfile instances per profile,
// kMaxProfiles distinct profile ids and kMaxRedirectTargets distinct
// (rule id, target path) pairs over the object's lifetime (a pinned flow
// names them by index). Endpoint handles are the host's, non-zero.
//
// Counters (stats()): per profile and instance, packets redirected, skipped
// (fail-open), dropped (fail-closed), reported dropped by the service
// (count_service_drop); per object, flows offloaded and blocked by flow
// verdicts and packets decided by them.
//
// Thread-safety: every method may be called from any thread; control
// methods are serialised by the object's mutex (never taken on the
// datapath). set_flow_verdict(), count_service_drop(), metadata() and
// encapsulation() take no control-plane lock (atomics and the connection
// table's shard lock): callable from datapath threads between bursts.
// set_instance_health() holds the mutex briefly (a map lookup); the health
// it sets is an atomic the next packet reads. apply() waits for an RCU grace period
// (Engine::set_filters): never call it from inside a filter's process().
// The ServiceInsertion must outlive its use of the Engine; installed filters
// keep what they need alive on their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fw/dfw.h"
#include "fw/nsh.h"
#include "fw/policy.h"
#include "fw/status.h"
#include "fw/verdict.h"

namespace fw {

class ConnTable;
class Engine;
class GroupSink;

inline constexpr std::size_t kMaxChainLength = 4;
inline constexpr std::size_t kMaxInstancesPerProfile = 8;
inline constexpr std::size_t kMaxProfiles = 4096;
inline constexpr std::size_t kMaxRedirectTargets = 65535;

enum class FailurePolicy : std::uint8_t {
  kFailOpen = 0,  // skip the service while it is down: traffic passes uninspected
  kFailClosed,    // drop what would go to it while it is down
};

// How the host hands packets to the service (the host builds the bytes):
// the plain frame, or the frame behind a Network Service Header with
// libfw's metadata (fw/nsh.h; ServiceInsertion::nsh_context()).
enum class ServiceEncapsulation : std::uint8_t { kNone = 0, kNsh };

struct ServiceInstance {
  std::uint32_t endpoint = 0;  // the host's handle for this instance (Verdict::service); non-zero
  bool healthy = true;         // initial health on the first apply() that lists it
  friend bool operator==(const ServiceInstance&, const ServiceInstance&) = default;
};

struct ServiceProfile {
  std::string id;       // unique among profiles and chains
  std::string service;  // the partner service it configures (free text, for logs)
  std::vector<ServiceInstance> instances;  // this host's instances, 1..kMaxInstancesPerProfile
  FailurePolicy failure = FailurePolicy::kFailOpen;
  ServiceEncapsulation encapsulation = ServiceEncapsulation::kNone;
  bool repin_on_failure = false;  // move a failed instance's flows to a healthy one
  friend bool operator==(const ServiceProfile&, const ServiceProfile&) = default;
};

struct ServiceChain {
  std::string id;                     // unique among profiles and chains
  std::vector<std::string> profiles;  // forward order, 1..kMaxChainLength, no repeats
  // The NSH service path identifier (24 bits; 0: libfw assigns one).
  std::uint32_t path_id = 0;
  friend bool operator==(const ServiceChain&, const ServiceChain&) = default;
};

enum class RedirectAction : std::uint8_t { kRedirect = 0, kDoNotRedirect };

struct RedirectRule {
  std::uint32_t id = 0;  // unique, non-zero
  std::string name;
  AddressSide sources;
  AddressSide destinations;
  std::vector<std::string> services;          // references into RedirectPolicy::services
  std::vector<ServiceEntry> inline_services;  // empty with no references = any
  std::vector<std::string> applied_to_groups;
  std::vector<std::uint32_t> applied_to_vnics;
  RuleDirection direction = RuleDirection::kInOut;
  RedirectAction action = RedirectAction::kRedirect;
  std::string target;  // kRedirect: a profile id or a chain id
  bool disabled = false;
  friend bool operator==(const RedirectRule&, const RedirectRule&) = default;
};

// The redirect table and what it names. Groups and services have the
// policy's schema (fw/policy.h); group addresses are set through the
// ServiceInsertion's group calls or a group sink, as for the DFW.
struct RedirectPolicy {
  std::vector<Service> services;
  std::vector<Group> groups;
  std::vector<ServiceProfile> profiles;
  std::vector<ServiceChain> chains;
  std::vector<RedirectRule> rules;  // first match; no match = do not redirect
  friend bool operator==(const RedirectPolicy&, const RedirectPolicy&) = default;
};

// Every problem of a redirect policy (empty: valid), each naming where and
// which field, as validate_policy() does for the DFW.
std::vector<PolicyError> validate_redirect_policy(const RedirectPolicy& policy);

// Redirect policies in files: Protobuf text format, JSON or binary of
// fw.v1.RedirectPolicy (libfw/proto/fw/v1/service.proto), chosen as
// load_policy() chooses. Parse errors name the line and field.
StatusOr<RedirectPolicy> parse_redirect_policy_text(std::string_view text);
StatusOr<RedirectPolicy> parse_redirect_policy_json(std::string_view json);
StatusOr<RedirectPolicy> load_redirect_policy(const std::string& path);

// The service's verdict for a whole connection (set_flow_verdict()).
enum class FlowVerdict : std::uint8_t {
  kNone = 0,  // none: redirect as the rules say
  kAllow,     // allow from now on without visiting the services
  kBlock,     // drop every later packet of the connection, both directions
};

struct ServiceInstanceStats {
  std::uint32_t endpoint = 0;
  bool healthy = true;
  std::uint64_t redirected = 0;        // packets sent to it (verdicts kRedirect)
  std::uint64_t skipped = 0;           // packets that skipped it while down (fail-open)
  std::uint64_t dropped_down = 0;      // packets dropped while down (fail-closed)
  std::uint64_t dropped_by_service = 0;  // count_service_drop()
  std::uint64_t flows_pinned = 0;      // connections pinned to it
};
struct ServiceProfileStats {
  std::string id;
  std::vector<ServiceInstanceStats> instances;
};
struct ServiceStats {
  std::vector<ServiceProfileStats> profiles;  // profiles of the applied policy
  std::uint64_t flows_offloaded = 0;   // set_flow_verdict(kAllow) accepted
  std::uint64_t flows_blocked = 0;     // set_flow_verdict(kBlock) accepted
  std::uint64_t packets_fast_path = 0;  // packets that skipped the services by a kAllow verdict
  std::uint64_t packets_flow_blocked = 0;  // packets dropped by a kBlock verdict
  std::uint64_t flows_repinned = 0;    // repin_on_failure moves
};

// Metadata for a redirected packet's Network Service Header (fw/nsh.h
// encodes it): what the service may want to know about the flow.
struct ServiceMetadata {
  std::uint32_t path_id = 0;       // the chain's NSH service path identifier (24 bits)
  std::uint8_t service_index = 0;  // 255 - hops already visited (RFC 8300 SI)
  std::uint32_t rule_id = 0;       // the redirect rule
  std::uint32_t vnic_id = 0;       // the protected vNIC
  std::uint32_t endpoint = 0;      // the instance the packet goes to
  // The first group named on the rule's source / destination side, as its
  // numeric id (group_numeric_id(); 0: the side names no group).
  std::uint32_t source_group = 0;
  std::uint32_t destination_group = 0;
  // The compact id of the protected VM's tags (set_vnic_tags_id(); 0: none).
  std::uint32_t vm_tags_id = 0;
};

struct ServiceInsertionOptions {
  // The connection table that pins flows: the slot-2 DFW's
  // (Dfw::shared_connections()). nullptr: no pinning, every packet is
  // decided on its own (see "Pinning" above).
  std::shared_ptr<ConnTable> connections;
  // The slot the filter is installed in (the NSX service slot by default).
  std::uint8_t slot = 4;
};

class ServiceInsertion {
 public:
  // kInvalidArgument for a bad slot.
  static StatusOr<std::unique_ptr<ServiceInsertion>> create(Engine& engine,
                                                            const ServiceInsertionOptions& options);
  static StatusOr<std::unique_ptr<ServiceInsertion>> create(Engine& engine) {
    return create(engine, ServiceInsertionOptions{});
  }
  ~ServiceInsertion();
  ServiceInsertion(const ServiceInsertion&) = delete;
  ServiceInsertion& operator=(const ServiceInsertion&) = delete;

  // Addresses of a vNIC, for rules naming vNICs on their address sides
  // (taken at the next apply()).
  void set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses);

  // Validates `policy` and installs it in the slot of every vNIC listed, in
  // one engine generation. On error nothing changes (kInvalidArgument with
  // every problem listed, kNotFound for a vNIC that is not attached,
  // kResourceExhausted past a lifetime limit). Instance health carries over
  // by (profile id, position); a position new to a profile starts with its
  // `healthy` value. vNICs of an earlier apply() not listed keep their filter.
  Status apply(const RedirectPolicy& policy, const std::vector<std::uint32_t>& vnic_ids);

  // Group addresses set through the API (as fw::Dfw's): live for the next
  // packet, no new generation; kFailedPrecondition before apply(),
  // kNotFound for a group the policy does not have.
  Status set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses);
  Status add_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs);
  Status remove_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs);
  // Dynamic applied-to, as fw::Dfw::update_group_vnics: vNICs that joined or
  // left groups (the inventory's evaluation; make_service_group_sink passes
  // them). Recomputes the rule lists of the named vNICs only and re-installs
  // slot 4, in one engine generation, on those whose lists changed and that
  // the applied policy is installed on; other vNICs keep their filter. No
  // recompile, no new policy generation; pinned flows keep their path.
  // Groups the redirect policy does not have are remembered for a later
  // apply() and change nothing now. kFailedPrecondition before apply().
  Status update_group_vnics(const std::vector<GroupVnicChange>& changes);

  // Addresses excluded from a group (fw::Dfw::add_group_exclusions): the
  // inventory's exclude_vm_ids across nesting, through the group sink.
  Status add_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs);
  Status remove_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs);

  // Health of an instance by its position in the profile's `instances`:
  // seen by the next packet. kNotFound for an unknown profile or
  // position. Health outlives apply() by (profile id, position).
  Status set_instance_health(const std::string& profile_id, std::size_t position, bool healthy);
  // Runs `probe(profile id, position, endpoint)` for every instance of the
  // applied policy every `period` on a thread of the object's own and sets
  // the instance's health to its answer. Replaces an earlier probe;
  // kInvalidArgument for a zero period. Stopped by stop_health_checks() or
  // the destructor.
  using HealthProbe = std::function<bool(const std::string& profile_id, std::size_t position,
                                         std::uint32_t endpoint)>;
  Status start_health_checks(HealthProbe probe, std::chrono::milliseconds period);
  void stop_health_checks();

  // The service's verdict for the connection of `frame` (an Ethernet frame
  // of vNIC `vnic_id`, either direction, e.g. the packet the service just
  // returned). kNotFound when the frame belongs to no live connection
  // (kFailedPrecondition without a connection table), kInvalidArgument for
  // a frame that does not parse.
  Status set_flow_verdict(std::uint32_t vnic_id, std::span<const std::uint8_t> frame, FlowVerdict verdict);

  // The host reports that a service dropped a packet redirected with `v`.
  void count_service_drop(const Verdict& v) noexcept;

  // NSH metadata for a packet of vNIC `vnic_id` redirected with `v`
  // (fw/nsh.h builds the header). kInvalidArgument if `v` is not a
  // kRedirect, kNotFound if its rule is not a redirect rule of the applied
  // policy. Lock-free (reads the applied configuration): callable per packet.
  StatusOr<ServiceMetadata> metadata(std::uint32_t vnic_id, const Verdict& v) const;
  // The encapsulation the profile of `v`'s instance asks for (kNone when
  // `v` names no instance of the applied policy). Lock-free.
  ServiceEncapsulation encapsulation(const Verdict& v) const noexcept;
  // Group ids as numbers for metadata: assigned 1, 2, ... in order of first
  // appearance in an applied policy, kept for the object's lifetime.
  StatusOr<std::uint32_t> group_numeric_id(const std::string& group_id) const;
  StatusOr<std::string> group_id_of(std::uint32_t numeric_id) const;
  // The compact id of the VM tags of the VM behind `vnic_id` (the host
  // computes it, e.g. from fw::Inventory); 0 forgets it.
  void set_vnic_tags_id(std::uint32_t vnic_id, std::uint32_t tags_id);

  ServiceStats stats() const;
  std::uint64_t policy_generation() const;  // +1 per successful apply()

 private:
  struct Impl;
  explicit ServiceInsertion(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The NSH context (fw/nsh.h) of a redirected packet: SPI = path_id, SI =
// service_index, and as MD type 2 metadata the groups, the rule, the tag
// set id (when set) and the vNIC; `flow_id` too when non-zero. Hand it to
// nsh_encapsulate() when encapsulation() says kNsh.
NshContext nsh_context(const ServiceMetadata& metadata, std::uint64_t flow_id = 0) noexcept;

// A group sink (fw/inventory.h) that drives a ServiceInsertion's group calls.
std::unique_ptr<GroupSink> make_service_group_sink(ServiceInsertion& service);
// A group sink that hands every delta to each sink in turn (e.g. the DFW's
// and the service insertion's); the first failure is returned after all
// sinks have been called.
std::unique_ptr<GroupSink> make_group_sink_fanout(std::vector<GroupSink*> sinks);

}  // namespace fw
