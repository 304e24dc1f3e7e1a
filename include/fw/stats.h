// fw/stats.h — counters of a vNIC, aggregated over all workers on read.
//
// Workers count into their own cache-line-aligned blocks without atomic
// read-modify-write; a read sums the blocks, so a snapshot taken while
// traffic flows is a consistent-enough sum of per-worker monotonic counters
// (each counter individually exact, not a cross-counter atomic snapshot).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "fw/packet.h"
#include "fw/verdict.h"

namespace fw {

struct SlotStats {
  // Packets this slot decided, by action. kPass counts explicit allows by
  // this slot, including packets a later slot then decided otherwise; a
  // packet the slot had no opinion on is not counted.
  std::uint64_t decided[kActionCount] = {};
};

struct DirectionStats {
  std::uint64_t packets = 0;                     // frames submitted (incl. reinjected)
  std::uint64_t bytes = 0;
  std::uint64_t reinjected = 0;                  // of which came back from a service
  std::uint64_t verdicts[kActionCount] = {};     // final verdicts by action
  std::uint64_t drops[kDropReasonCount] = {};    // kDrop + kReject by reason
  std::uint64_t parse_errors[kParseErrorCount] = {};
  SlotStats slots[kNumSlots];
};

struct VnicStats {
  std::uint32_t vnic_id = 0;
  DirectionStats direction[kDirectionCount];  // indexed by Direction
  const DirectionStats& operator[](Direction d) const noexcept {
    return direction[static_cast<std::size_t>(d)];
  }
};

}  // namespace fw
