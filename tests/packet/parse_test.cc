// Table-driven tests of parse_frame(): one fixture per malformation class
// (every ParseError has at least one, checked by EveryErrorHasAFixture) and
// per well-formed shape, with the fields the filters rely on.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fw/packet.h"
#include "packet/view_invariants.h"
#include "support/packet_builder.h"

namespace fw::test {
namespace {

constexpr char kMacA[] = "02:00:00:00:00:0a";
constexpr char kMacB[] = "02:00:00:00:00:0b";
constexpr char kIpA[] = "10.0.0.1";
constexpr char kIpB[] = "10.0.0.2";
constexpr char kIp6A[] = "2001:db8::a";
constexpr char kIp6B[] = "2001:db8::b";

PacketBuilder v4(Ipv4Fields fields = {}) {
  return PacketBuilder().eth(kMacA, kMacB).ipv4(kIpA, kIpB, std::move(fields));
}
PacketBuilder v6(Ipv6Fields fields = {}) {
  return PacketBuilder().eth(kMacA, kMacB).ipv6(kIp6A, kIp6B, std::move(fields));
}
IpAddress ip(std::string_view text) { return parse_ip(text).value(); }
MacAddress mac(std::string_view text) { return parse_mac(text).value(); }

struct ParseCase {
  std::string name;  // the gtest name: letters, digits, underscores
  std::string description;
  Bytes frame;
  ParseError expected = ParseError::kOk;
  // Unset: the result must be the same with and without decapsulation.
  std::optional<bool> decapsulate = {};
  std::function<void(const PacketView&)> check = {};
};

// So that a failing parameter prints as its name, not as bytes.
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

ParseCase bad(std::string name, std::string description, Bytes frame, ParseError expected,
              std::optional<bool> decapsulate = {}) {
  return {std::move(name), std::move(description), std::move(frame), expected, decapsulate, {}};
}
ParseCase good(std::string name, std::string description, Bytes frame,
               std::function<void(const PacketView&)> check, std::optional<bool> decapsulate = {}) {
  return {std::move(name), std::move(description), std::move(frame), ParseError::kOk, decapsulate,
          std::move(check)};
}

// ---- malformed frames: one group per ParseError --------------------------------

std::vector<ParseCase> malformed_cases() {
  std::vector<ParseCase> c;
  const Bytes tcp_syn = v4().tcp(1234, 80, kTcpSyn).build();

  // L2
  c.push_back(bad("EmptyFrame", "no bytes at all", {}, ParseError::kTruncatedEthernet));
  c.push_back(bad("EthernetHeader13Bytes", "one byte short of an Ethernet header",
                  Bytes(tcp_syn.begin(), tcp_syn.begin() + 13), ParseError::kTruncatedEthernet));
  c.push_back(bad("VlanTagCut", "802.1Q TPID present but the tag is cut",
                  PacketBuilder().eth().vlan(10).ipv4(kIpA, kIpB).truncate(16).build(),
                  ParseError::kTruncatedVlan));
  c.push_back(bad("QinQTagCutAfterFirst", "S-tag complete, C-tag cut",
                  PacketBuilder().eth().vlan(100, {.tpid = kEtherTypeQinQ}).vlan(10).ipv4(kIpA, kIpB).truncate(20).build(),
                  ParseError::kTruncatedVlan));
  c.push_back(bad("ThreeVlanTags", "a third stacked tag is one more than kMaxVlanTags",
                  PacketBuilder().eth().vlan(100, {.tpid = kEtherTypeQinQ}).vlan(200).vlan(300)
                      .ipv4(kIpA, kIpB).udp(1, 2).build(),
                  ParseError::kTooManyVlanTags));

  // ARP
  c.push_back(bad("ArpFixedPartCut", "ARP shorter than its 8-byte fixed part",
                  PacketBuilder().eth().arp().truncate(14 + 6).build(), ParseError::kTruncatedArp));
  c.push_back(bad("ArpAddressesCut", "Ethernet/IPv4 ARP one byte short of 28",
                  PacketBuilder().eth().arp().truncate(14 + 27).build(), ParseError::kTruncatedArp));
  c.push_back(bad("ArpHardwareNotEthernet", "hardware type 6 (IEEE 802)",
                  PacketBuilder().eth().arp({.hardware_type = 6}).build(), ParseError::kBadArp));
  c.push_back(bad("ArpProtocolNotIpv4", "protocol type IPv6",
                  PacketBuilder().eth().arp({.protocol_type = kEtherTypeIpv6}).build(), ParseError::kBadArp));
  c.push_back(bad("ArpHardwareLength8", "hardware address length 8",
                  PacketBuilder().eth().arp({.hardware_length = 8}).build(), ParseError::kBadArp));
  c.push_back(bad("ArpProtocolLength16", "protocol address length 16",
                  PacketBuilder().eth().arp({.protocol_length = 16}).build(), ParseError::kBadArp));

  // IPv4 header
  c.push_back(bad("Ipv4HeaderCut", "19 bytes of IPv4 header",
                  v4().truncate(14 + 19).build(), ParseError::kTruncatedIpv4));
  c.push_back(bad("Ipv4EtherTypeVersion6", "EtherType IPv4, version nibble 6",
                  v4({.version = 6}).udp(1, 2).build(), ParseError::kBadIpVersion));
  c.push_back(bad("Ipv6EtherTypeVersion4", "EtherType IPv6, version nibble 4",
                  v6({.version = 4}).udp(1, 2).build(), ParseError::kBadIpVersion));
  c.push_back(bad("Ipv4IhlBelow5", "IHL 4 (16 bytes)", v4({.ihl = 4}).udp(1, 2).build(),
                  ParseError::kBadIpv4HeaderLength));
  c.push_back(bad("Ipv4IhlBeyondPacket", "IHL 15 (60 bytes) in a 28-byte packet",
                  v4({.ihl = 15}).udp(1, 2).build(), ParseError::kBadIpv4HeaderLength));
  c.push_back(bad("Ipv4TotalLengthBelowHeader", "total length 19",
                  v4({.total_length = 19}).udp(1, 2).build(), ParseError::kBadIpv4TotalLength));
  c.push_back(bad("Ipv4TotalLengthBeyondFrame", "total length one more than present",
                  v4({.total_length = 29}).udp(1, 2).build(), ParseError::kBadIpv4TotalLength));
  c.push_back(bad("Ipv4OptionLength1", "record-route option with length 1",
                  v4({.options = {7, 1, 0, 0}}).udp(1, 2).build(), ParseError::kBadIpv4Options));
  c.push_back(bad("Ipv4OptionLength0", "an option with length 0 (would never advance)",
                  v4({.options = {0x44, 0, 0, 0}}).udp(1, 2).build(), ParseError::kBadIpv4Options));
  c.push_back(bad("Ipv4OptionOverrun", "timestamp option claiming 12 bytes in 8",
                  v4({.options = {0x44, 12, 5, 0, 0, 0, 0, 0}}).udp(1, 2).build(),
                  ParseError::kBadIpv4Options));
  c.push_back(bad("Ipv4OptionWithoutLength", "NOPs then an option type in the last byte",
                  v4({.options = {1, 1, 1, 0x94}}).udp(1, 2).build(), ParseError::kBadIpv4Options));
  c.push_back(bad("Ipv4FragmentPast64k", "offset 65528 + 16 bytes > 65535",
                  v4({.fragment_offset = 65528, .protocol = kIpProtoUdp}).payload(16).build(),
                  ParseError::kBadIpv4Fragment));
  c.push_back(bad("Ipv4FragmentNotMultipleOf8", "MF set with 13 bytes of data",
                  v4({.more_fragments = true}).udp(1, 2).payload(5).build(), ParseError::kBadIpv4Fragment));
  c.push_back(bad("Ipv4TcpFragmentAtOffset8", "RFC 1858: rewrites the TCP flags of the first fragment",
                  v4({.fragment_offset = 8, .protocol = kIpProtoTcp}).payload(16).build(),
                  ParseError::kBadIpv4Fragment));

  // IPv6 header and extension headers
  c.push_back(bad("Ipv6HeaderCut", "39 bytes of IPv6 header", v6().truncate(14 + 39).build(),
                  ParseError::kTruncatedIpv6));
  c.push_back(bad("Ipv6PayloadLengthBeyondFrame", "payload length one more than present",
                  v6({.payload_length = 9}).udp(1, 2).build(), ParseError::kBadIpv6PayloadLength));
  c.push_back(bad("Ipv6ExtHeaderUnder8Bytes", "next header is destination options, 4 bytes follow",
                  v6({.next_header = 60}).payload(4).build(), ParseError::kTruncatedIpv6ExtHeader));
  c.push_back(bad("Ipv6ExtHeaderLengthBeyondPayload", "destination options claiming 40 bytes in 16",
                  v6().ipv6_destination_options({.length = 4}).udp(1, 2).build(),
                  ParseError::kTruncatedIpv6ExtHeader));
  {
    PacketBuilder b = v6();
    for (int i = 0; i < 9; ++i) b.ipv6_destination_options();
    c.push_back(bad("NineExtHeaders", "one more than kMaxIpv6ExtHeaders", b.udp(1, 2).build(),
                    ParseError::kTooManyIpv6ExtHeaders));
  }
  c.push_back(bad("HopByHopNotFirst", "hop-by-hop after destination options",
                  v6().ipv6_destination_options().ipv6_hop_by_hop().udp(1, 2).build(),
                  ParseError::kBadIpv6ExtHeaderOrder));
  c.push_back(bad("TwoFragmentHeaders", "two (atomic) fragment headers",
                  v6().ipv6_fragment().ipv6_fragment().udp(1, 2).build(), ParseError::kBadIpv6ExtHeaderOrder));
  c.push_back(bad("HopByHopOptionOverrun", "a TLV claiming 8 bytes in a 6-byte option area",
                  v6().ipv6_hop_by_hop({.options = {5, 8, 0, 0}}).udp(1, 2).build(),
                  ParseError::kBadIpv6Options));
  c.push_back(bad("DestOptionWithoutLength", "Pad1 x5 then a type byte without length",
                  v6().ipv6_destination_options({.options = {0, 0, 0, 0, 0, 0xc2}}).udp(1, 2).build(),
                  ParseError::kBadIpv6Options));
  c.push_back(bad("Ipv6FragmentPast64k", "offset 65528 + 16 bytes > 65535",
                  v6().ipv6_fragment({.offset = 65528, .next_header = kIpProtoUdp}).payload(16).build(),
                  ParseError::kBadIpv6Fragment));
  c.push_back(bad("Ipv6FragmentNotMultipleOf8", "M set with 13 bytes of data",
                  v6().ipv6_fragment({.more_fragments = true}).udp(1, 2).payload(5).build(),
                  ParseError::kBadIpv6Fragment));
  c.push_back(bad("Ipv6TcpFragmentAtOffset8", "RFC 1858 overlap, IPv6 flavour",
                  v6().ipv6_fragment({.offset = 8, .next_header = kIpProtoTcp}).payload(16).build(),
                  ParseError::kBadIpv6Fragment));
  c.push_back(bad("AhUnder12Bytes", "next header AH, 8 bytes follow",
                  v6({.next_header = 51}).payload(8).build(), ParseError::kTruncatedAh));
  c.push_back(bad("AhLengthBelowFixedPart", "AH payload length 0 = 8 bytes < 12",
                  v6().ah({.length = 0}).udp(1, 2).build(), ParseError::kTruncatedAh));
  c.push_back(bad("AhLengthBeyondPayload", "AH claiming 48 bytes in 32",
                  v6().ah({.length = 10}).udp(1, 2).build(), ParseError::kTruncatedAh));

  // Fragments too small for their L4 header
  c.push_back(bad("TinyFirstFragmentTcp", "first fragment with 8 bytes of TCP",
                  v4({.more_fragments = true, .protocol = kIpProtoTcp}).payload(8).build(),
                  ParseError::kTinyFirstFragment));
  c.push_back(bad("TinyFirstFragmentTcpOptions", "first fragment whose TCP options continue in the next",
                  v4({.more_fragments = true}).tcp(1, 2, kTcpSyn, {.data_offset = 15}).payload(4).build(),
                  ParseError::kTinyFirstFragment));
  c.push_back(bad("TinyFirstFragmentUdp", "first fragment with no UDP header",
                  v4({.more_fragments = true, .protocol = kIpProtoUdp}).build(), ParseError::kTinyFirstFragment));
  c.push_back(bad("TinyFirstFragmentIcmp", "first fragment with no ICMP header",
                  v4({.more_fragments = true, .protocol = kIpProtoIcmp}).build(), ParseError::kTinyFirstFragment));
  c.push_back(bad("TinyFirstFragmentIpv6Tcp", "IPv6 first fragment with 8 bytes of TCP",
                  v6().ipv6_fragment({.more_fragments = true, .next_header = kIpProtoTcp}).payload(8).build(),
                  ParseError::kTinyFirstFragment));
  c.push_back(bad("TinyFirstFragmentIpv6HeaderChain", "RFC 7112: header chain continues in the next fragment",
                  v6().ipv6_fragment({.more_fragments = true}).ipv6_destination_options({.length = 3})
                      .payload(8).build(),
                  ParseError::kTinyFirstFragment));

  // TCP
  c.push_back(bad("TcpHeaderCut", "19 bytes of TCP", v4({.protocol = kIpProtoTcp}).payload(19).build(),
                  ParseError::kTruncatedTcp));
  c.push_back(bad("TcpDataOffsetBelow5", "data offset 4",
                  v4().tcp(1, 2, kTcpSyn, {.data_offset = 4}).build(), ParseError::kBadTcpDataOffset));
  c.push_back(bad("TcpDataOffsetBeyondSegment", "data offset 6 in a 20-byte segment",
                  v4().tcp(1, 2, kTcpSyn, {.data_offset = 6}).build(), ParseError::kBadTcpDataOffset));
  const auto tcp_with_options = [](Bytes options) {
    return v4().tcp(1, 2, kTcpSyn, {.options = TcpOptions().raw(options)}).build();
  };
  c.push_back(bad("TcpOptionLength0", "unknown option of length 0", tcp_with_options({0xfe, 0, 1, 1}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpOptionLength1", "unknown option of length 1", tcp_with_options({0xfe, 1, 1, 1}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpOptionOverrun", "option claiming 8 bytes in 4", tcp_with_options({0xfe, 8, 0, 0}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpOptionWithoutLength", "NOPs then a kind in the last byte", tcp_with_options({1, 1, 1, 2}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpMssLength3", "MSS with length 3", tcp_with_options({2, 3, 5, 1}), ParseError::kBadTcpOption));
  c.push_back(bad("TcpWindowScaleLength4", "window scale with length 4", tcp_with_options({3, 4, 7, 0}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpSackPermittedLength3", "SACK-permitted with length 3", tcp_with_options({4, 3, 0, 1}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpSackLength6", "SACK of 6 bytes (not 2 + 8n)", tcp_with_options({1, 1, 5, 6, 0, 0, 0, 0}),
                  ParseError::kBadTcpOption));
  c.push_back(bad("TcpSackNoBlocks", "SACK of 2 bytes", tcp_with_options({1, 1, 5, 2}), ParseError::kBadTcpOption));
  c.push_back(bad("TcpTimestampLength6", "timestamps with length 6",
                  tcp_with_options({8, 6, 0, 0, 0, 1, 1, 1}), ParseError::kBadTcpOption));

  // UDP
  c.push_back(bad("UdpHeaderCut", "7 bytes of UDP", v4({.protocol = kIpProtoUdp}).payload(7).build(),
                  ParseError::kTruncatedUdp));
  c.push_back(bad("UdpLengthBelow8", "UDP length 7", v4().udp(1, 2, {.length = 7}).payload(4).build(),
                  ParseError::kBadUdpLength));
  c.push_back(bad("UdpLengthBeyondPayload", "UDP length 13 with 12 bytes present",
                  v4().udp(1, 2, {.length = 13}).payload(4).build(), ParseError::kBadUdpLength));
  c.push_back(bad("UdpLengthZeroIpv6", "UDP length 0 (jumbogram form, not on Ethernet)",
                  v6().udp(1, 2, {.length = 0}).payload(4).build(), ParseError::kBadUdpLength));

  // ICMP / ICMPv6
  c.push_back(bad("IcmpHeaderCut", "7 bytes of ICMP", v4({.protocol = kIpProtoIcmp}).payload(7).build(),
                  ParseError::kTruncatedIcmp));
  c.push_back(bad("Icmpv6HeaderCut", "7 bytes of ICMPv6", v6({.next_header = kIpProtoIcmpv6}).payload(7).build(),
                  ParseError::kTruncatedIcmp));
  c.push_back(bad("IcmpQuoteUnder20", "unreachable quoting 19 bytes", v4().icmp(3, 1).payload(19).build(),
                  ParseError::kBadIcmpInner));
  c.push_back(bad("IcmpQuoteVersion6", "ICMPv4 error quoting a version-6 header",
                  v4().icmp(3, 1).ipv4(kIpB, kIpA, {.version = 6}).udp(1, 2).build(), ParseError::kBadIcmpInner));
  c.push_back(bad("IcmpQuoteIhlBelow5", "quoted IHL 4",
                  v4().icmp(11, 0).ipv4(kIpB, kIpA, {.ihl = 4}).udp(1, 2).build(), ParseError::kBadIcmpInner));
  c.push_back(bad("IcmpQuoteIhlBeyondQuote", "quoted IHL 15 in a 28-byte quote",
                  v4().icmp(11, 0).ipv4(kIpB, kIpA, {.ihl = 15}).udp(1, 2).build(), ParseError::kBadIcmpInner));
  c.push_back(bad("IcmpQuoteTotalLengthBelowHeader", "quoted total length 10",
                  v4().icmp(12, 0).ipv4(kIpB, kIpA, {.total_length = 10}).udp(1, 2).build(),
                  ParseError::kBadIcmpInner));
  c.push_back(bad("Icmpv6QuoteUnder40", "packet-too-big quoting 39 bytes",
                  v6().icmpv6(2, 0, 1280).payload(39).build(), ParseError::kBadIcmpInner));
  c.push_back(bad("Icmpv6QuoteVersion4", "ICMPv6 error quoting an IPv4 header padded to 40 bytes",
                  v6().icmpv6(1, 4).ipv4(kIpB, kIpA).udp(1, 2).payload(12).build(), ParseError::kBadIcmpInner));
  {
    PacketBuilder b = v6().icmpv6(4, 1).ipv6(kIp6B, kIp6A);
    for (int i = 0; i < 9; ++i) b.ipv6_destination_options();
    c.push_back(bad("Icmpv6QuoteNineExtHeaders", "quoted header chain longer than kMaxIpv6ExtHeaders",
                    b.udp(1, 2).build(), ParseError::kBadIcmpInner));
  }
  c.push_back(bad("Icmpv6QuoteAhBelowFixedPart", "quoted AH with length 0",
                  v6().icmpv6(1, 0).ipv6(kIp6B, kIp6A).ah({.length = 0}).udp(1, 2).build(),
                  ParseError::kBadIcmpInner));

  // Neighbour discovery
  c.push_back(bad("NeighborSolicitationCut", "NS with 20 of its 24 fixed bytes",
                  v6({.hop_limit = 255}).icmpv6(135, 0).payload(12).build(), ParseError::kTruncatedNd));
  c.push_back(bad("RouterAdvertisementCut", "RA with 12 of its 16 fixed bytes",
                  v6({.hop_limit = 255}).icmpv6(134, 0).payload(4).build(), ParseError::kTruncatedNd));
  c.push_back(bad("RedirectCut", "redirect with 32 of its 40 fixed bytes",
                  v6({.hop_limit = 255}).icmpv6(137, 0).payload(24).build(), ParseError::kTruncatedNd));
  c.push_back(bad("NdOptionLength0", "source link-layer option of length 0",
                  v6().nd_neighbor_solicitation(kIp6B, NdOptions().raw(1, 0)).build(), ParseError::kBadNdOption));
  c.push_back(bad("NdOptionOverrun", "option claiming 16 bytes with 8 present",
                  v6().nd_neighbor_solicitation(kIp6B).payload(Bytes{1, 2, 0, 0, 0, 0, 0, 0}).build(),
                  ParseError::kBadNdOption));
  c.push_back(bad("NdOptionDanglingByte", "a lone option type byte",
                  v6().nd_neighbor_advertisement(kIp6B).payload(Bytes{2}).build(), ParseError::kBadNdOption));

  // DHCP
  c.push_back(bad("DhcpUnder240", "100 bytes to port 67",
                  v4().udp(68, 67).payload(100).build(), ParseError::kTruncatedDhcp));
  c.push_back(bad("DhcpCookieOnly3Bytes", "BOOTP header and 3 bytes of cookie",
                  v4().udp(68, 67).payload(239).build(), ParseError::kTruncatedDhcp));
  c.push_back(bad("DhcpBadCookie", "magic cookie 99.130.83.100",
                  v4().udp(68, 67).dhcp({.magic_cookie = 0x63825364}).build(), ParseError::kBadDhcp));
  c.push_back(bad("DhcpBadOp", "op 3", v4().udp(68, 67).dhcp({.op = 3}).build(), ParseError::kBadDhcp));
  c.push_back(bad("DhcpOptionOverrun", "hostname option claiming 10 bytes with 1 present",
                  v4().udp(68, 67).dhcp({.extra_options = {12, 10, 'a'}, .end_option = false}).build(),
                  ParseError::kBadDhcp));
  c.push_back(bad("DhcpOptionWithoutLength", "an option code as the last byte",
                  v4().udp(68, 67).dhcp({.extra_options = {12}, .end_option = false}).build(), ParseError::kBadDhcp));
  c.push_back(bad("DhcpMessageTypeLength2", "option 53 of length 2",
                  v4().udp(68, 67).dhcp({.message_type = 0, .extra_options = {53, 2, 1, 1}}).build(),
                  ParseError::kBadDhcp));
  c.push_back(bad("DhcpRequestedIpLength3", "option 50 of length 3",
                  v4().udp(68, 67).dhcp({.extra_options = {50, 3, 10, 0, 0}}).build(), ParseError::kBadDhcp));
  c.push_back(bad("DhcpLeaseLength2", "option 51 of length 2",
                  v4().udp(67, 68).dhcp({.op = 2, .extra_options = {51, 2, 0, 1}}).build(), ParseError::kBadDhcp));
  c.push_back(bad("DhcpServerIdLength5", "option 54 of length 5",
                  v4().udp(67, 68).dhcp({.op = 2, .extra_options = {54, 5, 1, 2, 3, 4, 5}}).build(),
                  ParseError::kBadDhcp));

  // Tunnels
  c.push_back(bad("VxlanHeaderCut", "4 bytes to port 4789",
                  v4().udp(1, kUdpPortVxlan).payload(4).build(), ParseError::kTruncatedTunnel));
  c.push_back(bad("VxlanInnerFrameUnder14", "VXLAN carrying 10 bytes",
                  v4().udp(1, kUdpPortVxlan).vxlan(7).payload(10).build(), ParseError::kTruncatedTunnel));
  c.push_back(bad("VxlanIFlagClear", "VXLAN flags 0",
                  v4().udp(1, kUdpPortVxlan).vxlan(7, {.flags = 0}).eth().ipv4(kIpA, kIpB).udp(1, 2).build(),
                  ParseError::kBadTunnel));
  c.push_back(bad("GeneveHeaderCut", "7 bytes to port 6081",
                  v4().udp(1, kUdpPortGeneve).payload(7).build(), ParseError::kTruncatedTunnel));
  c.push_back(bad("GeneveOptionsBeyondPayload", "option length 63 words with 20 bytes present",
                  v4().udp(1, kUdpPortGeneve).geneve(7, {.option_length = 63}).payload(12).build(),
                  ParseError::kTruncatedTunnel));
  c.push_back(bad("GeneveVersion1", "Geneve version 1",
                  v4().udp(1, kUdpPortGeneve).geneve(7, {.version = 1}).eth().ipv4(kIpA, kIpB).udp(1, 2).build(),
                  ParseError::kBadTunnel));
  c.push_back(bad("GeneveOptionOverrun", "an option claiming 12 bytes in an 8-byte option area",
                  v4().udp(1, kUdpPortGeneve).geneve(7, {.options = {0x01, 0x02, 0x03, 0x02, 0, 0, 0, 0}})
                      .eth().ipv4(kIpA, kIpB).udp(1, 2).build(),
                  ParseError::kBadTunnel));
  c.push_back(bad("GeneveMplsDecapsulated", "decapsulating a protocol type (MPLS) libfw cannot filter",
                  v4().udp(1, kUdpPortGeneve).geneve(7, {.protocol = 0x8847}).payload(40).build(),
                  ParseError::kBadTunnel, true));
  c.push_back(bad("VxlanInnerBadTotalLength", "inner IPv4 total length beyond the inner frame",
                  v4().udp(1, kUdpPortVxlan).vxlan(7).eth().ipv4(kIpA, kIpB, {.total_length = 200}).udp(1, 2).build(),
                  ParseError::kBadIpv4TotalLength, true));
  c.push_back(bad("VxlanInnerTooManyTags", "inner frame with three VLAN tags",
                  v4().udp(1, kUdpPortVxlan).vxlan(7).eth().vlan(1).vlan(2).vlan(3).ipv4(kIpA, kIpB).build(),
                  ParseError::kTooManyVlanTags, true));
  return c;
}

// ---- well-formed frames and the fields they must yield --------------------------

std::vector<ParseCase> well_formed_cases() {
  std::vector<ParseCase> c;

  c.push_back(good("Ipv4TcpSyn", "SYN with MSS, SACK-permitted, timestamps, window scale",
      PacketBuilder().eth(kMacA, kMacB).ipv4(kIpA, kIpB, {.tos = 0x10, .ttl = 63, .id = 77})
          .tcp(1234, 80, kTcpSyn, {.seq = 0x01020304, .window = 29200,
               .options = TcpOptions().mss(1460).sack_permitted().timestamps(0xaabbccdd, 0).nop().window_scale(7)})
          .build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.src_mac, mac(kMacA));
        EXPECT_EQ(v.dst_mac, mac(kMacB));
        EXPECT_EQ(v.ethertype, kEtherTypeIpv4);
        EXPECT_EQ(v.l3, L3Kind::kIpv4);
        EXPECT_EQ(v.l3_offset, 14);
        EXPECT_EQ(v.l3_length, 20 + 40);
        EXPECT_EQ(v.src_ip, ip(kIpA));
        EXPECT_EQ(v.dst_ip, ip(kIpB));
        EXPECT_EQ(v.protocol, kIpProtoTcp);
        EXPECT_EQ(v.ttl, 63);
        EXPECT_EQ(v.tos, 0x10);
        EXPECT_EQ(v.fragment_id, 77u);
        EXPECT_FALSE(v.is_fragment);
        EXPECT_TRUE(v.has_l4);
        EXPECT_EQ(v.l4_offset, 34);
        EXPECT_EQ(v.src_port, 1234);
        EXPECT_EQ(v.dst_port, 80);
        EXPECT_EQ(v.tcp.flags, kTcpSyn);
        EXPECT_EQ(v.tcp.seq, 0x01020304u);
        EXPECT_EQ(v.tcp.window, 29200);
        EXPECT_EQ(v.tcp.header_length, 40);
        EXPECT_TRUE(v.tcp.has_mss);
        EXPECT_EQ(v.tcp.mss, 1460);
        EXPECT_TRUE(v.tcp.sack_permitted);
        EXPECT_TRUE(v.tcp.has_timestamps);
        EXPECT_EQ(v.tcp.ts_value, 0xaabbccddu);
        EXPECT_EQ(v.tcp.ts_echo, 0u);
        EXPECT_TRUE(v.tcp.has_window_scale);
        EXPECT_EQ(v.tcp.window_scale, 7);
        EXPECT_EQ(v.tcp.sack_block_count, 0);
        EXPECT_EQ(v.payload_offset, 74);
        EXPECT_EQ(v.payload_length, 0);
      }));
  c.push_back(good("TcpSackBlocks", "ACK carrying four SACK blocks",
      v4().tcp(1, 2, kTcpAck, {.options = TcpOptions().nop().nop().sack({{1, 2}, {3, 4}, {5, 6}, {7, 8}})}).build(),
      [](const PacketView& v) {
        ASSERT_EQ(v.tcp.sack_block_count, 4);
        for (std::uint32_t b = 0; b < 4; ++b) {
          EXPECT_EQ(v.tcp.sack_left[b], 2 * b + 1);
          EXPECT_EQ(v.tcp.sack_right[b], 2 * b + 2);
        }
        EXPECT_FALSE(v.tcp.has_mss);
      }));
  c.push_back(good("TcpOptionsAfterEolIgnored", "bytes after EOL are padding, not options",
      v4().tcp(1, 2, kTcpAck, {.options = TcpOptions().mss(1200).eol().raw(Bytes{0xfe, 0, 0})}).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tcp.mss, 1200);
        EXPECT_EQ(v.tcp.header_length, 28);
      }));
  c.push_back(good("TcpUnknownOptionSkipped", "MPTCP-like option 30 of length 4 then MSS",
      v4().tcp(1, 2, kTcpSyn, {.options = TcpOptions().raw(Bytes{30, 4, 0, 0}).mss(536)}).build(),
      [](const PacketView& v) { EXPECT_EQ(v.tcp.mss, 536); }));
  c.push_back(good("TcpPayload", "PSH|ACK with 5 bytes of data",
      v4().tcp(40000, 443, kTcpPsh | kTcpAck, {.ack = 99}).payload("hello").build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tcp.ack, 99u);
        EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "hello");
      }));
  c.push_back(good("EthernetPaddingExcluded", "a 30-byte IPv4/UDP packet padded to 60",
      v4().udp(1000, 2000).payload(2).pad_to(60).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.length, 60u);
        EXPECT_EQ(v.l3_length, 30);
        EXPECT_EQ(v.payload_length, 2);
      }));
  c.push_back(good("FcsTrailerExcluded", "a frame captured with its 4-byte FCS",
      v4().tcp(1, 2, kTcpAck).trailer(Bytes{0xde, 0xad, 0xbe, 0xef}).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.l3_length, 40);
        EXPECT_EQ(v.payload_length, 0);
      }));
  c.push_back(good("UdpLengthShorterThanIpPayload", "UDP length 10 in a 14-byte IP payload",
      v4().udp(53, 5353, {.length = 10}).payload("abcdef").build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.payload_length, 2);
        EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "ab");
      }));
  c.push_back(good("Vlan8021Q", "one 802.1Q tag, VID 10 PCP 5",
      PacketBuilder().eth().vlan(10, {.pcp = 5}).ipv4(kIpA, kIpB).udp(1, 2).build(),
      [](const PacketView& v) {
        ASSERT_EQ(v.vlan_count, 1);
        EXPECT_EQ(v.vlans[0].tpid, kEtherTypeVlan);
        EXPECT_EQ(v.vlans[0].vid(), 10);
        EXPECT_EQ(v.vlans[0].pcp(), 5);
        EXPECT_EQ(v.ethertype, kEtherTypeIpv4);
        EXPECT_EQ(v.l3_offset, 18);
      }));
  c.push_back(good("QinQ", "802.1ad S-tag 100 over C-tag 200",
      PacketBuilder().eth().vlan(100, {.tpid = kEtherTypeQinQ}).vlan(200).ipv6(kIp6A, kIp6B).udp(1, 2).build(),
      [](const PacketView& v) {
        ASSERT_EQ(v.vlan_count, 2);
        EXPECT_EQ(v.vlans[0].tpid, kEtherTypeQinQ);
        EXPECT_EQ(v.vlans[0].vid(), 100);
        EXPECT_EQ(v.vlans[1].tpid, kEtherTypeVlan);
        EXPECT_EQ(v.vlans[1].vid(), 200);
        EXPECT_EQ(v.ethertype, kEtherTypeIpv6);
        EXPECT_EQ(v.l3_offset, 22);
        EXPECT_EQ(v.l3, L3Kind::kIpv6);
      }));
  c.push_back(good("ArpRequest", "who-has 10.0.0.2 tell 10.0.0.1, padded to 60",
      PacketBuilder().eth(kMacA, "ff:ff:ff:ff:ff:ff")
          .arp({.operation = 1, .sender_mac = kMacA, .sender_ip = kIpA, .target_ip = kIpB}).pad_to(60).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.l3, L3Kind::kArp);
        EXPECT_TRUE(v.is_arp);
        EXPECT_EQ(v.l3_length, 28);
        EXPECT_EQ(v.arp.operation, 1);
        EXPECT_EQ(v.arp.sender_mac, mac(kMacA));
        EXPECT_EQ(v.arp.sender_ip, ip(kIpA));
        EXPECT_EQ(v.arp.target_mac, MacAddress{});
        EXPECT_EQ(v.arp.target_ip, ip(kIpB));
        EXPECT_TRUE(v.dst_mac.is_broadcast());
        EXPECT_FALSE(v.has_l4);
      }));
  c.push_back(good("ArpReply", "10.0.0.2 is-at 02:00:00:00:00:0b",
      PacketBuilder().eth(kMacB, kMacA)
          .arp({.operation = 2, .sender_mac = kMacB, .sender_ip = kIpB, .target_mac = kMacA, .target_ip = kIpA})
          .build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.arp.operation, 2);
        EXPECT_EQ(v.arp.sender_mac, mac(kMacB));
        EXPECT_EQ(v.arp.target_mac, mac(kMacA));
      }));
  c.push_back(good("UnknownEtherType", "LLDP is accepted without an L3",
      PacketBuilder().eth(kMacA, "01:80:c2:00:00:0e", 0x88cc).payload(30).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.ethertype, 0x88cc);
        EXPECT_EQ(v.l3, L3Kind::kNone);
        EXPECT_FALSE(v.has_l4);
      }));
  c.push_back(good("Ieee8023Length", "an 802.3 frame (length 38 in the type field)",
      PacketBuilder().eth(kMacA, "01:80:c2:00:00:00", 38).payload(38).build(),
      [](const PacketView& v) { EXPECT_EQ(v.l3, L3Kind::kNone); }));
  c.push_back(good("Ipv4OptionsValid", "NOP, record route (one slot), EOL",
      v4({.options = {1, 7, 7, 4, 0, 0, 0, 0, 0}}).udp(1, 2).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.l4_offset, 14 + 32);
        EXPECT_EQ(v.src_port, 1);
      }));
  c.push_back(good("Ipv4OptionsAfterEolIgnored", "EOL first: the rest is padding whatever it holds",
      v4({.options = {0, 0x44, 0x99, 0x01}}).udp(1, 2).build(),
      [](const PacketView& v) { EXPECT_EQ(v.l4_offset, 14 + 24); }));
  c.push_back(good("Ipv4DontFragment", "DF set: reported, not a fragment",
      v4({.dont_fragment = true}).tcp(1, 2, kTcpSyn).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.dont_fragment);
        EXPECT_FALSE(v.is_fragment);
        EXPECT_FALSE(v.more_fragments);
      }));
  c.push_back(good("Ipv4FirstFragmentUdp", "MF, offset 0: L4 parsed, UDP length is the datagram's",
      v4({.id = 4242, .more_fragments = true}).udp(5000, 53, {.length = 1000}).payload(8).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_TRUE(v.more_fragments);
        EXPECT_EQ(v.fragment_offset, 0);
        EXPECT_EQ(v.fragment_id, 4242u);
        EXPECT_TRUE(v.has_l4);
        EXPECT_EQ(v.src_port, 5000);
        EXPECT_EQ(v.dst_port, 53);
        EXPECT_EQ(v.payload_length, 8);
      }));
  c.push_back(good("Ipv4FirstFragmentTcp", "MF, offset 0, full TCP header",
      v4({.more_fragments = true}).tcp(1, 2, kTcpAck).payload(12).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_TRUE(v.has_l4);
        EXPECT_EQ(v.payload_length, 12);
      }));
  c.push_back(good("Ipv4NonFirstFragment", "offset 1480: no L4, payload is the fragment data",
      v4({.id = 9, .fragment_offset = 1480, .protocol = kIpProtoTcp}).payload(100).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_FALSE(v.more_fragments);
        EXPECT_EQ(v.fragment_offset, 1480);
        EXPECT_FALSE(v.has_l4);
        EXPECT_EQ(v.src_port, 0);
        EXPECT_EQ(v.protocol, kIpProtoTcp);
        EXPECT_EQ(v.payload_offset, 34);
        EXPECT_EQ(v.payload_length, 100);
      }));
  c.push_back(good("Ipv4TcpFragmentAtOffset16", "offset 16 is past the TCP flags: fine",
      v4({.fragment_offset = 16, .protocol = kIpProtoTcp}).payload(8).build(),
      [](const PacketView& v) { EXPECT_FALSE(v.has_l4); }));
  c.push_back(good("Ipv4Gre", "an IP protocol without an L4 parser",
      v4({.protocol = 47}).payload(8).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, 47);
        EXPECT_FALSE(v.has_l4);
        EXPECT_EQ(v.payload_offset, 34);
        EXPECT_EQ(v.payload_length, 8);
      }));
  c.push_back(good("Ipv4AhNotWalked", "IPv4 stops at protocol 51, like netfilter",
      v4().ah().tcp(1, 2, kTcpSyn).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, 51);
        EXPECT_FALSE(v.has_l4);
      }));
  c.push_back(good("Ipv6Tcp", "IPv6 TCP with traffic class, flow label, hop limit",
      v6({.traffic_class = 0xb8, .flow_label = 0x12345, .hop_limit = 17}).tcp(5555, 22, kTcpSyn).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.l3, L3Kind::kIpv6);
        EXPECT_EQ(v.l3_length, 60);
        EXPECT_EQ(v.tos, 0xb8);
        EXPECT_EQ(v.flow_label, 0x12345u);
        EXPECT_EQ(v.ttl, 17);
        EXPECT_EQ(v.src_ip, ip(kIp6A));
        EXPECT_EQ(v.dst_ip, ip(kIp6B));
        EXPECT_EQ(v.protocol, kIpProtoTcp);
        EXPECT_EQ(v.ipv6_ext_count, 0);
        EXPECT_EQ(v.l4_offset, 54);
        EXPECT_EQ(v.dst_port, 22);
      }));
  {
    PacketBuilder b = v6().ipv6_hop_by_hop({.options = {5, 2, 0, 0}})  // router alert
                          .ipv6_routing({.segments_left = 0, .data = Bytes(16, 0)})
                          .ipv6_fragment({.id = 5})                  // atomic
                          .ipv6_destination_options({.options = {0xc9, 4, 1, 2, 3, 4}})
                          .ah({.spi = 0xabcdef})
                          .tcp(7, 8, kTcpSyn);
    const std::size_t tcp_offset = b.offset_of(Layer::kTcp);
    c.push_back(good("Ipv6ExtHeaderChain", "hop-by-hop, routing, atomic fragment, dest options, AH, TCP",
        b.build(), [tcp_offset](const PacketView& v) {
          EXPECT_EQ(v.ipv6_ext_count, 5);
          EXPECT_EQ(v.protocol, kIpProtoTcp);
          EXPECT_FALSE(v.is_fragment);  // atomic (RFC 6946)
          EXPECT_EQ(v.fragment_id, 5u);
          EXPECT_TRUE(v.has_l4);
          EXPECT_EQ(v.l4_offset, tcp_offset);
          EXPECT_EQ(v.dst_port, 8);
        }));
  }
  {
    PacketBuilder b = v6();
    for (int i = 0; i < 8; ++i) b.ipv6_destination_options();
    c.push_back(good("EightExtHeaders", "exactly kMaxIpv6ExtHeaders", b.udp(1, 2).build(),
        [](const PacketView& v) {
          EXPECT_EQ(v.ipv6_ext_count, 8);
          EXPECT_EQ(v.dst_port, 2);
        }));
  }
  c.push_back(good("Ipv6FirstFragment", "M set, offset 0: L4 parsed",
      v6().ipv6_fragment({.more_fragments = true, .id = 0xdeadbeef}).udp(1, 2, {.length = 3000}).payload(8).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_TRUE(v.more_fragments);
        EXPECT_EQ(v.fragment_id, 0xdeadbeefu);
        EXPECT_EQ(v.ipv6_ext_count, 1);
        EXPECT_TRUE(v.has_l4);
        EXPECT_EQ(v.protocol, kIpProtoUdp);
      }));
  c.push_back(good("Ipv6NonFirstFragment", "offset 1232: protocol from the fragment header, no L4",
      v6().ipv6_fragment({.offset = 1232, .id = 3, .next_header = kIpProtoTcp}).payload(64).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_EQ(v.fragment_offset, 1232);
        EXPECT_FALSE(v.has_l4);
        EXPECT_EQ(v.protocol, kIpProtoTcp);
        EXPECT_EQ(v.payload_offset, 14 + 48);
        EXPECT_EQ(v.payload_length, 64);
      }));
  c.push_back(good("Ipv6NoNextHeader", "next header 59", v6().build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, 59);
        EXPECT_FALSE(v.has_l4);
        EXPECT_EQ(v.l3_length, 40);
      }));
  c.push_back(good("Ipv6Esp", "ESP is a final protocol",
      v6({.next_header = 50}).payload(32).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, 50);
        EXPECT_EQ(v.payload_length, 32);
      }));
  c.push_back(good("Ipv6IcmpProtocol1", "ICMPv4's protocol number in IPv6 is not parsed as ICMP",
      v6({.next_header = kIpProtoIcmp}).payload(4).build(),
      [](const PacketView& v) { EXPECT_FALSE(v.has_l4); }));

  // ICMP
  c.push_back(good("IcmpEchoRequest", "ping: id in src_port, type/code in dst_port",
      v4().icmp_echo(0x1234, 7).payload(56).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, kIpProtoIcmp);
        EXPECT_TRUE(v.has_l4);
        EXPECT_EQ(v.icmp.type, 8);
        EXPECT_EQ(v.icmp.code, 0);
        EXPECT_EQ(v.icmp.id, 0x1234);
        EXPECT_EQ(v.icmp.sequence, 7);
        EXPECT_FALSE(v.icmp.is_error);
        EXPECT_EQ(v.src_port, 0x1234);
        EXPECT_EQ(v.dst_port, 0x0800);
        EXPECT_EQ(v.payload_length, 56);
      }));
  c.push_back(good("IcmpEchoReply", "pong", v4().icmp_echo(0x1234, 7, true).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.src_port, 0x1234);
        EXPECT_EQ(v.dst_port, 0x0000);
      }));
  c.push_back(good("IcmpTimestampRequest", "type 13 is a query with an id",
      v4().icmp(13, 0, 0x00420001).payload(12).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.id, 0x42);
        EXPECT_EQ(v.src_port, 0x42);
        EXPECT_EQ(v.dst_port, 13 << 8);
      }));
  c.push_back(good("IcmpUnreachableQuotingUdp", "port unreachable quoting a DNS query (header + 8 bytes)",
      v4().icmp(3, 3).ipv4(kIpB, kIpA, {.ttl = 1, .total_length = 61}).udp(5353, 53).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.icmp.is_error);
        EXPECT_EQ(v.src_port, 0);
        EXPECT_EQ(v.dst_port, 0x0303);
        const IcmpInner& in = v.icmp.inner;
        EXPECT_EQ(in.family, IpFamily::kIpv4);
        EXPECT_EQ(in.src, ip(kIpB));
        EXPECT_EQ(in.dst, ip(kIpA));
        EXPECT_EQ(in.protocol, kIpProtoUdp);
        EXPECT_TRUE(in.has_ports);
        EXPECT_EQ(in.src_port, 5353);
        EXPECT_EQ(in.dst_port, 53);
      }));
  c.push_back(good("IcmpTimeExceededQuotingTcpPorts", "quote ends 4 bytes into TCP: ports only",
      v4().icmp(11, 0).ipv4(kIpB, kIpA, {.protocol = kIpProtoTcp, .total_length = 40})
          .payload(Bytes{0x30, 0x39, 0x01, 0xbb}).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.icmp.inner.has_ports);
        EXPECT_EQ(v.icmp.inner.src_port, 12345);
        EXPECT_EQ(v.icmp.inner.dst_port, 443);
      }));
  c.push_back(good("IcmpQuoteTooShortForPorts", "quote ends 2 bytes into TCP: no ports, still OK",
      v4().icmp(11, 0).ipv4(kIpB, kIpA, {.protocol = kIpProtoTcp, .total_length = 40}).payload(2).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.icmp.is_error);
        EXPECT_EQ(v.icmp.inner.protocol, kIpProtoTcp);
        EXPECT_FALSE(v.icmp.inner.has_ports);
      }));
  c.push_back(good("IcmpQuoteHeaderOnly", "quote is exactly the IP header",
      v4().icmp(3, 4, 1400).ipv4(kIpB, kIpA, {.protocol = kIpProtoUdp, .total_length = 1500}).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.family, IpFamily::kIpv4);
        EXPECT_FALSE(v.icmp.inner.has_ports);
      }));
  c.push_back(good("IcmpQuotingNonFirstFragment", "the quoted datagram is a later fragment: no ports",
      v4().icmp(11, 1).ipv4(kIpB, kIpA, {.fragment_offset = 8, .protocol = kIpProtoUdp}).payload(8).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.protocol, kIpProtoUdp);
        EXPECT_FALSE(v.icmp.inner.has_ports);
      }));
  c.push_back(good("IcmpQuotingEcho", "time exceeded for a ping: the echo id in both ports",
      v4().icmp(11, 0).ipv4(kIpB, kIpA).icmp_echo(77, 1).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.protocol, kIpProtoIcmp);
        EXPECT_TRUE(v.icmp.inner.has_ports);
        EXPECT_EQ(v.icmp.inner.src_port, 77);
        EXPECT_EQ(v.icmp.inner.dst_port, 77);
      }));
  c.push_back(good("IcmpRedirect", "redirect quotes the datagram too",
      v4().icmp(5, 1, 0x0a0000fe).ipv4(kIpB, kIpA).tcp(1, 2, kTcpSyn).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.icmp.is_error);
        EXPECT_EQ(v.icmp.inner.dst_port, 2);
      }));
  c.push_back(good("Icmpv6EchoRequest", "ping6", v6().icmpv6_echo(0x4321, 2).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.protocol, kIpProtoIcmpv6);
        EXPECT_EQ(v.icmp.type, 128);
        EXPECT_EQ(v.icmp.id, 0x4321);
        EXPECT_EQ(v.icmp.sequence, 2);
        EXPECT_EQ(v.src_port, 0x4321);
        EXPECT_EQ(v.dst_port, 128 << 8);
      }));
  c.push_back(good("Icmpv6PacketTooBig", "PTB quoting a TCP segment",
      v6().icmpv6(2, 0, 1280).ipv6(kIp6B, kIp6A, {.payload_length = 1400}).tcp(443, 50000, kTcpAck).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.icmp.is_error);
        EXPECT_EQ(v.dst_port, 2 << 8);
        const IcmpInner& in = v.icmp.inner;
        EXPECT_EQ(in.family, IpFamily::kIpv6);
        EXPECT_EQ(in.src, ip(kIp6B));
        EXPECT_EQ(in.dst, ip(kIp6A));
        EXPECT_EQ(in.protocol, kIpProtoTcp);
        EXPECT_TRUE(in.has_ports);
        EXPECT_EQ(in.src_port, 443);
        EXPECT_EQ(in.dst_port, 50000);
      }));
  c.push_back(good("Icmpv6QuoteWithExtHeaders", "unreachable quoting hop-by-hop + first fragment + UDP",
      v6().icmpv6(1, 4).ipv6(kIp6B, kIp6A).ipv6_hop_by_hop().ipv6_fragment({.more_fragments = true})
          .udp(546, 547).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.protocol, kIpProtoUdp);
        EXPECT_TRUE(v.icmp.inner.has_ports);
        EXPECT_EQ(v.icmp.inner.dst_port, 547);
      }));
  c.push_back(good("Icmpv6QuoteEndsInExtHeaders", "quote ends inside a destination-options header",
      v6().icmpv6(3, 0).ipv6(kIp6B, kIp6A, {.payload_length = 200})
          .ipv6_destination_options({.length = 4}).payload(8).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.family, IpFamily::kIpv6);
        EXPECT_EQ(v.icmp.inner.protocol, 60);
        EXPECT_FALSE(v.icmp.inner.has_ports);
      }));
  c.push_back(good("Icmpv6QuotingNonFirstFragment", "quoted later fragment: no ports",
      v6().icmpv6(3, 1).ipv6(kIp6B, kIp6A).ipv6_fragment({.offset = 1232, .next_header = kIpProtoUdp})
          .payload(8).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.icmp.inner.protocol, kIpProtoUdp);
        EXPECT_FALSE(v.icmp.inner.has_ports);
      }));

  // Neighbour discovery
  c.push_back(good("NeighborSolicitation", "NS for 2001:db8::b from 02:..:0a",
      v6({.hop_limit = 255}).nd_neighbor_solicitation(kIp6B, NdOptions().source_link_address(kMacA)).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_EQ(v.icmp.type, 135);
        EXPECT_EQ(v.nd.target, ip(kIp6B));
        EXPECT_TRUE(v.nd.has_source_link_address);
        EXPECT_EQ(v.nd.source_link_address, mac(kMacA));
        EXPECT_FALSE(v.nd.has_target_link_address);
      }));
  c.push_back(good("NeighborAdvertisement", "NA with a target link-layer address",
      v6({.hop_limit = 255}).nd_neighbor_advertisement(kIp6A, 0x60000000, NdOptions().target_link_address(kMacA))
          .build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_EQ(v.nd.target, ip(kIp6A));
        EXPECT_TRUE(v.nd.has_target_link_address);
        EXPECT_EQ(v.nd.target_link_address, mac(kMacA));
      }));
  c.push_back(good("NeighborSolicitationDad", "duplicate address detection: no options",
      v6({.hop_limit = 255}).nd_neighbor_solicitation(kIp6A).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_FALSE(v.nd.has_source_link_address);
      }));
  c.push_back(good("RouterSolicitation", "RS with SLLA",
      v6({.hop_limit = 255}).nd_router_solicitation(NdOptions().source_link_address(kMacB)).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_EQ(v.nd.source_link_address, mac(kMacB));
        EXPECT_EQ(v.nd.target.family, IpFamily::kNone);
      }));
  c.push_back(good("RouterAdvertisement", "RA with MTU, an unknown option and SLLA",
      v6({.hop_limit = 255}).nd_router_advertisement(
          NdOptions().mtu(1500).raw(25, 3).source_link_address(kMacB)).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_TRUE(v.nd.has_source_link_address);
        EXPECT_EQ(v.nd.source_link_address, mac(kMacB));
      }));
  c.push_back(good("Redirect", "redirect with TLLA and a redirected-header option",
      v6({.hop_limit = 255}).nd_redirect("fe80::1", kIp6B,
          NdOptions().target_link_address(kMacB).raw(4, 2)).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_nd);
        EXPECT_EQ(v.nd.target, ip("fe80::1"));
        EXPECT_EQ(v.nd.target_link_address, mac(kMacB));
      }));
  c.push_back(good("FragmentedNdIgnored", "RFC 6980: ND in a fragment is not ND",
      v6().ipv6_fragment({.more_fragments = true}).nd_neighbor_solicitation(kIp6B,
          NdOptions().source_link_address(kMacA)).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_fragment);
        EXPECT_TRUE(v.has_l4);
        EXPECT_FALSE(v.is_nd);
      }));

  // DHCP
  c.push_back(good("DhcpDiscover", "client broadcast, message type 1",
      PacketBuilder().eth(kMacA, "ff:ff:ff:ff:ff:ff").ipv4("0.0.0.0", "255.255.255.255")
          .udp(68, 67).dhcp({.op = 1, .xid = 0xcafef00d, .client_mac = kMacA, .message_type = 1}).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.is_dhcp);
        EXPECT_EQ(v.dhcp.op, 1);
        EXPECT_EQ(v.dhcp.message_type, 1);
        EXPECT_EQ(v.dhcp.xid, 0xcafef00du);
        EXPECT_EQ(v.dhcp.client_mac, mac(kMacA));
        EXPECT_EQ(v.dhcp.requested_ip.family, IpFamily::kNone);
        EXPECT_EQ(v.dhcp.server_id.family, IpFamily::kNone);
      }));
  c.push_back(good("DhcpRequest", "request with requested IP and server id, padded options",
      v4().udp(68, 67).dhcp({.message_type = 3, .requested_ip = "10.0.0.50", .server_id = "10.0.0.1",
                             .extra_options = {0, 0, 12, 3, 'v', 'm', '1'}}).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.dhcp.message_type, 3);
        EXPECT_EQ(v.dhcp.requested_ip, ip("10.0.0.50"));
        EXPECT_EQ(v.dhcp.server_id, ip("10.0.0.1"));
      }));
  c.push_back(good("DhcpAck", "server reply with lease and yiaddr",
      v4().udp(67, 68).dhcp({.op = 2, .client_ip = "10.0.0.50", .your_ip = "10.0.0.50", .message_type = 5,
                             .lease_seconds = 86400, .server_id = "10.0.0.1"}).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.dhcp.op, 2);
        EXPECT_EQ(v.dhcp.message_type, 5);
        EXPECT_EQ(v.dhcp.lease_seconds, 86400u);
        EXPECT_EQ(v.dhcp.client_ip, ip("10.0.0.50"));
        EXPECT_EQ(v.dhcp.your_ip, ip("10.0.0.50"));
      }));
  c.push_back(good("DhcpWithoutEndOption", "options running to the end of the datagram",
      v4().udp(68, 67).dhcp({.message_type = 8, .end_option = false}).build(),
      [](const PacketView& v) { EXPECT_EQ(v.dhcp.message_type, 8); }));
  c.push_back(good("DhcpRelayToServer", "relay agent 67 -> 67",
      v4().udp(67, 67).dhcp({.message_type = 1}).build(),
      [](const PacketView& v) { EXPECT_TRUE(v.is_dhcp); }));
  c.push_back(good("UdpToPort67FromEphemeralNotDhcp", "both ports must be 67/68",
      v4().udp(40000, 67).payload(10).build(),
      [](const PacketView& v) { EXPECT_FALSE(v.is_dhcp); }));
  c.push_back(good("DhcpPortsOverIpv6NotDhcp", "DHCPv4 is IPv4 only",
      v6().udp(68, 67).payload(10).build(),
      [](const PacketView& v) { EXPECT_FALSE(v.is_dhcp); }));
  c.push_back(good("DhcpInFirstFragmentNotParsed", "application layers need the whole datagram",
      v4({.more_fragments = true}).udp(68, 67, {.length = 300}).payload(16).build(),
      [](const PacketView& v) {
        EXPECT_TRUE(v.has_l4);
        EXPECT_FALSE(v.is_dhcp);
      }));

  // Tunnels
  {
    PacketBuilder b = PacketBuilder().eth(kMacA, kMacB).ipv4("192.0.2.1", "192.0.2.2")
                          .udp(49152, kUdpPortVxlan, {.checksum = 0}).vxlan(5001)
                          .eth("02:00:00:00:01:01", "02:00:00:00:01:02").ipv4(kIpA, kIpB)
                          .tcp(1111, 80, kTcpSyn).payload("GET");
    const std::size_t inner = b.offset_of(Layer::kEthernet, 1);
    const std::size_t inner_length = b.size() - inner;
    const Bytes frame = b.build();
    c.push_back(good("VxlanOuterView", "decapsulate=false: outer layers, tunnel located",
        frame, [inner, inner_length](const PacketView& v) {
          EXPECT_EQ(v.tunnel.kind, TunnelKind::kVxlan);
          EXPECT_EQ(v.tunnel.vni, 5001u);
          EXPECT_EQ(v.tunnel.inner_offset, inner);
          EXPECT_EQ(v.tunnel.inner_length, inner_length);
          EXPECT_EQ(v.tunnel.inner_protocol, kEtherTypeTransparentEthernet);
          EXPECT_EQ(v.tunnel.outer_src_port, 49152);
          EXPECT_EQ(v.tunnel.outer_src_ip, ip("192.0.2.1"));
          EXPECT_EQ(v.src_ip, ip("192.0.2.1"));
          EXPECT_EQ(v.protocol, kIpProtoUdp);
          EXPECT_EQ(v.dst_port, kUdpPortVxlan);
          EXPECT_EQ(v.src_mac, mac(kMacA));
        }, false));
    c.push_back(good("VxlanDecapsulated", "decapsulate=true: inner layers, outer kept in tunnel",
        frame, [inner](const PacketView& v) {
          EXPECT_EQ(v.tunnel.kind, TunnelKind::kVxlan);
          EXPECT_EQ(v.tunnel.vni, 5001u);
          EXPECT_EQ(v.tunnel.outer_src_ip, ip("192.0.2.1"));
          EXPECT_EQ(v.tunnel.outer_dst_ip, ip("192.0.2.2"));
          EXPECT_EQ(v.tunnel.outer_src_port, 49152);
          EXPECT_EQ(v.src_mac, mac("02:00:00:00:01:01"));
          EXPECT_EQ(v.dst_mac, mac("02:00:00:00:01:02"));
          EXPECT_EQ(v.l3_offset, inner + 14);
          EXPECT_EQ(v.src_ip, ip(kIpA));
          EXPECT_EQ(v.dst_ip, ip(kIpB));
          EXPECT_EQ(v.protocol, kIpProtoTcp);
          EXPECT_EQ(v.src_port, 1111);
          EXPECT_EQ(v.dst_port, 80);
          EXPECT_EQ(v.tcp.flags, kTcpSyn);
          EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "GET");
        }, true));
  }
  c.push_back(good("VxlanInnerVlanDecapsulated", "the inner frame carries an 802.1Q tag",
      v4().udp(1, kUdpPortVxlan).vxlan(9).eth().vlan(42).ipv6(kIp6A, kIp6B).icmpv6_echo(1, 1).build(),
      [](const PacketView& v) {
        ASSERT_EQ(v.vlan_count, 1);
        EXPECT_EQ(v.vlans[0].vid(), 42);
        EXPECT_EQ(v.l3, L3Kind::kIpv6);
        EXPECT_EQ(v.icmp.type, 128);
      }, true));
  c.push_back(good("VxlanGbpFlagsAccepted", "reserved flag bits (VXLAN-GBP G bit) are ignored",
      v4().udp(1, kUdpPortVxlan).vxlan(9, {.flags = 0x88}).eth().arp().build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tunnel.kind, TunnelKind::kVxlan);
        EXPECT_TRUE(v.is_arp);
      }, true));
  c.push_back(good("VxlanOverIpv6", "IPv6 underlay",
      v6().udp(1, kUdpPortVxlan).vxlan(0xffffff).eth().ipv4(kIpA, kIpB).udp(53, 53).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tunnel.vni, 0xffffffu);
        EXPECT_EQ(v.tunnel.outer_src_ip, ip(kIp6A));
        EXPECT_EQ(v.l3, L3Kind::kIpv4);
        EXPECT_EQ(v.dst_port, 53);
      }, true));
  c.push_back(good("VxlanInnerErrorIgnoredWithoutDecap", "the inner frame is only located, not parsed",
      v4().udp(1, kUdpPortVxlan).vxlan(7).eth().ipv4(kIpA, kIpB, {.total_length = 200}).udp(1, 2).build(),
      [](const PacketView& v) { EXPECT_EQ(v.tunnel.kind, TunnelKind::kVxlan); }, false));
  c.push_back(good("NestedVxlanDecapsulatedOnce", "a tunnel inside the tunnel is plain UDP",
      v4().udp(1, kUdpPortVxlan).vxlan(1).eth().ipv4(kIpA, kIpB).udp(2, kUdpPortVxlan)
          .vxlan(2, {.flags = 0}).eth().ipv4(kIpA, kIpB).tcp(3, 4, kTcpSyn).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tunnel.vni, 1u);
        EXPECT_EQ(v.protocol, kIpProtoUdp);
        EXPECT_EQ(v.dst_port, kUdpPortVxlan);
      }, true));
  c.push_back(good("VxlanInFragmentNotDecapsulated", "a fragmented tunnel packet stays outer",
      v4({.more_fragments = true}).udp(1, kUdpPortVxlan, {.length = 1000}).payload(64).build(),
      [](const PacketView& v) {
        EXPECT_EQ(v.tunnel.kind, TunnelKind::kNone);
        EXPECT_EQ(v.dst_port, kUdpPortVxlan);
      }, true));
  {
    PacketBuilder b = v4().udp(1, kUdpPortGeneve)
                          .geneve(123, {.options = {0x01, 0x02, 0x80, 0x01, 1, 2, 3, 4,   // 8-byte option
                                                    0xff, 0xff, 0x00, 0x00}})             // 4-byte option
                          .eth(kMacB, kMacA).ipv4(kIpB, kIpA).udp(5, 6);
    const std::size_t inner = b.offset_of(Layer::kEthernet, 1);
    const Bytes frame = b.build();
    c.push_back(good("GeneveWithOptionsOuterView", "options skipped, inner located",
        frame, [inner](const PacketView& v) {
          EXPECT_EQ(v.tunnel.kind, TunnelKind::kGeneve);
          EXPECT_EQ(v.tunnel.vni, 123u);
          EXPECT_EQ(v.tunnel.inner_offset, inner);
          EXPECT_EQ(v.dst_port, kUdpPortGeneve);
        }, false));
    c.push_back(good("GeneveWithOptionsDecapsulated", "inner UDP after the options",
        frame, [inner](const PacketView& v) {
          EXPECT_EQ(v.tunnel.kind, TunnelKind::kGeneve);
          EXPECT_EQ(v.tunnel.vni, 123u);
          EXPECT_EQ(v.l3_offset, inner + 14);
          EXPECT_EQ(v.src_mac, mac(kMacB));
          EXPECT_EQ(v.dst_port, 6);
        }, true));
  }
  {
    const Bytes frame = v4().udp(1, kUdpPortGeneve).geneve(77, {.oam = true}).ipv6(kIp6A, kIp6B).tcp(9, 10, kTcpRst)
                            .build();
    c.push_back(good("GeneveIpv6PayloadOuterView", "protocol type 0x86dd: a bare IPv6 packet",
        frame, [](const PacketView& v) {
          EXPECT_EQ(v.tunnel.inner_protocol, kEtherTypeIpv6);
          EXPECT_EQ(v.l3, L3Kind::kIpv4);
        }, false));
    c.push_back(good("GeneveIpv6PayloadDecapsulated", "no inner L2: MACs stay zero",
        frame, [](const PacketView& v) {
          EXPECT_EQ(v.tunnel.vni, 77u);
          EXPECT_EQ(v.ethertype, kEtherTypeIpv6);
          EXPECT_EQ(v.src_mac, MacAddress{});
          EXPECT_EQ(v.l3, L3Kind::kIpv6);
          EXPECT_EQ(v.tcp.flags, kTcpRst);
          EXPECT_EQ(v.dst_port, 10);
        }, true));
  }
  c.push_back(good("GeneveMplsOuterView", "an unknown protocol type is located, not judged",
      v4().udp(1, kUdpPortGeneve).geneve(7, {.protocol = 0x8847}).payload(40).build(),
      [](const PacketView& v) { EXPECT_EQ(v.tunnel.inner_protocol, 0x8847); }, false));
  return c;
}

class ParseTableTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseTableTest, ParsesAsExpected) {
  const ParseCase& c = GetParam();
  std::vector<bool> modes = {false, true};
  if (c.decapsulate) modes = {*c.decapsulate};
  for (bool decapsulate : modes) {
    SCOPED_TRACE(c.description + (decapsulate ? " [decapsulate]" : " [outer]"));
    PacketView v;
    const ParseError err = parse_frame(c.frame, v, {.decapsulate = decapsulate});
    EXPECT_EQ(parse_error_name(err), parse_error_name(c.expected));
    EXPECT_TRUE(view_within_frame(v, c.frame));
    if (err == ParseError::kOk) {
      EXPECT_TRUE(view_layers_nest(v));
    }
    if (err == c.expected && c.check) c.check(v);
  }
}

std::string case_name(const ::testing::TestParamInfo<ParseCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Malformed, ParseTableTest, ::testing::ValuesIn(malformed_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(WellFormed, ParseTableTest, ::testing::ValuesIn(well_formed_cases()), case_name);

TEST(ParseTableTest, EveryErrorHasAFixture) {
  std::set<ParseError> covered;
  for (const ParseCase& c : malformed_cases()) {
    EXPECT_NE(c.expected, ParseError::kOk) << c.name << " is in the malformed table";
    covered.insert(c.expected);
  }
  for (std::size_t e = 1; e < kParseErrorCount; ++e) {
    const auto err = static_cast<ParseError>(e);
    EXPECT_TRUE(covered.count(err)) << parse_error_name(err) << " has no malformed fixture";
  }
}

TEST(ParseFrameTest, ViewIsResetBetweenFrames) {
  PacketView v;
  const Bytes tcp = v4().tcp(1, 2, kTcpSyn, {.options = TcpOptions().mss(1000)}).build();
  const Bytes arp = PacketBuilder().eth().arp().build();
  ASSERT_EQ(parse_frame(tcp, v), ParseError::kOk);
  ASSERT_EQ(parse_frame(arp, v), ParseError::kOk);
  EXPECT_FALSE(v.has_l4);  // so `tcp` is not to be read (see PacketView)
  EXPECT_EQ(v.protocol, 0);
  EXPECT_TRUE(v.is_arp);
  EXPECT_EQ(v.src_port, 0);
  EXPECT_EQ(v.src_ip.family, IpFamily::kNone);
}

TEST(ParseFrameTest, LayerStructsAreResetWhenTheirLayerIsParsed) {
  // Layer structs are written only by their layer, but then completely: a
  // SYN with every option followed by a bare ACK leaves no option behind.
  PacketView v;
  const Bytes syn = v4().tcp(1, 2, kTcpSyn, {.options = TcpOptions().mss(1000).window_scale(7)
                                                           .sack_permitted().timestamps(5, 6)}).build();
  const Bytes ack = v4().tcp(1, 2, kTcpAck).build();
  ASSERT_EQ(parse_frame(syn, v), ParseError::kOk);
  ASSERT_TRUE(v.tcp.has_mss);
  ASSERT_EQ(parse_frame(ack, v), ParseError::kOk);
  EXPECT_FALSE(v.tcp.has_mss);
  EXPECT_FALSE(v.tcp.has_window_scale);
  EXPECT_FALSE(v.tcp.sack_permitted);
  EXPECT_FALSE(v.tcp.has_timestamps);
  EXPECT_EQ(v.tcp.flags, kTcpAck);

  const Bytes unreachable = v4().icmp(3, 3).ipv4(kIpB, kIpA).udp(7, 8).build();
  const Bytes echo = v4().icmp_echo(9, 1).build();
  ASSERT_EQ(parse_frame(unreachable, v), ParseError::kOk);
  ASSERT_TRUE(v.icmp.is_error);
  ASSERT_EQ(parse_frame(echo, v), ParseError::kOk);
  EXPECT_FALSE(v.icmp.is_error);
  EXPECT_EQ(v.icmp.inner.family, IpFamily::kNone);

  const Bytes vxlan = PacketBuilder().eth().ipv4(kIpA, kIpB).udp(7, kUdpPortVxlan).vxlan(3).eth().arp().build();
  ASSERT_EQ(parse_frame(vxlan, v), ParseError::kOk);
  ASSERT_EQ(v.tunnel.kind, TunnelKind::kVxlan);
  ASSERT_EQ(parse_frame(echo, v), ParseError::kOk);
  EXPECT_EQ(v.tunnel.kind, TunnelKind::kNone);
}

TEST(ParseFrameTest, DecapsulationKeepsNoOuterLayerState) {
  // The outer frame has two VLAN tags and TCP-looking fields nowhere in the
  // inner one: none of it may leak into the decapsulated view.
  const Bytes frame = PacketBuilder().eth().vlan(1, {.tpid = kEtherTypeQinQ}).vlan(2).ipv4(kIpA, kIpB)
                          .udp(7, kUdpPortVxlan).vxlan(3).eth().arp().build();
  PacketView v;
  ASSERT_EQ(parse_frame(frame, v, {.decapsulate = true}), ParseError::kOk);
  EXPECT_EQ(v.vlan_count, 0);
  EXPECT_EQ(v.l3, L3Kind::kArp);
  EXPECT_FALSE(v.has_l4);
  EXPECT_EQ(v.src_port, 0);
  EXPECT_EQ(v.protocol, 0);
  EXPECT_EQ(v.tunnel.outer_src_port, 7);
}

TEST(ParseFrameTest, LengthFieldsAt64k) {
  // The largest IPv4 datagram, and an IPv6 one whose l3_length would not fit
  // the view's 16 bits.
  const Bytes big4 = v4().udp(1, 2).payload(65535 - 28).build();
  PacketView v;
  ASSERT_EQ(parse_frame(big4, v), ParseError::kOk);
  EXPECT_EQ(v.l3_length, 65535);
  EXPECT_EQ(v.payload_length, 65535 - 28);

  const Bytes big6 = v6({.payload_length = 65535}).udp(1, 2, {.length = 65535}).payload(65535 - 8).build();
  EXPECT_EQ(parse_frame(big6, v), ParseError::kBadIpv6PayloadLength);
  EXPECT_TRUE(view_within_frame(v, big6));
  const Bytes fits6 = v6().udp(1, 2).payload(65535 - 40 - 8).build();
  ASSERT_EQ(parse_frame(fits6, v), ParseError::kOk);
  EXPECT_EQ(v.l3_length, 65535);
}

}  // namespace
}  // namespace fw::test
