// The reject builder: byte-exact answers checked by hand, every field of
// answers parsed back with fw::parse_frame, checksums verified with the test
// support's own RFC 1071 sum (not the builder's), and every "never answer"
// case.
#include "libfw/conntrack/reject.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "support/packet_builder.h"

namespace fw::conntrack {
namespace {

using test::Bytes;
using test::PacketBuilder;

struct Answer {
  RejectResult result;
  Bytes frame;  // the bytes written (result.length of them)
};

Answer reject(const Bytes& rejected, ParseOptions options = {}) {
  PacketView view;
  EXPECT_EQ(parse_frame(rejected, view, options), ParseError::kOk);
  std::array<std::uint8_t, kRejectMaxFrameBytes> buffer;
  buffer.fill(0xee);
  Answer a;
  a.result = build_reject(view, buffer);
  a.frame.assign(buffer.begin(), buffer.begin() + a.result.length);
  return a;
}

PacketView parse(const Bytes& frame) {
  PacketView v;
  EXPECT_EQ(parse_frame(frame, v), ParseError::kOk);
  return v;
}

// Checksums, recomputed independently: a correct checksum makes the
// one's-complement sum over the covered bytes (with the pseudo-header)
// come out as zero.
void expect_checksums(const PacketView& v) {
  const std::span<const std::uint8_t> frame = v.frame();
  if (v.l3 == L3Kind::kIpv4) {
    EXPECT_EQ(test::internet_checksum(frame.subspan(v.l3_offset, 20)), 0) << "IPv4 header checksum";
  }
  const std::size_t l4_length = v.l3_offset + v.l3_length - v.l4_offset;
  const auto l4 = frame.subspan(v.l4_offset, l4_length);
  if (v.protocol == kIpProtoIcmp) {
    EXPECT_EQ(test::internet_checksum(l4), 0) << "ICMP checksum";
    return;
  }
  Bytes pseudo;
  const std::size_t n = v.l3 == L3Kind::kIpv4 ? 4 : 16;
  pseudo.insert(pseudo.end(), v.src_ip.bytes.begin(), v.src_ip.bytes.begin() + n);
  pseudo.insert(pseudo.end(), v.dst_ip.bytes.begin(), v.dst_ip.bytes.begin() + n);
  if (n == 4) {
    pseudo.insert(pseudo.end(), {0, v.protocol, static_cast<std::uint8_t>(l4_length >> 8),
                                 static_cast<std::uint8_t>(l4_length)});
  } else {
    pseudo.insert(pseudo.end(), {0, 0, static_cast<std::uint8_t>(l4_length >> 8),
                                 static_cast<std::uint8_t>(l4_length), 0, 0, 0, v.protocol});
  }
  pseudo.insert(pseudo.end(), l4.begin(), l4.end());
  EXPECT_EQ(test::internet_checksum(pseudo), 0) << "L4 checksum with pseudo-header";
}

// The answer goes back where the rejected packet came from, on the same VLANs.
void expect_reversed(const PacketView& rejected, const PacketView& answer) {
  EXPECT_EQ(answer.dst_mac, rejected.src_mac);
  EXPECT_EQ(answer.src_mac, rejected.dst_mac);
  ASSERT_EQ(answer.vlan_count, rejected.vlan_count);
  for (std::size_t i = 0; i < rejected.vlan_count; ++i) {
    EXPECT_EQ(answer.vlans[i].tpid, rejected.vlans[i].tpid);
    EXPECT_EQ(answer.vlans[i].tci, rejected.vlans[i].tci);
  }
  EXPECT_EQ(answer.l3, rejected.l3);
  EXPECT_EQ(answer.src_ip, rejected.dst_ip);
  EXPECT_EQ(answer.dst_ip, rejected.src_ip);
  EXPECT_EQ(answer.ttl, 64);
  EXPECT_FALSE(answer.is_fragment);
  EXPECT_EQ(answer.ipv6_ext_count, 0);
}

// ---- byte-exact ---------------------------------------------------------------

// A SYN 10.0.0.1:40000 -> 10.0.0.2:80, seq 1000, on VLAN 10 (PCP 3).
// The RST, field by field (checksums added by hand: see the comments).
TEST(Reject, ByteExactIpv4TcpRst) {
  const Bytes syn = PacketBuilder()
                        .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                        .vlan(10, {.pcp = 3})
                        .ipv4("10.0.0.1", "10.0.0.2", {.ttl = 63, .id = 777})
                        .tcp(40000, 80, kTcpSyn, {.seq = 1000, .window = 64240,
                                                  .options = test::TcpOptions().mss(1460)})
                        .build();
  const Bytes expected = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // dst: the SYN's source
      0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // src: the SYN's destination
      0x81, 0x00, 0x60, 0x0a,              // 802.1Q, PCP 3, VID 10
      0x08, 0x00,                          // IPv4
      0x45, 0x00, 0x00, 0x28,              // v4, IHL 5, TOS 0, length 40
      0x00, 0x00, 0x40, 0x00,              // id 0, DF
      0x40, 0x06, 0x26, 0xce,              // TTL 64, TCP; ~(4500+0028+4000+4006+0a00+0002+0a00+0001)
      0x0a, 0x00, 0x00, 0x02,              // 10.0.0.2
      0x0a, 0x00, 0x00, 0x01,              // 10.0.0.1
      0x00, 0x50, 0x9c, 0x40,              // 80 -> 40000
      0x00, 0x00, 0x00, 0x00,              // seq 0 (the SYN had no ACK)
      0x00, 0x00, 0x03, 0xe9,              // ack 1001 = 1000 + SYN
      0x50, 0x14, 0x00, 0x00,              // offset 5, RST|ACK, window 0
      0xfb, 0x54, 0x00, 0x00,              // ~(pseudo 141d + header f08d), urgent 0
  };
  const Answer a = reject(syn);
  EXPECT_EQ(a.result.status, RejectStatus::kBuilt);
  EXPECT_EQ(a.result.kind, RejectKind::kTcpReset);
  EXPECT_EQ(a.frame, expected);
}

// A bare IPv6 packet (next header 59, no payload) 2001:db8::1 -> ::2.
TEST(Reject, ByteExactIcmpv6Unreachable) {
  const Bytes rejected = PacketBuilder()
                             .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                             .ipv6("2001:db8::1", "2001:db8::2", {.next_header = 59})
                             .build();
  Bytes expected = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd,
      0x60, 0x00, 0x00, 0x00,  // v6, traffic class 0, flow label 0
      0x00, 0x30, 0x3a, 0x40,  // payload 48, ICMPv6, hop limit 64
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,  // 2001:db8::2
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // 2001:db8::1
      // type 1 code 1; checksum ~(pseudo 5bdf + 0101 + quote f6b5) = ac69
      0x01, 0x01, 0xac, 0x69, 0x00, 0x00, 0x00, 0x00,
  };
  // The quote: the whole rejected IPv6 packet (40 bytes).
  expected.insert(expected.end(), rejected.begin() + 14, rejected.end());
  const Answer a = reject(rejected);
  EXPECT_EQ(a.result.status, RejectStatus::kBuilt);
  EXPECT_EQ(a.result.kind, RejectKind::kIcmpv6Unreachable);
  EXPECT_EQ(a.frame, expected);
}

// ---- TCP RST: every field, parsed back ------------------------------------------

struct RstCase {
  std::string name;
  Bytes rejected;
  std::uint32_t seq;
  std::uint32_t ack;
  std::uint8_t flags;
};

TEST(Reject, TcpRstFields) {
  const auto v4 = [](std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, std::size_t len) {
    PacketBuilder b;
    b.eth().ipv4("192.0.2.1", "198.51.100.7").tcp(1234, 443, flags, {.seq = seq, .ack = ack});
    if (len) b.payload(len);
    return b.build();
  };
  const std::vector<RstCase> cases = {
      {"SYN: seq 0, ack = seq + 1", v4(kTcpSyn, 1000, 0, 0), 0, 1001, kTcpRst | kTcpAck},
      {"SYN with data (TFO): ack = seq + len + 1", v4(kTcpSyn, 1000, 0, 10), 0, 1011, kTcpRst | kTcpAck},
      {"ACK with data: seq = its ack, no ACK", v4(kTcpAck | kTcpPsh, 5000, 777777, 100), 777777, 0, kTcpRst},
      {"FIN|ACK: seq = its ack", v4(kTcpFin | kTcpAck, 5000, 9, 0), 9, 0, kTcpRst},
      {"ack wraps at 2^32", v4(kTcpSyn, 0xffffffffu, 0, 0), 0, 0, kTcpRst | kTcpAck},
      {"IPv6, QinQ, FIN without ACK and data: ack = seq + len + 1",
       PacketBuilder()
           .eth("02:00:00:00:00:0a", "02:00:00:00:00:0b")
           .vlan(100, {.tpid = kEtherTypeQinQ})
           .vlan(200, {.pcp = 5})
           .ipv6("2001:db8::a", "2001:db8::b")
           .ipv6_hop_by_hop()
           .tcp(5555, 22, kTcpFin, {.seq = 70000})
           .payload(5)
           .build(),
       0, 70006, kTcpRst | kTcpAck},
  };
  for (const RstCase& c : cases) {
    SCOPED_TRACE(c.name);
    const PacketView in = parse(c.rejected);
    const Answer a = reject(c.rejected);
    ASSERT_EQ(a.result.status, RejectStatus::kBuilt);
    EXPECT_EQ(a.result.kind, RejectKind::kTcpReset);
    const PacketView out = parse(a.frame);
    expect_reversed(in, out);
    ASSERT_TRUE(out.has_l4);
    EXPECT_EQ(out.protocol, kIpProtoTcp);
    EXPECT_EQ(out.src_port, in.dst_port);
    EXPECT_EQ(out.dst_port, in.src_port);
    EXPECT_EQ(out.tcp.seq, c.seq);
    EXPECT_EQ(out.tcp.ack, c.ack);
    EXPECT_EQ(out.tcp.flags, c.flags);
    EXPECT_EQ(out.tcp.window, 0);
    EXPECT_EQ(out.tcp.header_length, 20);
    EXPECT_EQ(out.payload_length, 0);
    EXPECT_EQ(a.frame.size(), out.l3_offset + out.l3_length);  // no padding, no trailer
    expect_checksums(out);
  }
}

// ---- ICMP / ICMPv6 unreachable: every field, parsed back -----------------------

TEST(Reject, Icmpv4Fields) {
  struct Case {
    std::string name;
    Bytes rejected;
    std::size_t quoted;  // bytes of the rejected IP packet the error quotes
  };
  const std::vector<Case> cases = {
      {"UDP: header + 8", PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2").udp(5353, 53).payload(100).build(), 28},
      {"ICMP echo request", PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2").icmp_echo(7, 1).payload(56).build(), 28},
      {"IPv4 options are quoted too",
       PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2", {.options = {0x94, 0x04, 0x00, 0x00}})
           .udp(1, 2).payload(20).build(),
       32},
      {"shorter than header + 8: all of it",
       PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2", {.protocol = 47}).payload(3).build(), 23},
      {"first fragment (MF): answered",
       PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2", {.more_fragments = true}).udp(9, 10).payload(64).build(),
       28},
      {"Ethernet padding is not quoted",
       PacketBuilder().eth().ipv4("10.1.1.1", "10.2.2.2", {.protocol = 47}).payload(2).pad_to(60).build(), 22},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const PacketView in = parse(c.rejected);
    const Answer a = reject(c.rejected);
    ASSERT_EQ(a.result.status, RejectStatus::kBuilt);
    EXPECT_EQ(a.result.kind, RejectKind::kIcmpUnreachable);
    const PacketView out = parse(a.frame);
    expect_reversed(in, out);
    EXPECT_TRUE(out.dont_fragment);
    ASSERT_TRUE(out.has_l4);
    EXPECT_EQ(out.protocol, kIpProtoIcmp);
    EXPECT_EQ(out.icmp.type, 3);
    EXPECT_EQ(out.icmp.code, 13);
    EXPECT_TRUE(out.icmp.is_error);
    EXPECT_EQ(out.icmp.inner.src, in.src_ip);
    EXPECT_EQ(out.icmp.inner.dst, in.dst_ip);
    EXPECT_EQ(out.icmp.inner.protocol, in.protocol);
    EXPECT_EQ(out.l3_length, 20 + 8 + c.quoted);
    const auto quote = out.frame().subspan(out.l4_offset + 8);
    ASSERT_EQ(quote.size(), c.quoted);
    EXPECT_TRUE(std::equal(quote.begin(), quote.end(), c.rejected.begin() + in.l3_offset));
    // Bytes 4-7 of the ICMP header are unused (zero) for code 13.
    for (int i = 4; i < 8; ++i) EXPECT_EQ(out.data[out.l4_offset + i], 0);
    expect_checksums(out);
  }
}

TEST(Reject, Icmpv6Fields) {
  struct Case {
    std::string name;
    Bytes rejected;
    std::size_t quoted;
  };
  const std::vector<Case> cases = {
      {"UDP, all of it fits",
       PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(5000, 53).payload(100).build(), 148},
      {"echo request", PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6_echo(1, 2).build(), 48},
      {"large: cut so the answer is exactly 1280 bytes of IP",
       PacketBuilder().eth().vlan(7).ipv6("2001:db8::1", "2001:db8::2").udp(5000, 53).payload(1400).build(), 1232},
      {"extension headers are quoted",
       PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").ipv6_hop_by_hop().ipv6_destination_options()
           .udp(1, 2).build(),
       40 + 8 + 8 + 8},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const PacketView in = parse(c.rejected);
    const Answer a = reject(c.rejected);
    ASSERT_EQ(a.result.status, RejectStatus::kBuilt);
    EXPECT_EQ(a.result.kind, RejectKind::kIcmpv6Unreachable);
    const PacketView out = parse(a.frame);
    expect_reversed(in, out);
    ASSERT_TRUE(out.has_l4);
    EXPECT_EQ(out.protocol, kIpProtoIcmpv6);
    EXPECT_EQ(out.icmp.type, 1);
    EXPECT_EQ(out.icmp.code, 1);
    EXPECT_TRUE(out.icmp.is_error);
    EXPECT_EQ(out.icmp.inner.src, in.src_ip);
    EXPECT_EQ(out.icmp.inner.dst, in.dst_ip);
    EXPECT_EQ(out.l3_length, 40 + 8 + c.quoted);
    EXPECT_LE(out.l3_length, kRejectMaxIpBytes);
    const auto quote = out.frame().subspan(out.l4_offset + 8);
    ASSERT_EQ(quote.size(), c.quoted);
    EXPECT_TRUE(std::equal(quote.begin(), quote.end(), c.rejected.begin() + in.l3_offset));
    expect_checksums(out);
  }
}

// ---- never answer ------------------------------------------------------------------

TEST(Reject, NeverAnswer) {
  struct Case {
    std::string name;
    Bytes rejected;
    RejectStatus why;
    ParseOptions options = {};
  };
  const auto eth = [] { return PacketBuilder().eth("02:00:00:00:00:01", "02:00:00:00:00:02"); };
  const std::vector<Case> cases = {
      {"ARP", eth().arp().build(), RejectStatus::kNotIp},
      {"unknown EtherType", PacketBuilder().eth("02:00:00:00:00:01", "02:00:00:00:00:02", 0x88b5).payload(46).build(),
       RejectStatus::kNotIp},
      {"ICMP destination unreachable",
       eth().ipv4("10.0.0.1", "10.0.0.2").icmp(3, 3).ipv4("10.0.0.2", "10.0.0.1").udp(1, 2).build(),
       RejectStatus::kIcmpError},
      {"ICMP time exceeded",
       eth().ipv4("10.0.0.1", "10.0.0.2").icmp(11, 0).ipv4("10.0.0.2", "10.0.0.1").udp(1, 2).build(),
       RejectStatus::kIcmpError},
      {"ICMPv6 packet too big",
       eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6(2, 0, 1280).ipv6("2001:db8::2", "2001:db8::1").udp(1, 2).build(),
       RejectStatus::kIcmpError},
      {"ICMPv6 unknown error type 100", eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6(100, 0).build(),
       RejectStatus::kIcmpError},
      {"ICMPv6 redirect", eth().ipv6("fe80::1", "fe80::2").nd_redirect("fe80::3", "2001:db8::9").build(),
       RejectStatus::kIcmpError},
      {"TCP RST", eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, kTcpRst).build(), RejectStatus::kTcpReset},
      {"TCP RST|ACK over IPv6", eth().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2, kTcpRst | kTcpAck).build(),
       RejectStatus::kTcpReset},
      {"IPv4 non-first fragment",
       eth().ipv4("10.0.0.1", "10.0.0.2", {.fragment_offset = 1480, .protocol = kIpProtoUdp}).payload(100).build(),
       RejectStatus::kNonFirstFragment},
      {"IPv6 non-first fragment",
       eth().ipv6("2001:db8::1", "2001:db8::2").ipv6_fragment({.offset = 1232, .next_header = kIpProtoTcp})
           .payload(100).build(),
       RejectStatus::kNonFirstFragment},
      {"Ethernet broadcast destination",
       PacketBuilder().eth("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"Ethernet multicast destination",
       PacketBuilder().eth("02:00:00:00:00:01", "01:00:5e:00:00:fb").ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"Ethernet multicast source",
       PacketBuilder().eth("03:00:00:00:00:01", "02:00:00:00:00:02").ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"IPv4 limited broadcast (DHCP discover)",
       eth().ipv4("0.0.0.0", "255.255.255.255").udp(68, 67).dhcp().build(), RejectStatus::kMulticastOrBroadcast},
      {"IPv4 multicast destination", eth().ipv4("10.0.0.1", "224.0.0.251").udp(5353, 5353).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"IPv4 multicast source", eth().ipv4("239.1.1.1", "10.0.0.2").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"IPv4 source 0.0.0.0", eth().ipv4("0.0.0.0", "10.0.0.2").tcp(1, 2, kTcpSyn).build(), RejectStatus::kBadSource},
      {"IPv4 loopback source", eth().ipv4("127.0.0.1", "10.0.0.2").udp(1, 2).build(), RejectStatus::kBadSource},
      {"IPv4 class E source", eth().ipv4("240.0.0.1", "10.0.0.2").udp(1, 2).build(), RejectStatus::kBadSource},
      {"IPv6 multicast destination", eth().ipv6("2001:db8::1", "ff02::1").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"IPv6 multicast source", eth().ipv6("ff0e::1", "2001:db8::2").udp(1, 2).build(),
       RejectStatus::kMulticastOrBroadcast},
      {"IPv6 unspecified source", eth().ipv6("::", "2001:db8::2").tcp(1, 2, kTcpSyn).build(), RejectStatus::kBadSource},
      {"IPv6 loopback source", eth().ipv6("::1", "2001:db8::2").udp(1, 2).build(), RejectStatus::kBadSource},
      {"decapsulated VXLAN inner frame",
       eth().ipv4("192.0.2.1", "192.0.2.2").udp(5555, kUdpPortVxlan).vxlan(42)
           .eth("02:00:00:00:01:01", "02:00:00:00:01:02").ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, kTcpSyn).build(),
       RejectStatus::kTunnel, {.decapsulate = true}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Answer a = reject(c.rejected, c.options);
    EXPECT_EQ(a.result.status, c.why) << reject_status_name(a.result.status);
    EXPECT_EQ(a.result.kind, RejectKind::kNone);
    EXPECT_EQ(a.result.length, 0);
  }
}

TEST(Reject, OuterViewOfTunnelIsAnsweredAsUdp) {
  const Bytes vxlan = PacketBuilder().eth().ipv4("192.0.2.1", "192.0.2.2").udp(5555, kUdpPortVxlan).vxlan(42)
                          .eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, kTcpSyn).build();
  const Answer a = reject(vxlan);
  ASSERT_EQ(a.result.status, RejectStatus::kBuilt);
  EXPECT_EQ(a.result.kind, RejectKind::kIcmpUnreachable);
  EXPECT_EQ(parse(a.frame).icmp.inner.dst_port, kUdpPortVxlan);
}

TEST(Reject, BufferTooSmallWritesNothingUseful) {
  const Bytes syn = PacketBuilder().eth().vlan(1).vlan(2).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, kTcpSyn).build();
  PacketView view;
  ASSERT_EQ(parse_frame(syn, view), ParseError::kOk);
  std::array<std::uint8_t, 14 + 8 + 20 + 20> exact{};
  RejectResult r = build_reject(view, std::span(exact).first(exact.size() - 1));
  EXPECT_EQ(r.status, RejectStatus::kBufferTooSmall);
  EXPECT_EQ(r.length, 0);
  r = build_reject(view, exact);
  EXPECT_EQ(r.status, RejectStatus::kBuilt);
  EXPECT_EQ(r.length, exact.size());
  EXPECT_EQ(reject_status_name(RejectStatus::kBufferTooSmall), "buffer-too-small");
}

}  // namespace
}  // namespace fw::conntrack
