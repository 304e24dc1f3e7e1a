// Flow logs (fw/flow_log.h): the per-worker rings (order, bounds, counted
// losses), what the DFW records for logged rules (first packets, drops,
// stateless rules, revalidation; never established packets), the verdict's
// logged flag, Dfw::rule_info(), and the text and protobuf forms.
#include <gtest/gtest.h>

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <string>
#include <vector>

#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/flow_log.h"
#include "fw/filter.h"
#include "fw/v1/flow_log.pb.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::PacketBuilder;

// ---- the rings -------------------------------------------------------------------

FlowLogRecord numbered(std::uint32_t n) {
  FlowLogRecord r;
  r.rule_id = n;
  r.time_ns = n * 10;
  return r;
}

TEST(FlowLogRing, RefusesOptionsOutOfRange) {
  EXPECT_EQ(FlowLog::create({.workers = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FlowLog::create({.workers = 1025}).status().code(), StatusCode::kInvalidArgument);
  const auto odd = FlowLog::create({.workers = 1, .capacity = 100});
  ASSERT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(odd.status().message().find("capacity 100"), std::string::npos) << odd.status().message();
  EXPECT_EQ(FlowLog::create({.workers = 1, .capacity = 8}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(FlowLog::create({.workers = 1, .capacity = 16}).ok());
}

TEST(FlowLogRing, DrainsEachWorkersRecordsInOrderAndCountsWhatAFullRingLoses) {
  auto log = FlowLog::create({.workers = 2, .capacity = 16}).value();
  for (std::uint32_t n = 0; n < 20; ++n) EXPECT_EQ(log->write(0, numbered(n)), n < 16) << n;
  EXPECT_TRUE(log->write(1, numbered(100)));
  EXPECT_FALSE(log->write(2, numbered(200)));  // no such worker ring: counted, not written
  FlowLogStats s = log->stats();
  EXPECT_EQ(s.written, 17u);
  EXPECT_EQ(s.dropped, 5u);
  EXPECT_EQ(s.drained, 0u);

  // A short span takes part of worker 0's ring; the rest comes next, in order.
  std::vector<FlowLogRecord> out(10);
  ASSERT_EQ(log->drain(out), 10u);
  for (std::uint32_t n = 0; n < 10; ++n) EXPECT_EQ(out[n].rule_id, n);
  out.assign(64, {});
  const std::size_t got = log->drain(out);
  ASSERT_EQ(got, 7u);
  std::vector<std::uint32_t> ids;
  for (std::size_t k = 0; k < got; ++k) ids.push_back(out[k].rule_id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{10, 11, 12, 13, 14, 15, 100}));
  EXPECT_EQ(log->drain(out), 0u);
  EXPECT_EQ(log->stats().drained, 17u);

  // Drained slots are free again: the ring wraps.
  for (std::uint32_t n = 0; n < 16; ++n) EXPECT_TRUE(log->write(0, numbered(1000 + n)));
  ASSERT_EQ(log->drain(out), 16u);
  for (std::uint32_t n = 0; n < 16; ++n) EXPECT_EQ(out[n].rule_id, 1000 + n);
}

TEST(FlowLogRing, ABusyWorkerDoesNotStarveTheOthers) {
  auto log = FlowLog::create({.workers = 2, .capacity = 64}).value();
  for (std::uint32_t n = 0; n < 64; ++n) ASSERT_TRUE(log->write(0, numbered(n)));
  ASSERT_TRUE(log->write(1, numbered(500)));
  // Two small drains: the second starts at the other ring.
  std::vector<FlowLogRecord> out(4);
  ASSERT_EQ(log->drain(out), 4u);
  bool saw_worker1 = out[0].rule_id == 500 || out[1].rule_id == 500 || out[2].rule_id == 500 ||
                     out[3].rule_id == 500;
  if (!saw_worker1) {
    ASSERT_EQ(log->drain(out), 4u);
    saw_worker1 = out[0].rule_id == 500;
  }
  EXPECT_TRUE(saw_worker1);
}

TEST(FlowLogRing, ANewDecisionClearsTheLoggedFlag) {
  Verdict v;
  v.flags = kVerdictLogged;
  BurstContext ctx;
  ctx.slot = 4;
  decide(v, ctx, Action::kRedirect, 7);
  EXPECT_EQ(v.flags & kVerdictLogged, 0);
  EXPECT_EQ(v.rule_id, 7u);
}

// ---- what the DFW records ----------------------------------------------------------

constexpr std::uint32_t kVnic = 3;
const char* kVmMac = "02:00:00:00:00:03";
const char* kPeerMac = "02:00:00:00:00:09";
const char* kVmIp = "10.0.0.3";
const char* kPeerIp = "10.0.1.5";
constexpr std::uint32_t kHttp = 10, kDns = 11, kPing = 12, kStatelessNtp = 13, kDefault = 9999;

Cidr cidr(const char* text) { return parse_cidr(text).value(); }

Rule out_rule(std::uint32_t id, std::uint8_t protocol, std::uint16_t port, bool logged) {
  Rule r;
  r.id = id;
  r.name = "rule-" + std::to_string(id);
  r.direction = RuleDirection::kOut;
  r.sources.cidrs = {cidr("10.0.0.3/32")};
  ServiceEntry e{.protocol = protocol};
  if (port != 0) e.dst_ports = {PortRange{port, port}};
  if (protocol == 1) e.icmp_type = 8;
  r.inline_services = {e};
  r.logged = logged;
  return r;
}

// HTTP out (logged, tagged), DNS out (not logged), ping out (logged), NTP
// out in a stateless section (logged); everything else dropped by a logged
// default rule.
Policy logged_policy() {
  Policy p;
  Section stateless;
  stateless.id = "ntp";
  stateless.stateless = true;
  stateless.rules = {out_rule(kStatelessNtp, 17, 123, true)};
  Section app;
  app.id = "app";
  app.rules = {out_rule(kHttp, 6, 80, true), out_rule(kDns, 17, 53, false), out_rule(kPing, 1, 0, true)};
  app.rules[0].name = "web out";
  app.rules[0].tag = "PCI \"web\" tier";
  p.categories[static_cast<int>(Category::kEnvironment)] = {stateless};
  p.categories[static_cast<int>(Category::kApplication)] = {app};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = kDefault;
  p.default_logged = true;
  p.default_tag = "deny the rest";
  return p;
}

Bytes vm_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack) {
  return PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).tcp(sport, dport, flags, {.seq = seq, .ack = ack}).build();
}
Bytes peer_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack) {
  return PacketBuilder().eth(kPeerMac, kVmMac).ipv4(kPeerIp, kVmIp).tcp(sport, dport, flags, {.seq = seq, .ack = ack}).build();
}
Bytes vm_udp(std::uint16_t sport, std::uint16_t dport) {
  return PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).udp(sport, dport).payload(8).build();
}

class DfwFlowLogTest : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }

  void make(DfwOptions options, const Policy& policy = logged_policy()) {
    dfw_.reset();
    worker_.reset();
    engine_ = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    worker_ = engine_->create_worker().value();
    log_ = FlowLog::create({.workers = 1, .capacity = 64}).value();
    options.flow_log = log_;
    dfw_ = Dfw::create(*engine_, options).value();
    ASSERT_TRUE(dfw_->apply(policy, {kVnic}).ok());
  }

  Verdict send(const Bytes& frame, Direction dir) {
    Frame f(frame);
    Verdict v;
    now_ += 1'000'000;
    engine_->process(*worker_, kVnic, dir, std::span(&f, 1), std::span(&v, 1), {.now_ns = now_});
    return v;
  }
  Verdict out(const Bytes& frame) { return send(frame, Direction::kFromVm); }
  Verdict in(const Bytes& frame) { return send(frame, Direction::kToVm); }

  std::vector<FlowLogRecord> drain() {
    std::vector<FlowLogRecord> all, chunk(16);
    for (std::size_t n; (n = log_->drain(chunk)) > 0;) all.insert(all.end(), chunk.begin(), chunk.begin() + n);
    return all;
  }

  std::uint64_t now_ = 1'000'000'000;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::shared_ptr<FlowLog> log_;
  std::unique_ptr<Dfw> dfw_;
};

bool logged(const Verdict& v) { return (v.flags & kVerdictLogged) != 0; }

TEST_F(DfwFlowLogTest, ALoggedRuleRecordsAConnectionsFirstPacketOnly) {
  const Verdict syn = out(vm_tcp(40000, 80, kTcpSyn, 1000, 0));
  EXPECT_EQ(syn.action, Action::kPass);
  EXPECT_EQ(syn.rule_id, kHttp);
  EXPECT_TRUE(logged(syn));
  // The rest of the connection is decided by the table: not logged.
  EXPECT_FALSE(logged(in(peer_tcp(80, 40000, kTcpSyn | kTcpAck, 5000, 1001))));
  EXPECT_FALSE(logged(out(vm_tcp(40000, 80, kTcpAck, 1001, 5001))));

  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 1u);
  const FlowLogRecord& r = records[0];
  EXPECT_EQ(r.rule_id, kHttp);
  EXPECT_FALSE(r.is_default);
  EXPECT_EQ(r.vnic_id, kVnic);
  EXPECT_EQ(r.direction, Direction::kFromVm);
  EXPECT_EQ(r.action, Action::kPass);
  EXPECT_EQ(r.reason, DropReason::kNone);
  EXPECT_EQ(r.src.to_string(), kVmIp);
  EXPECT_EQ(r.dst.to_string(), kPeerIp);
  EXPECT_EQ(r.protocol, 6);
  EXPECT_EQ(r.src_port, 40000);
  EXPECT_EQ(r.dst_port, 80);
  EXPECT_EQ(r.tcp_flags, kTcpSyn);
  EXPECT_EQ(format_ct_state(r.ct_state), "new|trk");
  EXPECT_EQ(r.time_ns, 1'001'000'000u);
  EXPECT_EQ(r.generation, syn.generation);
  EXPECT_EQ(r.policy_generation, 1u);
  EXPECT_EQ(r.length, vm_tcp(40000, 80, kTcpSyn, 1000, 0).size());
  const FlowLogStats s = log_->stats();
  EXPECT_EQ(s.written, 1u);
  EXPECT_EQ(s.dropped, 0u);
}

TEST_F(DfwFlowLogTest, UnloggedRulesRecordNothing) {
  const Verdict dns = out(vm_udp(5353, 53));
  EXPECT_EQ(dns.rule_id, kDns);
  EXPECT_FALSE(logged(dns));
  EXPECT_TRUE(drain().empty());
}

TEST_F(DfwFlowLogTest, TheLoggedDefaultRuleRecordsItsDrops) {
  const Verdict v = in(peer_tcp(5555, 22, kTcpSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.reason, DropReason::kDefaultRule);
  EXPECT_TRUE(logged(v));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].rule_id, kDefault);
  EXPECT_TRUE(records[0].is_default);
  EXPECT_EQ(records[0].action, Action::kDrop);
  EXPECT_EQ(records[0].reason, DropReason::kDefaultRule);
  EXPECT_EQ(records[0].direction, Direction::kToVm);
  EXPECT_EQ(records[0].dst_port, 22);
}

TEST_F(DfwFlowLogTest, AStatelessRuleRecordsEveryPacket) {
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(logged(out(vm_udp(123, 123))));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 3u);
  for (const FlowLogRecord& r : records) {
    EXPECT_EQ(r.rule_id, kStatelessNtp);
    EXPECT_EQ(r.protocol, 17);
  }
  EXPECT_LT(records[0].time_ns, records[1].time_ns);
}

TEST_F(DfwFlowLogTest, IcmpRecordsCarryTypeAndCode) {
  const Bytes ping = PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, kPeerIp).icmp_echo(77, 1).build();
  EXPECT_TRUE(logged(out(ping)));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].rule_id, kPing);
  EXPECT_EQ(records[0].icmp_type, 8);
  EXPECT_EQ(records[0].icmp_code, 0);
  EXPECT_EQ(records[0].src_port, 0);
  EXPECT_EQ(records[0].dst_port, 0);
}

TEST_F(DfwFlowLogTest, ARevalidationDropIsRecordedForTheRuleThatDropsIt) {
  ASSERT_EQ(out(vm_tcp(40001, 80, kTcpSyn, 1000, 0)).action, Action::kPass);
  ASSERT_EQ(drain().size(), 1u);
  Policy p = logged_policy();
  p.categories[static_cast<int>(Category::kApplication)][0].rules[0].action = RuleAction::kDrop;
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  const Verdict v = in(peer_tcp(80, 40001, kTcpSyn | kTcpAck, 5000, 1001));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, kHttp);
  EXPECT_TRUE(logged(v));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].action, Action::kDrop);
  EXPECT_EQ(records[0].policy_generation, 2u);
  EXPECT_EQ(records[0].direction, Direction::kToVm);
}

TEST_F(DfwFlowLogTest, AStatelessDfwRecordsEveryPacketOfALoggedRule) {
  make({.stateful = false});
  EXPECT_TRUE(logged(out(vm_tcp(40000, 80, kTcpSyn, 1000, 0))));
  EXPECT_TRUE(logged(out(vm_tcp(40000, 80, kTcpAck, 1001, 5001))));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].ct_state, 0);
  EXPECT_EQ(records[1].tcp_flags, kTcpAck);
}

TEST_F(DfwFlowLogTest, WithoutAFlowLogPacketsAreFlaggedOnly) {
  dfw_.reset();
  dfw_ = Dfw::create(*engine_).value();
  ASSERT_TRUE(dfw_->apply(logged_policy(), {kVnic}).ok());
  EXPECT_TRUE(logged(out(vm_tcp(40000, 80, kTcpSyn, 1000, 0))));
}

TEST_F(DfwFlowLogTest, ALogWithTooFewWorkerRingsIsRefused) {
  auto engine = Engine::create({.max_workers = 4}).value();
  auto small = FlowLog::create({.workers = 2}).value();
  const auto dfw = Dfw::create(*engine, {.flow_log = small});
  ASSERT_EQ(dfw.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dfw.status().message().find("max_workers"), std::string::npos) << dfw.status().message();
}

TEST_F(DfwFlowLogTest, RuleInfoNamesTheRuleItsTagAndSection) {
  const auto http = dfw_->rule_info(kHttp);
  ASSERT_TRUE(http.ok()) << http.status().to_string();
  EXPECT_EQ(http->name, "web out");
  EXPECT_EQ(http->tag, "PCI \"web\" tier");
  EXPECT_EQ(http->section_id, "app");
  EXPECT_EQ(http->category, Category::kApplication);
  EXPECT_TRUE(http->logged);
  EXPECT_FALSE(http->is_default);
  const auto ntp = dfw_->rule_info(kStatelessNtp);
  ASSERT_TRUE(ntp.ok());
  EXPECT_TRUE(ntp->stateless);
  EXPECT_EQ(ntp->category, Category::kEnvironment);
  const auto def = dfw_->rule_info(kDefault);
  ASSERT_TRUE(def.ok());
  EXPECT_TRUE(def->is_default);
  EXPECT_EQ(def->tag, "deny the rest");
  EXPECT_EQ(def->action, RuleAction::kDrop);
  EXPECT_EQ(dfw_->rule_info(424242).status().code(), StatusCode::kNotFound);

  // A re-apply that renames the rule: rule_info follows the applied policy.
  Policy p = logged_policy();
  p.categories[static_cast<int>(Category::kApplication)][0].rules[0].tag = "renamed";
  p.categories[static_cast<int>(Category::kApplication)][0].rules[1].disabled = true;
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  EXPECT_EQ(dfw_->rule_info(kHttp)->tag, "renamed");
  EXPECT_EQ(dfw_->rule_info(kDns).status().code(), StatusCode::kNotFound);  // disabled

  auto engine = Engine::create({.max_workers = 1}).value();
  auto fresh = Dfw::create(*engine).value();
  EXPECT_EQ(fresh->rule_info(kHttp).status().code(), StatusCode::kNotFound);
}

// ---- text and protobuf -------------------------------------------------------------

TEST_F(DfwFlowLogTest, TextLinesNameTheRuleAndQuoteItsTag) {
  out(vm_tcp(40000, 80, kTcpSyn, 1000, 0));
  in(peer_tcp(5555, 22, kTcpSyn | kTcpEce, 1, 0));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 2u);
  const DfwRuleInfo http = dfw_->rule_info(records[0].rule_id).value();
  const FlowLogRule http_rule = http.log_rule();
  EXPECT_EQ(format_flow_log(records[0], &http_rule),
            "1001000000 vnic=3 from-vm pass rule=10 tcp 10.0.0.3:40000 -> 10.0.1.5:80 flags=S len=54 "
            "ct=new|trk gen=" + std::to_string(records[0].generation) +
                "/1 name=\"web out\" tag=\"PCI \\\"web\\\" tier\"");
  EXPECT_EQ(format_flow_log(records[1], nullptr),
            "1002000000 vnic=3 to-vm drop rule=9999/default tcp 10.0.1.5:5555 -> 10.0.0.3:22 flags=SE len=54 "
            "ct=new|trk reason=default-rule gen=" + std::to_string(records[1].generation) + "/1");
  const FlowLogRule control{.name = "a\nb", .tag = ""};
  EXPECT_NE(format_flow_log(records[1], &control).find("name=\"a\\x0ab\""), std::string::npos);
}

TEST_F(DfwFlowLogTest, ProtobufRecordsReadBackWithProtobufsDelimitedReader) {
  out(vm_tcp(40000, 80, kTcpSyn, 1000, 0));
  in(peer_tcp(5555, 22, kTcpSyn, 1, 0));
  const std::vector<FlowLogRecord> records = drain();
  ASSERT_EQ(records.size(), 2u);
  std::string bytes;
  for (const FlowLogRecord& r : records) {
    const DfwRuleInfo info = dfw_->rule_info(r.rule_id).value();
    const FlowLogRule rule = info.log_rule();
    append_flow_log_delimited(bytes, r, &rule);
  }
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  v1::FlowLogRecord first, second, none;
  bool clean_eof = false;
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&first, &stream, &clean_eof));
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&second, &stream, &clean_eof));
  EXPECT_FALSE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&none, &stream, &clean_eof));
  EXPECT_TRUE(clean_eof);

  EXPECT_EQ(first.rule_id(), kHttp);
  EXPECT_EQ(first.rule_name(), "web out");
  EXPECT_EQ(first.tag(), "PCI \"web\" tier");
  EXPECT_EQ(first.action(), v1::FlowLogRecord::PASS);
  EXPECT_EQ(first.direction(), v1::FlowLogRecord::FROM_VM);
  EXPECT_EQ(first.src_ip(), std::string("\x0a\x00\x00\x03", 4));
  EXPECT_EQ(first.dst_ip(), std::string("\x0a\x00\x01\x05", 4));
  EXPECT_EQ(first.protocol(), 6u);
  EXPECT_EQ(first.src_port(), 40000u);
  EXPECT_EQ(first.dst_port(), 80u);
  EXPECT_EQ(first.tcp_flags(), kTcpSyn);
  EXPECT_EQ(first.ct_state(), static_cast<std::uint32_t>(kCtNew | kCtTracked));
  EXPECT_EQ(first.reason(), "");
  EXPECT_EQ(first.time_ns(), records[0].time_ns);

  EXPECT_TRUE(second.default_rule());
  EXPECT_EQ(second.tag(), "deny the rest");
  EXPECT_EQ(second.action(), v1::FlowLogRecord::DROP);
  EXPECT_EQ(second.reason(), "default-rule");
  EXPECT_EQ(second.direction(), v1::FlowLogRecord::TO_VM);
}

TEST(FlowLogText, Ipv6EndpointsAreBracketed) {
  FlowLogRecord r;
  r.src = parse_ip("2001:db8::1").value();
  r.dst = parse_ip("2001:db8::2").value();
  r.protocol = 17;
  r.src_port = 1000;
  r.dst_port = 53;
  r.rule_id = 5;
  EXPECT_EQ(format_flow_log(r, nullptr),
            "0 vnic=0 from-vm pass rule=5 udp [2001:db8::1]:1000 -> [2001:db8::2]:53 len=0 ct=0 gen=0/0");
  r.protocol = 50;  // ESP: no ports
  EXPECT_EQ(format_flow_log(r, nullptr), "0 vnic=0 from-vm pass rule=5 50 2001:db8::1 -> 2001:db8::2 len=0 ct=0 gen=0/0");
}

}  // namespace
}  // namespace fw
