// End to end through the datapath: a VM gets a tag, and the next packet from
// its IP through an fw::Engine with an fw::Dfw policy is decided by the rule
// that names the group; the tag is removed, and the next packet is not.
#include <gtest/gtest.h>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/inventory.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::PacketBuilder;

constexpr std::uint32_t kVnic = 3;
const char* kVmMac = "02:00:00:00:00:03";
const char* kPeerMac = "02:00:00:00:00:09";

// Quarantine: whatever carries tag security=quarantine is dropped by rule 10;
// everything else falls to the default rule (allow, 9999).
Policy quarantine_policy() {
  Policy p;
  Group q;
  q.id = "quarantine";
  q.criteria = {CriteriaExpression{.all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals,
                                                        .scope = "security", .values = {"quarantine"}}}}};
  p.groups = {q};
  Section s;
  s.id = "isolate";
  Rule drop;
  drop.id = 10;
  drop.sources.groups = {"quarantine"};
  drop.action = RuleAction::kDrop;
  s.rules = {drop};
  p.categories[static_cast<int>(Category::kEmergency)] = {s};
  p.default_action = RuleAction::kAllow;
  p.default_rule_id = 9999;
  return p;
}

class DfwSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_).value();
    sink_ = make_dfw_group_sink(*dfw_);
    inventory_ = Inventory::create({.sink = sink_.get()}).value();
  }
  // Each packet opens a new connection (a new source port): membership
  // decides new connections, whether or not the DFW tracks state.
  Verdict from_vm(const char* src) {
    test::Bytes frame =
        PacketBuilder().eth(kVmMac, kPeerMac).ipv4(src, "192.0.2.1").tcp(next_port_++, 80, kTcpSyn).build();
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, kVnic, Direction::kFromVm, std::span(&f, 1), std::span(&v, 1));
    return v;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
  std::unique_ptr<GroupSink> sink_;
  std::unique_ptr<Inventory> inventory_;
  std::uint16_t next_port_ = 40000;
};

TEST_F(DfwSinkTest, ATagDecidesTheNextPacketAndItsRemovalTheOneAfter) {
  const Policy policy = quarantine_policy();
  ASSERT_TRUE(dfw_->apply(policy, {kVnic}).ok());
  ASSERT_TRUE(inventory_->set_groups(policy).ok());
  ASSERT_TRUE(inventory_->upsert_vm({.id = "vm-3", .name = "web-03",
                                     .vnics = {{.id = kVnic, .mac = parse_mac(kVmMac).value(),
                                                .addresses = {parse_ip("10.0.0.3").value()}}}})
                  .ok());
  Verdict v = from_vm("10.0.0.3");
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, 9999u);

  auto tagged = inventory_->add_tag("vm-3", {.scope = "Security", .value = "QUARANTINE"});
  ASSERT_TRUE(tagged.ok());
  ASSERT_TRUE(inventory_->wait_realized(*tagged, std::chrono::milliseconds(0)).ok())
      << "the DFW sink applies synchronously: live when the call returns";
  v = from_vm("10.0.0.3");
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.slot, kSlotDfw);
  EXPECT_EQ(v.rule_id, 10u);
  EXPECT_EQ(v.reason, DropReason::kRule);
  // Another address of the same vNIC, learned later, is in the group too.
  ASSERT_TRUE(inventory_->add_address(kVnic, parse_ip("10.0.0.33").value(), AddressSource::kLearned).ok());
  EXPECT_EQ(from_vm("10.0.0.33").rule_id, 10u);

  auto untagged = inventory_->remove_tag("vm-3", {.scope = "Security", .value = "QUARANTINE"});
  ASSERT_TRUE(untagged.ok());
  EXPECT_EQ(inventory_->realization().realized, *untagged);
  v = from_vm("10.0.0.3");
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, 9999u);
  EXPECT_EQ(from_vm("10.0.0.33").rule_id, 9999u);
}

TEST_F(DfwSinkTest, ChangesBeforeThePolicyIsAppliedAreRealizedOnceItIs) {
  const Policy policy = quarantine_policy();
  ASSERT_TRUE(inventory_->set_groups(policy).ok());
  ASSERT_TRUE(inventory_->upsert_vm({.id = "vm-3", .tags = {{"security", "quarantine"}},
                                     .vnics = {{.id = kVnic, .addresses = {parse_ip("10.0.0.3").value()}}}})
                  .ok());
  // No policy in the DFW yet: the sink fails, nothing is lost, the realized
  // sequence says so.
  const Realization r = inventory_->realization();
  EXPECT_LT(r.realized, r.sequence);
  EXPECT_EQ(r.last_error.code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(dfw_->apply(policy, {kVnic}).ok());
  ASSERT_TRUE(inventory_->retry_sink().ok());
  EXPECT_TRUE(inventory_->wait_realized(r.sequence, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(from_vm("10.0.0.3").rule_id, 10u);
}

// exclude_vm_ids across nesting: "prod" nests "web" and excludes vm-canary.
// The canary is in web (rule 20 matches it) but never in prod (rule 10,
// first, names prod): the sink excludes its addresses from prod in the DFW.
TEST_F(DfwSinkTest, AnExcludedVmInANestedGroupIsNotMatchedByRulesNamingTheParent) {
  Policy p;
  Group web;
  web.id = "web";
  web.criteria = {CriteriaExpression{.all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals,
                                                          .scope = "tier", .values = {"web"}}}}};
  Group prod;
  prod.id = "prod";
  prod.groups = {"web"};
  prod.exclude_vm_ids = {"vm-canary"};
  p.groups = {web, prod};
  Section s;
  s.id = "s";
  Rule to_prod;
  to_prod.id = 10;
  to_prod.sources.groups = {"prod"};
  to_prod.action = RuleAction::kDrop;
  Rule to_web;
  to_web.id = 20;
  to_web.sources.groups = {"web"};
  to_web.action = RuleAction::kDrop;
  s.rules = {to_prod, to_web};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kAllow;
  p.default_rule_id = 9999;
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  ASSERT_TRUE(inventory_->set_groups(p).ok());
  const Tag tier_web{.scope = "tier", .value = "web"};
  auto vm = [](const char* id, std::uint32_t vnic, const char* address, std::vector<Tag> tags) {
    return VmSpec{.id = id, .tags = std::move(tags), .vnics = {{.id = vnic, .addresses = {parse_ip(address).value()}}}};
  };
  ASSERT_TRUE(inventory_->upsert_vm(vm("vm-a", 10, "10.0.0.10", {tier_web})).ok());
  ASSERT_TRUE(inventory_->upsert_vm(vm("vm-canary", 11, "10.0.0.11", {tier_web})).ok());
  EXPECT_EQ(from_vm("10.0.0.10").rule_id, 10u);
  EXPECT_EQ(from_vm("10.0.0.11").rule_id, 20u) << "in web, excluded from prod";
  EXPECT_EQ(dfw_->group_exclusions(), (std::map<std::string, std::vector<Cidr>>{
                                          {"prod", {parse_cidr("10.0.0.11/32").value()}}}));
  // A learned address of the canary is excluded too; its removal ends that.
  ASSERT_TRUE(inventory_->add_address(11, parse_ip("10.0.0.111").value(), AddressSource::kLearned).ok());
  EXPECT_EQ(from_vm("10.0.0.111").rule_id, 20u);
  ASSERT_TRUE(inventory_->remove_address(11, parse_ip("10.0.0.111").value(), AddressSource::kLearned).ok());
  EXPECT_EQ(from_vm("10.0.0.111").rule_id, 9999u);
  // The canary untagged: in neither group.
  ASSERT_TRUE(inventory_->remove_tag("vm-canary", tier_web).ok());
  EXPECT_EQ(from_vm("10.0.0.11").rule_id, 9999u);
  // Its address moves to vm-a's vNIC (the canary gone): the exclusion ends
  // and the address is prod's through web.
  ASSERT_TRUE(inventory_->remove_vm("vm-canary").ok());
  EXPECT_TRUE(dfw_->group_exclusions().empty());
  ASSERT_TRUE(inventory_->add_address(10, parse_ip("10.0.0.11").value(), AddressSource::kLearned).ok());
  EXPECT_EQ(from_vm("10.0.0.11").rule_id, 10u);
  // A new policy (same groups, a rule changed) keeps the exclusions: the
  // canary comes back and is excluded again, then the DFW re-applies.
  ASSERT_TRUE(inventory_->remove_address(10, parse_ip("10.0.0.11").value(), AddressSource::kLearned).ok());
  ASSERT_TRUE(inventory_->upsert_vm(vm("vm-canary", 11, "10.0.0.11", {tier_web})).ok());
  p.categories[static_cast<int>(Category::kApplication)][0].rules[1].id = 21;
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  EXPECT_EQ(from_vm("10.0.0.11").rule_id, 21u);
  EXPECT_EQ(from_vm("10.0.0.10").rule_id, 10u);
  // A policy whose group structure changes (a full compile) carries them too.
  p.groups.push_back(Group{.id = "spare"});
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  ASSERT_TRUE(inventory_->set_groups(p).ok());
  EXPECT_EQ(from_vm("10.0.0.11").rule_id, 21u);
  EXPECT_EQ(from_vm("10.0.0.10").rule_id, 10u);
}

}  // namespace
}  // namespace fw
