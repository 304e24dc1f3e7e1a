// fw/switch_security.h — slot 1: switch security (SpoofGuard, ARP/ND/DHCP
// snooping), in the manner of NSX SpoofGuard and OVN port security.
//
// Each protected vNIC has a binding set: its MAC (the engine's VnicConfig::mac)
// and its IPv4/IPv6 addresses, each declared (by the API, typically fed from
// the membership feed) or learned (trust on first use: ARP, IPv6 neighbour
// discovery including DAD, DHCP ACKs). Frames from the VM whose source MAC or
// IP is not bound, ARP/ND that claims an address the vNIC does not own, and
// DHCP server / router advertisement messages from the VM are dropped with a
// SwitchSecurityReason, counted per vNIC.
//
// Usage:
//   auto ss = fw::SwitchSecurity::create(*engine, {.max_addresses_per_vnic = 16,
//                                                  .listener = listener.get()}).value();
//   fw::Status s = ss->protect({.vnic_id = 1, .mode = fw::BindingMode::kTrustOnFirstUse,
//                               .declared = {*fw::parse_ip("10.0.0.5")}});
//   // ... workers run Engine::process(); slot 1 enforces and queues what it
//   // learns. A control thread applies what was learned, every few ms:
//   fw::StatusOr<fw::PollReport> r = ss->poll(std::chrono::steady_clock::now());
//
// Learning (no allocation or lock on the datapath): the slot records a
// candidate binding in a bounded single-producer ring of (vNIC, worker);
// poll() drains the rings, applies limits and uniqueness, publishes the vNIC's
// new immutable binding table (RCU: the pointer swap is one atomic store, the
// old table is freed after a grace period), and reports learned additions and
// removals to the BindingListener (make_inventory_binding_listener: learned
// addresses enter the inventory and so the groups).
//
// When a learned address starts to pass: the packet that *claims* an unbound
// address (an ARP with that sender IP, an NA with that target) is dropped
// with kLearning and queued; the address passes from the first burst that
// starts after the poll() that bound it returns. Probes that claim nothing
// yet (ARP probe from 0.0.0.0, DAD NS from ::) pass and queue their target.
// A DHCP ACK towards the VM passes (it is the server's) and queues yiaddr,
// with the lease as lifetime; a DHCPv6 REPLY towards the VM (to its MAC, or
// naming its MAC in the client's DUID) queues the addresses of its IA_NA /
// IA_TA options with their valid lifetimes (0 unlearns), and a DHCPv6
// RELEASE / DECLINE from the VM unlearns its addresses.
// docs/switch-security.md explains the choices.
//
// Drop verdicts: action kDrop, slot = the filter's slot, reason
// DropReason::kRule, rule_id = the SwitchSecurityReason value (1..).
// Packets that pass keep their verdict unchanged (the slot has no opinion
// on what is allowed, only on what is forged).
//
// Limits: max_addresses_per_vnic (declared + learned): add_declared fails
// with kResourceExhausted; a learning claim at the bound is dropped with
// kAddressLimit on the datapath, or refused and counted in poll() if two
// claims race for the last place. learn_queue_capacity per (vNIC, worker):
// a full ring drops the candidate (not the packet; the claim itself stays
// dropped) and counts learn_queue_full; the VM's retry learns it later.
//
// Thread-safety: control methods (create, protect, unprotect, add_declared,
// remove_declared, poll, bindings, counters, report) may be called from any
// thread; they are serialised by one internal mutex that the datapath never
// takes, and protect/unprotect/add_declared/remove_declared/poll may wait
// one RCU grace period (never call them from inside Engine::process()).
// The filter's process() runs only inside Engine::process() (it relies on
// the engine's RCU read-side section) and is safe on several workers for the
// same vNIC. The listener is called from poll(), on the polling thread, with
// the internal mutex held: it must not call back into this SwitchSecurity.
// The SwitchSecurity must be destroyed before the Engine.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "fw/address.h"
#include "fw/status.h"
#include "fw/verdict.h"

namespace fw {

class Engine;
class Inventory;

// Why slot 1 dropped a packet. Values and names never change meaning; new
// reasons are appended before kCount. A drop verdict carries the value as
// its rule_id.
enum class SwitchSecurityReason : std::uint8_t {
  kNone = 0,
  kSourceMac,           // Ethernet source MAC is not the vNIC's
  kSourceIp,            // IPv4/IPv6 source address not bound to the vNIC
  kArpSenderMac,        // ARP sender hardware address is not the vNIC's
  kArpSenderIp,         // ARP sender IP not bound (declared-only, or learning off)
  kNdTarget,            // NA target address not bound
  kNdLinkAddress,       // ND source/target link-layer option is not the vNIC's MAC
  kRogueDhcpServer,     // DHCP server/relay message (BOOTREPLY or from port 67; DHCPv6 from 547 or to 546) from the VM
  kRogueRouter,         // router advertisement or redirect from the VM
  kLearning,            // a claim of an unbound address, queued for learning
  kAddressLimit,        // a claim that would be learned, but the vNIC is at its bound
  kWrongVnic,           // the filter was installed on a vNIC it was not built for
  kCount
};
inline constexpr std::size_t kSwitchSecurityReasonCount =
    static_cast<std::size_t>(SwitchSecurityReason::kCount);
// "source-mac", "source-ip", ... (kebab-case, stable).
std::string_view switch_security_reason_name(SwitchSecurityReason r) noexcept;
// The Verdict::reason of a slot-1 drop: DropReason::kSpoofGuard for a
// source (MAC, IP, ARP sender, ND target or link-layer address) the vNIC
// does not own or has not bound — learning and the address limit included;
// DropReason::kRule for rogue DHCP servers and routers and a filter on the
// wrong vNIC (policy, not spoofing).
constexpr DropReason switch_security_drop_reason(SwitchSecurityReason r) noexcept {
  switch (r) {
    case SwitchSecurityReason::kRogueDhcpServer:
    case SwitchSecurityReason::kRogueRouter:
    case SwitchSecurityReason::kWrongVnic:
    case SwitchSecurityReason::kNone:
    case SwitchSecurityReason::kCount:
      return DropReason::kRule;
    default:
      return DropReason::kSpoofGuard;
  }
}

enum class BindingMode : std::uint8_t {
  kTrustOnFirstUse = 0,  // learn from ARP, ND (NA, DAD), DHCP ACKs and DHCPv6 REPLYs, up to the bound
  kDeclaredOnly,         // only declared addresses pass; nothing is learned
};

// What link-local source addresses (IPv4 169.254.0.0/16, IPv6 fe80::/10)
// need to pass.
enum class LinkLocalPolicy : std::uint8_t {
  kAllow = 0,  // any link-local address passes without a binding (they do not route)
  kBind,       // like any other address: declared, or learned in TOFU mode
};

struct VnicSecurityConfig {
  std::uint32_t vnic_id = 0;  // must be attached to the engine
  BindingMode mode = BindingMode::kTrustOnFirstUse;
  LinkLocalPolicy link_local = LinkLocalPolicy::kAllow;
  // A VM that is a DHCP server (or relay) / an IPv6 router may send those.
  bool trusted_dhcp_server = false;
  bool trusted_router = false;
  std::vector<IpAddress> declared;  // initial declared addresses
};

// Where a binding came from; an address may be both (it stays bound until
// both are gone).
struct Binding {
  IpAddress address;
  bool declared = false;
  bool learned = false;
  // Learned only: when the learned flag lapses (time_point::max() = never).
  std::chrono::steady_clock::time_point expires;
};

enum class BindingChangeKind : std::uint8_t { kLearned = 0, kUnlearned };

// A learned binding that appeared or went away (expiry, DHCP release,
// unprotect, a switch to declared-only). Refreshes are not reported.
struct BindingChange {
  std::uint32_t vnic_id = 0;
  IpAddress address;
  BindingChangeKind kind = BindingChangeKind::kLearned;
};

// Receives learned-binding changes, once per poll() that has any.
class BindingListener {
 public:
  virtual ~BindingListener() = default;
  virtual Status on_bindings(std::span<const BindingChange> changes) = 0;
};

// Feeds learned bindings into an inventory: kLearned -> add_address(vnic,
// address, AddressSource::kLearned), kUnlearned -> remove_address(...,
// kLearned). Every change is attempted; the first error (e.g. kNotFound for
// a vNIC the inventory does not know) is returned. The inventory must
// outlive the listener. Lock order: switch security, then inventory.
std::unique_ptr<BindingListener> make_inventory_binding_listener(Inventory& inventory);

struct SwitchSecurityOptions {
  // Declared + learned addresses per vNIC (1..kMaxAddressesPerVnic).
  std::size_t max_addresses_per_vnic = 16;
  // Candidate bindings queued per (vNIC, worker) between two polls (1..4096,
  // rounded up to a power of two).
  std::size_t learn_queue_capacity = 32;
  // Lifetime of a binding learned from ARP/ND (DHCP: the lease), extended
  // each time the VM uses the address in ARP/ND again. zero() = never expires.
  std::chrono::seconds learned_lifetime = std::chrono::hours(1);
  // Refuse to learn an address another protected vNIC has bound (counted in
  // PollReport::refused_conflict). Declared addresses are never refused for
  // this: the declaring authority is trusted.
  bool exclusive_learning = true;
  BindingListener* listener = nullptr;  // not owned
};

inline constexpr std::size_t kMaxAddressesPerVnic = 1024;

// Per-vNIC counters summed over workers (datapath) plus the control side's.
struct SwitchSecurityCounters {
  std::uint32_t vnic_id = 0;
  std::array<std::uint64_t, kSwitchSecurityReasonCount> drops{};  // by reason
  std::uint64_t checked = 0;           // from-VM packets the slot examined
  std::uint64_t learn_queued = 0;      // candidates queued by the datapath
  std::uint64_t learn_queue_full = 0;  // candidates lost to a full ring
  std::uint64_t learned = 0;           // learned bindings created by poll()
  std::uint64_t refreshed = 0;         // learned bindings whose lifetime was extended
  std::uint64_t expired = 0;           // learned bindings that lapsed
  std::uint64_t released = 0;          // learned bindings removed by a DHCP release
  std::uint64_t refused_limit = 0;     // candidates refused at max_addresses_per_vnic
  std::uint64_t refused_conflict = 0;  // candidates bound to another vNIC (exclusive_learning)
  std::uint64_t drop(SwitchSecurityReason r) const noexcept {
    return drops[static_cast<std::size_t>(r)];
  }
};

// What one poll() did, over every vNIC.
struct PollReport {
  std::size_t candidates = 0;  // candidates drained from the rings
  std::size_t learned = 0;
  std::size_t refreshed = 0;
  std::size_t expired = 0;
  std::size_t released = 0;
  std::size_t refused_limit = 0;
  std::size_t refused_conflict = 0;
  std::size_t published = 0;   // vNICs whose binding table was republished
  Status listener_status;      // the listener's answer (OK if not called)
};

class SwitchSecurity {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<SwitchSecurity>> create(
      Engine& engine, const SwitchSecurityOptions& options = {});
  ~SwitchSecurity();
  SwitchSecurity(const SwitchSecurity&) = delete;
  SwitchSecurity& operator=(const SwitchSecurity&) = delete;

  const SwitchSecurityOptions& options() const noexcept;

  // Builds the vNIC's slot-1 filter and installs it (Engine::set_filter in
  // kSlotSwitchSecurity). On a vNIC already protected, replaces its
  // configuration and keeps its bindings and counters, except: a switch to
  // kDeclaredOnly removes the learned bindings (reported as kUnlearned), and
  // `declared` replaces the declared set. kInvalidArgument (address without
  // family, more declared than the bound), kNotFound (vNIC not attached).
  [[nodiscard]] Status protect(const VnicSecurityConfig& config);
  // Clears slot 1 of the vNIC and forgets its bindings (learned ones reported
  // as kUnlearned). kNotFound if not protected. Call before detaching a vNIC.
  [[nodiscard]] Status unprotect(std::uint32_t vnic_id);
  // Sets / clears the declared flag of one address; live when the call
  // returns. Idempotent. kNotFound (not protected), kResourceExhausted (at
  // the bound), kInvalidArgument (no family).
  [[nodiscard]] Status add_declared(std::uint32_t vnic_id, const IpAddress& address);
  [[nodiscard]] Status remove_declared(std::uint32_t vnic_id, const IpAddress& address);

  // Applies the queued candidates and expires learned bindings whose lifetime
  // ended at or before `now` (a caller-supplied monotonic time: the same
  // clock must be used for every call). Publishes changed tables (one grace
  // period when any changed), then calls the listener.
  [[nodiscard]] StatusOr<PollReport> poll(std::chrono::steady_clock::time_point now);

  // The vNIC's bindings, sorted by family then address. kNotFound if not protected.
  [[nodiscard]] StatusOr<std::vector<Binding>> bindings(std::uint32_t vnic_id) const;
  [[nodiscard]] StatusOr<SwitchSecurityCounters> counters(std::uint32_t vnic_id) const;

  struct Impl;

 private:
  explicit SwitchSecurity(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
