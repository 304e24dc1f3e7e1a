// The brute-force reference: hand-made rule sets whose first matches are
// known, including port-range edges, protocol any/exact and /0 prefixes; and
// the ClassBench property that a trace header matches the rule it was
// generated from, so its first match is that rule or an earlier one.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "bench/classbench/classbench.h"
#include "bench/classbench/reference.h"
#include "classbench/random_rules.h"

namespace classbench {
namespace {

constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

std::vector<Rule> rules_from(std::string_view text) {
  fw::StatusOr<std::vector<Rule>> rules = parse_rules(text, "hand-made");
  EXPECT_TRUE(rules.ok()) << rules.status().to_string();
  return rules.ok() ? *rules : std::vector<Rule>{};
}

Header header(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport,
              std::uint8_t proto) {
  return Header{.src = src, .dst = dst, .sport = sport, .dport = dport, .proto = proto};
}

// A small firewall: specific rules first, then any TCP (rule 4); UDP or ICMP
// that no earlier rule admits matches nothing.
constexpr std::string_view kFirewall =
    "@10.1.2.3/32\t192.168.0.0/16\t0 : 65535\t22 : 22\t0x06/0xFF\n"     // 0 ssh from one host
    "@10.0.0.0/8\t192.168.1.0/24\t1024 : 65535\t80 : 443\t0x06/0xFF\n"  // 1 web from 10/8
    "@10.0.0.0/8\t192.168.1.0/24\t0 : 65535\t0 : 65535\t0x00/0x00\n"    // 2 anything 10/8 -> .1/24
    "@0.0.0.0/0\t192.168.1.53/32\t0 : 65535\t53 : 53\t0x11/0xFF\n"      // 3 DNS to the resolver
    "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\n";         // 4 any TCP

struct Case {
  std::string_view description;
  Header header;
  std::int32_t expected;
};

TEST(Reference, HandMadeFirewallFirstMatches) {
  std::vector<Rule> rules = rules_from(kFirewall);
  ASSERT_EQ(rules.size(), 5u);
  const Case cases[] = {
      {"ssh from the one host", header(ip(10, 1, 2, 3), ip(192, 168, 9, 9), 5555, 22, 6), 0},
      {"ssh from a neighbour: not rule 0, rule 4 (any TCP)",
       header(ip(10, 1, 2, 4), ip(192, 168, 9, 9), 5555, 22, 6), 4},
      {"ssh from the host to .1/24: rule 0 shadows rule 2",
       header(ip(10, 1, 2, 3), ip(192, 168, 1, 7), 5555, 22, 6), 0},
      {"web, sport at range low edge", header(ip(10, 9, 9, 9), ip(192, 168, 1, 1), 1024, 80, 6), 1},
      {"web, sport at range high edge", header(ip(10, 9, 9, 9), ip(192, 168, 1, 1), 65535, 443, 6),
       1},
      {"web, sport just below range: rule 2",
       header(ip(10, 9, 9, 9), ip(192, 168, 1, 1), 1023, 80, 6), 2},
      {"web, dport just above range: rule 2",
       header(ip(10, 9, 9, 9), ip(192, 168, 1, 1), 2000, 444, 6), 2},
      {"web port but UDP: rule 2 (proto any)",
       header(ip(10, 9, 9, 9), ip(192, 168, 1, 1), 2000, 80, 17), 2},
      {"DNS to resolver from anywhere (/0)", header(ip(8, 8, 8, 8), ip(192, 168, 1, 53), 3, 53, 17),
       3},
      {"DNS over TCP to resolver: rule 4, rule 3 is UDP only",
       header(ip(8, 8, 8, 8), ip(192, 168, 1, 53), 3, 53, 6), 4},
      {"UDP elsewhere: no rule", header(ip(8, 8, 8, 8), ip(1, 1, 1, 1), 3, 53, 17), kNoMatch},
      {"extreme addresses, TCP", header(0xFFFFFFFF, 0, 0, 0, 6), 4},
      {"10/8 edge: 11.0.0.0 is outside", header(ip(11, 0, 0, 0), ip(192, 168, 1, 1), 0, 0, 1),
       kNoMatch},
      {"10/8 edge: 10.255.255.255 is inside",
       header(ip(10, 255, 255, 255), ip(192, 168, 1, 255), 0, 0, 1), 2},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(first_match(rules, c.header), c.expected) << c.description;
  }
}

TEST(Reference, EmptyRuleSetMatchesNothing) {
  EXPECT_EQ(first_match({}, header(1, 2, 3, 4, 6)), kNoMatch);
}

TEST(Reference, IdenticalRulesTheFirstWins) {
  std::vector<Rule> rules = rules_from(
      "@1.2.3.4/32\t5.6.7.8/32\t1 : 1\t2 : 2\t0x06/0xFF\n"
      "@1.2.3.4/32\t5.6.7.8/32\t1 : 1\t2 : 2\t0x06/0xFF\n");
  EXPECT_EQ(first_match(rules, header(ip(1, 2, 3, 4), ip(5, 6, 7, 8), 1, 2, 6)), 0);
}

TEST(Reference, PrefixLengthEdges) {
  // /1 splits the space in two; /31 covers two addresses; /0 everything.
  std::vector<Rule> rules = rules_from(
      "@128.0.0.0/1\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n"
      "@0.0.0.6/31\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n"
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n");
  EXPECT_EQ(first_match(rules, header(0x80000000, 0, 0, 0, 0)), 0);
  EXPECT_EQ(first_match(rules, header(0x7FFFFFFF, 0, 0, 0, 0)), 2);
  EXPECT_EQ(first_match(rules, header(6, 0, 0, 0, 0)), 1);
  EXPECT_EQ(first_match(rules, header(7, 0, 0, 0, 0)), 1);
  EXPECT_EQ(first_match(rules, header(8, 0, 0, 0, 0)), 2);
  EXPECT_EQ(first_match(rules, header(5, 0, 0, 0, 0)), 2);
}

TEST(Reference, ProtocolAnyAndExact) {
  std::vector<Rule> rules = rules_from(
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x01/0xFF\n"
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0xFF\n"   // exactly protocol 0
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n");  // any
  EXPECT_EQ(first_match(rules, header(0, 0, 0, 0, 1)), 0);
  EXPECT_EQ(first_match(rules, header(0, 0, 0, 0, 0)), 1);
  EXPECT_EQ(first_match(rules, header(0, 0, 0, 0, 255)), 2);
}

// Every burst size from 0 to past 64 gives what first_match gives.
TEST(Reference, ClassifierAgreesWithFirstMatchForEveryBurstSize) {
  std::vector<Rule> rules = rules_from(kFirewall);
  ReferenceClassifier reference;
  ASSERT_TRUE(reference.build(rules).ok());
  EXPECT_EQ(reference.memory_bytes(), rules.size() * sizeof(Rule));
  std::vector<Header> headers;
  for (std::uint32_t i = 0; i < 70; ++i) {
    headers.push_back(header(ip(10, 1, 2, 3 + (i % 2)), ip(192, 168, 1, i), 1000 + i * 7,
                             static_cast<std::uint16_t>(i % 3 == 0 ? 22 : 80 + i),
                             static_cast<std::uint8_t>(i % 4 == 0 ? 17 : 6)));
  }
  for (std::size_t n = 0; n <= headers.size(); ++n) {
    std::vector<std::int32_t> out(n, 12345);
    reference.classify(std::span(headers).first(n), out);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i], first_match(rules, headers[i])) << "burst " << n << " header " << i;
    }
  }
}

// ClassBench's trace generator builds each header from a rule, so that rule
// matches it and the first match is it or an earlier rule.
TEST(Reference, TraceHeadersMatchTheirGeneratingRule) {
  const std::filesystem::path dir = std::filesystem::path(FW_TEST_DATA_DIR) / "classbench";
  for (std::string_view name : {"acl1_1k", "fw1_1k", "ipc1_1k"}) {
    fw::StatusOr<test::LoadedSet> set = test::load_set(dir, name);
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    const std::vector<Rule>& rules = set->rules;
    const Trace& trace = set->trace;
    std::size_t earlier = 0;
    for (std::size_t i = 0; i < trace.size(); ++i) {
      std::uint32_t from = trace.generated_from[i];
      ASSERT_LT(from, rules.size()) << name << " trace line " << i + 1;
      ASSERT_TRUE(rules[from].matches(trace.headers[i]))
          << name << " trace line " << i + 1 << ": " << format_header(trace.headers[i])
          << " does not match its rule " << from << " " << format_rule(rules[from]);
      std::int32_t first = first_match(rules, trace.headers[i]);
      ASSERT_GE(first, 0);
      ASSERT_LE(static_cast<std::uint32_t>(first), from);
      if (static_cast<std::uint32_t>(first) < from) ++earlier;
    }
    // The point of the oracle: the trace column is not the answer.
    EXPECT_GT(earlier, 0u) << name << ": every header's first match is its generating rule";
  }
}

}  // namespace
}  // namespace classbench
