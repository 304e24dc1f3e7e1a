// The test packet builder is itself tested: frames it builds match real
// captured frames byte for byte (so its lengths and checksums are right),
// and its corruption helpers do what they say.
#include <gtest/gtest.h>

#include <filesystem>

#include "fw/packet.h"
#include "support/packet_builder.h"

namespace fw::test {
namespace {

Bytes captured(const std::string& file, std::size_t frame) {
  auto frames = read_pcap((std::filesystem::path(FW_TEST_DATA_DIR) / "pcap" / file).string());
  EXPECT_TRUE(frames.ok()) << frames.status().to_string();
  if (!frames.ok() || frame >= frames.value().size()) return {};
  return frames.value()[frame].bytes;
}

Bytes ping_payload(std::initializer_list<std::uint8_t> timestamp) {
  Bytes b(timestamp);
  for (std::uint8_t i = 0x10; i <= 0x37; ++i) b.push_back(i);
  return b;
}

TEST(PacketBuilderTest, MatchesCapturedTcpSyn) {
  const Bytes built = PacketBuilder()
                          .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                          .ipv4("192.0.2.10", "198.51.100.5", {.id = 1})
                          .tcp(40000, 443, kTcpSyn, {.seq = 1000, .window = 8192})
                          .build();
  EXPECT_EQ(built, captured("tcp-syn-flood.pcap", 0));
}

TEST(PacketBuilderTest, MatchesCapturedArpReply) {
  const Bytes built = PacketBuilder()
                          .eth("00:1d:09:f0:92:ab", "00:1a:6b:6c:0c:cc")
                          .arp({.operation = 2, .sender_mac = "00:1d:09:f0:92:ab", .sender_ip = "10.10.10.1",
                                .target_mac = "00:1a:6b:6c:0c:cc", .target_ip = "10.10.10.2"})
                          .build();
  EXPECT_EQ(built, captured("arp-basic.pcap", 1));
}

TEST(PacketBuilderTest, MatchesCapturedPing) {
  const Bytes built = PacketBuilder()
                          .eth("ec:b1:d7:4c:9e:88", "dc:4a:3e:7d:d5:59")
                          .ipv4("192.168.1.6", "192.168.1.13", {.id = 0xe19b, .dont_fragment = true})
                          .icmp_echo(0xce45, 1)
                          .payload(ping_payload({0xd2, 0x20, 0x28, 0x5a, 0, 0, 0, 0, 0xa9, 0x77, 0x09, 0, 0, 0, 0, 0}))
                          .build();
  EXPECT_EQ(built, captured("icmp-echo.pcap", 0));
}

TEST(PacketBuilderTest, MatchesCapturedVxlan) {
  const Bytes built = PacketBuilder()
                          .eth("36:dc:85:1e:b3:40", "00:16:3e:08:71:cf")
                          .ipv4("192.168.203.1", "192.168.202.1", {.id = 0xd2c0, .dont_fragment = true})
                          .udp(45149, kUdpPortVxlan, {.checksum = 0})
                          .vxlan(100)
                          .eth("00:16:3e:37:f6:04", "00:30:88:01:00:02")
                          .ipv4("192.168.203.3", "192.168.203.5", {.id = 0, .dont_fragment = true})
                          .icmp_echo(0x050c, 1)
                          .payload(ping_payload({0xfc, 0xe2, 0x97, 0x51, 0, 0, 0, 0, 0xa6, 0xf8, 0x02, 0, 0, 0, 0, 0}))
                          .build();
  EXPECT_EQ(built, captured("vxlan.pcap", 0));
}

TEST(PacketBuilderTest, ChecksumsVerify) {
  // Summing a header including its checksum gives 0 (RFC 1071).
  PacketBuilder b = PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).payload("odd");
  const Bytes frame = b.build();
  const std::size_t udp = b.offset_of(Layer::kUdp);
  std::uint32_t pseudo = 0;
  for (std::size_t i = 14 + 8; i < 14 + 40; i += 2) pseudo += (frame[i] << 8) | frame[i + 1];
  pseudo += kIpProtoUdp + (frame.size() - udp);
  EXPECT_EQ(internet_checksum(std::span(frame).subspan(udp), pseudo), 0);

  const Bytes v4 = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2", {.options = {1, 1, 1}}).build();
  EXPECT_EQ(internet_checksum(std::span(v4).subspan(14, 24)), 0);
}

TEST(PacketBuilderTest, OverridesPokesPaddingAndTruncation) {
  PacketBuilder b = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2", {.total_length = 99}).udp(1, 2);
  b.pad_to(60).poke8(59, 0xee).poke16(14 + 20, 0xbeef);
  Bytes frame = b.build();
  ASSERT_EQ(frame.size(), 60u);
  EXPECT_EQ(frame[14 + 2], 0);
  EXPECT_EQ(frame[14 + 3], 99);
  EXPECT_EQ(frame[14 + 20], 0xbe);
  EXPECT_EQ(frame[14 + 21], 0xef);
  EXPECT_EQ(frame[59], 0xee);
  EXPECT_EQ(b.truncate(20).build().size(), 20u);

  // A consistent cut rewrites the length fields to match the cut.
  frame = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload(100).truncate_consistently(50).build();
  ASSERT_EQ(frame.size(), 50u);
  EXPECT_EQ((frame[16] << 8) | frame[17], 36);  // IPv4 total length
  EXPECT_EQ((frame[38] << 8) | frame[39], 16);  // UDP length
}

TEST(PacketBuilderTest, LayerOffsets) {
  PacketBuilder b = PacketBuilder().eth().vlan(1).ipv4("10.0.0.1", "10.0.0.2").udp(1, kUdpPortVxlan).vxlan(1).eth();
  EXPECT_EQ(b.offset_of(Layer::kEthernet), 0u);
  EXPECT_EQ(b.offset_of(Layer::kIpv4), 18u);
  EXPECT_EQ(b.offset_of(Layer::kUdp), 38u);
  EXPECT_EQ(b.offset_of(Layer::kEthernet, 1), 54u);
  EXPECT_THROW(b.offset_of(Layer::kTcp), std::out_of_range);
  EXPECT_THROW(PacketBuilder().ipv4("10.0.0.1", "2001:db8::1"), std::invalid_argument);
}

TEST(PcapReaderTest, RawIpCapturesGetAnEthernetHeader) {
  auto frames = read_pcap((std::filesystem::path(FW_TEST_DATA_DIR) / "pcap" / "frag-ipv6-tcp.pcap").string());
  ASSERT_TRUE(frames.ok());
  ASSERT_EQ(frames.value().size(), 3u);
  const PcapFrame& f = frames.value()[0];
  EXPECT_TRUE(f.synthetic_ethernet);
  EXPECT_EQ(f.bytes[12], 0x86);
  EXPECT_EQ(f.bytes[13], 0xdd);
  EXPECT_EQ(f.bytes.size(), 512u + 14);
}

TEST(PcapReaderTest, MissingFileIsAnError) {
  auto frames = read_pcap("/nonexistent/file.pcap");
  EXPECT_FALSE(frames.ok());
}

}  // namespace
}  // namespace fw::test
