// Validation: one case per rule of docs/policy.md ("Validation"). Each bad
// policy must produce exactly the expected problems — the object, the field
// and the whole message — and nothing else (no consequence of a first
// problem reported as a second one).
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "fw/policy.h"

namespace fw {
namespace {

using fw::check_policy_bytes;
using fw::PolicyFormat;

constexpr std::string_view kDefaultRule = "\ndefault_rule { action: DROP }\n";

// Text-format policy -> every problem, as "where: field: message".
std::vector<std::string> problems_of(const std::string& text) {
  const std::string full = text.find("default_rule") == std::string::npos ? text + std::string(kDefaultRule) : text;
  auto report = check_policy_bytes(full, PolicyFormat::kText);
  if (!report.status.ok()) return {"(did not parse) " + report.status.to_string()};
  std::vector<std::string> out;
  for (const PolicyError& p : report.problems) out.push_back(p.to_string());
  return out;
}

struct Case {
  std::string_view name;
  std::string text;
  // Exact problems in order; one ending in "..." matches as a prefix.
  std::vector<std::string> problems;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

bool matches(const std::string& actual, const std::string& expected) {
  if (expected.ends_with("...")) return actual.starts_with(expected.substr(0, expected.size() - 3));
  return actual == expected;
}

class PolicyValidation : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyValidation, ReportsExactlyTheProblem) {
  const Case& c = GetParam();
  const std::vector<std::string> actual = problems_of(c.text);
  ASSERT_EQ(actual.size(), c.problems.size()) << ::testing::PrintToString(actual);
  for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_PRED2(matches, actual[i], c.problems[i]);

  // parse_policy_text refuses the policy whole, naming the first problem.
  const std::string full =
      c.text.find("default_rule") == std::string::npos ? c.text + std::string(kDefaultRule) : c.text;
  auto parsed = parse_policy_text(full);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_PRED2(matches, parsed.status().message(), c.problems.front());
}

std::string rule12(std::string_view body, std::string_view category = "application") {
  return std::string(category) + " { id: \"s\" rules { id: 12 " + std::string(body) + " } }\n";
}

const std::string kRegexLimit(257, 'a');

INSTANTIATE_TEST_SUITE_P(
    Ids, PolicyValidation,
    ::testing::Values(
        Case{"RuleIdZero", "application { id: \"s\" rules { action: ALLOW } }",
             {"section s rules[0]: id: rule id 0 is reserved; give every rule a unique non-zero id"}},
        Case{"DuplicateRuleIdAcrossCategories",
             "emergency { id: \"e\" rules { id: 5 action: DROP } }\n"
             "application { id: \"a\" rules { id: 6 action: ALLOW } rules { id: 5 action: ALLOW } }",
             {"rule 5: id: duplicate rule id 5 (section e rules[0] has it too); rule ids are unique across all "
              "categories"}},
        Case{"DefaultRuleIdCollides",
             "application { id: \"a\" rules { id: 7 action: ALLOW } }\ndefault_rule { action: DROP id: 7 }",
             {"default_rule: id: 7 is also the id of section a rules[0]; the default rule needs its own id"}},
        Case{"DefaultRuleIdZero", "default_rule { action: DROP id: 0 }",
             {"default_rule: id: rule id 0 is reserved; omit id (4294967295) or give a non-zero id"}},
        Case{"DuplicateGroupId", "groups { id: \"g\" } groups { id: \"g\" }",
             {"group g: id: duplicate group id 'g' (groups[0] has it too)"}},
        Case{"DuplicateServiceId",
             "services { id: \"s\" entries {} } services { id: \"s\" entries { protocol: 6 } }",
             {"service s: id: duplicate service id 's' (services[0] has it too)"}},
        Case{"DuplicateSectionIdAcrossCategories", "emergency { id: \"x\" } application { id: \"x\" }",
             {"section x: id: duplicate section id 'x' (emergency[0] has it too)"}},
        Case{"EmptyGroupId", "groups { name: \"nameless\" }",
             {"groups[0]: id: empty id; every object needs a unique id"}},
        Case{"EmptyServiceId", "services { entries {} }", {"services[0]: id: empty id; every object needs a unique id"}},
        Case{"EmptySectionId", "application { rules { id: 1 action: ALLOW } }",
             {"application[0]: id: empty id; every object needs a unique id"}},
        Case{"EmptySectionIdAndRuleIdZero", "infrastructure { } infrastructure { rules { action: ALLOW } }",
             {"infrastructure[0]: id: empty id; every object needs a unique id",
              "infrastructure[1]: id: empty id; every object needs a unique id",
              "infrastructure[1] rules[0]: id: rule id 0 is reserved; give every rule a unique non-zero id"}},
        Case{"IdWithWhitespace", "groups { id: \"web servers\" }",
             {"groups[0]: id: id 'web servers' contains whitespace or a control character; ids are single tokens"}},
        Case{"IdTooLong", "groups { id: \"" + std::string(257, 'g') + "\" }",
             {"groups[0]: id: id of 257 bytes; the limit is 256"}}));

INSTANTIATE_TEST_SUITE_P(
    References, PolicyValidation,
    ::testing::Values(
        Case{"UnknownGroupInSources", rule12("sources { groups: \"nope\" } action: ALLOW"),
             {"rule 12: sources.groups[0]: unknown group 'nope'"}},
        Case{"UnknownGroupInDestinationsDidYouMean",
             "groups { id: \"Web\" }\n" + rule12("destinations { groups: [\"Web\", \"web\"] } action: ALLOW"),
             {"rule 12: destinations.groups[1]: unknown group 'web'; did you mean 'Web'? (ids are case-sensitive)"}},
        Case{"UnknownAppliedTo", rule12("applied_to_groups: \"nope\" action: ALLOW"),
             {"rule 12: applied_to_groups[0]: unknown group 'nope'"}},
        Case{"UnknownNestedGroup", "groups { id: \"a\" groups: \"b\" }", {"group a: groups[0]: unknown group 'b'"}},
        Case{"UnknownService", rule12("services: \"https\" action: ALLOW"),
             {"rule 12: services[0]: unknown service 'https'"}},
        Case{"ServiceUsedAsGroup",
             "services { id: \"dns\" entries { protocol: 17 dst_ports: \"53\" } }\n" +
                 rule12("sources { groups: \"dns\" } action: ALLOW"),
             {"rule 12: sources.groups[0]: unknown group 'dns'; 'dns' is a service"}},
        Case{"GroupUsedAsService", "groups { id: \"web\" }\n" + rule12("services: \"web\" action: ALLOW"),
             {"rule 12: services[0]: unknown service 'web'; 'web' is a group"}},
        Case{"EmptyReference", rule12("sources { groups: \"\" } action: ALLOW"),
             {"rule 12: sources.groups[0]: empty group id"}},
        Case{"Cycle",
             "groups { id: \"a\" groups: \"b\" } groups { id: \"b\" groups: \"c\" } groups { id: \"c\" groups: \"a\" }",
             {"group a: groups[0]: cycle a -> b -> c -> a; a group cannot contain itself, directly or through nested "
              "groups"}},
        Case{"SelfCycle", "groups { id: \"a\" cidrs: \"10.0.0.0/8\" groups: [\"a\"] }",
             {"group a: groups[0]: cycle a -> a; a group cannot contain itself, directly or through nested groups"}},
        Case{"CycleBelowTheFirstGroup",
             "groups { id: \"top\" groups: \"x\" } groups { id: \"x\" groups: [\"top2\", \"y\"] }"
             "groups { id: \"y\" groups: \"x\" } groups { id: \"top2\" }",
             {"group x: groups[1]: cycle x -> y -> x; a group cannot contain itself, directly or through nested "
              "groups"}}));

INSTANTIATE_TEST_SUITE_P(
    Addresses, PolicyValidation,
    ::testing::Values(
        Case{"HostBitsSet", rule12("sources { cidrs: \"10.0.0.1/8\" } action: ALLOW"),
             {"rule 12: sources.cidrs[0]: '10.0.0.1/8': host bits set; did you mean 10.0.0.0/8?"}},
        Case{"PrefixLengthOutOfRange", rule12("sources { cidrs: [\"10.1.0.0/16\", \"10.0.0.0/33\"] } action: ALLOW"),
             {"rule 12: sources.cidrs[1]: '10.0.0.0/33': prefix length 33 is out of range 0-32"}},
        Case{"NotAnAddress", "groups { id: \"g\" cidrs: [\"10.0.0.0/8\", \"web\"] }",
             {"group g: cidrs[1]: 'web': not an IPv4 or IPv6 address"}},
        Case{"RangeReversed", rule12("destinations { ranges: \"10.0.0.9-10.0.0.1\" } action: ALLOW"),
             {"rule 12: destinations.ranges[0]: '10.0.0.9-10.0.0.1': first address 10.0.0.9 is greater than last "
              "address 10.0.0.1"}},
        Case{"RangeMixedFamilies", "groups { id: \"g\" ranges: \"10.0.0.1-::1\" }",
             {"group g: ranges[0]: '10.0.0.1-::1': mixes IPv4 and IPv6; a range has one family"}},
        Case{"ExcludeCidrHostBits", "groups { id: \"g\" criteria { all_of { key: TAG operator: EQUALS values: \"x\" } } "
                                    "exclude_cidrs: \"10.0.0.1/24\" }",
             {"group g: exclude_cidrs[0]: '10.0.0.1/24': host bits set; did you mean 10.0.0.0/24?"}},
        Case{"EmptyVmId", "groups { id: \"g\" vm_ids: [\"vm-1\", \"\"] exclude_vm_ids: \"\" }",
             {"group g: vm_ids[1]: empty VM id", "group g: exclude_vm_ids[0]: empty VM id"}},
        Case{"MixedFamiliesCanNeverMatch",
             rule12("sources { cidrs: \"10.0.0.0/8\" } destinations { cidrs: [\"2001:db8::/32\", \"fd00::1\"] } "
                    "action: ALLOW"),
             {"rule 12: destinations: the rule can never match: its sources are IPv4 only and its destinations IPv6 "
              "only (literal addresses, no groups); split it per family"}},
        Case{"MixedFamiliesWithRanges",
             rule12("sources { ranges: \"2001:db8::1-2001:db8::9\" } destinations { ranges: \"10.0.0.1-10.0.0.2\" } "
                    "action: DROP"),
             {"rule 12: destinations: the rule can never match: its sources are IPv6 only and its destinations IPv4 "
              "only (literal addresses, no groups); split it per family"}},
        Case{"NegatedAny", rule12("sources { negate: true } action: DROP"),
             {"rule 12: sources.negate: negating 'any' matches nothing; list what to negate, or remove negate"}}));

INSTANTIATE_TEST_SUITE_P(
    Services, PolicyValidation,
    ::testing::Values(
        Case{"PortRangeReversed", "services { id: \"s\" entries { protocol: 6 dst_ports: [\"80\", \"90-80\"] } }",
             {"service s: entries[0].dst_ports[1]: '90-80': first port 90 is greater than last port 80"}},
        Case{"PortNotANumber", "services { id: \"s\" entries { protocol: 6 dst_ports: \"http\" } }",
             {"service s: entries[0].dst_ports[0]: 'http': not a port or port range; write 80 or 1024-65535"}},
        Case{"PortOutOfRange", "services { id: \"s\" entries { protocol: 17 src_ports: \"1024-70000\" } }",
             {"service s: entries[0].src_ports[0]: '1024-70000': port 70000 is out of range 0-65535"}},
        Case{"PortsOnIcmp", "services { id: \"s\" entries { protocol: 6 } entries { protocol: 1 dst_ports: \"80\" } }",
             {"service s: entries[1].dst_ports: protocol 1 (ICMP) has no ports; ports apply to TCP (6), UDP (17) and "
              "SCTP (132)"}},
        Case{"PortsOnAnyProtocol", "services { id: \"s\" entries { src_ports: \"80\" } }",
             {"service s: entries[0].src_ports: ports need a protocol: set protocol to 6 (TCP), 17 (UDP) or 132 "
              "(SCTP)"}},
        Case{"InlinePortsOnGre", rule12("inline_services { protocol: 47 dst_ports: \"1\" } action: ALLOW"),
             {"rule 12: inline_services[0].dst_ports: protocol 47 (GRE) has no ports; ports apply to TCP (6), UDP (17) "
              "and SCTP (132)"}},
        Case{"IcmpTypeOnTcp", "services { id: \"s\" entries { protocol: 6 icmp_type: 8 icmp_code: 0 } }",
             {"service s: entries[0].icmp_type: protocol 6 (TCP) is not ICMP; icmp_type applies to protocol 1 (ICMP) "
              "and 58 (ICMPv6)",
              "service s: entries[0].icmp_code: protocol 6 (TCP) is not ICMP; icmp_code applies to protocol 1 (ICMP) "
              "and 58 (ICMPv6)"}},
        Case{"IcmpTypeWithoutProtocol", "services { id: \"s\" entries { icmp_type: 8 } }",
             {"service s: entries[0].icmp_type: an ICMP type needs protocol 1 (ICMP) or 58 (ICMPv6)"}},
        Case{"IcmpCodeWithoutType", "services { id: \"s\" entries { protocol: 58 icmp_code: 0 } }",
             {"service s: entries[0].icmp_code: a code needs icmp_type too: ICMP codes are defined per type"}},
        Case{"ProtocolOutOfRange", "services { id: \"s\" entries { protocol: 300 dst_ports: \"80\" } }",
             {"service s: entries[0].protocol: 300 is not an IP protocol number (0-255)"}},
        Case{"IcmpTypeOutOfRange", "services { id: \"s\" entries { protocol: 1 icmp_type: 256 } }",
             {"service s: entries[0].icmp_type: 256 is not an ICMP type (0-255)"}},
        Case{"ServiceWithoutEntries", "services { id: \"s\" }",
             {"service s: entries: empty; a service needs at least one entry (an entry without protocol matches any "
              "traffic)"}},
        Case{"IcmpAgainstIpv6Addresses",
             rule12("sources { cidrs: \"2001:db8::/32\" } inline_services { protocol: 1 icmp_type: 8 } action: ALLOW"),
             {"rule 12: inline_services: the rule can never match: its services are all ICMP (1), which is IPv4 only, "
              "but its addresses are IPv6 only; use ICMPv6 (58)"}},
        Case{"Icmpv6AgainstIpv4Addresses",
             "services { id: \"ping6\" entries { protocol: 58 icmp_type: 128 } }\n" +
                 rule12("destinations { ranges: \"10.0.0.1-10.0.0.9\" } services: \"ping6\" action: ALLOW"),
             {"rule 12: services: the rule can never match: its services are all ICMPv6 (58) but its addresses are "
              "IPv4 only; use ICMP (1)"}}));

std::string criterion(std::string_view body) {
  return "groups { id: \"g\" criteria { all_of { " + std::string(body) + " } } }";
}

INSTANTIATE_TEST_SUITE_P(
    Criteria, PolicyValidation,
    ::testing::Values(
        Case{"NoValue", criterion("key: TAG operator: EQUALS"),
             {"group g: criteria[0].all_of[0].values: empty; EQUALS needs one value"}},
        Case{"InWithoutValues", criterion("key: TAG operator: IN"),
             {"group g: criteria[0].all_of[0].values: empty; IN needs at least one value"}},
        Case{"EqualsWithTwoValues", criterion("key: OS_NAME operator: EQUALS values: [\"a\", \"b\"]"),
             {"group g: criteria[0].all_of[0].values: EQUALS takes exactly one value, got 2; use IN for a list"}},
        Case{"NotEqualsWithTwoValues", criterion("key: OS_NAME operator: NOT_EQUALS values: [\"a\", \"b\"]"),
             {"group g: criteria[0].all_of[0].values: NOT_EQUALS takes exactly one value, got 2; use NOT_IN for a "
              "list"}},
        Case{"MatchesWithTwoValues", criterion("key: VM_NAME operator: MATCHES values: [\"a\", \"b\"]"),
             {"group g: criteria[0].all_of[0].values: MATCHES takes exactly one value, got 2; combine them into one "
              "regex with (a|b)"}},
        Case{"EmptyValue", criterion("key: TAG operator: NOT_IN values: [\"a\", \"\"]"),
             {"group g: criteria[0].all_of[0].values[1]: empty value"}},
        Case{"ValueTooLong", criterion("key: COMPUTER_NAME operator: CONTAINS values: \"" + std::string(257, 'v') + "\""),
             {"group g: criteria[0].all_of[0].values[0]: value of 257 bytes; the limit is 256"}},
        Case{"InvalidRegex", criterion("key: VM_NAME operator: MATCHES values: \"web-(\""),
             {"group g: criteria[0].all_of[0].values[0]: 'web-(': not a valid ECMAScript regular expression: ..."}},
        Case{"RegexTooLong", criterion("key: VM_NAME operator: MATCHES values: \"" + kRegexLimit + "\""),
             {"group g: criteria[0].all_of[0].values[0]: regular expression of 257 characters; the limit is 256"}},
        Case{"RegexTooComplex", criterion("key: VM_NAME operator: MATCHES values: \"(a{1000}){1000}\""),
             {"group g: criteria[0].all_of[0].values[0]: '(a{1000}){1000}': regular expression too complex: about "
              "1001000 states once its repetitions are expanded; the limit is 10000"}},
        Case{"RegexNestedRepetitions", criterion("key: VM_NAME operator: MATCHES values: \"((ab){10,}|c{0,99}){200}\""),
             {"group g: criteria[0].all_of[0].values[0]: '((ab){10,}|c{0,99}){200}': regular expression too complex: "
              "about 26600 states once its repetitions are expanded; the limit is 10000"}},
        // libstdc++ would overflow reading the count (undefined behaviour).
        Case{"RegexHugeRepetitionCount",
             criterion("key: VM_NAME operator: MATCHES values: \"(a){77777777777777777777,7}\""),
             {"group g: criteria[0].all_of[0].values[0]: '(a){77777777777777777777,7}': regular expression with a "
              "repetition count of more than 9 digits"}},
        Case{"RegexHugeUnterminatedCount", criterion("key: VM_NAME operator: MATCHES values: \"a{1234567890{\""),
             {"group g: criteria[0].all_of[0].values[0]: 'a{1234567890{': regular expression with a repetition count "
              "of more than 9 digits"}},
        Case{"ScopeOnVmName", criterion("key: VM_NAME operator: EQUALS scope: \"tier\" values: \"x\""),
             {"group g: criteria[0].all_of[0].scope: only TAG criteria have a scope; remove it (VM_NAME has none)"}},
        Case{"KeyMissing", criterion("operator: EQUALS values: \"x\""),
             {"group g: criteria[0].all_of[0].key: missing; say TAG, VM_NAME, OS_NAME or COMPUTER_NAME"}},
        // The operator is unknown, so the value count is not judged against a guess.
        Case{"OperatorMissing", criterion("key: TAG values: [\"x\", \"y\"]"),
             {"group g: criteria[0].all_of[0].operator: missing; say EQUALS, NOT_EQUALS, CONTAINS, STARTS_WITH, "
              "ENDS_WITH, IN, NOT_IN or MATCHES"}},
        Case{"KeyUnknownNumber", criterion("key: 9 operator: EQUALS values: \"x\""),
             {"group g: criteria[0].all_of[0].key: 9 is not a criterion key; use TAG, VM_NAME, OS_NAME or "
              "COMPUTER_NAME"}},
        Case{"EmptyExpression", "groups { id: \"g\" criteria { } }",
             {"group g: criteria[0].all_of: empty; an expression needs at least one criterion"}}));

INSTANTIATE_TEST_SUITE_P(
    Actions, PolicyValidation,
    ::testing::Values(
        Case{"ActionMissing", rule12("name: \"no action\""),
             {"rule 12: action: missing; every rule says what it does: ALLOW, DROP, REJECT or JUMP_TO_APPLICATION"}},
        Case{"ActionUnknownNumber", rule12("action: 9"),
             {"rule 12: action: 9 is not an action; use ALLOW, DROP, REJECT or JUMP_TO_APPLICATION"}},
        Case{"DirectionUnknownNumber", rule12("direction: 7 action: DROP"),
             {"rule 12: direction: 7 is not a direction; use IN_OUT, IN or OUT"}},
        Case{"JumpInsideApplication", rule12("action: JUMP_TO_APPLICATION"),
             {"rule 12: action: JUMP_TO_APPLICATION skips to the application category, so it cannot be used inside "
              "it; use ALLOW, DROP or REJECT"}},
        Case{"DefaultRuleMissing", "# (no default_rule)\n" + rule12("action: ALLOW"),
             {"default_rule: missing; every policy ends with a default rule: add default_rule { action: DROP } to deny "
              "what no rule allows, or ALLOW"}},
        Case{"DefaultActionMissing", "default_rule { id: 5 }", {"default_rule: action: missing; say ALLOW or DROP"}},
        Case{"DefaultActionReject", "default_rule { action: REJECT }",
             {"default_rule: action: REJECT is not allowed for the default rule; use ALLOW or DROP"}},
        Case{"DefaultActionJump", "default_rule { action: JUMP_TO_APPLICATION }",
             {"default_rule: action: JUMP_TO_APPLICATION is not allowed for the default rule; use ALLOW or DROP"}},
        Case{"RevalidationUnknownNumber", "revalidation: 7",
             {"policy: revalidation: 7 is not a revalidation mode; use KEEP, REVALIDATE or RESET"}}));

// Policies that are right, including the edges of the rules above.
class PolicyValid : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyValid, HasNoProblem) {
  EXPECT_EQ(problems_of(GetParam().text), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(
    Edges, PolicyValid,
    ::testing::Values(
        Case{"OnlyADefaultRule", "default_rule { action: ALLOW }", {}},
        Case{"JumpBeforeApplication",
             rule12("action: JUMP_TO_APPLICATION", "ethernet") +
                 "environment { id: \"e\" rules { id: 13 action: JUMP_TO_APPLICATION } }",
             {}},
        Case{"FamiliesMeetThroughAGroup",
             "groups { id: \"g\" }\n" +
                 rule12("sources { cidrs: \"10.0.0.0/8\" } destinations { cidrs: \"2001:db8::/32\" groups: \"g\" } "
                        "action: ALLOW"),
             {}},
        Case{"FamiliesMeetThroughNegation",
             rule12("sources { cidrs: \"10.0.0.0/8\" } destinations { cidrs: \"2001:db8::/32\" negate: true } "
                    "action: DROP"),
             {}},
        Case{"DualStackSides",
             rule12("sources { cidrs: [\"10.0.0.0/8\", \"2001:db8::/32\"] } destinations { cidrs: \"fd00::/8\" } "
                    "inline_services { protocol: 58 } action: ALLOW"),
             {}},
        Case{"IcmpBothFamilies",
             rule12("sources { cidrs: \"fd00::/8\" } inline_services { protocol: 1 } inline_services { protocol: 58 } "
                    "action: ALLOW"),
             {}},
        Case{"PortEdges", "services { id: \"s\" entries { protocol: 132 src_ports: \"0\" dst_ports: \"0-65535\" } }", {}},
        Case{"IcmpTypeAndCode", "services { id: \"s\" entries { protocol: 1 icmp_type: 3 icmp_code: 4 } }", {}},
        Case{"CriteriaEdges",
             criterion("key: TAG operator: IN scope: \"env\" values: [\"prod\"]") +
                 "groups { id: \"h\" criteria { all_of { key: VM_NAME operator: MATCHES values: \"^web-[0-9]{1,3}$\" } "
                 "all_of { key: OS_NAME operator: NOT_IN values: [\"a\", \"b\"] } } }",
             {}},
        Case{"RegexAtTheStateLimit", criterion("key: VM_NAME operator: MATCHES values: \"(?:[a-z0-9]{9998})\""), {}},
        Case{"DiamondIsNotACycle",
             "groups { id: \"top\" groups: [\"l\", \"r\"] } groups { id: \"l\" groups: \"bottom\" } "
             "groups { id: \"r\" groups: \"bottom\" } groups { id: \"bottom\" }",
             {}},
        Case{"ForwardReferences",
             rule12("sources { groups: \"later\" } services: \"svc\" action: ALLOW") +
                 "groups { id: \"later\" } services { id: \"svc\" entries { } }",
             {}}));

// ---- many problems at once ------------------------------------------------------

TEST(CheckPolicy, ListsEveryProblemInDocumentOrder) {
  const std::string text = R"(
    default_rule { action: REJECT id: 3 }
    application { id: "e" rules { id: 3 action: JUMP_TO_APPLICATION } }
    emergency { id: "e" rules { id: 3 sources { groups: "nope" cidrs: "bad" } } }
    groups { id: "g" cidrs: "10.0.0.1/8" groups: "missing" }
    services { id: "s" entries { protocol: 1 dst_ports: "80" } }
  )";
  EXPECT_EQ(problems_of(text),
            (std::vector<std::string>{
                "service s: entries[0].dst_ports: protocol 1 (ICMP) has no ports; ports apply to TCP (6), UDP (17) "
                "and SCTP (132)",
                "group g: cidrs[0]: '10.0.0.1/8': host bits set; did you mean 10.0.0.0/8?",
                "group g: groups[0]: unknown group 'missing'",
                "rule 3: sources.groups[0]: unknown group 'nope'",
                "rule 3: sources.cidrs[0]: 'bad': not an IPv4 or IPv6 address",
                "rule 3: action: missing; every rule says what it does: ALLOW, DROP, REJECT or JUMP_TO_APPLICATION",
                "section e: id: duplicate section id 'e' (emergency[0] has it too)",
                "rule 3: id: duplicate rule id 3 (section e rules[0] has it too); rule ids are unique across all "
                "categories",
                "rule 3: action: JUMP_TO_APPLICATION skips to the application category, so it cannot be used inside "
                "it; use ALLOW, DROP or REJECT",
                "default_rule: action: REJECT is not allowed for the default rule; use ALLOW or DROP",
                "default_rule: id: 3 is also the id of section e rules[0]; the default rule needs its own id",
            }));
}

// ---- the model, built in code -----------------------------------------------------

Policy one_rule_policy() {
  Policy policy;
  policy.default_action = RuleAction::kDrop;
  Section section{.id = "s", .name = "", .stateless = false, .rules = {}};
  Rule rule;
  rule.id = 1;
  rule.action = RuleAction::kDrop;
  section.rules.push_back(rule);
  policy.categories[static_cast<std::size_t>(Category::kApplication)].push_back(section);
  return policy;
}

Rule& the_rule(Policy& policy) { return policy.categories[static_cast<std::size_t>(Category::kApplication)][0].rules[0]; }

TEST(CheckPolicy, DefaultModelIsValid) {
  EXPECT_TRUE(check_policy(Policy{}).empty());
  EXPECT_TRUE(validate_policy(Policy{}).ok());
  EXPECT_TRUE(validate_policy(one_rule_policy()).ok());
}

TEST(CheckPolicy, ModelValuesThatNoParserProduces) {
  Policy policy = one_rule_policy();
  Rule& rule = the_rule(policy);
  rule.sources.cidrs.push_back({.address = IpAddress::v4(0x0a000000), .prefix_length = 40});
  rule.sources.cidrs.push_back(Cidr{});  // no family
  IpAddress odd_v4 = IpAddress::v4(0x0a000001);
  odd_v4.bytes[9] = 1;
  rule.destinations.ranges.push_back({.first = odd_v4, .last = odd_v4});
  rule.action = static_cast<RuleAction>(9);
  rule.direction = static_cast<RuleDirection>(5);
  policy.revalidation = static_cast<RevalidationMode>(8);
  policy.groups.push_back(Group{.id = "g", .name = "", .cidrs = {}, .ranges = {}, .vnic_ids = {}, .vm_ids = {}, .groups = {},
                                .criteria = {{.all_of = {Criterion{.key = static_cast<CriterionKey>(7),
                                                                   .op = static_cast<CriterionOperator>(11),
                                                                   .scope = "",
                                                                   .values = {"x"}}}}},
                                .exclude_cidrs = {}, .exclude_vm_ids = {}});
  std::vector<std::string> problems;
  for (const PolicyError& p : check_policy(policy)) problems.push_back(p.to_string());
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "group g: criteria[0].all_of[0].key: 7 is not a criterion key",
                          "group g: criteria[0].all_of[0].operator: 11 is not a criterion operator",
                          "rule 1: sources.cidrs[0]: '10.0.0.0/40': prefix length 40 is out of range 0-32",
                          "rule 1: sources.cidrs[1]: '-/0': the address has no family (neither IPv4 nor IPv6)",
                          "rule 1: destinations.ranges[0]: '10.0.0.1-10.0.0.1': an IPv4 address with bytes set past "
                          "the first four",
                          "rule 1: direction: 5 is not a direction",
                          "rule 1: action: 9 is not an action",
                          "policy: revalidation: 8 is not a revalidation mode",
                      }));
  Status first = validate_policy(policy);
  EXPECT_EQ(first.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(first.message(), problems.front());
}

TEST(CheckPolicy, LongNestedChainsAndCycles) {
  // Deep nesting must not exhaust the stack; a long cycle is shown by its ends.
  Policy policy;
  constexpr int kGroups = 20000;
  for (int i = 0; i < kGroups; ++i) {
    Group g;
    g.id = "g" + std::to_string(i);
    if (i + 1 < kGroups) g.groups.push_back("g" + std::to_string(i + 1));
    policy.groups.push_back(std::move(g));
  }
  EXPECT_TRUE(check_policy(policy).empty());
  policy.groups.back().groups.push_back("g0");
  std::vector<PolicyError> problems = check_policy(policy);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].to_string(),
            "group g0: groups[0]: cycle g0 -> g1 -> g2 -> g3 -> g4 -> (19990 more) -> g19995 -> g19996 -> g19997 -> "
            "g19998 -> g19999 -> g0; a group cannot contain itself, directly or through nested groups");
}

TEST(CheckPolicy, ManyReferencesToABigServiceStayLinear) {
  // 100000 references to a service of 100000 entries: the family check
  // must look at the service once, not once per reference.
  Policy policy = one_rule_policy();
  Service big{.id = "big", .name = "", .entries = {}};
  big.entries.assign(100000, ServiceEntry{.protocol = 1, .src_ports = {}, .dst_ports = {}, .icmp_type = {}, .icmp_code = {}});
  policy.services.push_back(std::move(big));
  Rule& rule = the_rule(policy);
  rule.sources.cidrs.push_back({.address = IpAddress::v4(0x0a000000), .prefix_length = 8});
  rule.services.assign(100000, "big");
  EXPECT_TRUE(check_policy(policy).empty());
  rule.sources.cidrs[0] = *parse_cidr("2001:db8::/32");
  std::vector<PolicyError> problems = check_policy(policy);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].field, "services");
}

}  // namespace
}  // namespace fw
