// Engine: the vNIC table, chain snapshots published through RCU, workers, and
// the burst loop.
//
// Layout of what the datapath reads (all immutable once published):
//
//   Engine::Impl::current --(atomic, RCU)--> Snapshot {generation, vnic map}
//                                              vnic id -> ChainState {slots[16],
//                                                         used slot list,
//                                                         VnicCounters (shared)}
//
// A configuration change copies the Snapshot (the vNIC map holds shared
// pointers, so only the map is copied, not the chains), edits the copy,
// publishes it with generation + 1, waits one grace period and drops the old
// one. Filters and counters removed by the change die with the last snapshot
// that referenced them. Counters live in a VnicCounters object shared by
// every generation of the vNIC's chain, so they survive reconfiguration.
//
// Lock order: Impl::control_mutex is the only lock; the datapath never takes
// it.
#include "fw/engine.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "libfw/core/counter.h"
#include "libfw/core/rcu.h"

namespace fw {
namespace {

using internal::SingleWriterCounter;

// One worker's counters for one vNIC, both directions. Cache-line aligned so
// two workers never write the same line.
struct alignas(internal::kCacheLine) WorkerCounters {
  struct PerDirection {
    SingleWriterCounter packets, bytes, reinjected;
    SingleWriterCounter verdicts[kActionCount];
    SingleWriterCounter drops[kDropReasonCount];
    SingleWriterCounter parse_errors[kParseErrorCount];
    SingleWriterCounter slot_decided[kNumSlots][kActionCount];
  } direction[kDirectionCount];
};

struct VnicCounters {
  explicit VnicCounters(std::uint32_t workers)
      : workers(workers), blocks(std::make_unique<WorkerCounters[]>(workers)) {}
  std::uint32_t workers;
  std::unique_ptr<WorkerCounters[]> blocks;
};

struct ChainState {
  VnicConfig vnic;
  std::array<std::shared_ptr<const Filter>, kNumSlots> slots;
  // Occupied slots in ascending order, so the burst loop skips empty ones.
  std::array<std::uint8_t, kNumSlots> used{};
  std::uint8_t used_count = 0;
  std::shared_ptr<VnicCounters> counters;

  void index_slots() noexcept {
    used_count = 0;
    for (std::uint8_t s = 0; s < kNumSlots; ++s)
      if (slots[s]) used[used_count++] = s;
  }
};

struct Snapshot {
  std::uint64_t generation = 1;
  std::unordered_map<std::uint32_t, std::shared_ptr<const ChainState>> chains;
};

// CLOCK_MONOTONIC in nanoseconds: a vDSO call, no system call, no lock.
std::uint64_t monotonic_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

struct alignas(internal::kCacheLine) WorkerSlot {
  SingleWriterCounter unknown_vnic_packets;
};

}  // namespace

struct Worker::Scratch {
  PacketView views[kMaxBurst];
  std::uint16_t active[kMaxBurst];
  // Engine::resume() only: the verdicts the burst's frames came back with,
  // and the index (into the chain's used slots) each frame starts at.
  Verdict returned[kMaxBurst];
  std::uint8_t start[kMaxBurst];
  std::uint16_t merged[kMaxBurst];
};

struct Engine::Impl {
  EngineOptions options;
  std::atomic<const Snapshot*> current{nullptr};
  // Mirror of current->generation readable without RCU registration.
  std::atomic<std::uint64_t> published_generation{1};

  mutable std::mutex control_mutex;  // serialises every control-plane call
  std::vector<bool> worker_in_use;   // guarded by control_mutex
  std::unique_ptr<WorkerSlot[]> worker_slots;

  ~Impl() { delete current.load(); }

  // Publishes `next` (generation assigned here) and retires the previous
  // snapshot after a grace period. Caller holds control_mutex.
  void publish(std::unique_ptr<Snapshot> next) {
    const Snapshot* old = current.load(std::memory_order_relaxed);
    next->generation = old->generation + 1;
    published_generation.store(next->generation, std::memory_order_release);
    current.store(next.release(), std::memory_order_release);
    rcu::synchronize();
    delete old;
  }

  std::unique_ptr<Snapshot> copy_current() const {
    return std::make_unique<Snapshot>(*current.load(std::memory_order_relaxed));
  }
};

// ---- Worker -------------------------------------------------------------------

Worker::Worker(Engine& engine, std::uint32_t index)
    : engine_(engine), index_(index), scratch_(std::make_unique<Scratch>()) {
  rcu::register_reader_thread();
}

Worker::~Worker() {
  rcu::unregister_reader_thread();
  std::lock_guard lock(engine_.impl_->control_mutex);
  engine_.impl_->worker_in_use[index_] = false;
}

// ---- Engine: control plane ---------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::create(const EngineOptions& options) {
  if (options.max_workers == 0 || options.max_workers > 1024)
    return invalid_argument("max_workers: " + std::to_string(options.max_workers) +
                            " is out of range 1-1024");
  if (options.max_vnics == 0)
    return invalid_argument("max_vnics: must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->worker_in_use.assign(options.max_workers, false);
  impl->worker_slots = std::make_unique<WorkerSlot[]>(options.max_workers);
  impl->current.store(new Snapshot());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const EngineOptions& Engine::options() const noexcept { return impl_->options; }

std::uint64_t Engine::generation() const noexcept {
  return impl_->published_generation.load(std::memory_order_acquire);
}

Status Engine::attach_vnic(const VnicConfig& config) {
  if (config.id == 0) return invalid_argument("vnic id: 0 is reserved");
  if (config.vlan > 4094)
    return invalid_argument("vnic " + std::to_string(config.id) + ": vlan: " +
                            std::to_string(config.vlan) + " is not a VLAN id (0 = none, 1-4094)");
  std::lock_guard lock(impl_->control_mutex);
  auto next = impl_->copy_current();
  if (next->chains.contains(config.id))
    return already_exists("vnic " + std::to_string(config.id) + " is already attached");
  if (next->chains.size() >= impl_->options.max_vnics)
    return resource_exhausted("max_vnics (" + std::to_string(impl_->options.max_vnics) +
                              ") vNICs are attached");
  auto chain = std::make_shared<ChainState>();
  chain->vnic = config;
  chain->counters = std::make_shared<VnicCounters>(impl_->options.max_workers);
  chain->index_slots();
  next->chains.emplace(config.id, std::move(chain));
  impl_->publish(std::move(next));
  return Status::Ok();
}

Status Engine::detach_vnic(std::uint32_t vnic_id) {
  std::lock_guard lock(impl_->control_mutex);
  auto next = impl_->copy_current();
  if (next->chains.erase(vnic_id) == 0)
    return not_found("vnic " + std::to_string(vnic_id) + " is not attached");
  impl_->publish(std::move(next));
  return Status::Ok();
}

Status Engine::set_filter(std::uint32_t vnic_id, std::uint8_t slot,
                          std::shared_ptr<const Filter> filter) {
  if (slot >= kNumSlots)
    return invalid_argument("slot: " + std::to_string(slot) + " is out of range 0-15");
  std::lock_guard lock(impl_->control_mutex);
  auto next = impl_->copy_current();
  auto it = next->chains.find(vnic_id);
  if (it == next->chains.end())
    return not_found("vnic " + std::to_string(vnic_id) + " is not attached");
  auto chain = std::make_shared<ChainState>(*it->second);
  chain->slots[slot] = std::move(filter);
  chain->index_slots();
  it->second = std::move(chain);
  impl_->publish(std::move(next));
  return Status::Ok();
}

Status Engine::set_filters(std::span<const FilterChange> changes) {
  if (changes.empty()) return Status::Ok();
  for (std::size_t i = 0; i < changes.size(); ++i)
    if (changes[i].slot >= kNumSlots)
      return invalid_argument("changes[" + std::to_string(i) + "]: slot: " + std::to_string(changes[i].slot) +
                              " is out of range 0-15");
  std::lock_guard lock(impl_->control_mutex);
  auto next = impl_->copy_current();
  // Each changed chain is copied once, however many of its slots change.
  std::unordered_map<std::uint32_t, std::shared_ptr<ChainState>> edited;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const FilterChange& change = changes[i];
    auto it = next->chains.find(change.vnic_id);
    if (it == next->chains.end())
      return not_found("changes[" + std::to_string(i) + "]: vnic " + std::to_string(change.vnic_id) +
                       " is not attached");
    auto [at, fresh] = edited.try_emplace(change.vnic_id);
    if (fresh) at->second = std::make_shared<ChainState>(*it->second);
    at->second->slots[change.slot] = change.filter;
  }
  for (auto& [vnic, chain] : edited) {
    chain->index_slots();
    next->chains[vnic] = std::move(chain);
  }
  impl_->publish(std::move(next));
  return Status::Ok();
}

Status Engine::clear_filter(std::uint32_t vnic_id, std::uint8_t slot) {
  return set_filter(vnic_id, slot, nullptr);
}

StatusOr<ChainDescription> Engine::describe_chain(std::uint32_t vnic_id) const {
  std::lock_guard lock(impl_->control_mutex);
  const Snapshot* snap = impl_->current.load(std::memory_order_relaxed);
  auto it = snap->chains.find(vnic_id);
  if (it == snap->chains.end())
    return not_found("vnic " + std::to_string(vnic_id) + " is not attached");
  ChainDescription d;
  d.vnic_id = vnic_id;
  d.generation = snap->generation;
  for (std::size_t s = 0; s < kNumSlots; ++s)
    if (it->second->slots[s]) d.slots[s] = std::string(it->second->slots[s]->kind());
  return d;
}

StatusOr<std::shared_ptr<const Filter>> Engine::filter(std::uint32_t vnic_id,
                                                       std::uint8_t slot) const {
  if (slot >= kNumSlots)
    return invalid_argument("slot: " + std::to_string(slot) + " is out of range 0-15");
  std::lock_guard lock(impl_->control_mutex);
  const Snapshot* snap = impl_->current.load(std::memory_order_relaxed);
  auto it = snap->chains.find(vnic_id);
  if (it == snap->chains.end())
    return not_found("vnic " + std::to_string(vnic_id) + " is not attached");
  return it->second->slots[slot];
}

StatusOr<VnicStats> Engine::vnic_stats(std::uint32_t vnic_id) const {
  std::shared_ptr<VnicCounters> counters;
  {
    std::lock_guard lock(impl_->control_mutex);
    const Snapshot* snap = impl_->current.load(std::memory_order_relaxed);
    auto it = snap->chains.find(vnic_id);
    if (it == snap->chains.end())
      return not_found("vnic " + std::to_string(vnic_id) + " is not attached");
    counters = it->second->counters;
  }
  VnicStats out;
  out.vnic_id = vnic_id;
  for (std::uint32_t w = 0; w < counters->workers; ++w) {
    for (std::size_t d = 0; d < kDirectionCount; ++d) {
      const auto& in = counters->blocks[w].direction[d];
      DirectionStats& o = out.direction[d];
      o.packets += in.packets.get();
      o.bytes += in.bytes.get();
      o.reinjected += in.reinjected.get();
      for (std::size_t a = 0; a < kActionCount; ++a) o.verdicts[a] += in.verdicts[a].get();
      for (std::size_t r = 0; r < kDropReasonCount; ++r) o.drops[r] += in.drops[r].get();
      for (std::size_t e = 0; e < kParseErrorCount; ++e) o.parse_errors[e] += in.parse_errors[e].get();
      for (std::size_t s = 0; s < kNumSlots; ++s)
        for (std::size_t a = 0; a < kActionCount; ++a)
          o.slots[s].decided[a] += in.slot_decided[s][a].get();
    }
  }
  return out;
}

std::uint64_t Engine::unknown_vnic_packets() const {
  std::uint64_t total = 0;
  for (std::uint32_t w = 0; w < impl_->options.max_workers; ++w)
    total += impl_->worker_slots[w].unknown_vnic_packets.get();
  return total;
}

StatusOr<std::unique_ptr<Worker>> Engine::create_worker() {
  std::uint32_t index;
  {
    std::lock_guard lock(impl_->control_mutex);
    auto it = std::find(impl_->worker_in_use.begin(), impl_->worker_in_use.end(), false);
    if (it == impl_->worker_in_use.end())
      return resource_exhausted("max_workers (" + std::to_string(impl_->options.max_workers) +
                                ") workers exist");
    *it = true;
    index = static_cast<std::uint32_t>(it - impl_->worker_in_use.begin());
  }
  return std::unique_ptr<Worker>(new Worker(*this, index));
}

// ---- Engine: datapath --------------------------------------------------------

void Engine::process(Worker& worker, std::uint32_t vnic_id, Direction direction,
                     std::span<const Frame> frames, std::span<Verdict> verdicts) noexcept {
  run(worker, vnic_id, direction, 0, false, frames, verdicts, ProcessOptions{});
}

void Engine::process(Worker& worker, std::uint32_t vnic_id, Direction direction,
                     std::span<const Frame> frames, std::span<Verdict> verdicts,
                     const ProcessOptions& options) noexcept {
  run(worker, vnic_id, direction, 0, false, frames, verdicts, options);
}

void Engine::reinject(Worker& worker, std::uint32_t vnic_id, Direction direction,
                      std::uint8_t after_slot, std::span<const Frame> frames,
                      std::span<Verdict> verdicts) noexcept {
  reinject(worker, vnic_id, direction, after_slot, frames, verdicts, ProcessOptions{});
}

void Engine::reinject(Worker& worker, std::uint32_t vnic_id, Direction direction,
                      std::uint8_t after_slot, std::span<const Frame> frames,
                      std::span<Verdict> verdicts, const ProcessOptions& options) noexcept {
  // A packet redirected from the last slot resumes past the chain: nothing
  // is left to decide and it passes.
  run(worker, vnic_id, direction, static_cast<std::uint8_t>(after_slot + 1), true, frames,
      verdicts, options);
}

void Engine::resume(Worker& worker, std::uint32_t vnic_id, Direction direction,
                    std::span<const Frame> frames, std::span<Verdict> verdicts) noexcept {
  resume(worker, vnic_id, direction, frames, verdicts, ProcessOptions{});
}

void Engine::resume(Worker& worker, std::uint32_t vnic_id, Direction direction,
                    std::span<const Frame> frames, std::span<Verdict> verdicts,
                    const ProcessOptions& options) noexcept {
  run(worker, vnic_id, direction, 0, true, frames, verdicts, options, true);
}

void Engine::run(Worker& worker, std::uint32_t vnic_id, Direction direction,
                 std::uint8_t first_slot, bool reinjected, std::span<const Frame> frames,
                 std::span<Verdict> verdicts, const ProcessOptions& options, bool resumed) noexcept {
  const std::size_t total = std::min(frames.size(), verdicts.size());
  if (RejectAnswers* answers = options.answers) {
    answers->bytes_used = 0;
    answers->overflowed = 0;
    std::fill_n(answers->answers.begin(), std::min(total, answers->answers.size()), RejectAnswer{});
  }
  if (total == 0) return;
  rcu::ReadGuard guard;  // one snapshot, one generation, for the whole call
  const Snapshot* snap = impl_->current.load(std::memory_order_acquire);
  const std::uint64_t generation = snap->generation;

  auto found = snap->chains.find(vnic_id);
  if (found == snap->chains.end()) {
    Verdict v;
    v.action = Action::kDrop;
    v.reason = DropReason::kUnknownVnic;
    v.generation = generation;
    std::fill_n(verdicts.begin(), total, v);
    impl_->worker_slots[worker.index_].unknown_vnic_packets.add(total);
    return;
  }
  const ChainState& chain = *found->second;
  auto& counters = chain.counters->blocks[worker.index_].direction[static_cast<std::size_t>(direction)];
  Worker::Scratch& scratch = *worker.scratch_;
  const ParseOptions parse_options = impl_->options.parse;

  BurstContext ctx;
  ctx.vnic_id = vnic_id;
  ctx.direction = direction;
  ctx.worker_index = worker.index_;
  ctx.generation = generation;
  ctx.vnic_mac = chain.vnic.mac;
  ctx.vnic_vlan = chain.vnic.vlan;
  ctx.now_ns = options.now_ns ? *options.now_ns : monotonic_now_ns();
  ctx.answers = options.answers;

  // First occupied slot at or after first_slot.
  std::uint8_t first_used = 0;
  while (first_used < chain.used_count && chain.used[first_used] < first_slot) ++first_used;

  for (std::size_t base = 0; base < total; base += kMaxBurst) {
    const std::size_t n = std::min(kMaxBurst, total - base);
    const std::span<Verdict> out = verdicts.subspan(base, n);
    ctx.answer_base = base;

    // resume(): each frame starts at the slot that redirected it.
    std::uint8_t first_u = first_used;
    std::size_t pending = 0;  // resumed frames not yet in `active`
    if (resumed) {
      std::copy_n(out.begin(), n, scratch.returned);
      ctx.returned = std::span<const Verdict>(scratch.returned, n);
      first_u = chain.used_count;
    }

    // Stage 1: parse the whole burst. Each verdict starts as a copy of one
    // "no decision yet" value (not a value-initialisation and a field store
    // per packet). The loop is instantiated apart for resume() so that
    // process()'s does not test for it per packet.
    std::size_t active = 0;
    std::uint64_t bytes = 0;
    const Verdict undecided{.generation = generation};
    const Frame* const burst_frames = frames.data() + base;
    // Final verdicts other than kPass, counted as the packets leave the
    // chain: here, or in stage 2 when a slot stops them (a filter decides
    // only the packets of its active list, fw/filter.h, so a verdict that
    // left the chain does not change). Every other packet passes.
    std::size_t stopped = 0;
    auto count_stopped = [&](const Verdict& v) {
      ++stopped;
      counters.verdicts[static_cast<std::size_t>(v.action)].add(1);
      if (v.action == Action::kDrop || v.action == Action::kReject)
        counters.drops[static_cast<std::size_t>(v.reason)].add(1);
    };
    auto parse_burst = [&](auto resuming) {
      for (std::size_t i = 0; i < n; ++i) {
        const Frame frame = burst_frames[i];
        bytes += frame.size();
        Verdict& v = out[i];
        v = undecided;
        const ParseError err = parse_frame(frame, scratch.views[i], parse_options);
        if (err != ParseError::kOk) [[unlikely]] {
          v.action = Action::kDrop;
          v.reason = DropReason::kMalformed;
          v.parse_error = err;
          counters.parse_errors[static_cast<std::size_t>(err)].add(1);
          count_stopped(v);
        } else if constexpr (resuming) {
          const Verdict& back = scratch.returned[i];
          std::uint8_t u = 0;
          while (u < chain.used_count && chain.used[u] != back.slot) ++u;
          if (back.action != Action::kRedirect || u == chain.used_count) {
            v.action = Action::kDrop;
            v.reason = DropReason::kNotRedirected;
            count_stopped(v);
          } else {
            scratch.start[i] = u;
            first_u = std::min(first_u, u);
            ++pending;
          }
        } else {
          scratch.active[active++] = static_cast<std::uint16_t>(i);
        }
      }
    };
    if (resumed)
      parse_burst(std::true_type{});
    else
      parse_burst(std::false_type{});

    // Stage 2: each occupied slot decides what is still undecided.
    ctx.packets = std::span<const PacketView>(scratch.views, n);
    for (std::uint8_t u = first_u; u < chain.used_count && (active > 0 || pending > 0); ++u) {
      if (pending > 0) {
        // Frames returned to this slot join the (ascending) active list.
        std::size_t merged = 0, k = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (out[i].action != Action::kPass || out[i].slot != kNoSlot || scratch.start[i] != u) continue;
          if (out[i].reason != DropReason::kNone) continue;
          while (k < active && scratch.active[k] < i) scratch.merged[merged++] = scratch.active[k++];
          scratch.merged[merged++] = static_cast<std::uint16_t>(i);
          --pending;
        }
        while (k < active) scratch.merged[merged++] = scratch.active[k++];
        std::copy_n(scratch.merged, merged, scratch.active);
        active = merged;
        if (active == 0) continue;
      }
      const std::uint8_t slot = chain.used[u];
      ctx.slot = slot;
      chain.slots[slot]->process(ctx, std::span<const std::uint16_t>(scratch.active, active), out);
      // Count what this slot decided (including explicit passes, which a
      // later slot may still override) and keep the packets still passing;
      // the others leave the chain with their final verdict. Passes, the
      // usual decision, are summed here and added once.
      auto& slot_counters = counters.slot_decided[slot];
      std::size_t kept = 0;
      std::uint64_t passed_here = 0;
      for (std::size_t k = 0; k < active; ++k) {
        const std::uint16_t i = scratch.active[k];
        const Verdict& v = out[i];
        if (v.action == Action::kPass) {
          scratch.active[kept++] = i;
          passed_here += v.slot == slot;
          continue;
        }
        if (v.slot == slot) slot_counters[static_cast<std::size_t>(v.action)].add(1);
        count_stopped(v);
      }
      if (passed_here > 0) slot_counters[static_cast<std::size_t>(Action::kPass)].add(passed_here);
      active = kept;
    }

    // Stage 3: count the burst; what did not stop passed.
    counters.packets.add(n);
    counters.bytes.add(bytes);
    if (reinjected) counters.reinjected.add(n);
    if (stopped < n) counters.verdicts[static_cast<std::size_t>(Action::kPass)].add(n - stopped);
  }
}

}  // namespace fw
