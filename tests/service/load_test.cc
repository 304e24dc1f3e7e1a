// Redirect policies (libfw/service/load.cc): the sample decodes to exactly
// the expected model; text, JSON and binary read alike and survive a round
// trip; every validation rule of docs/service-policy.md is reported with
// the object and field it concerns; unknown fields and file errors are
// refused with the path, line or field.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fw/policy.h"
#include "fw/service.h"
#include "libfw/service/load_internal.h"
#include "support/scratch_dir.h"

namespace fw {
namespace {

namespace fs = std::filesystem;
using service_internal::check_redirect_policy_bytes;
using service_internal::write_redirect_policy;

// tests/data/../../examples/data: the service test target has no
// examples-directory definition of its own.
const fs::path kSample = fs::path(FW_TEST_DATA_DIR) / ".." / ".." / "examples" / "data" / "redirect-policy.textpb";

Cidr cidr(std::string_view text) {
  auto parsed = parse_cidr(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return parsed.ok() ? *parsed : Cidr{};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string listing(const std::vector<PolicyError>& problems) {
  std::string out;
  for (const PolicyError& p : problems) out += "\n  " + p.to_string();
  return out.empty() ? " (none)" : out;
}

// Whether `problems` has one at `where` / `field` whose message contains
// `text`; on failure, every problem is shown.
testing::AssertionResult has_problem(const std::vector<PolicyError>& problems, std::string_view where,
                                     std::string_view field, std::string_view text) {
  for (const PolicyError& p : problems) {
    if (p.where == where && p.field == field && p.message.find(text) != std::string::npos) {
      // The field is named in the text a user reads.
      if (p.to_string().find(std::string(where) + ": " + std::string(field) + ": ") == std::string::npos)
        return testing::AssertionFailure() << "to_string() does not name the field: " << p.to_string();
      return testing::AssertionSuccess();
    }
  }
  return testing::AssertionFailure() << "no problem \"" << where << ": " << field << ": ..." << text
                                     << "...\" among:" << listing(problems);
}

testing::AssertionResult contains(std::string_view haystack, std::string_view needle) {
  if (haystack.find(needle) != std::string_view::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << needle << "\" not in:\n" << haystack;
}

// The model of examples/data/redirect-policy.textpb.
RedirectPolicy sample_model() {
  RedirectPolicy p;
  p.services.push_back({.id = "web-ports",
                        .name = "HTTP and HTTPS",
                        .entries = {{.protocol = 6, .dst_ports = {{80, 80}, {443, 443}}}}});
  Group web;
  web.id = "web";
  web.criteria = {{.all_of = {{.key = CriterionKey::kTag,
                               .op = CriterionOperator::kEquals,
                               .scope = "tier",
                               .values = {"web"}}}}};
  p.groups.push_back(web);
  p.profiles.push_back({.id = "ids",
                        .service = "intrusion detection",
                        .instances = {{.endpoint = 101}, {.endpoint = 102}},
                        .failure = FailurePolicy::kFailOpen});
  p.profiles.push_back({.id = "ngfw",
                        .service = "next-generation firewall",
                        .instances = {{.endpoint = 201}},
                        .failure = FailurePolicy::kFailClosed,
                        .encapsulation = ServiceEncapsulation::kNsh});
  p.chains.push_back({.id = "ids-then-ngfw", .profiles = {"ids", "ngfw"}, .path_id = 100});
  p.rules.push_back({.id = 10,
                     .name = "management is never redirected",
                     .sources = {.cidrs = {cidr("10.200.0.0/16")}},
                     .action = RedirectAction::kDoNotRedirect});
  p.rules.push_back({.id = 20,
                     .name = "web ports through the IDS and the NGFW",
                     .services = {"web-ports"},
                     .action = RedirectAction::kRedirect,
                     .target = "ids-then-ngfw"});
  p.rules.push_back({.id = 30,
                     .name = "everything else from the web tier to the IDS",
                     .sources = {.groups = {"web"}},
                     .direction = RuleDirection::kOut,
                     .action = RedirectAction::kRedirect,
                     .target = "ids"});
  return p;
}

// The sample, written by hand in JSON (field names of the .proto and
// lowerCamelCase both appear, enums by name).
constexpr std::string_view kSampleJson = R"({
  "services": [{"id": "web-ports", "name": "HTTP and HTTPS",
                "entries": [{"protocol": 6, "dst_ports": ["80", "443"]}]}],
  "groups": [{"id": "web", "criteria": [{"all_of": [
      {"key": "TAG", "operator": "EQUALS", "scope": "tier", "values": ["web"]}]}]}],
  "profiles": [
    {"id": "ids", "service": "intrusion detection",
     "instances": [{"endpoint": 101}, {"endpoint": 102, "healthy": true}], "failure": "FAIL_OPEN"},
    {"id": "ngfw", "service": "next-generation firewall",
     "instances": [{"endpoint": "201"}], "failure": "FAIL_CLOSED", "encapsulation": "NSH",
     "repinOnFailure": false}
  ],
  "chains": [{"id": "ids-then-ngfw", "profiles": ["ids", "ngfw"], "pathId": 100}],
  "rules": [
    {"id": 10, "name": "management is never redirected",
     "sources": {"cidrs": ["10.200.0.0/16"]}, "action": "DO_NOT_REDIRECT"},
    {"id": 20, "name": "web ports through the IDS and the NGFW", "services": ["web-ports"],
     "action": "REDIRECT", "target": "ids-then-ngfw"},
    {"id": 30, "name": "everything else from the web tier to the IDS",
     "sources": {"groups": ["web"]}, "direction": "OUT", "action": "REDIRECT", "target": "ids"}
  ]
})";

// Profiles and a chain most validation tests start from (valid).
RedirectPolicy base() {
  RedirectPolicy p;
  p.profiles.push_back({.id = "ids", .instances = {{.endpoint = 1}, {.endpoint = 2}}});
  p.profiles.push_back({.id = "ngfw", .instances = {{.endpoint = 3}}, .failure = FailurePolicy::kFailClosed});
  p.chains.push_back({.id = "both", .profiles = {"ids", "ngfw"}});
  p.rules.push_back({.id = 1, .target = "both"});
  return p;
}

// ---- the sample and the formats -------------------------------------------------------

TEST(RedirectPolicyLoad, SampleDecodesToTheModel) {
  auto loaded = load_redirect_policy(kSample.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->services, sample_model().services);
  EXPECT_EQ(loaded->groups, sample_model().groups);
  EXPECT_EQ(loaded->profiles, sample_model().profiles);
  EXPECT_EQ(loaded->chains, sample_model().chains);
  ASSERT_EQ(loaded->rules.size(), 3u);
  for (std::size_t r = 0; r < 3; ++r) EXPECT_EQ(loaded->rules[r], sample_model().rules[r]) << "rules[" << r << "]";
  EXPECT_TRUE(*loaded == sample_model());
  EXPECT_TRUE(validate_redirect_policy(*loaded).empty()) << listing(validate_redirect_policy(*loaded));
  // Instances without `healthy` start healthy.
  EXPECT_TRUE(loaded->profiles[0].instances[0].healthy);
}

TEST(RedirectPolicyLoad, HandWrittenJsonEqualsTheSample) {
  auto parsed = parse_redirect_policy_json(kSampleJson);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_TRUE(*parsed == sample_model());
}

TEST(RedirectPolicyLoad, TextAndJsonRoundTrips) {
  RedirectPolicy p = sample_model();
  // Every kind of field set somewhere, away from its default.
  p.profiles[1].repin_on_failure = true;
  p.profiles[1].instances.push_back({.endpoint = 202, .healthy = false});
  p.groups[0].cidrs = {cidr("10.1.0.0/16"), cidr("2001:db8::/32")};
  p.groups[0].ranges = {*parse_ip_range("10.2.0.1-10.2.0.9")};
  p.groups[0].vnic_ids = {4, 5};
  p.groups[0].vm_ids = {"vm-1"};
  p.groups[0].exclude_cidrs = {cidr("10.1.2.3")};
  p.groups[0].exclude_vm_ids = {"vm-2"};
  p.groups.push_back({.id = "db", .groups = {"web"}});
  p.rules[2].destinations = {.groups = {"db"}, .cidrs = {cidr("10.9.0.0/16")}, .vnic_ids = {7}, .negate = true};
  p.rules[2].inline_services = {{.protocol = 17, .src_ports = {{1024, 65535}}, .dst_ports = {{53, 53}}},
                                {.protocol = 1, .icmp_type = 8, .icmp_code = 0}};
  p.rules[2].applied_to_groups = {"web"};
  p.rules[2].applied_to_vnics = {4};
  p.rules[1].disabled = true;
  p.rules[1].direction = RuleDirection::kIn;
  ASSERT_TRUE(validate_redirect_policy(p).empty()) << listing(validate_redirect_policy(p));

  const std::string text = write_redirect_policy(p, PolicyFormat::kText);
  auto from_text = parse_redirect_policy_text(text);
  ASSERT_TRUE(from_text.ok()) << from_text.status().to_string() << "\n" << text;
  EXPECT_TRUE(*from_text == p) << text;

  const std::string json = write_redirect_policy(p, PolicyFormat::kJson);
  auto from_json = parse_redirect_policy_json(json);
  ASSERT_TRUE(from_json.ok()) << from_json.status().to_string() << "\n" << json;
  EXPECT_TRUE(*from_json == p) << json;
}

class RedirectPolicyFileTest : public testing::Test {
 protected:
  std::string write(const std::string& name, std::string_view contents) const { return scratch_.write(name, contents); }
  fw::test::ScratchDir scratch_{"fw_redirect_policy_test"};
};

TEST_F(RedirectPolicyFileTest, FormatByExtension) {
  const RedirectPolicy p = sample_model();
  const std::string text = read_file(kSample);
  const std::string binary = write_redirect_policy(p, PolicyFormat::kBinary);
  for (const auto& [name, contents] : std::vector<std::pair<std::string, std::string>>{
           {"a.textpb", text}, {"a.conf", text}, {"noext", text}, {"a.json", std::string(kSampleJson)},
           {"a.JSON", std::string(kSampleJson)}, {"a.pb", binary}, {"a.bin", binary}}) {
    auto loaded = load_redirect_policy(write(name, contents));
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().to_string();
    EXPECT_TRUE(*loaded == p) << name;
  }
}

TEST_F(RedirectPolicyFileTest, JsonInATextFileSaysSo) {
  const std::string path = write("policy.textpb", kSampleJson);
  auto loaded = load_redirect_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(loaded.status().message(), path + ": line 1"));
  EXPECT_TRUE(contains(loaded.status().message(), "looks like JSON"));
}

TEST_F(RedirectPolicyFileTest, MissingFileAndDirectory) {
  const std::string missing = (scratch_.path() / "absent.textpb").string();
  auto loaded = load_redirect_policy(missing);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_TRUE(contains(loaded.status().message(), missing + ": cannot open"));

  const std::string dir = scratch_.path().string();
  loaded = load_redirect_policy(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_TRUE(contains(loaded.status().message(), dir + ": is a directory"));
}

TEST_F(RedirectPolicyFileTest, FileOverTheSizeLimit) {
  const std::string path = write("huge.textpb", "");
  fs::resize_file(path, (64u << 20) + 1);  // sparse: cheap to make, read to the limit
  auto loaded = load_redirect_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(contains(loaded.status().message(), path + ": larger than 64 MiB"));
}

TEST_F(RedirectPolicyFileTest, ProblemsInAFileStartWithThePath) {
  const std::string path = write("bad.textpb", R"(profiles { id: "ids" instances { endpoint: 1 } }
rules { id: 5 action: REDIRECT target: "nope" }
)");
  auto loaded = load_redirect_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            path + ": profile ids: failure: missing; say FAIL_OPEN (skip the service while it is down: traffic "
                   "passes uninspected) or FAIL_CLOSED (drop that traffic)\n" +
                path + ": rule 5: target: unknown profile or chain 'nope'");
}

TEST_F(RedirectPolicyFileTest, UnknownBinaryFieldRefused) {
  // Field 15 (varint 1) of fw.v1.RedirectPolicy does not exist.
  const std::string path = write("future.pb", std::string("\x78\x01", 2));
  auto loaded = load_redirect_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(loaded.status().message(), path + ": field number 15"));
}

// ---- parse errors -------------------------------------------------------------------------

TEST(RedirectPolicyLoad, SyntaxErrorNamesTheLine) {
  auto parsed = parse_redirect_policy_text("profiles {\n  id: \"ids\"\n  failure: FAIL_OPEN,,\n}\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(contains(parsed.status().message(), "line 3, column"));
}

TEST(RedirectPolicyLoad, UnknownFieldsRefused) {
  struct Case {
    std::string_view input;
    bool json;
    std::string_view expected;
  };
  for (const Case& c : {
           Case{"profiles { id: \"ids\" weight: 3 }", false, "weight"},
           Case{"shards: 2", false, "shards"},
           // A DFW rule field that redirect rules do not have.
           Case{"rules { id: 1 action: REDIRECT target: \"x\" logged: true }", false, "logged"},
           Case{R"({"profiles": [{"id": "ids", "weight": 3}]})", true,
                "line 1, column 29: profiles[0]: unknown field \"weight\" in fw.v1.ServiceProfile"},
           Case{R"({"chains": [{"id": "c", "hops": ["a"]}]})", true, "chains[0]: unknown field \"hops\""},
           Case{R"({"rules": [{"id": 1, "tag": "x"}]})", true, "rules[0]: unknown field \"tag\" in fw.v1.RedirectRule"},
       }) {
    auto parsed = c.json ? parse_redirect_policy_json(c.input) : parse_redirect_policy_text(c.input);
    ASSERT_FALSE(parsed.ok()) << c.input;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(parsed.status().message(), c.expected));
  }
}

TEST(RedirectPolicyLoad, JsonEnumsAreCheckedByName) {
  auto parsed = parse_redirect_policy_json(R"({"profiles": [{"id": "ids", "failure": "FAIL_SOFT"}]})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(contains(parsed.status().message(),
                       "profiles[0].failure: want one of FAIL_OPEN, FAIL_CLOSED, got the string \"FAIL_SOFT\""));
  parsed = parse_redirect_policy_json(R"({"rules": [{"id": 1, "action": "ALLOW"}]})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(contains(parsed.status().message(), "rules[0].action: want one of REDIRECT, DO_NOT_REDIRECT"));
}

TEST(RedirectPolicyLoad, EnumNumbersOutsideTheSchemaNameTheField) {
  auto report = check_redirect_policy_bytes(
      R"({"profiles": [{"id": "ids", "instances": [{"endpoint": 1}], "failure": 7, "encapsulation": 9}],
          "rules": [{"id": 3, "action": 5, "target": "ids"}, {"id": 4, "direction": 8, "action": 1, "target": "ids"}]})",
      PolicyFormat::kJson);
  ASSERT_TRUE(report.status.ok()) << report.status.to_string();
  EXPECT_TRUE(has_problem(report.problems, "profile ids", "failure", "7 is not a failure policy"));
  EXPECT_TRUE(has_problem(report.problems, "profile ids", "encapsulation", "9 is not an encapsulation"));
  EXPECT_TRUE(has_problem(report.problems, "rule 3", "action", "5 is not a redirect action"));
  EXPECT_TRUE(has_problem(report.problems, "rule 4", "direction", "8 is not a direction"));
  EXPECT_EQ(report.problems.size(), 4u) << listing(report.problems);
}

TEST(RedirectPolicyLoad, RequiredEnumsMustBeWrittenOut) {
  auto report = check_redirect_policy_bytes(R"(profiles { id: "ids" instances { endpoint: 1 } }
rules { id: 9 target: "ids" })",
                                            PolicyFormat::kText);
  ASSERT_TRUE(report.status.ok());
  EXPECT_TRUE(has_problem(report.problems, "profile ids", "failure", "missing; say FAIL_OPEN"));
  EXPECT_TRUE(has_problem(report.problems, "rule 9", "action", "missing; every redirect rule says what it does"));
  EXPECT_EQ(report.problems.size(), 2u) << listing(report.problems);
}

TEST(RedirectPolicyLoad, BadCidrInARuleNamesTheRule) {
  auto report = check_redirect_policy_bytes(R"(profiles { id: "ids" instances { endpoint: 1 } failure: FAIL_OPEN }
rules { id: 7 sources { cidrs: "10.0.0.0/33" } action: REDIRECT target: "ids" }
rules { destinations { cidrs: "10.0.0.1/8" } action: REDIRECT target: "ids" })",
                                            PolicyFormat::kText);
  ASSERT_TRUE(report.status.ok());
  EXPECT_TRUE(has_problem(report.problems, "rule 7", "sources.cidrs[0]", "33"));
  // A rule without an id is named by its position in the redirect table.
  EXPECT_TRUE(has_problem(report.problems, "rules[1]", "id", "rule id 0 is reserved"));
  EXPECT_TRUE(has_problem(report.problems, "rules[1]", "destinations.cidrs[0]", "did you mean 10.0.0.0/8?"));
  // The placeholder a bad CIDR decodes to is not reported a second time.
  EXPECT_EQ(report.problems.size(), 3u) << listing(report.problems);

  auto parsed = parse_redirect_policy_text(R"(profiles { id: "ids" instances { endpoint: 1 } failure: FAIL_OPEN }
rules { id: 7 sources { cidrs: "10.0.0.0/33" } action: REDIRECT target: "ids" })");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(contains(parsed.status().message(), "rule 7: sources.cidrs[0]: "));
}

TEST(RedirectPolicyLoad, EveryProblemInDocumentOrder) {
  auto report = check_redirect_policy_bytes(R"(
rules { id: 1 action: REDIRECT target: "nope" }
chains { id: "c" profiles: "nope" }
profiles { id: "p" failure: FAIL_OPEN }
groups { id: "g" groups: "missing" }
services { id: "s" }
)",
                                            PolicyFormat::kText);
  ASSERT_TRUE(report.status.ok());
  std::vector<std::string> wheres;
  for (const PolicyError& p : report.problems) wheres.push_back(p.where + ": " + p.field);
  EXPECT_EQ(wheres, (std::vector<std::string>{"service s: entries", "group g: groups[0]", "profile p: instances",
                                              "chain c: profiles[0]", "rule 1: target"}))
      << listing(report.problems);
  auto parsed = parse_redirect_policy_text(R"(
rules { id: 1 action: REDIRECT target: "nope" }
profiles { id: "p" failure: FAIL_OPEN }
)");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "profile p: instances: empty; a profile needs 1 to 8 instances (the service's interfaces on this host)\n"
            "rule 1: target: unknown profile or chain 'nope'");
}

TEST(RedirectPolicyLoad, HealthyIsOptional) {
  auto parsed = parse_redirect_policy_text(R"(profiles {
  id: "ids" failure: FAIL_OPEN
  instances { endpoint: 1 }
  instances { endpoint: 2 healthy: false }
  instances { endpoint: 3 healthy: true }
})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->profiles[0].instances.size(), 3u);
  EXPECT_TRUE(parsed->profiles[0].instances[0].healthy);
  EXPECT_FALSE(parsed->profiles[0].instances[1].healthy);
  EXPECT_TRUE(parsed->profiles[0].instances[2].healthy);
}

// ---- validation, rule by rule ---------------------------------------------------------------

TEST(RedirectPolicyValidate, BaseIsValid) {
  EXPECT_TRUE(validate_redirect_policy(base()).empty()) << listing(validate_redirect_policy(base()));
  EXPECT_TRUE(validate_redirect_policy(RedirectPolicy{}).empty());
}

TEST(RedirectPolicyValidate, ProfileAndChainIds) {
  RedirectPolicy p = base();
  p.profiles.push_back({.id = "", .instances = {{.endpoint = 9}}});
  p.profiles.push_back({.id = "two words", .instances = {{.endpoint = 9}}});
  p.profiles.push_back({.id = "ids", .instances = {{.endpoint = 9}}});
  p.chains.push_back({.id = "ngfw", .profiles = {"ids"}});
  p.chains.push_back({.id = "both", .profiles = {"ids"}});
  p.chains.push_back({.id = "", .profiles = {"ids"}});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "profiles[2]", "id", "empty"));
  EXPECT_TRUE(has_problem(problems, "profiles[3]", "id", "whitespace"));
  EXPECT_TRUE(has_problem(problems, "profile ids", "id", "duplicate id 'ids' (profiles[0] has it too)"));
  EXPECT_TRUE(has_problem(problems, "chain ngfw", "id", "duplicate id 'ngfw' (profiles[1] has it too); profiles and chains share one namespace"));
  EXPECT_TRUE(has_problem(problems, "chain both", "id", "duplicate id 'both' (chains[0] has it too)"));
  EXPECT_TRUE(has_problem(problems, "chains[3]", "id", "empty"));
  EXPECT_EQ(problems.size(), 6u) << listing(problems);
}

TEST(RedirectPolicyValidate, ProfileInstances) {
  RedirectPolicy p = base();
  p.profiles[0].instances.clear();
  p.profiles[1].instances = {{.endpoint = 3}, {.endpoint = 0}, {.endpoint = 3}};
  p.profiles.push_back({.id = "big"});
  for (std::uint32_t e = 1; e <= kMaxInstancesPerProfile + 1; ++e) p.profiles.back().instances.push_back({.endpoint = e});
  // The same endpoint in two profiles is allowed (one VM, two roles).
  p.profiles.push_back({.id = "shared", .instances = {{.endpoint = 1}}});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "profile ids", "instances", "empty; a profile needs 1 to 8 instances"));
  EXPECT_TRUE(has_problem(problems, "profile ngfw", "instances[1].endpoint", "non-zero"));
  EXPECT_TRUE(has_problem(problems, "profile ngfw", "instances[2].endpoint", "duplicate endpoint 3 (instances[0] has it too)"));
  EXPECT_TRUE(has_problem(problems, "profile big", "instances", "9 instances; the limit is 8"));
  EXPECT_EQ(problems.size(), 4u) << listing(problems);
}

TEST(RedirectPolicyValidate, ProfileEnumsOutOfRange) {
  RedirectPolicy p = base();
  p.profiles[0].failure = static_cast<FailurePolicy>(9);
  p.profiles[1].encapsulation = static_cast<ServiceEncapsulation>(4);
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "profile ids", "failure", "9 is not a failure policy"));
  EXPECT_TRUE(has_problem(problems, "profile ngfw", "encapsulation", "4 is not an encapsulation"));
  EXPECT_EQ(problems.size(), 2u) << listing(problems);
}

TEST(RedirectPolicyValidate, TooManyProfiles) {
  RedirectPolicy p;
  for (std::size_t i = 0; i <= kMaxProfiles; ++i)
    p.profiles.push_back({.id = "p" + std::to_string(i), .instances = {{.endpoint = 1}}});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "policy", "profiles", "4097 profiles; the limit is 4096"));
  EXPECT_EQ(problems.size(), 1u) << listing(problems);
  p.profiles.pop_back();
  EXPECT_TRUE(validate_redirect_policy(p).empty());
}

TEST(RedirectPolicyValidate, ChainProfiles) {
  RedirectPolicy p = base();
  for (const char* id : {"a", "b", "c"}) p.profiles.push_back({.id = id, .instances = {{.endpoint = 1}}});
  p.chains.push_back({.id = "empty"});
  p.chains.push_back({.id = "long", .profiles = {"ids", "ngfw", "a", "b", "c"}});
  p.chains.push_back({.id = "bad", .profiles = {"IDS", "nope", "both", "", "ngfw", "ngfw"}});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "chain empty", "profiles", "empty; a chain visits 1 to 4 profiles"));
  EXPECT_TRUE(has_problem(problems, "chain long", "profiles", "5 profiles; a chain visits at most 4"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles", "6 profiles"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles[0]", "unknown profile 'IDS'; did you mean 'ids'?"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles[1]", "unknown profile 'nope'"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles[2]", "'both' is a chain; a chain lists profiles"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles[3]", "empty profile id"));
  EXPECT_TRUE(has_problem(problems, "chain bad", "profiles[5]", "profile 'ngfw' is already hop 5 of this chain (profiles[4])"));
  EXPECT_EQ(problems.size(), 8u) << listing(problems);
}

TEST(RedirectPolicyValidate, ChainPathIds) {
  RedirectPolicy p = base();
  p.chains[0].path_id = 1u << 24;
  p.chains.push_back({.id = "c1", .profiles = {"ids"}, .path_id = 77});
  p.chains.push_back({.id = "c2", .profiles = {"ngfw"}, .path_id = 77});
  p.chains.push_back({.id = "c3", .profiles = {"ngfw"}, .path_id = 0});  // 0: assigned by libfw, may repeat
  p.chains.push_back({.id = "c4", .profiles = {"ngfw"}, .path_id = 0});
  p.chains.push_back({.id = "c5", .profiles = {"ngfw"}, .path_id = (1u << 24) - 1});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "chain both", "path_id", "16777216 is out of range 0-16777215"));
  EXPECT_TRUE(has_problem(problems, "chain c2", "path_id", "path_id 77 is also chains[1]'s ('c1')"));
  EXPECT_EQ(problems.size(), 2u) << listing(problems);
}

TEST(RedirectPolicyValidate, RuleTargets) {
  RedirectPolicy p = base();
  p.rules.push_back({.id = 2, .target = "ids"});  // a profile
  p.rules.push_back({.id = 3, .target = ""});
  p.rules.push_back({.id = 4, .target = "Both"});
  p.rules.push_back({.id = 5, .action = RedirectAction::kDoNotRedirect, .target = "ids"});
  p.rules.push_back({.id = 6, .action = RedirectAction::kDoNotRedirect});
  p.rules.push_back({.id = 7, .action = static_cast<RedirectAction>(7), .target = "ids"});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "rule 3", "target", "empty; a REDIRECT rule names the profile or chain"));
  EXPECT_TRUE(has_problem(problems, "rule 4", "target", "unknown profile or chain 'Both'; did you mean 'both'?"));
  EXPECT_TRUE(has_problem(problems, "rule 5", "target", "DO_NOT_REDIRECT takes no target; remove 'ids'"));
  EXPECT_TRUE(has_problem(problems, "rule 7", "action", "7 is not a redirect action"));
  EXPECT_EQ(problems.size(), 4u) << listing(problems);
}

TEST(RedirectPolicyValidate, ReservedRuleIdIsRefusedOnTheRule) {
  RedirectPolicy p = base();
  p.rules.push_back({.id = 0xffffffffu, .target = "ids"});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "rule 4294967295", "id", "reserved for the table's default rule"));
  EXPECT_EQ(problems.size(), 1u) << listing(problems);  // not also as a default-rule problem
}

TEST(RedirectPolicyValidate, MatchPartIsTheDfwsValidation) {
  RedirectPolicy p = base();
  p.services.push_back({.id = "dns", .entries = {{.protocol = 1, .dst_ports = {{53, 53}}}}});
  p.groups.push_back({.id = "web", .groups = {"web"}});
  p.rules.push_back({.id = 2,
                     .sources = {.groups = {"nope"}},
                     .destinations = {.cidrs = {cidr("2001:db8::/32")}, .negate = false},
                     .services = {"dns", "missing"},
                     .applied_to_groups = {"Web"},
                     .target = "ids"});
  p.rules.push_back({.id = 1, .target = "ids"});  // duplicate of the first rule's id
  p.rules.push_back({.id = 0, .sources = {.negate = true}, .target = "ids"});
  const auto problems = validate_redirect_policy(p);
  EXPECT_TRUE(has_problem(problems, "service dns", "entries[0].dst_ports", "protocol 1 (ICMP) has no ports"));
  EXPECT_TRUE(has_problem(problems, "group web", "groups[0]", "cycle web -> web"));
  EXPECT_TRUE(has_problem(problems, "rule 2", "sources.groups[0]", "unknown group 'nope'"));
  EXPECT_TRUE(has_problem(problems, "rule 2", "services[1]", "unknown service 'missing'"));
  EXPECT_TRUE(has_problem(problems, "rule 2", "applied_to_groups[0]", "did you mean 'web'?"));
  EXPECT_TRUE(has_problem(problems, "rule 1", "id", "duplicate rule id 1 (rules[0] has it too)"));
  EXPECT_TRUE(has_problem(problems, "rules[3]", "id", "rule id 0 is reserved"));
  EXPECT_TRUE(has_problem(problems, "rules[3]", "sources.negate", "negating 'any' matches nothing"));
  for (const PolicyError& problem : problems) {
    EXPECT_EQ(problem.where.find("section"), std::string::npos) << problem.to_string();
    EXPECT_EQ(problem.message.find("section redirect"), std::string::npos) << problem.to_string();
  }
}

TEST(RedirectPolicyValidate, ProblemsInDocumentOrder) {
  RedirectPolicy p = base();
  p.rules[0].target = "nope";
  p.chains[0].profiles.push_back("nope");
  p.profiles[1].instances.clear();
  p.groups.push_back({.id = "g", .groups = {"missing"}});
  p.services.push_back({.id = "s"});
  std::vector<std::string> wheres;
  for (const PolicyError& e : validate_redirect_policy(p)) wheres.push_back(e.where + ": " + e.field);
  EXPECT_EQ(wheres, (std::vector<std::string>{"service s: entries", "group g: groups[0]", "profile ngfw: instances",
                                              "chain both: profiles[2]", "rule 1: target"}));
}

}  // namespace
}  // namespace fw
