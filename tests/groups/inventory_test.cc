// The inventory and group evaluation (fw/inventory.h): every criterion
// operator, case folding, AND/OR, nested groups, static members and
// exclusions, incremental re-evaluation, address sources, the sink's
// deltas, realization and its failures, limits and bad input.
#include "fw/inventory.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "group_helpers.h"

namespace fw {
namespace {

using namespace fw::test;

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override { inv_ = Inventory::create({.sink = &sink_}).value(); }

  void groups(std::vector<Group> g) { ASSERT_TRUE(inv_->set_groups(policy_of(std::move(g))).ok()); }
  void vm(VmSpec spec) {
    auto s = inv_->upsert_vm(spec);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
  }
  // A VM with one vNIC (id) holding one address.
  static VmSpec simple_vm(std::string id, std::uint32_t vnic, const char* addr, std::vector<Tag> tags = {},
                          std::string name = "") {
    return VmSpec{.id = std::move(id), .name = std::move(name), .tags = std::move(tags),
                  .vnics = {VnicSpec{.id = vnic, .addresses = {ip(addr)}}}};
  }
  std::vector<std::uint32_t> vnics_of(const char* g) { return inv_->group_vnics(g).value(); }

  RecordingSink sink_;
  std::unique_ptr<Inventory> inv_;
};

struct OperatorCase {
  const char* what;
  Criterion criterion;
  bool web_matches;  // VM "Web-01" / OS "Ubuntu 22.04" / computer "WEB01.corp" / tags tier=Web, env=prod
};

TEST_F(InventoryTest, EveryOperatorOnEveryKeyCaseInsensitive) {
  using K = CriterionKey;
  using O = CriterionOperator;
  const std::vector<OperatorCase> cases = {
      {"tag equals, other case", crit(K::kTag, O::kEquals, {"WEB"}, "TIER"), true},
      {"tag equals, wrong scope", crit(K::kTag, O::kEquals, {"web"}, "env"), false},
      {"tag equals, any scope", crit(K::kTag, O::kEquals, {"prod"}), true},
      {"tag not equals a tag it has", crit(K::kTag, O::kNotEquals, {"web"}, "tier"), false},
      {"tag not equals a tag it lacks", crit(K::kTag, O::kNotEquals, {"db"}, "tier"), true},
      {"tag contains", crit(K::kTag, O::kContains, {"EB"}, "tier"), true},
      {"tag contains, no", crit(K::kTag, O::kContains, {"xyz"}), false},
      {"tag starts with", crit(K::kTag, O::kStartsWith, {"pr"}), true},
      {"tag starts with, not a prefix", crit(K::kTag, O::kStartsWith, {"rod"}), false},
      {"tag ends with", crit(K::kTag, O::kEndsWith, {"OD"}, "env"), true},
      {"tag in", crit(K::kTag, O::kIn, {"app", "WEB"}, "tier"), true},
      {"tag in, none", crit(K::kTag, O::kIn, {"app", "db"}, "tier"), false},
      {"tag not in", crit(K::kTag, O::kNotIn, {"app", "db"}, "tier"), true},
      {"tag not in, has one", crit(K::kTag, O::kNotIn, {"app", "web"}, "tier"), false},
      {"tag matches", crit(K::kTag, O::kMatches, {"^w.b$"}, "tier"), true},
      {"tag matches, anchored miss", crit(K::kTag, O::kMatches, {"^eb"}), false},
      {"name equals", crit(K::kVmName, O::kEquals, {"web-01"}), true},
      {"name not equals", crit(K::kVmName, O::kNotEquals, {"web-01"}), false},
      {"name contains", crit(K::kVmName, O::kContains, {"B-0"}), true},
      {"name starts with", crit(K::kVmName, O::kStartsWith, {"WEB"}), true},
      {"name ends with", crit(K::kVmName, O::kEndsWith, {"02"}), false},
      {"name in", crit(K::kVmName, O::kIn, {"db-01", "WEB-01"}), true},
      {"name not in", crit(K::kVmName, O::kNotIn, {"db-01"}), true},
      {"name matches (search, not full match)", crit(K::kVmName, O::kMatches, {"[0-9]+"}), true},
      {"name matches, miss", crit(K::kVmName, O::kMatches, {"^db"}), false},
      {"os contains", crit(K::kOsName, O::kContains, {"ubuntu"}), true},
      {"os starts with, miss", crit(K::kOsName, O::kStartsWith, {"windows"}), false},
      {"computer ends with", crit(K::kComputerName, O::kEndsWith, {".CORP"}), true},
      {"computer equals, miss", crit(K::kComputerName, O::kEquals, {"web01"}), false},
  };
  std::vector<Group> gs;
  for (std::size_t i = 0; i < cases.size(); ++i) gs.push_back(group("g" + std::to_string(i), {{cases[i].criterion}}));
  groups(gs);
  vm(VmSpec{.id = "vm-1", .name = "Web-01", .os_name = "Ubuntu 22.04", .computer_name = "WEB01.corp",
            .tags = {{"tier", "Web"}, {"env", "prod"}},
            .vnics = {{.id = 1, .addresses = {ip("10.0.0.1")}}}});
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string g = "g" + std::to_string(i);
    EXPECT_EQ(!inv_->group_vnics(g)->empty(), cases[i].web_matches) << cases[i].what;
    EXPECT_EQ(sink_.members(g).contains("10.0.0.1"), cases[i].web_matches) << cases[i].what;
  }
}

TEST_F(InventoryTest, NegativeOperatorsMatchAVmWithoutTags) {
  groups({group("not-quarantined", {{crit(CriterionKey::kTag, CriterionOperator::kNotEquals, {"quarantine"}, "sec")}}),
          group("not-db", {{crit(CriterionKey::kTag, CriterionOperator::kNotIn, {"db"})}})});
  vm(simple_vm("vm-1", 1, "10.0.0.1"));
  EXPECT_EQ(vnics_of("not-quarantined"), std::vector<std::uint32_t>{1});
  EXPECT_EQ(vnics_of("not-db"), std::vector<std::uint32_t>{1});
  // Gaining the tag takes it out; the tag index finds the group.
  ASSERT_TRUE(inv_->add_tag("vm-1", {"SEC", "Quarantine"}).ok());
  EXPECT_TRUE(vnics_of("not-quarantined").empty());
  EXPECT_EQ(vnics_of("not-db"), std::vector<std::uint32_t>{1});
  ASSERT_TRUE(inv_->remove_tag("vm-1", {"SEC", "Quarantine"}).ok());
  EXPECT_EQ(vnics_of("not-quarantined"), std::vector<std::uint32_t>{1});
}

TEST_F(InventoryTest, ExpressionsAreOrOfAnds) {
  using K = CriterionKey;
  using O = CriterionOperator;
  groups({group("web-prod-or-admin",
                {{crit(K::kTag, O::kEquals, {"web"}, "tier"), crit(K::kTag, O::kEquals, {"prod"}, "env")},
                 {crit(K::kVmName, O::kStartsWith, {"admin"})}})});
  vm(simple_vm("a", 1, "10.0.0.1", {{"tier", "web"}}));                  // one half of the AND
  vm(simple_vm("b", 2, "10.0.0.2", {{"tier", "web"}, {"env", "prod"}}));  // the AND
  vm(simple_vm("c", 3, "10.0.0.3", {}, "admin-7"));                       // the other expression
  EXPECT_EQ(vnics_of("web-prod-or-admin"), (std::vector<std::uint32_t>{2, 3}));
  ASSERT_TRUE(inv_->add_tag("a", {"env", "prod"}).ok());
  EXPECT_EQ(vnics_of("web-prod-or-admin"), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(sink_.members("web-prod-or-admin"), (std::set<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

TEST_F(InventoryTest, StaticMembersNestedGroupsAndExclusions) {
  Group web = group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"}, "tier")}});
  Group pinned;
  pinned.id = "pinned";
  pinned.vm_ids = {"db-1"};
  pinned.vnic_ids = {9};
  Group all;
  all.id = "all";
  all.groups = {"web", "pinned"};
  all.exclude_vm_ids = {"web-2"};
  Group outer;  // two levels of nesting
  outer.id = "outer";
  outer.groups = {"all"};
  groups({outer, all, web, pinned});  // parents before children: ranks, not order, decide
  vm(simple_vm("web-1", 1, "10.0.0.1", {{"tier", "web"}}));
  vm(simple_vm("web-2", 2, "10.0.0.2", {{"tier", "web"}}));
  vm(simple_vm("db-1", 3, "10.0.0.3"));
  vm(VmSpec{.id = "other", .vnics = {{.id = 9, .addresses = {ip("10.0.0.9")}}, {.id = 10, .addresses = {ip("10.0.0.10")}}}});
  EXPECT_EQ(vnics_of("web"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(vnics_of("pinned"), (std::vector<std::uint32_t>{3, 9}));
  EXPECT_EQ(vnics_of("all"), (std::vector<std::uint32_t>{1, 3, 9}));  // web-2 excluded
  EXPECT_EQ(vnics_of("outer"), (std::vector<std::uint32_t>{1, 3, 9}));
  // A tag change on a nested group's member reaches every ancestor.
  ASSERT_TRUE(inv_->remove_tag("web-1", {"tier", "web"}).ok());
  EXPECT_EQ(vnics_of("outer"), (std::vector<std::uint32_t>{3, 9}));
  EXPECT_EQ(sink_.members("outer"), (std::set<std::string>{"10.0.0.3", "10.0.0.9"}));
  ASSERT_TRUE(inv_->add_tag("web-1", {"tier", "web"}).ok());
  EXPECT_EQ(sink_.members("outer"), (std::set<std::string>{"10.0.0.1", "10.0.0.3", "10.0.0.9"}));
}

TEST_F(InventoryTest, DeltasCarryOnlyWhatChanged) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(VmSpec{.id = "vm-1", .vnics = {{.id = 1, .addresses = {ip("10.0.0.1"), ip("2001:db8::1")}}}});
  sink_.log.clear();
  ASSERT_TRUE(inv_->add_tag("vm-1", {"", "web"}).ok());
  ASSERT_EQ(sink_.log.size(), 1u);
  EXPECT_EQ(sink_.log[0].group_id, "web");
  EXPECT_EQ(sink_.log[0].added, (std::vector<Cidr>{host("10.0.0.1/32"), host("2001:db8::1/128")}));
  EXPECT_TRUE(sink_.log[0].removed.empty());
  // The same tag again, or a tag no group looks at: a sequence, no delta.
  const int calls = sink_.calls;
  auto again = inv_->add_tag("vm-1", {"", "web"});
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(inv_->add_tag("vm-1", {"", "unrelated"}).ok());
  EXPECT_EQ(sink_.calls, calls);
  EXPECT_EQ(inv_->realization().realized, inv_->realization().sequence);
  // An address change touches that address only.
  sink_.log.clear();
  ASSERT_TRUE(inv_->add_address(1, ip("10.0.0.7"), AddressSource::kLearned).ok());
  ASSERT_EQ(sink_.log.size(), 1u);
  EXPECT_EQ(sink_.log[0].added, std::vector<Cidr>{host("10.0.0.7/32")});
  ASSERT_TRUE(inv_->remove_tag("vm-1", {"", "web"}).ok());
  EXPECT_EQ(sink_.log.back().removed.size(), 3u);
  EXPECT_TRUE(sink_.members("web").empty());
}

TEST_F(InventoryTest, ATagChangeEvaluatesOnlyTheGroupsThatCanDependOnIt) {
  std::vector<Group> gs;
  for (int i = 0; i < 1000; ++i)
    gs.push_back(group("g" + std::to_string(i), {{crit(CriterionKey::kTag, CriterionOperator::kEquals,
                                                       {"t" + std::to_string(i)}, "app")}}));
  gs.push_back(group("prefix", {{crit(CriterionKey::kTag, CriterionOperator::kStartsWith, {"t1"}, "app")}}));
  gs.push_back(group("other-scope", {{crit(CriterionKey::kTag, CriterionOperator::kContains, {"t"}, "zone")}}));
  groups(gs);
  VmSpec spec = simple_vm("vm-1", 1, "10.0.0.1");
  spec.vnics.push_back({.id = 2, .addresses = {ip("10.0.0.2")}});
  vm(spec);
  const std::uint64_t before = inv_->stats().group_evaluations;
  ASSERT_TRUE(inv_->add_tag("vm-1", {"app", "t17"}).ok());
  // g17 and "prefix" (same scope, a non-exact operator), for two vNICs.
  EXPECT_EQ(inv_->stats().group_evaluations - before, 4u);
  EXPECT_EQ(vnics_of("g17"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(vnics_of("prefix"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_TRUE(vnics_of("g18").empty());
  EXPECT_TRUE(vnics_of("other-scope").empty());
}

TEST_F(InventoryTest, AddressSourcesAreKeptApart) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("vm-1", 1, "10.0.0.1", {{"", "web"}}));
  ASSERT_TRUE(inv_->add_address(1, ip("10.0.0.1"), AddressSource::kLearned).ok());
  auto info = inv_->vm("vm-1").value();
  ASSERT_EQ(info.vnics.size(), 1u);
  const std::vector<VnicAddress> both = {VnicAddress{.address = ip("10.0.0.1"), .declared = true, .learned = true}};
  EXPECT_EQ(info.vnics[0].addresses, both);
  // The feed withdraws it; switch security still has it: it stays.
  ASSERT_TRUE(inv_->remove_address(1, ip("10.0.0.1"), AddressSource::kDeclared).ok());
  EXPECT_EQ(sink_.members("web"), std::set<std::string>{"10.0.0.1"});
  ASSERT_TRUE(inv_->remove_address(1, ip("10.0.0.1"), AddressSource::kLearned).ok());
  EXPECT_TRUE(sink_.members("web").empty());
  // An upsert replaces declared addresses and keeps learned ones.
  ASSERT_TRUE(inv_->add_address(1, ip("10.0.0.50"), AddressSource::kLearned).ok());
  vm(simple_vm("vm-1", 1, "10.0.0.2", {{"", "web"}}));
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.2", "10.0.0.50"}));
}

TEST_F(InventoryTest, TwoVnicsSharingAnAddressKeepItUntilBothLeave) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("a", 1, "10.0.0.1", {{"", "web"}}));
  vm(simple_vm("b", 2, "10.0.0.1", {{"", "web"}}));
  ASSERT_TRUE(inv_->remove_vm("a").ok());
  EXPECT_EQ(sink_.members("web"), std::set<std::string>{"10.0.0.1"});
  ASSERT_TRUE(inv_->remove_tag("b", {"", "web"}).ok());
  EXPECT_TRUE(sink_.members("web").empty());
}

TEST_F(InventoryTest, UpsertReplacesFieldsTagsAndVnics) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}}),
          group("named", {{crit(CriterionKey::kVmName, CriterionOperator::kEquals, {"db"})}})});
  VmSpec spec{.id = "vm-1", .tags = {{"", "web"}},
              .vnics = {{.id = 1, .addresses = {ip("10.0.0.1")}}, {.id = 2, .addresses = {ip("10.0.0.2")}}}};
  vm(spec);
  EXPECT_EQ(vnics_of("web"), (std::vector<std::uint32_t>{1, 2}));
  spec.name = "DB";
  spec.tags = {};
  spec.vnics = {{.id = 2, .addresses = {ip("10.0.0.2")}}, {.id = 3, .addresses = {ip("10.0.0.3")}}};
  vm(spec);
  EXPECT_TRUE(vnics_of("web").empty());
  EXPECT_EQ(vnics_of("named"), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_TRUE(sink_.members("web").empty());
  EXPECT_EQ(sink_.members("named"), (std::set<std::string>{"10.0.0.2", "10.0.0.3"}));
  // vNIC 1 left with its VM's old spec: it is no longer known.
  EXPECT_EQ(inv_->add_address(1, ip("10.0.0.9"), AddressSource::kLearned).status().code(), StatusCode::kNotFound);
}

TEST_F(InventoryTest, BadInputIsRefusedAndChangesNothing) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("vm-1", 1, "10.0.0.1", {{"", "web"}}));
  const Realization before = inv_->realization();
  EXPECT_EQ(inv_->upsert_vm({.id = ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->upsert_vm({.id = std::string(300, 'x')}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->upsert_vm(simple_vm("vm-2", 1, "10.0.0.2")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(inv_->upsert_vm({.id = "vm-2", .vnics = {{.id = 4}, {.id = 4}}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->upsert_vm({.id = "vm-2", .vnics = {{.id = 4, .addresses = {IpAddress{}}}}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->add_tag("nope", {"", "web"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(inv_->add_tag("vm-1", {"", ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->remove_vm("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(inv_->add_address(77, ip("10.0.0.1"), AddressSource::kDeclared).status().code(), StatusCode::kNotFound);
  Policy bad = policy_of({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kMatches, {"(unclosed"})}})});
  EXPECT_EQ(inv_->set_groups(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(inv_->realization().sequence, before.sequence);
  EXPECT_EQ(inv_->vm_ids(), std::vector<std::string>{"vm-1"});
  EXPECT_EQ(vnics_of("web"), std::vector<std::uint32_t>{1});
  EXPECT_EQ(sink_.members("web"), std::set<std::string>{"10.0.0.1"});
}

TEST_F(InventoryTest, LimitsAreEnforced) {
  auto small = Inventory::create({.max_vms = 2, .max_tags_per_vm = 2, .max_addresses_per_vnic = 2}).value();
  ASSERT_TRUE(small->upsert_vm(simple_vm("a", 1, "10.0.0.1")).ok());
  ASSERT_TRUE(small->upsert_vm(simple_vm("b", 2, "10.0.0.2")).ok());
  EXPECT_EQ(small->upsert_vm(simple_vm("c", 3, "10.0.0.3")).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(small->upsert_vm(simple_vm("a", 1, "10.0.0.4")).ok()) << "replacing is not adding";
  ASSERT_TRUE(small->add_tag("a", {"", "x"}).ok());
  ASSERT_TRUE(small->add_tag("a", {"", "y"}).ok());
  EXPECT_EQ(small->add_tag("a", {"", "z"}).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(small->add_address(1, ip("10.0.0.5"), AddressSource::kLearned).ok());
  EXPECT_EQ(small->add_address(1, ip("10.0.0.6"), AddressSource::kLearned).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_TRUE(small->add_address(1, ip("10.0.0.5"), AddressSource::kDeclared).ok()) << "a known address";
  EXPECT_EQ(small->vm_count(), 2u);
}

TEST_F(InventoryTest, RealizationFollowsTheSinkAndSurvivesItsFailures) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("vm-1", 1, "10.0.0.1"));
  vm(simple_vm("vm-2", 2, "10.0.0.2"));
  Realization r = inv_->realization();
  EXPECT_EQ(r.realized, r.sequence);
  EXPECT_TRUE(inv_->wait_realized(r.sequence, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(inv_->wait_realized(r.sequence + 5, std::chrono::milliseconds(0)).code(), StatusCode::kInvalidArgument);

  sink_.fail_next = 2;
  const std::uint64_t s1 = inv_->add_tag("vm-1", {"", "web"}).value();  // the sink fails
  EXPECT_EQ(inv_->realization().realized, s1 - 1);
  EXPECT_EQ(inv_->realization().last_error.code(), StatusCode::kIoError);
  Status waited = inv_->wait_realized(s1, std::chrono::milliseconds(10));
  EXPECT_EQ(waited.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(waited.message().find("sink is down"), std::string::npos) << waited.message();
  const std::uint64_t s2 = inv_->add_tag("vm-2", {"", "web"}).value();  // fails again
  EXPECT_EQ(inv_->realization().realized, s1 - 1);
  EXPECT_TRUE(sink_.members("web").empty());
  // Recovery hands both changes at once; nothing was lost.
  ASSERT_TRUE(inv_->retry_sink().ok());
  EXPECT_EQ(inv_->realization().realized, s2);
  EXPECT_TRUE(inv_->realization().last_error.ok());
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  // A change undone before the sink accepted it never reaches the sink.
  sink_.fail_next = 1;
  ASSERT_TRUE(inv_->remove_tag("vm-1", {"", "web"}).ok());
  sink_.log.clear();
  ASSERT_TRUE(inv_->add_tag("vm-1", {"", "web"}).ok());
  EXPECT_TRUE(sink_.log.empty());
  EXPECT_EQ(inv_->realization().realized, inv_->realization().sequence);
}

TEST_F(InventoryTest, AWaiterOnAnotherThreadWakesWhenRealized) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("vm-1", 1, "10.0.0.1"));
  sink_.fail_next = 1;
  const std::uint64_t s = inv_->add_tag("vm-1", {"", "web"}).value();
  Status waited = internal_error("not run");
  std::thread waiter([&] { waited = inv_->wait_realized(s, std::chrono::seconds(30)); });
  ASSERT_TRUE(inv_->retry_sink().ok());
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited.to_string();
}

TEST_F(InventoryTest, NewPolicyRecomputesAndSendsOnlyTheDifference) {
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}}),
          group("old", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}})});
  vm(simple_vm("a", 1, "10.0.0.1", {{"", "web"}}));
  vm(simple_vm("b", 2, "10.0.0.2", {{"", "db"}}));
  sink_.log.clear();
  // "web" now selects web or db; "old" is gone; "db" is new.
  groups({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kIn, {"web", "db"})}}),
          group("db", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"db"})}})});
  std::map<std::string, GroupDelta> by_group;
  for (const GroupDelta& d : sink_.log) by_group[d.group_id] = d;
  ASSERT_EQ(by_group.size(), 2u);
  EXPECT_EQ(by_group["web"].added, std::vector<Cidr>{host("10.0.0.2/32")});
  EXPECT_TRUE(by_group["web"].removed.empty());
  EXPECT_EQ(by_group["db"].added, std::vector<Cidr>{host("10.0.0.2/32")});
  EXPECT_EQ(inv_->group_ids(), (std::vector<std::string>{"web", "db"}));
  EXPECT_EQ(inv_->group_addresses("old").status().code(), StatusCode::kNotFound);
}

// group_members() and take_changed_groups(), which fwctl feed prints from.
TEST_F(InventoryTest, MembersAndChangedGroups) {
  const Criterion web = crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"}, "tier");
  Group all;
  all.id = "all";
  all.groups = {"web"};
  groups({group("web", {{web}}), group("db", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"db"})}}), all});
  EXPECT_EQ(inv_->take_changed_groups(), (std::vector<std::string>{"web", "db", "all"}));  // set_groups: every group
  EXPECT_TRUE(inv_->take_changed_groups().empty());
  vm(simple_vm("a", 1, "10.0.0.1", {{.scope = "tier", .value = "web"}}));
  vm(VmSpec{.id = "b", .vnics = {VnicSpec{.id = 2}}});  // no tag, no address: no group
  EXPECT_EQ(inv_->take_changed_groups(), (std::vector<std::string>{"web", "all"}));
  // A member gains an address: its groups changed; a non-member's: none.
  ASSERT_TRUE(inv_->add_address(1, ip("2001:db8::1"), AddressSource::kLearned).ok());
  ASSERT_TRUE(inv_->add_address(2, ip("10.0.0.2"), AddressSource::kDeclared).ok());
  EXPECT_EQ(inv_->take_changed_groups(), (std::vector<std::string>{"web", "all"}));
  // A vNIC without addresses joining is a membership change too.
  ASSERT_TRUE(inv_->remove_address(2, ip("10.0.0.2"), AddressSource::kDeclared).ok());
  EXPECT_TRUE(inv_->take_changed_groups().empty());
  ASSERT_TRUE(inv_->add_tag("b", {.value = "db"}).ok());
  EXPECT_EQ(inv_->take_changed_groups(), (std::vector<std::string>{"db"}));
  EXPECT_EQ(inv_->group_members("db").value(), (std::vector<GroupMember>{{.vm_id = "b", .vnic_id = 2}}));
  EXPECT_EQ(inv_->group_members("all").value(),
            (std::vector<GroupMember>{{.vm_id = "a", .vnic_id = 1, .addresses = {ip("10.0.0.1"), ip("2001:db8::1")}}}));
  EXPECT_EQ(inv_->group_members("nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fw
