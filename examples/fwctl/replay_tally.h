// examples/fwctl/replay_tally.h — counts derived from the verdicts fwctl
// receives, and their cross-check against the engine's own vNIC counters.
//
// The engine counts on the datapath (fw/stats.h); fwctl counts what it was
// told. The two are independent bookkeeping of the same packets, so any
// difference is a bug in one of them and fwctl reports it as an error.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fw/engine.h"
#include "fw/stats.h"
#include "fw/verdict.h"

namespace fwctl {

// A (slot, rule) pair that decided packets; slot kNoSlot = no slot decided.
struct Decider {
  std::uint8_t slot = fw::kNoSlot;
  std::uint32_t rule_id = fw::kNoRule;
  friend auto operator<=>(const Decider&, const Decider&) = default;
};

struct DirectionTally {
  std::uint64_t packets = 0;     // engine calls' frames, resumed ones included
  std::uint64_t reinjected = 0;  // of which handed back by a service (Engine::resume)
  std::uint64_t bytes = 0;
  std::array<std::uint64_t, fw::kActionCount> actions{};
  std::array<std::uint64_t, fw::kDropReasonCount> drops{};  // kDrop + kReject by reason
  std::array<std::uint64_t, fw::kParseErrorCount> parse_errors{};
  // Final verdicts by the slot that decided them and their action.
  std::array<std::array<std::uint64_t, fw::kActionCount>, fw::kNumSlots> slot_actions{};
};

class ReplayTally {
 public:
  // One verdict of one engine call: `reinjected` for Engine::resume().
  void add(fw::Direction direction, std::size_t frame_bytes, const fw::Verdict& verdict,
           bool reinjected = false);

  const DirectionTally& operator[](fw::Direction d) const noexcept {
    return directions_[static_cast<std::size_t>(d)];
  }
  // Packets per deciding (slot, rule), per direction.
  const std::map<Decider, std::array<std::uint64_t, fw::kDirectionCount>>& deciders() const {
    return deciders_;
  }

  // Compares with the engine's counters of the replayed vNIC. Returns one
  // line per disagreement; empty when they agree. `single_slot_chain`: at
  // most one slot is installed, so a pass decided by a slot is also the
  // final verdict and pass counts must match exactly (with several slots a
  // packet passed by slot 0 and then by slot 2 counts in both slots' engine
  // counters but names only slot 2 in its verdict).
  std::vector<std::string> compare(const fw::VnicStats& stats, bool single_slot_chain) const;

 private:
  std::array<DirectionTally, fw::kDirectionCount> directions_{};
  std::map<Decider, std::array<std::uint64_t, fw::kDirectionCount>> deciders_;
};

}  // namespace fwctl
