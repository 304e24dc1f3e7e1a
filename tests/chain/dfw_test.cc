// Slot 2 (stateless DFW) through the engine: rule and default decisions,
// non-IP frames, fragments without ports, reject, direction, group changes
// live without recompilation or a new generation, all-or-nothing apply in
// one generation, incremental applies, membership deltas, per-rule counters.
#include "fw/dfw.h"

#include <gtest/gtest.h>

#include <thread>

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
    // Every packet classified on its own: these cases are about the policy
    // (connection tracking is dfw_stateful_test.cc's).
    dfw_ = Dfw::create(*engine_, {.stateful = false}).value();
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

// One burst of IPv4 packets is classified through LookupKeyV4s, a burst
// with any IPv6 packet through LookupKeys: the verdicts are those of the
// packets one by one either way.
TEST_F(DfwTest, BurstsOfEitherFamilyDecideAsSinglePackets) {
  Policy p = web_policy();
  p.groups[0].cidrs.push_back(cidr("2001:db8::5/128"));
  ASSERT_TRUE(dfw_->apply(p, {kVnic}).ok());
  auto tcp6_to = [](const char* dst, std::uint16_t port) {
    return PacketBuilder().eth(kVmMac, kPeerMac).ipv6("2001:db8::3", dst).tcp(40000, port, kTcpSyn).build();
  };
  // A non-first IPv4 fragment of a telnet datagram: no ports, so not rule 20.
  const test::Bytes fragment = PacketBuilder()
                                   .eth(kVmMac, kPeerMac)
                                   .ipv4("10.0.0.3", "192.0.2.1", {.fragment_offset = 64})
                                   .tcp(40000, 23, kTcpSyn)
                                   .build();
  const std::vector<test::Bytes> v4 = {tcp_to("10.0.1.5", 80), tcp_to("10.0.1.6", 80), tcp_to("192.0.2.1", 23),
                                       fragment, tcp_to("10.0.1.5", 22)};
  std::vector<test::Bytes> mixed = v4;
  mixed.insert(mixed.begin() + 1, tcp6_to("2001:db8::5", 80));
  mixed.push_back(tcp6_to("2001:db8::9", 23));
  const std::uint32_t want_v4[] = {10, 9999, 20, 9999, 9999};
  const std::uint32_t want_mixed[] = {10, 10, 9999, 20, 9999, 9999, 20};
  for (const std::vector<test::Bytes>* burst : {&v4, static_cast<const std::vector<test::Bytes>*>(&mixed)}) {
    std::vector<Frame> frames;
    for (const test::Bytes& b : *burst) frames.emplace_back(b);
    std::vector<Verdict> got(frames.size());
    engine_->process(*worker_, kVnic, Direction::kFromVm, frames, got);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Verdict single = one((*burst)[i]);
      EXPECT_EQ(got[i].action, single.action) << "packet " << i << " of " << burst->size();
      EXPECT_EQ(got[i].rule_id, single.rule_id) << "packet " << i << " of " << burst->size();
      EXPECT_EQ(got[i].rule_id, burst == &v4 ? want_v4[i] : want_mixed[i]) << "packet " << i;
    }
  }
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

Policy per_vnic_policy() {
  // Rules applied to vNICs 3, 4 and 5 separately, so the policy has several
  // rule lists; destinations in group "web" (nested in "all").
  Policy p = web_policy();
  Group all;
  all.id = "all";
  all.groups = {"web"};
  p.groups.push_back(all);
  auto& rules = p.categories[static_cast<int>(Category::kApplication)][0].rules;
  for (std::uint32_t v = 3; v <= 5; ++v) {
    Rule r;
    r.id = 100 * v;
    r.applied_to_vnics = {v};
    r.destinations.groups = {"all"};
    r.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{443, 443}}}};
    rules.insert(rules.begin(), r);
  }
  return p;
}

class DfwVnicsTest : public DfwTest {
 protected:
  void SetUp() override {
    DfwTest::SetUp();
    for (std::uint32_t v = 4; v <= 7; ++v) ASSERT_TRUE(engine_->attach_vnic({.id = v, .mac = parse_mac(kVmMac).value()}).ok());
  }
  Verdict on(std::uint32_t vnic, const test::Bytes& frame, Worker* worker = nullptr) {
    Frame f(frame);
    Verdict v;
    engine_->process(worker ? *worker : *worker_, vnic, Direction::kFromVm, std::span(&f, 1), std::span(&v, 1));
    return v;
  }
  const std::vector<std::uint32_t> vnics_{3, 4, 5, 6, 7};
};

TEST_F(DfwVnicsTest, ApplyOnManyVnicsIsOneGeneration) {
  const std::uint64_t g0 = engine_->generation();
  ASSERT_TRUE(dfw_->apply(per_vnic_policy(), vnics_).ok());
  EXPECT_EQ(engine_->generation(), g0 + 1);
  EXPECT_EQ(dfw_->last_apply().generation, g0 + 1);
  for (std::uint32_t v : vnics_) {
    EXPECT_EQ(engine_->describe_chain(v)->generation, g0 + 1);
    EXPECT_EQ(engine_->describe_chain(v)->slots[kSlotDfw], "dfw");
    const Verdict verdict = on(v, tcp_to("10.0.1.5", 443));
    EXPECT_EQ(verdict.generation, g0 + 1);
    EXPECT_EQ(verdict.rule_id, v <= 5 ? 100 * v : 9999u) << "vnic " << v;
  }
  // A re-apply is one more generation, not one per vNIC; a failing one none.
  ASSERT_TRUE(dfw_->apply(per_vnic_policy(), vnics_).ok());
  EXPECT_EQ(engine_->generation(), g0 + 2);
  EXPECT_EQ(dfw_->apply(per_vnic_policy(), {3, 4, 99}).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->generation(), g0 + 2);
}

TEST_F(DfwVnicsTest, IncrementalApplyRebuildsOnlyTheChangedList) {
  Policy p = per_vnic_policy();
  ASSERT_TRUE(dfw_->apply(p, vnics_).ok());
  DfwApplyStats st = dfw_->last_apply();
  EXPECT_FALSE(st.incremental);
  // vNICs 3, 4, 5 have two lists each (the in-only ping rule makes the
  // directions differ), plus the two of every other vNIC.
  EXPECT_EQ(st.rule_lists, 8u);
  EXPECT_EQ(st.lists_built, 8u);
  const std::size_t lists = st.rule_lists;

  // Edit the rule applied to vNIC 4: only vNIC 4's lists are rebuilt.
  Rule& r400 = p.categories[static_cast<int>(Category::kApplication)][0].rules[1];
  ASSERT_EQ(r400.id, 400u);
  r400.inline_services[0].dst_ports = {PortRange{8443, 8443}};
  ASSERT_TRUE(dfw_->apply(p, vnics_).ok());
  st = dfw_->last_apply();
  EXPECT_TRUE(st.incremental);
  EXPECT_EQ(st.rule_lists, lists);
  EXPECT_EQ(st.lists_built, 2u);  // vNIC 4, from and to the VM
  EXPECT_EQ(st.lists_reused, lists - 2);
  EXPECT_EQ(on(4, tcp_to("10.0.1.5", 8443)).rule_id, 400u);
  EXPECT_EQ(on(4, tcp_to("10.0.1.5", 443)).rule_id, 9999u);
  EXPECT_EQ(on(5, tcp_to("10.0.1.5", 443)).rule_id, 500u);

  // API-set addresses survive incremental and full applies.
  ASSERT_TRUE(dfw_->add_group_addresses("web", {cidr("10.0.9.0/24")}).ok());
  ASSERT_TRUE(dfw_->apply(p, vnics_).ok());
  EXPECT_EQ(dfw_->last_apply().lists_built, 0u);
  EXPECT_EQ(on(5, tcp_to("10.0.9.9", 443)).rule_id, 500u);
  p.groups[0].cidrs.push_back(cidr("10.0.8.0/24"));  // a group change: full compile
  ASSERT_TRUE(dfw_->apply(p, vnics_).ok());
  EXPECT_FALSE(dfw_->last_apply().incremental);
  EXPECT_EQ(on(5, tcp_to("10.0.9.9", 443)).rule_id, 500u);
  EXPECT_EQ(on(5, tcp_to("10.0.8.9", 443)).rule_id, 500u);
}

TEST_F(DfwVnicsTest, MembershipDeltasEqualSetGroupAddresses) {
  EXPECT_EQ(dfw_->add_group_addresses("web", {}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(dfw_->remove_group_addresses("web", {}).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(dfw_->apply(per_vnic_policy(), vnics_).ok());
  const std::uint64_t generation = engine_->generation();
  // Through the nested group "all": vNIC 3's rule names "all", which nests "web".
  ASSERT_TRUE(dfw_->add_group_addresses("web", {cidr("10.0.2.0/24"), cidr("10.0.3.1/32")}).ok());
  ASSERT_TRUE(dfw_->remove_group_addresses("web", {cidr("10.0.2.128/25"), cidr("10.0.1.5/32")}).ok());
  auto through_deltas = [&] {
    std::vector<std::uint32_t> ids;
    for (const char* dst : {"10.0.2.1", "10.0.2.127", "10.0.2.128", "10.0.2.255", "10.0.3.1", "10.0.3.2", "10.0.1.5"})
      ids.push_back(on(3, tcp_to(dst, 443)).rule_id);
    return ids;
  };
  const std::vector<std::uint32_t> got = through_deltas();
  // 10.0.1.5 is a static member: removing it from the API set keeps it.
  EXPECT_EQ(got, (std::vector<std::uint32_t>{300, 300, 9999, 9999, 300, 9999, 300}));
  EXPECT_EQ(dfw_->group_addresses().at("web"),
            (std::vector<Cidr>{cidr("10.0.2.0/25"), cidr("10.0.3.1/32")}));
  // The same set in one call answers the same.
  ASSERT_TRUE(dfw_->set_group_addresses("web", {}).ok());
  ASSERT_TRUE(dfw_->set_group_addresses("web", {cidr("10.0.2.0/25"), cidr("10.0.3.1/32")}).ok());
  EXPECT_EQ(through_deltas(), got);
  EXPECT_EQ(engine_->generation(), generation);  // live, no new generation
  EXPECT_EQ(dfw_->add_group_addresses("nope", {}).code(), StatusCode::kNotFound);
  EXPECT_EQ(dfw_->remove_group_addresses("web", {Cidr{parse_ip("10.0.0.1").value(), 33}}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(DfwVnicsTest, RuleCountersAreExactAcrossWorkersAndSurviveAReapply) {
  auto engine2 = Engine::create({.max_workers = 2}).value();
  for (std::uint32_t v : vnics_) ASSERT_TRUE(engine2->attach_vnic({.id = v, .mac = parse_mac(kVmMac).value()}).ok());
  auto dfw = Dfw::create(*engine2, {.stateful = false}).value();
  Policy p = per_vnic_policy();
  ASSERT_TRUE(dfw->apply(p, vnics_).ok());
  EXPECT_EQ(dfw->rule_stats(300).value().packets[0], 0u);

  const test::Bytes https = tcp_to("10.0.1.5", 443);   // rule 300 on vNIC 3
  const test::Bytes telnet = tcp_to("192.0.2.1", 23);  // rule 20 everywhere
  const test::Bytes other = tcp_to("192.0.2.1", 22);   // the default rule
  const test::Bytes ping_in = PacketBuilder().eth(kPeerMac, kVmMac).ipv4("192.0.2.1", "10.0.0.3").icmp_echo(7, 1).build();
  const test::Bytes arp = PacketBuilder().eth(kVmMac, "ff:ff:ff:ff:ff:ff").arp().build();
  // Each worker on its own thread: 3 https + 2 telnet + 1 other + 1 ARP
  // from vNIC 3, and 2 pings to vNIC 4.
  auto traffic = [&] {
    auto worker = engine2->create_worker().value();
    std::vector<Frame> frames{Frame(https), Frame(https), Frame(telnet), Frame(other), Frame(https), Frame(telnet), Frame(arp)};
    std::vector<Verdict> verdicts(frames.size());
    engine2->process(*worker, 3, Direction::kFromVm, frames, verdicts);
    std::vector<Frame> pings{Frame(ping_in), Frame(ping_in)};
    engine2->process(*worker, 4, Direction::kToVm, pings, std::span(verdicts).first(2));
  };
  std::thread(traffic).join();
  std::thread(traffic).join();
  auto both = [&] {
    std::thread a(traffic), b(traffic);
    a.join();
    b.join();
  };
  both();  // and two at once

  const auto out = static_cast<std::size_t>(Direction::kFromVm), in = static_cast<std::size_t>(Direction::kToVm);
  auto expect = [&](std::uint32_t id, std::uint64_t packets_out, std::uint64_t bytes_out, std::uint64_t packets_in,
                    std::uint64_t bytes_in) {
    const DfwRuleStats st = dfw->rule_stats(id).value();
    EXPECT_EQ(st.packets[out], packets_out) << "rule " << id;
    EXPECT_EQ(st.bytes[out], bytes_out) << "rule " << id;
    EXPECT_EQ(st.packets[in], packets_in) << "rule " << id;
    EXPECT_EQ(st.bytes[in], bytes_in) << "rule " << id;
  };
  expect(300, 4 * 3, 4 * 3 * https.size(), 0, 0);
  expect(20, 4 * 2, 4 * 2 * telnet.size(), 0, 0);
  expect(30, 0, 0, 4 * 2, 4 * 2 * ping_in.size());
  expect(9999, 4 * 1, 4 * other.size(), 0, 0);
  expect(400, 0, 0, 0, 0);
  EXPECT_TRUE(dfw->rule_stats(9999)->is_default);

  // Every enabled rule in evaluation order, then the default rule.
  std::vector<std::uint32_t> ids;
  for (const DfwRuleStats& st : dfw->rule_stats()) ids.push_back(st.rule_id);
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{500, 400, 300, 10, 20, 30, 9999}));

  // Re-apply with rule 300 edited and moved, rule 20 removed: counts are
  // kept by rule id; a removed rule is no longer reported, and continues
  // where it was if it comes back.
  auto& rules = p.categories[static_cast<int>(Category::kApplication)][0].rules;
  Rule r300 = rules[2];
  r300.inline_services[0].dst_ports = {PortRange{443, 444}};
  const Rule r20 = rules[4];
  rules.erase(rules.begin() + 4);
  rules.erase(rules.begin() + 2);
  rules.push_back(r300);
  ASSERT_TRUE(dfw->apply(p, vnics_).ok());
  EXPECT_EQ(dfw->rule_stats(20).status().code(), StatusCode::kNotFound);
  std::thread(traffic).join();
  expect(300, 5 * 3, 5 * 3 * https.size(), 0, 0);
  expect(9999, 5 * 1 + 2, 5 * other.size() + 2 * telnet.size(), 0, 0);  // telnet now hits the default
  rules.push_back(r20);
  ASSERT_TRUE(dfw->apply(p, vnics_).ok());
  expect(20, 4 * 2, 4 * 2 * telnet.size(), 0, 0);
}

}  // namespace
}  // namespace fw
