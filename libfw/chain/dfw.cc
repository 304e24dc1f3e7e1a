// Slot 2, stateless: the compiled policy behind the Filter interface, and the
// Dfw control object that compiles, publishes and counts.
//
// What the datapath reads, per installed filter (immutable once installed):
//
//   DfwFilter {CompiledPolicy (shared with later filters of the lineage),
//              slot_of_position[] (rule position -> counter slot),
//              default_slot, RuleCounterStore (shared by every filter of the Dfw)}
//
// Counters are per rule id, not per filter: RuleCounterStore hands each
// rule id one slot for the Dfw's lifetime, so a re-apply that keeps a rule
// keeps its counts without copying anything, and an old filter still
// installed somewhere counts into the same slots.
#include "fw/dfw.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <unordered_map>

#include "fw/chain.h"
#include "fw/engine.h"
#include "fw/filter.h"
#include "libfw/core/counter.h"
#include "libfw/policy/compile.h"

namespace fw {
namespace {

using internal::SingleWriterCounter;
using policy_compile::CompiledPolicy;

// Per-rule counter cells, per worker. Slots are handed out by rule id and
// never move: storage grows by chunks of kSlotsPerChunk slots, each chunk
// holding one contiguous row of cells per worker (so two workers only share
// a cache line at a row boundary, which the alignment rules out). The chunk
// table is sized once, so growing never moves what a worker may be reading;
// a chunk pointer is written before the filter that uses it is published
// (Engine::set_filters, release), and workers reach it only through that
// filter (acquire).
class RuleCounterStore {
 public:
  struct alignas(32) Cell {
    SingleWriterCounter packets[kDirectionCount];
    SingleWriterCounter bytes[kDirectionCount];
  };
  static_assert(sizeof(Cell) == 32);
  static constexpr std::uint32_t kSlotsPerChunk = 1024;
  static constexpr std::uint32_t kMaxChunks = 16384;  // 16 Mi rule ids

  explicit RuleCounterStore(std::uint32_t workers)
      : workers_(workers), chunks_(std::make_unique<Cell*[]>(kMaxChunks)) {}

  std::uint32_t workers() const noexcept { return workers_; }

  // Control thread: makes sure slots [0, count) have storage.
  Status reserve(std::size_t count) {
    const std::size_t needed = (count + kSlotsPerChunk - 1) / kSlotsPerChunk;
    if (needed > kMaxChunks)
      return resource_exhausted("dfw: more than " + std::to_string(std::size_t{kMaxChunks} * kSlotsPerChunk) +
                                " distinct rule ids over the Dfw's lifetime");
    while (storage_.size() < needed) {
      storage_.push_back(std::make_unique<Cell[]>(std::size_t{kSlotsPerChunk} * workers_));
      chunks_[storage_.size() - 1] = storage_.back().get();
    }
    return Status::Ok();
  }

  Cell& cell(std::uint32_t worker, std::uint32_t slot) const noexcept {
    return chunks_[slot / kSlotsPerChunk][std::size_t{worker} * kSlotsPerChunk + slot % kSlotsPerChunk];
  }

  void sum(std::uint32_t slot, DfwRuleStats& out) const noexcept {
    for (std::uint32_t w = 0; w < workers_; ++w) {
      const Cell& c = cell(w, slot);
      for (std::size_t d = 0; d < kDirectionCount; ++d) {
        out.packets[d] += c.packets[d].get();
        out.bytes[d] += c.bytes[d].get();
      }
    }
  }

 private:
  const std::uint32_t workers_;
  std::unique_ptr<Cell*[]> chunks_;                  // kMaxChunks entries, read by the datapath
  std::vector<std::unique_ptr<Cell[]>> storage_;     // control thread only
};

class DfwFilter final : public Filter {
 public:
  DfwFilter(std::shared_ptr<const CompiledPolicy> compiled, std::vector<std::uint32_t> slot_of_position,
            std::uint32_t default_slot, std::shared_ptr<const RuleCounterStore> counters)
      : compiled_(std::move(compiled)),
        slot_of_position_(std::move(slot_of_position)),
        default_slot_(default_slot),
        counters_(std::move(counters)) {}

  std::string_view kind() const noexcept override { return "dfw"; }

  // The whole per-burst decide path: gather the IP packets (the rest are
  // not the DFW's), decide them in one burst for this vNIC and direction,
  // then write their verdicts and count them per rule. (Connection tracking
  // will slot in between gathering and deciding.)
  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    // Scratch is on the stack (at most kMaxBurst packets reach a filter per
    // call) and deliberately uninitialised: LookupKey and Decision have
    // member initialisers, and value-initialising 256 of each zeroed ~24 KB
    // per call, which cost a one-packet burst ~250 ns. Only the first n
    // entries are written and read (both are implicit-lifetime types).
    alignas(classify::LookupKey) unsigned char key_bytes[sizeof(classify::LookupKey) * kMaxBurst];
    alignas(policy_compile::Decision) unsigned char decision_bytes[sizeof(policy_compile::Decision) * kMaxBurst];
    auto* keys = reinterpret_cast<classify::LookupKey*>(key_bytes);
    auto* decisions = reinterpret_cast<policy_compile::Decision*>(decision_bytes);
    std::uint16_t index[kMaxBurst];
    std::size_t n = 0;
    for (const std::uint16_t i : active) {
      const PacketView& v = ctx.packets[i];
      if (v.l3 != L3Kind::kIpv4 && v.l3 != L3Kind::kIpv6) continue;
      classify::LookupKey& key = *::new (&keys[n]) classify::LookupKey;
      key.src = v.src_ip;
      key.dst = v.dst_ip;
      key.protocol = v.protocol;
      // Without an L4 header (a non-first fragment) no port is known: 0
      // matches only rules that accept every port.
      key.src_port = v.has_l4 ? v.src_port : 0;
      key.dst_port = v.has_l4 ? v.dst_port : 0;
      index[n++] = i;
    }
    if (n == 0) return;
    compiled_->decide_burst(ctx.vnic_id, ctx.direction, std::span(keys, n), std::span(decisions, n));
    const std::uint32_t worker = std::min(ctx.worker_index, counters_->workers() - 1);
    const auto dir = static_cast<std::size_t>(ctx.direction) & 1;
    for (std::size_t k = 0; k < n; ++k) {
      const policy_compile::Decision& d = decisions[k];
      Verdict& v = verdicts[index[k]];
      const DropReason reason = d.is_default ? DropReason::kDefaultRule : DropReason::kRule;
      switch (d.action) {
        case RuleAction::kDrop: decide(v, ctx, Action::kDrop, d.rule_id, reason); break;
        case RuleAction::kReject: decide(v, ctx, Action::kReject, d.rule_id, reason); break;
        default: decide(v, ctx, Action::kPass, d.rule_id); break;
      }
      const std::uint32_t slot = d.is_default ? default_slot_ : slot_of_position_[d.position];
      RuleCounterStore::Cell& cell = counters_->cell(worker, slot);
      cell.packets[dir].add(1);
      cell.bytes[dir].add(ctx.packets[index[k]].length);
    }
  }

 private:
  std::shared_ptr<const CompiledPolicy> compiled_;
  std::vector<std::uint32_t> slot_of_position_;
  std::uint32_t default_slot_;
  std::shared_ptr<const RuleCounterStore> counters_;
};

}  // namespace

struct Dfw::Impl {
  Impl(Engine& e, std::uint32_t workers) : engine(e), counters(std::make_shared<RuleCounterStore>(workers)) {}
  Engine& engine;
  mutable std::mutex mutex;  // control calls
  std::shared_ptr<CompiledPolicy> current;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  std::shared_ptr<RuleCounterStore> counters;
  std::unordered_map<std::uint32_t, std::uint32_t> counter_slot;  // rule id -> slot, never forgotten
  DfwApplyStats last;

  // The slot of `rule_id`, handing out the next one for a new id.
  std::uint32_t slot_for(std::uint32_t rule_id) {
    auto [it, fresh] = counter_slot.try_emplace(rule_id, static_cast<std::uint32_t>(counter_slot.size()));
    return it->second;
  }
  DfwRuleStats stats_of(std::uint32_t rule_id, bool is_default) const {
    DfwRuleStats out;
    out.rule_id = rule_id;
    out.is_default = is_default;
    if (auto it = counter_slot.find(rule_id); it != counter_slot.end()) counters->sum(it->second, out);
    return out;
  }
};

Dfw::Dfw(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Dfw::~Dfw() = default;

StatusOr<std::unique_ptr<Dfw>> Dfw::create(Engine& engine) {
  return std::unique_ptr<Dfw>(new Dfw(std::make_unique<Impl>(engine, engine.options().max_workers)));
}

void Dfw::set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  impl_->vnic_addresses[vnic_id] = std::move(addresses);
}

Status Dfw::apply(const Policy& policy, const std::vector<std::uint32_t>& vnic_ids) {
  std::lock_guard lock(impl_->mutex);
  // Checked first so that a typo costs no compile; Engine::set_filters
  // checks again, atomically with publishing.
  for (std::uint32_t vnic : vnic_ids) {
    if (auto chain = impl_->engine.describe_chain(vnic); !chain.ok()) return chain.status();
  }
  policy_compile::CompileInput input{.policy = &policy, .vnics = vnic_ids, .vnic_addresses = impl_->vnic_addresses};
  auto compiled = impl_->current ? policy_compile::recompile(*impl_->current, input) : policy_compile::compile(input);
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<CompiledPolicy> shared(std::move(*compiled));

  // Counter slots by rule id; storage for new ids exists before any filter
  // that counts into it is published.
  const std::size_t slots_before = impl_->counter_slot.size();
  std::vector<std::uint32_t> slot_of_position(shared->rule_count());
  for (std::uint32_t p = 0; p < slot_of_position.size(); ++p) slot_of_position[p] = impl_->slot_for(shared->rule_id_at(p));
  const std::uint32_t default_slot = impl_->slot_for(shared->default_rule_id());
  if (Status s = impl_->counters->reserve(impl_->counter_slot.size()); !s.ok()) {
    // Forget the ids this apply introduced: they were never published.
    for (auto it = impl_->counter_slot.begin(); it != impl_->counter_slot.end();)
      it = it->second >= slots_before ? impl_->counter_slot.erase(it) : std::next(it);
    return s;
  }

  auto filter = std::make_shared<DfwFilter>(shared, std::move(slot_of_position), default_slot, impl_->counters);
  std::vector<FilterChange> changes;
  changes.reserve(vnic_ids.size());
  for (std::uint32_t vnic : vnic_ids) changes.push_back({.vnic_id = vnic, .slot = kSlotDfw, .filter = filter});
  if (Status s = impl_->engine.set_filters(changes); !s.ok()) return s;
  const policy_compile::CompileStats& st = shared->compile_stats();
  impl_->last = DfwApplyStats{.incremental = st.incremental,
                              .rule_lists = shared->rule_lists(),
                              .lists_built = st.lists_built,
                              .lists_reused = st.lists_reused,
                              .atoms_added = st.atoms_added,
                              .generation = impl_->engine.generation()};
  impl_->current = std::move(shared);
  return Status::Ok();
}

DfwApplyStats Dfw::last_apply() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last;
}

Status Dfw::set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->set_group_addresses(group_id, std::move(addresses));
}

Status Dfw::add_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->add_group_addresses(group_id, cidrs);
}

Status Dfw::remove_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->remove_group_addresses(group_id, cidrs);
}

std::map<std::string, std::vector<Cidr>> Dfw::group_addresses() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return {};
  return impl_->current->group_addresses();
}

std::vector<DfwRuleStats> Dfw::rule_stats() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<DfwRuleStats> out;
  if (!impl_->current) return out;
  const CompiledPolicy& cp = *impl_->current;
  out.reserve(cp.rule_count() + 1);
  for (std::uint32_t p = 0; p < cp.rule_count(); ++p) out.push_back(impl_->stats_of(cp.rule_id_at(p), false));
  out.push_back(impl_->stats_of(cp.default_rule_id(), true));
  return out;
}

StatusOr<DfwRuleStats> Dfw::rule_stats(std::uint32_t rule_id) const {
  std::lock_guard lock(impl_->mutex);
  if (impl_->current) {
    const CompiledPolicy& cp = *impl_->current;
    if (rule_id == cp.default_rule_id()) return impl_->stats_of(rule_id, true);
    for (std::uint32_t p = 0; p < cp.rule_count(); ++p)
      if (cp.rule_id_at(p) == rule_id) return impl_->stats_of(rule_id, false);
  }
  return not_found("dfw: rule " + std::to_string(rule_id) + " is not an enabled rule of the applied policy");
}

}  // namespace fw
