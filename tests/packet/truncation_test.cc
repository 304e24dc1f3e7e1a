// Every truncation point of well-formed packets, and every byte of them
// overwritten: no crash (the suite runs under ASan/UBSan too), a view that
// stays inside the frame, and never kOk unless the cut is legitimately OK.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fw/packet.h"
#include "packet/view_invariants.h"
#include "support/packet_builder.h"

namespace fw::test {
namespace {

struct TruncationFixture {
  std::string name;
  PacketBuilder builder;
  // With the length fields patched to agree with the cut (truncate_consistently):
  // the smallest cut that parses, per mode, and errors a longer cut may
  // legitimately give (e.g. a DHCP option cut in the middle).
  std::size_t ok_from_outer = 0;
  std::size_t ok_from_decapsulated = 0;
  std::set<ParseError> tail_errors = {};
  // Errors the consistent cuts must produce in both modes: proof that they
  // reach the deepest layers rather than stopping at L3.
  std::set<ParseError> must_see = {};
};

void PrintTo(const TruncationFixture& f, std::ostream* os) { *os << f.name; }

std::vector<TruncationFixture> fixtures() {
  std::vector<TruncationFixture> f;
  {
    PacketBuilder b = PacketBuilder().eth().vlan(10).ipv4("10.0.0.1", "10.0.0.2", {.options = {1, 7, 7, 4, 0, 0, 0, 0}})
                          .tcp(1234, 80, kTcpSyn | kTcpAck,
                               {.options = TcpOptions().mss(1460).sack_permitted().timestamps(1, 2).nop().window_scale(7)})
                          .payload(20);
    const std::size_t ok = b.offset_of(Layer::kPayload);
    f.push_back({.name = "Ipv4TcpWithOptions", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .must_see = {ParseError::kTruncatedTcp, ParseError::kBadTcpDataOffset}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2")
                          .ipv6_hop_by_hop({.options = {5, 2, 0, 0}}).ipv6_routing({.data = Bytes(16, 0)})
                          .ipv6_fragment().ipv6_destination_options({.options = {0xc9, 2, 1, 2}}).ah()
                          .tcp(1, 2, kTcpAck, {.options = TcpOptions().nop().nop().sack({{1, 2}, {3, 4}})})
                          .payload(10);
    const std::size_t ok = b.offset_of(Layer::kPayload);
    f.push_back({.name = "Ipv6ExtHeadersTcp", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .must_see = {ParseError::kTruncatedIpv6ExtHeader, ParseError::kTruncatedAh,
                              ParseError::kTruncatedTcp, ParseError::kBadTcpDataOffset}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv4("192.0.2.1", "192.0.2.2").udp(5000, kUdpPortVxlan).vxlan(42)
                          .eth().vlan(7).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, kTcpSyn).payload(10);
    f.push_back({.name = "VxlanTcp", .builder = b, .ok_from_outer = b.offset_of(Layer::kEthernet, 1) + 14,
                 .ok_from_decapsulated = b.offset_of(Layer::kPayload), .must_see = {ParseError::kTruncatedTunnel}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(5000, kUdpPortGeneve)
                          .geneve(42, {.options = {0, 1, 2, 1, 9, 9, 9, 9}})
                          .eth().ipv6("2001:db8::3", "2001:db8::4").udp(53, 53).payload(10);
    f.push_back({.name = "GeneveUdp", .builder = b, .ok_from_outer = b.offset_of(Layer::kEthernet, 1) + 14,
                 .ok_from_decapsulated = b.offset_of(Layer::kPayload), .must_see = {ParseError::kTruncatedTunnel}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp(3, 3)
                          .ipv4("10.0.0.2", "10.0.0.1").udp(1, 2).payload(8);
    const std::size_t ok = b.offset_of(Layer::kIpv4, 1) + 20;
    f.push_back({.name = "IcmpUnreachable", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .must_see = {ParseError::kTruncatedIcmp, ParseError::kBadIcmpInner}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").icmpv6(1, 4)
                          .ipv6("2001:db8::2", "2001:db8::1").ipv6_fragment().udp(1, 2).payload(8);
    const std::size_t ok = b.offset_of(Layer::kIpv6, 1) + 40;
    f.push_back({.name = "Icmpv6Unreachable", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .must_see = {ParseError::kTruncatedIcmp, ParseError::kBadIcmpInner}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv6("fe80::1", "ff02::1:ff00:2", {.hop_limit = 255})
                          .nd_neighbor_solicitation("2001:db8::2", NdOptions().source_link_address("02:00:00:00:00:01"));
    const std::size_t ok = b.offset_of(Layer::kIcmpv6) + 24;
    f.push_back({.name = "NeighborSolicitation", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .tail_errors = {ParseError::kBadNdOption},
                 .must_see = {ParseError::kTruncatedNd, ParseError::kBadNdOption}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().ipv4("0.0.0.0", "255.255.255.255").udp(68, 67)
                          .dhcp({.message_type = 3, .requested_ip = "10.0.0.9", .server_id = "10.0.0.1"});
    const std::size_t ok = b.offset_of(Layer::kDhcp) + 240;
    f.push_back({.name = "DhcpRequest", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .tail_errors = {ParseError::kBadDhcp},
                 .must_see = {ParseError::kTruncatedDhcp, ParseError::kBadDhcp}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().arp();
    f.push_back({.name = "Arp", .builder = b, .ok_from_outer = b.size(), .ok_from_decapsulated = b.size(),
                 .must_see = {ParseError::kTruncatedArp}});
  }
  {
    PacketBuilder b = PacketBuilder().eth().vlan(1, {.tpid = kEtherTypeQinQ}).vlan(2)
                          .ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload(6);
    const std::size_t ok = b.offset_of(Layer::kPayload);
    f.push_back({.name = "QinQUdp", .builder = b, .ok_from_outer = ok, .ok_from_decapsulated = ok,
                 .must_see = {ParseError::kTruncatedVlan, ParseError::kTruncatedUdp}});
  }
  return f;
}

// Errors a cut can produce before the L3 length fields are consulted, or
// from them: the whole class of "this frame is shorter than it says".
bool is_truncation_error(ParseError e) {
  switch (e) {
    case ParseError::kTruncatedEthernet:
    case ParseError::kTruncatedVlan:
    case ParseError::kTruncatedArp:
    case ParseError::kTruncatedIpv4:
    case ParseError::kBadIpv4HeaderLength:
    case ParseError::kBadIpv4TotalLength:
    case ParseError::kTruncatedIpv6:
    case ParseError::kBadIpv6PayloadLength:
      return true;
    default:
      return false;
  }
}

// Errors a consistent cut can also produce, in the layers past L3: a header
// or length field that no longer fits.
bool is_inner_truncation_error(ParseError e) {
  switch (e) {
    case ParseError::kTruncatedIpv6ExtHeader:
    case ParseError::kTruncatedAh:
    case ParseError::kTruncatedTcp:
    case ParseError::kBadTcpDataOffset:
    case ParseError::kTruncatedUdp:
    case ParseError::kBadUdpLength:
    case ParseError::kTruncatedIcmp:
    case ParseError::kBadIcmpInner:
    case ParseError::kTruncatedNd:
    case ParseError::kTruncatedDhcp:
    case ParseError::kTruncatedTunnel:
      return true;
    default:
      return is_truncation_error(e);
  }
}

class TruncationTest : public ::testing::TestWithParam<TruncationFixture> {};

TEST_P(TruncationTest, RawCutsAreTruncationErrors) {
  const TruncationFixture& f = GetParam();
  const Bytes whole = f.builder.build();
  for (bool decapsulate : {false, true}) {
    PacketView v;
    ASSERT_EQ(parse_frame(whole, v, {.decapsulate = decapsulate}), ParseError::kOk);
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
      // A copy of exactly `cut` bytes, so ASan sees any read past it.
      const Bytes frame(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
      const ParseError err = parse_frame(frame, v, {.decapsulate = decapsulate});
      SCOPED_TRACE("cut at " + std::to_string(cut) + (decapsulate ? " [decapsulate]" : "") + ": " +
                   std::string(parse_error_name(err)));
      EXPECT_TRUE(is_truncation_error(err));
      EXPECT_TRUE(view_within_frame(v, frame));
    }
  }
}

TEST_P(TruncationTest, ConsistentCutsReachEveryLayer) {
  const TruncationFixture& f = GetParam();
  const std::size_t size = f.builder.size();
  for (bool decapsulate : {false, true}) {
    const std::size_t ok_from = decapsulate ? f.ok_from_decapsulated : f.ok_from_outer;
    std::set<ParseError> seen;
    for (std::size_t cut = 0; cut <= size; ++cut) {
      const Bytes frame = PacketBuilder(f.builder).truncate_consistently(cut).build();
      PacketView v;
      const ParseError err = parse_frame(frame, v, {.decapsulate = decapsulate});
      SCOPED_TRACE("cut at " + std::to_string(cut) + (decapsulate ? " [decapsulate]" : "") + ": " +
                   std::string(parse_error_name(err)));
      seen.insert(err);
      EXPECT_TRUE(view_within_frame(v, frame));
      if (cut < ok_from) {
        EXPECT_NE(err, ParseError::kOk);
        EXPECT_TRUE(is_inner_truncation_error(err) || f.tail_errors.count(err));
      } else {
        EXPECT_TRUE(err == ParseError::kOk || f.tail_errors.count(err));
      }
    }
    EXPECT_TRUE(seen.count(ParseError::kOk));
    for (ParseError e : f.must_see) EXPECT_TRUE(seen.count(e)) << "never saw " << parse_error_name(e);
  }
}

TEST_P(TruncationTest, EveryByteOverwritten) {
  const TruncationFixture& f = GetParam();
  const Bytes whole = f.builder.build();
  for (std::size_t at = 0; at < whole.size(); ++at) {
    for (std::uint8_t value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      Bytes frame = whole;
      frame[at] = value;
      for (bool decapsulate : {false, true}) {
        PacketView v;
        (void)parse_frame(frame, v, {.decapsulate = decapsulate});
        ASSERT_TRUE(view_within_frame(v, frame)) << "byte " << at << " = " << int{value};
      }
    }
  }
}

std::string fixture_name(const ::testing::TestParamInfo<TruncationFixture>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Packets, TruncationTest, ::testing::ValuesIn(fixtures()), fixture_name);

}  // namespace
}  // namespace fw::test
