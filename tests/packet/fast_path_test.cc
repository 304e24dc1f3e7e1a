// parse_frame()'s fast path for common frames (libfw/packet/parse.cc, "The
// common path") against the general path, field by field: on common frames
// and on every neighbour of one that the fast path must leave alone (VLAN
// tags, IPv4 options, fragments, extension headers, ICMP, DHCP, tunnels),
// each cut short at every length (raw, and with its length fields agreeing
// with the cut), padded, and with bytes overwritten. For every such frame:
//   - parse_frame() gives the same result and view as the general path alone;
//   - the fast path alone either gives that same result and view, or
//     declines without writing a byte of the view.
// Views start from two different fills, so a field the fast path forgot to
// write cannot match the general path's by accident.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fw/packet.h"
#include "libfw/packet/parse_internal.h"
#include "packet/view_compare.h"
#include "support/packet_builder.h"

namespace fw::test {
namespace {

using packet_internal::kNotCommonFrame;
using packet_internal::parse_frame_common;
using packet_internal::parse_frame_general;

struct Shape {
  std::string name;
  PacketBuilder builder;
  bool common = false;  // taken by the fast path as built
};

void PrintTo(const Shape& s, std::ostream* os) { *os << s.name; }

PacketBuilder eth() { return PacketBuilder().eth("02:00:00:00:00:0a", "02:00:00:00:00:0b"); }
PacketBuilder v4(Ipv4Fields fields = {}) { return eth().ipv4("10.0.0.1", "10.0.0.2", std::move(fields)); }
PacketBuilder v6(Ipv6Fields fields = {}) { return eth().ipv6("2001:db8::a", "2001:db8::b", std::move(fields)); }

std::vector<Shape> shapes() {
  const TcpFields established{.seq = 0x01020304, .ack = 0x0a0b0c0d, .window = 501,
                              .options = TcpOptions().nop().nop().timestamps(0x11223344, 0x55667788)};
  return {
      // Common: the fast path takes them.
      {"Ipv4Udp", v4().udp(5353, 53).payload(64), true},
      {"Ipv4UdpEmpty", v4().udp(1, 2), true},  // 42 bytes: the shortest common frame
      {"Ipv4UdpPadded", v4().udp(1, 2).payload(2).pad_to(60), true},
      {"Ipv4UdpFromDhcpPort", v4().udp(68, 53).payload(8), true},
      {"Ipv4UdpToDhcpPort", v4().udp(53, 67).payload(8), true},
      {"Ipv4TcpAck", v4({.tos = 0xb8, .ttl = 3, .id = 0x1234, .dont_fragment = true})
                         .tcp(43210, 443, kTcpAck, {.seq = 7, .ack = 9, .window = 1000}).payload(64), true},
      {"Ipv4TcpTimestamps", v4().tcp(43210, 443, kTcpAck | kTcpPsh, established).payload(100), true},
      {"Ipv4TcpTimestampsPadded", v4().tcp(1, 2, kTcpAck, established).pad_to(80), true},
      {"Ipv4TcpTimestampsLast", v4().tcp(1, 2, kTcpAck, {.options = TcpOptions().timestamps(1, 2).nop().nop()}), true},
      {"Ipv4TcpSynOptions", v4().tcp(43210, 443, kTcpSyn,
                                     {.options = TcpOptions().mss(1460).sack_permitted().timestamps(12345, 0)
                                                     .nop().window_scale(7)}), true},
      {"Ipv4TcpSack", v4().tcp(1, 2, kTcpAck, {.options = TcpOptions().nop().nop().sack({{1, 2}, {3, 4}, {5, 6}})}), true},
      {"Ipv4TcpBadOption", v4().tcp(1, 2, kTcpSyn, {.options = TcpOptions().raw(Bytes{2, 3, 5, 0})}), true},
      {"Ipv6Udp", v6({.traffic_class = 0x2e, .flow_label = 0xabcde, .hop_limit = 7}).udp(5353, 53).payload(64), true},
      {"Ipv6UdpDhcpPorts", v6().udp(68, 67).payload(300), true},  // DHCP is IPv4 only
      {"Ipv6UdpPadded", v6().udp(1, 2).pad_to(80), true},
      {"Ipv6TcpAck", v6({.flow_label = 1}).tcp(43210, 443, kTcpAck, {.ack = 1}).payload(64), true},
      {"Ipv6TcpTimestamps", v6().tcp(1, 2, kTcpAck, established).payload(10), true},
      // Not common: the general path parses them.
      {"VlanIpv4Udp", eth().vlan(10).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload(8)},
      {"QinQIpv6Tcp", eth().vlan(1, {.tpid = kEtherTypeQinQ}).vlan(2).ipv6("2001:db8::a", "2001:db8::b")
                          .tcp(1, 2, kTcpAck)},
      {"Ipv4OptionsUdp", v4({.options = {1, 7, 7, 4, 0, 0, 0, 0}}).udp(1, 2).payload(8)},
      {"Ipv4FirstFragmentUdp", v4({.more_fragments = true}).udp(1, 2).payload(16)},
      {"Ipv4LaterFragment", v4({.fragment_offset = 16}).udp(1, 2).payload(16)},
      {"Ipv6HopByHopTcp", v6().ipv6_hop_by_hop().tcp(1, 2, kTcpAck)},
      {"Ipv6AtomicFragmentUdp", v6().ipv6_fragment().udp(1, 2).payload(8)},
      {"Ipv4IcmpEcho", v4().icmp_echo(7, 1).payload(16)},
      {"Ipv6IcmpEcho", v6().icmpv6_echo(7, 1).payload(16)},
      {"NeighborSolicitation", eth().ipv6("fe80::1", "ff02::1:ff00:2", {.hop_limit = 255})
                                   .nd_neighbor_solicitation("2001:db8::2",
                                                             NdOptions().source_link_address("02:00:00:00:00:01"))},
      {"Arp", eth().arp()},
      {"DhcpRequest", eth().ipv4("0.0.0.0", "255.255.255.255").udp(68, 67).dhcp({.message_type = 3})},
      {"Vxlan", v4().udp(5000, kUdpPortVxlan).vxlan(42).eth().ipv4("10.1.0.1", "10.1.0.2").tcp(1, 2, kTcpSyn)},
      {"Geneve", v6().udp(5000, kUdpPortGeneve).geneve(42).eth().ipv4("10.1.0.1", "10.1.0.2").udp(1, 2)},
      {"Ipv4Gre", v4({.protocol = 47}).payload(24)},
      {"Lldp", PacketBuilder().eth("02:00:00:00:00:0a", "01:80:c2:00:00:0e", 0x88cc).payload(50)},
  };
}

class FastPathTest : public ::testing::TestWithParam<Shape> {
 protected:
  // Compares the paths on one frame (copied to exactly its size, so ASan
  // sees any read past it). Returns whether the fast path took it.
  bool check(const Bytes& bytes, const std::string& what) {
    const Bytes frame(bytes);  // no spare capacity past the end
    bool took = false;
    for (const std::uint8_t fill : {0x00, 0x01}) {
      for (const bool decapsulate : {false, true}) {
        PacketView general, full, fast, untouched;
        for (PacketView* v : {&general, &full, &fast, &untouched})
          std::memset(static_cast<void*>(v), fill, sizeof(PacketView));
        const ParseError general_err = parse_frame_general(frame, general, {.decapsulate = decapsulate});
        const ParseError full_err = parse_frame(frame, full, {.decapsulate = decapsulate});
        const ParseError fast_err = parse_frame_common(frame, fast);
        const std::string where = what + (decapsulate ? " [decapsulate]" : "") + " fill " +
                                  std::to_string(fill) + ": general " +
                                  std::string(parse_error_name(general_err));
        if (full_err != general_err) fail(where + ", parse_frame " + std::string(parse_error_name(full_err)));
        if (const char* field = first_view_difference(full, general))
          fail(where + ": parse_frame's view differs in " + field);
        if (fast_err == kNotCommonFrame) {
          if (std::memcmp(&fast, &untouched, sizeof(PacketView)) != 0)
            fail(where + ": the fast path declined after writing to the view");
          continue;
        }
        took = true;
        if (fast_err != general_err) fail(where + ", fast path " + std::string(parse_error_name(fast_err)));
        if (const char* field = first_view_difference(fast, general))
          fail(where + ": the fast path's view differs in " + field);
      }
    }
    return took;
  }

  void fail(const std::string& message) {
    if (++failures_ <= 20) ADD_FAILURE() << message;
  }

  int failures_ = 0;
};

TEST_P(FastPathTest, TakesExactlyTheCommonShapes) {
  const Shape& s = GetParam();
  EXPECT_EQ(check(s.builder.build(), "whole"), s.common);
}

TEST_P(FastPathTest, CutsAndPaddingAgreeWithTheGeneralPath) {
  const Shape& s = GetParam();
  const Bytes whole = s.builder.build();
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    check(Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)), "raw cut " + std::to_string(cut));
    check(PacketBuilder(s.builder).truncate_consistently(cut).build(), "consistent cut " + std::to_string(cut));
  }
  for (std::size_t extra : {1, 4, 20}) {
    Bytes padded = whole;
    padded.resize(whole.size() + extra, 0xee);
    check(padded, "padded by " + std::to_string(extra));
  }
}

TEST_P(FastPathTest, OverwrittenBytesAgreeWithTheGeneralPath) {
  const Shape& s = GetParam();
  const Bytes whole = s.builder.build();
  // The headers of every common frame lie in the first 74 bytes (Ethernet,
  // IPv6, TCP); values that flip the fast path's decisions.
  const std::size_t span = std::min<std::size_t>(whole.size(), 96);
  for (std::size_t at = 0; at < span; ++at) {
    const std::uint8_t original = whole[at];
    for (const std::uint8_t value :
         {std::uint8_t{0x00}, std::uint8_t{0x01}, std::uint8_t{0x05}, std::uint8_t{0x06}, std::uint8_t{0x08},
          std::uint8_t{0x11}, std::uint8_t{0x12}, std::uint8_t{0x3a}, std::uint8_t{0x40}, std::uint8_t{0x45},
          std::uint8_t{0x46}, std::uint8_t{0x50}, std::uint8_t{0x60}, std::uint8_t{0x86}, std::uint8_t{0xdd},
          std::uint8_t{0xff}, static_cast<std::uint8_t>(original ^ 0x01), static_cast<std::uint8_t>(original ^ 0x10),
          static_cast<std::uint8_t>(original + 1), static_cast<std::uint8_t>(original - 1)}) {
      Bytes frame = whole;
      frame[at] = value;
      check(frame, "byte " + std::to_string(at) + " = " + std::to_string(value));
    }
  }
  // And a few bytes at once, in fixed pseudo-random places.
  std::mt19937 rng(static_cast<std::uint32_t>(whole.size()));
  for (int round = 0; round < 400; ++round) {
    Bytes frame = whole;
    const int changes = 1 + static_cast<int>(rng() % 4);
    std::string what = "bytes";
    for (int c = 0; c < changes; ++c) {
      const std::size_t at = rng() % span;
      frame[at] = static_cast<std::uint8_t>(rng());
      what += ' ';  // (not `" " + std::to_string()`: a GCC 12 -Wrestrict false positive)
      what += std::to_string(at);
      what += '=';
      what += std::to_string(frame[at]);
    }
    check(frame, what);
  }
}

// The largest datagrams, whole (the general path's 64 KiB checks), and an
// IPv6 one whose l3_length would not fit the view's 16 bits.
TEST_F(FastPathTest, LengthFieldsAt64k) {
  EXPECT_TRUE(check(v4().udp(1, 2).payload(65535 - 28).build(), "IPv4 65535"));
  EXPECT_TRUE(check(v6().udp(1, 2).payload(65535 - 40 - 8).build(), "IPv6 65535"));
  EXPECT_TRUE(check(v4().tcp(1, 2, kTcpAck).payload(65535 - 40).pad_to(70000).build(), "IPv4 TCP padded"));
  EXPECT_FALSE(check(v6({.payload_length = 65535}).udp(1, 2, {.length = 65535}).payload(65535 - 8).build(),
                     "IPv6 past 65535"));
}

// parse_tcp_options() reads NOP, NOP, timestamps without walking the list:
// the same TcpInfo as the walk gives the same options in another order.
TEST(TcpTimestampsShortcutTest, SameAsTheOptionWalk) {
  const auto frame = [](const TcpOptions& options) {
    return v4().tcp(1, 2, kTcpAck, {.options = options}).payload(10).build();
  };
  const Bytes shortcut = frame(TcpOptions().nop().nop().timestamps(0xdeadbeef, 0x01020304));
  for (const Bytes& walked : {frame(TcpOptions().timestamps(0xdeadbeef, 0x01020304).nop().nop()),
                              frame(TcpOptions().nop().timestamps(0xdeadbeef, 0x01020304).nop())}) {
    ASSERT_EQ(shortcut.size(), walked.size());
    PacketView a, b;
    std::memset(static_cast<void*>(&a), 0x01, sizeof(PacketView));
    std::memset(static_cast<void*>(&b), 0x00, sizeof(PacketView));
    ASSERT_EQ(parse_frame(shortcut, a), ParseError::kOk);
    ASSERT_EQ(parse_frame(walked, b), ParseError::kOk);
    EXPECT_TRUE(a.tcp.has_timestamps);
    EXPECT_EQ(a.tcp.ts_value, 0xdeadbeef);
    EXPECT_EQ(a.tcp.ts_echo, 0x01020304u);
    b.data = a.data;  // two buffers; all else must be equal
    const char* field = first_view_difference(a, b);
    EXPECT_EQ(field, nullptr) << "differs in " << field;
  }
}

std::string shape_name(const ::testing::TestParamInfo<Shape>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Frames, FastPathTest, ::testing::ValuesIn(shapes()), shape_name);

}  // namespace
}  // namespace fw::test
