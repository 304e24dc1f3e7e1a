// Chain configuration files: text format, precise errors, all-or-nothing apply.
#include "fw/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "chain/frames.h"
#include "fw/engine.h"

namespace fw {
namespace {

constexpr const char* kNonIpDrop = R"(
  # allow IPv4, IPv6 and ARP; drop the rest
  l2_acl {
    rules { id: 10 name: "ipv4" ethertype: 0x0800 }
    rules { id: 11 name: "ipv6" ethertype: 0x86dd }
    rules { id: 12 name: "arp"  ethertype: 0x0806 }
    rules { id: 20 src_mac: "0a:1b:2c:00:00:00/ff:ff:ff:00:00:00" direction: TO_VM action: DROP }
    rules { id: 21 vlan: 0 dst_mac: "ff:ff:ff:ff:ff:ff" }
    default_action: DROP
    default_rule_id: 1000
  }
)";

TEST(ChainConfig, ParsesEveryField) {
  auto cfg = parse_chain_config(kNonIpDrop);
  ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
  ASSERT_TRUE(cfg->l2_acl.has_value());
  const L2AclConfig& acl = *cfg->l2_acl;
  ASSERT_EQ(acl.rules.size(), 5u);
  EXPECT_EQ(acl.rules[0].id, 10u);
  EXPECT_EQ(acl.rules[0].name, "ipv4");
  EXPECT_EQ(acl.rules[0].ethertype, kEtherTypeIpv4);
  EXPECT_FALSE(acl.rules[0].vlan.has_value());
  EXPECT_EQ(acl.rules[3].src_mac->address, test::mac(0x0a1b2c000000));
  EXPECT_EQ(acl.rules[3].src_mac->mask, test::mac(0xffffff000000));
  EXPECT_EQ(acl.rules[3].direction, DirectionMatch::kToVm);
  EXPECT_EQ(acl.rules[3].action, L2Action::kDrop);
  EXPECT_EQ(acl.rules[4].vlan, 0);
  EXPECT_EQ(acl.rules[4].dst_mac->mask, test::mac(0xffffffffffff));
  EXPECT_EQ(acl.default_action, L2Action::kDrop);
  EXPECT_EQ(acl.default_rule_id, 1000u);
}

TEST(ChainConfig, EmptyFileConfiguresNothing) {
  auto cfg = parse_chain_config("");
  ASSERT_TRUE(cfg.ok());
  EXPECT_FALSE(cfg->l2_acl.has_value());
}

TEST(ChainConfig, SyntaxErrorsCarryLineAndColumn) {
  auto cfg = parse_chain_config("l2_acl {\n  rules { id: 1 bogus_field: 3 }\n}\n");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("line 2"), std::string::npos) << cfg.status().message();
  EXPECT_NE(cfg.status().message().find("bogus_field"), std::string::npos);
}

TEST(ChainConfig, SemanticErrorsNameRuleAndField) {
  struct Case { const char* text; const char* expect; };
  const Case cases[] = {
      {"l2_acl { rules { id: 7 src_mac: \"zz:00:00:00:00:00\" } }", "l2_acl: rule 7: src_mac:"},
      {"l2_acl { rules { id: 7 dst_mac: \"02:00:00:00:00:01/ff\" } }", "rule 7: dst_mac: mask:"},
      {"l2_acl { rules { id: 8 ethertype: 0x10000 } }", "rule 8: ethertype:"},
      {"l2_acl { rules { id: 9 vlan: 5000 } }", "rule 9: vlan: 5000"},
      {"l2_acl { rules { id: 2 } rules { id: 2 } }", "rule 2: id: duplicate"},
  };
  for (const Case& c : cases) {
    auto cfg = parse_chain_config(c.text);
    ASSERT_FALSE(cfg.ok()) << c.text;
    EXPECT_NE(cfg.status().message().find(c.expect), std::string::npos) << cfg.status().message();
  }
}

TEST(ChainConfig, LoadReportsUnreadableFiles) {
  auto cfg = load_chain_config("/nonexistent/dir/chain.conf");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kIoError);
  EXPECT_NE(cfg.status().message().find("/nonexistent/dir/chain.conf"), std::string::npos);
}

TEST(ChainConfig, LoadRefusesADirectory) {
  auto cfg = load_chain_config(::testing::TempDir());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kIoError);
  EXPECT_NE(cfg.status().message().find("is a directory"), std::string::npos);
}

TEST(ChainConfig, ApplyIsDeclarativeForTheSlotsItManages) {
  auto engine = Engine::create().value();
  ASSERT_TRUE(engine->attach_vnic({.id = 1}).ok());
  ASSERT_TRUE(apply_chain_config(*engine, 1, parse_chain_config(kNonIpDrop).value()).ok());
  auto installed = engine->filter(1, kSlotL2Acl).value();
  ASSERT_NE(installed, nullptr);
  EXPECT_EQ(dynamic_cast<const L2AclFilter&>(*installed).config().rules.size(), 5u);
  // Re-applying a file without the ACL removes it.
  ASSERT_TRUE(apply_chain_config(*engine, 1, ChainConfig{}).ok());
  EXPECT_EQ(engine->filter(1, kSlotL2Acl).value(), nullptr);
  EXPECT_EQ(engine->filter(1, 16).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->filter(2, 0).status().code(), StatusCode::kNotFound);
}

TEST(ChainConfig, LoadPrefixesErrorsWithThePath) {
  const std::string path = ::testing::TempDir() + "/bad-chain.conf";
  std::ofstream(path) << "l2_acl { rules { id: 3 vlan: 4095 } }";
  auto cfg = load_chain_config(path);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find(path + ": l2_acl: rule 3: vlan"), std::string::npos)
      << cfg.status().message();
}

TEST(ChainConfig, ApplyInstallsAndAFailedApplyKeepsThePreviousChain) {
  auto engine = Engine::create().value();
  ASSERT_TRUE(engine->attach_vnic({.id = 1, .mac = test::mac(0x020000000001)}).ok());
  auto cfg = parse_chain_config(kNonIpDrop).value();
  ASSERT_TRUE(apply_chain_config(*engine, 1, cfg).ok());
  EXPECT_EQ(engine->describe_chain(1)->slots[kSlotL2Acl], "l2-acl");
  const std::uint64_t gen = engine->generation();

  ChainConfig bad;
  bad.l2_acl = L2AclConfig{.rules = {{.id = 0}}};
  EXPECT_FALSE(apply_chain_config(*engine, 1, bad).ok());
  EXPECT_EQ(engine->generation(), gen);
  EXPECT_FALSE(apply_chain_config(*engine, 42, cfg).ok());  // unknown vNIC

  auto worker = engine->create_worker().value();
  auto lldp = test::l2_frame(test::mac(0x020000000001), test::mac(0x0180c200000e), 0x88cc);
  Frame f(lldp);
  Verdict v;
  engine->process(*worker, 1, Direction::kFromVm, std::span(&f, 1), std::span(&v, 1));
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 1000u);
}

}  // namespace
}  // namespace fw
