// Dynamic applied-to, end to end: Inventory -> DFW sink -> Dfw -> Engine.
// A rule applied to a group whose members come from tags applies to a vNIC
// from the moment its VM gets the tag, and stops when the tag goes; only the
// vNICs whose rules changed get a new slot-2 filter.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/inventory.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::PacketBuilder;

constexpr std::uint32_t kRuleHttpsEverywhere = 5;
constexpr std::uint32_t kRuleWeb = 10;
constexpr std::uint32_t kRuleDb = 20;
constexpr std::uint32_t kRuleAudit = 30;
constexpr std::uint32_t kRuleWebNotCanary = 40;
constexpr std::uint32_t kDefault = 9999;

Criterion tag_equals(const char* scope, const char* value) {
  return Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .scope = scope, .values = {value}};
}

Group tag_group(const char* id, const char* value) {
  Group g;
  g.id = id;
  g.criteria = {CriteriaExpression{.all_of = {tag_equals("tier", value)}}};
  return g;
}

// Rules, in order:
//   5   allow TCP/443, applied everywhere
//   10  drop, applied to "web" (tier=web)
//   20  reject, applied to "db" (tier=db)
//   40  drop UDP, applied to "web-but-canary" (nests "web", excludes vm-2)
//   30  allow, sources "audit" (an address group, applied everywhere): no applied-to
// default allow 9999.
Policy tiers_policy() {
  Policy p;
  Group web = tag_group("web", "web");
  Group db = tag_group("db", "db");
  Group audit = tag_group("audit", "audit");
  Group web_not_canary;
  web_not_canary.id = "web-but-canary";
  web_not_canary.groups = {"web"};
  web_not_canary.exclude_vm_ids = {"vm-2"};
  p.groups = {web, db, audit, web_not_canary};
  Section s;
  s.id = "tiers";
  Rule https;
  https.id = kRuleHttpsEverywhere;
  https.inline_services = {ServiceEntry{.protocol = 6, .dst_ports = {PortRange{443, 443}}}};
  https.action = RuleAction::kAllow;
  Rule web_rule;
  web_rule.id = kRuleWeb;
  web_rule.applied_to_groups = {"web"};
  web_rule.inline_services = {ServiceEntry{.protocol = 6}};
  web_rule.action = RuleAction::kDrop;
  Rule db_rule;
  db_rule.id = kRuleDb;
  db_rule.applied_to_groups = {"db"};
  db_rule.action = RuleAction::kReject;
  Rule canary;
  canary.id = kRuleWebNotCanary;
  canary.applied_to_groups = {"web-but-canary"};
  canary.inline_services = {ServiceEntry{.protocol = 17}};
  canary.action = RuleAction::kDrop;
  Rule audit_rule;
  audit_rule.id = kRuleAudit;
  audit_rule.sources.groups = {"audit"};
  audit_rule.action = RuleAction::kAllow;
  s.rules = {https, web_rule, db_rule, canary, audit_rule};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kAllow;
  p.default_rule_id = kDefault;
  return p;
}

std::string vm_id(std::uint32_t vnic) { return "vm-" + std::to_string(vnic); }
std::string mac_of(std::uint32_t vnic) { return "02:00:00:00:00:0" + std::to_string(vnic); }
std::string ip_of(std::uint32_t vnic) { return "10.0.0." + std::to_string(vnic); }

class AppliedToTest : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kVnics[] = {1, 2, 3};

  void SetUp() override {
    engine_ = Engine::create({.max_workers = 1}).value();
    for (std::uint32_t v : kVnics) ASSERT_TRUE(engine_->attach_vnic({.id = v, .mac = parse_mac(mac_of(v)).value()}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_).value();
    sink_ = make_dfw_group_sink(*dfw_);
    inventory_ = Inventory::create({.sink = sink_.get()}).value();
    policy_ = tiers_policy();
    ASSERT_TRUE(dfw_->apply(policy_, {1, 2, 3}).ok());
    ASSERT_TRUE(inventory_->set_groups(policy_).ok());
    for (std::uint32_t v : kVnics) ASSERT_TRUE(upsert(v, {}).ok());
  }

  StatusOr<std::uint64_t> upsert(std::uint32_t vnic, std::vector<Tag> tags) {
    return inventory_->upsert_vm({.id = vm_id(vnic),
                                  .tags = std::move(tags),
                                  .vnics = {{.id = vnic,
                                             .mac = parse_mac(mac_of(vnic)).value(),
                                             .addresses = {parse_ip(ip_of(vnic)).value()}}}});
  }
  void tag(std::uint32_t vnic, const char* value) {
    auto s = inventory_->add_tag(vm_id(vnic), {.scope = "tier", .value = value});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    ASSERT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok()) << inventory_->realization().last_error.to_string();
  }
  void untag(std::uint32_t vnic, const char* value) {
    auto s = inventory_->remove_tag(vm_id(vnic), {.scope = "tier", .value = value});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    ASSERT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok()) << inventory_->realization().last_error.to_string();
  }

  // A first packet (a new source port each time) from the vNIC's VM.
  Verdict from_vm(std::uint32_t vnic, std::uint8_t protocol = 6, std::uint16_t dst_port = 80) {
    PacketBuilder b;
    b.eth(mac_of(vnic), "02:00:00:00:00:99").ipv4(ip_of(vnic), "192.0.2.1");
    if (protocol == 6) b.tcp(next_port_++, dst_port, kTcpSyn);
    else b.udp(next_port_++, dst_port);
    return send(vnic, b.build());
  }
  Verdict send(std::uint32_t vnic, const test::Bytes& frame) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, vnic, Direction::kFromVm, std::span(&f, 1), std::span(&v, 1));
    return v;
  }
  const Filter* dfw_filter(std::uint32_t vnic) const { return engine_->filter(vnic, kSlotDfw).value().get(); }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
  std::unique_ptr<GroupSink> sink_;
  std::unique_ptr<Inventory> inventory_;
  Policy policy_;
  std::uint16_t next_port_ = 40000;
};

TEST_F(AppliedToTest, ATagAppliesTheGroupsRulesToTheNextPacketAndItsRemovalStopsThem) {
  EXPECT_EQ(from_vm(1).rule_id, kDefault);
  const std::uint64_t policy_generation = dfw_->policy_generation();

  // A UDP connection opened before the tag: state is not reset by it.
  const test::Bytes udp_flow =
      PacketBuilder().eth(mac_of(1), "02:00:00:00:00:99").ipv4(ip_of(1), "192.0.2.1").udp(5555, 53).build();
  ASSERT_EQ(send(1, udp_flow).rule_id, kDefault);

  tag(1, "web");
  Verdict v = from_vm(1);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.slot, kSlotDfw);
  EXPECT_EQ(v.rule_id, kRuleWeb);
  EXPECT_EQ(v.reason, DropReason::kRule);
  // The vNIC's other rules, in order: the HTTPS rule applied everywhere
  // comes first.
  EXPECT_EQ(from_vm(1, 6, 443).rule_id, kRuleHttpsEverywhere);
  // The nested group (web minus vm-2) applies too.
  EXPECT_EQ(from_vm(1, 17, 53).rule_id, kRuleWebNotCanary);
  // The established connection keeps its decision (no reset, no new policy generation).
  v = send(1, udp_flow);
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, kDefault);
  EXPECT_EQ(dfw_->policy_generation(), policy_generation);
  // Other vNICs: unchanged.
  EXPECT_EQ(from_vm(2).rule_id, kDefault);
  EXPECT_EQ(from_vm(3).rule_id, kDefault);

  untag(1, "web");
  EXPECT_EQ(from_vm(1).rule_id, kDefault);
  EXPECT_EQ(from_vm(1, 17, 53).rule_id, kDefault);
  EXPECT_EQ(dfw_->group_vnics(), (std::map<std::string, std::vector<std::uint32_t>>{}));
}

TEST_F(AppliedToTest, OnlyTheVnicsWhoseRulesChangeGetANewFilterInOneGeneration) {
  const Filter* before[4] = {nullptr, dfw_filter(1), dfw_filter(2), dfw_filter(3)};
  std::uint64_t generation = engine_->generation();
  tag(1, "web");
  EXPECT_EQ(engine_->generation(), generation + 1) << "one engine generation per change";
  EXPECT_NE(dfw_filter(1), before[1]);
  EXPECT_EQ(dfw_filter(2), before[2]) << "an unaffected vNIC keeps its filter";
  EXPECT_EQ(dfw_filter(3), before[3]);
  DfwAppliedToStats st = dfw_->last_applied_to_update();
  EXPECT_EQ(st.vnics_reinstalled, 1u);
  EXPECT_EQ(st.vnics_skipped, 0u);
  // One new list: both directions have the same rules here (no rule has a
  // direction), so the second direction finds the first's.
  EXPECT_EQ(st.lists_built, 1u);
  EXPECT_EQ(st.lists_found, 1u);
  EXPECT_EQ(st.generation, engine_->generation());

  // A second VM with the same tag: the same lists, shared with vNIC 1 (no
  // new list, one filter object for both).
  tag(3, "web");
  st = dfw_->last_applied_to_update();
  EXPECT_EQ(st.lists_built, 0u);
  EXPECT_EQ(st.lists_found, 2u);
  EXPECT_EQ(dfw_filter(3), dfw_filter(1));
  EXPECT_EQ(dfw_filter(2), before[2]);

  // A group no rule is applied to (audit: an address group): its addresses
  // change, no filter is installed anywhere.
  generation = engine_->generation();
  const Filter* now[4] = {nullptr, dfw_filter(1), dfw_filter(2), dfw_filter(3)};
  tag(2, "audit");
  EXPECT_EQ(engine_->generation(), generation);
  for (std::uint32_t v : kVnics) EXPECT_EQ(dfw_filter(v), now[v]);
  EXPECT_EQ(from_vm(2).rule_id, kRuleAudit) << "its address joined the audit group";

  // Back to no applied-to group: the filter of the last apply() again.
  untag(1, "web");
  EXPECT_EQ(dfw_filter(1), before[1]);
}

TEST_F(AppliedToTest, AVmMovingBetweenGroupsGetsTheOtherGroupsRulesInOneStep) {
  tag(2, "web");
  EXPECT_EQ(from_vm(2).rule_id, kRuleWeb);
  // vm-2 is excluded from "web-but-canary": its rule 40 does not apply.
  EXPECT_EQ(from_vm(2, 17, 53).rule_id, kDefault);

  // One upsert that swaps the tag: the vNIC leaves web and joins db in one
  // batch, so one generation and no moment with both or neither.
  const std::uint64_t generation = engine_->generation();
  auto s = upsert(2, {{.scope = "tier", .value = "db"}});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(engine_->generation(), generation + 1);
  Verdict v = from_vm(2);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule_id, kRuleDb);
  EXPECT_EQ(from_vm(2, 6, 443).rule_id, kRuleHttpsEverywhere);

  // In both: the first rule in policy order decides.
  tag(2, "web");
  EXPECT_EQ(from_vm(2).rule_id, kRuleWeb);
  EXPECT_EQ(from_vm(2, 17, 53).rule_id, kRuleDb);
  EXPECT_EQ(dfw_->group_vnics(), (std::map<std::string, std::vector<std::uint32_t>>{{"db", {2}}, {"web", {2}}}));
}

TEST_F(AppliedToTest, AVnicThatLeavesTheInventoryLosesTheRules) {
  tag(1, "web");
  tag(2, "web");
  ASSERT_EQ(from_vm(1).rule_id, kRuleWeb);
  // The VM goes: its vNIC leaves every group, its filter goes back to the
  // policy's own lists.
  auto s = inventory_->remove_vm(vm_id(1));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(from_vm(1).rule_id, kDefault);
  EXPECT_EQ(from_vm(2).rule_id, kRuleWeb);
  // A VM that keeps existing but loses the vNIC: the same.
  s = inventory_->upsert_vm({.id = vm_id(2), .tags = {{.scope = "tier", .value = "web"}}});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(from_vm(2).rule_id, kDefault);
  EXPECT_EQ(dfw_->group_vnics(), (std::map<std::string, std::vector<std::uint32_t>>{}));
}

TEST_F(AppliedToTest, AVnicTheEngineDoesNotKnowIsSkippedAndTheChangeStillRealizes) {
  // vNIC 7 is in the inventory, not attached to the engine (and not in the
  // apply()): nothing to install, the sink succeeds.
  auto s = inventory_->upsert_vm({.id = "vm-7", .tags = {{.scope = "tier", .value = "web"}},
                                  .vnics = {{.id = 7, .addresses = {parse_ip("10.0.0.7").value()}}}});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(inventory_->wait_realized(*s, std::chrono::milliseconds(0)).ok()) << inventory_->realization().last_error.to_string();
  EXPECT_EQ(dfw_->last_applied_to_update().vnics_skipped, 1u);
  EXPECT_EQ(dfw_->last_applied_to_update().vnics_reinstalled, 0u);
  // Attached and applied later: apply() includes its dynamic membership.
  ASSERT_TRUE(engine_->attach_vnic({.id = 7, .mac = parse_mac("02:00:00:00:00:07").value()}).ok());
  ASSERT_TRUE(dfw_->apply(policy_, {1, 2, 3, 7}).ok());
  const test::Bytes frame =
      PacketBuilder().eth("02:00:00:00:00:07", "02:00:00:00:00:99").ipv4("10.0.0.7", "192.0.2.1").tcp(1, 80, kTcpSyn).build();
  EXPECT_EQ(send(7, frame).rule_id, kRuleWeb);
}

TEST_F(AppliedToTest, DirectCallsHaveSetSemanticsAndRefuseUnknownGroups) {
  EXPECT_EQ(dfw_->update_group_vnics({{.group_id = "nope", .joined = {1}}}).code(), StatusCode::kNotFound);
  EXPECT_EQ(from_vm(1).rule_id, kDefault);
  ASSERT_TRUE(dfw_->update_group_vnics({{.group_id = "db", .joined = {1, 1}}}).ok());
  ASSERT_TRUE(dfw_->update_group_vnics({{.group_id = "db", .joined = {1}}}).ok());
  EXPECT_EQ(dfw_->last_applied_to_update().vnics_unchanged, 1u);
  EXPECT_EQ(from_vm(1).rule_id, kRuleDb);
  ASSERT_TRUE(dfw_->update_group_vnics({{.group_id = "db", .left = {1, 3}}}).ok());
  EXPECT_EQ(from_vm(1).rule_id, kDefault);

  auto fresh = Dfw::create(*engine_).value();
  EXPECT_EQ(fresh->update_group_vnics({{.group_id = "db", .joined = {1}}}).code(), StatusCode::kFailedPrecondition);
}

// The same final tags reached in any order give the same rules on every
// vNIC, and the same as a fresh apply() of the policy with that membership.
TEST_F(AppliedToTest, TheFinalStateDoesNotDependOnTheOrderOfTagChanges) {
  const char* values[] = {"web", "db", "audit"};
  struct Op {
    std::uint32_t vnic;
    const char* value;
    bool add;
  };
  std::mt19937 rng(7);
  for (int round = 0; round < 12; ++round) {
    // Target: each (vNIC, value) on or off; the ops reach it through noise.
    std::map<std::pair<std::uint32_t, std::string>, bool> target;
    std::vector<Op> ops;
    for (std::uint32_t v : kVnics)
      for (const char* value : values) {
        const bool on = rng() % 2 == 0;
        target[{v, value}] = on;
        for (unsigned k = rng() % 3; k > 0; --k) ops.push_back({v, value, k % 2 == 0});
      }
    std::shuffle(ops.begin(), ops.end(), rng);
    for (const Op& op : ops) {
      if (op.add) tag(op.vnic, op.value);
      else untag(op.vnic, op.value);
    }
    // Settle to the target in a shuffled order.
    std::vector<std::pair<std::uint32_t, std::string>> keys;
    for (const auto& [k, on] : target) keys.push_back(k);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (const auto& k : keys) {
      if (target[k]) tag(k.first, k.second.c_str());
      else untag(k.first, k.second.c_str());
    }
    auto expected_tcp80 = [&](std::uint32_t v) {
      if (target[{v, "web"}]) return kRuleWeb;
      if (target[{v, "db"}]) return kRuleDb;
      if (target[{v, "audit"}]) return kRuleAudit;
      return kDefault;
    };
    // UDP: rule 20 (db), then 40 (web, but not vm-2), then 30 (audit).
    auto expected_udp = [&](std::uint32_t v) {
      if (target[{v, "db"}]) return kRuleDb;
      if (target[{v, "web"}] && v != 2) return kRuleWebNotCanary;
      if (target[{v, "audit"}]) return kRuleAudit;
      return kDefault;
    };
    for (std::uint32_t v : kVnics) {
      EXPECT_EQ(from_vm(v).rule_id, expected_tcp80(v)) << "round " << round << " vnic " << v;
      EXPECT_EQ(from_vm(v, 17, 53).rule_id, expected_udp(v)) << "round " << round << " vnic " << v;
    }
    // The same membership compiled from scratch decides the same.
    ASSERT_TRUE(dfw_->apply(policy_, {1, 2, 3}).ok());
    for (std::uint32_t v : kVnics) {
      EXPECT_EQ(from_vm(v).rule_id, expected_tcp80(v)) << "after re-apply, round " << round << " vnic " << v;
      EXPECT_EQ(from_vm(v, 17, 53).rule_id, expected_udp(v)) << "after re-apply, round " << round << " vnic " << v;
    }
  }
}

// Inventory side: the deltas carry the vNICs that joined and left, and a
// change undone before the sink saw it is not sent.
class RecordingSink final : public GroupSink {
 public:
  Status apply(std::span<const GroupDelta> deltas) override {
    batches.emplace_back(deltas.begin(), deltas.end());
    return fail ? Status(StatusCode::kFailedPrecondition, "down") : Status::Ok();
  }
  std::vector<std::vector<GroupDelta>> batches;
  bool fail = false;
};

TEST(InventoryVnicDeltas, JoinsAndLeavesAreSentOnceAndUndoneChangesNotAtAll) {
  RecordingSink sink;
  auto inventory = Inventory::create({.sink = &sink}).value();
  Policy p = tiers_policy();
  ASSERT_TRUE(inventory->set_groups(p).ok());
  ASSERT_TRUE(inventory->upsert_vm({.id = "vm-1", .vnics = {{.id = 1}, {.id = 4}}}).ok());
  sink.batches.clear();
  ASSERT_TRUE(inventory->add_tag("vm-1", {.scope = "tier", .value = "web"}).ok());
  ASSERT_EQ(sink.batches.size(), 1u);
  std::map<std::string, std::vector<std::uint32_t>> joined;
  for (const GroupDelta& d : sink.batches[0]) {
    EXPECT_TRUE(d.vnics_left.empty());
    EXPECT_TRUE(d.added.empty()) << "the vNICs have no address: only membership changed";
    joined[d.group_id] = d.vnics_joined;
  }
  EXPECT_EQ(joined, (std::map<std::string, std::vector<std::uint32_t>>{{"web", {1, 4}}, {"web-but-canary", {1, 4}}}));

  // The sink is down while the VM loses and regains the tag: nothing net.
  sink.fail = true;
  ASSERT_TRUE(inventory->remove_tag("vm-1", {.scope = "tier", .value = "web"}).ok());
  ASSERT_TRUE(inventory->add_tag("vm-1", {.scope = "tier", .value = "web"}).ok());
  sink.fail = false;
  sink.batches.clear();
  ASSERT_TRUE(inventory->retry_sink().ok());
  for (const auto& batch : sink.batches)
    for (const GroupDelta& d : batch) EXPECT_TRUE(d.vnics_joined.empty() && d.vnics_left.empty()) << d.group_id;

  sink.batches.clear();
  ASSERT_TRUE(inventory->remove_vm("vm-1").ok());
  ASSERT_EQ(sink.batches.size(), 1u);
  for (const GroupDelta& d : sink.batches[0]) EXPECT_EQ(d.vnics_left, (std::vector<std::uint32_t>{1, 4})) << d.group_id;
  EXPECT_EQ(inventory->stats().vnics_joined, 4u);
  EXPECT_EQ(inventory->stats().vnics_left, 4u);

  // A new policy restates membership against what the sink saw: unchanged
  // groups send nothing.
  ASSERT_TRUE(inventory->upsert_vm({.id = "vm-2", .tags = {{.scope = "tier", .value = "db"}}, .vnics = {{.id = 2}}}).ok());
  sink.batches.clear();
  ASSERT_TRUE(inventory->set_groups(p).ok());
  for (const auto& batch : sink.batches)
    for (const GroupDelta& d : batch) EXPECT_TRUE(d.vnics_joined.empty() && d.vnics_left.empty()) << d.group_id;
}

}  // namespace
}  // namespace fw
