// Slot 2 (stateless DFW) through the engine: rule and default decisions,
// non-IP frames, fragments without ports, reject, direction, group changes
// live without recompilation or a new generation, all-or-nothing apply.
#include "fw/dfw.h"

#include <gtest/gtest.h>

#include "fw/engine.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::PacketBuilder;

constexpr std::uint32_t kVnic = 3;
const char* kVmMac = "02:00:00:00:00:03";
const char* kPeerMac = "02:00:00:00:00:09";

Cidr cidr(const char* text) { return parse_cidr(text).value(); }

Policy web_policy() {
  Policy p;
  Group web;
  web.id = "web";
  web.cidrs = {cidr("10.0.1.5/32")};
  p.groups = {web};
  Section s;
  s.id = "app";
  Rule allow_http;
  allow_http.id = 10;
  allow_http.destinations.groups = {"web"};
  allow_http.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{80, 80}}}};
  Rule reject_telnet;
  reject_telnet.id = 20;
  reject_telnet.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{23, 23}}}};
  reject_telnet.action = RuleAction::kReject;
  Rule ping_in;
  ping_in.id = 30;
  ping_in.direction = RuleDirection::kIn;
  ping_in.inline_services = {ServiceEntry{.protocol = kIpProtoIcmp, .icmp_type = 8}};
  s.rules = {allow_http, reject_telnet, ping_in};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = 9999;
  return p;
}

class DfwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_).value();
  }

  Verdict one(const test::Bytes& frame, Direction dir = Direction::kFromVm) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, kVnic, dir, std::span(&f, 1), std::span(&v, 1));
    return v;
  }
  static test::Bytes tcp_to(const char* dst, std::uint16_t port) {
    return PacketBuilder().eth(kVmMac, kPeerMac).ipv4("10.0.0.3", dst).tcp(40000, port, kTcpSyn).build();
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
};

TEST_F(DfwTest, RulesAndTheDefaultRuleDecideIpPackets) {
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  EXPECT_EQ(engine_->describe_chain(kVnic)->slots[kSlotDfw], "dfw");

  Verdict v = one(tcp_to("10.0.1.5", 80));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.slot, kSlotDfw);
  EXPECT_EQ(v.rule_id, 10u);

  v = one(tcp_to("10.0.1.5", 22));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 9999u);
  EXPECT_EQ(v.reason, DropReason::kDefaultRule);

  v = one(tcp_to("10.0.1.6", 80));  // not in group web
  EXPECT_EQ(v.action, Action::kDrop);

  v = one(tcp_to("192.0.2.1", 23));
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule_id, 20u);
  EXPECT_EQ(v.reason, DropReason::kRule);
}

TEST_F(DfwTest, DirectionAndIcmpType) {
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  const test::Bytes ping_in = PacketBuilder().eth(kPeerMac, kVmMac).ipv4("192.0.2.1", "10.0.0.3").icmp_echo(7, 1).build();
  const test::Bytes ping_out = PacketBuilder().eth(kVmMac, kPeerMac).ipv4("10.0.0.3", "192.0.2.1").icmp_echo(7, 1).build();
  const test::Bytes reply_in = PacketBuilder().eth(kPeerMac, kVmMac).ipv4("192.0.2.1", "10.0.0.3").icmp_echo(7, 1, true).build();
  EXPECT_EQ(one(ping_in, Direction::kToVm).rule_id, 30u);
  EXPECT_EQ(one(ping_out, Direction::kFromVm).rule_id, 9999u);  // rule 30 is in-only
  EXPECT_EQ(one(reply_in, Direction::kToVm).rule_id, 9999u);    // type 0, not 8
}

TEST_F(DfwTest, NonIpFramesAreNotTheDfwsAndFragmentsCarryNoPorts) {
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  Verdict v = one(PacketBuilder().eth(kVmMac, "ff:ff:ff:ff:ff:ff").arp().build());
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.slot, kNoSlot);  // no opinion
  // A non-first fragment to the web server: its ports are unknown, so the
  // port-80 rule must not pass it.
  const test::Bytes frag = PacketBuilder()
                               .eth(kVmMac, kPeerMac)
                               .ipv4("10.0.0.3", "10.0.1.5", {.fragment_offset = 1480, .protocol = kIpProtoTcp})
                               .payload(64)
                               .build();
  v = one(frag);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 9999u);
}

TEST_F(DfwTest, GroupChangesAreLiveWithoutANewGeneration) {
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  const std::uint64_t generation = engine_->generation();
  EXPECT_EQ(one(tcp_to("10.0.1.6", 80)).action, Action::kDrop);
  ASSERT_TRUE(dfw_->set_group_addresses("web", {cidr("10.0.1.6/32")}).ok());
  Verdict v = one(tcp_to("10.0.1.6", 80));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, 10u);
  EXPECT_EQ(v.generation, generation);
  EXPECT_EQ(one(tcp_to("10.0.1.5", 80)).action, Action::kPass);  // static member stays
  ASSERT_TRUE(dfw_->set_group_addresses("web", {}).ok());
  EXPECT_EQ(one(tcp_to("10.0.1.6", 80)).action, Action::kDrop);
  EXPECT_EQ(engine_->generation(), generation);

  EXPECT_EQ(dfw_->set_group_addresses("nope", {}).code(), StatusCode::kNotFound);
}

TEST_F(DfwTest, ApiSetGroupAddressesSurviveARecompile) {
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  ASSERT_TRUE(dfw_->set_group_addresses("web", {cidr("10.0.1.7/32")}).ok());
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  EXPECT_EQ(one(tcp_to("10.0.1.7", 80)).rule_id, 10u);
}

TEST_F(DfwTest, AFailedApplyChangesNothing) {
  EXPECT_EQ(dfw_->set_group_addresses("web", {}).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(dfw_->apply(web_policy(), {kVnic}).ok());
  const std::uint64_t generation = engine_->generation();

  Policy bad = web_policy();
  bad.categories[static_cast<int>(Category::kApplication)][0].rules[1].id = 10;  // duplicate id
  Status s = dfw_->apply(bad, {kVnic});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rule 10"), std::string::npos) << s.to_string();

  EXPECT_EQ(dfw_->apply(web_policy(), {kVnic, 77}).code(), StatusCode::kNotFound);  // 77 not attached
  EXPECT_EQ(engine_->generation(), generation);
  EXPECT_EQ(one(tcp_to("10.0.1.5", 80)).rule_id, 10u);  // the old policy still decides
}

}  // namespace
}  // namespace fw
