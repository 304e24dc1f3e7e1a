// The reject builder (see reject.h for what is built and when nothing is).
#include "libfw/conntrack/reject.h"

#include <algorithm>
#include <cstring>

namespace fw::conntrack {
namespace {

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kVlanTag = 4;
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kTcpHeader = 20;
constexpr std::size_t kIcmpHeader = 8;
constexpr std::uint8_t kTtl = 64;
constexpr std::uint8_t kIcmpDestUnreachable = 3, kIcmpCodeAdminProhibited = 13;
constexpr std::uint8_t kIcmpv6DestUnreachable = 1, kIcmpv6CodeAdminProhibited = 1;
constexpr std::uint8_t kIcmpv6Redirect = 137;

void put16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) noexcept {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

// One's-complement sum of 16-bit big-endian words (RFC 1071), not folded.
std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0) noexcept {
  for (; n >= 2; p += 2, n -= 2) sum += static_cast<std::uint32_t>(p[0] << 8 | p[1]);
  if (n) sum += static_cast<std::uint32_t>(p[0] << 8);
  return sum;
}
std::uint16_t fold(std::uint32_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// The pseudo-header sums of RFC 793 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6).
std::uint32_t pseudo_sum(const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
                         std::uint32_t length) noexcept {
  const std::size_t n = src.is_v4() ? 4 : 16;
  std::uint32_t sum = sum16(src.bytes.data(), n);
  sum = sum16(dst.bytes.data(), n, sum);
  return sum + protocol + (length >> 16) + (length & 0xffff);
}

bool v4_multicast_or_broadcast(const IpAddress& a) noexcept {
  return (a.bytes[0] & 0xf0) == 0xe0 || a.v4_host_order() == 0xffffffffu;
}
bool v4_bad_source(const IpAddress& a) noexcept {
  return a.bytes[0] == 0 || a.bytes[0] == 127 || (a.bytes[0] & 0xf0) == 0xf0;
}
bool v6_multicast(const IpAddress& a) noexcept { return a.bytes[0] == 0xff; }
bool v6_bad_source(const IpAddress& a) noexcept {
  for (int i = 0; i < 15; ++i)
    if (a.bytes[static_cast<std::size_t>(i)] != 0) return false;
  return a.bytes[15] <= 1;  // :: (unspecified) or ::1 (loopback)
}

RejectStatus screen(const PacketView& p) noexcept {
  if (p.l3 != L3Kind::kIpv4 && p.l3 != L3Kind::kIpv6) return RejectStatus::kNotIp;
  if (p.tunnel.kind != TunnelKind::kNone && p.l3_offset >= p.tunnel.inner_offset) {
    return RejectStatus::kTunnel;
  }
  if (p.dst_mac.is_multicast() || p.src_mac.is_multicast()) return RejectStatus::kMulticastOrBroadcast;
  if (p.l3 == L3Kind::kIpv4) {
    if (v4_multicast_or_broadcast(p.dst_ip) || v4_multicast_or_broadcast(p.src_ip)) {
      return RejectStatus::kMulticastOrBroadcast;
    }
    if (v4_bad_source(p.src_ip)) return RejectStatus::kBadSource;
  } else {
    if (v6_multicast(p.dst_ip) || v6_multicast(p.src_ip)) return RejectStatus::kMulticastOrBroadcast;
    if (v6_bad_source(p.src_ip)) return RejectStatus::kBadSource;
  }
  if (p.is_fragment && p.fragment_offset != 0) return RejectStatus::kNonFirstFragment;
  if (p.has_l4 && p.protocol == kIpProtoTcp && (p.tcp.flags & kTcpRst)) return RejectStatus::kTcpReset;
  if (p.has_l4 && p.protocol == kIpProtoIcmp) {
    // RFC 1122 §3.2.2: the error types (unreachable, source quench,
    // redirect, time exceeded, parameter problem).
    const std::uint8_t t = p.icmp.type;
    if (p.icmp.is_error || t == 3 || t == 4 || t == 5 || t == 11 || t == 12) return RejectStatus::kIcmpError;
  }
  if (p.has_l4 && p.protocol == kIpProtoIcmpv6) {
    // RFC 4443 §2.1: types 0-127 are errors, known or not; §2.4(e): redirects.
    if (p.icmp.is_error || p.icmp.type < 128 || p.icmp.type == kIcmpv6Redirect) return RejectStatus::kIcmpError;
  }
  return RejectStatus::kBuilt;
}

// Ethernet header and VLAN tags, addresses swapped. Returns bytes written.
std::size_t put_l2(const PacketView& p, std::uint8_t* out) noexcept {
  std::memcpy(out, p.src_mac.bytes.data(), 6);
  std::memcpy(out + 6, p.dst_mac.bytes.data(), 6);
  std::size_t at = 12;
  for (std::size_t i = 0; i < p.vlan_count && i < kMaxVlanTags; ++i) {
    put16(out + at, p.vlans[i].tpid);
    put16(out + at + 2, p.vlans[i].tci);
    at += kVlanTag;
  }
  put16(out + at, p.l3 == L3Kind::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  return at + 2;
}

// A fresh IP header from the rejected packet's destination to its source.
std::size_t put_l3(const PacketView& p, std::uint8_t* out, std::uint8_t protocol,
                   std::size_t payload_length) noexcept {
  if (p.l3 == L3Kind::kIpv4) {
    out[0] = 0x45;
    out[1] = 0;
    put16(out + 2, static_cast<std::uint16_t>(kIpv4Header + payload_length));
    put16(out + 4, 0);       // id: any value for an atomic datagram (RFC 6864)
    put16(out + 6, 0x4000);  // DF
    out[8] = kTtl;
    out[9] = protocol;
    put16(out + 10, 0);
    std::memcpy(out + 12, p.dst_ip.bytes.data(), 4);
    std::memcpy(out + 16, p.src_ip.bytes.data(), 4);
    put16(out + 10, fold(sum16(out, kIpv4Header)));
    return kIpv4Header;
  }
  put32(out, 0x60000000u);
  put16(out + 4, static_cast<std::uint16_t>(payload_length));
  out[6] = protocol;
  out[7] = kTtl;
  std::memcpy(out + 8, p.dst_ip.bytes.data(), 16);
  std::memcpy(out + 24, p.src_ip.bytes.data(), 16);
  return kIpv6Header;
}

}  // namespace

RejectResult build_reject(const PacketView& p, std::span<std::uint8_t> out) noexcept {
  RejectResult result;
  result.status = screen(p);
  if (result.status != RejectStatus::kBuilt) return result;

  const bool v4 = p.l3 == L3Kind::kIpv4;
  const std::size_t l2 = kEthernetHeader + kVlanTag * std::min<std::size_t>(p.vlan_count, kMaxVlanTags);
  const std::size_t l3 = v4 ? kIpv4Header : kIpv6Header;
  const bool tcp = p.has_l4 && p.protocol == kIpProtoTcp;

  // What the ICMP error quotes: from the rejected packet's IP header on.
  const std::uint8_t* quote = p.data + p.l3_offset;
  std::size_t quote_length = 0;
  if (!tcp) {
    if (v4) {
      const std::size_t ihl = static_cast<std::size_t>(quote[0] & 0x0f) * 4;
      quote_length = std::min<std::size_t>(p.l3_length, ihl + 8);
    } else {
      quote_length = std::min<std::size_t>(p.l3_length, kRejectMaxIpBytes - kIpv6Header - kIcmpHeader);
    }
  }
  const std::size_t l4 = tcp ? kTcpHeader : kIcmpHeader + quote_length;
  const std::size_t total = l2 + l3 + l4;
  if (out.size() < total) {
    result.status = RejectStatus::kBufferTooSmall;
    return result;
  }

  std::uint8_t* frame = out.data();
  put_l2(p, frame);
  std::uint8_t* l4p = frame + l2 + l3;
  std::uint8_t protocol;
  if (tcp) {
    protocol = kIpProtoTcp;
    const TcpInfo& in = p.tcp;
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = kTcpRst;
    if (in.flags & kTcpAck) {
      seq = in.ack;
    } else {
      ack = in.seq + p.payload_length + ((in.flags & kTcpSyn) ? 1u : 0u) + ((in.flags & kTcpFin) ? 1u : 0u);
      flags |= kTcpAck;
    }
    put16(l4p, p.dst_port);
    put16(l4p + 2, p.src_port);
    put32(l4p + 4, seq);
    put32(l4p + 8, ack);
    l4p[12] = static_cast<std::uint8_t>((kTcpHeader / 4) << 4);
    l4p[13] = flags;
    put16(l4p + 14, 0);  // window
    put16(l4p + 16, 0);  // checksum, below
    put16(l4p + 18, 0);  // urgent pointer
    result.kind = RejectKind::kTcpReset;
  } else {
    protocol = v4 ? kIpProtoIcmp : kIpProtoIcmpv6;
    l4p[0] = v4 ? kIcmpDestUnreachable : kIcmpv6DestUnreachable;
    l4p[1] = v4 ? kIcmpCodeAdminProhibited : kIcmpv6CodeAdminProhibited;
    put16(l4p + 2, 0);
    put32(l4p + 4, 0);  // unused
    std::memcpy(l4p + kIcmpHeader, quote, quote_length);
    result.kind = v4 ? RejectKind::kIcmpUnreachable : RejectKind::kIcmpv6Unreachable;
  }
  put_l3(p, frame + l2, protocol, l4);

  // ICMPv4 has no pseudo-header; TCP and ICMPv6 do. Addresses are swapped.
  std::uint32_t sum = (protocol == kIpProtoIcmp) ? 0 : pseudo_sum(p.dst_ip, p.src_ip, protocol, static_cast<std::uint32_t>(l4));
  const std::uint16_t checksum = fold(sum16(l4p, l4, sum));
  put16(l4p + (tcp ? 16 : 2), checksum);

  result.length = static_cast<std::uint16_t>(total);
  return result;
}

std::string_view reject_status_name(RejectStatus status) noexcept {
  switch (status) {
    case RejectStatus::kBuilt: return "built";
    case RejectStatus::kNotIp: return "not-ip";
    case RejectStatus::kIcmpError: return "icmp-error";
    case RejectStatus::kTcpReset: return "tcp-reset";
    case RejectStatus::kNonFirstFragment: return "non-first-fragment";
    case RejectStatus::kMulticastOrBroadcast: return "multicast-or-broadcast";
    case RejectStatus::kBadSource: return "bad-source";
    case RejectStatus::kTunnel: return "tunnel";
    case RejectStatus::kBufferTooSmall: return "buffer-too-small";
    case RejectStatus::kCount: break;
  }
  return "unknown";
}

}  // namespace fw::conntrack
