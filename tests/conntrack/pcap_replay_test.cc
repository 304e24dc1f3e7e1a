// Every capture of the shared data (FW_SHARED_DATA_DIR/pcap: real traffic
// from OISF suricata-verify — ARP, VLAN, VXLAN/Geneve, IPv4/IPv6 fragments,
// DHCP, DNS, FTP, ICMP, SSH, TLS, HTTP, and TCP edge cases such as split
// handshakes, mid-stream pickup, out-of-window segments, RST with data and a
// SYN flood) replayed through fw::Engine with a stateful fw::Dfw whose
// policy allows everything, with TCP strict and with pickup. No capture has
// expected verdicts of its own; the replay checks what must hold for any
// traffic:
//   - nothing crashes (and nothing trips ASan/UBSan in the sanitizer build);
//   - every IPv4/IPv6 frame is decided by slot 2 and carries a ct_state with
//     "trk"; a frame is dropped only as conntrack-invalid (or malformed);
//   - counters agree: the allow rule's packet count is the number of frames
//     it decided; the table's invalid counts add up to the conntrack-invalid
//     drops; created - freed = live connections;
//   - directions: once a TCP/UDP connection's first packet was seen (new),
//     every later accepted packet from the other side is est|rpl, and no
//     packet from the opening side carries rpl;
//   - bursts of 32 decide every frame exactly as one-frame bursts do.
// The clock moves 1 us per frame (the captures' own timestamps are not
// kept by the reader), so nothing expires during a replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "fw/chain.h"
#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kVnic = 1;
constexpr std::uint32_t kAllowRule = 1;

std::vector<fs::path> captures() {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(FW_SHARED_DATA_DIR) / "pcap";
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".pcap" || entry.path().extension() == ".pcapng") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

Policy allow_all() {
  Policy p;
  Section s;
  s.id = "all";
  Rule r;
  r.id = kAllowRule;
  s.rules = {r};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = 2;
  return p;
}

struct Replay {
  std::vector<Verdict> verdicts;
  ConnTableStats table;
  DfwRuleStats allow;
  DfwRuleStats default_rule;
};

Replay replay(const std::vector<test::PcapFrame>& frames, bool tcp_strict, std::size_t burst) {
  Replay out;
  auto engine = Engine::create({.max_workers = 1}).value();
  EXPECT_TRUE(engine->attach_vnic({.id = kVnic, .mac = MacAddress::from_u64(0x020000000001)}).ok());
  auto worker = engine->create_worker().value();
  auto dfw = Dfw::create(*engine, {.conntrack = {.capacity = 4096, .tcp_strict = tcp_strict}}).value();
  EXPECT_TRUE(dfw->apply(allow_all(), {kVnic}).ok());
  std::vector<Frame> spans;
  for (const test::PcapFrame& f : frames) spans.push_back(f.bytes);
  out.verdicts.resize(frames.size());
  std::uint64_t now = 1'000'000'000;
  for (std::size_t at = 0; at < frames.size(); at += burst) {
    const std::size_t n = std::min(burst, frames.size() - at);
    now += 1000 * n;
    engine->process(*worker, kVnic, Direction::kFromVm, std::span(spans).subspan(at, n),
                    std::span(out.verdicts).subspan(at, n), {.now_ns = now});
  }
  out.table = dfw->connections()->stats();
  out.allow = dfw->rule_stats(kAllowRule).value();
  out.default_rule = dfw->rule_stats(2).value();
  return out;
}

// "tcp 10.0.0.1:1000 > 10.0.0.2:80 flags 0x12" for failure messages.
std::string describe(const test::PcapFrame& frame) {
  PacketView p;
  if (parse_frame(frame.bytes, p) != ParseError::kOk) return "malformed";
  if (p.l3 != L3Kind::kIpv4 && p.l3 != L3Kind::kIpv6) return "not IP";
  std::string out = "proto " + std::to_string(p.protocol) + " " + p.src_ip.to_string() + ":" +
                    std::to_string(p.src_port) + " > " + p.dst_ip.to_string() + ":" + std::to_string(p.dst_port);
  if (p.is_fragment) out += " fragment";
  if (p.has_l4 && p.protocol == kIpProtoTcp) out += " flags " + std::to_string(p.tcp.flags);
  return out;
}

// (protocol, lower endpoint, higher endpoint): one key for both directions.
using Endpoint = std::tuple<std::array<std::uint8_t, 16>, std::uint16_t>;
using FlowKey = std::tuple<std::uint8_t, std::uint8_t, Endpoint, Endpoint>;

void check_capture(const fs::path& path, bool tcp_strict) {
  SCOPED_TRACE(path.filename().string() + (tcp_strict ? " (TCP strict)" : " (pickup)"));
  auto read = test::read_pcap(path.string());
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  const std::vector<test::PcapFrame>& frames = *read;
  ASSERT_FALSE(frames.empty());

  const Replay one = replay(frames, tcp_strict, 1);
  std::size_t allowed = 0, invalid_drops = 0, ip_frames = 0;
  std::map<FlowKey, Endpoint> opened_by;  // connection -> the endpoint that opened it
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const Verdict& v = one.verdicts[i];
    PacketView p;
    const ParseError parsed = parse_frame(frames[i].bytes, p);
    if (parsed != ParseError::kOk) {
      EXPECT_EQ(v.action, Action::kDrop);
      EXPECT_EQ(v.reason, DropReason::kMalformed);
      continue;
    }
    if (v.rule_id == kAllowRule) ++allowed;
    if (p.l3 != L3Kind::kIpv4 && p.l3 != L3Kind::kIpv6) {
      EXPECT_EQ(v.action, Action::kPass);
      continue;
    }
    ++ip_frames;
    EXPECT_EQ(v.slot, kSlotDfw);
    EXPECT_TRUE(v.ct_state & kCtTracked) << format_ct_state(v.ct_state);
    if (v.action == Action::kDrop) {
      EXPECT_EQ(v.reason, DropReason::kConntrackInvalid);
      EXPECT_EQ(v.ct_state, kCtInvalid | kCtTracked);
      ++invalid_drops;
      continue;
    }
    EXPECT_EQ(v.action, Action::kPass);
    EXPECT_EQ(v.rule_id, kAllowRule);
    if (!p.has_l4 || (p.protocol != kIpProtoTcp && p.protocol != kIpProtoUdp) || (v.ct_state & kCtRelated) ||
        (v.ct_state & kCtInvalid))
      continue;
    const Endpoint src{p.src_ip.bytes, p.src_port}, dst{p.dst_ip.bytes, p.dst_port};
    const FlowKey key{p.protocol, static_cast<std::uint8_t>(p.l3), std::min(src, dst), std::max(src, dst)};
    const bool opening = (v.ct_state & (kCtNew | kCtReply)) == kCtNew;
    auto it = opened_by.find(key);
    if (opening) {
      // A first packet, or another one from the side that opened it (or
      // the SYN of a new connection in its place).
      if (it == opened_by.end()) {
        opened_by.emplace(key, src);
      } else {
        it->second = src;
      }
      continue;
    }
    ASSERT_NE(it, opened_by.end()) << "accepted as " << format_ct_state(v.ct_state) << " without a first packet";
    const bool from_opener = it->second == src;
    EXPECT_EQ((v.ct_state & kCtReply) != 0, !from_opener) << format_ct_state(v.ct_state);
    if (!from_opener) {
      EXPECT_EQ(v.ct_state, kCtEstablished | kCtReply | kCtTracked);
    }
  }
  EXPECT_GT(ip_frames, 0u);

  // Counters.
  EXPECT_EQ(one.allow.packets[static_cast<std::size_t>(Direction::kFromVm)], allowed);
  EXPECT_EQ(one.default_rule.packets[static_cast<std::size_t>(Direction::kFromVm)], 0u);
  std::uint64_t table_invalid = 0;
  for (const std::uint64_t n : one.table.invalid) table_invalid += n;
  EXPECT_EQ(table_invalid, invalid_drops);
  EXPECT_EQ(one.table.created - one.table.expired - one.table.evicted - one.table.removed, one.table.connections);
  EXPECT_EQ(one.table.refused_table_full + one.table.refused_zone_limit + one.table.refused_half_open, 0u);

  // Bursts decide as single frames do.
  const Replay many = replay(frames, tcp_strict, 32);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Verdict& a = one.verdicts[i];
    const Verdict& b = many.verdicts[i];
    EXPECT_TRUE(a.action == b.action && a.reason == b.reason && a.rule_id == b.rule_id && a.ct_state == b.ct_state &&
                a.slot == b.slot)
        << "frame " << i << " (" << describe(frames[i]) << "): alone " << format_ct_state(a.ct_state) << " rule "
        << a.rule_id << " reason " << drop_reason_name(a.reason) << ", in a burst " << format_ct_state(b.ct_state)
        << " rule " << b.rule_id << " reason " << drop_reason_name(b.reason);
  }
  EXPECT_EQ(many.table.connections, one.table.connections);
  EXPECT_EQ(many.allow.packets[0] + many.allow.packets[1], one.allow.packets[0] + one.allow.packets[1]);
}

TEST(PcapReplay, EverySharedCaptureThroughTheStatefulDfw) {
  const std::vector<fs::path> files = captures();
  if (files.empty())
    GTEST_SKIP() << fs::path(FW_SHARED_DATA_DIR) / "pcap"
                 << " has no captures (the shared data lives next to the repository on the development "
                    "machines; set -DFW_SHARED_DATA_DIR=... to point at it)";
  for (const fs::path& file : files)
    for (const bool strict : {true, false}) check_capture(file, strict);
}

}  // namespace
}  // namespace fw
