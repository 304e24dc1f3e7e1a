// Properties every PacketView must have, whatever the frame and the result:
// everything it locates lies inside the frame it was parsed from. Shared by
// the packet suites (the fuzzer checks the same with plain aborts).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <span>

#include "fw/packet.h"

namespace fw::test {

inline ::testing::AssertionResult view_within_frame(const PacketView& v,
                                                    std::span<const std::uint8_t> frame) {
  auto fail = [&](const char* what) {
    return ::testing::AssertionFailure() << what << " (frame " << frame.size() << " bytes)";
  };
  const std::size_t n = frame.size();
  if (v.data != frame.data() || v.length != n) return fail("data/length do not describe the frame");
  if (std::size_t{v.l3_offset} + v.l3_length > n) return fail("l3 region past the frame");
  if (std::size_t{v.l4_offset} > n) return fail("l4_offset past the frame");
  if (std::size_t{v.payload_offset} + v.payload_length > n) return fail("payload past the frame");
  if (v.payload().data() + v.payload().size() > frame.data() + n) return fail("payload() past the frame");
  // Layer structs are checked only where PacketView says they are valid.
  if (v.tunnel.kind != TunnelKind::kNone &&
      std::size_t{v.tunnel.inner_offset} + v.tunnel.inner_length > n)
    return fail("tunnel inner frame past the frame");
  if (v.vlan_count > kMaxVlanTags) return fail("too many VLAN tags recorded");
  if (v.ipv6_ext_count > kMaxIpv6ExtHeaders) return fail("too many extension headers recorded");
  if (v.protocol == kIpProtoTcp && v.has_l4 && v.tcp.sack_block_count > kMaxSackBlocks)
    return fail("too many SACK blocks recorded");
  return ::testing::AssertionSuccess();
}

// For a frame that parsed: the layers nest (L2 < L3 <= L4 <= payload, all
// inside the L3 packet).
inline ::testing::AssertionResult view_layers_nest(const PacketView& v) {
  auto fail = [&](const char* what) { return ::testing::AssertionFailure() << what; };
  if (v.l3 == L3Kind::kIpv4 || v.l3 == L3Kind::kIpv6) {
    const std::size_t l3_end = std::size_t{v.l3_offset} + v.l3_length;
    if (v.has_l4 && (v.l4_offset < v.l3_offset || v.l4_offset > l3_end)) return fail("L4 outside L3");
    if (v.payload_length != 0 &&
        (v.payload_offset < v.l3_offset || std::size_t{v.payload_offset} + v.payload_length > l3_end))
      return fail("payload outside L3");
    if (v.has_l4 && v.payload_length != 0 && v.payload_offset < v.l4_offset) return fail("payload before L4");
  }
  return ::testing::AssertionSuccess();
}

}  // namespace fw::test
