// fw/dfw.h — slot 2: the distributed firewall, stateless for now.
//
// A Dfw compiles a policy (fw/policy.h) and installs it as the slot-2 filter
// of every attached vNIC. Each IP packet is decided by the first matching
// rule of its vNIC's rule list for its direction (categories, sections and
// rules in order; jump-to-application; the default rule). Connection tracking
// comes with the conntrack component; until then every packet is classified
// on its own, as a stateless section would be.
//
// Usage:
//   auto dfw = fw::Dfw::create(*engine).value();
//   fw::Status s = dfw->apply(policy);                   // compile + install
//   s = dfw->set_group_addresses("web", {cidr("10.0.1.5/32")});  // live at once
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
// Generations: apply() installs the new filter vNIC by vNIC, each through
// Engine::set_filter (one generation per vNIC; every burst still sees one
// whole chain). set_group_addresses() does not change the generation: it
// updates the address-class map in place, and the next lookup of each
// changed address sees the new membership (docs/classifier.md).
//
// Thread-safety: control methods (apply, set_group_addresses, attach
// bookkeeping) from one control thread at a time; the installed filter is
// used by the datapath as any filter (fw/filter.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fw/policy.h"
#include "fw/status.h"

namespace fw {

class Engine;

class Dfw {
 public:
  static StatusOr<std::unique_ptr<Dfw>> create(Engine& engine);
  ~Dfw();
  Dfw(const Dfw&) = delete;
  Dfw& operator=(const Dfw&) = delete;

  // Addresses of a vNIC, for rules that name vNICs on their address sides.
  // Takes effect at the next apply().
  void set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses);

  // Validates and compiles `policy` and installs it on every vNIC in
  // `vnic_ids` (slot 2). On error nothing changes: the previous policy
  // stays in force everywhere.
  Status apply(const Policy& policy, const std::vector<std::uint32_t>& vnic_ids);

  // Replaces the addresses of group `group_id` set through the API (on top
  // of its static members); live for the next packet, no recompilation.
  // kFailedPrecondition before the first apply(), kNotFound for an unknown
  // group.
  Status set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses);

 private:
  struct Impl;
  explicit Dfw(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
