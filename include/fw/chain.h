// fw/chain.h — slot numbering of a vNIC's filter chain and its description.
//
// Each attached vNIC has one Chain: 16 slots (0-15) traversed in ascending
// order for both directions, as VMware's dvfilter does. Well-known slots:
//   0  L2 ACL (fw/l2_acl.h)          1  switch security
//   2  distributed firewall (DFW)    4  service insertion (redirect)
// The others are free for user filters. Chains are owned by the Engine
// (fw/engine.h) and changed only through it.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "fw/verdict.h"

namespace fw {

inline constexpr std::uint8_t kSlotL2Acl = 0;
inline constexpr std::uint8_t kSlotSwitchSecurity = 1;
inline constexpr std::uint8_t kSlotDfw = 2;
inline constexpr std::uint8_t kSlotServiceInsertion = 4;

// What is installed in a chain, as reported by Engine::describe_chain().
struct ChainDescription {
  std::uint32_t vnic_id = 0;
  std::uint64_t generation = 0;
  // Empty string = empty slot; otherwise Filter::kind().
  std::array<std::string, kNumSlots> slots;
};

}  // namespace fw
