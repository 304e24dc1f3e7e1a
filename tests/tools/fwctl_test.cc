// End-to-end tests of `fwctl replay`: the built binary runs as a subprocess;
// its summary and --verdicts lines are checked against an independent
// reading of the capture (a pcap reader written here, not libpcap) and
// against each other.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/packet_builder.h"
#include "support/scratch_dir.h"
#include "support/subprocess.h"

namespace {

using fw::test::read_file;
using fw::test::RunResult;
using fw::test::split_lines;

namespace fs = std::filesystem;

const std::string kFwctl = FWCTL_PATH;
const fs::path kDataDir = FWCTL_DATA_DIR;
const std::string kAclConfig = (kDataDir / "l2-acl.conf").string();
const std::string kMixedCapture = (kDataDir / "mixed-ethertypes.pcap").string();
constexpr std::uint32_t kDefaultRuleId = 0xffffffff;

// ---- running fwctl ---------------------------------------------------------

class FwctlTest : public ::testing::Test {
 protected:
  fs::path temp(const std::string& name) const { return dir_ / name; }

  std::string write_temp(const std::string& name, const std::string& contents) const {
    return scratch_.write(name, contents);
  }

  // Runs fwctl with `args`, stdin from /dev/null, stdout and stderr captured.
  RunResult run(const std::vector<std::string>& args) const {
    RunResult result = fw::test::run_program(kFwctl, args, dir_);
    if (!result.started) ADD_FAILURE() << result.err;
    return result;
  }

  // Runs a command that must fail: checks the exit code, that it did not
  // crash, and that stderr holds exactly one line while stdout stays empty.
  RunResult run_failing(const std::vector<std::string>& args, int expected_exit) const {
    RunResult r = run(args);
    EXPECT_EQ(r.signal, 0) << "fwctl crashed; stderr: " << r.err;
    EXPECT_EQ(r.exit_code, expected_exit) << "stderr: " << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << "want a one-line message, got: " << r.err;
    EXPECT_EQ(r.out, "");
    return r;
  }

  fw::test::ScratchDir scratch_{"fwctl_test"};
  const fs::path& dir_ = scratch_.path();
};

// ---- an independent pcap reader --------------------------------------------

struct CaptureFrame {
  std::vector<std::uint8_t> bytes;

  std::optional<std::array<std::uint8_t, 6>> src_mac() const {
    if (bytes.size() < 12) return std::nullopt;
    std::array<std::uint8_t, 6> mac;
    std::copy(bytes.begin() + 6, bytes.begin() + 12, mac.begin());
    return mac;
  }
  // The EtherType after at most two 802.1Q/802.1ad tags; nullopt when the
  // frame is too short to carry one.
  std::optional<std::uint16_t> ethertype() const {
    std::size_t offset = 12;
    for (int tags = 0;; ++tags) {
      if (bytes.size() < offset + 2) return std::nullopt;
      auto type = static_cast<std::uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
      if ((type != 0x8100 && type != 0x88a8) || tags == 2) return type;
      offset += 4;
    }
  }
};

// Classic pcap, either byte order, micro- or nanosecond timestamps.
std::vector<CaptureFrame> read_pcap(const std::string& path) {
  std::string data = read_file(path);
  auto u32 = [&](std::size_t at, bool swap) {
    std::uint32_t v;
    std::memcpy(&v, data.data() + at, 4);
    return swap ? __builtin_bswap32(v) : v;
  };
  std::vector<CaptureFrame> frames;
  if (data.size() < 24) {
    ADD_FAILURE() << path << ": not a pcap file";
    return frames;
  }
  std::uint32_t magic = u32(0, false);
  bool swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (!swap && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
    ADD_FAILURE() << path << ": not a classic pcap file";
    return frames;
  }
  for (std::size_t at = 24; at + 16 <= data.size();) {
    std::uint32_t caplen = u32(at + 8, swap);
    at += 16;
    if (at + caplen > data.size()) {
      ADD_FAILURE() << path << ": truncated record";
      break;
    }
    frames.push_back({std::vector<std::uint8_t>(data.begin() + static_cast<long>(at),
                                                data.begin() + static_cast<long>(at + caplen))});
    at += caplen;
  }
  return frames;
}

// Writes a classic little-endian pcap with microsecond timestamps.
std::string make_pcap(const std::vector<std::vector<std::uint8_t>>& frames,
                      std::uint32_t link_type = 1) {
  std::string out;
  auto put32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto put16 = [&](std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(link_type);
  std::uint32_t second = 1700000000;
  for (const auto& frame : frames) {
    put32(second++);
    put32(0);
    put32(static_cast<std::uint32_t>(frame.size()));
    put32(static_cast<std::uint32_t>(frame.size()));
    out.append(frame.begin(), frame.end());
  }
  return out;
}

// A minimal Ethernet frame between 02:00:00:00:00:<src_last> and
// 02:00:00:00:00:<dst_last>, padded to 60 bytes. For IPv4 the payload is a
// valid 20-byte header of protocol 253 (RFC 3692 experimental) without
// payload; other EtherTypes carry zeros.
std::string fmt_mac(std::uint8_t last) {
  char text[18];
  std::snprintf(text, sizeof(text), "02:00:00:00:00:%02x", last);
  return text;
}

std::vector<std::uint8_t> ethernet_frame(std::uint8_t dst_last, std::uint8_t src_last,
                                         std::uint16_t ethertype) {
  const std::string dst = fmt_mac(dst_last), src = fmt_mac(src_last);
  fw::test::PacketBuilder b;
  if (ethertype == 0x0800) {
    b.eth(src, dst).ipv4("10.0.0." + std::to_string(src_last), "10.0.0." + std::to_string(dst_last),
                         {.dont_fragment = true, .protocol = 253});
  } else {
    b.eth(src, dst, ethertype);
  }
  return b.pad_to(60).build();
}

std::string mac_string(const std::array<std::uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                mac[3], mac[4], mac[5]);
  return text;
}

// ---- reading fwctl's output ------------------------------------------------

// The summary's table rows, keyed "section/label" ("/packets", "drops by
// reason/default-rule", "decisions by slot/rule/slot 0 rule 10 (ipv4)");
// values are {total, from-vm, to-vm} (rule hits: {total}).
struct Summary {
  std::map<std::string, std::vector<std::uint64_t>> rows;
  std::uint64_t generation = 0;
  bool counters_agree = false;

  std::uint64_t get(const std::string& key, std::size_t column = 0) const {
    auto it = rows.find(key);
    if (it == rows.end() || column >= it->second.size()) return 0;
    return it->second[column];
  }
  bool has(const std::string& key) const { return rows.count(key) != 0; }
};

Summary parse_summary(const std::string& text) {
  Summary summary;
  // Labels may end in a number ("default rule 4294967295"); the count
  // columns are right-aligned 12 wide, so at least two spaces precede them.
  static const std::regex row(R"(^(\s*)(\S.*?)((?:\s{2,}\d+)+)$)");
  static const std::regex chain(R"(^chain +generation (\d+):)");
  std::string section;
  for (const std::string& line : split_lines(text)) {
    std::smatch m;
    if (std::regex_search(line, m, chain)) {
      summary.generation = std::stoull(m[1]);
    } else if (line == "engine counters agree with the verdicts") {
      summary.counters_agree = true;
    } else if (line.starts_with("capture ") || line.starts_with("vnic ") || line.empty()) {
      continue;
    } else if (std::regex_match(line, m, row)) {
      std::vector<std::uint64_t> values;
      std::istringstream numbers(m[3]);
      for (std::uint64_t v; numbers >> v;) values.push_back(v);
      std::string key = (m[1].length() == 0 ? std::string() : section) + "/" + m[2].str();
      summary.rows[key] = values;
    } else if (!line.starts_with(" ")) {
      // A section header: "drops by reason", "l2-acl rule hits (slot 0 ...)".
      section = line.substr(0, line.find(" ("));
    }
  }
  return summary;
}

struct VerdictLine {
  std::uint64_t number = 0;
  std::string direction;
  std::string action;
  std::string slot;
  std::string rule;
  std::string reason;
  std::string parse;
  std::uint64_t generation = 0;
};

// Parses --verdicts output; every line must have the documented format.
std::vector<VerdictLine> parse_verdicts(const std::string& text) {
  static const std::regex format(
      R"(^(\d+) (from-vm|to-vm) (pass|drop|reject|redirect|punt) slot=(\d+|-) rule=(\d+|-) )"
      R"(reason=([a-z-]+) parse=([a-z0-9-]+) gen=(\d+)$)");
  std::vector<VerdictLine> verdicts;
  for (const std::string& line : split_lines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, format)) {
      ADD_FAILURE() << "verdict line not in the documented format: '" << line << "'";
      continue;
    }
    verdicts.push_back({std::stoull(m[1]), m[2], m[3], m[4], m[5], m[6], m[7], std::stoull(m[8])});
  }
  return verdicts;
}

// ---- the tests ---------------------------------------------------------------

// The captures shipped in examples/data, crafted and real.
std::vector<std::string> example_captures() {
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(kDataDir)) {
    if (entry.path().extension() == ".pcap") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

TEST_F(FwctlTest, ExampleCapturesArePresent) {
  std::vector<std::string> paths = example_captures();
  EXPECT_GE(paths.size(), 6u);
  EXPECT_TRUE(fs::exists(kMixedCapture));
  EXPECT_TRUE(fs::exists(kAclConfig));
}

// Packets and bytes per direction equal an independent count of the
// capture's frames; with no config every frame passes.
TEST_F(FwctlTest, SummaryCountsFramesAndBytesPerDirection) {
  for (const std::string& path : example_captures()) {
    SCOPED_TRACE(path);
    std::vector<CaptureFrame> frames = read_pcap(path);
    ASSERT_FALSE(frames.empty());
    auto vnic_mac = frames.front().src_mac();
    ASSERT_TRUE(vnic_mac.has_value());
    std::array<std::uint64_t, 2> packets{}, bytes{};
    for (const CaptureFrame& f : frames) {
      std::size_t d = f.src_mac() == vnic_mac ? 0 : 1;
      ++packets[d];
      bytes[d] += f.bytes.size();
    }

    RunResult r = run({"replay", "--pcap", path});
    ASSERT_EQ(r.signal, 0);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Without --vnic-mac the first frame's source MAC is used, and said so.
    EXPECT_NE(r.err.find(mac_string(*vnic_mac)), std::string::npos) << r.err;
    Summary s = parse_summary(r.out);
    EXPECT_TRUE(s.counters_agree) << r.out;
    EXPECT_EQ(s.get("/packets"), frames.size());
    EXPECT_EQ(s.get("/packets", 1), packets[0]);
    EXPECT_EQ(s.get("/packets", 2), packets[1]);
    EXPECT_EQ(s.get("/bytes", 1), bytes[0]);
    EXPECT_EQ(s.get("/bytes", 2), bytes[1]);
    // An empty chain decides nothing: only frames that fail to parse drop.
    EXPECT_EQ(s.get("/pass") + s.get("/drop"), frames.size());
    EXPECT_EQ(s.get("/drop"), s.get("drops by reason/malformed"));
    EXPECT_EQ(s.get("/reject") + s.get("/redirect") + s.get("/punt"), 0u);
  }
}

// Every example capture through the sample L2 ACL: the frames dropped by a
// rule are exactly those whose EtherType (after VLAN tags) is not IPv4, IPv6
// or ARP; the others pass on the rule for their EtherType.
TEST_F(FwctlTest, L2AclDropsExactlyTheNonIpFrames) {
  const std::map<std::uint16_t, std::string> allowed = {
      {0x0800, "10"}, {0x86dd, "11"}, {0x0806, "12"}};
  std::size_t non_ip_seen = 0;
  for (const std::string& path : example_captures()) {
    SCOPED_TRACE(path);
    std::vector<CaptureFrame> frames = read_pcap(path);
    std::string out = temp("verdicts").string();
    RunResult r = run({"replay", "--pcap", path, "--config", kAclConfig, "--verdicts", out});
    ASSERT_EQ(r.signal, 0);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<VerdictLine> verdicts = parse_verdicts(read_file(out));
    ASSERT_EQ(verdicts.size(), frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
      SCOPED_TRACE("frame " + std::to_string(i + 1));
      const VerdictLine& v = verdicts[i];
      std::optional<std::uint16_t> type = frames[i].ethertype();
      if (v.reason == "malformed") {
        EXPECT_EQ(v.action, "drop");
        EXPECT_EQ(v.slot, "-");
        EXPECT_NE(v.parse, "-");
        continue;
      }
      ASSERT_TRUE(type.has_value()) << "a frame without an EtherType was not malformed";
      EXPECT_EQ(v.slot, "0");
      EXPECT_EQ(v.parse, "-");
      if (auto it = allowed.find(*type); it != allowed.end()) {
        EXPECT_EQ(v.action, "pass");
        EXPECT_EQ(v.rule, it->second);
        EXPECT_EQ(v.reason, "-");
      } else {
        ++non_ip_seen;
        EXPECT_EQ(v.action, "drop");
        EXPECT_EQ(v.rule, std::to_string(kDefaultRuleId));
        EXPECT_EQ(v.reason, "default-rule");
      }
    }
  }
  EXPECT_GE(non_ip_seen, 4u) << "mixed-ethertypes.pcap holds four non-IP frames";
}

// The crafted capture, frame by frame (see examples/data/make_mixed_ethertypes.py).
TEST_F(FwctlTest, MixedEthertypesExpectedVerdicts) {
  std::string out = temp("verdicts").string();
  RunResult r = run({"replay", "--pcap", kMixedCapture, "--config", kAclConfig, "--vnic-mac",
                     "02:00:00:00:00:01", "--verdicts", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // --vnic-mac given: no note
  std::vector<VerdictLine> v = parse_verdicts(read_file(out));
  ASSERT_EQ(v.size(), 12u);
  const std::string d = std::to_string(kDefaultRuleId);
  const std::vector<std::array<std::string, 5>> expected = {
      {"from-vm", "pass", "0", "12", "-"},           {"to-vm", "pass", "0", "12", "-"},
      {"from-vm", "pass", "0", "10", "-"},           {"to-vm", "pass", "0", "10", "-"},
      {"from-vm", "pass", "0", "11", "-"},           {"to-vm", "drop", "0", d, "default-rule"},
      {"from-vm", "pass", "0", "10", "-"},           {"to-vm", "drop", "0", d, "default-rule"},
      {"from-vm", "drop", "0", d, "default-rule"},   {"to-vm", "drop", "-", "-", "malformed"},
      {"to-vm", "pass", "0", "10", "-"},             {"from-vm", "drop", "0", d, "default-rule"},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i + 1));
    EXPECT_EQ(v[i].direction, expected[i][0]);
    EXPECT_EQ(v[i].action, expected[i][1]);
    EXPECT_EQ(v[i].slot, expected[i][2]);
    EXPECT_EQ(v[i].rule, expected[i][3]);
    EXPECT_EQ(v[i].reason, expected[i][4]);
  }
  EXPECT_EQ(v[9].parse, "truncated-ethernet");

  Summary s = parse_summary(r.out);
  EXPECT_TRUE(s.counters_agree) << r.out;
  EXPECT_EQ(s.rows["/packets"], (std::vector<std::uint64_t>{12, 6, 6}));
  EXPECT_EQ(s.rows["/pass"], (std::vector<std::uint64_t>{7, 4, 3}));
  EXPECT_EQ(s.rows["/drop"], (std::vector<std::uint64_t>{5, 2, 3}));
  EXPECT_EQ(s.rows["drops by reason/default-rule"], (std::vector<std::uint64_t>{4, 2, 2}));
  EXPECT_EQ(s.rows["drops by reason/malformed"], (std::vector<std::uint64_t>{1, 0, 1}));
  EXPECT_EQ(s.rows["parse errors/truncated-ethernet"], (std::vector<std::uint64_t>{1, 0, 1}));
  EXPECT_EQ(s.rows["decisions by slot/rule/slot 0 rule 10 (ipv4)"],
            (std::vector<std::uint64_t>{4, 2, 2}));
  EXPECT_EQ(s.rows["l2-acl rule hits/rule 10 (ipv4)"], (std::vector<std::uint64_t>{4}));
  EXPECT_EQ(s.rows["l2-acl rule hits/rule 11 (ipv6)"], (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(s.rows["l2-acl rule hits/rule 12 (arp)"], (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(s.rows["l2-acl rule hits/default rule " + d], (std::vector<std::uint64_t>{4}));
}

// One line per packet, numbered 1..n in capture order, in the documented
// format, all carrying the generation the summary reports.
TEST_F(FwctlTest, VerdictsFileHasOneLinePerPacket) {
  for (const std::string& path : example_captures()) {
    SCOPED_TRACE(path);
    std::size_t frames = read_pcap(path).size();
    std::string out = temp("verdicts").string();
    RunResult r = run({"replay", "--pcap", path, "--config", kAclConfig, "--verdicts", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string text = read_file(out);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    std::vector<VerdictLine> verdicts = parse_verdicts(text);
    ASSERT_EQ(split_lines(text).size(), frames);
    ASSERT_EQ(verdicts.size(), frames);
    Summary s = parse_summary(r.out);
    EXPECT_GT(s.generation, 0u);
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      EXPECT_EQ(verdicts[i].number, i + 1);
      EXPECT_EQ(verdicts[i].generation, s.generation);
    }
  }
}

// Counts derived from the --verdicts lines equal the summary, whose table
// comes from the engine's own per-vNIC counters (Engine::vnic_stats), and
// the L2 ACL's rule counters.
TEST_F(FwctlTest, VerdictCountsEqualEngineCounters) {
  for (const std::string& path : example_captures()) {
    SCOPED_TRACE(path);
    std::string out = temp("verdicts").string();
    RunResult r = run({"replay", "--pcap", path, "--config", kAclConfig, "--verdicts", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Summary s = parse_summary(r.out);
    EXPECT_TRUE(s.counters_agree) << r.out;

    std::map<std::string, std::array<std::uint64_t, 3>> counted;
    auto count = [&](const std::string& key, const std::string& direction) {
      auto& c = counted[key];
      ++c[0];
      ++c[direction == "from-vm" ? 1 : 2];
    };
    for (const VerdictLine& v : parse_verdicts(read_file(out))) {
      count("/packets", v.direction);
      count("/" + v.action, v.direction);
      if (v.reason != "-") count("drops by reason/" + v.reason, v.direction);
      if (v.parse != "-") count("parse errors/" + v.parse, v.direction);
      std::string rule = v.rule == std::to_string(kDefaultRuleId) ? "default rule " + v.rule
                         : v.rule == "10" ? "rule 10 (ipv4)"
                         : v.rule == "11" ? "rule 11 (ipv6)"
                         : v.rule == "12" ? "rule 12 (arp)"
                                          : "rule " + v.rule;
      count(v.slot == "-" ? "decisions by slot/rule/no slot decided"
                          : "decisions by slot/rule/slot " + v.slot + " " + rule,
            v.direction);
      if (v.slot == "0") count("l2-acl rule hits/" + rule, v.direction);
    }
    for (const auto& [key, c] : counted) {
      SCOPED_TRACE(key);
      ASSERT_TRUE(s.has(key)) << r.out;
      if (key.starts_with("l2-acl rule hits/")) {
        EXPECT_EQ(s.get(key), c[0]);
      } else {
        EXPECT_EQ(s.rows[key], (std::vector<std::uint64_t>{c[0], c[1], c[2]}));
      }
    }
    // And nothing in the summary that the verdicts do not account for.
    for (const auto& [key, values] : s.rows) {
      if (key == "/bytes" || values.empty() || values[0] == 0) continue;
      EXPECT_TRUE(counted.count(key)) << "summary row '" << key << "' has no verdicts";
    }
  }
}

// from-vm exactly when the frame's source MAC is the vNIC's MAC.
TEST_F(FwctlTest, DirectionsFollowTheVnicMac) {
  const std::string path = (kDataDir / "tcp-split-handshake.pcap").string();
  std::vector<CaptureFrame> frames = read_pcap(path);
  for (const std::string mac : {"11:11:11:11:11:11", "22:22:22:22:22:22",
                                "02:00:00:00:99:99", "22-22-22-22-22-22"}) {
    SCOPED_TRACE(mac);
    std::string out = temp("verdicts").string();
    RunResult r = run({"replay", "--pcap", path, "--vnic-mac", mac, "--verdicts", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<VerdictLine> verdicts = parse_verdicts(read_file(out));
    ASSERT_EQ(verdicts.size(), frames.size());
    std::string colon_mac = mac;
    std::replace(colon_mac.begin(), colon_mac.end(), '-', ':');
    std::size_t from_vm = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      bool mine = mac_string(*frames[i].src_mac()) == colon_mac;
      from_vm += mine;
      EXPECT_EQ(verdicts[i].direction, mine ? "from-vm" : "to-vm") << "frame " << i + 1;
    }
    Summary s = parse_summary(r.out);
    EXPECT_EQ(s.get("/packets", 1), from_vm);
    EXPECT_EQ(s.get("/packets", 2), frames.size() - from_vm);
  }
}

// Long runs of one direction are split into bursts of 32, and direction
// changes end a burst; verdicts stay in capture order.
TEST_F(FwctlTest, BurstBoundariesKeepCaptureOrder) {
  std::vector<std::vector<std::uint8_t>> frames;
  std::vector<std::string> expected;  // "direction action"
  auto add = [&](std::size_t n, std::uint8_t src, std::uint16_t type) {
    for (std::size_t i = 0; i < n; ++i) {
      frames.push_back(ethernet_frame(src == 1 ? 2 : 1, src, type));
      bool ip = type == 0x0800;
      expected.push_back(std::string(src == 1 ? "from-vm" : "to-vm") + (ip ? " pass" : " drop"));
    }
  };
  add(70, 1, 0x0800);  // 32 + 32 + 6
  add(1, 2, 0x0800);
  add(33, 2, 0x88b5);
  add(1, 1, 0x9000);
  add(32, 1, 0x0800);
  std::string pcap = write_temp("bursts.pcap", make_pcap(frames));
  std::string out = temp("verdicts").string();
  RunResult r = run({"replay", "--pcap", pcap, "--vnic-mac", "02:00:00:00:00:01", "--config",
                     kAclConfig, "--verdicts", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<VerdictLine> v = parse_verdicts(read_file(out));
  ASSERT_EQ(v.size(), frames.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].direction + " " + v[i].action, expected[i]) << "frame " << i + 1;
  }
  Summary s = parse_summary(r.out);
  EXPECT_TRUE(s.counters_agree);
  EXPECT_EQ(s.rows["/packets"], (std::vector<std::uint64_t>{137, 103, 34}));
  EXPECT_EQ(s.rows["/drop"], (std::vector<std::uint64_t>{34, 1, 33}));
}

// --verdicts - keeps stdout machine-readable: the summary moves to stderr.
TEST_F(FwctlTest, VerdictsToStdout) {
  RunResult r = run({"replay", "--pcap", kMixedCapture, "--config", kAclConfig, "--verdicts", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_verdicts(r.out).size(), 12u);
  EXPECT_TRUE(parse_summary(r.err).counters_agree) << r.err;
}

TEST_F(FwctlTest, QuietPrintsNothing) {
  std::string out = temp("verdicts").string();
  RunResult r = run({"replay", "--pcap", kMixedCapture, "--quiet", "--verdicts", out});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(parse_verdicts(read_file(out)).size(), 12u);
}

// libpcap also reads pcapng; the frames are the same as in the classic file.
TEST_F(FwctlTest, PcapngIsAccepted) {
  auto block = [](std::uint32_t type, std::string body) {
    body.resize((body.size() + 3) / 4 * 4, '\0');
    std::uint32_t length = static_cast<std::uint32_t>(body.size() + 12);
    std::string out(reinterpret_cast<const char*>(&type), 4);
    out.append(reinterpret_cast<const char*>(&length), 4);
    out += body;
    out.append(reinterpret_cast<const char*>(&length), 4);
    return out;
  };
  auto le = [](auto value) {
    return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
  };
  std::string file = block(0x0a0d0d0a, le(std::uint32_t{0x1a2b3c4d}) + le(std::uint16_t{1}) +
                                           le(std::uint16_t{0}) + le(std::int64_t{-1}));
  file += block(1, le(std::uint16_t{1}) + le(std::uint16_t{0}) + le(std::uint32_t{65535}));
  std::vector<CaptureFrame> frames = read_pcap(kMixedCapture);
  for (const CaptureFrame& f : frames) {
    auto size = static_cast<std::uint32_t>(f.bytes.size());
    file += block(6, le(std::uint32_t{0}) + le(std::uint32_t{0}) + le(std::uint32_t{0}) +
                         le(size) + le(size) + std::string(f.bytes.begin(), f.bytes.end()));
  }
  std::string pcapng = write_temp("mixed.pcapng", file);
  std::string classic_out = temp("classic").string(), pcapng_out = temp("pcapng").string();
  RunResult a = run({"replay", "--pcap", kMixedCapture, "--config", kAclConfig, "--verdicts",
                     classic_out});
  RunResult b =
      run({"replay", "--pcap", pcapng, "--config", kAclConfig, "--verdicts", pcapng_out});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(parse_verdicts(read_file(pcapng_out)).size(), frames.size());
  EXPECT_EQ(read_file(pcapng_out), read_file(classic_out));
}

TEST_F(FwctlTest, EmptyCaptureIsNotAnError) {
  std::string pcap = write_temp("empty.pcap", make_pcap({}));
  RunResult r = run({"replay", "--pcap", pcap, "--config", kAclConfig});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Summary s = parse_summary(r.out);
  EXPECT_EQ(s.rows["/packets"], (std::vector<std::uint64_t>{0, 0, 0}));
  EXPECT_TRUE(s.counters_agree);
}

// ---- errors: one line on stderr, exit 1 (runtime/data) or 2 (usage) ---------

TEST_F(FwctlTest, MissingCaptureFileIsARuntimeError) {
  const std::string missing = temp("no-such.pcap").string();
  RunResult r = run_failing({"replay", "--pcap", missing}, 1);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, NotACaptureIsARuntimeError) {
  RunResult r = run_failing({"replay", "--pcap", kAclConfig}, 1);
  EXPECT_NE(r.err.find(kAclConfig), std::string::npos) << r.err;
}

TEST_F(FwctlTest, NonEthernetLinkTypeIsARuntimeError) {
  std::string pcap = write_temp("raw.pcap", make_pcap({{0x45, 0, 0, 20}}, /*DLT_RAW*/ 12));
  RunResult r = run_failing({"replay", "--pcap", pcap}, 1);
  EXPECT_NE(r.err.find("link type"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Ethernet"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, TruncatedCaptureReportsWhatWasReplayed) {
  std::string full = make_pcap({ethernet_frame(1, 2, 0x0800), ethernet_frame(2, 1, 0x0800)});
  std::string pcap = write_temp("truncated.pcap", full.substr(0, full.size() - 10));
  RunResult r = run({"replay", "--pcap", pcap});
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("after 1 frames"), std::string::npos) << r.err;
  EXPECT_EQ(parse_summary(r.out).get("/packets"), 1u);
}

TEST_F(FwctlTest, BadConfigNamesTheRuleAndField) {
  std::string config = write_temp("bad.conf",
                                  "l2_acl {\n"
                                  "  rules { id: 10 ethertype: 0x0800 }\n"
                                  "  rules { id: 12 vlan: 4095 }\n"
                                  "}\n");
  RunResult r = run_failing({"replay", "--pcap", kMixedCapture, "--config", config}, 1);
  EXPECT_NE(r.err.find("rule 12"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vlan"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4095"), std::string::npos) << r.err;

  config = write_temp("bad-mac.conf", "l2_acl { rules { id: 7 src_mac: \"02:00:zz\" } }\n");
  r = run_failing({"replay", "--pcap", kMixedCapture, "--config", config}, 1);
  EXPECT_NE(r.err.find("rule 7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("src_mac"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, ConfigSyntaxErrorNamesTheLine) {
  std::string config = write_temp("syntax.conf",
                                  "l2_acl {\n"
                                  "  rules { id: 10 no_such_field: 1 }\n"
                                  "}\n");
  RunResult r = run_failing({"replay", "--pcap", kMixedCapture, "--config", config}, 1);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no_such_field"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, ConfigDirectoryIsARuntimeError) {
  RunResult r = run_failing({"replay", "--pcap", kMixedCapture, "--config", dir_.string()}, 1);
  EXPECT_NE(r.err.find("directory"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, MissingConfigFileIsARuntimeError) {
  const std::string missing = temp("no-such.conf").string();
  RunResult r = run_failing({"replay", "--pcap", kMixedCapture, "--config", missing}, 1);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

TEST_F(FwctlTest, UnwritableVerdictsFileIsARuntimeError) {
  const std::string out = temp("no-such-dir/verdicts").string();
  RunResult r = run_failing({"replay", "--pcap", kMixedCapture, "--verdicts", out}, 1);
  EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
}

TEST_F(FwctlTest, UsageErrorsExitWithTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                                          // no command
      {"frobnicate"},                                              // unknown command
      {"replay"},                                                  // --pcap missing
      {"replay", "--pcap"},                                        // value missing
      {"replay", "--pcap", "--quiet"},                             // value missing
      {"replay", "--pcap", kMixedCapture, "--bogus"},              // unknown option
      {"replay", "--pcap", kMixedCapture, "-x"},                   // unknown short option
      {"replay", "--pcap", kMixedCapture, "stray"},                // positional argument
      {"replay", "--pcap", kMixedCapture, "--quiet=yes"},          // value on a flag
      {"replay", "--pcap", kMixedCapture, "--config"},             // value missing
      {"replay", "--pcap", kMixedCapture, "--vnic-mac", "zz:zz"},  // bad MAC
      {"replay", "--pcap", kMixedCapture, "--vnic-mac", "02:00:00:00:00"},
      {"replay", "--pcap", kMixedCapture, "--vnic-mac=02:00:00:00:00:01:02"},
      {"version", "extra"},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    SCOPED_TRACE(joined);
    run_failing(args, 2);
  }
}

TEST_F(FwctlTest, InvalidVnicMacIsAUsageError) {
  RunResult r =
      run_failing({"replay", "--pcap", kMixedCapture, "--vnic-mac", "not-a-mac"}, 2);
  EXPECT_NE(r.err.find("--vnic-mac"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not-a-mac"), std::string::npos) << r.err;
}

TEST_F(FwctlTest, HelpAndVersion) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"help"}, {"replay", "--help"}, {"version"}}) {
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.err, "");
    EXPECT_FALSE(r.out.empty());
  }
  EXPECT_NE(run({"--help"}).out.find("replay"), std::string::npos);
  EXPECT_NE(run({"replay", "--help"}).out.find("--vnic-mac"), std::string::npos);
  EXPECT_TRUE(run({"version"}).out.starts_with("fwctl "));
}

}  // namespace

namespace {

// --policy enforces a DFW policy in slot 2: ICMP echo passes by rule 10,
// TCP falls to the default drop rule 9999, non-IP frames are not the DFW's.
TEST_F(FwctlTest, PolicyIsEnforcedInSlot2) {
  const std::string policy = (kDataDir / "policy" / "allow-ping.textpb").string();
  struct Case { const char* capture; const char* action; const char* rule; };
  for (const Case& c : {Case{"icmp-echo.pcap", "pass", "10"}, Case{"tcp-split-handshake.pcap", "drop", "9999"}}) {
    SCOPED_TRACE(c.capture);
    const std::string out = temp("verdicts").string();
    RunResult r = run({"replay", "--pcap", (kDataDir / c.capture).string(), "--policy", policy, "--verdicts", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("slot 2 dfw"), std::string::npos) << r.out;
    const std::vector<VerdictLine> verdicts = parse_verdicts(read_file(out));
    ASSERT_FALSE(verdicts.empty());
    for (const VerdictLine& v : verdicts) {
      EXPECT_EQ(v.action, c.action);
      EXPECT_EQ(v.slot, "2");
      EXPECT_EQ(v.rule, c.rule);
    }
  }
  // ARP frames: no slot decides them, they pass (the capture's ICMP frames
  // are decided by rule 10).
  const std::string capture = (kDataDir / "arp-basic.pcap").string();
  const std::string out = temp("verdicts").string();
  RunResult r = run({"replay", "--pcap", capture, "--policy", policy, "--verdicts", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto frames = read_pcap(capture);
  const std::vector<VerdictLine> verdicts = parse_verdicts(read_file(out));
  ASSERT_EQ(verdicts.size(), frames.size());
  std::size_t arp = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(verdicts[i].action, "pass");
    const bool is_arp = frames[i].bytes.size() >= 14 && frames[i].bytes[12] == 0x08 && frames[i].bytes[13] == 0x06;
    arp += is_arp;
    EXPECT_EQ(verdicts[i].slot, is_arp ? "-" : "2") << "frame " << i + 1;
  }
  EXPECT_GT(arp, 0u);
}

TEST_F(FwctlTest, BadPolicyIsARuntimeErrorNamingTheProblem) {
  const std::string bad = write_temp("bad.textpb", "application { id: \"a\" rules { id: 0 action: ALLOW } }\n"
                                                   "default_rule { id: 9 action: DROP }\n");
  RunResult r = run_failing({"replay", "--pcap", (kDataDir / "icmp-echo.pcap").string(), "--policy", bad}, 1);
  EXPECT_NE(r.err.find("bad policy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("id"), std::string::npos) << r.err;
  run_failing({"replay", "--pcap", (kDataDir / "icmp-echo.pcap").string(), "--policy", "/nonexistent.textpb"}, 1);
}

// --ct-states writes what OVS's `ovstest test-conntrack pcap` prints: one
// "N: flags" line per packet (tests/test-conntrack.c). Expected lines derived
// by hand from tcp-split-handshake.pcap (1.1.1.1:12345 -> 2.2.2.2:80):
//   1 SYN 1.1.1.1 -> 2.2.2.2, seq 1000: opens the connection      new|trk
//   2 SYN 2.2.2.2 -> 1.1.1.1, seq 3000: simultaneous open, the reply
//     direction is now seen, so the connection is established    est|rpl|trk
//   3 SYN+ACK 1.1.1.1 -> 2.2.2.2, ack 3001                       est|trk
//   4 ACK 2.2.2.2 -> 1.1.1.1, ack 1001                           est|rpl|trk
//   5 4 bytes 1.1.1.1 -> 2.2.2.2, seq 1001                       est|trk
//   6 ACK 2.2.2.2 -> 1.1.1.1, ack 1005                           est|rpl|trk
//   7 RST 1.1.1.1 -> 2.2.2.2, seq 1005 (exactly the next byte)   est|trk
// Without --policy the DFW allows everything (OVS's test commits every
// packet), so no verdict changes.
TEST_F(FwctlTest, CtStatesWritesOneOvsStyleLinePerPacket) {
  const std::string capture = (kDataDir / "tcp-split-handshake.pcap").string();
  const std::string out = temp("ct-states").string();
  const std::string verdicts = temp("verdicts").string();
  RunResult r = run({"replay", "--pcap", capture, "--ct-states", out, "--verdicts", verdicts});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out),
            "1: new|trk\n"
            "2: est|rpl|trk\n"
            "3: est|trk\n"
            "4: est|rpl|trk\n"
            "5: est|trk\n"
            "6: est|rpl|trk\n"
            "7: est|trk\n");
  for (const VerdictLine& v : parse_verdicts(read_file(verdicts))) EXPECT_EQ(v.action, "pass");

  // An echo conversation: the first request opens, its reply is the reply
  // direction, and every later request and reply belongs to the same
  // connection (same id).
  const std::string icmp = (kDataDir / "icmp-echo.pcap").string();
  r = run({"replay", "--pcap", icmp, "--ct-states", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), read_pcap(icmp).size());
  EXPECT_EQ(lines[0], "1: new|trk");
  EXPECT_EQ(lines[1], "2: est|rpl|trk");
  EXPECT_EQ(lines[2], "3: est|trk");
  EXPECT_EQ(lines[3], "4: est|rpl|trk");
}

// With a policy, states follow its decisions: allow-ping.textpb drops TCP
// (default rule), so no connection opens and every TCP packet is a
// candidate first packet: the SYNs "new", the others refused by the table
// (TCP strict) as "inv".
TEST_F(FwctlTest, CtStatesFollowThePolicy) {
  const std::string policy = (kDataDir / "policy" / "allow-ping.textpb").string();
  const std::string capture = (kDataDir / "tcp-split-handshake.pcap").string();
  RunResult r = run({"replay", "--pcap", capture, "--policy", policy, "--ct-states", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "1: new|trk\n"
            "2: new|trk\n"
            "3: inv|trk\n"
            "4: inv|trk\n"
            "5: inv|trk\n"
            "6: inv|trk\n"
            "7: inv|trk\n");
}

// --flow-log writes one line per packet a logged rule decided
// (allow-ping.textpb logs its ping rule and its default rule): a
// connection's first packet, never its established packets.
TEST_F(FwctlTest, FlowLogHasOneLinePerPacketALoggedRuleDecided) {
  const std::string policy = (kDataDir / "policy" / "allow-ping.textpb").string();
  const std::string tcp = (kDataDir / "tcp-split-handshake.pcap").string();
  const std::string out = temp("flow-log").string();
  RunResult r = run({"replay", "--pcap", tcp, "--policy", policy, "--flow-log", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("flow log  7 records of logged rules"), std::string::npos) << r.out;
  // The default rule drops every TCP packet, so no connection opens and
  // each packet is decided by it: the two SYNs (a simultaneous open) as
  // first packets, the rest as packets the table would refuse anyway.
  const std::vector<std::string> lines = split_lines(read_file(out));
  ASSERT_EQ(lines.size(), 7u) << read_file(out);
  EXPECT_NE(lines[0].find(" from-vm drop rule=9999/default tcp 1.1.1.1:12345 -> 2.2.2.2:80 flags=S len=54 "
                          "ct=new|trk reason=default-rule "),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(" to-vm drop rule=9999/default tcp 2.2.2.2:80 -> 1.1.1.1:12345 flags=S "), std::string::npos)
      << lines[1];
  EXPECT_NE(lines[6].find(" flags=R len=54 ct=inv|trk reason=default-rule "), std::string::npos) << lines[6];
  for (const std::string& line : lines) EXPECT_TRUE(line.ends_with(" tag=\"deny the rest\"")) << line;

  // Echo: the first request of each id is logged by the ping rule; its
  // replies and later requests are established.
  const std::string icmp = (kDataDir / "icmp-echo.pcap").string();
  r = run({"replay", "--pcap", icmp, "--policy", policy, "--flow-log", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> echo = split_lines(r.out);
  ASSERT_FALSE(echo.empty());
  EXPECT_LT(echo.size(), read_pcap(icmp).size() / 2);
  for (const std::string& line : echo) {
    EXPECT_NE(line.find(" pass rule=10 icmp "), std::string::npos) << line;
    EXPECT_NE(line.find(" icmp=8/0 "), std::string::npos) << line;
    EXPECT_TRUE(line.ends_with(" name=\"ping\" tag=\"ping\"")) << line;
  }
}

TEST_F(FwctlTest, FlowLogNeedsAPolicyAndItsOwnOutput) {
  const std::string icmp = (kDataDir / "icmp-echo.pcap").string();
  RunResult r = run_failing({"replay", "--pcap", icmp, "--flow-log", "-"}, 1);
  EXPECT_NE(r.err.find("--flow-log needs --policy"), std::string::npos) << r.err;
  const std::string policy = (kDataDir / "policy" / "allow-ping.textpb").string();
  run_failing({"replay", "--pcap", icmp, "--policy", policy, "--flow-log", "-", "--verdicts", "-"}, 1);
  run_failing({"replay", "--pcap", icmp, "--policy", policy, "--flow-log", "/nonexistent/dir/log"}, 1);
}

TEST_F(FwctlTest, CtStatesAndVerdictsCannotBothUseStdout) {
  run_failing({"replay", "--pcap", (kDataDir / "icmp-echo.pcap").string(), "--ct-states", "-", "--verdicts", "-"}, 1);
}

}  // namespace

