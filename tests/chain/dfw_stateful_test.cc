// Slot 2, stateful, through fw::Engine: replies pass by state and unsolicited
// traffic drops; UDP and ICMP echo by state; RELATED ICMP errors; invalid TCP
// with its own drop reason; stateless sections bypass tracking; the three
// policy-epoch behaviours; reject answers that parse back; a SYN flood at 10x
// the table's capacity; every burst size decides as one-by-one.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <vector>

#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/flow_log.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::PacketBuilder;

constexpr std::uint32_t kVnic = 3;
const char* kVmMac = "02:00:00:00:00:03";
const char* kPeerMac = "02:00:00:00:00:09";
const char* kVmIp = "10.0.0.3";
const char* kPeerIp = "10.0.1.5";
constexpr std::uint32_t kHttpOut = 10, kDnsOut = 11, kPingOut = 12, kTelnetReject = 20, kUdpReject = 21;
constexpr std::uint32_t kDefault = 9999;
constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

Cidr cidr(const char* text) { return parse_cidr(text).value(); }

Rule out_rule(std::uint32_t id, std::uint8_t protocol, std::optional<std::uint16_t> port, RuleAction action) {
  Rule r;
  r.id = id;
  r.direction = RuleDirection::kOut;
  r.sources.cidrs = {cidr("10.0.0.3/32")};
  ServiceEntry e{.protocol = protocol};
  if (port) e.dst_ports = {PortRange{*port, *port}};
  if (protocol == kIcmp) e.icmp_type = 8;
  r.inline_services = {e};
  r.action = action;
  return r;
}

// Only the VM's own outbound connections: HTTP, DNS, ping; telnet and UDP
// port 7 rejected; everything else dropped by the default rule.
Policy vm_outbound_policy(RevalidationMode mode = RevalidationMode::kRevalidate) {
  Policy p;
  Section s;
  s.id = "app";
  s.rules = {out_rule(kHttpOut, kTcp, 80, RuleAction::kAllow), out_rule(kDnsOut, kUdp, 53, RuleAction::kAllow),
             out_rule(kPingOut, kIcmp, std::nullopt, RuleAction::kAllow),
             out_rule(kTelnetReject, kTcp, 23, RuleAction::kReject),
             out_rule(kUdpReject, kUdp, 7, RuleAction::kReject)};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = kDefault;
  p.revalidation = mode;
  return p;
}

Bytes vm_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
             std::size_t payload = 0, const char* dst = kPeerIp) {
  PacketBuilder b;
  b.eth(kVmMac, kPeerMac).ipv4(kVmIp, dst).tcp(sport, dport, flags, {.seq = seq, .ack = ack});
  if (payload) b.payload(payload);
  return b.build();
}
Bytes peer_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
               std::size_t payload = 0, const char* src = kPeerIp) {
  PacketBuilder b;
  b.eth(kPeerMac, kVmMac).ipv4(src, kVmIp).tcp(sport, dport, flags, {.seq = seq, .ack = ack});
  if (payload) b.payload(payload);
  return b.build();
}
Bytes vm_udp(std::uint16_t sport, std::uint16_t dport) {
  return PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).udp(sport, dport).payload(8).build();
}
Bytes peer_udp(std::uint16_t sport, std::uint16_t dport) {
  return PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp).udp(sport, dport).payload(8).build();
}

class DfwStatefulTest : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }

  void make(const DfwOptions& options, const Policy& policy = vm_outbound_policy()) {
    dfw_.reset();
    worker_.reset();
    engine_ = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_, options).value();
    ASSERT_TRUE(dfw_->apply(policy, {kVnic}).ok());
  }

  // One call of the engine, the clock advancing 1 ms per call.
  std::vector<Verdict> burst(const std::vector<Bytes>& frames, Direction dir, RejectAnswers* answers = nullptr) {
    std::vector<Frame> f(frames.begin(), frames.end());
    std::vector<Verdict> v(frames.size());
    now_ += 1'000'000;
    engine_->process(*worker_, kVnic, dir, f, v, {.now_ns = now_, .answers = answers});
    return v;
  }
  Verdict out(const Bytes& frame) { return burst({frame}, Direction::kFromVm)[0]; }
  Verdict in(const Bytes& frame) { return burst({frame}, Direction::kToVm)[0]; }

  // The three-way handshake of VM:sport -> peer:80; the VM's ISN is 1000,
  // the peer's 5000.
  void handshake(std::uint16_t sport) {
    ASSERT_EQ(out(vm_tcp(sport, 80, kTcpSyn, 1000, 0)).action, Action::kPass);
    ASSERT_EQ(in(peer_tcp(80, sport, kTcpSyn | kTcpAck, 5000, 1001)).action, Action::kPass);
    ASSERT_EQ(out(vm_tcp(sport, 80, kTcpAck, 1001, 5001)).action, Action::kPass);
  }

  std::uint64_t now_ = 1'000'000'000;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
};

void expect_pass(const Verdict& v, std::uint32_t rule, std::uint8_t ct_state) {
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.slot, kSlotDfw);
  EXPECT_EQ(v.rule_id, rule);
  EXPECT_EQ(format_ct_state(v.ct_state), format_ct_state(ct_state));
}

TEST_F(DfwStatefulTest, RepliesPassByStateAndUnsolicitedInboundDrops) {
  expect_pass(out(vm_tcp(40000, 80, kTcpSyn, 1000, 0)), kHttpOut, kCtNew | kCtTracked);
  // No rule allows inbound TCP: the SYN-ACK and the data pass by state alone.
  expect_pass(in(peer_tcp(80, 40000, kTcpSyn | kTcpAck, 5000, 1001)), kHttpOut,
              kCtEstablished | kCtReply | kCtTracked);
  expect_pass(out(vm_tcp(40000, 80, kTcpAck, 1001, 5001, 100)), kHttpOut, kCtEstablished | kCtTracked);
  expect_pass(in(peer_tcp(80, 40000, kTcpAck, 5001, 1101, 500)), kHttpOut,
              kCtEstablished | kCtReply | kCtTracked);

  // Unsolicited inbound: a SYN to the VM's port 80 and an ACK of no
  // connection are the default rule's.
  Verdict syn = in(peer_tcp(40001, 80, kTcpSyn, 7000, 0));
  EXPECT_EQ(syn.action, Action::kDrop);
  EXPECT_EQ(syn.reason, DropReason::kDefaultRule);
  EXPECT_EQ(syn.rule_id, kDefault);
  Verdict ack = in(peer_tcp(80, 40005, kTcpAck, 5001, 1101));
  EXPECT_EQ(ack.action, Action::kDrop);
  EXPECT_EQ(ack.rule_id, kDefault);

  // Counters count every packet, by the admitting rule for the table's.
  DfwRuleStats http = dfw_->rule_stats(kHttpOut).value();
  EXPECT_EQ(http.packets[static_cast<int>(Direction::kFromVm)], 2u);
  EXPECT_EQ(http.packets[static_cast<int>(Direction::kToVm)], 2u);
  EXPECT_EQ(dfw_->rule_stats(kDefault)->packets[static_cast<int>(Direction::kToVm)], 2u);
  EXPECT_EQ(dfw_->connections()->stats().connections, 1u);
}

TEST_F(DfwStatefulTest, UdpAndIcmpEchoRepliesPassByState) {
  expect_pass(out(vm_udp(5353, 53)), kDnsOut, kCtNew | kCtTracked);
  expect_pass(in(peer_udp(53, 5353)), kDnsOut, kCtEstablished | kCtReply | kCtTracked);
  EXPECT_EQ(in(peer_udp(54, 5353)).rule_id, kDefault);  // another port: not the reply

  auto echo = [](bool reply, std::uint16_t id) {
    return reply ? PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp).icmp_echo(id, 1, true).build()
                 : PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).icmp_echo(id, 1).build();
  };
  expect_pass(out(echo(false, 7)), kPingOut, kCtNew | kCtTracked);
  expect_pass(in(echo(true, 7)), kPingOut, kCtEstablished | kCtReply | kCtTracked);
  Verdict stray = in(echo(true, 8));  // a reply to no request
  EXPECT_EQ(stray.action, Action::kDrop);
  EXPECT_EQ(stray.rule_id, kDefault);
}

TEST_F(DfwStatefulTest, IcmpErrorsRelatedToAConnectionPassUnrelatedOnesDrop) {
  ASSERT_EQ(out(vm_udp(5353, 53)).action, Action::kPass);
  auto unreachable = [](std::uint16_t quoted_dport) {
    return PacketBuilder()
        .eth(kPeerMac, kVmMac)
        .ipv4(kPeerIp, kVmIp)
        .icmp(3, 3)
        .ipv4(kVmIp, kPeerIp)
        .udp(5353, quoted_dport)
        .payload(8)
        .build();
  };
  Verdict related = in(unreachable(53));
  EXPECT_EQ(related.action, Action::kPass);
  EXPECT_EQ(related.rule_id, kDnsOut);
  EXPECT_TRUE(related.ct_state & kCtRelated) << format_ct_state(related.ct_state);

  Verdict unrelated = in(unreachable(99));
  EXPECT_EQ(unrelated.action, Action::kDrop);
  EXPECT_EQ(unrelated.reason, DropReason::kConntrackInvalid);
  EXPECT_EQ(format_ct_state(unrelated.ct_state), "inv|trk");
}

TEST_F(DfwStatefulTest, OutOfWindowTcpDropsAsConntrackInvalid) {
  handshake(40000);
  Verdict v = in(peer_tcp(80, 40000, kTcpAck, 5001 + 1'000'000'000u, 1001, 100));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.reason, DropReason::kConntrackInvalid);
  EXPECT_EQ(v.rule_id, kNoRule);
  EXPECT_EQ(format_ct_state(v.ct_state), "inv|trk");
  EXPECT_EQ(drop_reason_name(DropReason::kConntrackInvalid), "conntrack-invalid");
  EXPECT_EQ(engine_->vnic_stats(kVnic)->direction[1].drops[static_cast<int>(DropReason::kConntrackInvalid)], 1u);
  // The connection itself goes on.
  EXPECT_EQ(in(peer_tcp(80, 40000, kTcpAck, 5001, 1001, 100)).action, Action::kPass);
}

TEST_F(DfwStatefulTest, StatelessSectionsBypassTracking) {
  Policy p = vm_outbound_policy();
  Section stateless;
  stateless.id = "stateless";
  stateless.stateless = true;
  Rule ssh;
  ssh.id = 50;  // both directions, any address: TCP port 22 either side
  ssh.inline_services = {ServiceEntry{.protocol = kTcp, .dst_ports = {PortRange{22, 22}}},
                         ServiceEntry{.protocol = kTcp, .src_ports = {PortRange{22, 22}}}};
  stateless.rules = {ssh};
  auto& app = p.categories[static_cast<int>(Category::kApplication)];
  app.insert(app.begin(), stateless);
  make({}, p);

  // A mid-stream ACK (which the table refuses under TCP strict) and a SYN:
  // both the stateless rule's, neither tracked.
  expect_pass(out(vm_tcp(41000, 22, kTcpAck, 1, 1)), 50, kCtInvalid | kCtTracked);
  EXPECT_EQ(out(vm_tcp(41001, 22, kTcpSyn, 1, 0)).rule_id, 50u);
  EXPECT_EQ(in(peer_tcp(22, 41001, kTcpSyn | kTcpAck, 9, 2)).rule_id, 50u);
  EXPECT_EQ(dfw_->connections()->stats().created, 0u);
  EXPECT_EQ(dfw_->rule_stats(50)->packets[0] + dfw_->rule_stats(50)->packets[1], 3u);
  // Stateful rules still track.
  handshake(40000);
  EXPECT_EQ(dfw_->connections()->stats().created, 1u);
}

TEST_F(DfwStatefulTest, StatelessDfwTracksNothing) {
  make({.stateful = false});
  EXPECT_EQ(dfw_->connections(), nullptr);
  Verdict syn_ack = in(peer_tcp(80, 40000, kTcpSyn | kTcpAck, 5000, 1001));
  EXPECT_EQ(syn_ack.rule_id, kDefault);  // no state: the reply has no rule
  EXPECT_EQ(syn_ack.ct_state, 0);
}

// Epochs: a connection admitted under generation 1, then a new policy.
TEST_F(DfwStatefulTest, EpochKeepTrustsTheOldDecision) {
  handshake(40000);
  Policy none = vm_outbound_policy(RevalidationMode::kKeep);
  none.categories[static_cast<int>(Category::kApplication)].clear();
  ASSERT_TRUE(dfw_->apply(none, {kVnic}).ok());
  EXPECT_EQ(dfw_->policy_generation(), 2u);
  expect_pass(in(peer_tcp(80, 40000, kTcpAck, 5001, 1001, 10)), kHttpOut,
              kCtEstablished | kCtReply | kCtTracked);
  // New connections see the new policy.
  EXPECT_EQ(out(vm_tcp(40001, 80, kTcpSyn, 1000, 0)).rule_id, kDefault);
}

TEST_F(DfwStatefulTest, EpochRevalidateRestampsOrDropsAndRemoves) {
  handshake(40000);
  // The same traffic allowed by another rule id: re-stamped.
  Policy renamed = vm_outbound_policy(RevalidationMode::kRevalidate);
  renamed.categories[static_cast<int>(Category::kApplication)][0].rules[0].id = 15;
  ASSERT_TRUE(dfw_->apply(renamed, {kVnic}).ok());
  // In the reply direction: the original direction (from the VM) is what is
  // classified, so rule 15 (out only) still matches.
  expect_pass(in(peer_tcp(80, 40000, kTcpAck, 5001, 1001, 10)), 15, kCtEstablished | kCtReply | kCtTracked);
  expect_pass(out(vm_tcp(40000, 80, kTcpAck, 1001, 5011, 10)), 15, kCtEstablished | kCtTracked);
  EXPECT_EQ(dfw_->rule_stats(15)->packets[0] + dfw_->rule_stats(15)->packets[1], 2u);

  // Now HTTP is dropped: the next packet drops by the new rule and the
  // connection is gone.
  Policy closed = renamed;
  closed.categories[static_cast<int>(Category::kApplication)][0].rules[0].action = RuleAction::kDrop;
  ASSERT_TRUE(dfw_->apply(closed, {kVnic}).ok());
  Verdict v = in(peer_tcp(80, 40000, kTcpAck, 5011, 1011, 10));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.reason, DropReason::kRule);
  EXPECT_EQ(v.rule_id, 15u);
  EXPECT_EQ(dfw_->connections()->stats().connections, 0u);
}

TEST_F(DfwStatefulTest, EpochResetTreatsTheNextPacketAsAFirstPacket) {
  handshake(40000);
  handshake(40001);
  ASSERT_TRUE(dfw_->apply(vm_outbound_policy(RevalidationMode::kReset), {kVnic}).ok());
  // Mid-stream under TCP strict: refused although rule 10 would allow it.
  Verdict mid = out(vm_tcp(40000, 80, kTcpAck, 1001, 5001, 10));
  EXPECT_EQ(mid.action, Action::kDrop);
  EXPECT_EQ(mid.reason, DropReason::kConntrackInvalid);
  EXPECT_EQ(dfw_->connections()->stats().connections, 1u);  // 40001 not touched yet
  // Reply direction of the other connection: a first packet for the policy,
  // which allows no inbound TCP.
  EXPECT_EQ(in(peer_tcp(80, 40001, kTcpAck, 5001, 1001, 10)).rule_id, kDefault);
  EXPECT_EQ(dfw_->connections()->stats().connections, 0u);
  // A new handshake works, under the new generation.
  handshake(40002);
}

TEST_F(DfwStatefulTest, RevalidationOptionOverridesThePolicySetting) {
  make({.revalidation = RevalidationMode::kKeep});
  handshake(40000);
  Policy none = vm_outbound_policy(RevalidationMode::kReset);
  none.categories[static_cast<int>(Category::kApplication)].clear();
  ASSERT_TRUE(dfw_->apply(none, {kVnic}).ok());
  EXPECT_EQ(in(peer_tcp(80, 40000, kTcpAck, 5001, 1001, 10)).action, Action::kPass);
}

TEST_F(DfwStatefulTest, RejectAnswersParseBack) {
  std::vector<std::uint8_t> buffer(4 * kMaxRejectAnswerBytes);
  std::array<RejectAnswer, 4> refs;
  RejectAnswers answers{.buffer = buffer, .answers = refs};
  const Bytes telnet = vm_tcp(40000, 23, kTcpSyn, 1000, 0);
  const Bytes udp7 = vm_udp(6000, 7);
  std::vector<Verdict> v =
      burst({telnet, vm_tcp(40001, 80, kTcpSyn, 1000, 0), udp7, vm_udp(6001, 53)}, Direction::kFromVm, &answers);
  ASSERT_EQ(v[0].action, Action::kReject);
  EXPECT_EQ(v[0].rule_id, kTelnetReject);
  ASSERT_EQ(v[2].action, Action::kReject);
  EXPECT_TRUE(answers.answer(1).empty());
  EXPECT_TRUE(answers.answer(3).empty());
  EXPECT_EQ(answers.overflowed, 0u);
  EXPECT_EQ(answers.bytes_used, std::size_t{refs[0].length} + refs[2].length);

  PacketView rst;
  ASSERT_EQ(parse_frame(answers.answer(0), rst), ParseError::kOk);
  EXPECT_EQ(rst.protocol, kTcp);
  EXPECT_EQ(rst.src_ip, parse_ip(kPeerIp).value());
  EXPECT_EQ(rst.dst_ip, parse_ip(kVmIp).value());
  EXPECT_EQ(rst.src_port, 23);
  EXPECT_EQ(rst.dst_port, 40000);
  EXPECT_EQ(rst.tcp.flags, kTcpRst | kTcpAck);
  EXPECT_EQ(rst.tcp.ack, 1001u);  // the SYN's seq + 1

  PacketView icmp;
  ASSERT_EQ(parse_frame(answers.answer(2), icmp), ParseError::kOk);
  EXPECT_EQ(icmp.protocol, kIcmp);
  EXPECT_EQ(icmp.dst_ip, parse_ip(kVmIp).value());
  EXPECT_EQ(icmp.icmp.type, 3);
  EXPECT_EQ(icmp.icmp.code, 13);
  ASSERT_TRUE(icmp.icmp.is_error);
  EXPECT_EQ(icmp.icmp.inner.src_port, 6000);
  EXPECT_EQ(icmp.icmp.inner.dst_port, 7);

  // Too small a buffer: the verdict stands, the answer is counted as lost.
  std::array<std::uint8_t, 20> tiny;
  RejectAnswers small{.buffer = tiny, .answers = refs};
  EXPECT_EQ(burst({telnet}, Direction::kFromVm, &small)[0].action, Action::kReject);
  EXPECT_TRUE(small.answer(0).empty());
  EXPECT_EQ(small.overflowed, 1u);
}

// A SYN flood at 10x the table's capacity: the flood's half-open connections
// displace each other (oldest first) and the established ones keep working.
TEST_F(DfwStatefulTest, SynFloodAtTenTimesCapacityLeavesEstablishedConnectionsWorking) {
  constexpr std::uint32_t kCapacity = 1024;
  make({.conntrack = {.capacity = kCapacity}});
  constexpr std::uint16_t kEstablished = 128;
  std::array<std::uint32_t, kEstablished> vm_seq{};
  for (std::uint16_t c = 0; c < kEstablished; ++c) {
    handshake(static_cast<std::uint16_t>(30000 + c));
    vm_seq[c] = 1001;
  }
  std::size_t sent = 0, passed = 0;
  std::uint16_t next = 0;
  for (std::uint32_t flood = 0; flood < 10 * kCapacity; flood += 32) {
    std::vector<Bytes> syns;
    for (std::uint32_t k = 0; k < 32; ++k) {
      const std::uint32_t n = flood + k;
      char dst[32];
      std::snprintf(dst, sizeof dst, "10.0.%u.%u", 2 + n / 250, 1 + n % 250);
      syns.push_back(vm_tcp(static_cast<std::uint16_t>(1024 + n % 50000), 80, kTcpSyn, n, 0, 0, dst));
    }
    burst(syns, Direction::kFromVm);
    // 16 established connections send data, and the peer acknowledges it.
    std::vector<Bytes> data, acks;
    for (int k = 0; k < 16; ++k, next = static_cast<std::uint16_t>((next + 1) % kEstablished)) {
      const auto port = static_cast<std::uint16_t>(30000 + next);
      data.push_back(vm_tcp(port, 80, kTcpAck | kTcpPsh, vm_seq[next], 5001, 100));
      vm_seq[next] += 100;
      acks.push_back(peer_tcp(80, port, kTcpAck, 5001, vm_seq[next]));
    }
    for (const Verdict& v : burst(data, Direction::kFromVm)) passed += v.action == Action::kPass;
    for (const Verdict& v : burst(acks, Direction::kToVm)) passed += v.action == Action::kPass;
    sent += data.size() + acks.size();
  }
  const ConnTableStats stats = dfw_->connections()->stats();
  EXPECT_GE(stats.evicted, 9 * kCapacity);  // the flood really filled the table
  EXPECT_GE(static_cast<double>(passed), 0.999 * static_cast<double>(sent)) << passed << " of " << sent;
}

// The same frames in bursts of every size decide as one by one (fresh state
// for each size): first packets of one connection in one burst, rejects,
// table refusals and RELATED errors included.
TEST_F(DfwStatefulTest, EveryBurstSizeDecidesAsOneByOne) {
  std::vector<Bytes> frames;
  for (int k = 0; k < 40; ++k) {
    switch (k % 8) {
      case 0: frames.push_back(vm_udp(static_cast<std::uint16_t>(5000 + k / 16), 53)); break;  // repeats
      case 1: frames.push_back(vm_tcp(static_cast<std::uint16_t>(40000 + k), 80, kTcpSyn, 1000, 0)); break;
      case 2: frames.push_back(vm_tcp(static_cast<std::uint16_t>(40000 + k - 1), 80, kTcpSyn, 1000, 0)); break;
      case 3: frames.push_back(vm_tcp(40100, 23, kTcpSyn, 1000, 0)); break;                      // reject
      case 4: frames.push_back(vm_tcp(40200, 80, kTcpAck, 1000, 1)); break;                      // mid-stream
      case 5: frames.push_back(PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp)
                                   .icmp_echo(static_cast<std::uint16_t>(k / 16), 1).build()); break;
      case 6: frames.push_back(vm_udp(6000, 9)); break;                                          // default drop
      case 7: frames.push_back(PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).icmp(3, 3)
                                   .ipv4(kPeerIp, kVmIp).udp(53, static_cast<std::uint16_t>(5000 + k / 16))
                                   .payload(8).build()); break;                                   // related
    }
  }
  auto run = [&](std::size_t size) {
    make({.conntrack = {.capacity = 1024}});
    std::vector<Verdict> all;
    if (size == 0) {
      std::vector<Verdict> untouched(1);
      untouched[0].rule_id = 77;
      engine_->process(*worker_, kVnic, Direction::kFromVm, {}, std::span(untouched.data(), 0), {.now_ns = now_});
      EXPECT_EQ(untouched[0].rule_id, 77u);
      EXPECT_EQ(engine_->vnic_stats(kVnic)->direction[0].packets, 0u);
      return all;
    }
    for (std::size_t at = 0; at < frames.size(); at += size) {
      std::vector<Bytes> part(frames.begin() + static_cast<std::ptrdiff_t>(at),
                              frames.begin() + static_cast<std::ptrdiff_t>(std::min(frames.size(), at + size)));
      for (const Verdict& v : burst(part, Direction::kFromVm)) all.push_back(v);
    }
    return all;
  };
  const std::vector<Verdict> one_by_one = run(1);
  EXPECT_EQ(one_by_one[7].action, Action::kPass);  // the error RELATED to frame 0's flow
  EXPECT_EQ(one_by_one[3].action, Action::kReject);
  EXPECT_EQ(one_by_one[4].reason, DropReason::kConntrackInvalid);
  run(0);
  for (std::size_t size = 2; size <= 40; ++size) {
    const std::vector<Verdict> got = run(size);
    ASSERT_EQ(got.size(), one_by_one.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(testing::Message() << "burst size " << size << ", frame " << i);
      EXPECT_EQ(got[i].action, one_by_one[i].action);
      EXPECT_EQ(got[i].reason, one_by_one[i].reason);
      EXPECT_EQ(got[i].rule_id, one_by_one[i].rule_id);
      EXPECT_EQ(format_ct_state(got[i].ct_state), format_ct_state(one_by_one[i].ct_state));
    }
  }
}

// Packets their connection passes without an epoch check take a path of
// their own (DfwFilter::pass_by_state); here it is compared with the
// general path (route() and its epoch check) on the same traffic. Three
// Dfws open the same connections and then see the same bursts; before each
// round `checked` re-applies the same policy under kRevalidate, so every
// packet of a known connection in the round's first bursts goes through the
// epoch check (and is re-classified to the same rule), and `kept` does so
// under kKeep (its stale connections take the fast path's any-generation
// variant), while `fresh` never re-applies. Verdicts (all but the engine
// generation), rule counters, vNIC counters, the table's counters and the
// flow logs must be the same. The bursts mix established packets of TCP,
// UDP and ICMP echo connections (a connection twice in one burst, both
// directions, different lengths), RELATED ICMP errors, first packets,
// rejects, refused and unsolicited packets, ND and ARP.
TEST(DfwStatefulPaths, KnownConnectionsPassAsTheEpochCheckDecides) {
  Policy policy = vm_outbound_policy(RevalidationMode::kRevalidate);
  for (Rule& r : policy.categories[static_cast<int>(Category::kApplication)][0].rules) r.logged = true;
  policy.default_logged = true;
  struct Side {
    std::unique_ptr<Engine> engine;
    std::unique_ptr<Worker> worker;
    std::shared_ptr<FlowLog> log;
    std::unique_ptr<Dfw> dfw;
    bool reapply = false;
  };
  auto make_side = [&](RevalidationMode mode, bool reapply) {
    Side side;
    side.engine = Engine::create({.max_workers = 1}).value();
    EXPECT_TRUE(side.engine->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    side.worker = side.engine->create_worker().value();
    side.log = FlowLog::create({.workers = 1, .capacity = 1024}).value();
    side.dfw = Dfw::create(*side.engine, {.conntrack = {.capacity = 1024}, .revalidation = mode, .flow_log = side.log})
                   .value();
    EXPECT_TRUE(side.dfw->apply(policy, {kVnic}).ok());
    side.reapply = reapply;
    return side;
  };
  Side sides[] = {make_side(RevalidationMode::kRevalidate, false), make_side(RevalidationMode::kRevalidate, true),
                  make_side(RevalidationMode::kKeep, true)};
  const char* const names[] = {"fresh", "checked", "kept"};
  std::uint64_t now = 1'000'000'000;
  std::size_t by_state = 0, related = 0;  // in `fresh`, to know the bursts hit the fast path
  auto send = [&](const std::vector<Bytes>& frames, Direction dir) {
    now += 1'000'000;
    std::vector<Frame> f(frames.begin(), frames.end());
    std::vector<std::vector<Verdict>> got;
    for (Side& side : sides) {
      got.emplace_back(frames.size());
      side.engine->process(*side.worker, kVnic, dir, f, got.back(), {.now_ns = now});
    }
    for (const Verdict& v : got[0]) {
      by_state += v.action == Action::kPass && (v.ct_state & kCtEstablished) != 0;
      related += v.action == Action::kPass && (v.ct_state & kCtRelated) != 0;
    }
    for (std::size_t s = 1; s < std::size(sides); ++s) {
      for (std::size_t i = 0; i < frames.size(); ++i) {
        SCOPED_TRACE(testing::Message() << names[s] << ", frame " << i << " of " << frames.size());
        const Verdict& a = got[0][i];
        const Verdict& b = got[s][i];
        EXPECT_EQ(b.action, a.action);
        EXPECT_EQ(b.slot, a.slot);
        EXPECT_EQ(b.reason, a.reason);
        EXPECT_EQ(b.parse_error, a.parse_error);
        EXPECT_EQ(b.rule_id, a.rule_id);
        EXPECT_EQ(b.service, a.service);
        EXPECT_EQ(format_ct_state(b.ct_state), format_ct_state(a.ct_state));
        EXPECT_EQ(b.service_hop, a.service_hop);
        EXPECT_EQ(b.flags, a.flags);
      }
    }
  };

  // Open 6 TCP, 6 UDP and 3 ICMP echo connections.
  constexpr int kTcp = 6, kUdpFlows = 6, kPings = 3;
  for (int c = 0; c < kTcp; ++c) {
    const auto port = static_cast<std::uint16_t>(41000 + c);
    send({vm_tcp(port, 80, kTcpSyn, 1000, 0)}, Direction::kFromVm);
    send({peer_tcp(80, port, kTcpSyn | kTcpAck, 5000, 1001)}, Direction::kToVm);
    send({vm_tcp(port, 80, kTcpAck, 1001, 5001)}, Direction::kFromVm);
  }
  std::vector<Bytes> opens, replies;
  for (int c = 0; c < kUdpFlows; ++c) {
    opens.push_back(vm_udp(static_cast<std::uint16_t>(6000 + c), 53));
    replies.push_back(peer_udp(53, static_cast<std::uint16_t>(6000 + c)));
  }
  for (int c = 0; c < kPings; ++c) {
    opens.push_back(PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp)
                        .icmp_echo(static_cast<std::uint16_t>(c + 1), 1).build());
    replies.push_back(PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp)
                          .icmp_echo(static_cast<std::uint16_t>(c + 1), 1, true).build());
  }
  send(opens, Direction::kFromVm);
  send(replies, Direction::kToVm);

  for (int round = 1; round <= 4; ++round) {
    for (Side& side : sides) {
      if (side.reapply) {
        ASSERT_TRUE(side.dfw->apply(policy, {kVnic}).ok());
      }
    }
    const auto seq = static_cast<std::uint32_t>(1001 + 10 * (round - 1));
    std::vector<Bytes> out, in;
    for (int c = 0; c < kTcp; ++c) {
      const auto port = static_cast<std::uint16_t>(41000 + c);
      out.push_back(vm_tcp(port, 80, kTcpAck | kTcpPsh, seq, 5001, 10));
      in.push_back(peer_tcp(80, port, kTcpAck, 5001, seq + 10, static_cast<std::size_t>(c)));
    }
    for (int c = 0; c < kUdpFlows; ++c) {
      const auto port = static_cast<std::uint16_t>(6000 + c);
      out.push_back(PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).udp(port, 53)
                        .payload(static_cast<std::size_t>(8 + c + round)).build());
      in.push_back(peer_udp(53, port));
    }
    out.push_back(vm_udp(6000, 53));  // the same connection again in the burst
    for (int c = 0; c < kPings; ++c) {
      out.push_back(PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp)
                        .icmp_echo(static_cast<std::uint16_t>(c + 1), static_cast<std::uint16_t>(round + 1)).build());
      in.push_back(PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp)
                       .icmp_echo(static_cast<std::uint16_t>(c + 1), static_cast<std::uint16_t>(round + 1), true)
                       .build());
    }
    // RELATED: a port unreachable from the peer about UDP flow 1, and one
    // about no connection.
    in.push_back(PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp).icmp(3, 3)
                     .ipv4(kVmIp, kPeerIp).udp(6001, 53).payload(8).build());
    in.push_back(PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp).icmp(3, 3)
                     .ipv4(kVmIp, kPeerIp).udp(6999, 53).payload(8).build());
    // First packets (a new DNS flow, logged; a rejected telnet; a default
    // drop), a mid-stream segment of no connection, unsolicited inbound, ND
    // and ARP.
    out.insert(out.begin() + 3, vm_udp(static_cast<std::uint16_t>(7000 + round), 53));
    out.push_back(vm_tcp(static_cast<std::uint16_t>(42000 + round), 23, kTcpSyn, 1000, 0));
    out.push_back(vm_udp(6100, 9));
    out.push_back(vm_tcp(static_cast<std::uint16_t>(43000 + round), 80, kTcpAck, 1000, 1));
    out.push_back(PacketBuilder().eth(kVmMac, "ff:ff:ff:ff:ff:ff").arp().build());
    in.insert(in.begin() + 5, peer_udp(4000, static_cast<std::uint16_t>(5000 + round)));
    in.push_back(PacketBuilder().eth(kPeerMac, "33:33:ff:00:00:03").ipv6("fe80::9", "ff02::1:ff00:3")
                     .nd_neighbor_solicitation("fe80::3").build());
    send(out, Direction::kFromVm);
    send(in, Direction::kToVm);
    // Again: `checked` has re-stamped its connections by now.
    send(in, Direction::kToVm);
  }
  EXPECT_GE(by_state, 4u * 2 * (kTcp + kUdpFlows + kPings));
  EXPECT_GE(related, 4u);

  const std::vector<DfwRuleStats> rules = sides[0].dfw->rule_stats();
  std::uint64_t counted = 0;
  for (const DfwRuleStats& r : rules) counted += r.packets[0] + r.packets[1];
  EXPECT_GT(counted, by_state);
  const VnicStats vnic = sides[0].engine->vnic_stats(kVnic).value();
  const ConnTableStats table = sides[0].dfw->connections()->stats();
  std::vector<FlowLogRecord> records(1024);
  records.resize(sides[0].log->drain(records));
  EXPECT_GT(records.size(), 8u);
  for (std::size_t s = 1; s < std::size(sides); ++s) {
    SCOPED_TRACE(names[s]);
    const std::vector<DfwRuleStats> r = sides[s].dfw->rule_stats();
    ASSERT_EQ(r.size(), rules.size());
    for (std::size_t k = 0; k < r.size(); ++k) {
      SCOPED_TRACE(testing::Message() << "rule " << rules[k].rule_id);
      EXPECT_EQ(r[k].rule_id, rules[k].rule_id);
      EXPECT_EQ(r[k].is_default, rules[k].is_default);
      for (std::size_t d = 0; d < kDirectionCount; ++d) {
        EXPECT_EQ(r[k].packets[d], rules[k].packets[d]);
        EXPECT_EQ(r[k].bytes[d], rules[k].bytes[d]);
      }
    }
    const VnicStats v = sides[s].engine->vnic_stats(kVnic).value();
    for (std::size_t d = 0; d < kDirectionCount; ++d) {
      const DirectionStats& a = vnic.direction[d];
      const DirectionStats& b = v.direction[d];
      EXPECT_EQ(b.packets, a.packets);
      EXPECT_EQ(b.bytes, a.bytes);
      for (std::size_t x = 0; x < kActionCount; ++x) EXPECT_EQ(b.verdicts[x], a.verdicts[x]);
      for (std::size_t x = 0; x < kDropReasonCount; ++x) EXPECT_EQ(b.drops[x], a.drops[x]);
      for (std::size_t slot = 0; slot < kNumSlots; ++slot)
        for (std::size_t x = 0; x < kActionCount; ++x) EXPECT_EQ(b.slots[slot].decided[x], a.slots[slot].decided[x]);
    }
    const ConnTableStats t = sides[s].dfw->connections()->stats();
    EXPECT_EQ(t.connections, table.connections);
    EXPECT_EQ(t.half_open, table.half_open);
    EXPECT_EQ(t.created, table.created);
    EXPECT_EQ(t.expired, table.expired);
    EXPECT_EQ(t.removed, table.removed);
    EXPECT_EQ(t.invalid, table.invalid);
    std::vector<FlowLogRecord> logged(1024);
    logged.resize(sides[s].log->drain(logged));
    ASSERT_EQ(logged.size(), records.size());
    for (std::size_t k = 0; k < logged.size(); ++k) {
      SCOPED_TRACE(testing::Message() << "record " << k);
      const FlowLogRecord& a = records[k];
      const FlowLogRecord& b = logged[k];
      EXPECT_EQ(b.time_ns, a.time_ns);
      EXPECT_EQ(b.src, a.src);
      EXPECT_EQ(b.dst, a.dst);
      EXPECT_EQ(b.rule_id, a.rule_id);
      EXPECT_EQ(b.length, a.length);
      EXPECT_EQ(b.src_port, a.src_port);
      EXPECT_EQ(b.dst_port, a.dst_port);
      EXPECT_EQ(b.protocol, a.protocol);
      EXPECT_EQ(b.direction, a.direction);
      EXPECT_EQ(b.action, a.action);
      EXPECT_EQ(b.reason, a.reason);
      EXPECT_EQ(b.ct_state, a.ct_state);
      EXPECT_EQ(b.is_default, a.is_default);
    }
  }
}

TEST_F(DfwStatefulTest, VnicIdsBeyondTheTableZonesAreRefused) {
  auto dfw = Dfw::create(*engine_, {.conntrack = {.capacity = 1024, .zones = 2}}).value();
  Status s = dfw->apply(vm_outbound_policy(), {kVnic});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

}  // namespace
}  // namespace fw
