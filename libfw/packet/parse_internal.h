// libfw/packet/parse_internal.h — internal: parse_frame() without its
// common-frame fast path, so that the tests and the fuzz target can check
// that the fast path fills every field of the view exactly as the general
// path does (libfw/packet/parse.cc, "The common path").
//
// Thread-safety: reentrant, as parse_frame().
#pragma once

#include <cstdint>
#include <span>

#include "fw/packet.h"

namespace fw::packet_internal {

// parse_frame() as it would be without the fast path: the same results, the
// same view, more instructions on the common frames.
ParseError parse_frame_general(std::span<const std::uint8_t> frame, PacketView& out,
                               const ParseOptions& options = {}) noexcept;

// What parse_frame_common() returns for a frame it leaves to the general path.
inline constexpr ParseError kNotCommonFrame = ParseError::kCount;

// The fast path alone: for a common frame (Ethernet II without VLAN tags,
// IPv4 without options or IPv6 without extension headers, unfragmented, TCP
// or UDP other than DHCP and tunnels, every length consistent) what
// parse_frame() returns; for any other frame kNotCommonFrame, with `out` not
// written at all. Decapsulation never matters to a common frame.
ParseError parse_frame_common(std::span<const std::uint8_t> frame, PacketView& out) noexcept;

}  // namespace fw::packet_internal
