// fw/filter.h — the slot interface every filter implements.
//
// A Filter is installed in one slot of a vNIC's chain as a
// std::shared_ptr<const Filter>. Its configuration is immutable once
// installed: to change it, build a new filter (which may share counters or
// state with the old one) and install it; the engine publishes the change as
// a new generation and frees the old filter after an RCU grace period, so a
// burst always sees one whole configuration across every slot.
//
// Control-thread methods are the filter's own factory/configure functions
// (see fw/l2_acl.h for the built-in slot-0 filter). The datapath method is
// process(), called by the chain for each burst.
//
// Thread-safety: process() is called concurrently from several worker
// threads (for different or the same vNIC) and must therefore only read the
// filter's configuration and write per-worker state indexed by
// BurstContext::worker_index (or internally synchronised state).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "fw/packet.h"
#include "fw/verdict.h"

namespace fw {

// What a filter knows about the burst it is processing.
struct BurstContext {
  std::uint32_t vnic_id = 0;
  Direction direction = Direction::kFromVm;
  std::uint8_t slot = 0;             // the slot this filter sits in
  std::uint32_t worker_index = 0;    // [0, EngineOptions::max_workers)
  std::uint64_t generation = 0;      // the generation this burst sees
  MacAddress vnic_mac;               // the vNIC's own MAC
  std::uint16_t vnic_vlan = 0;       // the vNIC's VLAN (0 = none)
  std::span<const PacketView> packets;  // the whole burst, parsed
  // The caller's monotonic clock for this burst, in nanoseconds (read once
  // per Engine::process() call; never goes backwards for one worker). For
  // filters that keep time-based state (connection tracking timeouts).
  std::uint64_t now_ns = 0;
  // Where reject answers go (nullptr: the caller wants none). The answer
  // for packets[i] is answers->answers[answer_base + i]: the engine cuts
  // long calls into bursts and this is the burst's first frame in the call.
  RejectAnswers* answers = nullptr;
  std::size_t answer_base = 0;
  // Engine::resume() only (empty otherwise): returned[i] is the kRedirect
  // verdict packets[i] came back with. A slot sees a returned packet when
  // returned[i].slot is its own slot (the packet starts there); packets of
  // the call returned to earlier slots that passed them reach it as usual
  // (their returned[i].slot is smaller).
  std::span<const Verdict> returned;
};

class Filter {
 public:
  virtual ~Filter() = default;

  // A short stable name for logs and stats ("l2-acl").
  virtual std::string_view kind() const noexcept = 0;

  // Datapath. Decide the packets whose indices are listed in `active`
  // (ascending, each < ctx.packets.size()). For each index i a filter may:
  //   - leave verdicts[i] unchanged: no opinion, the next slot decides;
  //   - call decide(..., Action::kPass, ...): allowed here, next slot goes on;
  //   - call decide() with kDrop/kReject/kRedirect/kPunt: the chain stops for i.
  // Must not write the verdict of a packet that is not in `active` (the
  // engine counts a verdict once, when its packet leaves the chain), and
  // must not allocate, take a lock shared with the control plane, throw,
  // block, or log synchronously.
  virtual void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
                       std::span<Verdict> verdicts) const noexcept = 0;
};

// Records a decision of the slot in `ctx` on `v` (slot, rule, reason). The
// verdict's kVerdictLogged flag describes its rule, so a new decision clears
// it; a filter whose rule is logged sets it after deciding.
inline void decide(Verdict& v, const BurstContext& ctx, Action action, std::uint32_t rule_id,
                   DropReason reason = DropReason::kNone) noexcept {
  v.action = action;
  v.slot = ctx.slot;
  v.rule_id = rule_id;
  v.reason = reason;
  v.flags &= static_cast<std::uint8_t>(~kVerdictLogged);
}

}  // namespace fw
