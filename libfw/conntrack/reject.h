// libfw/conntrack/reject.h — the answer a host sends for a packet a rule
// rejects: a TCP RST for TCP, an ICMP "communication administratively
// prohibited" (type 3 code 13) for other IPv4, an ICMPv6 "communication with
// destination administratively prohibited" (type 1 code 1) for other IPv6.
//
// The answer is a whole Ethernet frame written into a caller-provided buffer
// (nothing is allocated): from the rejected packet's destination back to its
// source, Ethernet addresses swapped and its VLAN tags kept (same TPIDs, same
// order), with correct IPv4 header, TCP, ICMP and ICMPv6 checksums. The IP
// header is built fresh: no IPv4 options or IPv6 extension headers, TTL /
// hop limit 64, TOS / traffic class 0, IPv4 DF set and id 0 (an atomic
// datagram, RFC 6864).
//
//   TCP (RFC 793 p. 36, "Reset Generation"): if the rejected segment has ACK,
//     the RST has seq = its ack and no ACK flag; otherwise seq 0, ACK set, and
//     ack = its seq + payload length (+1 for SYN, +1 for FIN). Window 0, no
//     options.
//   IPv4: the ICMP error quotes the rejected packet's IP header (with its
//     options) and the first 8 bytes of its payload (RFC 792), or less if
//     the packet is shorter.
//   IPv6: the ICMPv6 error quotes as much of the rejected packet as keeps
//     the answer within the IPv6 minimum MTU, 1280 bytes (RFC 4443 §2.4(c)).
//
// No answer (RFC 1122 §3.2.2, RFC 4443 §2.4(e), RFC 793) to: an ICMP or
// ICMPv6 error or an ICMPv6 redirect, a TCP RST, a non-first fragment, a
// packet whose Ethernet or IP source or destination is broadcast or
// multicast, a source that names no single host (IPv4 0/8, 127/8, 240/4;
// IPv6 :: and ::1), a frame that is not IP, or a view of a decapsulated
// tunnel frame (the answer would need the encapsulation back; the host
// knows it, libfw does not).
//
// Usage:
//   std::array<std::uint8_t, fw::conntrack::kRejectMaxFrameBytes> buf;
//   fw::conntrack::RejectResult r = fw::conntrack::build_reject(view, buf);
//   if (r.status == fw::conntrack::RejectStatus::kBuilt)
//     transmit(std::span(buf).first(r.length));
//
// Thread-safety: build_reject is reentrant; it reads the view and the frame
// it points into, and writes only `out`. It does not allocate, lock, throw or
// log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fw/packet.h"

namespace fw::conntrack {

enum class RejectKind : std::uint8_t { kNone = 0, kTcpReset, kIcmpUnreachable, kIcmpv6Unreachable };

// Whether an answer was built, and if not, why. Values are stable (counters).
enum class RejectStatus : std::uint8_t {
  kBuilt = 0,
  kNotIp,                 // ARP, unknown EtherType
  kIcmpError,             // an ICMP/ICMPv6 error or ICMPv6 redirect
  kTcpReset,              // a TCP RST
  kNonFirstFragment,
  kMulticastOrBroadcast,  // Ethernet or IP source or destination
  kBadSource,             // IPv4 0/8, 127/8, 240/4; IPv6 ::, ::1
  kTunnel,                // a decapsulated VXLAN/Geneve view
  kBufferTooSmall,        // `out` shorter than the answer (see kRejectMaxFrameBytes)
  kCount
};
inline constexpr std::size_t kRejectStatusCount = static_cast<std::size_t>(RejectStatus::kCount);

// "built", "not-ip", "icmp-error", "tcp-reset", "non-first-fragment",
// "multicast-or-broadcast", "bad-source", "tunnel", "buffer-too-small".
std::string_view reject_status_name(RejectStatus status) noexcept;

// The IPv6 minimum MTU, which bounds every answer's IP packet.
inline constexpr std::size_t kRejectMaxIpBytes = 1280;
// The largest frame build_reject writes: Ethernet, two VLAN tags, 1280 bytes of IP.
inline constexpr std::size_t kRejectMaxFrameBytes = 14 + 4 * kMaxVlanTags + kRejectMaxIpBytes;

struct RejectResult {
  RejectStatus status = RejectStatus::kNotIp;
  RejectKind kind = RejectKind::kNone;
  std::uint16_t length = 0;  // bytes written at the start of `out` (0 unless kBuilt)
};

// Builds the answer to `packet` (a frame parsed by fw::parse_frame with
// ParseError::kOk) into `out`, which must not overlap the packet's frame
// (the ICMP quote is copied from it). Thread-safety: reentrant (see above).
[[nodiscard]] RejectResult build_reject(const PacketView& packet, std::span<std::uint8_t> out) noexcept;

}  // namespace fw::conntrack
