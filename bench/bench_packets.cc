#include "bench_packets.h"

namespace fw::bench {

using test::PacketBuilder;
using test::TcpOptions;

test::Bytes ipv4_tcp_syn() {
  return PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .ipv4("10.0.0.1", "10.0.0.2")
      .tcp(43210, 443, kTcpSyn,
           {.options = TcpOptions().mss(1460).sack_permitted().timestamps(12345, 0).nop().window_scale(7)})
      .build();
}

test::Bytes ipv6_ext_tcp() {
  return PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .ipv6("2001:db8::1", "2001:db8::2")
      .ipv6_hop_by_hop()
      .ipv6_routing({.segments_left = 0, .data = test::Bytes(16, 0)})
      .ipv6_destination_options()
      .tcp(43210, 443, kTcpAck, {.ack = 1})
      .payload(64)
      .build();
}

test::Bytes vxlan_ipv4_tcp() {
  return PacketBuilder()
      .eth("02:00:00:00:00:0a", "02:00:00:00:00:0b")
      .ipv4("192.0.2.1", "192.0.2.2")
      .udp(50000, 4789)
      .vxlan(5001)
      .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .ipv4("10.0.0.1", "10.0.0.2")
      .tcp(43210, 443, kTcpAck, {.ack = 1})
      .payload(64)
      .build();
}

test::Bytes ipv4_udp() {
  return PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .ipv4("10.0.0.1", "10.0.0.2")
      .udp(5353, 53)
      .payload(64)
      .build();
}

namespace {
// A data segment of an established Linux connection: ACK|PSH, timestamps.
PacketBuilder& established_segment(PacketBuilder& b) {
  return b.tcp(43210, 443, kTcpAck | kTcpPsh,
               {.seq = 1001, .ack = 2002, .window = 501, .options = TcpOptions().nop().nop().timestamps(12345, 6789)})
      .payload(64);
}
}  // namespace

test::Bytes ipv4_tcp_established() {
  PacketBuilder b;
  b.eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv4("10.0.0.1", "10.0.0.2", {.dont_fragment = true});
  return established_segment(b).build();
}

test::Bytes ipv6_udp() {
  return PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .ipv6("2001:db8::1", "2001:db8::2")
      .udp(5353, 53)
      .payload(64)
      .build();
}

test::Bytes ipv6_tcp_established() {
  PacketBuilder b;
  b.eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv6("2001:db8::1", "2001:db8::2");
  return established_segment(b).build();
}

}  // namespace fw::bench
