// The cases issue 4 lists, from the Linux netfilter selftests
// (tools/testing/selftests/net/netfilter/packetdrill/conntrack_*.pkt and
// conntrack_icmp_related.sh), OVS's conntrack tests (tests/system-traffic.at,
// tests/ofproto-dpif.at) and pf's regress suite, as packet sequences with the
// ct_state conntrack must report for each packet (OVS's notation).
//
// The TCP tracker's decisions on these sequences are tested segment by
// segment in tcp_track_test.cc; here each case runs end to end twice:
//   - through a ConnTable, one packet at a time (lookup, and create for a
//     first packet), as the DFW drives it;
//   - through fw::Engine with a stateful fw::Dfw in slot 2 and an allow-all
//     policy: the verdict must carry the same ct_state, pass every packet
//     that is not invalid and drop the invalid ones with
//     DropReason::kConntrackInvalid.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "conntrack/ct_support.h"
#include "fw/chain.h"
#include "fw/dfw.h"
#include "fw/engine.h"

namespace fw {
namespace {

using test::Bytes;
using test::kSecond;
using test::PacketBuilder;
using test::TcpOptions;

constexpr std::uint8_t S = kTcpSyn, A = kTcpAck, F = kTcpFin, R = kTcpRst, P = kTcpPsh, U = kTcpUrg;
constexpr std::uint8_t SA = S | A, PA = P | A, FA = F | A, RA = R | A;
enum Side { kClient, kServer };

// TCP between client 10.0.0.1:40000 and server 10.0.0.2:80.
Bytes seg(Side side, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, std::uint16_t win = 65535,
          std::uint16_t len = 0, std::optional<std::uint8_t> wscale = {}) {
  const bool c = side == kClient;
  TcpOptions opts;
  if (wscale) opts.window_scale(*wscale);
  PacketBuilder b;
  b.eth(c ? "02:00:00:00:00:01" : "02:00:00:00:00:02", c ? "02:00:00:00:00:02" : "02:00:00:00:00:01")
      .ipv4(c ? "10.0.0.1" : "10.0.0.2", c ? "10.0.0.2" : "10.0.0.1")
      .tcp(c ? 40000 : 80, c ? 80 : 40000, flags, {.seq = seq, .ack = ack, .window = win, .options = opts});
  if (len) b.payload(len, 0x5a);
  return b.build();
}
// UDP between 10.0.0.1:1000 and 10.0.0.2:53.
Bytes udp(Side side) {
  return side == kClient ? test::udp4("10.0.0.1", "10.0.0.2", 1000, 53) : test::udp4("10.0.0.2", "10.0.0.1", 53, 1000);
}

struct Step {
  Bytes frame;
  std::string ct_state;          // what conntrack reports, OVS's notation
  std::uint64_t advance_ns = 1;  // the clock moves this much before the packet
};

struct IssueCase {
  std::string name;
  std::string source;
  std::vector<Step> steps;
  bool tcp_strict = true;
};

constexpr std::uint32_t C = 1000, V = 5000;  // client and server ISNs

std::vector<Step> handshake() {
  return {{seg(kClient, S, C, 0), "new|trk"},
          {seg(kServer, SA, V, C + 1), "est|rpl|trk"},
          {seg(kClient, A, C + 1, V + 1), "est|trk"}};
}
std::vector<Step> operator+(std::vector<Step> a, std::vector<Step> b) {
  for (Step& s : b) a.push_back(std::move(s));
  return a;
}

std::vector<IssueCase> cases() {
  std::vector<IssueCase> out;

  out.push_back({"out-of-window RSTs: four invalid, the exact RST closes", "Linux conntrack_rst_invalid.pkt",
                 handshake() + std::vector<Step>{
                     {seg(kServer, PA, V + 1, C + 1, 65535, 1000), "est|rpl|trk"},
                     {seg(kServer, PA, V + 1001, C + 1, 65535, 1000), "est|rpl|trk"},
                     {seg(kServer, PA, V + 2001, C + 1, 65535, 1000), "est|rpl|trk"},
                     {seg(kClient, A, C + 1, V + 3001), "est|trk"},
                     {seg(kServer, R, 0, 0, 0), "inv|trk"},             // far out of window
                     {seg(kServer, R, 1000000, 0, 0), "inv|trk"},       // out of window
                     {seg(kServer, R, V + 42, 0, 0), "inv|trk"},        // in window, inexact
                     {seg(kClient, PA, C + 1, V + 3001, 65535, 1000), "est|trk"},
                     {seg(kServer, A, V + 3001, C + 1001), "est|rpl|trk"},
                     {seg(kServer, RA, V + 3000, C + 1001, 0), "inv|trk"},  // one short of exact
                     {seg(kServer, RA, V + 3001, C + 1001, 0), "est|rpl|trk"},  // exact: closes
                     // Closed: a SYN with a new ISN opens a new connection.
                     {seg(kClient, S, 90000, 0), "new|trk"}}});

  out.push_back({"inexact RST after FIN is not invalid", "Linux conntrack_inexact_rst.pkt",
                 handshake() + std::vector<Step>{
                     {seg(kServer, PA, V + 1, C + 1, 65535, 3000), "est|rpl|trk"},
                     {seg(kClient, PA, C + 1, V + 3001, 65535, 1000), "est|trk"},
                     {seg(kServer, FA, V + 3001, C + 1001), "est|rpl|trk"},
                     {seg(kClient, A, C + 1001, V + 3002), "est|trk"},
                     {seg(kClient, RA, C + 1001, V + 3002), "est|trk"},
                     {seg(kServer, R, V + 2001, 0, 0), "est|rpl|trk"}}});

  out.push_back({"old SYN/ACK is invalid, the correct one passes", "Linux conntrack_synack_old.pkt",
                 {{seg(kClient, S, 0, 0, 65535, 0, 8), "new|trk"},
                  {seg(kServer, SA, 145824453, 643160523, 240, 0, 0), "inv|trk"},
                  {seg(kClient, S, 0, 0, 65535, 0, 8), "new|trk"},  // retransmit: still new
                  {seg(kServer, SA, 145758918, 1, 250, 0, 0), "est|rpl|trk"},
                  {seg(kClient, PA, 1, 145758919, 256, 1), "est|trk"}}});

  out.push_back({"challenge ACK on connect", "Linux conntrack_syn_challenge_ack.pkt",
                 {{seg(kClient, S, 0, 0, 65535, 0, 8), "new|trk"},
                  {seg(kServer, A, 145824453, 643160523, 240), "est|rpl|trk"},  // the challenge ACK
                  {seg(kClient, R, 643160523, 0, 0), "est|trk"},
                  {seg(kClient, S, 0, 0, 65535, 0, 8), "new|trk"},  // a new connection
                  {seg(kServer, SA, 0, 1, 250, 0, 0), "est|rpl|trk"},
                  {seg(kClient, A, 1, 1, 256), "est|trk"}}});

  out.push_back({"new SYN on an established entry", "Linux conntrack_synack_reuse.pkt",
                 {{seg(kClient, S, 0, 0, 32792, 0, 7), "new|trk"},
                  {seg(kServer, SA, 0, 1, 65535, 0, 8), "est|rpl|trk"},
                  {seg(kClient, A, 1, 1, 257), "est|trk"},
                  {seg(kClient, PA, 1, 1, 257, 100), "est|trk"},
                  {seg(kServer, A, 1, 101, 256), "est|rpl|trk"},
                  {seg(kClient, S, 2000, 0, 32792, 0, 7), "est|trk"},  // passes, changes nothing
                  {seg(kServer, A, 1, 101, 256), "est|rpl|trk"},       // challenge ACK
                  {seg(kClient, RA, 101, 1, 257), "est|trk"},          // exact RST
                  {seg(kClient, S, 2000, 0, 32792, 0, 0), "new|trk"},  // retransmit: new connection
                  {seg(kServer, SA, 9000, 2001), "est|rpl|trk"}}});

  {
    std::vector<Step> steps = {{seg(kClient, S, 0, 0, 32792), "new|trk"},
                               {seg(kServer, SA, 0, 1), "est|rpl|trk"},
                               {seg(kClient, A, 1, 1), "est|trk"}};
    std::uint32_t seq = 1;
    for (int i = 0; i < 46; ++i) {
      steps.push_back({seg(kClient, PA, seq, 1, 257, 1460), "est|trk"});
      seq += 1460;
      steps.push_back({seg(kServer, A, 1, seq), "est|rpl|trk"});
    }
    steps.push_back({seg(kClient, PA, 1, 1, 257, 1460), "est|trk"});  // 67160 bytes back: passes
    steps.push_back({seg(kClient, FA, 1, 1, 257, 1460), "inv|trk"});  // not with a FIN
    out.push_back({"stale retransmit after a large ACK", "Linux conntrack_ack_loss_stall.pkt", steps});
  }

  out.push_back({"port reuse: two new connections", "OVS ofproto-dpif.at 'conntrack - tcp port reuse'; pf",
                 handshake() + std::vector<Step>{
                     {seg(kClient, FA, C + 1, V + 1), "est|trk"},
                     {seg(kServer, FA, V + 1, C + 2), "est|rpl|trk"},
                     {seg(kClient, A, C + 2, V + 2), "est|trk"},
                     {seg(kServer, S, 70000, 0), "inv|trk"},  // from the other side: no restart
                     {seg(kClient, S, 90000, 0), "new|trk"},  // the second connection
                     {seg(kServer, SA, 80000, 90001), "est|rpl|trk"},
                     {seg(kClient, A, 90001, 80001), "est|trk"}}});

  out.push_back({"mid-stream pickup with window scaling (pickup allowed)",
                 "OVS ofproto-dpif.at 'conntrack - tcp pick up'; CT_WSCALE_UNKNOWN",
                 {{seg(kClient, PA, C, V, 100, 1000), "new|trk"},
                  {seg(kServer, A, V, C + 1000, 100), "est|rpl|trk"},
                  {seg(kServer, PA, V, C + 1000, 100, 60000), "est|rpl|trk"},  // > 100 unscaled
                  {seg(kClient, A, C + 1000, V + 60000, 100), "est|trk"},
                  {seg(kClient, PA, C + 1000, V + 60000, 100, 60000), "est|trk"}},
                 /*tcp_strict=*/false});
  out.push_back({"mid-stream pickup refused (TCP strict)", "OVS ofproto-dpif.at 'conntrack - tcp pick up' (strict)",
                 {{seg(kClient, PA, C, V, 100, 1000), "inv|trk"}, {seg(kServer, A, V, C + 1000, 100), "inv|trk"}}});

  out.push_back({"bad reply segments: seq 0 / ack 0", "OVS 'conntrack - disable tcp sequence checking'; pf ackskew",
                 {{seg(kClient, S, 3000000000u, 0), "new|trk"},
                  {seg(kServer, SA, 0, 0), "inv|trk"},
                  {seg(kServer, RA, 0, 0, 0), "inv|trk"},
                  {seg(kServer, A, 0, 0), "est|rpl|trk"},  // a challenge ACK
                  {seg(kServer, SA, V, 3000000001u), "est|rpl|trk"},
                  {seg(kClient, A, 3000000001u, V + 1), "est|trk"}}});

  out.push_back({"first packet twice in one direction stays new (UDP)", "Linux conntrack selftests; OVS 'conntrack - UDP'",
                 {{udp(kClient), "new|trk"}, {udp(kClient), "new|trk"}, {udp(kServer), "est|rpl|trk"},
                  {udp(kClient), "est|trk"}}});
  out.push_back({"first packet twice in one direction stays new (TCP SYN)", "Linux conntrack selftests",
                 {{seg(kClient, S, C, 0), "new|trk"}, {seg(kClient, S, C, 0), "new|trk"},
                  {seg(kServer, SA, V, C + 1), "est|rpl|trk"}}});

  out.push_back({"unreplied SYN times out", "issue 4; OVS tcp_syn_sent 30 s",
                 {{seg(kClient, S, C, 0), "new|trk"},
                  {seg(kServer, SA, V, C + 1), "inv|trk", 31 * kSecond},  // gone: cannot open
                  {seg(kClient, S, C, 0), "new|trk"}}});

  out.push_back({"ICMP fragmentation needed is RELATED", "Linux conntrack_icmp_related.sh (pmtu); OVS 'conntrack - ICMP related'",
                 {{udp(kClient), "new|trk"},
                  {udp(kServer), "est|rpl|trk"},
                  {test::v4("10.9.9.9", "10.0.0.1").icmp(3, 4, 1400).ipv4("10.0.0.1", "10.0.0.2").udp(1000, 53).build(),
                   "rel|rpl|trk"},
                  {test::v4("10.9.9.9", "10.0.0.2").icmp(3, 4, 1400).ipv4("10.0.0.2", "10.0.0.1").udp(53, 1000).build(),
                   "rel|trk"},
                  // A quote of no connection.
                  {test::v4("10.9.9.9", "10.0.0.1").icmp(3, 4, 1400).ipv4("10.0.0.1", "10.0.0.2").udp(1001, 53).build(),
                   "inv|trk"}}});
  out.push_back({"ICMPv6 packet too big is RELATED", "Linux conntrack_icmp_related.sh (IPv6 pmtu)",
                 {{test::udp6("2001:db8::1", "2001:db8::2", 1000, 53), "new|trk"},
                  {test::v6("2001:db8::99", "2001:db8::1").icmpv6(2, 0, 1280).ipv6("2001:db8::1", "2001:db8::2")
                       .udp(1000, 53).build(),
                   "rel|rpl|trk"}}});

  {
    auto first = [](std::uint16_t id) {
      return test::v4("10.0.0.1", "10.0.0.2", {.id = id, .more_fragments = true}).udp(1000, 53).payload(16).build();
    };
    auto next = [](std::uint16_t id, std::uint16_t offset, bool more) {
      return test::v4("10.0.0.1", "10.0.0.2",
                      {.id = id, .more_fragments = more, .fragment_offset = offset, .protocol = kIpProtoUdp})
          .payload(16)
          .build();
    };
    out.push_back({"overlapping fragments are invalid and poison their datagram",
                   "Linux nft_fragments / RFC 5722; OVS 'conntrack - IPv4 fragmentation overlapping'",
                   {{first(7), "new|trk"},
                    {next(7, 24, true), "new|trk"},   // [24, 40)
                    {next(7, 32, true), "inv|trk"},   // [32, 48) overlaps
                    {next(7, 48, false), "inv|trk"},  // the datagram is poisoned
                    {first(8), "new|trk"},            // another datagram of the flow
                    {next(8, 24, false), "new|trk"}}});
  }

  out.push_back({"IPv4 and IPv6 with equal address bytes are different connections",
                 "issue 4 (family confusion); OVS conn_key cmp includes dl_type",
                 {{udp(kClient), "new|trk"},
                  // a00:2:: and a00:1:: begin with the bytes of 10.0.0.2 and 10.0.0.1.
                  {test::udp6("a00:2::", "a00:1::", 53, 1000), "new|trk"},
                  {udp(kServer), "est|rpl|trk"},
                  {test::udp6("a00:1::", "a00:2::", 1000, 53), "est|rpl|trk"}}});
  return out;
}

// An allow-all stateful policy (rule 1), default drop (rule 2).
Policy allow_all(bool tcp_strict) {
  Policy p;
  Section s;
  s.id = "all";
  Rule r;
  r.id = 1;
  r.action = RuleAction::kAllow;
  s.rules = {r};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = 2;
  p.tcp_strict = tcp_strict;
  return p;
}

// The DFW side of a case: an Engine with one vNIC, every packet its own
// burst from the VM (conntrack tells directions by addresses).
class DfwRunner {
 public:
  explicit DfwRunner(bool tcp_strict) {
    engine_ = Engine::create({.max_workers = 1}).value();
    EXPECT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = MacAddress::from_u64(0x020000000001)}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_, {.conntrack = {.capacity = 1024, .tcp_strict = tcp_strict}}).value();
    EXPECT_TRUE(dfw_->apply(allow_all(tcp_strict), {kVnic}).ok());
  }
  Verdict step(const Bytes& frame, std::uint64_t now) {
    const Frame f(frame);
    Verdict v;
    engine_->process(*worker_, kVnic, Direction::kFromVm, std::span(&f, 1), std::span(&v, 1), {.now_ns = now});
    return v;
  }

 private:
  static constexpr std::uint32_t kVnic = 5;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
};

TEST(IssueCases, ThroughTheTable) {
  for (const IssueCase& c : cases()) {
    SCOPED_TRACE(c.name + " [" + c.source + "]");
    auto table = test::make_table({.tcp_strict = c.tcp_strict});
    ASSERT_NE(table, nullptr);
    test::Stepper s{*table};
    std::uint64_t now = kSecond;
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      now += c.steps[i].advance_ns;
      EXPECT_EQ(s.flags(c.steps[i].frame, now), c.steps[i].ct_state) << "packet " << i;
    }
  }
}

TEST(IssueCases, ThroughTheStatefulDfw) {
  for (const IssueCase& c : cases()) {
    SCOPED_TRACE(c.name + " [" + c.source + "]");
    DfwRunner dfw(c.tcp_strict);
    std::uint64_t now = kSecond;
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      now += c.steps[i].advance_ns;
      const Verdict v = dfw.step(c.steps[i].frame, now);
      EXPECT_EQ(format_ct_state(v.ct_state), c.steps[i].ct_state) << "packet " << i;
      EXPECT_EQ(v.slot, kSlotDfw) << "packet " << i;
      if (c.steps[i].ct_state == "inv|trk") {
        EXPECT_EQ(v.action, Action::kDrop) << "packet " << i;
        EXPECT_EQ(v.reason, DropReason::kConntrackInvalid) << "packet " << i;
      } else {
        EXPECT_EQ(v.action, Action::kPass) << "packet " << i;
        EXPECT_EQ(v.rule_id, 1u) << "packet " << i;
      }
    }
  }
}

// All 64 combinations of FIN, SYN, RST, PSH, ACK, URG (pf regress and
// netfilter tcp_valid_flags). Without a connection only a pure SYN opens
// one (TCP strict); with pickup, also a valid segment without SYN or RST.
// On an established connection a combination the tracker calls invalid
// (SYN+FIN, SYN+RST, no ACK and no SYN/RST, ...) is invalid whatever its
// sequence numbers; valid ones in window pass.
TEST(IssueCases, AllSixtyFourTcpFlagCombinations) {
  const std::vector<std::uint8_t> valid = {S, SA, SA | P, SA | U, SA | P | U, R, RA, RA | P, RA | U, RA | P | U,
                                           A, A | P, A | U, A | P | U, FA, FA | P, FA | U, FA | P | U};
  for (int f = 0; f < 64; ++f) {
    const auto flags = static_cast<std::uint8_t>(f);
    SCOPED_TRACE("flags " + std::to_string(f));
    const bool is_valid = std::find(valid.begin(), valid.end(), flags) != valid.end();
    // First packet, strict and with pickup; through the table and the DFW.
    for (const bool strict : {true, false}) {
      const bool opens = is_valid && ((flags & (S | A)) == S || (!strict && (flags & (S | R)) == 0));
      const std::string want = opens ? "new|trk" : "inv|trk";
      auto table = test::make_table({.tcp_strict = strict});
      test::Stepper s{*table};
      EXPECT_EQ(s.flags(seg(kClient, flags, C, V), kSecond), want) << (strict ? "strict" : "pickup");
      DfwRunner dfw(strict);
      const Verdict v = dfw.step(seg(kClient, flags, C, V), kSecond);
      EXPECT_EQ(format_ct_state(v.ct_state), want) << (strict ? "strict" : "pickup");
      EXPECT_EQ(v.action, opens ? Action::kPass : Action::kDrop);
    }
    // On an established connection, in window.
    auto table = test::make_table();
    test::Stepper s{*table};
    std::uint64_t now = kSecond;
    for (const Step& step : handshake()) ASSERT_EQ(s.flags(step.frame, ++now), step.ct_state);
    const std::string got = s.flags(seg(kClient, flags, C + 1, V + 1), ++now);
    // Valid: ACK, FIN+ACK, the exact RST, with PSH/URG or not; a SYN or
    // SYN+ACK in window on an established entry passes and changes nothing
    // (Linux conntrack_synack_reuse.pkt; a retransmitted SYN+ACK of a
    // simultaneous open).
    EXPECT_EQ(got, is_valid ? "est|trk" : "inv|trk");
  }
}

}  // namespace
}  // namespace fw

namespace fw {
namespace {

// A reply in the same burst as its request, under a policy that allows only
// the request's direction: alone, the reply passes by state; in one burst
// it must too (the DFW looks a first packet up again when an earlier packet
// of the burst created a connection with its hash, rather than letting the
// default rule drop it). Same for an ICMP echo reply waiting behind its
// request, and a later request after it (est, not new).
TEST(IssueCases, ReplyInTheSameBurstAsItsRequest) {
  Policy p;
  Section s;
  s.id = "one-way";
  Rule r;
  r.id = 1;
  r.sources.cidrs = {parse_cidr("10.0.0.1/32").value()};
  r.destinations.cidrs = {parse_cidr("10.0.0.2/32").value()};
  s.rules = {r};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = 2;
  const std::vector<Bytes> frames = {
      udp(kClient), udp(kServer), udp(kClient),
      test::v4("10.0.0.1", "10.0.0.2").icmp_echo(7, 1).build(),
      test::v4("10.0.0.2", "10.0.0.1").icmp_echo(7, 1, true).build(),
      test::v4("10.0.0.1", "10.0.0.2").icmp_echo(7, 2).build(),
      test::v4("10.0.0.2", "10.0.0.1").udp(53, 999).payload(8).build(),  // no connection: default rule
  };
  const std::vector<std::string> want = {"new|trk", "est|rpl|trk", "est|trk", "new|trk",
                                         "est|rpl|trk", "est|trk", "new|trk"};
  for (const std::size_t burst : {std::size_t{1}, frames.size()}) {
    SCOPED_TRACE("burst " + std::to_string(burst));
    auto engine = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine->attach_vnic({.id = 5, .mac = MacAddress::from_u64(0x020000000001)}).ok());
    auto worker = engine->create_worker().value();
    auto dfw = Dfw::create(*engine, {.conntrack = {.capacity = 64}}).value();
    ASSERT_TRUE(dfw->apply(p, {5}).ok());
    std::vector<Frame> spans(frames.begin(), frames.end());
    std::vector<Verdict> v(frames.size());
    for (std::size_t at = 0; at < frames.size(); at += burst)
      engine->process(*worker, 5, Direction::kFromVm, std::span(spans).subspan(at, std::min(burst, frames.size() - at)),
                      std::span(v).subspan(at, std::min(burst, frames.size() - at)), {.now_ns = kSecond});
    for (std::size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(format_ct_state(v[i].ct_state), want[i]) << "packet " << i;
      const bool last = i + 1 == frames.size();
      EXPECT_EQ(v[i].action, last ? Action::kDrop : Action::kPass) << "packet " << i;
      EXPECT_EQ(v[i].rule_id, last ? 2u : 1u) << "packet " << i;
    }
    const DfwRuleStats allowed = dfw->rule_stats(1).value();
    EXPECT_EQ(allowed.packets[static_cast<std::size_t>(Direction::kFromVm)], frames.size() - 1);
  }
}

}  // namespace
}  // namespace fw
