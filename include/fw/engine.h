// fw/engine.h — the entry point: vNICs, their chains, workers, bursts.
//
// Usage:
//   auto engine = fw::Engine::create({.max_workers = 4}).value();
//   fw::Status s = engine->attach_vnic({.id = 1, .mac = *fw::parse_mac("02:00:00:00:00:01")});
//   auto acl = fw::make_l2_acl(acl_config, *engine);            // fw/l2_acl.h
//   if (s.ok() && acl.ok()) s = engine->set_filter(1, fw::kSlotL2Acl, *acl);
//
//   // on each datapath thread:
//   auto worker = engine->create_worker().value();
//   engine->process(*worker, 1, fw::Direction::kFromVm, frames, verdicts);
//
//   // with the caller's clock and room for reject answers (fw/verdict.h):
//   std::vector<std::uint8_t> answer_bytes(fw::kMaxBurst * fw::kMaxRejectAnswerBytes);
//   std::array<fw::RejectAnswer, fw::kMaxBurst> answer_refs;
//   fw::RejectAnswers answers{.buffer = answer_bytes, .answers = answer_refs};
//   engine->process(*worker, 1, fw::Direction::kToVm, frames, verdicts,
//                   {.now_ns = now, .answers = &answers});
//   for (i ...) if (verdicts[i].action == fw::Action::kReject) transmit(answers.answer(i));
//
//   // several vNICs in one generation (what fw::Dfw::apply does):
//   std::vector<fw::FilterChange> changes{{.vnic_id = 1, .slot = 2, .filter = f},
//                                         {.vnic_id = 2, .slot = 2, .filter = f}};
//   s = engine->set_filters(changes);
//
// Thread-safety:
//   - Control-plane methods (attach_vnic, detach_vnic, set_filter,
//     set_filters, clear_filter, describe_chain, filter, vnic_stats,
//     unknown_vnic_packets, create_worker) may be called
//     from any thread; they are serialised by an internal mutex that the
//     datapath never takes. Methods that change configuration publish a new
//     generation through RCU and return after old state is unreachable
//     (they wait for one grace period; never call them from a worker thread
//     while it is inside process()).
//   - process() and reinject() are the datapath: wait-free with respect to the
//     control plane, no allocation, no exceptions. Each Worker must be used
//     by one thread at a time (the thread that created it). Several workers
//     may process different vNICs, or the same vNIC, concurrently: the chain
//     configuration is read-only on the datapath and counters are
//     per-worker. Filters that keep per-vNIC mutable state (connection
//     tracking) document their own rules for concurrent use of one vNIC.
//   - A worker holds an RCU read-side section only inside process() and
//     reinject(); between bursts it holds nothing, so an idle worker never
//     delays a configuration change.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "fw/address.h"
#include "fw/chain.h"
#include "fw/filter.h"
#include "fw/stats.h"
#include "fw/status.h"
#include "fw/verdict.h"

namespace fw {

// One frame of a burst: the caller's bytes, not copied.
using Frame = std::span<const std::uint8_t>;

// Internal parsing bursts are at most this long; longer spans are processed
// in chunks of this size.
inline constexpr std::size_t kMaxBurst = 256;

struct EngineOptions {
  // Workers that may exist at once; sizes every per-worker counter array.
  std::uint32_t max_workers = 8;
  // vNICs that may be attached at once.
  std::uint32_t max_vnics = 4096;
  // Parse options applied to every frame.
  ParseOptions parse = {};
};

struct VnicConfig {
  std::uint32_t id = 0;      // caller-chosen, unique, non-zero
  MacAddress mac;            // the vNIC's MAC
  // Access VLAN, 0 = untagged (1-4094 otherwise). Handed to every filter in
  // BurstContext::vnic_vlan; the engine itself does not enforce it (switch
  // security and the L2 ACL decide what a VLAN mismatch means).
  std::uint16_t vlan = 0;
  std::string name;          // free text for logs
};

class Engine;

// Per-call datapath options of Engine::process() / reinject().
//
// Time: filters that track connections need a monotonic clock. The caller
// passes its own (e.g. the capture's timestamps in `fwctl replay`, or the
// vswitch's per-poll timestamp) as now_ns; without it the engine reads
// CLOCK_MONOTONIC once per call. Timestamps one worker passes must not go
// backwards. Mixing the two on one engine mixes clocks: pick one.
//
// Reject answers: with `answers` set, every kReject verdict whose slot builds
// answers (the DFW) gets the frame the host should send back, written into
// the caller's buffer (fw::RejectAnswers in fw/verdict.h): no allocation, and
// the bytes are the caller's until it reuses the buffer. The engine resets
// answers->answers[i] for every frame of the call, bytes_used and overflowed
// at the start of the call. Answers are valid only if the buffer is not
// touched by another thread meanwhile; a RejectAnswers belongs to one call.
struct ProcessOptions {
  std::optional<std::uint64_t> now_ns;  // nullopt: CLOCK_MONOTONIC, read once per call
  RejectAnswers* answers = nullptr;     // nullptr: no answers are built
};

// One slot change of Engine::set_filters(): install `filter` (nullptr:
// clear the slot) in `slot` (0-15) of vNIC `vnic_id`.
struct FilterChange {
  std::uint32_t vnic_id = 0;
  std::uint8_t slot = 0;
  std::shared_ptr<const Filter> filter;
};

// Per-thread datapath context: RCU registration, scratch space for a parsed
// burst, and the index of this worker's counter blocks. Create it on the
// thread that will use it (Engine::create_worker) and destroy it there,
// before the Engine that created it.
class Worker {
 public:
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::uint32_t index() const noexcept { return index_; }

 private:
  friend class Engine;
  struct Scratch;
  Worker(Engine& engine, std::uint32_t index);

  Engine& engine_;
  std::uint32_t index_;
  std::unique_ptr<Scratch> scratch_;
};

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> create(const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const noexcept;

  // --- control plane -------------------------------------------------------
  Status attach_vnic(const VnicConfig& config);
  Status detach_vnic(std::uint32_t vnic_id);
  // Installs `filter` in `slot` (0-15) of the vNIC's chain, replacing what
  // was there. Publishes a new generation.
  Status set_filter(std::uint32_t vnic_id, std::uint8_t slot, std::shared_ptr<const Filter> filter);
  Status clear_filter(std::uint32_t vnic_id, std::uint8_t slot);
  // Applies every change as ONE new generation, all or nothing: a burst sees
  // either none of the changes or all of them (e.g. a policy installed on
  // every vNIC at once). Changes apply in order, so a later change to the
  // same (vNIC, slot) wins. An empty span publishes nothing. kNotFound for
  // a vNIC that is not attached, kInvalidArgument for a slot out of range:
  // the error names the change's index and nothing is published. Costs one
  // copy of the vNIC map plus one copy per changed chain, and one grace
  // period.
  Status set_filters(std::span<const FilterChange> changes);
  StatusOr<ChainDescription> describe_chain(std::uint32_t vnic_id) const;
  // The filter installed in `slot` (nullptr if the slot is empty), e.g. to
  // read an L2AclFilter's rule hits after apply_chain_config().
  StatusOr<std::shared_ptr<const Filter>> filter(std::uint32_t vnic_id, std::uint8_t slot) const;
  StatusOr<VnicStats> vnic_stats(std::uint32_t vnic_id) const;
  // Packets submitted for vNIC ids that were not attached.
  std::uint64_t unknown_vnic_packets() const;
  // The generation currently published (starts at 1, +1 per change).
  std::uint64_t generation() const noexcept;
  // Fails with kResourceExhausted when max_workers workers exist.
  StatusOr<std::unique_ptr<Worker>> create_worker();

  // --- datapath --------------------------------------------------------------
  // Fills verdicts[i] for frames[i], i < min(frames.size(), verdicts.size()).
  // Frames that do not parse are dropped with DropReason::kMalformed; frames
  // for an unattached vNIC are dropped with kUnknownVnic.
  void process(Worker& worker, std::uint32_t vnic_id, Direction direction,
               std::span<const Frame> frames, std::span<Verdict> verdicts) noexcept;
  // The same with the caller's clock and/or reject answers (ProcessOptions).
  void process(Worker& worker, std::uint32_t vnic_id, Direction direction,
               std::span<const Frame> frames, std::span<Verdict> verdicts,
               const ProcessOptions& options) noexcept;

  // A packet returned by a service VM: runs the chain from slot
  // `after_slot + 1` (the redirect verdict's `slot`), with the generation
  // current at reinjection.
  void reinject(Worker& worker, std::uint32_t vnic_id, Direction direction,
                std::uint8_t after_slot, std::span<const Frame> frames,
                std::span<Verdict> verdicts) noexcept;
  void reinject(Worker& worker, std::uint32_t vnic_id, Direction direction,
                std::uint8_t after_slot, std::span<const Frame> frames,
                std::span<Verdict> verdicts, const ProcessOptions& options) noexcept;

  // Frames handed back by a service (fw/service.h), for filters that send a
  // packet through several services in turn (service chains). On input,
  // verdicts[i] is the kRedirect verdict frames[i] got (from process(),
  // reinject() or an earlier resume()); the host keeps it with the packet
  // while the service has it. The chain runs again from that verdict's slot,
  // which sees the returned verdict (BurstContext::returned) and sends the
  // packet to the next service of its path, or lets it go on to the slots
  // after it. On output, verdicts[i] is the new verdict. A frame whose input
  // verdict is not a kRedirect of a slot installed in the vNIC's chain is
  // dropped with DropReason::kNotRedirected. Frames of one call may come
  // back from different slots and hops. Counted as reinjected.
  void resume(Worker& worker, std::uint32_t vnic_id, Direction direction,
              std::span<const Frame> frames, std::span<Verdict> verdicts) noexcept;
  void resume(Worker& worker, std::uint32_t vnic_id, Direction direction,
              std::span<const Frame> frames, std::span<Verdict> verdicts,
              const ProcessOptions& options) noexcept;

 private:
  struct Impl;
  friend class Worker;
  explicit Engine(std::unique_ptr<Impl> impl);
  // returned: resume()'s input verdicts (first_slot is then ignored).
  void run(Worker& worker, std::uint32_t vnic_id, Direction direction, std::uint8_t first_slot,
           bool reinjected, std::span<const Frame> frames, std::span<Verdict> verdicts,
           const ProcessOptions& options, bool resumed = false) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fw
