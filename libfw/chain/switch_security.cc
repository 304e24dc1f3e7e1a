// Slot 1, switch security: per-vNIC binding tables published through RCU,
// learning through per-(vNIC, worker) single-producer rings drained by poll().
//
// Datapath layout per vNIC (VnicState, shared by the installed filter and
// the control side):
//   table     atomic pointer to an immutable BindingTable (linear array of
//             16-byte addresses: a vNIC has a handful, a scan of 16 entries
//             is cheaper than any hash); replaced by poll()/add_declared(),
//             freed after rcu::synchronize().
//   rings     one LearnRing per worker: the worker is the only producer,
//             poll() (under the control mutex) the only consumer.
//   counters  one cache-line-aligned block per worker.
// The control side keeps the authoritative std::map of bindings per vNIC
// and rebuilds a vNIC's table whenever its address set changes.
#include "fw/switch_security.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <mutex>

#include "fw/chain.h"
#include "fw/engine.h"
#include "fw/filter.h"
#include "libfw/chain/switch_security_dhcpv6.h"
#include "libfw/core/counter.h"
#include "libfw/core/rcu.h"

namespace fw {
namespace {

using Clock = std::chrono::steady_clock;
namespace ssi = switch_security_internal;

constexpr std::uint8_t kIcmpv6RouterAdvertisement = 134;
constexpr std::uint8_t kIcmpv6NeighborSolicitation = 135;
constexpr std::uint8_t kIcmpv6NeighborAdvertisement = 136;
constexpr std::uint8_t kIcmpv6Redirect = 137;
constexpr std::uint8_t kIcmpv6MldReport = 131;
constexpr std::uint8_t kIcmpv6Mld2Report = 143;
constexpr std::uint8_t kDhcpBootReply = 2;
constexpr std::uint8_t kDhcpBootRequest = 1;
constexpr std::uint8_t kDhcpAck = 5;
constexpr std::uint8_t kDhcpRelease = 7;
constexpr std::uint32_t kDhcpInfiniteLease = 0xffffffff;

// An address as two words for the datapath's compare (native byte order:
// only equality is ever asked of it).
struct Words {
  std::uint64_t hi = 0, lo = 0;
  IpFamily family = IpFamily::kNone;
};

inline Words words_of(const IpAddress& a) noexcept {
  Words w;
  std::memcpy(&w.hi, a.bytes.data(), 8);
  std::memcpy(&w.lo, a.bytes.data() + 8, 8);
  w.family = a.family;
  return w;
}

inline IpAddress address_of(const Words& w) noexcept {
  IpAddress a;
  a.family = w.family;
  std::memcpy(a.bytes.data(), &w.hi, 8);
  std::memcpy(a.bytes.data() + 8, &w.lo, 8);
  return a;
}

inline bool is_zero(const IpAddress& a) noexcept {
  Words w = words_of(a);
  return (w.hi | w.lo) == 0;
}

inline bool is_link_local(const IpAddress& a) noexcept {
  if (a.family == IpFamily::kIpv4) return a.bytes[0] == 169 && a.bytes[1] == 254;
  return a.family == IpFamily::kIpv6 && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

struct TableEntry {
  std::uint64_t hi = 0, lo = 0;
  IpFamily family = IpFamily::kNone;
  bool learned = false;
  // Set by the first worker that queues a refresh of this learned binding,
  // so a chatty VM queues one refresh per poll, not one per ARP. Cleared by
  // poll() after draining (or implicitly by publishing a new table).
  mutable std::atomic<std::uint8_t> refresh_queued{0};
};

struct BindingTable {
  std::size_t count = 0;
  std::unique_ptr<TableEntry[]> entries;

  const TableEntry* find(const IpAddress& a) const noexcept {
    const Words w = words_of(a);
    for (std::size_t i = 0; i < count; ++i) {
      const TableEntry& e = entries[i];
      if (e.hi == w.hi && e.lo == w.lo && e.family == w.family) return &e;
    }
    return nullptr;
  }
};

enum class CandidateKind : std::uint8_t {
  kClaim = 0,   // ARP sender IP / NA target not yet bound
  kProbe,       // ARP probe target / DAD target (tentative address)
  kDhcpAck,     // yiaddr of an ACK (IPv6: an address of a REPLY) towards the VM; lease_seconds valid
  kDhcpRelease, // ciaddr of a RELEASE from the VM (IPv6: RELEASE/DECLINE, or a REPLY's lifetime 0)
  kRefresh,     // a learned binding the VM used again in ARP/ND
};

struct Candidate {
  std::uint64_t hi = 0, lo = 0;
  std::uint32_t lease_seconds = 0;
  IpFamily family = IpFamily::kNone;
  CandidateKind kind = CandidateKind::kClaim;
};

// Single producer (the worker with this index), single consumer (poll(),
// under the control mutex). head/tail on their own cache lines.
struct LearnRing {
  alignas(internal::kCacheLine) std::atomic<std::uint32_t> head{0};  // next write, by the worker
  alignas(internal::kCacheLine) std::atomic<std::uint32_t> tail{0};  // next read, by poll()
  std::unique_ptr<Candidate[]> slots;
  std::uint32_t mask = 0;

  bool push(const Candidate& c) noexcept {
    const std::uint32_t h = head.load(std::memory_order_relaxed);
    if (h - tail.load(std::memory_order_acquire) > mask) return false;
    slots[h & mask] = c;
    head.store(h + 1, std::memory_order_release);
    return true;
  }
  template <typename F>
  std::size_t drain(F&& f) {
    const std::uint32_t h = head.load(std::memory_order_acquire);
    std::uint32_t t = tail.load(std::memory_order_relaxed);
    const std::size_t n = h - t;
    for (; t != h; ++t) f(slots[t & mask]);
    tail.store(t, std::memory_order_release);
    return n;
  }
};

enum CounterIndex : std::size_t {
  kCounterChecked = kSwitchSecurityReasonCount,
  kCounterQueued,
  kCounterQueueFull,
  kCounterCount,
};

struct alignas(internal::kCacheLine) CounterBlock {
  internal::SingleWriterCounter c[kCounterCount];
};

// Shared by the installed filter(s) of one vNIC and the control side; freed
// when the last holder lets go, which for a filter is after the engine's
// grace period, so no worker can still read it.
struct VnicState {
  std::uint32_t vnic_id = 0;
  std::uint32_t max_addresses = 0;
  std::uint32_t workers = 0;
  std::atomic<const BindingTable*> table{nullptr};
  std::unique_ptr<LearnRing[]> rings;
  std::unique_ptr<CounterBlock[]> counters;

  ~VnicState() { delete table.load(std::memory_order_relaxed); }
};

class SwitchSecurityFilter final : public Filter {
 public:
  SwitchSecurityFilter(const VnicSecurityConfig& config, std::shared_ptr<VnicState> state)
      : learning_(config.mode == BindingMode::kTrustOnFirstUse),
        allow_link_local_(config.link_local == LinkLocalPolicy::kAllow),
        trusted_dhcp_server_(config.trusted_dhcp_server),
        trusted_router_(config.trusted_router),
        state_(std::move(state)) {}

  std::string_view kind() const noexcept override { return "switch-security"; }

  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    VnicState& st = *state_;
    // Workers beyond the state's rows share the last counter row (counts may
    // race, never corrupt) and do not learn (a ring has one producer).
    const std::uint32_t row = std::min(ctx.worker_index, st.workers - 1);
    Run run{*this, ctx, st.table.load(std::memory_order_acquire), st.counters[row],
            ctx.worker_index < st.workers ? &st.rings[row] : nullptr, st.max_addresses};
    if (ctx.vnic_id != st.vnic_id) {
      for (const std::uint16_t i : active) run.drop(verdicts[i], SwitchSecurityReason::kWrongVnic);
      return;
    }
    if (ctx.direction == Direction::kToVm) {
      if (learning_)
        for (const std::uint16_t i : active) run.snoop_to_vm(ctx.packets[i]);
      return;
    }
    for (const std::uint16_t i : active) {
      run.counters.c[kCounterChecked].add(1);
      const SwitchSecurityReason r = run.check(ctx.packets[i]);
      if (r != SwitchSecurityReason::kNone) run.drop(verdicts[i], r);
    }
  }

 private:
  // One burst's view: what every check needs, loaded once.
  struct Run {
    const SwitchSecurityFilter& f;
    const BurstContext& ctx;
    const BindingTable* table;
    CounterBlock& counters;
    LearnRing* ring;
    std::uint32_t max_addresses;

    void drop(Verdict& v, SwitchSecurityReason r) noexcept {
      counters.c[static_cast<std::size_t>(r)].add(1);
      decide(v, ctx, Action::kDrop, static_cast<std::uint32_t>(r), switch_security_drop_reason(r));
    }
    const TableEntry* find(const IpAddress& a) const noexcept {
      return table != nullptr ? table->find(a) : nullptr;
    }
    bool full() const noexcept { return table != nullptr && table->count >= max_addresses; }
    bool free_pass(const IpAddress& a) const noexcept { return f.allow_link_local_ && is_link_local(a); }

    void enqueue(const IpAddress& a, CandidateKind kind, std::uint32_t lease = 0) noexcept {
      if (ring == nullptr) return;
      const Words w = words_of(a);
      if (ring->push({.hi = w.hi, .lo = w.lo, .lease_seconds = lease, .family = a.family, .kind = kind}))
        counters.c[kCounterQueued].add(1);
      else
        counters.c[kCounterQueueFull].add(1);
    }
    void refresh(const TableEntry& e, const IpAddress& a) noexcept {
      if (!e.learned || e.refresh_queued.load(std::memory_order_relaxed) != 0) return;
      e.refresh_queued.store(1, std::memory_order_relaxed);
      enqueue(a, CandidateKind::kRefresh);
    }
    // `a` is claimed (ARP sender, NA target) and is not bound.
    SwitchSecurityReason claim(const IpAddress& a, SwitchSecurityReason refused) noexcept {
      if (!f.learning_) return refused;
      if (full()) return SwitchSecurityReason::kAddressLimit;
      enqueue(a, CandidateKind::kClaim);
      return SwitchSecurityReason::kLearning;
    }
    // `a` is probed (ARP probe, DAD): it passes, and is queued if learnable.
    void probe(const IpAddress& a) noexcept {
      if (!f.learning_ || a.family == IpFamily::kNone || is_zero(a) || free_pass(a) || full()) return;
      if (find(a) == nullptr) enqueue(a, CandidateKind::kProbe);
    }

    SwitchSecurityReason check(const PacketView& p) noexcept {
      if (p.src_mac != ctx.vnic_mac) return SwitchSecurityReason::kSourceMac;
      switch (p.l3) {
        case L3Kind::kArp: return check_arp(p.arp);
        case L3Kind::kIpv4: return check_ipv4(p);
        case L3Kind::kIpv6: return check_ipv6(p);
        case L3Kind::kNone: break;
      }
      return SwitchSecurityReason::kNone;
    }

    SwitchSecurityReason check_arp(const ArpInfo& arp) noexcept {
      if (arp.sender_mac != ctx.vnic_mac) return SwitchSecurityReason::kArpSenderMac;
      if (is_zero(arp.sender_ip)) {  // RFC 5227 probe: claims nothing yet
        probe(arp.target_ip);
        return SwitchSecurityReason::kNone;
      }
      if (const TableEntry* e = find(arp.sender_ip)) {
        refresh(*e, arp.sender_ip);
        return SwitchSecurityReason::kNone;
      }
      if (free_pass(arp.sender_ip)) return SwitchSecurityReason::kNone;
      return claim(arp.sender_ip, SwitchSecurityReason::kArpSenderIp);
    }

    SwitchSecurityReason check_ipv4(const PacketView& p) noexcept {
      if (p.is_dhcp) {
        // A BOOTREPLY, or anything from the server port (a relay), is the
        // server side of DHCP: a VM that is not trusted must not send it.
        if ((p.dhcp.op == kDhcpBootReply || p.src_port == kUdpPortDhcpServer) && !f.trusted_dhcp_server_)
          return SwitchSecurityReason::kRogueDhcpServer;
        // DISCOVER/REQUEST before the client has an address.
        if (is_zero(p.src_ip) && p.dhcp.op == kDhcpBootRequest) return SwitchSecurityReason::kNone;
      }
      if (find(p.src_ip) == nullptr && !free_pass(p.src_ip)) return SwitchSecurityReason::kSourceIp;
      if (p.is_dhcp && p.dhcp.op == kDhcpBootRequest && p.dhcp.message_type == kDhcpRelease &&
          f.learning_) {
        if (const TableEntry* e = find(p.dhcp.client_ip); e != nullptr && e->learned)
          enqueue(p.dhcp.client_ip, CandidateKind::kDhcpRelease);
      }
      return SwitchSecurityReason::kNone;
    }

    SwitchSecurityReason check_ipv6(const PacketView& p) noexcept {
      const bool unspecified = is_zero(p.src_ip);
      // DHCPv6: anything from the server/relay port, or to the client port,
      // is the server side (ADVERTISE, REPLY, RECONFIGURE, RELAY-REPL...).
      if (p.protocol == kIpProtoUdp && p.has_l4 &&
          (p.src_port == ssi::kDhcpv6ServerPort || p.dst_port == ssi::kDhcpv6ClientPort) &&
          !f.trusted_dhcp_server_)
        return SwitchSecurityReason::kRogueDhcpServer;
      if (p.is_nd) {
        const auto type = static_cast<std::uint8_t>(p.dst_port >> 8);
        if ((type == kIcmpv6RouterAdvertisement || type == kIcmpv6Redirect) && !f.trusted_router_)
          return SwitchSecurityReason::kRogueRouter;
        if ((p.nd.has_source_link_address && p.nd.source_link_address != ctx.vnic_mac) ||
            (p.nd.has_target_link_address && p.nd.target_link_address != ctx.vnic_mac))
          return SwitchSecurityReason::kNdLinkAddress;
        if (type == kIcmpv6NeighborSolicitation && unspecified) {  // DAD (RFC 4862)
          probe(p.nd.target);
          return SwitchSecurityReason::kNone;
        }
        if (type == kIcmpv6NeighborAdvertisement) {
          if (const TableEntry* e = find(p.nd.target)) {
            refresh(*e, p.nd.target);
          } else if (!free_pass(p.nd.target)) {
            return claim(p.nd.target, SwitchSecurityReason::kNdTarget);
          }
        }
      }
      if (unspecified) {
        // MLD reports precede DAD (RFC 3810 section 5.2.13, RFC 4862 5.4.2).
        const bool mld_report = p.protocol == kIpProtoIcmpv6 && p.has_l4 &&
                                ((p.dst_port >> 8) == kIcmpv6Mld2Report || (p.dst_port >> 8) == kIcmpv6MldReport);
        return mld_report ? SwitchSecurityReason::kNone : SwitchSecurityReason::kSourceIp;
      }
      if (find(p.src_ip) == nullptr && !free_pass(p.src_ip)) return SwitchSecurityReason::kSourceIp;
      if (f.learning_ && is_dhcpv6(p, ssi::kDhcpv6ClientPort, ssi::kDhcpv6ServerPort)) snoop_dhcpv6_release(p);
      return SwitchSecurityReason::kNone;
    }

    // A whole (unfragmented) UDP datagram between the given ports.
    static bool is_dhcpv6(const PacketView& p, std::uint16_t src_port, std::uint16_t dst_port) noexcept {
      return p.l3 == L3Kind::kIpv6 && p.protocol == kIpProtoUdp && p.has_l4 && !p.is_fragment &&
             p.src_port == src_port && p.dst_port == dst_port;
    }

    // From the VM: a RELEASE or DECLINE gives up the addresses of its IAs.
    void snoop_dhcpv6_release(const PacketView& p) noexcept {
      ssi::Dhcpv6Message m;
      if (ssi::parse_dhcpv6(p.payload(), m) != ssi::Dhcpv6Result::kOk) return;
      if (m.type != ssi::kDhcpv6Release && m.type != ssi::kDhcpv6Decline) return;
      for (std::size_t i = 0; i < m.lease_count; ++i) {
        const IpAddress& a = m.leases[i].address;
        if (const TableEntry* e = find(a); e != nullptr && e->learned) enqueue(a, CandidateKind::kDhcpRelease);
      }
    }

    // Towards the VM: a DHCPv6 REPLY for this vNIC (sent to its MAC, or
    // naming its MAC in the client's DUID) teaches the addresses of its
    // IA_NA / IA_TA options, with the valid lifetime as the binding's; a
    // valid lifetime of 0 (the server withdrawing an address) unlearns.
    void snoop_dhcpv6_reply(const PacketView& p) noexcept {
      ssi::Dhcpv6Message m;
      if (ssi::parse_dhcpv6(p.payload(), m) != ssi::Dhcpv6Result::kOk) return;
      if (m.type != ssi::kDhcpv6Reply || m.status != 0 || m.lease_count == 0) return;
      if (p.dst_mac != ctx.vnic_mac && !(m.has_client_link_address && m.client_link_address == ctx.vnic_mac)) return;
      for (std::size_t i = 0; i < m.lease_count; ++i) {
        const IpAddress& a = m.leases[i].address;
        if (is_zero(a) || a.bytes[0] == 0xff || free_pass(a)) continue;  // unspecified, multicast, free link-local
        const TableEntry* e = find(a);
        if (m.leases[i].valid_lifetime == 0) {
          if (e != nullptr && e->learned) enqueue(a, CandidateKind::kDhcpRelease);
          continue;
        }
        if (e != nullptr && !e->learned) continue;  // declared: nothing to learn
        if (e == nullptr && full()) {
          counters.c[static_cast<std::size_t>(SwitchSecurityReason::kAddressLimit)].add(1);
          continue;
        }
        enqueue(a, CandidateKind::kDhcpAck, m.leases[i].valid_lifetime);
      }
    }

    // Towards the VM: a DHCP ACK for this vNIC's MAC teaches yiaddr; so does
    // a DHCPv6 REPLY its addresses.
    void snoop_to_vm(const PacketView& p) noexcept {
      if (is_dhcpv6(p, ssi::kDhcpv6ServerPort, ssi::kDhcpv6ClientPort)) {
        snoop_dhcpv6_reply(p);
        return;
      }
      if (!p.is_dhcp || p.dhcp.op != kDhcpBootReply || p.dhcp.message_type != kDhcpAck) return;
      if (p.dhcp.client_mac != ctx.vnic_mac || p.dhcp.your_ip.family != IpFamily::kIpv4 ||
          is_zero(p.dhcp.your_ip))
        return;
      const TableEntry* e = find(p.dhcp.your_ip);
      if (e != nullptr && !e->learned) return;  // declared: nothing to learn
      if (e == nullptr && full()) {
        counters.c[static_cast<std::size_t>(SwitchSecurityReason::kAddressLimit)].add(1);
        return;
      }
      enqueue(p.dhcp.your_ip, CandidateKind::kDhcpAck, p.dhcp.lease_seconds);
    }
  };

  bool learning_;
  bool allow_link_local_;
  bool trusted_dhcp_server_;
  bool trusted_router_;
  std::shared_ptr<VnicState> state_;
};

// ---- control side --------------------------------------------------------------

using AddressKey = std::pair<IpFamily, std::array<std::uint8_t, 16>>;
inline AddressKey key_of(const IpAddress& a) { return {a.family, a.bytes}; }
inline IpAddress address_of(const AddressKey& k) {
  IpAddress a;
  a.family = k.first;
  a.bytes = k.second;
  return a;
}

struct ControlBinding {
  bool declared = false;
  bool learned = false;
  Clock::time_point expires = Clock::time_point::max();
};

struct VnicEntry {
  VnicSecurityConfig config;  // `declared` not kept here: see bindings
  std::shared_ptr<VnicState> state;
  std::map<AddressKey, ControlBinding> bindings;
  Clock::time_point next_expiry = Clock::time_point::max();
  std::uint64_t learned = 0, refreshed = 0, expired = 0, released = 0, refused_limit = 0,
                refused_conflict = 0;
};

std::unique_ptr<BindingTable> build_table(const VnicEntry& entry) {
  auto t = std::make_unique<BindingTable>();
  t->count = entry.bindings.size();
  t->entries = std::make_unique<TableEntry[]>(t->count);
  std::size_t i = 0;
  for (const auto& [key, b] : entry.bindings) {
    const Words w = words_of(address_of(key));
    TableEntry& e = t->entries[i++];
    e.hi = w.hi;
    e.lo = w.lo;
    e.family = w.family;
    e.learned = b.learned;
  }
  return t;
}

Status check_address(const IpAddress& a, std::string_view what) {
  if (a.family != IpFamily::kIpv4 && a.family != IpFamily::kIpv6)
    return invalid_argument(fmt::format("{}: address without a family", what));
  if (is_zero(a)) return invalid_argument(fmt::format("{}: {} is the unspecified address", what, a.to_string()));
  return Status::Ok();
}

}  // namespace

struct SwitchSecurity::Impl {
  Engine& engine;
  SwitchSecurityOptions options;
  std::uint32_t workers = 1;
  std::uint32_t ring_capacity = 1;

  mutable std::mutex mutex;
  std::map<std::uint32_t, VnicEntry> vnics;
  // address -> the protected vNICs that hold it (declared or learned), for
  // exclusive_learning.
  std::map<AddressKey, std::vector<std::uint32_t>> owners;
  // Learned-binding changes made outside poll() (protect, unprotect), handed
  // to the listener by the next poll().
  std::vector<BindingChange> pending_changes;
  // Tables replaced but not yet freed: freed after one grace period.
  std::vector<const BindingTable*> retired;

  Impl(Engine& e, const SwitchSecurityOptions& o) : engine(e), options(o) {}

  std::shared_ptr<VnicState> make_state(std::uint32_t vnic_id) const {
    auto st = std::make_shared<VnicState>();
    st->vnic_id = vnic_id;
    st->max_addresses = static_cast<std::uint32_t>(options.max_addresses_per_vnic);
    st->workers = workers;
    st->rings = std::make_unique<LearnRing[]>(workers);
    for (std::uint32_t w = 0; w < workers; ++w) {
      st->rings[w].slots = std::make_unique<Candidate[]>(ring_capacity);
      st->rings[w].mask = ring_capacity - 1;
    }
    st->counters = std::make_unique<CounterBlock[]>(workers);
    return st;
  }

  void add_owner(const AddressKey& k, std::uint32_t vnic) { owners[k].push_back(vnic); }
  void remove_owner(const AddressKey& k, std::uint32_t vnic) {
    auto it = owners.find(k);
    if (it == owners.end()) return;
    std::erase(it->second, vnic);
    if (it->second.empty()) owners.erase(it);
  }
  bool owned_elsewhere(const AddressKey& k, std::uint32_t vnic) const {
    auto it = owners.find(k);
    if (it == owners.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](std::uint32_t v) { return v != vnic; });
  }

  // Sets the flags of one binding; erases it when neither is left.
  void set_binding(VnicEntry& entry, const AddressKey& k, const ControlBinding& b) {
    auto it = entry.bindings.find(k);
    if (!b.declared && !b.learned) {
      if (it != entry.bindings.end()) {
        entry.bindings.erase(it);
        remove_owner(k, entry.config.vnic_id);
      }
      return;
    }
    if (it == entry.bindings.end()) {
      entry.bindings.emplace(k, b);
      add_owner(k, entry.config.vnic_id);
    } else {
      it->second = b;
    }
    if (b.learned) entry.next_expiry = std::min(entry.next_expiry, b.expires);
  }

  // Removes the learned flag of every binding (reported as kUnlearned).
  void unlearn_all(VnicEntry& entry, std::vector<BindingChange>& changes) {
    std::vector<AddressKey> learned;
    for (const auto& [k, b] : entry.bindings)
      if (b.learned) learned.push_back(k);
    for (const AddressKey& k : learned) {
      ControlBinding b = entry.bindings[k];
      b.learned = false;
      set_binding(entry, k, b);
      changes.push_back({.vnic_id = entry.config.vnic_id, .address = address_of(k),
                         .kind = BindingChangeKind::kUnlearned});
    }
  }

  void publish(VnicEntry& entry) {
    const BindingTable* fresh = build_table(entry).release();
    const BindingTable* old = entry.state->table.exchange(fresh, std::memory_order_acq_rel);
    if (old != nullptr) retired.push_back(old);
  }

  // After this, no worker can hold a retired table.
  void reclaim() {
    if (retired.empty()) return;
    rcu::synchronize();
    for (const BindingTable* t : retired) delete t;
    retired.clear();
  }

  Clock::time_point lifetime_end(Clock::time_point now, const Candidate& c) const {
    if (c.kind == CandidateKind::kDhcpAck && c.lease_seconds != 0) {
      if (c.lease_seconds == kDhcpInfiniteLease) return Clock::time_point::max();
      return now + std::chrono::seconds(c.lease_seconds);
    }
    if (options.learned_lifetime == std::chrono::seconds::zero()) return Clock::time_point::max();
    return now + options.learned_lifetime;
  }

  // Applies one candidate; returns true when the vNIC's address set changed.
  bool apply(VnicEntry& entry, const Candidate& c, Clock::time_point now, PollReport& report,
             std::vector<BindingChange>& changes) {
    const AddressKey k = key_of(address_of(Words{c.hi, c.lo, c.family}));
    auto it = entry.bindings.find(k);
    const std::uint32_t vnic = entry.config.vnic_id;
    switch (c.kind) {
      case CandidateKind::kRefresh:
        if (it != entry.bindings.end() && it->second.learned) {
          it->second.expires = std::max(it->second.expires, lifetime_end(now, c));
          ++entry.refreshed;
          ++report.refreshed;
        }
        return false;
      case CandidateKind::kDhcpRelease:
        if (it == entry.bindings.end() || !it->second.learned) return false;
        {
          ControlBinding b = it->second;
          b.learned = false;
          set_binding(entry, k, b);
        }
        changes.push_back({.vnic_id = vnic, .address = address_of(k), .kind = BindingChangeKind::kUnlearned});
        ++entry.released;
        ++report.released;
        return true;
      case CandidateKind::kClaim:
      case CandidateKind::kProbe:
      case CandidateKind::kDhcpAck:
        break;
    }
    // The mode may have changed since the datapath queued it.
    if (entry.config.mode != BindingMode::kTrustOnFirstUse) return false;
    if (it != entry.bindings.end()) {
      if (it->second.learned) {
        // A DHCP ACK sets the lease as is (a shorter renewal shortens it);
        // ARP/ND only extend.
        const Clock::time_point end = lifetime_end(now, c);
        it->second.expires = c.kind == CandidateKind::kDhcpAck ? end : std::max(it->second.expires, end);
        entry.next_expiry = std::min(entry.next_expiry, it->second.expires);
        ++entry.refreshed;
        ++report.refreshed;
      }
      return false;  // declared: nothing to learn
    }
    if (options.exclusive_learning && owned_elsewhere(k, vnic)) {
      ++entry.refused_conflict;
      ++report.refused_conflict;
      return false;
    }
    if (entry.bindings.size() >= options.max_addresses_per_vnic) {
      ++entry.refused_limit;
      ++report.refused_limit;
      return false;
    }
    set_binding(entry, k, {.declared = false, .learned = true, .expires = lifetime_end(now, c)});
    changes.push_back({.vnic_id = vnic, .address = address_of(k), .kind = BindingChangeKind::kLearned});
    ++entry.learned;
    ++report.learned;
    return true;
  }

  bool expire(VnicEntry& entry, Clock::time_point now, PollReport& report,
              std::vector<BindingChange>& changes) {
    if (now < entry.next_expiry) return false;
    std::vector<AddressKey> lapsed;
    Clock::time_point next = Clock::time_point::max();
    for (const auto& [k, b] : entry.bindings) {
      if (!b.learned) continue;
      if (b.expires <= now) lapsed.push_back(k);
      else next = std::min(next, b.expires);
    }
    entry.next_expiry = next;
    for (const AddressKey& k : lapsed) {
      ControlBinding b = entry.bindings[k];
      b.learned = false;
      set_binding(entry, k, b);
      changes.push_back({.vnic_id = entry.config.vnic_id, .address = address_of(k),
                         .kind = BindingChangeKind::kUnlearned});
    }
    entry.next_expiry = next;  // set_binding only lowers it
    report.expired += lapsed.size();
    entry.expired += lapsed.size();
    return !lapsed.empty();
  }
};

std::string_view switch_security_reason_name(SwitchSecurityReason r) noexcept {
  switch (r) {
    case SwitchSecurityReason::kNone: return "none";
    case SwitchSecurityReason::kSourceMac: return "source-mac";
    case SwitchSecurityReason::kSourceIp: return "source-ip";
    case SwitchSecurityReason::kArpSenderMac: return "arp-sender-mac";
    case SwitchSecurityReason::kArpSenderIp: return "arp-sender-ip";
    case SwitchSecurityReason::kNdTarget: return "nd-target";
    case SwitchSecurityReason::kNdLinkAddress: return "nd-link-address";
    case SwitchSecurityReason::kRogueDhcpServer: return "rogue-dhcp-server";
    case SwitchSecurityReason::kRogueRouter: return "rogue-router";
    case SwitchSecurityReason::kLearning: return "learning";
    case SwitchSecurityReason::kAddressLimit: return "address-limit";
    case SwitchSecurityReason::kWrongVnic: return "wrong-vnic";
    case SwitchSecurityReason::kCount: break;
  }
  return "unknown";
}

SwitchSecurity::SwitchSecurity(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SwitchSecurity::~SwitchSecurity() {
  // Tables still referenced by installed filters are freed with their
  // VnicState (after the engine's grace period); only the retired ones are ours.
  if (impl_) impl_->reclaim();
}

const SwitchSecurityOptions& SwitchSecurity::options() const noexcept { return impl_->options; }

StatusOr<std::unique_ptr<SwitchSecurity>> SwitchSecurity::create(Engine& engine,
                                                                 const SwitchSecurityOptions& options) {
  if (options.max_addresses_per_vnic == 0 || options.max_addresses_per_vnic > kMaxAddressesPerVnic)
    return invalid_argument(fmt::format("max_addresses_per_vnic: {} is not in 1..{}",
                                        options.max_addresses_per_vnic, kMaxAddressesPerVnic));
  if (options.learn_queue_capacity == 0 || options.learn_queue_capacity > 4096)
    return invalid_argument(
        fmt::format("learn_queue_capacity: {} is not in 1..4096", options.learn_queue_capacity));
  if (options.learned_lifetime < std::chrono::seconds::zero())
    return invalid_argument("learned_lifetime: must not be negative");
  auto impl = std::make_unique<Impl>(engine, options);
  impl->workers = std::max<std::uint32_t>(1, engine.options().max_workers);
  impl->ring_capacity = std::bit_ceil(static_cast<std::uint32_t>(options.learn_queue_capacity));
  return std::unique_ptr<SwitchSecurity>(new SwitchSecurity(std::move(impl)));
}

Status SwitchSecurity::protect(const VnicSecurityConfig& config) {
  if (config.vnic_id == 0) return invalid_argument("vnic_id: 0 is not a vNIC id");
  std::map<AddressKey, bool> declared;
  for (std::size_t i = 0; i < config.declared.size(); ++i) {
    if (Status s = check_address(config.declared[i], fmt::format("declared[{}]", i)); !s.ok()) return s;
    declared[key_of(config.declared[i])] = true;
  }
  Impl& im = *impl_;
  if (declared.size() > im.options.max_addresses_per_vnic)
    return invalid_argument(fmt::format("declared: {} addresses exceed max_addresses_per_vnic ({})",
                                        declared.size(), im.options.max_addresses_per_vnic));
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(config.vnic_id);
  const bool existing = it != im.vnics.end();
  std::shared_ptr<VnicState> state = existing ? it->second.state : im.make_state(config.vnic_id);
  if (existing) {
    // Learned addresses that stay, plus the new declared set, must fit.
    std::size_t total = declared.size();
    if (config.mode == BindingMode::kTrustOnFirstUse)
      for (const auto& [k, b] : it->second.bindings)
        if (b.learned && !declared.contains(k)) ++total;
    if (total > im.options.max_addresses_per_vnic)
      return resource_exhausted(fmt::format(
          "vnic {}: {} declared and learned addresses exceed max_addresses_per_vnic ({})",
          config.vnic_id, total, im.options.max_addresses_per_vnic));
  } else {
    // The table exists before the filter is visible to any worker.
    VnicEntry probe_entry;
    for (const auto& [k, d] : declared) probe_entry.bindings[k] = {.declared = true};
    state->table.store(build_table(probe_entry).release(), std::memory_order_release);
  }
  VnicSecurityConfig kept = config;
  kept.declared.clear();
  auto filter = std::make_shared<SwitchSecurityFilter>(kept, state);
  if (Status s = im.engine.set_filter(config.vnic_id, kSlotSwitchSecurity, filter); !s.ok()) return s;

  if (!existing) {
    VnicEntry entry;
    entry.config = kept;
    entry.state = std::move(state);
    it = im.vnics.emplace(config.vnic_id, std::move(entry)).first;
    for (const auto& [k, d] : declared) im.set_binding(it->second, k, {.declared = true});
    return Status::Ok();
  }
  VnicEntry& entry = it->second;
  entry.config = kept;
  if (config.mode == BindingMode::kDeclaredOnly) im.unlearn_all(entry, im.pending_changes);
  std::vector<std::pair<AddressKey, ControlBinding>> updates;
  for (const auto& [k, b] : entry.bindings) {
    ControlBinding nb = b;
    nb.declared = declared.contains(k);
    if (nb.declared != b.declared) updates.emplace_back(k, nb);
  }
  for (const auto& [k, d] : declared)
    if (!entry.bindings.contains(k)) updates.emplace_back(k, ControlBinding{.declared = true});
  for (const auto& [k, b] : updates) im.set_binding(entry, k, b);
  im.publish(entry);
  im.reclaim();
  return Status::Ok();
}

Status SwitchSecurity::unprotect(std::uint32_t vnic_id) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(vnic_id);
  if (it == im.vnics.end()) return not_found(fmt::format("vnic {}: not protected", vnic_id));
  // A vNIC detached first has no slot to clear: that is fine, forget it anyway.
  if (Status s = im.engine.clear_filter(vnic_id, kSlotSwitchSecurity);
      !s.ok() && s.code() != StatusCode::kNotFound)
    return s;
  im.unlearn_all(it->second, im.pending_changes);
  for (const auto& [k, b] : it->second.bindings) im.remove_owner(k, vnic_id);
  im.vnics.erase(it);
  return Status::Ok();
}

Status SwitchSecurity::add_declared(std::uint32_t vnic_id, const IpAddress& address) {
  if (Status s = check_address(address, "address"); !s.ok()) return s;
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(vnic_id);
  if (it == im.vnics.end()) return not_found(fmt::format("vnic {}: not protected", vnic_id));
  VnicEntry& entry = it->second;
  const AddressKey k = key_of(address);
  auto b = entry.bindings.find(k);
  if (b != entry.bindings.end()) {
    if (b->second.declared) return Status::Ok();
    b->second.declared = true;  // already in the table: nothing to publish
    return Status::Ok();
  }
  if (entry.bindings.size() >= im.options.max_addresses_per_vnic)
    return resource_exhausted(fmt::format("vnic {}: {} addresses bound, max_addresses_per_vnic is {}",
                                          vnic_id, entry.bindings.size(),
                                          im.options.max_addresses_per_vnic));
  im.set_binding(entry, k, {.declared = true});
  im.publish(entry);
  im.reclaim();
  return Status::Ok();
}

Status SwitchSecurity::remove_declared(std::uint32_t vnic_id, const IpAddress& address) {
  if (Status s = check_address(address, "address"); !s.ok()) return s;
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(vnic_id);
  if (it == im.vnics.end()) return not_found(fmt::format("vnic {}: not protected", vnic_id));
  VnicEntry& entry = it->second;
  const AddressKey k = key_of(address);
  auto b = entry.bindings.find(k);
  if (b == entry.bindings.end() || !b->second.declared) return Status::Ok();
  ControlBinding nb = b->second;
  nb.declared = false;
  const bool removed = !nb.learned;
  im.set_binding(entry, k, nb);
  if (removed) {
    im.publish(entry);
    im.reclaim();
  }
  return Status::Ok();
}

StatusOr<PollReport> SwitchSecurity::poll(std::chrono::steady_clock::time_point now) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  PollReport report;
  std::vector<BindingChange> changes = std::move(im.pending_changes);
  im.pending_changes.clear();
  for (auto& vnic_and_entry : im.vnics) {
    // A named reference, not a structured binding: C++20 compilers before
    // clang 16 do not let the lambda below capture a binding.
    auto& entry = vnic_and_entry.second;
    bool changed = false;
    std::size_t drained = 0;
    for (std::uint32_t w = 0; w < im.workers; ++w)
      drained += entry.state->rings[w].drain(
          [&](const Candidate& c) { changed |= im.apply(entry, c, now, report, changes); });
    report.candidates += drained;
    changed |= im.expire(entry, now, report, changes);
    if (changed) {
      im.publish(entry);
      ++report.published;
    } else if (drained != 0) {
      // Refreshes were taken: let the datapath queue the next ones.
      if (const BindingTable* t = entry.state->table.load(std::memory_order_acquire))
        for (std::size_t i = 0; i < t->count; ++i)
          t->entries[i].refresh_queued.store(0, std::memory_order_relaxed);
    }
  }
  im.reclaim();
  if (!changes.empty() && im.options.listener != nullptr)
    report.listener_status = im.options.listener->on_bindings(changes);
  return report;
}

StatusOr<std::vector<Binding>> SwitchSecurity::bindings(std::uint32_t vnic_id) const {
  const Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(vnic_id);
  if (it == im.vnics.end()) return not_found(fmt::format("vnic {}: not protected", vnic_id));
  std::vector<Binding> out;
  out.reserve(it->second.bindings.size());
  for (const auto& [k, b] : it->second.bindings)
    out.push_back({.address = address_of(k), .declared = b.declared, .learned = b.learned,
                   .expires = b.learned ? b.expires : Clock::time_point::max()});
  return out;
}

StatusOr<SwitchSecurityCounters> SwitchSecurity::counters(std::uint32_t vnic_id) const {
  const Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.vnics.find(vnic_id);
  if (it == im.vnics.end()) return not_found(fmt::format("vnic {}: not protected", vnic_id));
  const VnicEntry& e = it->second;
  SwitchSecurityCounters out;
  out.vnic_id = vnic_id;
  for (std::uint32_t w = 0; w < e.state->workers; ++w) {
    const CounterBlock& b = e.state->counters[w];
    for (std::size_t r = 0; r < kSwitchSecurityReasonCount; ++r) out.drops[r] += b.c[r].get();
    out.checked += b.c[kCounterChecked].get();
    out.learn_queued += b.c[kCounterQueued].get();
    out.learn_queue_full += b.c[kCounterQueueFull].get();
  }
  out.learned = e.learned;
  out.refreshed = e.refreshed;
  out.expired = e.expired;
  out.released = e.released;
  out.refused_limit = e.refused_limit;
  out.refused_conflict = e.refused_conflict;
  return out;
}

}  // namespace fw
