// Real traffic: every frame of every capture in tests/data/pcap parses (and
// of ../shared/data/pcap when that directory exists), except the frames that
// are malformed on purpose, which must fail with their specific error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fw/packet.h"
#include "packet/view_invariants.h"
#include "support/packet_builder.h"

namespace fw::test {
namespace {

namespace fs = std::filesystem;

struct KnownMalformed {
  std::string file;
  std::size_t frame;  // 0-based
  ParseError error;
  const char* why;
};

// Frames the captures hold precisely because they are malformed.
const std::vector<KnownMalformed>& known_malformed() {
  static const std::vector<KnownMalformed> list = {
      {"vlan-tagged.pcap", 0, ParseError::kTooManyVlanTags,
       "three stacked 802.1Q tags (VIDs 200, 300, 400); libfw accepts at most kMaxVlanTags = 2"},
      {"frag-ipv4-tcp-syn.pcap", 0, ParseError::kTinyFirstFragment,
       "a tiny-fragment attack: the first fragment holds only 8 bytes of the TCP header"},
      {"frag-ipv4-tcp-syn.pcap", 1, ParseError::kBadIpv4Fragment,
       "the second fragment starts at offset 8, over the TCP flags (RFC 1858)"},
  };
  return list;
}

std::vector<fs::path> captures_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".pcap") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<PcapFrame> frames_of(const fs::path& file) {
  auto frames = read_pcap(file.string());
  EXPECT_TRUE(frames.ok()) << frames.status().to_string();
  return frames.ok() ? std::move(frames).value() : std::vector<PcapFrame>{};
}

// Parses every frame of every capture in `dir` in both modes; returns how
// many frames were seen and which known-malformed entries were hit.
std::size_t check_directory(const fs::path& dir, std::set<std::pair<std::string, std::size_t>>* hits) {
  std::size_t total = 0;
  for (const fs::path& file : captures_in(dir)) {
    const std::vector<PcapFrame> frames = frames_of(file);
    EXPECT_FALSE(frames.empty()) << file;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      ParseError expected = ParseError::kOk;
      for (const KnownMalformed& k : known_malformed()) {
        if (k.file == file.filename() && k.frame == i) {
          expected = k.error;
          hits->insert({k.file, k.frame});
        }
      }
      for (bool decapsulate : {false, true}) {
        SCOPED_TRACE(file.filename().string() + " frame " + std::to_string(i) +
                     (decapsulate ? " [decapsulate]" : ""));
        PacketView v;
        const ParseError err = parse_frame(frames[i].bytes, v, {.decapsulate = decapsulate});
        EXPECT_EQ(parse_error_name(err), parse_error_name(expected));
        EXPECT_TRUE(view_within_frame(v, frames[i].bytes));
        if (err == ParseError::kOk) {
          EXPECT_TRUE(view_layers_nest(v));
        }
      }
      ++total;
    }
  }
  return total;
}

TEST(CaptureTest, EveryFrameOfTheCommittedCaptures) {
  const fs::path dir = fs::path(FW_TEST_DATA_DIR) / "pcap";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::set<std::pair<std::string, std::size_t>> hits;
  const std::size_t frames = check_directory(dir, &hits);
  EXPECT_GT(frames, 1000u);
  // A stale entry would hide a regression in the table itself.
  for (const KnownMalformed& k : known_malformed())
    EXPECT_TRUE(hits.count({k.file, k.frame})) << k.file << " frame " << k.frame << " not seen";
}

TEST(CaptureTest, EveryFrameOfTheSharedCaptures) {
  const fs::path dir = fs::path(FW_SHARED_DATA_DIR) / "pcap";
  if (!fs::is_directory(dir))
    GTEST_SKIP() << dir << " does not exist (it lives next to the repository on the development "
                 << "machines); tests/data/pcap is checked by EveryFrameOfTheCommittedCaptures";
  std::set<std::pair<std::string, std::size_t>> hits;
  EXPECT_GT(check_directory(dir, &hits), 0u);
}

// Known values, checked against an independent reading of the captures.
class CaptureValuesTest : public ::testing::Test {
 protected:
  PacketView parse(const std::string& file, std::size_t frame, bool decapsulate = false) {
    frames_ = frames_of(fs::path(FW_TEST_DATA_DIR) / "pcap" / file);
    PacketView v;
    EXPECT_LT(frame, frames_.size());
    if (frame < frames_.size()) {
      EXPECT_EQ(parse_frame(frames_[frame].bytes, v, {.decapsulate = decapsulate}), ParseError::kOk);
    }
    return v;
  }
  std::vector<PcapFrame> frames_;  // keeps the parsed bytes alive
};

IpAddress ip(std::string_view text) { return parse_ip(text).value(); }
MacAddress mac(std::string_view text) { return parse_mac(text).value(); }

TEST_F(CaptureValuesTest, ArpRequestAndReply) {
  PacketView v = parse("arp-basic.pcap", 0);
  EXPECT_TRUE(v.is_arp);
  EXPECT_EQ(v.arp.operation, 1);
  EXPECT_EQ(v.arp.sender_ip, ip("10.10.10.2"));
  EXPECT_EQ(v.arp.target_ip, ip("10.10.10.1"));
  EXPECT_EQ(v.length, 60u);  // padded on the wire
  EXPECT_EQ(v.l3_length, 28);
  v = parse("arp-basic.pcap", 1);
  EXPECT_EQ(v.arp.operation, 2);
  EXPECT_EQ(v.arp.sender_mac, mac("00:1d:09:f0:92:ab"));
}

TEST_F(CaptureValuesTest, VxlanVniAndInnerPing) {
  PacketView v = parse("vxlan.pcap", 0);
  EXPECT_EQ(v.tunnel.kind, TunnelKind::kVxlan);
  EXPECT_EQ(v.tunnel.vni, 100u);
  EXPECT_EQ(v.tunnel.inner_offset, 50u);
  EXPECT_EQ(v.src_ip, ip("192.168.203.1"));
  v = parse("vxlan.pcap", 0, /*decapsulate=*/true);
  EXPECT_EQ(v.tunnel.vni, 100u);
  EXPECT_EQ(v.src_ip, ip("192.168.203.3"));
  EXPECT_EQ(v.dst_ip, ip("192.168.203.5"));
  EXPECT_EQ(v.icmp.type, 8);
  EXPECT_EQ(v.icmp.id, 0x050c);
  EXPECT_EQ(v.tunnel.outer_src_ip, ip("192.168.203.1"));
  v = parse("arp-in-vxlan.pcap", 0, true);
  EXPECT_TRUE(v.is_arp);
  EXPECT_EQ(v.arp.operation, 1);
}

TEST_F(CaptureValuesTest, GeneveVniAndInnerPing) {
  PacketView v = parse("geneve.pcap", 2, true);
  EXPECT_EQ(v.tunnel.kind, TunnelKind::kGeneve);
  EXPECT_EQ(v.tunnel.vni, 123u);
  EXPECT_EQ(v.tunnel.inner_protocol, kEtherTypeTransparentEthernet);
  EXPECT_EQ(v.src_ip, ip("10.0.0.1"));
  EXPECT_EQ(v.dst_ip, ip("10.0.0.2"));
  EXPECT_EQ(v.icmp.id, 0x0d8a);
}

TEST_F(CaptureValuesTest, DhcpRequestAndAck) {
  PacketView v = parse("dhcp-exchange.pcap", 0);
  EXPECT_TRUE(v.is_dhcp);
  EXPECT_EQ(v.dhcp.op, 1);
  EXPECT_EQ(v.dhcp.message_type, 3);  // DHCPREQUEST
  EXPECT_EQ(v.dhcp.xid, 0xef645744u);
  EXPECT_EQ(v.dhcp.client_mac, mac("00:11:32:17:49:f0"));
  EXPECT_EQ(v.dhcp.client_ip, ip("10.16.1.4"));
  v = parse("dhcp-exchange.pcap", 1);
  EXPECT_EQ(v.dhcp.op, 2);
  EXPECT_EQ(v.dhcp.message_type, 5);  // DHCPACK
  EXPECT_EQ(v.dhcp.your_ip, ip("10.16.1.4"));
  EXPECT_EQ(v.dhcp.server_id, ip("10.16.1.1"));
  EXPECT_EQ(v.dhcp.lease_seconds, 3600u);
}

TEST_F(CaptureValuesTest, Ipv6Fragments) {
  PacketView v = parse("frag-ipv6-tcp.pcap", 0);  // a raw-IPv6 capture
  EXPECT_TRUE(v.is_fragment);
  EXPECT_TRUE(v.more_fragments);
  EXPECT_TRUE(v.has_l4);
  EXPECT_EQ(v.src_port, 12345);
  EXPECT_EQ(v.dst_port, 8080);
  v = parse("frag-ipv6-tcp.pcap", 2);
  EXPECT_EQ(v.fragment_offset, 928);
  EXPECT_FALSE(v.more_fragments);
  EXPECT_FALSE(v.has_l4);
  EXPECT_EQ(v.protocol, kIpProtoTcp);
}

TEST_F(CaptureValuesTest, VlanTag) {
  PacketView v = parse("vlan-tagged.pcap", 1);
  EXPECT_EQ(v.vlan_count, 0);  // the reply comes back untagged
  EXPECT_EQ(v.icmp.type, 0);
}

TEST_F(CaptureValuesTest, TcpSynOptions) {
  PacketView v = parse("ftp-download-active.pcap", 0);
  EXPECT_EQ(v.tcp.flags, kTcpSyn);
  EXPECT_EQ(v.tcp.mss, 1460);
  EXPECT_TRUE(v.tcp.sack_permitted);
  EXPECT_TRUE(v.tcp.has_timestamps);
  EXPECT_EQ(v.tcp.ts_value, 0x6c4394ffu);
  EXPECT_EQ(v.tcp.window_scale, 10);
  EXPECT_EQ(v.dst_port, 21);
}

}  // namespace
}  // namespace fw::test
