// The policy compiler (libfw/policy/compile.h): IntervalSet, hand-written
// NSX DFW semantics, rule-list sharing, and a differential test against a
// brute-force evaluator written directly over the fw::Policy model (no
// atoms, no classifier), through rounds of set_group_addresses().
#include "libfw/policy/compile.h"

#include <gtest/gtest.h>

#include <map>

#include <functional>
#include <iostream>
#include <random>
#include <set>

#include "fw/packet.h"

namespace fw::policy_compile {
namespace {

using classify::LookupKey;

Cidr cidr(std::string_view text) { return parse_cidr(text).value(); }
IpAddress ip(std::string_view text) { return parse_ip(text).value(); }
IpRange range(std::string_view text) { return parse_ip_range(text).value(); }

LookupKey key(std::string_view src, std::string_view dst, std::uint8_t protocol = 6, std::uint16_t src_port = 1234,
              std::uint16_t dst_port = 80) {
  LookupKey k;
  k.src = ip(src);
  k.dst = ip(dst);
  k.protocol = protocol;
  k.src_port = src_port;
  k.dst_port = dst_port;
  return k;
}

// ---- IntervalSet -------------------------------------------------------------

TEST(IntervalSet, UnionSubtractAndBlocks) {
  IntervalSet a;
  a.add(cidr("10.0.0.0/24"));
  a.add(cidr("10.0.1.0/24"));  // adjacent: merged
  a.add(range("10.0.0.5-10.0.0.9"));
  ASSERT_EQ(a.intervals(IpFamily::kIpv4).size(), 1u);
  EXPECT_EQ(a.ranges(), std::vector<IpRange>{range("10.0.0.0-10.0.1.255")});
  EXPECT_EQ(a.size(), 512u);

  IntervalSet b = IntervalSet::of(range("10.0.0.10-10.0.0.19"));
  b.add(cidr("10.0.1.255/32"));
  b.add(cidr("2001:db8::/127"));
  const IntervalSet d = IntervalSet::difference(a, b);
  EXPECT_EQ(d.ranges(), (std::vector<IpRange>{range("10.0.0.0-10.0.0.9"), range("10.0.0.20-10.0.1.254")}));
  EXPECT_TRUE(d.contains(ip("10.0.0.9")));
  EXPECT_FALSE(d.contains(ip("10.0.0.10")));
  EXPECT_FALSE(d.contains(ip("10.0.1.255")));
  EXPECT_FALSE(d.contains(ip("2001:db8::1")));

  IntervalSet u = d;
  u.unite(b);
  EXPECT_EQ(u.ranges(), (std::vector<IpRange>{range("10.0.0.0-10.0.1.255"), range("2001:db8::-2001:db8::1")}));
  EXPECT_TRUE(u.contains(ip("2001:db8::1")));
  EXPECT_FALSE(u.contains(ip("2001:db8::2")));

  // The extremes of the key space: no overflow.
  IntervalSet all;
  all.add(cidr("::/0"));
  all.add(cidr("0.0.0.0/0"));
  EXPECT_EQ(all.size(), ~IntervalSet::Key{0});
  IntervalSet hole = IntervalSet::difference(all, IntervalSet::of(cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")));
  hole.subtract(IntervalSet::of(cidr("::/128")));
  hole.subtract(IntervalSet::of(cidr("255.255.255.255/32")));
  EXPECT_EQ(hole.ranges(), (std::vector<IpRange>{range("0.0.0.0-255.255.255.254"),
                                                 range("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")}));
  hole.add(cidr("::/128"));
  hole.add(cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"));
  EXPECT_EQ(hole.intervals(IpFamily::kIpv6).size(), 1u);
  EXPECT_TRUE(IntervalSet::difference(hole, all).empty());
}

TEST(IntervalSet, MatchesABitSetModel) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<bool> ma(256), mb(256);
    IntervalSet a, b;
    for (int i = 0; i < 4; ++i) {
      for (auto [set, model] : {std::pair{&a, &ma}, std::pair{&b, &mb}}) {
        const unsigned lo = rng() % 256, hi = std::min<unsigned>(255, lo + rng() % 40);
        set->add(IpFamily::kIpv4, 0x0a000000u + lo, 0x0a000000u + hi);
        for (unsigned x = lo; x <= hi; ++x) (*model)[x] = true;
      }
    }
    IntervalSet u = a, d = a;
    u.unite(b);
    d.subtract(b);
    for (unsigned x = 0; x < 256; ++x) {
      const IpAddress addr = IpAddress::v4(0x0a000000u + x);
      ASSERT_EQ(u.contains(addr), ma[x] || mb[x]);
      ASSERT_EQ(d.contains(addr), ma[x] && !mb[x]);
    }
    for (const auto* s : {&u, &d}) {
      const auto& v = s->intervals(IpFamily::kIpv4);
      for (std::size_t i = 1; i < v.size(); ++i) ASSERT_GT(v[i].lo, v[i - 1].hi + 1);  // disjoint, not adjacent
    }
  }
}

// ---- the brute-force evaluator -------------------------------------------------

bool cidr_contains(const Cidr& c, const IpAddress& a) {
  if (c.address.family != a.family) return false;
  for (int bit = 0; bit < c.prefix_length; ++bit)
    if (((c.address.bytes[bit / 8] ^ a.bytes[bit / 8]) >> (7 - bit % 8)) & 1) return false;
  return true;
}
bool range_contains(const IpRange& r, const IpAddress& a) {
  return r.first.family == a.family && IntervalSet::key_of(r.first) <= IntervalSet::key_of(a) &&
         IntervalSet::key_of(a) <= IntervalSet::key_of(r.last);
}

struct Oracle {
  const Policy* policy;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  std::map<std::string, std::vector<Cidr>> group_addresses;
  // API-set addresses as sets (what add/remove deltas build), on top of
  // group_addresses.
  std::map<std::string, IntervalSet> group_sets;
  mutable std::size_t jumps = 0;  // jumps taken, to see the tests exercise them

  const Group& group(const std::string& id) const {
    for (const Group& g : policy->groups) if (g.id == id) return g;
    throw std::runtime_error("no group " + id);
  }
  bool vnic_has(std::uint32_t v, const IpAddress& a) const {
    auto it = vnic_addresses.find(v);
    if (it == vnic_addresses.end()) return false;
    for (const Cidr& c : it->second) if (cidr_contains(c, a)) return true;
    return false;
  }
  bool in_group(const std::string& id, const IpAddress& a) const {
    const Group& g = group(id);
    bool in = false;
    for (const Cidr& c : g.cidrs) in = in || cidr_contains(c, a);
    for (const IpRange& r : g.ranges) in = in || range_contains(r, a);
    for (const std::string& n : g.groups) in = in || in_group(n, a);
    for (std::uint32_t v : g.vnic_ids) in = in || vnic_has(v, a);
    if (auto it = group_addresses.find(id); it != group_addresses.end())
      for (const Cidr& c : it->second) in = in || cidr_contains(c, a);
    if (auto it = group_sets.find(id); it != group_sets.end()) in = in || it->second.contains(a);
    for (const Cidr& c : g.exclude_cidrs) if (cidr_contains(c, a)) return false;
    return in;
  }
  bool group_has_vnic(const std::string& id, std::uint32_t v) const {
    const Group& g = group(id);
    for (std::uint32_t x : g.vnic_ids) if (x == v) return true;
    for (const std::string& n : g.groups) if (group_has_vnic(n, v)) return true;
    return false;
  }
  bool side(const AddressSide& s, const IpAddress& a) const {
    if (s.is_any()) return true;
    bool in = false;
    for (const std::string& g : s.groups) in = in || in_group(g, a);
    for (const Cidr& c : s.cidrs) in = in || cidr_contains(c, a);
    for (const IpRange& r : s.ranges) in = in || range_contains(r, a);
    for (std::uint32_t v : s.vnic_ids) in = in || vnic_has(v, a);
    return in != s.negate;
  }
  static bool ports(const std::vector<PortRange>& list, std::uint16_t port) {
    if (list.empty()) return true;
    for (const PortRange& r : list) if (r.first <= port && port <= r.last) return true;
    return false;
  }
  static bool entry(const ServiceEntry& e, const LookupKey& k) {
    if (!e.protocol) return true;
    if (*e.protocol != k.protocol) return false;
    if (e.icmp_type && (k.dst_port >> 8) != *e.icmp_type) return false;
    if (e.icmp_code && (k.dst_port & 0xff) != *e.icmp_code) return false;
    return ports(e.src_ports, k.src_port) && ports(e.dst_ports, k.dst_port);
  }
  bool services(const Rule& r, const LookupKey& k) const {
    if (r.services.empty() && r.inline_services.empty()) return true;
    for (const std::string& id : r.services)
      for (const Service& s : policy->services)
        if (s.id == id) for (const ServiceEntry& e : s.entries) if (entry(e, k)) return true;
    for (const ServiceEntry& e : r.inline_services) if (entry(e, k)) return true;
    return false;
  }
  bool applies(const Rule& r, std::uint32_t v, Direction d) const {
    if (r.direction == RuleDirection::kIn && d != Direction::kToVm) return false;
    if (r.direction == RuleDirection::kOut && d != Direction::kFromVm) return false;
    if (r.applied_to_groups.empty() && r.applied_to_vnics.empty()) return true;
    for (std::uint32_t x : r.applied_to_vnics) if (x == v) return true;
    for (const std::string& g : r.applied_to_groups) if (group_has_vnic(g, v)) return true;
    return false;
  }
  // Decision::position: the rule's index among enabled rules in evaluation order.
  std::uint32_t position_of(const Rule& wanted) const {
    std::uint32_t position = 0;
    for (std::size_t c = 0; c < kCategoryCount; ++c)
      for (const Section& s : policy->categories[c])
        for (const Rule& r : s.rules) {
          if (&r == &wanted) return position;
          if (!r.disabled) ++position;
        }
    throw std::runtime_error("rule not in the policy");
  }
  // The decision and the tag of its rule (CompiledPolicy::tag_of()).
  struct Answer {
    Decision decision;
    std::string_view tag;
  };
  Decision decide(std::uint32_t v, Direction d, const LookupKey& k) const { return answer(v, d, k).decision; }
  Answer answer(std::uint32_t v, Direction d, const LookupKey& k) const {
    for (std::size_t c = 0; c < kCategoryCount; ++c) {
      for (const Section& s : policy->categories[c]) {
        for (const Rule& r : s.rules) {
          if (r.disabled || !applies(r, v, d) || !side(r.sources, k.src) || !side(r.destinations, k.dst) ||
              !services(r, k))
            continue;
          if (r.action == RuleAction::kJumpToApplication) {
            ++jumps;
            c = static_cast<std::size_t>(Category::kApplication) - 1;  // the loop's ++c: Application
            goto next_category;
          }
          return {Decision{r.id, r.action, false, s.stateless, r.logged, static_cast<Category>(c), position_of(r)},
                  r.tag};
        }
      }
    next_category:;
    }
    return {Decision{policy->default_rule_id, policy->default_action, true, false, policy->default_logged,
                     Category::kApplication},
            policy->default_tag};
  }
};

std::string describe(const Decision& d) {
  return "rule " + std::to_string(d.rule_id) + " action " + std::to_string(int(d.action)) +
         (d.is_default ? " default" : "") + " cat " + std::to_string(int(d.category)) +
         (d.stateless ? " stateless" : "") + (d.logged ? " logged" : "") + " position " + std::to_string(d.position);
}

// ---- hand-written cases ----------------------------------------------------------

Rule rule(std::uint32_t id, RuleAction action = RuleAction::kAllow) {
  Rule r;
  r.id = id;
  r.name = "r" + std::to_string(id);
  r.action = action;
  return r;
}
Section section(std::string id, std::vector<Rule> rules, bool stateless = false) {
  Section s;
  s.id = std::move(id);
  s.rules = std::move(rules);
  s.stateless = stateless;
  return s;
}

struct Fixture {
  Policy policy;
  CompileInput input;
  std::unique_ptr<CompiledPolicy> compiled;
  void build() {
    input.policy = &policy;
    ASSERT_TRUE(validate_policy(policy).ok()) << validate_policy(policy).message();
    auto c = compile(input);
    ASSERT_TRUE(c.ok()) << c.status().message();
    compiled = std::move(*c);
  }
  Decision decide(const LookupKey& k, std::uint32_t vnic = 1, Direction d = Direction::kFromVm) const {
    const Decision got = compiled->decide(vnic, d, k);
    Oracle oracle{&policy, input.vnic_addresses, input.group_addresses};
    const auto [want, want_tag] = oracle.answer(vnic, d, k);
    EXPECT_EQ(got, want) << "compiled " << describe(got) << " oracle " << describe(want);
    EXPECT_EQ(compiled->tag_of(got), want_tag) << describe(got);
    return got;
  }
  std::vector<Section>& cat(Category c) { return policy.categories[static_cast<std::size_t>(c)]; }
};

TEST(Compile, CategoryAndSectionOrderDisabledAndDefault) {
  Fixture f;
  f.policy.default_action = RuleAction::kDrop;
  f.policy.default_rule_id = 999;
  Rule app = rule(1, RuleAction::kAllow);
  Rule env = rule(2, RuleAction::kReject);
  env.destinations.cidrs = {cidr("10.0.0.0/24")};
  Rule disabled = rule(3, RuleAction::kDrop);
  disabled.disabled = true;
  Rule emergency = rule(4, RuleAction::kDrop);
  emergency.destinations.cidrs = {cidr("10.0.0.1/32")};
  Rule first_section = rule(5, RuleAction::kAllow);
  first_section.destinations.cidrs = {cidr("10.0.0.2/32")};
  Rule second_section = rule(6, RuleAction::kDrop);
  second_section.destinations.cidrs = {cidr("10.0.0.0/30")};
  f.cat(Category::kApplication) = {section("app", {app})};
  f.cat(Category::kEnvironment) = {section("env", {disabled, env})};
  f.cat(Category::kEmergency) = {section("em1", {emergency}), section("em-b", {})};
  f.cat(Category::kInfrastructure) = {section("in1", {first_section}), section("in2", {second_section})};
  f.build();
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.0.1")).rule_id, 4u);  // emergency before infrastructure
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.0.2")).rule_id, 5u);  // first section
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.0.3")).rule_id, 6u);  // second section
  const Decision env_d = f.decide(key("1.1.1.1", "10.0.0.9"));   // disabled rule 3 skipped
  EXPECT_EQ(env_d.rule_id, 2u);
  EXPECT_EQ(env_d.action, RuleAction::kReject);
  EXPECT_EQ(env_d.category, Category::kEnvironment);
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.1.1")).rule_id, 1u);

  // Without the catch-all: the default rule.
  f.cat(Category::kApplication).clear();
  f.build();
  const Decision d = f.decide(key("1.1.1.1", "10.0.1.1"));
  EXPECT_TRUE(d.is_default);
  EXPECT_EQ(d.rule_id, 999u);
  EXPECT_EQ(d.action, RuleAction::kDrop);
}

// 255.255.255.255/32 as a literal: its key in the IPv4 literal table once
// equalled the table's free mark, so it took another literal's atom (here
// 0.0.0.0/0's) and its rule matched every address.
TEST(Compile, AllOnesAddressIsItsOwnLiteral) {
  Fixture f;
  f.policy.default_action = RuleAction::kDrop;
  f.policy.default_rule_id = 999;
  Rule any_dst = rule(1, RuleAction::kAllow);
  any_dst.sources.cidrs = {cidr("10.9.9.9/32")};
  any_dst.destinations.cidrs = {cidr("0.0.0.0/0")};
  Rule broadcast = rule(2, RuleAction::kDrop);
  broadcast.destinations.cidrs = {cidr("255.255.255.255/32"), cidr("10.0.1.236/30")};
  f.cat(Category::kApplication) = {section("app", {any_dst, broadcast})};
  f.build();
  EXPECT_EQ(f.decide(key("1.1.1.1", "255.255.255.255")).rule_id, 2u);
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.1.237")).rule_id, 2u);
  EXPECT_TRUE(f.decide(key("1.1.1.1", "192.168.0.224")).is_default);
  EXPECT_EQ(f.decide(key("10.9.9.9", "192.168.0.224")).rule_id, 1u);
}

TEST(Compile, DirectionAndAppliedTo) {
  Fixture f;
  Group web;
  web.id = "web";
  web.vnic_ids = {3};
  Group outer;
  outer.id = "outer";
  outer.groups = {"web"};
  outer.vnic_ids = {4};
  f.policy.groups = {web, outer};
  Rule in = rule(1, RuleAction::kDrop);
  in.direction = RuleDirection::kIn;
  in.applied_to_vnics = {1};
  Rule out = rule(2, RuleAction::kReject);
  out.direction = RuleDirection::kOut;
  out.applied_to_vnics = {1, 9};  // 9 is not in the input
  Rule grp = rule(3, RuleAction::kDrop);
  grp.applied_to_groups = {"outer"};  // vNICs 4 and, nested, 3
  f.cat(Category::kApplication) = {section("s", {in, out, grp})};
  f.input.vnics = {1, 2, 3, 4};
  f.build();
  const LookupKey k = key("10.0.0.1", "10.0.0.2");
  EXPECT_EQ(f.decide(k, 1, Direction::kToVm).rule_id, 1u);
  EXPECT_EQ(f.decide(k, 1, Direction::kFromVm).rule_id, 2u);
  EXPECT_EQ(f.decide(k, 9, Direction::kFromVm).rule_id, 2u);
  EXPECT_TRUE(f.decide(k, 9, Direction::kToVm).is_default);
  EXPECT_TRUE(f.decide(k, 2, Direction::kToVm).is_default);
  EXPECT_EQ(f.decide(k, 3, Direction::kToVm).rule_id, 3u);
  EXPECT_EQ(f.decide(k, 4, Direction::kFromVm).rule_id, 3u);
  EXPECT_TRUE(f.decide(k, 77, Direction::kFromVm).is_default);  // a vNIC nobody knows
}

TEST(Compile, NegationNestedGroupsExclusionsAndVnicAddresses) {
  Fixture f;
  Group inner;
  inner.id = "inner";
  inner.cidrs = {cidr("10.1.0.0/16")};
  inner.exclude_cidrs = {cidr("10.1.5.0/24")};
  Group outer;
  outer.id = "outer";
  outer.groups = {"inner"};
  outer.ranges = {range("2001:db8::10-2001:db8::20")};
  outer.vnic_ids = {7};
  outer.exclude_cidrs = {cidr("10.1.6.0/24")};
  f.policy.groups = {inner, outer};
  f.input.vnic_addresses[7] = {cidr("192.168.7.7/32")};
  f.input.vnic_addresses[8] = {cidr("192.168.8.8/32"), cidr("2001:db8::8/128")};
  Rule from_outer = rule(1);
  from_outer.sources.groups = {"outer"};
  from_outer.destinations.cidrs = {cidr("172.16.0.0/12")};
  Rule not_inner = rule(2, RuleAction::kDrop);
  not_inner.sources.groups = {"inner"};
  not_inner.sources.negate = true;
  not_inner.destinations.vnic_ids = {8};
  f.cat(Category::kApplication) = {section("s", {from_outer, not_inner})};
  f.build();
  EXPECT_EQ(f.decide(key("10.1.2.3", "172.16.0.1")).rule_id, 1u);
  EXPECT_TRUE(f.decide(key("10.1.5.3", "172.16.0.1")).is_default);   // excluded in inner
  EXPECT_TRUE(f.decide(key("10.1.6.3", "172.16.0.1")).is_default);   // excluded in outer
  EXPECT_EQ(f.decide(key("192.168.7.7", "172.16.0.1")).rule_id, 1u);  // member vNIC's address
  EXPECT_EQ(f.decide(key("2001:db8::15", "2001:db8::8")).rule_id, 2u);  // not in inner -> negation
  EXPECT_EQ(f.decide(key("10.1.5.1", "192.168.8.8")).rule_id, 2u);    // excluded from inner: negation matches
  EXPECT_TRUE(f.decide(key("10.1.2.3", "192.168.8.8")).is_default);   // in inner: negation fails
  EXPECT_TRUE(f.decide(key("10.2.0.1", "192.168.8.9")).is_default);

  // API addresses of the inner group reach the outer one; the exclusion of
  // the outer group still applies; unknown groups are refused.
  ASSERT_TRUE(f.compiled->set_group_addresses("inner", {cidr("10.9.0.0/16"), cidr("10.1.6.0/24")}).ok());
  f.input.group_addresses["inner"] = {cidr("10.9.0.0/16"), cidr("10.1.6.0/24")};
  EXPECT_EQ(f.decide(key("10.9.1.1", "172.16.0.1")).rule_id, 1u);
  EXPECT_TRUE(f.decide(key("10.1.6.3", "172.16.0.1")).is_default);
  EXPECT_TRUE(f.decide(key("10.9.1.1", "192.168.8.8")).is_default);
  EXPECT_EQ(f.compiled->set_group_addresses("nope", {}).code(), StatusCode::kNotFound);
  EXPECT_EQ(f.compiled->set_group_addresses("inner", {cidr("10.0.0.0/8"), Cidr{ip("10.0.0.1"), 40}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(f.decide(key("10.9.1.1", "172.16.0.1")).rule_id, 1u);  // unchanged by the refused call
  ASSERT_TRUE(f.compiled->set_group_addresses("inner", {}).ok());
  f.input.group_addresses.erase("inner");
  EXPECT_TRUE(f.decide(key("10.9.1.1", "172.16.0.1")).is_default);
}

TEST(Compile, ServicesPortListsAndIcmp) {
  Fixture f;
  Service web;
  web.id = "web";
  ServiceEntry http;
  http.protocol = 6;
  http.dst_ports = {{80, 80}, {8080, 8090}};
  http.src_ports = {{1024, 65535}, {7, 7}};
  web.entries = {http};
  f.policy.services = {web};
  Rule by_ref = rule(1);
  by_ref.services = {"web"};
  ServiceEntry dns;
  dns.protocol = 17;
  dns.dst_ports = {{53, 53}};
  by_ref.inline_services = {dns};
  Rule echo = rule(2);
  ServiceEntry echo_request;
  echo_request.protocol = 1;
  echo_request.icmp_type = 8;
  echo_request.icmp_code = 0;
  ServiceEntry unreachable;
  unreachable.protocol = 1;
  unreachable.icmp_type = 3;
  echo.inline_services = {echo_request, unreachable};
  Rule gre = rule(3, RuleAction::kReject);
  ServiceEntry any_gre;
  any_gre.protocol = 47;
  gre.inline_services = {any_gre};
  Rule rest = rule(4, RuleAction::kDrop);
  f.cat(Category::kApplication) = {section("s", {by_ref, echo, gre, rest})};
  f.build();
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 6, 2000, 80)).rule_id, 1u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 6, 7, 8085)).rule_id, 1u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 6, 8, 8085)).rule_id, 4u);  // source port not listed
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 6, 2000, 8091)).rule_id, 4u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 17, 5000, 53)).rule_id, 1u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 17, 5000, 80)).rule_id, 4u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 1, 0, 8 << 8)).rule_id, 2u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 1, 0, (8 << 8) | 1)).rule_id, 4u);  // code 1
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 1, 0, (3 << 8) | 13)).rule_id, 2u);  // type 3, any code
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 1, 0, 0)).rule_id, 4u);
  EXPECT_EQ(f.decide(key("10.0.0.1", "10.0.0.2", 47, 0, 0)).rule_id, 3u);
}

TEST(Compile, JumpToApplicationAndCarriedFields) {
  Fixture f;
  Rule jump = rule(1, RuleAction::kJumpToApplication);
  jump.destinations.cidrs = {cidr("10.0.0.0/24")};
  Rule env = rule(2, RuleAction::kDrop);  // skipped by the jump
  Rule app = rule(3, RuleAction::kAllow);
  app.destinations.cidrs = {cidr("10.0.0.1/32")};
  app.logged = true;
  app.tag = "web-allow";
  f.cat(Category::kInfrastructure) = {section("infra", {jump})};
  f.cat(Category::kEnvironment) = {section("env", {env})};
  f.cat(Category::kApplication) = {section("app", {app}, /*stateless=*/true)};
  f.policy.default_rule_id = 100;
  f.build();
  const Decision d = f.decide(key("1.1.1.1", "10.0.0.1"));
  EXPECT_EQ(d.rule_id, 3u);
  EXPECT_TRUE(d.logged);
  EXPECT_TRUE(d.stateless);
  EXPECT_EQ(f.compiled->tag_of(d), "web-allow");
  EXPECT_EQ(d.category, Category::kApplication);
  const Decision fallthrough = f.decide(key("1.1.1.1", "10.0.0.2"));  // jump, nothing in Application
  EXPECT_TRUE(fallthrough.is_default);
  EXPECT_EQ(fallthrough.rule_id, 100u);
  EXPECT_FALSE(fallthrough.logged);
  EXPECT_EQ(f.compiled->tag_of(fallthrough), "");
  EXPECT_EQ(f.decide(key("1.1.1.1", "10.0.1.2")).rule_id, 2u);  // no jump: Environment
}

TEST(Compile, TheDefaultRuleCarriesItsLoggedFlagAndTag) {
  Fixture f;
  Rule allow = rule(1);
  allow.destinations.cidrs = {cidr("10.0.0.1/32")};
  f.cat(Category::kApplication) = {section("app", {allow})};
  f.policy.default_action = RuleAction::kDrop;
  f.policy.default_rule_id = 100;
  f.policy.default_logged = true;
  f.policy.default_tag = "default-deny";
  f.build();
  const Decision d = f.decide(key("1.1.1.1", "10.0.0.2"));
  EXPECT_TRUE(d.is_default);
  EXPECT_TRUE(d.logged);
  EXPECT_EQ(f.compiled->tag_of(d), "default-deny");
  const Decision a = f.decide(key("1.1.1.1", "10.0.0.1"));
  EXPECT_EQ(a.rule_id, 1u);
  EXPECT_FALSE(a.logged);
  EXPECT_EQ(f.compiled->tag_of(a), "");
}

TEST(Compile, VnicsWithTheSameAppliedToShareARuleList) {
  Fixture f;
  Group g;
  g.id = "g";
  g.vnic_ids = {3};
  f.policy.groups = {g};
  Rule everywhere = rule(1);
  Rule some = rule(2);
  some.applied_to_vnics = {1, 2};
  Rule in_g = rule(3);
  in_g.applied_to_groups = {"g"};
  in_g.direction = RuleDirection::kIn;
  f.cat(Category::kApplication) = {section("s", {everywhere, some, in_g})};
  f.input.vnics = {1, 2, 3, 4, 5};
  f.build();
  // [1] (vNICs 4, 5, unknown, and 3 from the VM), [1 2] (vNICs 1, 2),
  // [1 3] (vNIC 3 to the VM).
  EXPECT_EQ(f.compiled->rule_lists(), 3u);
  Fixture none;
  none.cat(Category::kApplication) = {section("s", {everywhere})};
  none.input.vnics = {1, 2, 3};
  none.build();
  EXPECT_EQ(none.compiled->rule_lists(), 1u);
}

TEST(Compile, RefusesAnInvalidPolicy) {
  Policy p;
  Rule r = rule(1);
  r.sources.groups = {"missing"};
  p.categories[4] = {section("s", {r})};
  CompileInput in{&p, {}, {}, {}};
  EXPECT_EQ(compile(in).status().code(), StatusCode::kInvalidArgument);
  p.categories[4][0].rules[0].sources.groups.clear();
  in.group_addresses["missing"] = {};
  EXPECT_EQ(compile(in).status().code(), StatusCode::kNotFound);
}

// ---- differential -----------------------------------------------------------------

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}
  std::mt19937_64& rng() { return rng_; }
  unsigned pick(unsigned n) { return static_cast<unsigned>(rng_() % n); }
  bool chance(unsigned percent) { return pick(100) < percent; }

  // A small address space so that blocks, rules and packets collide.
  IpAddress address(IpFamily f) {
    if (f == IpFamily::kIpv4) return IpAddress::v4(0x0a000000u | (pick(3) << 16) | (pick(4) << 8) | pick(256));
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    b[13] = static_cast<std::uint8_t>(pick(3));
    b[14] = static_cast<std::uint8_t>(pick(4));
    b[15] = static_cast<std::uint8_t>(pick(256));
    return IpAddress::v6(b);
  }
  IpFamily family() { return chance(25) ? IpFamily::kIpv6 : IpFamily::kIpv4; }
  Cidr block(IpFamily f) {
    const int width = f == IpFamily::kIpv4 ? 32 : 128;
    const int len = chance(5) ? (f == IpFamily::kIpv4 ? 16 + pick(8) : 104 + pick(12)) : width - static_cast<int>(pick(11));
    Cidr c{address(f), static_cast<std::uint8_t>(len)};
    for (int bit = len; bit < width; ++bit)
      c.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    return c;
  }
  IpRange ip_range(IpFamily f) {
    IpAddress x = address(f), y = address(f);
    if (IntervalSet::key_of(y) < IntervalSet::key_of(x)) std::swap(x, y);
    return {x, y};
  }
  PortRange ports(unsigned span) {
    const auto first = static_cast<std::uint16_t>(pick(120));
    return {first, static_cast<std::uint16_t>(first + pick(span))};
  }
  ServiceEntry entry(IpFamily f) {
    ServiceEntry e;
    switch (pick(5)) {
      case 0: break;  // any protocol
      case 1:
        e.protocol = f == IpFamily::kIpv4 ? 1 : 58;
        if (chance(70)) e.icmp_type = static_cast<std::uint8_t>(pick(4));
        if (e.icmp_type && chance(50)) e.icmp_code = static_cast<std::uint8_t>(pick(3));
        break;
      case 4: e.protocol = 47; break;
      default:
        e.protocol = chance(50) ? 6 : 17;
        for (unsigned i = 0, n = pick(3); i < n; ++i) e.dst_ports.push_back(ports(30));
        if (chance(30)) e.src_ports.push_back({1024, static_cast<std::uint16_t>(1024 + pick(40000))});
        if (chance(15)) e.src_ports.push_back(ports(200));
    }
    return e;
  }

  static constexpr std::uint32_t kVnics = 9;  // ids 1..9; the input knows 1..5

  struct Case {
    Policy policy;
    CompileInput input;
  };
  Case policy() {
    Case c;
    Policy& p = c.policy;
    for (std::uint32_t v = 1; v <= 8; ++v) {  // vNIC 9 has no addresses
      c.input.vnic_addresses[v].push_back(Cidr{address(IpFamily::kIpv4), 32});
      if (chance(50)) c.input.vnic_addresses[v].push_back(Cidr{address(IpFamily::kIpv6), 128});
    }
    c.input.vnics = {1, 2, 3, 4, 5};
    const unsigned groups = 5 + pick(6);
    for (unsigned g = 0; g < groups; ++g) {
      Group group;
      group.id = "g" + std::to_string(g);
      for (unsigned i = 0, n = pick(4); i < n; ++i) group.cidrs.push_back(block(family()));
      if (chance(30)) group.ranges.push_back(ip_range(family()));
      if (chance(40)) group.vnic_ids.push_back(1 + pick(kVnics));
      if (chance(15)) group.vnic_ids.push_back(1 + pick(kVnics));
      for (unsigned i = 0, n = g == 0 ? 0 : pick(3); i < n; ++i) {  // nest lower groups only: no cycles
        std::string child = "g" + std::to_string(pick(g));
        if (std::find(group.groups.begin(), group.groups.end(), child) == group.groups.end())
          group.groups.push_back(child);
      }
      if (chance(40)) group.exclude_cidrs.push_back(block(family()));
      if (chance(10)) group.criteria.push_back({{Criterion{CriterionKey::kTag, CriterionOperator::kEquals, "", {"web"}}}});
      if (chance(30)) c.input.group_addresses[group.id] = {block(family())};
      p.groups.push_back(group);
    }
    for (int s = 0; s < 4; ++s) {
      Service svc;
      svc.id = "svc" + std::to_string(s);
      for (unsigned i = 0, n = 1 + pick(2); i < n; ++i) svc.entries.push_back(entry(IpFamily::kIpv4));
      if (svc.entries[0].protocol == 1) svc.entries[0].protocol.reset(), svc.entries[0].icmp_type.reset(),
                                        svc.entries[0].icmp_code.reset();  // keep ICMP out of shared services
      p.services.push_back(svc);
    }
    const unsigned rules = 100 + pick(201);
    std::uint32_t next_id = 1;
    for (unsigned r = 0; r < rules;) {
      const auto cat = static_cast<Category>(pick(kCategoryCount));
      Section s;
      s.id = "s" + std::to_string(next_id);
      s.stateless = chance(20);
      for (unsigned i = 0, n = 1 + pick(10); i < n && r < rules; ++i, ++r) s.rules.push_back(random_rule(next_id++, cat, groups));
      p.categories[static_cast<std::size_t>(cat)].push_back(std::move(s));
    }
    p.default_action = chance(50) ? RuleAction::kAllow : RuleAction::kDrop;
    p.default_rule_id = 100000;
    p.default_logged = chance(50);
    p.default_tag = p.default_logged ? "default" : "";
    return c;
  }

 public:
  AddressSide side(IpFamily f, unsigned groups) {
    AddressSide s;
    if (chance(15)) return s;
    for (unsigned i = 0, n = 1 + pick(2); i < n; ++i) {
      switch (pick(5)) {
        case 0: case 1: s.groups.push_back("g" + std::to_string(pick(groups))); break;
        case 2: s.cidrs.push_back(block(f)); break;
        case 3: s.ranges.push_back(ip_range(f)); break;
        default: s.vnic_ids.push_back(1 + pick(kVnics)); break;
      }
    }
    s.negate = chance(15);
    return s;
  }
  Rule random_rule(std::uint32_t id, Category cat, unsigned groups) {
    Rule r;
    r.id = id;
    const IpFamily f = family();  // literals of one family per rule (else validation refuses it)
    r.sources = side(f, groups);
    r.destinations = side(f, groups);
    if (chance(40)) r.services.push_back("svc" + std::to_string(pick(4)));
    for (unsigned i = 0, n = chance(40) ? 1 + pick(2) : 0; i < n; ++i) r.inline_services.push_back(entry(f));
    // Few catch-alls, so that later rules and the default rule decide too.
    if (r.sources.is_any() && r.destinations.is_any() && r.services.empty() && r.inline_services.empty() &&
        !chance(10))
      r.services.push_back("svc0");
    if (chance(35)) {
      for (unsigned i = 0, n = 1 + pick(2); i < n; ++i) r.applied_to_vnics.push_back(1 + pick(kVnics));
      if (chance(40)) r.applied_to_groups.push_back("g" + std::to_string(pick(groups)));
    }
    r.direction = static_cast<RuleDirection>(pick(3));
    const unsigned a = pick(100);
    r.action = a < 40 ? RuleAction::kAllow : a < 75 ? RuleAction::kDrop : a < 90 ? RuleAction::kReject
             : cat == Category::kApplication ? RuleAction::kAllow : RuleAction::kJumpToApplication;
    r.logged = chance(30);
    if (chance(30)) r.tag = "t" + std::to_string(id);
    r.disabled = chance(8);
    return r;
  }

  std::mt19937_64 rng_;
};

// The IPv4 keys of `batch` as LookupKeyV4s, with the decisions wanted.
template <typename Batch>
std::pair<std::vector<classify::LookupKeyV4>, std::vector<Decision>> v4_keys_of(const Batch& batch) {
  std::pair<std::vector<classify::LookupKeyV4>, std::vector<Decision>> out;
  for (const auto& [k, want] : batch) {
    if (k.src.family != IpFamily::kIpv4 || k.dst.family != IpFamily::kIpv4) continue;
    out.first.push_back({k.src.v4_host_order(), k.dst.v4_host_order(), k.src_port, k.dst_port, k.protocol});
    out.second.push_back(want);
  }
  return out;
}

TEST(Compile, MatchesBruteForceOnRandomPoliciesThroughGroupChanges) {
  std::size_t rule_decisions = 0, default_decisions = 0, jumps = 0;
  std::set<std::pair<std::uint64_t, std::uint32_t>> deciding;  // (seed, rule id)
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    Generator gen(seed);
    Generator::Case c = gen.policy();
    c.input.policy = &c.policy;
    const Status valid = validate_policy(c.policy);
    ASSERT_TRUE(valid.ok()) << "seed " << seed << ": " << valid.message();
    auto compiled = compile(c.input);
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    Oracle oracle{&c.policy, c.input.vnic_addresses, c.input.group_addresses};
    const std::vector<std::pair<std::string, std::vector<IpAddress>>> none;

    // Addresses near the policy's: its own vNICs' and the generator's space.
    std::vector<IpAddress> vnic_ips;
    for (const auto& [v, cidrs] : c.input.vnic_addresses) for (const Cidr& a : cidrs) vnic_ips.push_back(a.address);
    auto address = [&](IpFamily f) {
      if (gen.chance(15)) {
        const IpAddress& a = vnic_ips[gen.pick(static_cast<unsigned>(vnic_ips.size()))];
        if (a.family == f) return a;
      }
      return gen.address(f);
    };
    auto probe = [&](int round) {
      // Every probe is also replayed through decide_burst, grouped per
      // (vNIC, direction) as the DFW slot calls it (groups cross the 64-key
      // chunks of the burst path).
      std::map<std::pair<std::uint32_t, int>, std::vector<std::pair<LookupKey, Decision>>> bursts;
      for (int i = 0; i < 4000; ++i) {
        LookupKey k;
        const IpFamily f = gen.family();
        k.src = address(f);
        k.dst = address(gen.chance(5) ? (f == IpFamily::kIpv4 ? IpFamily::kIpv6 : IpFamily::kIpv4) : f);
        const unsigned p = gen.pick(5);
        k.protocol = p == 0 ? (f == IpFamily::kIpv4 ? 1 : 58) : p == 1 ? 6 : p == 2 ? 17 : p == 3 ? 47 : 6;
        k.src_port = static_cast<std::uint16_t>(gen.chance(50) ? gen.pick(300) : 1024 + gen.pick(60000));
        k.dst_port = (k.protocol == 1 || k.protocol == 58)
                         ? static_cast<std::uint16_t>((gen.pick(5) << 8) | gen.pick(3))
                         : static_cast<std::uint16_t>(gen.pick(160));
        const std::uint32_t vnic = 1 + gen.pick(Generator::kVnics + 2);  // 10, 11: never named
        const Direction d = gen.chance(50) ? Direction::kFromVm : Direction::kToVm;
        const Decision got = (*compiled)->decide(vnic, d, k);
        const auto [want, want_tag] = oracle.answer(vnic, d, k);
        ASSERT_EQ(got, want) << "seed " << seed << " round " << round << " vnic " << vnic << " dir "
                             << int(d) << " " << k.src.to_string() << " -> " << k.dst.to_string() << " proto "
                             << int(k.protocol) << " " << k.src_port << " -> " << k.dst_port << ": compiled "
                             << describe(got) << ", oracle " << describe(want);
        ASSERT_EQ((*compiled)->tag_of(got), want_tag) << describe(got);
        (want.is_default ? default_decisions : rule_decisions)++;
        deciding.insert({seed, want.rule_id});
        bursts[{vnic, static_cast<int>(d)}].push_back({k, want});
      }
      for (const auto& [where, batch] : bursts) {
        std::vector<LookupKey> keys;
        for (const auto& [k, want] : batch) keys.push_back(k);
        std::vector<Decision> got(keys.size());
        (*compiled)->decide_burst(where.first, static_cast<Direction>(where.second), keys, got);
        for (std::size_t i = 0; i < batch.size(); ++i)
          ASSERT_EQ(got[i], batch[i].second) << "decide_burst, seed " << seed << " round " << round
                                             << " vnic " << where.first << " key " << i << " of " << batch.size();
        // The IPv4 ones again as LookupKeyV4s.
        const auto [v4_keys, v4_want] = v4_keys_of(batch);
        std::vector<Decision> v4_got(v4_keys.size());
        (*compiled)->decide_burst(where.first, static_cast<Direction>(where.second),
                                  std::span<const classify::LookupKeyV4>(v4_keys), v4_got);
        for (std::size_t i = 0; i < v4_keys.size(); ++i)
          ASSERT_EQ(v4_got[i], v4_want[i]) << "decide_burst (LookupKeyV4), seed " << seed << " round " << round
                                           << " vnic " << where.first << " key " << i;
      }
    };
    probe(0);
    for (int round = 1; round <= 5; ++round) {
      for (int change = 0; change < 4; ++change) {
        const std::string group = "g" + std::to_string(gen.pick(static_cast<unsigned>(c.policy.groups.size())));
        std::vector<Cidr> addresses;
        for (unsigned i = 0, n = gen.pick(4); i < n; ++i) addresses.push_back(gen.block(gen.family()));
        ASSERT_TRUE((*compiled)->set_group_addresses(group, addresses).ok());
        oracle.group_addresses[group] = addresses;
      }
      probe(round);
    }
    jumps += oracle.jumps;
  }
  // The packets reach rules as well as the default rule.
  EXPECT_GT(rule_decisions, default_decisions / 4);
  EXPECT_GT(default_decisions, 0u);
  EXPECT_GT(deciding.size(), 300u);
  EXPECT_GT(jumps, 100u);
  std::cout << rule_decisions << " rule decisions, " << default_decisions << " default, " << deciding.size()
            << " distinct rules decided, " << jumps << " jumps\n";
}

// ---- membership deltas -------------------------------------------------------------

// A probe key near the generator's address space (and the vNICs' addresses).
LookupKey random_key(Generator& gen, const std::vector<IpAddress>& near) {
  auto address = [&](IpFamily f) {
    if (!near.empty() && gen.chance(15)) {
      const IpAddress& a = near[gen.pick(static_cast<unsigned>(near.size()))];
      if (a.family == f) return a;
    }
    return gen.address(f);
  };
  LookupKey k;
  const IpFamily f = gen.family();
  k.src = address(f);
  k.dst = address(f);
  const unsigned p = gen.pick(5);
  k.protocol = p == 0 ? (f == IpFamily::kIpv4 ? 1 : 58) : p == 1 ? 6 : p == 2 ? 17 : p == 3 ? 47 : 6;
  k.src_port = static_cast<std::uint16_t>(gen.chance(50) ? gen.pick(300) : 1024 + gen.pick(60000));
  k.dst_port = (k.protocol == 1 || k.protocol == 58) ? static_cast<std::uint16_t>((gen.pick(5) << 8) | gen.pick(3))
                                                     : static_cast<std::uint16_t>(gen.pick(160));
  return k;
}

std::vector<IpAddress> vnic_ips(const CompileInput& input) {
  std::vector<IpAddress> out;
  for (const auto& [v, cidrs] : input.vnic_addresses)
    for (const Cidr& a : cidrs) out.push_back(a.address);
  return out;
}

// Every probe through decide() against the oracle, and through
// decide_burst() against decide(). Returns the number of non-default answers.
std::size_t expect_matches(const CompiledPolicy& compiled, const Oracle& oracle, Generator& gen,
                           const std::vector<IpAddress>& near, int probes, const std::string& where) {
  std::size_t rule_answers = 0;
  std::map<std::pair<std::uint32_t, int>, std::vector<std::pair<LookupKey, Decision>>> bursts;
  for (int i = 0; i < probes; ++i) {
    const LookupKey k = random_key(gen, near);
    const std::uint32_t vnic = 1 + gen.pick(Generator::kVnics + 2);
    const Direction d = gen.chance(50) ? Direction::kFromVm : Direction::kToVm;
    const Decision got = compiled.decide(vnic, d, k);
    const auto [want, want_tag] = oracle.answer(vnic, d, k);
    EXPECT_EQ(got, want) << where << ": vnic " << vnic << " dir " << int(d) << " " << k.src.to_string() << " -> "
                         << k.dst.to_string() << " proto " << int(k.protocol) << " " << k.src_port << " -> "
                         << k.dst_port << ": compiled " << describe(got) << ", oracle " << describe(want);
    if (got != want) return rule_answers;
    EXPECT_EQ(compiled.tag_of(got), want_tag) << where << ": " << describe(got);
    rule_answers += !want.is_default;
    bursts[{vnic, static_cast<int>(d)}].push_back({k, want});
  }
  for (const auto& [at, batch] : bursts) {
    std::vector<LookupKey> keys;
    for (const auto& [k, want] : batch) keys.push_back(k);
    std::vector<Decision> got(keys.size());
    compiled.decide_burst(at.first, static_cast<Direction>(at.second), keys, got);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(got[i], batch[i].second) << where << ": decide_burst, vnic " << at.first << " key " << i;
      if (got[i] != batch[i].second) return rule_answers;
    }
    const auto [v4_keys, v4_want] = v4_keys_of(batch);
    std::vector<Decision> v4_got(v4_keys.size());
    compiled.decide_burst(at.first, static_cast<Direction>(at.second), std::span<const classify::LookupKeyV4>(v4_keys),
                          v4_got);
    for (std::size_t i = 0; i < v4_keys.size(); ++i) {
      EXPECT_EQ(v4_got[i], v4_want[i]) << where << ": decide_burst (LookupKeyV4), vnic " << at.first << " key " << i;
      if (v4_got[i] != v4_want[i]) return rule_answers;
    }
  }
  return rule_answers;
}

IntervalSet set_of(const std::vector<Cidr>& cidrs) {
  IntervalSet s;
  for (const Cidr& c : cidrs) s.add(c);
  return s;
}

TEST(Membership, AddAndRemoveHandWritten) {
  Fixture f;
  Group inner;
  inner.id = "inner";
  inner.cidrs = {cidr("10.1.0.0/24")};
  Group outer;
  outer.id = "outer";
  outer.groups = {"inner"};
  outer.exclude_cidrs = {cidr("10.9.9.0/24")};
  f.policy.groups = {inner, outer};
  Rule to_outer = rule(1);
  to_outer.destinations.groups = {"outer"};
  f.cat(Category::kApplication) = {section("s", {to_outer})};
  f.build();
  CompiledPolicy& c = *f.compiled;
  auto decides = [&](const char* dst) { return !c.decide(1, Direction::kFromVm, key("1.1.1.1", dst)).is_default; };

  const std::vector<Cidr> block{cidr("10.2.0.0/24")};
  ASSERT_TRUE(c.add_group_addresses("inner", block).ok());
  EXPECT_TRUE(decides("10.2.0.77"));                         // reaches the nesting group
  const std::vector<Cidr> one{cidr("10.2.0.77/32")}, excluded{cidr("10.9.9.1/32")}, static_member{cidr("10.1.0.5/32")};
  ASSERT_TRUE(c.remove_group_addresses("inner", one).ok());  // a hole in the /24
  EXPECT_FALSE(decides("10.2.0.77"));
  EXPECT_TRUE(decides("10.2.0.76"));
  EXPECT_TRUE(decides("10.2.0.78"));
  ASSERT_TRUE(c.add_group_addresses("inner", excluded).ok());
  EXPECT_FALSE(decides("10.9.9.1"));  // the outer group excludes it
  ASSERT_TRUE(c.remove_group_addresses("inner", static_member).ok());
  EXPECT_TRUE(decides("10.1.0.5"));  // a static member stays
  // The API set as CIDRs: the /24 minus .77, and the excluded address.
  const auto api = c.group_addresses();
  ASSERT_EQ(api.size(), 1u);
  IntervalSet want = IntervalSet::difference(IntervalSet::of(cidr("10.2.0.0/24")), IntervalSet::of(cidr("10.2.0.77/32")));
  want.add(cidr("10.9.9.1/32"));
  EXPECT_EQ(set_of(api.at("inner")), want);
  EXPECT_EQ(api.at("inner").size(), 9u);  // .0/26 .64/29 .72/30 .76/32 .78/31 .80/28 .96/27 .128/25 + 10.9.9.1

  const std::vector<Cidr> bad{Cidr{ip("10.0.0.1"), 40}};
  EXPECT_EQ(c.add_group_addresses("inner", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.remove_group_addresses("inner", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.add_group_addresses("nope", block).code(), StatusCode::kNotFound);
  EXPECT_EQ(c.remove_group_addresses("nope", block).code(), StatusCode::kNotFound);
  EXPECT_TRUE(decides("10.2.0.76"));  // the refused calls changed nothing
}

// Random add/remove deltas on random (nested) groups: the answers equal the
// brute-force evaluator's over the same address sets, equal a fresh compile
// given group_addresses(), and group_addresses() is the set the deltas built.
TEST(Membership, DeltasMatchSetGroupAddressesAndAFreshCompile) {
  for (std::uint64_t seed = 11; seed <= 14; ++seed) {
    Generator gen(seed);
    Generator::Case c = gen.policy();
    c.input.policy = &c.policy;
    auto compiled = compile(c.input);
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    Oracle oracle{&c.policy, c.input.vnic_addresses, {}};
    for (const auto& [id, cidrs] : c.input.group_addresses) oracle.group_sets[id] = set_of(cidrs);
    const std::vector<IpAddress> near = vnic_ips(c.input);
    for (int round = 0; round < 6; ++round) {
      for (int change = 0; change < 12; ++change) {
        const std::string group = "g" + std::to_string(gen.pick(static_cast<unsigned>(c.policy.groups.size())));
        std::vector<Cidr> delta;
        for (unsigned i = 0, n = 1 + gen.pick(3); i < n; ++i) delta.push_back(gen.block(gen.family()));
        const bool add = gen.chance(55);
        if (gen.chance(15)) {  // now and then a whole replacement
          ASSERT_TRUE((*compiled)->set_group_addresses(group, delta).ok());
          oracle.group_sets[group] = set_of(delta);
          continue;
        }
        IntervalSet& model = oracle.group_sets[group];
        if (add) {
          ASSERT_TRUE((*compiled)->add_group_addresses(group, delta).ok());
          model.unite(set_of(delta));
        } else {
          // Remove what is there as well as what is not.
          if (!model.empty() && gen.chance(60)) {
            const std::vector<IpRange> present = model.ranges();
            const IpRange& r = present[gen.pick(static_cast<unsigned>(present.size()))];
            delta.push_back(Cidr{r.first, static_cast<std::uint8_t>(r.first.family == IpFamily::kIpv4 ? 32 : 128)});
          }
          ASSERT_TRUE((*compiled)->remove_group_addresses(group, delta).ok());
          model.subtract(set_of(delta));
        }
      }
      const std::string where = "seed " + std::to_string(seed) + " round " + std::to_string(round);
      expect_matches(**compiled, oracle, gen, near, 1500, where);
      if (HasFailure()) return;

      const auto api = (*compiled)->group_addresses();
      for (const auto& [id, model] : oracle.group_sets) {
        auto it = api.find(id);
        EXPECT_EQ(it == api.end() ? IntervalSet{} : set_of(it->second), model) << where << " group " << id;
      }
      if (round % 3 != 2) continue;  // a full compile is the expensive part
      CompileInput fresh = c.input;
      fresh.group_addresses = api;
      auto full = compile(fresh);
      ASSERT_TRUE(full.ok()) << full.status().message();
      Oracle fresh_oracle{&c.policy, c.input.vnic_addresses, api};
      expect_matches(**full, fresh_oracle, gen, near, 500, where + " (fresh compile)");
      if (HasFailure()) return;
    }
  }
}

// ---- recompile -----------------------------------------------------------------------

Rule& rule_at(Policy& p, Category c, std::size_t section, std::size_t index) {
  return p.categories[static_cast<std::size_t>(c)][section].rules[index];
}

// Three applied-to vNIC sets, so the policy has several lists.
struct ListsFixture {
  Policy policy;
  CompileInput input;
  ListsFixture() {
    Group web;
    web.id = "web";
    web.cidrs = {cidr("10.0.1.0/24")};
    policy.groups = {web};
    std::vector<Rule> rules;
    for (std::uint32_t v = 1; v <= 3; ++v) {
      for (std::uint32_t i = 0; i < 4; ++i) {
        Rule r = rule(v * 100 + i, i % 2 ? RuleAction::kDrop : RuleAction::kAllow);
        r.destinations.groups = {"web"};
        r.sources.cidrs = {Cidr{IpAddress::v4(0xc0a80000u + v * 256 + i), 32}};
        r.applied_to_vnics = {v};
        rules.push_back(r);
      }
    }
    policy.categories[static_cast<std::size_t>(Category::kApplication)] = {section("s", rules)};
    policy.default_action = RuleAction::kDrop;
    input.policy = &policy;
    input.vnics = {1, 2, 3};
  }
};

TEST(Recompile, RebuildsOnlyTheListsThatChanged) {
  ListsFixture f;
  auto first = compile(f.input);
  ASSERT_TRUE(first.ok());
  // vNICs 1, 2, 3 (the same list both directions) and the empty list of
  // every other vNIC.
  EXPECT_EQ((*first)->rule_lists(), 4u);
  EXPECT_FALSE((*first)->compile_stats().incremental);
  EXPECT_EQ((*first)->compile_stats().lists_built, 4u);

  // Edit a rule applied to vNIC 2 to a new literal source: one list built,
  // one atom added.
  rule_at(f.policy, Category::kApplication, 0, 5).sources.cidrs = {cidr("192.168.99.0/24")};
  auto second = recompile(**first, f.input);
  ASSERT_TRUE(second.ok()) << second.status().message();
  CompileStats st = (*second)->compile_stats();
  EXPECT_TRUE(st.incremental);
  EXPECT_EQ(st.lists_built, 1u);
  EXPECT_EQ(st.lists_reused, 3u);
  EXPECT_EQ(st.atoms_added, 1u);
  const LookupKey from_new = key("192.168.99.7", "10.0.1.1");
  EXPECT_EQ((*second)->decide(2, Direction::kFromVm, from_new).rule_id, 201u);
  EXPECT_TRUE((*second)->decide(1, Direction::kFromVm, from_new).is_default);
  // The previous policy still answers as it did (it stays live until the
  // new one is published).
  EXPECT_TRUE((*first)->decide(2, Direction::kFromVm, from_new).is_default);
  EXPECT_EQ((*first)->decide(2, Direction::kFromVm, key("192.168.2.1", "10.0.1.1")).rule_id, 201u);

  // Action, id and tag only: the match content is the same, nothing built;
  // the answers carry the new action and id.
  Rule& edited = rule_at(f.policy, Category::kApplication, 0, 5);
  edited.action = RuleAction::kReject;
  edited.id = 777;
  edited.tag = "now rejected";
  auto third = recompile(**second, f.input);
  ASSERT_TRUE(third.ok());
  st = (*third)->compile_stats();
  EXPECT_EQ(st.lists_built, 0u);
  EXPECT_EQ(st.lists_reused, 4u);
  EXPECT_EQ(st.atoms_added, 0u);
  const Decision d = (*third)->decide(2, Direction::kFromVm, from_new);
  EXPECT_EQ(d.rule_id, 777u);
  EXPECT_EQ(d.action, RuleAction::kReject);
  EXPECT_EQ((*third)->tag_of(d), "now rejected");

  // A rule inserted before everything: positions shift, but the content of
  // the lists of vNICs 1 and 3 does not: only vNIC 2's list is rebuilt.
  Rule inserted = rule(5);
  inserted.applied_to_vnics = {2};
  inserted.destinations.cidrs = {cidr("10.0.1.9/32")};
  auto& rules = f.policy.categories[static_cast<std::size_t>(Category::kApplication)][0].rules;
  rules.insert(rules.begin(), inserted);
  auto fourth = recompile(**third, f.input);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ((*fourth)->compile_stats().lists_built, 1u);
  EXPECT_EQ((*fourth)->compile_stats().lists_reused, 3u);
  EXPECT_EQ((*fourth)->decide(1, Direction::kFromVm, key("192.168.1.0", "10.0.1.1")).rule_id, 100u);
  EXPECT_EQ((*fourth)->decide(1, Direction::kFromVm, key("192.168.1.0", "10.0.1.1")).position, 1u);

  // Membership through the newest policy reaches the shared map.
  const std::vector<Cidr> more{cidr("10.0.7.7/32")};
  ASSERT_TRUE((*fourth)->add_group_addresses("web", more).ok());
  EXPECT_EQ((*fourth)->decide(3, Direction::kToVm, key("192.168.3.0", "10.0.7.7")).rule_id, 300u);

  // A group change: a full compile, which keeps the API-set addresses.
  f.policy.groups[0].cidrs.push_back(cidr("10.0.2.0/24"));
  auto fifth = recompile(**fourth, f.input);
  ASSERT_TRUE(fifth.ok());
  EXPECT_FALSE((*fifth)->compile_stats().incremental);
  EXPECT_EQ((*fifth)->compile_stats().lists_built, 4u);
  EXPECT_EQ((*fifth)->decide(3, Direction::kToVm, key("192.168.3.0", "10.0.7.7")).rule_id, 300u);
  EXPECT_EQ((*fifth)->decide(3, Direction::kToVm, key("192.168.3.0", "10.0.2.7")).rule_id, 300u);

  // vNIC addresses changed: full as well. Bad input: refused.
  f.input.vnic_addresses[1] = {cidr("10.5.5.5/32")};
  auto sixth = recompile(**fifth, f.input);
  ASSERT_TRUE(sixth.ok());
  EXPECT_FALSE((*sixth)->compile_stats().incremental);
  CompileInput with_addresses = f.input;
  with_addresses.group_addresses["web"] = {};
  EXPECT_EQ(recompile(**sixth, with_addresses).status().code(), StatusCode::kInvalidArgument);
  rule_at(f.policy, Category::kApplication, 0, 0).id = 100;  // duplicate of another rule
  EXPECT_EQ(recompile(**sixth, f.input).status().code(), StatusCode::kInvalidArgument);
}

// One random edit of the policy: a rule replaced, inserted, removed,
// disabled or re-enabled, its action changed; now and then a service or a
// group edited, or the default rule changed. Returns whether groups changed.
bool random_edit(Generator& gen, Policy& p, std::uint32_t& next_id) {
  const unsigned groups = static_cast<unsigned>(p.groups.size());
  const unsigned what = gen.pick(100);
  if (what < 4) {  // a group: full compile
    p.groups[gen.pick(groups)].cidrs.push_back(gen.block(gen.family()));
    return true;
  }
  if (what < 10) {  // a service
    Service& svc = p.services[gen.pick(static_cast<unsigned>(p.services.size()))];
    ServiceEntry e = gen.entry(IpFamily::kIpv4);
    if (e.protocol == 1) e = ServiceEntry{};
    svc.entries[0] = e;
    return false;
  }
  if (what < 13) {
    p.default_action = p.default_action == RuleAction::kAllow ? RuleAction::kDrop : RuleAction::kAllow;
    return false;
  }
  // A random section with rules.
  std::vector<std::pair<std::size_t, std::size_t>> sections;
  for (std::size_t c = 0; c < kCategoryCount; ++c)
    for (std::size_t s = 0; s < p.categories[c].size(); ++s) sections.push_back({c, s});
  const auto [c, s] = sections[gen.pick(static_cast<unsigned>(sections.size()))];
  std::vector<Rule>& rules = p.categories[c][s].rules;
  const auto cat = static_cast<Category>(c);
  const unsigned i = rules.empty() ? 0 : gen.pick(static_cast<unsigned>(rules.size()));
  if (what < 45 && !rules.empty()) {
    rules[i] = gen.random_rule(rules[i].id, cat, groups);
  } else if (what < 65 || rules.empty()) {
    rules.insert(rules.begin() + i, gen.random_rule(next_id++, cat, groups));
  } else if (what < 80) {
    rules.erase(rules.begin() + i);
  } else if (what < 90) {
    rules[i].disabled = !rules[i].disabled;
  } else {
    rules[i].action = rules[i].action == RuleAction::kDrop ? RuleAction::kReject : RuleAction::kDrop;
  }
  return false;
}

// Many rounds of random edits (and membership deltas between them): the
// incrementally recompiled policy answers as a fresh full compile and as the
// brute-force evaluator, IPv4 and IPv6; unchanged lists are reused.
TEST(Recompile, MatchesAFullCompileThroughRandomEdits) {
  std::size_t incremental = 0, full = 0, reused = 0, built = 0, rule_answers = 0;
  for (std::uint64_t seed = 21; seed <= 24; ++seed) {
    Generator gen(seed);
    Generator::Case c = gen.policy();
    c.input.policy = &c.policy;
    auto first = compile(c.input);
    ASSERT_TRUE(first.ok()) << first.status().message();
    std::unique_ptr<CompiledPolicy> current = std::move(*first);
    const std::vector<IpAddress> near = vnic_ips(c.input);
    CompileInput next_input = c.input;
    next_input.group_addresses.clear();
    std::uint32_t next_id = 50000;
    for (int round = 0; round < 15; ++round) {
      // Copy: the previous compiled policy points into its own copy.
      Policy edited = c.policy;
      bool groups_changed = false;
      for (int e = 0, n = 1 + static_cast<int>(gen.pick(3)); e < n; ++e)
        groups_changed |= random_edit(gen, edited, next_id);
      if (!validate_policy(edited).ok()) continue;  // e.g. an edit that left a rule that can never match
      next_input.policy = &edited;
      auto next = recompile(*current, next_input);
      ASSERT_TRUE(next.ok()) << next.status().message();
      const CompileStats& st = (*next)->compile_stats();
      EXPECT_EQ(st.incremental, !groups_changed);
      EXPECT_EQ(st.lists_built + st.lists_reused, (*next)->rule_lists());
      (st.incremental ? incremental : full)++;
      reused += st.lists_reused;
      built += st.lists_built;

      const auto api = current->group_addresses();
      c.policy = edited;
      next_input.policy = &c.policy;
      auto again = recompile(*current, next_input);  // the same edit, over the stable copy
      ASSERT_TRUE(again.ok());
      current = std::move(*again);
      EXPECT_EQ(current->group_addresses(), api);

      // Membership deltas on the new policy.
      for (int m = 0; m < 3; ++m) {
        const std::string group = "g" + std::to_string(gen.pick(static_cast<unsigned>(c.policy.groups.size())));
        const std::vector<Cidr> delta{gen.block(gen.family())};
        ASSERT_TRUE((gen.chance(60) ? current->add_group_addresses(group, delta)
                                    : current->remove_group_addresses(group, delta))
                        .ok());
      }
      CompileInput fresh = c.input;
      fresh.policy = &c.policy;
      fresh.group_addresses = current->group_addresses();
      Oracle oracle{&c.policy, c.input.vnic_addresses, fresh.group_addresses};
      const std::string where = "seed " + std::to_string(seed) + " round " + std::to_string(round);
      rule_answers += expect_matches(*current, oracle, gen, near, 800, where);
      if (round % 5 == 4) {  // a full compile of the same input answers the same (the expensive part)
        auto reference = compile(fresh);
        ASSERT_TRUE(reference.ok());
        expect_matches(**reference, oracle, gen, near, 300, where + " (full compile)");
      }
      if (HasFailure()) return;
      if (groups_changed) c.input.vnic_addresses = next_input.vnic_addresses;
    }
  }
  EXPECT_GT(incremental, 40u);
  EXPECT_GT(full, 0u);
  // Random edits mostly touch rules applied everywhere, which are in every
  // list; the lists of the other vNICs survive.
  EXPECT_GT(reused, 0u);
  EXPECT_GT(rule_answers, 5000u);
  std::cout << incremental << " incremental, " << full << " full recompiles; lists reused " << reused
            << ", built " << built << "; " << rule_answers << " rule answers\n";
}

}  // namespace
}  // namespace fw::policy_compile
