// Slot 4, service insertion (fw/service.h; docs/service-insertion.md).
//
// What the datapath reads, per installed filter (immutable once installed):
//
//   ServiceFilter {Config {CompiledPolicy of the redirect table (the DFW's
//                          compiler, libfw/service/match_policy.h),
//                          target_of_position[] (rule position -> target),
//                          profiles[] (by lifetime profile index: endpoints,
//                          failure policy), targets (every target ever)},
//                  Shared {health, last failure policy, counters},
//                  the connection table (the DFW's)}
//
// Per burst: peek every IP packet's connection (no tracking: the DFW has
// done it); a connection's service word (below) says what was decided for
// it; packets of undecided connections, and packets of none, are classified
// in one burst; each then walks its path from the hop it is at.
//
// The service word (32 bits in the connection entry, ConnTable's
// exchange_service_word; 0 when the connection is created):
//
//   bits  0-1   flow verdict (FlowVerdict: none, allow, block)
//   bit   2     decided: the redirect table has been consulted
//   bit   3     redirected (else "do not redirect")
//   bits  4-19  target index: a (rule id, profile path, NSH path id) triple
//               of Shared::targets, kept for the object's lifetime so that
//               a pinned flow outlives re-applies
//   bits 20-31  the pinned instance (position in its profile) of each hop,
//               3 bits per hop, hop h at bit 20 + 3h (chain order)
#include "fw/service.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <unordered_map>

#include "fw/chain.h"
#include "fw/conntrack.h"
#include "fw/engine.h"
#include "fw/filter.h"
#include "fw/inventory.h"
#include "fw/packet.h"
#include "libfw/conntrack/key.h"
#include "libfw/core/counter.h"
#include "libfw/groups/slot_sink.h"
#include "libfw/policy/compile.h"
#include "libfw/policy/dynamic_applied_to.h"
#include "libfw/service/match_policy.h"

namespace fw {
namespace {

using internal::SingleWriterCounter;
using policy_compile::CompiledPolicy;

namespace service_word {
constexpr std::uint32_t kVerdictMask = 0x3;
constexpr std::uint32_t kDecided = 1u << 2;
constexpr std::uint32_t kRedirected = 1u << 3;
constexpr int kTargetShift = 4;
constexpr std::uint32_t kTargetMask = 0xffff;
constexpr int kInstanceShift = 20;
constexpr int kInstanceBits = 3;
constexpr std::uint32_t kInstanceMask = (1u << kInstanceBits) - 1;

inline FlowVerdict verdict(std::uint32_t w) noexcept { return static_cast<FlowVerdict>(w & kVerdictMask); }
inline std::uint32_t target(std::uint32_t w) noexcept { return (w >> kTargetShift) & kTargetMask; }
inline std::uint8_t instance(std::uint32_t w, std::size_t hop) noexcept {
  return static_cast<std::uint8_t>((w >> (kInstanceShift + kInstanceBits * hop)) & kInstanceMask);
}
inline std::uint32_t with_instance(std::uint32_t w, std::size_t hop, std::uint8_t position) noexcept {
  const int shift = kInstanceShift + kInstanceBits * static_cast<int>(hop);
  return (w & ~(kInstanceMask << shift)) | (std::uint32_t{position} << shift);
}
}  // namespace service_word

static_assert(service_word::kInstanceShift + service_word::kInstanceBits * kMaxChainLength <= 32,
              "the service word holds an instance per hop");
static_assert(kMaxInstancesPerProfile <= (1u << service_word::kInstanceBits));
static_assert(kMaxRedirectTargets <= service_word::kTargetMask + 1);

constexpr std::uint32_t kNoTarget = 0xffffffffu;

// A path a flow can be pinned to.
struct Target {
  std::uint32_t rule_id = 0;
  std::uint32_t path_id = 0;  // NSH SPI
  std::uint8_t length = 0;
  std::uint16_t profiles[kMaxChainLength] = {};  // lifetime profile indices, chain order
};

// One profile as an applied policy configures it.
struct ProfileConfig {
  bool present = false;
  std::uint8_t count = 0;
  std::uint32_t endpoint[kMaxInstancesPerProfile] = {};
  FailurePolicy failure = FailurePolicy::kFailOpen;
  bool repin = false;
  ServiceEncapsulation encapsulation = ServiceEncapsulation::kNone;
};

// Per-worker counters of one (profile, instance).
struct alignas(32) InstanceCell {
  SingleWriterCounter redirected, skipped, dropped_down, pinned;
};
// Per-worker counters of the object.
struct alignas(internal::kCacheLine) WorkerCell {
  SingleWriterCounter fast_path, flow_blocked, repinned;
};

// State that lives as long as the object and every filter it installed.
struct Shared {
  explicit Shared(std::uint32_t workers_)
      : workers(workers_),
        health(std::make_unique<std::atomic<bool>[]>(kMaxProfiles * kMaxInstancesPerProfile)),
        last_failure(std::make_unique<std::atomic<std::uint8_t>[]>(kMaxProfiles)),
        service_drops(std::make_unique<std::atomic<std::uint64_t>[]>(kMaxProfiles * kMaxInstancesPerProfile)),
        chunks(std::make_unique<InstanceCell*[]>(kMaxProfiles)),
        worker_cells(std::make_unique<WorkerCell[]>(workers_)) {
    for (std::size_t i = 0; i < kMaxProfiles * kMaxInstancesPerProfile; ++i) health[i].store(true);
  }
  const std::uint32_t workers;
  std::unique_ptr<std::atomic<bool>[]> health;                 // [profile][position]
  std::unique_ptr<std::atomic<std::uint8_t>[]> last_failure;   // [profile]: FailurePolicy
  std::unique_ptr<std::atomic<std::uint64_t>[]> service_drops; // [profile][position]
  // [profile] -> workers * kMaxInstancesPerProfile cells; written by the
  // control thread before a filter that uses the profile is published.
  std::unique_ptr<InstanceCell*[]> chunks;
  std::vector<std::unique_ptr<InstanceCell[]>> storage;  // control thread only
  std::unique_ptr<WorkerCell[]> worker_cells;

  std::atomic<bool>& healthy(std::size_t profile, std::size_t position) const noexcept {
    return health[profile * kMaxInstancesPerProfile + position];
  }
  InstanceCell& cell(std::uint32_t worker, std::size_t profile, std::size_t position) const noexcept {
    return chunks[profile][std::size_t{std::min(worker, workers - 1)} * kMaxInstancesPerProfile + position];
  }
  WorkerCell& worker_cell(std::uint32_t worker) const noexcept {
    return worker_cells[std::min(worker, workers - 1)];
  }
};

struct RuleMeta {
  std::uint32_t target = kNoTarget;
  std::uint32_t source_group = 0;
  std::uint32_t destination_group = 0;
};

// What one apply() installs.
struct Config {
  std::shared_ptr<const CompiledPolicy> compiled;
  std::vector<std::uint32_t> target_of_position;  // kNoTarget: do not redirect
  std::vector<ProfileConfig> profiles;            // by lifetime index
  std::shared_ptr<const std::vector<Target>> targets;
  std::unordered_map<std::uint32_t, RuleMeta> rules;  // redirect rules by id
  // endpoint -> (profile index, position); the first listed wins.
  std::unordered_map<std::uint32_t, std::pair<std::uint16_t, std::uint8_t>> endpoints;
};

// A flow's hash, the same for both directions.
std::uint64_t flow_hash(const PacketView& p) noexcept {
  std::uint64_t src[2], dst[2];
  conntrack::load_address(p.src_ip, src);
  conntrack::load_address(p.dst_ip, dst);
  const std::uint16_t sport = p.has_l4 ? p.src_port : 0;
  const std::uint16_t dport = p.has_l4 ? p.dst_port : 0;
  const std::uint64_t ends = conntrack::hash_endpoint(src, sport, 0) + conntrack::hash_endpoint(dst, dport, 0);
  return conntrack::mix64(ends ^ (std::uint64_t{p.protocol} * 0x27d4eb2f165667c5ULL));
}

// Rendezvous choice among a profile's instances: healthy ones if any, else
// any present one. Adding or losing an instance moves only its own flows.
std::uint8_t choose_instance(const ProfileConfig& pc, const Shared& shared, std::size_t profile,
                             std::uint64_t hash, bool healthy_only, bool& found) noexcept {
  std::uint64_t best = 0;
  std::uint8_t chosen = 0;
  found = false;
  for (std::uint8_t i = 0; i < pc.count; ++i) {
    if (pc.endpoint[i] == 0) continue;
    if (healthy_only && !shared.healthy(profile, i).load(std::memory_order_relaxed)) continue;
    const std::uint64_t score = conntrack::mix64(hash ^ (std::uint64_t{i} + 1) * 0x9e3779b97f4a7c15ULL);
    if (!found || score > best) {
      best = score;
      chosen = i;
      found = true;
    }
  }
  return chosen;
}

template <typename T>
T* raw_array(unsigned char* bytes) noexcept {
  return reinterpret_cast<T*>(bytes);
}

class ServiceFilter final : public Filter {
 public:
  ServiceFilter(std::shared_ptr<const Config> config, std::shared_ptr<Shared> shared,
                std::shared_ptr<ConnTable> table)
      : config_(std::move(config)), shared_(std::move(shared)), table_(std::move(table)) {}
  // The same filter deciding with `lists` instead of the vNIC's compiled
  // ones (dynamic applied-to), installed on the vNICs that have them.
  ServiceFilter(const ServiceFilter& base, const CompiledPolicy::VnicLists& lists)
      : config_(base.config_), shared_(base.shared_), table_(base.table_), pinned_(lists), has_pinned_(true) {}

  std::string_view kind() const noexcept override { return "service-insertion"; }

  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    std::uint16_t index[kMaxBurst];
    std::size_t n = 0;
    for (const std::uint16_t i : active) {
      const L3Kind l3 = ctx.packets[i].l3;
      if (l3 == L3Kind::kIpv4 || l3 == L3Kind::kIpv6) index[n++] = i;
    }
    if (n == 0) return;

    // Scratch, written before read (see the DFW slot for why uninitialised).
    alignas(ConnTable::Peek) unsigned char peek_bytes[sizeof(ConnTable::Peek) * kMaxBurst];
    auto* peeks = raw_array<ConnTable::Peek>(peek_bytes);
    const bool tracked = table_ != nullptr && ctx.vnic_id < table_->options().zones;
    if (tracked) {
      for (std::size_t k = 0; k < n; ++k) ::new (&peeks[index[k]]) ConnTable::Peek;
      table_->peek(static_cast<std::uint16_t>(ctx.vnic_id), ctx.packets, std::span(index, n), ctx.now_ns,
                   std::span(peeks, ctx.packets.size()));
    } else {
      for (std::size_t k = 0; k < n; ++k) ::new (&peeks[index[k]]) ConnTable::Peek;
    }

    std::uint16_t classify_index[kMaxBurst];
    std::size_t to_classify = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint16_t i = index[k];
      const ConnTable::Peek& pk = peeks[i];
      if (pk.found && decided_by_word(ctx, i, pk.service_word, pk, verdicts[i])) continue;
      classify_index[to_classify++] = i;
    }
    if (to_classify == 0) return;

    alignas(classify::LookupKey) unsigned char key_bytes[sizeof(classify::LookupKey) * kMaxBurst];
    alignas(policy_compile::Decision) unsigned char decision_bytes[sizeof(policy_compile::Decision) * kMaxBurst];
    auto* keys = raw_array<classify::LookupKey>(key_bytes);
    auto* decisions = raw_array<policy_compile::Decision>(decision_bytes);
    for (std::size_t k = 0; k < to_classify; ++k)
      policy_compile::fill_lookup_key(ctx.packets[classify_index[k]], *::new (&keys[k]) classify::LookupKey);
    // A reply-direction packet of a connection is matched as its connection's
    // first packet was: the redirect table speaks of the original direction.
    // Packets of one burst share a direction, so the reply packets of
    // undecided connections (rare: a connection's first packet reaches the
    // slot before any reply) are classified with their key reversed.
    const Direction reversed = ctx.direction == Direction::kFromVm ? Direction::kToVm : Direction::kFromVm;
    std::size_t replies = 0;
    for (std::size_t k = 0; k < to_classify; ++k) {
      const ConnTable::Peek& pk = peeks[classify_index[k]];
      if (pk.found && pk.direction == CtDirection::kReply) {
        std::swap(keys[k].src, keys[k].dst);
        std::swap(keys[k].src_port, keys[k].dst_port);
        ++replies;
      }
    }
    const CompiledPolicy& compiled = *config_->compiled;
    if (replies == 0) {
      if (has_pinned_)
        compiled.decide_burst(pinned_, ctx.direction, std::span(keys, to_classify), std::span(decisions, to_classify));
      else
        compiled.decide_burst(ctx.vnic_id, ctx.direction, std::span(keys, to_classify),
                              std::span(decisions, to_classify));
    } else {
      for (std::size_t k = 0; k < to_classify; ++k) {
        const ConnTable::Peek& pk = peeks[classify_index[k]];
        const bool reply = pk.found && pk.direction == CtDirection::kReply;
        const Direction d = reply ? reversed : ctx.direction;
        ::new (&decisions[k]) policy_compile::Decision(has_pinned_ ? compiled.decide(pinned_, d, keys[k])
                                                                   : compiled.decide(ctx.vnic_id, d, keys[k]));
      }
    }

    for (std::size_t k = 0; k < to_classify; ++k) {
      const std::uint16_t i = classify_index[k];
      const policy_compile::Decision& d = decisions[k];
      const std::uint32_t target =
          d.action == RuleAction::kAllow && !d.is_default && d.position < config_->target_of_position.size()
              ? config_->target_of_position[d.position]
              : kNoTarget;
      std::uint32_t word = service_word::kDecided;
      if (target != kNoTarget)
        word |= service_word::kRedirected | (target << service_word::kTargetShift) |
                choose_path(target, flow_hash(ctx.packets[i]));
      ConnTable::Peek& pk = peeks[i];
      if (pk.found) {
        // Pin it. Another worker may have decided the same connection
        // meanwhile, or the service set a flow verdict: the word wins.
        std::uint32_t expected = pk.service_word;
        const std::uint32_t desired = word | (expected & service_word::kVerdictMask);
        if (table_->exchange_service_word(pk.conn, expected, desired)) {
          if (target != kNoTarget) count_pinned(ctx, target, desired);
          word = desired;
        } else if (table_->service_word(pk.conn, expected)) {
          if (decided_by_word(ctx, i, expected, pk, verdicts[i])) continue;
          word = expected;
        }
        // else: the connection is gone; decide this packet on its own.
      }
      if (service_word::verdict(word) == FlowVerdict::kAllow) continue;
      if (target == kNoTarget || !(word & service_word::kRedirected)) continue;
      route(ctx, i, word, pk.found ? pk.direction : CtDirection::kOriginal, pk.found ? &pk.conn : nullptr,
            verdicts[i]);
    }
  }

 private:
  // Decides packets[i] from its connection's word when the word says
  // enough (a flow verdict, or a decision already made): true if so.
  bool decided_by_word(const BurstContext& ctx, std::uint16_t i, std::uint32_t word, const ConnTable::Peek& pk,
                       Verdict& v) const noexcept {
    const bool returned = is_returned(ctx, i);
    switch (service_word::verdict(word)) {
      case FlowVerdict::kBlock: {
        const std::uint32_t rule = (word & service_word::kRedirected) ? rule_of(word) : kNoRule;
        decide(v, ctx, Action::kDrop, rule, DropReason::kServiceFlowBlock);
        shared_->worker_cell(ctx.worker_index).flow_blocked.add(1);
        return true;
      }
      case FlowVerdict::kAllow:
        if (!returned) shared_->worker_cell(ctx.worker_index).fast_path.add(1);
        return true;
      default: break;
    }
    if (!(word & service_word::kDecided)) return false;
    if (word & service_word::kRedirected)
      route(ctx, i, word, pk.direction, &pk.conn, v);
    return true;
  }

  bool is_returned(const BurstContext& ctx, std::uint16_t i) const noexcept {
    return i < ctx.returned.size() && ctx.returned[i].slot == ctx.slot &&
           ctx.returned[i].action == Action::kRedirect;
  }

  std::uint32_t rule_of(std::uint32_t word) const noexcept {
    const std::vector<Target>& targets = *config_->targets;
    const std::uint32_t t = service_word::target(word);
    return t < targets.size() ? targets[t].rule_id : kNoRule;
  }

  // The instances a new flow of `target` takes, as word bits.
  std::uint32_t choose_path(std::uint32_t target, std::uint64_t hash) const noexcept {
    const Target& t = (*config_->targets)[target];
    std::uint32_t bits = 0;
    for (std::size_t h = 0; h < t.length; ++h) {
      const std::uint16_t p = t.profiles[h];
      if (p >= config_->profiles.size() || !config_->profiles[p].present) continue;
      bool found = false;
      std::uint8_t i = choose_instance(config_->profiles[p], *shared_, p, hash, true, found);
      if (!found) i = choose_instance(config_->profiles[p], *shared_, p, hash, false, found);
      bits = service_word::with_instance(bits, h, i);
    }
    return bits;
  }

  void count_pinned(const BurstContext& ctx, std::uint32_t target, std::uint32_t word) const noexcept {
    const Target& t = (*config_->targets)[target];
    for (std::size_t h = 0; h < t.length; ++h) {
      const std::uint16_t p = t.profiles[h];
      if (shared_->chunks[p] != nullptr)
        shared_->cell(ctx.worker_index, p, service_word::instance(word, h)).pinned.add(1);
    }
  }

  // Sends packets[i] to the next live hop of its path, applies the failure
  // policy of the hops that are down, or leaves it to the next slots.
  // The flow's hash is computed only to re-pin (a pinned flow needs none).
  void route(const BurstContext& ctx, std::uint16_t i, std::uint32_t word, CtDirection direction,
             const ConnRef* conn, Verdict& v) const noexcept {
    const std::vector<Target>& targets = *config_->targets;
    const std::uint32_t ti = service_word::target(word);
    if (ti >= targets.size()) return;
    const Target& t = targets[ti];
    std::size_t visited = 0;
    if (is_returned(ctx, i)) visited = std::size_t{ctx.returned[i].service_hop} + 1;
    for (std::size_t k = visited; k < t.length; ++k) {
      const std::size_t hop = direction == CtDirection::kOriginal ? k : t.length - 1 - k;
      const std::uint16_t p = t.profiles[hop];
      std::uint8_t position = service_word::instance(word, hop);
      const ProfileConfig* pc =
          p < config_->profiles.size() && config_->profiles[p].present ? &config_->profiles[p] : nullptr;
      auto usable = [&](std::uint8_t pos) {
        return pc != nullptr && pos < pc->count && pc->endpoint[pos] != 0 &&
               shared_->healthy(p, pos).load(std::memory_order_relaxed);
      };
      bool up = usable(position);
      if (!up && pc != nullptr && pc->repin && conn != nullptr) {
        bool found = false;
        const std::uint8_t other = choose_instance(*pc, *shared_, p, flow_hash(ctx.packets[i]), true, found);
        if (found) {
          std::uint32_t expected = word;
          const std::uint32_t moved = service_word::with_instance(word, hop, other);
          if (table_->exchange_service_word(*conn, expected, moved)) {
            shared_->worker_cell(ctx.worker_index).repinned.add(1);
            shared_->cell(ctx.worker_index, p, other).pinned.add(1);
            word = moved;
            position = other;
          } else if (service_word::target(expected) == ti && (expected & service_word::kRedirected)) {
            word = expected;  // another worker moved it first
            position = service_word::instance(word, hop);
          }
          up = usable(position);
        }
      }
      if (up) {
        decide(v, ctx, Action::kRedirect, t.rule_id);
        v.service = pc->endpoint[position];
        v.service_hop = static_cast<std::uint8_t>(k);
        shared_->cell(ctx.worker_index, p, position).redirected.add(1);
        return;
      }
      const auto failure =
          pc != nullptr ? pc->failure
                        : static_cast<FailurePolicy>(shared_->last_failure[p].load(std::memory_order_relaxed));
      const bool counted = shared_->chunks[p] != nullptr && position < kMaxInstancesPerProfile;
      if (failure == FailurePolicy::kFailOpen) {
        if (counted) shared_->cell(ctx.worker_index, p, position).skipped.add(1);
        continue;
      }
      decide(v, ctx, Action::kDrop, t.rule_id, DropReason::kServiceDown);
      if (counted) shared_->cell(ctx.worker_index, p, position).dropped_down.add(1);
      return;
    }
    // Every hop visited or skipped: the slots after this one decide.
  }

  std::shared_ptr<const Config> config_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<ConnTable> table_;
  CompiledPolicy::VnicLists pinned_;  // valid when has_pinned_
  bool has_pinned_ = false;
};

// Key of a target: the same (rule, path, path id) reuses its index.
struct TargetKey {
  std::uint32_t rule_id;
  std::uint32_t path_id;
  std::vector<std::uint16_t> profiles;
  friend auto operator<=>(const TargetKey&, const TargetKey&) = default;
};

std::string join_problems(const std::vector<PolicyError>& problems) {
  std::string out = "invalid redirect policy: ";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) out += "; ";
    out += problems[i].to_string();
  }
  return out;
}

}  // namespace

struct ServiceInsertion::Impl {
  Impl(Engine& e, const ServiceInsertionOptions& o)
      : engine(e), options(o), shared(std::make_shared<Shared>(e.options().max_workers)) {}
  ~Impl() { stop_probe(); }

  Engine& engine;
  const ServiceInsertionOptions options;
  std::shared_ptr<Shared> shared;

  mutable std::mutex mutex;  // control calls
  std::shared_ptr<CompiledPolicy> current;
  std::atomic<std::shared_ptr<const Config>> config;  // lock-free readers
  RedirectPolicy applied;
  std::uint64_t policy_generation = 0;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;

  std::map<std::string, std::uint16_t> profile_index;          // lifetime
  std::vector<std::size_t> profile_positions_seen;             // by index: positions given health
  std::map<TargetKey, std::uint32_t> target_index;             // lifetime
  std::shared_ptr<std::vector<Target>> targets = std::make_shared<std::vector<Target>>();
  std::map<std::string, std::uint32_t> group_numbers;          // lifetime
  std::vector<std::string> group_names;                        // number - 1 -> id
  std::uint32_t next_path_id = 1;
  std::map<std::string, std::uint32_t> chain_path_ids;         // assigned SPIs, lifetime
  std::atomic<std::shared_ptr<const std::unordered_map<std::uint32_t, std::uint32_t>>> tags_ids{
      std::make_shared<const std::unordered_map<std::uint32_t, std::uint32_t>>()};
  std::atomic<std::uint64_t> flows_offloaded{0}, flows_blocked{0};

  // Dynamic applied-to (update_group_vnics), as the DFW's: memberships of
  // groups the redirect policy lacks are kept for a later apply().
  policy_compile::DynamicAppliedTo<ServiceFilter> applied_to;

  // Health probe thread.
  std::mutex probe_mutex;
  std::condition_variable probe_wake;
  bool probe_stop = false;
  std::thread probe_thread;

  void stop_probe() {
    {
      std::lock_guard lock(probe_mutex);
      probe_stop = true;
    }
    probe_wake.notify_all();
    if (probe_thread.joinable()) probe_thread.join();
    std::lock_guard lock(probe_mutex);
    probe_stop = false;
  }

};

StatusOr<std::unique_ptr<ServiceInsertion>> ServiceInsertion::create(Engine& engine,
                                                                     const ServiceInsertionOptions& options) {
  if (options.slot >= kNumSlots)
    return invalid_argument("service insertion: slot " + std::to_string(options.slot) + " is out of range 0-" +
                            std::to_string(kNumSlots - 1));
  return std::unique_ptr<ServiceInsertion>(new ServiceInsertion(std::make_unique<Impl>(engine, options)));
}

ServiceInsertion::ServiceInsertion(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServiceInsertion::~ServiceInsertion() = default;

void ServiceInsertion::set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  impl_->vnic_addresses[vnic_id] = std::move(addresses);
}

Status ServiceInsertion::apply(const RedirectPolicy& policy, const std::vector<std::uint32_t>& vnic_ids) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  if (std::vector<PolicyError> problems = validate_redirect_policy(policy); !problems.empty())
    return invalid_argument(join_problems(problems));
  for (std::uint32_t vnic : vnic_ids) {
    if (auto chain = m.engine.describe_chain(vnic); !chain.ok()) return chain.status();
  }

  // Lifetime indices for profiles, chains' path ids and targets: assigned
  // tentatively, committed only if everything below succeeds.
  std::map<std::string, std::uint16_t> profile_index = m.profile_index;
  for (const ServiceProfile& p : policy.profiles) {
    if (profile_index.count(p.id)) continue;
    if (profile_index.size() >= kMaxProfiles)
      return resource_exhausted("service insertion: more than " + std::to_string(kMaxProfiles) +
                                " distinct profile ids over the object's lifetime");
    profile_index.emplace(p.id, static_cast<std::uint16_t>(profile_index.size()));
  }
  std::map<std::string, std::uint32_t> chain_path_ids = m.chain_path_ids;
  std::uint32_t next_path_id = m.next_path_id;
  std::set<std::uint32_t> explicit_ids;
  for (const ServiceChain& c : policy.chains)
    if (c.path_id != 0) explicit_ids.insert(c.path_id);
  auto path_id_of = [&](const std::string& target_id) -> std::uint32_t {
    for (const ServiceChain& c : policy.chains)
      if (c.id == target_id && c.path_id != 0) return c.path_id;
    auto it = chain_path_ids.find(target_id);
    if (it != chain_path_ids.end() && !explicit_ids.count(it->second)) return it->second;
    while (explicit_ids.count(next_path_id)) ++next_path_id;
    const std::uint32_t id = next_path_id++ & 0xffffff;
    chain_path_ids[target_id] = id;
    return id;
  };

  policy_compile::CompileInput input{.policy = nullptr,
                                     .vnics = vnic_ids,
                                     .vnic_addresses = m.vnic_addresses,
                                     .group_vnics = m.applied_to.members_by_group()};
  const Policy match = service_internal::redirect_match_policy(policy);
  input.policy = &match;
  auto compiled = m.current ? policy_compile::recompile(*m.current, input) : policy_compile::compile(input);
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<CompiledPolicy> shared_policy(std::move(*compiled));

  std::map<TargetKey, std::uint32_t> target_index = m.target_index;
  auto targets = std::make_shared<std::vector<Target>>(*m.targets);
  std::map<std::string, std::uint32_t> group_numbers = m.group_numbers;
  std::vector<std::string> group_names = m.group_names;
  auto group_number = [&](const std::string& id) {
    auto [it, inserted] = group_numbers.emplace(id, static_cast<std::uint32_t>(group_names.size() + 1));
    if (inserted) group_names.push_back(id);
    return it->second;
  };
  for (const Group& g : policy.groups) group_number(g.id);

  auto config = std::make_shared<Config>();
  config->compiled = shared_policy;
  std::unordered_map<std::uint32_t, const RedirectRule*> rule_by_id;
  for (const RedirectRule& r : policy.rules) rule_by_id.emplace(r.id, &r);
  for (const RedirectRule& r : policy.rules) {
    if (r.disabled || r.action != RedirectAction::kRedirect) continue;
    TargetKey key{.rule_id = r.id, .path_id = 0, .profiles = {}};
    bool is_chain = false;
    for (const ServiceChain& c : policy.chains) {
      if (c.id != r.target) continue;
      is_chain = true;
      for (const std::string& p : c.profiles) key.profiles.push_back(profile_index.at(p));
    }
    if (!is_chain) key.profiles.push_back(profile_index.at(r.target));
    key.path_id = path_id_of(r.target);
    auto it = target_index.find(key);
    if (it == target_index.end()) {
      if (targets->size() >= kMaxRedirectTargets)
        return resource_exhausted("service insertion: more than " + std::to_string(kMaxRedirectTargets) +
                                  " distinct (rule, target) pairs over the object's lifetime");
      Target t;
      t.rule_id = r.id;
      t.path_id = key.path_id;
      t.length = static_cast<std::uint8_t>(key.profiles.size());
      std::copy(key.profiles.begin(), key.profiles.end(), t.profiles);
      it = target_index.emplace(key, static_cast<std::uint32_t>(targets->size())).first;
      targets->push_back(t);
    }
    RuleMeta meta{.target = it->second,
                  .source_group = r.sources.groups.empty() ? 0 : group_number(r.sources.groups.front()),
                  .destination_group = r.destinations.groups.empty() ? 0 : group_number(r.destinations.groups.front())};
    config->rules.emplace(r.id, meta);
  }
  config->target_of_position.assign(shared_policy->rule_count(), kNoTarget);
  for (std::uint32_t pos = 0; pos < shared_policy->rule_count(); ++pos) {
    auto it = config->rules.find(shared_policy->rule_id_at(pos));
    if (it != config->rules.end()) config->target_of_position[pos] = it->second.target;
  }
  config->profiles.resize(profile_index.size());
  for (const ServiceProfile& p : policy.profiles) {
    ProfileConfig& pc = config->profiles[profile_index.at(p.id)];
    pc.present = true;
    pc.count = static_cast<std::uint8_t>(p.instances.size());
    for (std::size_t i = 0; i < p.instances.size(); ++i) {
      pc.endpoint[i] = p.instances[i].endpoint;
      config->endpoints.emplace(p.instances[i].endpoint,
                                std::make_pair(profile_index.at(p.id), static_cast<std::uint8_t>(i)));
    }
    pc.failure = p.failure;
    pc.repin = p.repin_on_failure;
    pc.encapsulation = p.encapsulation;
  }
  config->targets = targets;

  // Counter storage and health of new profiles / positions exist before the
  // filter that uses them is published.
  Shared& sh = *m.shared;
  while (sh.storage.size() < profile_index.size()) {
    sh.storage.push_back(std::make_unique<InstanceCell[]>(std::size_t{sh.workers} * kMaxInstancesPerProfile));
    sh.chunks[sh.storage.size() - 1] = sh.storage.back().get();
  }
  m.profile_positions_seen.resize(profile_index.size(), 0);
  for (const ServiceProfile& p : policy.profiles) {
    const std::uint16_t pi = profile_index.at(p.id);
    for (std::size_t i = m.profile_positions_seen[pi]; i < p.instances.size(); ++i)
      sh.healthy(pi, i).store(p.instances[i].healthy, std::memory_order_relaxed);
    m.profile_positions_seen[pi] = std::max(m.profile_positions_seen[pi], p.instances.size());
    sh.last_failure[pi].store(static_cast<std::uint8_t>(p.failure), std::memory_order_relaxed);
  }

  auto filter = std::make_shared<ServiceFilter>(config, m.shared, m.options.connections);
  std::vector<FilterChange> changes;
  changes.reserve(vnic_ids.size());
  for (std::uint32_t vnic : vnic_ids) changes.push_back({.vnic_id = vnic, .slot = m.options.slot, .filter = filter});
  if (Status s = m.engine.set_filters(changes); !s.ok()) return s;

  m.profile_index = std::move(profile_index);
  m.chain_path_ids = std::move(chain_path_ids);
  m.next_path_id = next_path_id;
  m.target_index = std::move(target_index);
  m.targets = std::move(targets);
  m.group_numbers = std::move(group_numbers);
  m.group_names = std::move(group_names);
  m.applied_to.applied(*shared_policy, vnic_ids, std::move(filter), nullptr);
  m.current = std::move(shared_policy);
  m.config.store(config);
  m.applied = policy;
  ++m.policy_generation;
  return Status::Ok();
}

Status ServiceInsertion::set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("service insertion: no redirect policy applied yet");
  return impl_->current->set_group_addresses(group_id, std::move(addresses));
}

Status ServiceInsertion::add_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("service insertion: no redirect policy applied yet");
  return impl_->current->add_group_addresses(group_id, cidrs);
}

Status ServiceInsertion::remove_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("service insertion: no redirect policy applied yet");
  return impl_->current->remove_group_addresses(group_id, cidrs);
}

Status ServiceInsertion::update_group_vnics(const std::vector<GroupVnicChange>& changes) {
  std::lock_guard lock(impl_->mutex);
  Impl& m = *impl_;
  if (!m.current) return failed_precondition("service insertion: no redirect policy applied yet");
  auto result = m.applied_to.update(*m.current, m.engine, m.options.slot, changes);
  return result.ok() ? Status::Ok() : result.status();
}

Status ServiceInsertion::add_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("service insertion: no redirect policy applied yet");
  return impl_->current->add_group_exclusions(group_id, cidrs);
}

Status ServiceInsertion::remove_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("service insertion: no redirect policy applied yet");
  return impl_->current->remove_group_exclusions(group_id, cidrs);
}

Status ServiceInsertion::set_instance_health(const std::string& profile_id, std::size_t position, bool healthy) {
  std::lock_guard lock(impl_->mutex);
  for (const ServiceProfile& p : impl_->applied.profiles) {
    if (p.id != profile_id) continue;
    if (position >= p.instances.size())
      return not_found("service insertion: profile " + profile_id + " has no instance at position " +
                       std::to_string(position) + " (it has " + std::to_string(p.instances.size()) + ")");
    impl_->shared->healthy(impl_->profile_index.at(profile_id), position).store(healthy, std::memory_order_relaxed);
    return Status::Ok();
  }
  return not_found("service insertion: no profile " + profile_id + " in the applied redirect policy");
}

Status ServiceInsertion::start_health_checks(HealthProbe probe, std::chrono::milliseconds period) {
  if (period.count() <= 0) return invalid_argument("service insertion: health check period must be positive");
  if (!probe) return invalid_argument("service insertion: health probe is empty");
  impl_->stop_probe();
  Impl* m = impl_.get();
  m->probe_thread = std::thread([m, probe = std::move(probe), period] {
    std::unique_lock wait_lock(m->probe_mutex);
    while (!m->probe_stop) {
      wait_lock.unlock();
      struct Item {
        std::string profile;
        std::size_t position;
        std::uint32_t endpoint;
        std::uint16_t index;
      };
      std::vector<Item> items;
      {
        std::lock_guard lock(m->mutex);
        for (const ServiceProfile& p : m->applied.profiles)
          for (std::size_t i = 0; i < p.instances.size(); ++i)
            items.push_back({p.id, i, p.instances[i].endpoint, m->profile_index.at(p.id)});
      }
      for (const Item& it : items) {
        const bool up = probe(it.profile, it.position, it.endpoint);
        m->shared->healthy(it.index, it.position).store(up, std::memory_order_relaxed);
      }
      wait_lock.lock();
      m->probe_wake.wait_for(wait_lock, period, [m] { return m->probe_stop; });
    }
  });
  return Status::Ok();
}

void ServiceInsertion::stop_health_checks() { impl_->stop_probe(); }

Status ServiceInsertion::set_flow_verdict(std::uint32_t vnic_id, std::span<const std::uint8_t> frame,
                                          FlowVerdict verdict) {
  const std::shared_ptr<ConnTable>& table = impl_->options.connections;
  if (!table) return failed_precondition("service insertion: no connection table (ServiceInsertionOptions::connections)");
  if (vnic_id >= table->options().zones)
    return not_found("service insertion: vnic " + std::to_string(vnic_id) + " has no connection zone");
  PacketView view;
  if (const ParseError err = parse_frame(frame, view); err != ParseError::kOk)
    return invalid_argument("service insertion: the frame does not parse: " + std::string(parse_error_name(err)));
  ConnTable::Peek peeks[1];
  const std::uint16_t zero = 0;
  table->peek(static_cast<std::uint16_t>(vnic_id), std::span<const PacketView>(&view, 1),
              std::span<const std::uint16_t>(&zero, 1), 0, peeks);  // 0: the table's clock is the caller's; no expiry check
  if (!peeks[0].found) return not_found("service insertion: the frame belongs to no live connection");
  std::uint32_t expected = peeks[0].service_word;
  for (;;) {
    const std::uint32_t desired = (expected & ~service_word::kVerdictMask) | static_cast<std::uint32_t>(verdict);
    if (table->exchange_service_word(peeks[0].conn, expected, desired)) break;
    std::uint32_t now = 0;
    if (!table->service_word(peeks[0].conn, now)) return not_found("service insertion: the connection ended");
    expected = now;
  }
  if (verdict == FlowVerdict::kAllow) impl_->flows_offloaded.fetch_add(1, std::memory_order_relaxed);
  if (verdict == FlowVerdict::kBlock) impl_->flows_blocked.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

void ServiceInsertion::count_service_drop(const Verdict& v) noexcept {
  if (v.action != Action::kRedirect) return;
  const std::shared_ptr<const Config> config = impl_->config.load();
  if (!config) return;
  auto it = config->endpoints.find(v.service);
  if (it == config->endpoints.end()) return;
  impl_->shared->service_drops[std::size_t{it->second.first} * kMaxInstancesPerProfile + it->second.second]
      .fetch_add(1, std::memory_order_relaxed);
}

StatusOr<ServiceMetadata> ServiceInsertion::metadata(std::uint32_t vnic_id, const Verdict& v) const {
  if (v.action != Action::kRedirect) return invalid_argument("service insertion: the verdict is not a redirect");
  const std::shared_ptr<const Config> config = impl_->config.load();
  if (!config) return not_found("service insertion: no redirect policy applied yet");
  auto rule = config->rules.find(v.rule_id);
  if (rule == config->rules.end())
    return not_found("service insertion: rule " + std::to_string(v.rule_id) +
                     " is not a redirect rule of the applied policy");
  ServiceMetadata md;
  md.path_id = (*config->targets)[rule->second.target].path_id;
  md.service_index = static_cast<std::uint8_t>(255 - v.service_hop);
  md.rule_id = v.rule_id;
  md.vnic_id = vnic_id;
  md.endpoint = v.service;
  md.source_group = rule->second.source_group;
  md.destination_group = rule->second.destination_group;
  const auto tags = impl_->tags_ids.load();
  if (auto it = tags->find(vnic_id); it != tags->end()) md.vm_tags_id = it->second;
  return md;
}

ServiceEncapsulation ServiceInsertion::encapsulation(const Verdict& v) const noexcept {
  const std::shared_ptr<const Config> config = impl_->config.load();
  if (!config || v.action != Action::kRedirect) return ServiceEncapsulation::kNone;
  auto it = config->endpoints.find(v.service);
  if (it == config->endpoints.end()) return ServiceEncapsulation::kNone;
  return config->profiles[it->second.first].encapsulation;
}

StatusOr<std::uint32_t> ServiceInsertion::group_numeric_id(const std::string& group_id) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->group_numbers.find(group_id);
  if (it == impl_->group_numbers.end())
    return not_found("service insertion: group " + group_id + " was never in an applied redirect policy");
  return it->second;
}

StatusOr<std::string> ServiceInsertion::group_id_of(std::uint32_t numeric_id) const {
  std::lock_guard lock(impl_->mutex);
  if (numeric_id == 0 || numeric_id > impl_->group_names.size())
    return not_found("service insertion: no group has numeric id " + std::to_string(numeric_id));
  return impl_->group_names[numeric_id - 1];
}

void ServiceInsertion::set_vnic_tags_id(std::uint32_t vnic_id, std::uint32_t tags_id) {
  std::lock_guard lock(impl_->mutex);
  auto next = std::make_shared<std::unordered_map<std::uint32_t, std::uint32_t>>(*impl_->tags_ids.load());
  if (tags_id == 0) {
    next->erase(vnic_id);
  } else {
    (*next)[vnic_id] = tags_id;
  }
  impl_->tags_ids.store(std::move(next));
}

ServiceStats ServiceInsertion::stats() const {
  std::lock_guard lock(impl_->mutex);
  const Shared& sh = *impl_->shared;
  ServiceStats out;
  for (const ServiceProfile& p : impl_->applied.profiles) {
    const std::uint16_t pi = impl_->profile_index.at(p.id);
    ServiceProfileStats ps;
    ps.id = p.id;
    for (std::size_t i = 0; i < p.instances.size(); ++i) {
      ServiceInstanceStats is;
      is.endpoint = p.instances[i].endpoint;
      is.healthy = sh.healthy(pi, i).load(std::memory_order_relaxed);
      for (std::uint32_t w = 0; w < sh.workers; ++w) {
        const InstanceCell& c = sh.cell(w, pi, i);
        is.redirected += c.redirected.get();
        is.skipped += c.skipped.get();
        is.dropped_down += c.dropped_down.get();
        is.flows_pinned += c.pinned.get();
      }
      is.dropped_by_service = sh.service_drops[std::size_t{pi} * kMaxInstancesPerProfile + i].load();
      ps.instances.push_back(is);
    }
    out.profiles.push_back(std::move(ps));
  }
  for (std::uint32_t w = 0; w < sh.workers; ++w) {
    out.packets_fast_path += sh.worker_cells[w].fast_path.get();
    out.packets_flow_blocked += sh.worker_cells[w].flow_blocked.get();
    out.flows_repinned += sh.worker_cells[w].repinned.get();
  }
  out.flows_offloaded = impl_->flows_offloaded.load();
  out.flows_blocked = impl_->flows_blocked.load();
  return out;
}

std::uint64_t ServiceInsertion::policy_generation() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->policy_generation;
}

NshContext nsh_context(const ServiceMetadata& md, std::uint64_t flow_id) noexcept {
  NshContext ctx;
  ctx.spi = md.path_id & kNshMaxSpi;
  ctx.si = md.service_index;
  ctx.next_protocol = NshNextProtocol::kEthernet;
  ctx.md_type = kNshMdType2;
  ctx.present = kNshHasGroups | kNshHasRuleId | kNshHasVnicId;
  ctx.source_group = md.source_group;
  ctx.destination_group = md.destination_group;
  ctx.rule_id = md.rule_id;
  ctx.vnic_id = md.vnic_id;
  if (md.vm_tags_id != 0) {
    ctx.present |= kNshHasTagSetId;
    ctx.tag_set_id = md.vm_tags_id;
  }
  if (flow_id != 0) {
    ctx.present |= kNshHasFlowId;
    ctx.flow_id = flow_id;
  }
  return ctx;
}

// ---- group sinks -------------------------------------------------------------

namespace {

class FanoutGroupSink final : public GroupSink {
 public:
  explicit FanoutGroupSink(std::vector<GroupSink*> sinks) : sinks_(std::move(sinks)) {}
  Status apply(std::span<const GroupDelta> deltas) override {
    Status first = Status::Ok();
    for (GroupSink* sink : sinks_) {
      Status s = sink->apply(deltas);
      if (!s.ok() && first.ok()) first = std::move(s);
    }
    return first;
  }

 private:
  std::vector<GroupSink*> sinks_;
};

}  // namespace

// As the DFW's sink (libfw/groups/slot_sink.h); groups the redirect policy
// does not name are not its business.
std::unique_ptr<GroupSink> make_service_group_sink(ServiceInsertion& service) {
  return std::make_unique<groups_internal::SlotGroupSink<ServiceInsertion>>(service, "service insertion",
                                                                           /*skip_unknown_groups=*/true);
}

std::unique_ptr<GroupSink> make_group_sink_fanout(std::vector<GroupSink*> sinks) {
  return std::make_unique<FanoutGroupSink>(std::move(sinks));
}

}  // namespace fw
