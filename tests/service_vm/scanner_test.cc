// The scanner end to end on built frames: per-flow verdicts, patterns split
// across segments and across an out-of-order boundary, retransmissions,
// FIN/RST, direction-specific signatures, UDP per datagram, limits (out-of-
// order overflow, flow eviction, idle expiry), frames that are not scanned
// and NSH decapsulation.
#include "examples/service-vm/scanner.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "examples/service-vm/verdict_output.h"
#include "support/packet_builder.h"

namespace svm {
namespace {

using fw::test::Bytes;
using fw::test::PacketBuilder;

constexpr const char* kClient = "10.0.0.1";
constexpr const char* kServer = "10.0.0.2";
constexpr std::uint16_t kServerPort = 80;

constexpr std::string_view kSignatures =
    "1001 block content \"/etc/passwd\" to-server\n"
    "1002 block content \"|de ad be ef|\"\n"
    "1003 block regex /root:[^:]*:0:0:/ to-client\n"
    "1004 block regex /passwd$/ to-server\n"        // only at the end of the stream
    "2001 alert content \"curl\" to-server\n"
    "2002 alert content \"nginx\" to-client\n";

struct Reported {
  FlowEnd end;
  std::string line;
};

class ScannerTest : public ::testing::Test {
 protected:
  void SetUp() override { make_scanner({}); }

  void make_scanner(ScannerOptions options) {
    auto parsed = parse_signatures(kSignatures, "test.rules");
    ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
    auto db = SignatureDatabase::compile(std::move(*parsed));
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    reports.clear();
    options_ = options;
    auto s = Scanner::create(*db, options, [this](const Flow& flow, FlowEnd end) {
      reports[flow.sequence].push_back(
          {end, format_flow_line(flow, end, options_.unscannable_blocks)});
    });
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    scanner = std::move(*s);
  }

  // A TCP frame of the conversation kClient:port <-> kServer:80.
  static Bytes tcp(bool from_client, std::uint16_t client_port, std::uint32_t seq,
                   std::uint8_t flags, std::string_view payload = {}) {
    PacketBuilder b;
    if (from_client) {
      b.eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv4(kClient, kServer)
          .tcp(client_port, kServerPort, flags, {.seq = seq, .ack = 1});
    } else {
      b.eth("02:00:00:00:00:02", "02:00:00:00:00:01").ipv4(kServer, kClient)
          .tcp(kServerPort, client_port, flags, {.seq = seq, .ack = 1});
    }
    if (!payload.empty()) b.payload(payload);
    return b.build();
  }
  static Bytes udp(std::uint16_t sport, std::uint16_t dport, std::string_view payload) {
    return PacketBuilder().eth().ipv4(kClient, kServer).udp(sport, dport).payload(payload).build();
  }

  FrameVerdict send(const Bytes& frame) { return scanner->process(frame, now += 1000); }

  // SYN, SYN+ACK with ISNs 100 (client) and 500 (server).
  void handshake(std::uint16_t port) {
    send(tcp(true, port, 100, fw::kTcpSyn));
    send(tcp(false, port, 500, fw::kTcpSyn | fw::kTcpAck));
  }

  const Reported& only_report(std::uint64_t flow) {
    EXPECT_EQ(reports[flow].size(), 1u) << "flow " << flow << " must be reported exactly once";
    static const Reported kNone{FlowEnd::kOpen, "<none>"};
    return reports[flow].empty() ? kNone : reports[flow].front();
  }

  ScannerOptions options_;
  std::unique_ptr<Scanner> scanner;
  std::map<std::uint64_t, std::vector<Reported>> reports;
  std::uint64_t now = 1'000'000'000;
};

const std::uint8_t kAck = fw::kTcpAck;
const std::uint8_t kPshAck = fw::kTcpPsh | fw::kTcpAck;

TEST_F(ScannerTest, CleanFlowIsAllowedAndReportedAtFin) {
  handshake(40000);
  FrameVerdict v = send(tcp(true, 40000, 101, kPshAck, "GET /index.html HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(v.reason, VerdictReason::kNoMatch);
  EXPECT_TRUE(v.has_flow);
  EXPECT_EQ(v.client_ip.to_string(), kClient);
  EXPECT_EQ(v.client_port, 40000);
  EXPECT_EQ(v.server_port, 80);
  EXPECT_EQ(v.direction, FlowDirection::kToServer);
  v = send(tcp(false, 40000, 501, kPshAck, "HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(v.direction, FlowDirection::kToClient);
  EXPECT_TRUE(reports.empty());
  send(tcp(true, 40000, 129, fw::kTcpFin | kAck));
  EXPECT_EQ(scanner->flow_count(), 1u);
  send(tcp(false, 40000, 520, fw::kTcpFin | kAck));
  EXPECT_EQ(scanner->flow_count(), 0u);
  EXPECT_EQ(only_report(1).end, FlowEnd::kFin);
  EXPECT_EQ(only_report(1).line,
            "flow=1 verdict=allow reason=no-match proto=tcp client=10.0.0.1:40000 "
            "server=10.0.0.2:80 bytes=28/19 end=fin");
  // The last ACK does not create a flow.
  send(tcp(true, 40000, 130, kAck));
  EXPECT_EQ(scanner->flow_count(), 0u);
  EXPECT_EQ(scanner->stats().flows, 1u);
}

TEST_F(ScannerTest, PatternSplitAcrossTwoSegmentsMatches) {
  handshake(40001);
  FrameVerdict v = send(tcp(true, 40001, 101, kAck, "GET /cgi/../../etc/pa"));
  EXPECT_EQ(v.action, Action::kAllow);
  v = send(tcp(true, 40001, 122, kPshAck, "sswd HTTP/1.1\r\n"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, VerdictReason::kSignature);
  EXPECT_EQ(v.match.signature_id, 1001u);
  EXPECT_EQ(v.match.direction, FlowDirection::kToServer);
  EXPECT_EQ(v.match.offset, 25u);  // end of "/etc/passwd" in the client's stream
  // Reported at once, with the match.
  EXPECT_EQ(only_report(1).end, FlowEnd::kOpen);
  EXPECT_NE(only_report(1).line.find("verdict=block reason=signature"), std::string::npos);
  EXPECT_NE(only_report(1).line.find("sig=1001 dir=to-server offset=25"), std::string::npos);
  // Every later frame of the flow, either way, is blocked without scanning.
  std::uint64_t scanned = scanner->stats().bytes_scanned;
  v = send(tcp(false, 40001, 501, kPshAck, "HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1001u);
  EXPECT_EQ(scanner->stats().bytes_scanned, scanned);
  // The flow ends with FINs both ways; still one report.
  send(tcp(true, 40001, 137, fw::kTcpFin | kAck));
  send(tcp(false, 40001, 518, fw::kTcpFin | kAck));
  EXPECT_EQ(scanner->flow_count(), 0u);
  EXPECT_EQ(reports[1].size(), 1u);
}

TEST_F(ScannerTest, PatternSplitAcrossAnOutOfOrderBoundaryMatchesOnceReordered) {
  handshake(40002);
  send(tcp(true, 40002, 101, kPshAck, "GET /x HTTP/1.1\r\n\r\n"));
  // Server response "....root:x:" + "0:0:root:/root" arrives second part first.
  const std::string first = "HTTP/1.1 200 OK\r\n\r\nroot:x:";
  const std::string second = "0:0:root:/root:/bin/bash\n";
  FrameVerdict v = send(tcp(false, 40002, 501 + first.size(), kPshAck, second));
  EXPECT_EQ(v.action, Action::kAllow) << "nothing may be scanned before the gap fills";
  EXPECT_EQ(scanner->stats().bytes_scanned, 19u);
  v = send(tcp(false, 40002, 501, kAck, first));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1003u);
  EXPECT_EQ(v.match.direction, FlowDirection::kToClient);
  EXPECT_EQ(v.match.offset, first.size() + 4);
  EXPECT_EQ(reports[1].size(), 1u);
}

TEST_F(ScannerTest, RetransmissionsAndOverlapsAreScannedOnce) {
  handshake(40003);
  const std::string request = "GET / HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\n";
  send(tcp(true, 40003, 101, kPshAck, request));
  send(tcp(true, 40003, 101, kPshAck, request));
  send(tcp(true, 40003, 111, kPshAck, request.substr(10, 20)));
  EXPECT_EQ(scanner->stats().bytes_scanned, request.size());
  // Overlapping data that differs from what was delivered is not scanned:
  // the bytes already delivered win.
  FrameVerdict v = send(tcp(true, 40003, 101, kPshAck, "/etc/passwd"));
  EXPECT_EQ(v.action, Action::kAllow);
  send(tcp(true, 40003, 101 + request.size(), fw::kTcpRst));
  EXPECT_EQ(only_report(1).end, FlowEnd::kRst);
  EXPECT_NE(only_report(1).line.find("verdict=allow"), std::string::npos);
  // The alert fired once although its bytes came three times.
  EXPECT_NE(only_report(1).line.find("alerts=2001/to-server/"), std::string::npos)
      << only_report(1).line;
  EXPECT_EQ(scanner->stats().alert_matches, 1u);
  scanner->finish();
  EXPECT_EQ(scanner->stats().duplicate_bytes, request.size() + 20 + 11);
}

TEST_F(ScannerTest, RstEndsTheFlowAndALaterSynStartsANewOne) {
  handshake(40004);
  send(tcp(true, 40004, 101, kPshAck, "hello"));
  FrameVerdict v = send(tcp(false, 40004, 501, fw::kTcpRst | kAck));
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(scanner->flow_count(), 0u);
  EXPECT_EQ(only_report(1).end, FlowEnd::kRst);
  handshake(40004);
  EXPECT_EQ(scanner->flow_count(), 1u);
  EXPECT_EQ(scanner->stats().flows, 2u);
}

TEST_F(ScannerTest, DirectionalSignaturesOnlyMatchTheirHalf) {
  handshake(40005);
  // A response naming /etc/passwd (1001 is to-server only) and a request
  // holding a passwd line (1003 is to-client only): no block.
  FrameVerdict v = send(tcp(false, 40005, 501, kPshAck, "see /etc/passwd; server: nginx"));
  EXPECT_EQ(v.action, Action::kAllow);
  v = send(tcp(true, 40005, 101, kPshAck, "root:x:0:0:"));
  EXPECT_EQ(v.action, Action::kAllow);
  // "any" applies both ways.
  v = send(tcp(false, 40005, 531, kPshAck, "\xde\xad\xbe\xef"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1002u);
  EXPECT_EQ(v.match.direction, FlowDirection::kToClient);
  EXPECT_NE(only_report(1).line.find("alerts=2002/to-client/"), std::string::npos);
}

TEST_F(ScannerTest, EndAnchoredPatternMatchesOnlyWhenTheStreamEnds) {
  handshake(40006);
  send(tcp(true, 40006, 101, kPshAck, "cat passwd"));
  send(tcp(true, 40006, 111, kPshAck, " x passwd"));
  EXPECT_TRUE(reports.empty());
  FrameVerdict v = send(tcp(true, 40006, 120, fw::kTcpFin | kAck));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1004u);
  EXPECT_EQ(v.match.offset, 19u);
}

TEST_F(ScannerTest, SynAckFirstMakesTheReceiverTheClient) {
  send(tcp(false, 40007, 500, fw::kTcpSyn | fw::kTcpAck));
  FrameVerdict v = send(tcp(true, 40007, 101, kPshAck, "GET /etc/passwd"));
  EXPECT_EQ(v.direction, FlowDirection::kToServer);
  EXPECT_EQ(v.client_port, 40007);
  EXPECT_EQ(v.action, Action::kBlock);
}

TEST_F(ScannerTest, UdpDatagramsAreScannedOneByOne) {
  FrameVerdict v = send(udp(5000, 53, "abc\xde\xad"));
  EXPECT_EQ(v.action, Action::kAllow);
  v = send(udp(5000, 53, "\xbe\xef"));
  EXPECT_EQ(v.action, Action::kAllow) << "a pattern must not span two datagrams";
  v = send(udp(5000, 53, "xx\xde\xad\xbe\xef"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1002u);
  EXPECT_EQ(v.match.offset, 5u + 2u + 6u);  // bytes of earlier datagrams + end in this one
  EXPECT_EQ(v.protocol, fw::kIpProtoUdp);
  // Both directions are one flow.
  Bytes reply = PacketBuilder().eth().ipv4(kServer, kClient).udp(53, 5000).payload("ok").build();
  v = send(reply);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.direction, FlowDirection::kToClient);
  EXPECT_EQ(scanner->stats().flows, 1u);
}

TEST_F(ScannerTest, OutOfOrderOverflowGivesTheUnscannableVerdict) {
  for (bool blocks : {false, true}) {
    SCOPED_TRACE(blocks ? "fail closed" : "fail open");
    ScannerOptions options;
    options.reassembly.max_out_of_order_segments = 2;
    options.unscannable_blocks = blocks;
    make_scanner(options);
    handshake(40008);
    send(tcp(true, 40008, 201, kPshAck, "a"));
    send(tcp(true, 40008, 301, kPshAck, "b"));
    FrameVerdict v = send(tcp(true, 40008, 401, kPshAck, "c"));
    EXPECT_EQ(v.reason, VerdictReason::kUnscannable);
    EXPECT_EQ(v.action, blocks ? Action::kBlock : Action::kAllow);
    EXPECT_EQ(only_report(1).end, FlowEnd::kOpen);
    EXPECT_NE(only_report(1).line.find(blocks ? "verdict=block reason=unscannable"
                                              : "verdict=allow reason=unscannable"),
              std::string::npos);
    // Not scanned any more: even a block pattern in order is not found.
    v = send(tcp(true, 40008, 101, kPshAck, "/etc/passwd"));
    EXPECT_EQ(v.reason, VerdictReason::kUnscannable);
    EXPECT_EQ(scanner->stats().bytes_scanned, 0u);
    EXPECT_EQ(scanner->stats().flows_unscannable, 1u);
  }
}

TEST_F(ScannerTest, OutOfOrderBytesAreBoundedOverAllFlows) {
  ScannerOptions options;
  options.max_out_of_order_bytes_total = 10;
  make_scanner(options);
  handshake(1);
  handshake(2);
  handshake(3);
  send(tcp(true, 1, 110, kPshAck, "12345678"));  // flow 1 queues 8 bytes
  EXPECT_EQ(scanner->out_of_order_bytes(), 8u);
  FrameVerdict v = send(tcp(true, 2, 110, kPshAck, "abcde"));  // 13 > 10: flow 2 gives up
  EXPECT_EQ(v.reason, VerdictReason::kUnscannable);
  EXPECT_EQ(scanner->out_of_order_bytes(), 8u);
  send(tcp(true, 3, 110, kPshAck, "xy"));  // 10: fits
  EXPECT_EQ(scanner->out_of_order_bytes(), 10u);
  send(tcp(true, 1, 101, kPshAck, "/etc/pass"));  // fills flow 1's gap: queue delivered
  EXPECT_EQ(scanner->out_of_order_bytes(), 2u);
  EXPECT_TRUE(reports[1].empty()) << "flow 1 is still open and scanned";
  send(tcp(true, 3, 101, fw::kTcpRst));  // a flow that ends releases its queue
  EXPECT_EQ(scanner->out_of_order_bytes(), 0u);
  EXPECT_EQ(scanner->stats().flows_unscannable, 1u);
}

TEST_F(ScannerTest, FlowLimitEvictsTheLeastRecentlyActive) {
  ScannerOptions options;
  options.max_flows = 2;
  make_scanner(options);
  handshake(1);
  handshake(2);
  send(tcp(true, 1, 101, kPshAck, "keep me busy"));  // flow 2 is now the oldest
  handshake(3);
  EXPECT_EQ(scanner->flow_count(), 2u);
  EXPECT_EQ(only_report(2).end, FlowEnd::kEvicted);
  EXPECT_TRUE(reports[1].empty());
  EXPECT_EQ(scanner->stats().flows_evicted, 1u);
}

TEST_F(ScannerTest, IdleFlowsExpire) {
  ScannerOptions options;
  options.idle_timeout_ns = 5'000'000'000ULL;
  make_scanner(options);
  handshake(1);
  now += 2'000'000'000ULL;
  handshake(2);
  now += 4'000'000'000ULL;  // flow 1 idle 6 s, flow 2 idle 4 s
  send(udp(9, 9, "tick"));
  EXPECT_EQ(only_report(1).end, FlowEnd::kIdle);
  EXPECT_TRUE(reports[2].empty());
  scanner->expire(now + 10'000'000'000ULL);
  EXPECT_EQ(only_report(2).end, FlowEnd::kIdle);
  EXPECT_EQ(scanner->stats().flows_idle, 3u);  // and the UDP flow
}

TEST_F(ScannerTest, FinishReportsOpenFlowsInCreationOrder) {
  handshake(3);
  handshake(1);
  handshake(2);
  scanner->finish();
  ASSERT_EQ(reports.size(), 3u);
  for (std::uint64_t i = 1; i <= 3; ++i) EXPECT_EQ(only_report(i).end, FlowEnd::kEndOfInput);
  EXPECT_NE(only_report(1).line.find("client=10.0.0.1:3 "), std::string::npos);
  EXPECT_EQ(scanner->flow_count(), 0u);
}

TEST_F(ScannerTest, FramesThatAreNotScanned) {
  // Malformed: blocked.
  Bytes bad = tcp(true, 40009, 101, kPshAck, "data");
  bad.resize(30);
  FrameVerdict v = send(bad);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, VerdictReason::kMalformed);
  // ARP and ICMP: allowed, not inspected.
  v = send(PacketBuilder().eth().arp().build());
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(v.reason, VerdictReason::kNotInspected);
  v = send(PacketBuilder().eth().ipv4(kClient, kServer).icmp_echo(1, 1).payload("/etc/passwd").build());
  EXPECT_EQ(v.reason, VerdictReason::kNotInspected);
  // A fragment: the unscannable verdict (allow by default).
  v = send(PacketBuilder().eth().ipv4(kClient, kServer, {.more_fragments = true})
               .udp(1, 2).payload(std::string(16, 'x')).build());
  EXPECT_EQ(v.reason, VerdictReason::kFragment);
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(scanner->stats().malformed, 1u);
  EXPECT_EQ(scanner->stats().not_inspected, 2u);
  EXPECT_EQ(scanner->stats().fragments, 1u);
  EXPECT_EQ(scanner->stats().flows, 0u);
}

TEST_F(ScannerTest, Ipv6Flows) {
  Bytes syn = PacketBuilder().eth().ipv6("fd00::1", "fd00::2").tcp(4000, 445, fw::kTcpSyn, {.seq = 9}).build();
  Bytes data = PacketBuilder().eth().ipv6("fd00::1", "fd00::2")
                   .tcp(4000, 445, kPshAck, {.seq = 10}).payload("x /etc/passwd").build();
  send(syn);
  FrameVerdict v = send(data);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.client_ip.to_string(), "fd00::1");
  EXPECT_NE(only_report(1).line.find("client=[fd00::1]:4000 server=[fd00::2]:445"), std::string::npos);
}

// ---- NSH ---------------------------------------------------------------------

Bytes nsh_header(std::uint8_t next_protocol, std::uint8_t length_words, std::uint32_t spi,
                 std::uint8_t si) {
  Bytes h = {0x0f, static_cast<std::uint8_t>(0xc0 | length_words), 0x01, next_protocol,
             static_cast<std::uint8_t>(spi >> 16), static_cast<std::uint8_t>(spi >> 8),
             static_cast<std::uint8_t>(spi), si};
  h.resize(std::size_t{length_words} * 4, 0);  // MD type 1 context headers
  return h;
}

TEST(NshStrip, EthernetNshEthernet) {
  Bytes inner = PacketBuilder().eth().ipv4(kClient, kServer).udp(1, 2).payload("abc").build();
  Bytes frame = {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 0x89, 0x4f};
  Bytes nsh = nsh_header(3, 6, 0x123456, 254);
  frame.insert(frame.end(), nsh.begin(), nsh.end());
  frame.insert(frame.end(), inner.begin(), inner.end());
  std::vector<std::uint8_t> buffer;
  std::span<const std::uint8_t> out;
  NshInfo info;
  EXPECT_EQ(strip_nsh(frame, buffer, out, info), "");
  EXPECT_EQ(Bytes(out.begin(), out.end()), inner);
  EXPECT_EQ(info.service_path, 0x123456feu);
  EXPECT_EQ(info.next_protocol, 3);
}

TEST(NshStrip, BareNshWithIpv4GetsAnEthernetHeader) {
  Bytes full = PacketBuilder().eth().ipv4(kClient, kServer).udp(1, 2).payload("abc").build();
  Bytes ip(full.begin() + 14, full.end());
  Bytes message = nsh_header(1, 2, 7, 1);
  message.insert(message.end(), ip.begin(), ip.end());
  std::vector<std::uint8_t> buffer;
  std::span<const std::uint8_t> out;
  NshInfo info;
  EXPECT_EQ(strip_nsh(message, buffer, out, info), "");
  ASSERT_EQ(out.size(), ip.size() + 14);
  EXPECT_EQ(out[12], 0x08);
  EXPECT_EQ(out[13], 0x00);
  EXPECT_TRUE(std::equal(ip.begin(), ip.end(), out.begin() + 14));
}

TEST(NshStrip, Errors) {
  std::vector<std::uint8_t> buffer;
  std::span<const std::uint8_t> out;
  NshInfo info;
  EXPECT_NE(strip_nsh(Bytes{0, 2, 1}, buffer, out, info).find("shorter"), std::string::npos);
  Bytes v1 = nsh_header(3, 2, 1, 1);
  v1[0] |= 0x40;
  EXPECT_NE(strip_nsh(v1, buffer, out, info).find("version"), std::string::npos);
  Bytes short_length = nsh_header(3, 2, 1, 1);
  short_length[1] = 0xc1;  // Length 1: less than the 8 bytes every NSH has
  EXPECT_NE(strip_nsh(short_length, buffer, out, info).find("below 2"), std::string::npos);
  Bytes long_length = nsh_header(3, 2, 1, 1);
  long_length[1] = 0x3f;
  EXPECT_NE(strip_nsh(long_length, buffer, out, info).find("past the frame"), std::string::npos);
  EXPECT_NE(strip_nsh(nsh_header(5, 2, 1, 1), buffer, out, info).find("next protocol 5"),
            std::string::npos);
}

TEST_F(ScannerTest, EthernetNshIsDecapsulatedWithoutTheOptionPlainFramesStayPlain) {
  Bytes inner = tcp(true, 40010, 101, kPshAck, "GET /etc/passwd");
  Bytes frame = {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 0x89, 0x4f};
  Bytes nsh = nsh_header(3, 2, 0x64, 254);
  frame.insert(frame.end(), nsh.begin(), nsh.end());
  frame.insert(frame.end(), inner.begin(), inner.end());
  FrameVerdict v = send(frame);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1001u);
  EXPECT_TRUE(v.has_nsh);
  EXPECT_EQ(v.nsh.service_path, 0x64feu);
  // A plain frame of the same flow is the same flow.
  v = send(tcp(false, 40010, 501, kPshAck, "HTTP/1.1 403\r\n"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_FALSE(v.has_nsh);
  // A bad NSH behind 0x894F is malformed.
  Bytes bad = {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 0x89, 0x4f, 0x40, 0xc2};
  v = send(bad);
  EXPECT_EQ(v.reason, VerdictReason::kMalformed);
}

TEST_F(ScannerTest, NshFramesAreScannedAndBadNshIsBlocked) {
  ScannerOptions options;
  options.nsh = true;
  make_scanner(options);
  Bytes inner = PacketBuilder().eth().ipv4(kClient, kServer).udp(7, 8).payload("\xde\xad\xbe\xef").build();
  Bytes frame = {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 0x89, 0x4f};
  Bytes nsh = nsh_header(3, 2, 0x10, 255);
  frame.insert(frame.end(), nsh.begin(), nsh.end());
  frame.insert(frame.end(), inner.begin(), inner.end());
  FrameVerdict v = send(frame);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1002u);
  EXPECT_TRUE(v.has_nsh);
  EXPECT_EQ(v.nsh.service_path, 0x10ffu);
  v = send(Bytes{0, 1, 2});
  EXPECT_EQ(v.reason, VerdictReason::kMalformed);
  EXPECT_EQ(v.action, Action::kBlock);
}

// ---- verdict record ---------------------------------------------------------

TEST(VerdictRecord, RoundTripsAndIsBigEndian) {
  FrameVerdict v;
  v.action = Action::kBlock;
  v.reason = VerdictReason::kSignature;
  v.has_flow = true;
  v.protocol = 6;
  v.client_ip = fw::IpAddress::v4(0x0a000001);
  v.server_ip = fw::IpAddress::v4(0x0a000002);
  v.client_port = 40000;
  v.server_port = 80;
  v.direction = FlowDirection::kToClient;
  v.match = {.signature_id = 0x01020304, .direction = FlowDirection::kToServer, .offset = 0x1122334455ULL};
  v.has_nsh = true;
  v.nsh.service_path = 0xaabbccdd;
  VerdictRecord r = encode_verdict(v);
  static_assert(sizeof(VerdictRecord) == 64);
  EXPECT_EQ(r[0], 1);
  EXPECT_EQ(r[1], 1);
  EXPECT_EQ(r[2], 1);
  EXPECT_EQ(r[3], 4);
  EXPECT_EQ(r[4], 6);
  EXPECT_EQ(r[5], 1);
  EXPECT_EQ(r[6], 0);
  EXPECT_EQ(r[7], 1);
  EXPECT_EQ(r[8], 1);
  EXPECT_EQ(r[11], 4);
  EXPECT_EQ(r[12], 40000 >> 8);
  EXPECT_EQ(r[15], 80);
  EXPECT_EQ(r[16], 10);
  EXPECT_EQ(r[35], 2);
  EXPECT_EQ(r[51], 0x11);
  EXPECT_EQ(r[55], 0x55);
  EXPECT_EQ(r[56], 0xaa);
  auto back = decode_verdict(r);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->action, v.action);
  EXPECT_EQ(back->reason, v.reason);
  EXPECT_EQ(back->client_ip, v.client_ip);
  EXPECT_EQ(back->server_ip, v.server_ip);
  EXPECT_EQ(back->client_port, v.client_port);
  EXPECT_EQ(back->server_port, v.server_port);
  EXPECT_EQ(back->direction, v.direction);
  EXPECT_EQ(back->match.signature_id, v.match.signature_id);
  EXPECT_EQ(back->match.offset, v.match.offset);
  EXPECT_EQ(back->nsh.service_path, v.nsh.service_path);
  r[0] = 2;
  EXPECT_FALSE(decode_verdict(r).ok());
  EXPECT_FALSE(decode_verdict(std::span<const std::uint8_t>(r.data(), 63)).ok());
}

}  // namespace
}  // namespace svm
