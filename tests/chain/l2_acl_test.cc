// Slot 0 L2 ACL: every match field, first-match order, default rule,
// validation errors, per-rule hit counters.
#include "fw/l2_acl.h"

#include <gtest/gtest.h>

#include "chain/frames.h"
#include "fw/engine.h"

namespace fw {
namespace {

using test::l2_frame;
using test::mac;

const MacAddress kVm = mac(0x020000000001);
const MacAddress kPeer = mac(0x020000000002);
const MacAddress kOtherVendor = mac(0x0a1b2c000099);

class L2AclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Engine::create({.max_workers = 2}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = 1, .mac = kVm}).ok());
    worker_ = engine_->create_worker().value();
  }

  std::shared_ptr<const L2AclFilter> install(const L2AclConfig& cfg) {
    auto f = make_l2_acl(cfg, *engine_);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_TRUE(engine_->set_filter(1, kSlotL2Acl, *f).ok());
    return *f;
  }

  Verdict one(const std::vector<std::uint8_t>& frame, Direction dir = Direction::kFromVm) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, 1, dir, std::span(&f, 1), std::span(&v, 1));
    return v;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(L2AclTest, DropEverythingThatIsNotIpv4Ipv6OrArp) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 10, .ethertype = kEtherTypeIpv4},
               {.id = 11, .ethertype = kEtherTypeIpv6},
               {.id = 12, .ethertype = kEtherTypeArp}};
  cfg.default_action = L2Action::kDrop;
  cfg.default_rule_id = 999;
  install(cfg);

  struct Case { const char* what; std::uint16_t ethertype; std::vector<std::uint16_t> vids; Action action; std::uint32_t rule; };
  const Case cases[] = {
      {"ipv4", kEtherTypeIpv4, {}, Action::kPass, 10},
      {"ipv6", kEtherTypeIpv6, {}, Action::kPass, 11},
      {"arp", kEtherTypeArp, {}, Action::kPass, 12},
      {"ipv4 in 802.1q (ethertype after the tag)", kEtherTypeIpv4, {100}, Action::kPass, 10},
      {"ipv6 in qinq", kEtherTypeIpv6, {10, 20}, Action::kPass, 11},
      {"lldp", 0x88cc, {}, Action::kDrop, 999},
      {"ipx", 0x8137, {}, Action::kDrop, 999},
      {"mpls in 802.1q", 0x8847, {5}, Action::kDrop, 999},
  };
  for (const Case& c : cases) {
    Verdict v = one(l2_frame(kVm, kPeer, c.ethertype, c.vids));
    EXPECT_EQ(v.action, c.action) << c.what;
    EXPECT_EQ(v.rule_id, c.rule) << c.what;
    EXPECT_EQ(v.slot, kSlotL2Acl) << c.what;
    EXPECT_EQ(v.reason, c.action == Action::kDrop ? DropReason::kDefaultRule : DropReason::kNone) << c.what;
  }
}

TEST_F(L2AclTest, FirstMatchWins) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 1, .src_mac = MacMatch{kVm}, .action = L2Action::kDrop},
               {.id = 2, .ethertype = kEtherTypeIpv4, .action = L2Action::kAllow}};
  install(cfg);
  Verdict v = one(l2_frame(kVm, kPeer, kEtherTypeIpv4));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 1u);
  EXPECT_EQ(v.reason, DropReason::kRule);
  v = one(l2_frame(kPeer, kVm, kEtherTypeIpv4), Direction::kToVm);
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, 2u);
}

TEST_F(L2AclTest, MacMasksMatchPrefixes) {
  L2AclConfig cfg;
  // Drop frames from the 0a:1b:2c OUI to any multicast destination.
  cfg.rules = {{.id = 5,
                .src_mac = MacMatch{mac(0x0a1b2c000000), mac(0xffffff000000)},
                .dst_mac = MacMatch{mac(0x010000000000), mac(0x010000000000)},
                .action = L2Action::kDrop}};
  install(cfg);
  EXPECT_EQ(one(l2_frame(kOtherVendor, mac(0x01005e000001), kEtherTypeIpv4), Direction::kToVm).action, Action::kDrop);
  EXPECT_EQ(one(l2_frame(kOtherVendor, mac(0xffffffffffff), kEtherTypeArp), Direction::kToVm).action, Action::kDrop);
  EXPECT_EQ(one(l2_frame(kOtherVendor, kVm, kEtherTypeIpv4), Direction::kToVm).action, Action::kPass);  // unicast
  EXPECT_EQ(one(l2_frame(kPeer, mac(0x01005e000001), kEtherTypeIpv4), Direction::kToVm).action, Action::kPass);
}

TEST_F(L2AclTest, VlanMatchesUntaggedTaggedOrAny) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 1, .vlan = 0, .action = L2Action::kAllow},      // untagged
               {.id = 2, .vlan = 100, .action = L2Action::kAllow},    // outer VID 100
               {.id = 3, .action = L2Action::kDrop}};                 // anything else
  install(cfg);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4)).rule_id, 1u);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {100})).rule_id, 2u);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {100, 7})).rule_id, 2u);  // outer tag counts
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {7, 100})).rule_id, 3u);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {101})).rule_id, 3u);
}

TEST_F(L2AclTest, PriorityTaggedFramesCountAsUntagged) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 1, .vlan = 0, .action = L2Action::kAllow}};
  cfg.default_action = L2Action::kDrop;
  install(cfg);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {0})).rule_id, 1u);  // 802.1p, VID 0
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4, {0x2000 | 5})).action, Action::kDrop);  // PCP 1, VID 5
}

TEST_F(L2AclTest, DirectionMatch) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 1, .direction = DirectionMatch::kToVm, .action = L2Action::kDrop}};
  install(cfg);
  EXPECT_EQ(one(l2_frame(kPeer, kVm, kEtherTypeIpv4), Direction::kToVm).action, Action::kDrop);
  EXPECT_EQ(one(l2_frame(kVm, kPeer, kEtherTypeIpv4), Direction::kFromVm).action, Action::kPass);
}

TEST_F(L2AclTest, EmptyRuleListAppliesTheDefault) {
  L2AclConfig cfg;
  cfg.default_action = L2Action::kDrop;
  install(cfg);
  Verdict v = one(l2_frame(kVm, kPeer, kEtherTypeIpv4));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 0xffffffffu);
  EXPECT_EQ(v.reason, DropReason::kDefaultRule);
}

TEST_F(L2AclTest, RuleHitsCountEachRuleAndTheDefault) {
  L2AclConfig cfg;
  cfg.rules = {{.id = 10, .ethertype = kEtherTypeIpv4}, {.id = 11, .ethertype = kEtherTypeArp}};
  cfg.default_action = L2Action::kDrop;
  cfg.default_rule_id = 99;
  auto f = install(cfg);
  for (int i = 0; i < 3; ++i) one(l2_frame(kVm, kPeer, kEtherTypeIpv4));
  one(l2_frame(kVm, kPeer, kEtherTypeArp));
  one(l2_frame(kVm, kPeer, 0x88cc));
  one(l2_frame(kVm, kPeer, 0x88cc));
  auto hits = f->rule_hits();
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].rule_id, 10u);
  EXPECT_EQ(hits[0].packets, 3u);
  EXPECT_EQ(hits[1].packets, 1u);
  EXPECT_EQ(hits[2].rule_id, 99u);
  EXPECT_EQ(hits[2].packets, 2u);
}

TEST(L2AclValidation, ErrorsNameTheRuleAndField) {
  struct Case { const char* what; L2AclConfig cfg; std::string expect; };
  std::vector<Case> cases;
  {
    L2AclConfig c; c.rules = {{.id = 0}};
    cases.push_back({"id 0", c, "rule id: 0 is reserved"});
  }
  {
    L2AclConfig c; c.rules = {{.id = 4}, {.id = 4}};
    cases.push_back({"duplicate", c, "rule 4: id: duplicate"});
  }
  {
    L2AclConfig c; c.rules = {{.id = 12, .vlan = 4095}};
    cases.push_back({"vlan", c, "rule 12: vlan: 4095"});
  }
  {
    L2AclConfig c; c.rules = {{.id = 3, .src_mac = MacMatch{mac(0x0a1b2c000001), mac(0xffffff000000)}}};
    cases.push_back({"mac outside mask", c, "rule 3: src_mac: address 0a:1b:2c:00:00:01 has bits outside mask"});
  }
  {
    L2AclConfig c; c.rules = {{.id = 5}}; c.default_rule_id = 5;
    cases.push_back({"default id collision", c, "rule 5: id: collides with default_rule_id"});
  }
  {
    L2AclConfig c; c.default_rule_id = 0;
    cases.push_back({"default id 0", c, "default_rule_id: 0 is reserved"});
  }
  for (const Case& c : cases) {
    auto r = make_l2_acl(c.cfg, 1);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

}  // namespace
}  // namespace fw
