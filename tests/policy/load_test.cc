// Policy files: the sample decodes to exactly the expected model; text,
// JSON and binary are equivalent; syntax errors carry line and column; file
// errors name the path.
#include <gtest/gtest.h>

#include "support/scratch_dir.h"
#include "support/subprocess.h"
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fw/policy.h"
#include "fw/v1/policy.pb.h"
#include "policy/policy_text.h"

namespace fw {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(FW_EXAMPLES_DATA_DIR) / "policy";
const fs::path kBadSamples = fs::path(FW_TEST_DATA_DIR) / "policy";

using fw::test::read_file;

IpAddress ip(std::string_view text) {
  auto a = parse_ip(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddress{};
}
Cidr cidr(std::string_view address, int length) {
  return {.address = ip(address), .prefix_length = static_cast<std::uint8_t>(length)};
}

class PolicyFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& contents) const {
    return scratch_.write(name, contents);
  }
  fw::test::ScratchDir scratch_{"fw_policy_test"};
  const fs::path& dir_ = scratch_.path();
};

// ---- the sample, field by field -------------------------------------------------

TEST(PolicySample, ThreeTierDecodesToTheModel) {
  auto loaded = load_policy((kSamples / "three-tier.textpb").string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Policy& p = *loaded;

  ASSERT_EQ(p.services.size(), 7u);
  EXPECT_EQ(p.services[0].id, "https");
  EXPECT_EQ(p.services[0].name, "HTTPS");
  ASSERT_EQ(p.services[0].entries.size(), 1u);
  EXPECT_EQ(p.services[0].entries[0].protocol, std::uint8_t{6});
  EXPECT_EQ(p.services[0].entries[0].dst_ports, (std::vector<PortRange>{{443, 443}}));
  EXPECT_TRUE(p.services[0].entries[0].src_ports.empty());
  EXPECT_FALSE(p.services[0].entries[0].icmp_type.has_value());
  EXPECT_EQ(p.services[1].entries[0].dst_ports, (std::vector<PortRange>{{80, 80}, {8080, 8081}}));
  ASSERT_EQ(p.services[4].entries.size(), 2u);
  EXPECT_EQ(p.services[4].entries[0].protocol, std::uint8_t{17});
  EXPECT_EQ(p.services[4].entries[1].protocol, std::uint8_t{6});
  EXPECT_EQ(p.services[5].entries[0].src_ports, (std::vector<PortRange>{{1024, 65535}}));
  const Service& ping = p.services[6];
  EXPECT_EQ(ping.id, "ping");
  EXPECT_EQ(ping.entries[0].protocol, std::uint8_t{1});
  EXPECT_EQ(ping.entries[0].icmp_type, std::uint8_t{8});
  EXPECT_EQ(ping.entries[0].icmp_code, std::uint8_t{0});
  EXPECT_EQ(ping.entries[1].protocol, std::uint8_t{58});
  EXPECT_EQ(ping.entries[1].icmp_type, std::uint8_t{128});
  EXPECT_FALSE(ping.entries[1].icmp_code.has_value());

  ASSERT_EQ(p.groups.size(), 8u);
  const Group& web = p.groups[0];
  EXPECT_EQ(web.id, "web");
  EXPECT_EQ(web.name, "web tier");
  ASSERT_EQ(web.criteria.size(), 1u);
  ASSERT_EQ(web.criteria[0].all_of.size(), 1u);
  EXPECT_EQ(web.criteria[0].all_of[0].key, CriterionKey::kTag);
  EXPECT_EQ(web.criteria[0].all_of[0].op, CriterionOperator::kEquals);
  EXPECT_EQ(web.criteria[0].all_of[0].scope, "tier");
  EXPECT_EQ(web.criteria[0].all_of[0].values, std::vector<std::string>{"web"});
  EXPECT_EQ(p.groups[2].vm_ids, std::vector<std::string>{"vm-db-standby"});
  EXPECT_EQ(p.groups[3].groups, (std::vector<std::string>{"web", "app", "db"}));
  const Group& production = p.groups[4];
  EXPECT_EQ(production.criteria[0].all_of[0].op, CriterionOperator::kIn);
  EXPECT_EQ(production.criteria[0].all_of[0].values, (std::vector<std::string>{"prod", "production"}));
  EXPECT_EQ(production.exclude_vm_ids, std::vector<std::string>{"vm-canary-1"});
  const Group& quarantine = p.groups[5];
  ASSERT_EQ(quarantine.criteria.size(), 2u);
  ASSERT_EQ(quarantine.criteria[1].all_of.size(), 2u);
  EXPECT_EQ(quarantine.criteria[1].all_of[0].key, CriterionKey::kVmName);
  EXPECT_EQ(quarantine.criteria[1].all_of[0].op, CriterionOperator::kMatches);
  EXPECT_EQ(quarantine.criteria[1].all_of[0].values, std::vector<std::string>{"^infected-[0-9]+$"});
  EXPECT_EQ(quarantine.criteria[1].all_of[1].key, CriterionKey::kOsName);
  EXPECT_EQ(quarantine.criteria[1].all_of[1].op, CriterionOperator::kStartsWith);
  EXPECT_EQ(p.groups[6].cidrs, (std::vector<Cidr>{cidr("10.99.0.0", 24), cidr("2001:db8:99::", 64)}));
  const Group& dns = p.groups[7];
  EXPECT_EQ(dns.cidrs, std::vector<Cidr>{cidr("10.0.0.53", 32)});
  EXPECT_EQ(dns.ranges, (std::vector<IpRange>{{ip("10.0.1.53"), ip("10.0.1.54")}}));
  EXPECT_EQ(dns.vnic_ids, (std::vector<std::uint32_t>{7001, 7002}));

  auto category = [&](Category c) -> const std::vector<Section>& { return p.categories[static_cast<std::size_t>(c)]; };
  EXPECT_TRUE(category(Category::kEthernet).empty());
  ASSERT_EQ(category(Category::kEmergency).size(), 1u);
  const Section& emergency = category(Category::kEmergency)[0];
  EXPECT_EQ(emergency.id, "quarantine");
  EXPECT_EQ(emergency.name, "isolate infected VMs");
  EXPECT_FALSE(emergency.stateless);
  ASSERT_EQ(emergency.rules.size(), 2u);
  const Rule& r100 = emergency.rules[0];
  EXPECT_EQ(r100.id, 100u);
  EXPECT_EQ(r100.sources.groups, std::vector<std::string>{"quarantine"});
  EXPECT_FALSE(r100.sources.negate);
  EXPECT_TRUE(r100.destinations.is_any());
  EXPECT_TRUE(r100.services.empty());
  EXPECT_TRUE(r100.inline_services.empty());
  EXPECT_EQ(r100.direction, RuleDirection::kInOut);
  EXPECT_EQ(r100.action, RuleAction::kDrop);
  EXPECT_TRUE(r100.logged);
  EXPECT_EQ(r100.tag, "quarantine");
  EXPECT_FALSE(r100.disabled);
  EXPECT_EQ(emergency.rules[1].destinations.groups, std::vector<std::string>{"quarantine"});

  const Section& infra = category(Category::kInfrastructure).at(0);
  ASSERT_EQ(infra.rules.size(), 2u);
  EXPECT_EQ(infra.rules[0].services, std::vector<std::string>{"dns"});
  EXPECT_EQ(infra.rules[1].services, (std::vector<std::string>{"ssh", "ping"}));
  EXPECT_EQ(infra.rules[1].action, RuleAction::kAllow);

  const Section& env = category(Category::kEnvironment).at(0);
  ASSERT_EQ(env.rules.size(), 2u);
  EXPECT_TRUE(env.rules[0].sources.negate);
  EXPECT_EQ(env.rules[0].sources.groups, std::vector<std::string>{"production"});
  EXPECT_EQ(env.rules[1].action, RuleAction::kJumpToApplication);

  ASSERT_EQ(category(Category::kApplication).size(), 2u);
  const Section& app = category(Category::kApplication)[0];
  ASSERT_EQ(app.rules.size(), 4u);
  const Rule& r1000 = app.rules[0];
  EXPECT_EQ(r1000.id, 1000u);
  EXPECT_EQ(r1000.direction, RuleDirection::kIn);
  EXPECT_EQ(r1000.applied_to_groups, std::vector<std::string>{"web"});
  EXPECT_TRUE(r1000.applied_to_vnics.empty());
  EXPECT_EQ(r1000.services, (std::vector<std::string>{"https", "http"}));
  EXPECT_EQ(app.rules[2].destinations.cidrs, std::vector<Cidr>{cidr("10.20.30.0", 24)});
  EXPECT_EQ(app.rules[2].destinations.groups, std::vector<std::string>{"db"});
  const Rule& r1003 = app.rules[3];
  EXPECT_TRUE(r1003.disabled);
  EXPECT_EQ(r1003.sources.cidrs, std::vector<Cidr>{cidr("2001:db8:1::10", 128)});
  ASSERT_EQ(r1003.inline_services.size(), 1u);
  EXPECT_EQ(r1003.inline_services[0].protocol, std::uint8_t{6});
  EXPECT_EQ(r1003.inline_services[0].dst_ports, (std::vector<PortRange>{{9100, 9100}}));
  const Section& deny = category(Category::kApplication)[1];
  EXPECT_TRUE(deny.stateless);
  EXPECT_EQ(deny.rules.at(0).action, RuleAction::kReject);

  EXPECT_EQ(p.default_action, RuleAction::kDrop);
  EXPECT_EQ(p.default_rule_id, 9999u);
  EXPECT_EQ(p.revalidation, RevalidationMode::kRevalidate);
  EXPECT_TRUE(p.tcp_strict);
  EXPECT_TRUE(validate_policy(p).ok());
}

TEST(PolicySample, DefaultsOfAMinimalPolicy) {
  auto p = parse_policy_text("default_rule { action: ALLOW }");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->default_action, RuleAction::kAllow);
  EXPECT_EQ(p->default_rule_id, 0xffffffffu);
  EXPECT_EQ(p->revalidation, RevalidationMode::kRevalidate);
  EXPECT_FALSE(p->tcp_strict);
  EXPECT_FALSE(p->default_logged);
  EXPECT_EQ(p->default_tag, "");
  auto logged = parse_policy_text(R"(default_rule { action: DROP logged: true tag: "deny-rest" })");
  ASSERT_TRUE(logged.ok()) << logged.status().to_string();
  EXPECT_TRUE(logged->default_logged);
  EXPECT_EQ(logged->default_tag, "deny-rest");
  auto keep = parse_policy_text("default_rule { action: DROP } revalidation: KEEP");
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->revalidation, RevalidationMode::kKeep);
  auto reset = parse_policy_json(R"({"default_rule": {"action": "DROP"}, "revalidation": "RESET"})");
  ASSERT_TRUE(reset.ok()) << reset.status().to_string();
  EXPECT_EQ(reset->revalidation, RevalidationMode::kReset);
}

// ---- the three formats say the same ---------------------------------------------

TEST(PolicyFormats, JsonSampleIsTheTextSample) {
  auto text = load_policy((kSamples / "three-tier.textpb").string());
  auto json = load_policy((kSamples / "three-tier.json").string());
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  ASSERT_TRUE(json.ok()) << json.status().to_string();
  EXPECT_EQ(test::describe(*json), test::describe(*text));
}

TEST(PolicyFormats, RoundTripThroughEveryEncoding) {
  const std::string text = read_file(kSamples / "three-tier.textpb");
  v1::Policy message;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message));
  auto reference = parse_policy_text(text);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  const std::string expected = test::describe(*reference);

  std::string binary;
  ASSERT_TRUE(message.SerializeToString(&binary));
  auto from_binary = parse_policy_binary(binary);
  ASSERT_TRUE(from_binary.ok()) << from_binary.status().to_string();
  EXPECT_EQ(test::describe(*from_binary), expected);

  for (bool proto_names : {false, true}) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = proto_names;  // false: lowerCamelCase
    options.add_whitespace = true;
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
    auto from_json = parse_policy_json(json);
    ASSERT_TRUE(from_json.ok()) << from_json.status().to_string() << "\n" << json;
    EXPECT_EQ(test::describe(*from_json), expected) << (proto_names ? "proto names" : "camelCase");
  }

  std::string printed;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(message, &printed));
  auto from_printed = parse_policy_text(printed);
  ASSERT_TRUE(from_printed.ok()) << from_printed.status().to_string();
  EXPECT_EQ(test::describe(*from_printed), expected);
}

TEST_F(PolicyFileTest, LoadPolicyChoosesTheFormatByExtension) {
  v1::Policy message;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(read_file(kSamples / "three-tier.textpb"), &message));
  const std::string expected = test::describe(*load_policy((kSamples / "three-tier.textpb").string()));
  std::string binary;
  ASSERT_TRUE(message.SerializeToString(&binary));
  for (const char* name : {"p.pb", "p.bin", "p.PB"}) {
    auto loaded = load_policy(write(name, binary));
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().to_string();
    EXPECT_EQ(test::describe(*loaded), expected);
  }
  for (const char* name : {"p.JSON", "p.json"}) {
    auto loaded = load_policy(write(name, read_file(kSamples / "three-tier.json")));
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().to_string();
  }
  for (const char* name : {"p.conf", "p", "p.txt"}) {
    auto loaded = load_policy(write(name, read_file(kSamples / "three-tier.textpb")));
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().to_string();
  }
  EXPECT_EQ(policy_format_for_path("a/b.c/policy"), PolicyFormat::kText);
}

// ---- file errors ---------------------------------------------------------------------

TEST_F(PolicyFileTest, MissingFileIsAnIoErrorNamingThePath) {
  const std::string path = (dir_ / "absent.textpb").string();
  auto loaded = load_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_EQ(loaded.status().message(), path + ": cannot open: No such file or directory");
}

TEST_F(PolicyFileTest, DirectoryIsAnIoError) {
  fs::create_directory(dir_ / "policy.json");
  auto loaded = load_policy((dir_ / "policy.json").string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_EQ(loaded.status().message(), (dir_ / "policy.json").string() + ": is a directory, not a policy file");
}

TEST_F(PolicyFileTest, UnreadableFileIsAnIoError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  const std::string path = write("secret.textpb", "default_rule { action: DROP }");
  fs::permissions(path, fs::perms::none);
  auto loaded = load_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kIoError);
  EXPECT_EQ(loaded.status().message(), path + ": cannot open: Permission denied");
}

TEST_F(PolicyFileTest, OversizedFileIsRefused) {
  const std::string path = write("huge.textpb", "");
  fs::resize_file(path, (64u << 20) + 1);
  auto loaded = load_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(loaded.status().message(), path + ": larger than 64 MiB, the limit of a policy file");
}

TEST_F(PolicyFileTest, ProblemsArePrefixedWithThePath) {
  const std::string path = write("bad.textpb", "default_rule { action: DROP id: 0 }\n");
  auto loaded = load_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.status().message(),
            path + ": default_rule: id: rule id 0 is reserved; omit id (4294967295) or give a non-zero id");
}

TEST_F(PolicyFileTest, JsonInATextFileGetsAHint) {
  const std::string path = write("policy.textpb", "{\"default_rule\": {\"action\": \"DROP\"}}");
  auto loaded = load_policy(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            path + ": line 1, column 1: Expected identifier, got: { (the file looks like JSON: name it .json)");
}

TEST(PolicyFiles, BadSamplesAreRefused) {
  // Every committed bad sample fails, and says where.
  std::size_t seen = 0;
  for (const auto& entry : fs::directory_iterator(kBadSamples)) {
    if (entry.path().extension() == ".md") continue;
    ++seen;
    auto loaded = load_policy(entry.path().string());
    EXPECT_FALSE(loaded.ok()) << entry.path();
    EXPECT_TRUE(loaded.status().message().starts_with(entry.path().string() + ": ")) << loaded.status().message();
  }
  EXPECT_GE(seen, 4u);
}

// ---- syntax ---------------------------------------------------------------------------

struct SyntaxCase {
  std::string_view name;
  PolicyFormat format;
  std::string input;
  std::string message;  // the whole Status message
};

void PrintTo(const SyntaxCase& c, std::ostream* os) { *os << c.name; }

class PolicySyntax : public ::testing::TestWithParam<SyntaxCase> {};

TEST_P(PolicySyntax, NamesLineColumnOrField) {
  const SyntaxCase& c = GetParam();
  auto report = check_policy_bytes(c.input, c.format);
  ASSERT_FALSE(report.status.ok());
  EXPECT_EQ(report.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status.message(), c.message);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_FALSE(report.policy.has_value());
}

using fw::PolicyFormat;
using namespace std::string_literals;

INSTANTIATE_TEST_SUITE_P(
    Text, PolicySyntax,
    ::testing::Values(
        SyntaxCase{"UnknownField", PolicyFormat::kText, "services {\n  id: \"a\"\n  bogus: 1 }",
                   "line 3, column 8: Message type \"fw.v1.Service\" has no field named \"bogus\"."},
        SyntaxCase{"UnknownEnumName", PolicyFormat::kText, "default_rule { action: PERMIT }",
                   "line 1, column 31: Unknown enumeration value of \"PERMIT\" for field \"action\"."},
        SyntaxCase{"FieldTwice", PolicyFormat::kText, "tcp_strict: true\ntcp_strict: false",
                   "line 2, column 11: Non-repeated field \"tcp_strict\" is specified multiple times."},
        SyntaxCase{"Unclosed", PolicyFormat::kText, "groups { id: \"a\"",
                   "line 1, column 17: Expected identifier, got: end of input"},
        SyntaxCase{"NotUtf8", PolicyFormat::kText, "groups { id: \"\\377\" }",
                   "groups[0].id: not valid UTF-8; strings are UTF-8 text"}));

INSTANTIATE_TEST_SUITE_P(
    Json, PolicySyntax,
    ::testing::Values(
        SyntaxCase{"TrailingComma", PolicyFormat::kJson, "{\n  \"services\": [\n    {\"id\": \"a\",}\n  ]\n}",
                   "line 3, column 16: services[0]: trailing comma before '}'"},
        SyntaxCase{"DuplicateKey", PolicyFormat::kJson, R"({"tcp_strict": true, "tcpStrict": false})",
                   "line 1, column 22: field \"tcp_strict\" given twice (first at line 1, column 2)"},
        SyntaxCase{"DuplicateAction", PolicyFormat::kJson,
                   "{\"default_rule\": {\"action\": \"DROP\",\n \"action\": \"ALLOW\"}}",
                   "line 2, column 2: default_rule: field \"action\" given twice (first at line 1, column 19)"},
        SyntaxCase{"UnknownField", PolicyFormat::kJson, R"({"services": [{"bogus": 1}]})",
                   "line 1, column 16: services[0]: unknown field \"bogus\" in fw.v1.Service; its fields are id, name, "
                   "entries"},
        SyntaxCase{"StringForNumber", PolicyFormat::kJson, R"({"services": [{"entries": [{"protocol": "tcp"}]}]})",
                   "line 1, column 41: services[0].entries[0].protocol: want a whole number 0-4294967295, got the "
                   "string \"tcp\""},
        SyntaxCase{"NegativeNumber", PolicyFormat::kJson, R"({"default_rule": {"id": -1}})",
                   "line 1, column 25: default_rule.id: want a whole number 0-4294967295, got the number -1"},
        SyntaxCase{"FractionalNumber", PolicyFormat::kJson, R"({"default_rule": {"id": 1e3}})",
                   "line 1, column 25: default_rule.id: want a whole number 0-4294967295, got the number 1e3"},
        SyntaxCase{"NumberTooBig", PolicyFormat::kJson, R"({"default_rule": {"id": "4294967296"}})",
                   "line 1, column 25: default_rule.id: want a whole number 0-4294967295, got the string "
                   "\"4294967296\""},
        SyntaxCase{"StringForBool", PolicyFormat::kJson,
                   R"({"application": [{"rules": [{"sources": {"negate": "no"}}]}]})",
                   "line 1, column 52: application[0].rules[0].sources.negate: want true or false, got the string "
                   "\"no\""},
        SyntaxCase{"UnknownEnumName", PolicyFormat::kJson, R"({"default_rule": {"action": "PERMIT"}})",
                   "line 1, column 29: default_rule.action: want one of ALLOW, DROP, REJECT, JUMP_TO_APPLICATION, "
                   "got the string \"PERMIT\""},
        SyntaxCase{"ObjectForList", PolicyFormat::kJson, R"({"services": {"id": "a"}})",
                   "line 1, column 14: services: want a list [ ... ], got an object"},
        SyntaxCase{"ListForObject", PolicyFormat::kJson, R"({"default_rule": []})",
                   "line 1, column 18: default_rule: want an object { ... } (fw.v1.DefaultRule), got a list"},
        SyntaxCase{"NullInList", PolicyFormat::kJson, R"({"services": [null]})",
                   "line 1, column 15: services[0]: null in a list; remove it"},
        SyntaxCase{"NotAnObject", PolicyFormat::kJson, "[1]",
                   "line 1, column 1: found a list; a JSON policy is an object { ... }"},
        SyntaxCase{"Empty", PolicyFormat::kJson, "  \n", "line 2, column 1: empty input; a JSON policy is an object { ... }"},
        SyntaxCase{"Unterminated", PolicyFormat::kJson, "{\"services\": [{\"id\": \"a",
                   "line 1, column 24: services[0].id: unterminated string"},
        SyntaxCase{"ControlCharacter", PolicyFormat::kJson, "{\"services\": [{\"id\": \"a\tb\"}]}",
                   "line 1, column 24: services[0].id: control character 0x09 in a string; escape it"},
        SyntaxCase{"InvalidUtf8", PolicyFormat::kJson, "{\"services\": [{\"id\": \"\xff\"}]}",
                   "line 1, column 23: services[0].id: invalid UTF-8 in a string"},
        SyntaxCase{"GarbageAfter", PolicyFormat::kJson, "{} x",
                   "line 1, column 4: found 'x' after the end of the policy object"},
        SyntaxCase{"Comment", PolicyFormat::kJson, "{ // no comments in JSON\n}",
                   "line 1, column 3: expected a field name in double quotes, found '/'"}));

INSTANTIATE_TEST_SUITE_P(
    Binary, PolicySyntax,
    ::testing::Values(
        SyntaxCase{"Garbage", PolicyFormat::kBinary, "\xff\xff\xff\xff",
                   "not a binary fw.v1.Policy (protobuf wire format)"},
        // Field 99, varint 1: a field of some newer schema.
        SyntaxCase{"UnknownTopLevelField", PolicyFormat::kBinary, "\x98\x06\x01"s,
                   "field number 99 of fw.v1.Policy is unknown to this libfw; the policy was written for a newer "
                   "schema (or is not a policy)"},
        // services[0] { field 42: varint 1 }
        SyntaxCase{"UnknownNestedField", PolicyFormat::kBinary, "\x0a\x03\xd0\x02\x01"s,
                   "services[0]: field number 42 of fw.v1.Service is unknown to this libfw; the policy was written "
                   "for a newer schema (or is not a policy)"}));

TEST(PolicyJson, DeepNestingIsRefused) {
  std::string deep = R"({"application": [{"rules": [{"sources": {}}]}]})";
  auto ok = check_policy_bytes(deep, PolicyFormat::kJson);
  EXPECT_TRUE(ok.status.ok()) << ok.status.to_string();
  // Only the schema nests, so an unknown key stops long before depth matters;
  // nesting inside a known field is bounded by the schema itself.
  std::string nested(100000, '[');
  auto refused = check_policy_bytes("{\"services\": " + nested, PolicyFormat::kJson);
  EXPECT_FALSE(refused.status.ok());
}

TEST(PolicyJson, AcceptsTheProto3JsonMapping) {
  auto p = parse_policy_json(R"({
    "defaultRule": {"action": "DROP", "id": "77"},
    "tcpStrict": true,
    "revalidation": null,
    "groups": [{"id": "g", "vnicIds": [1, "2"], "excludeCidrs": null}],
    "application": [{"id": "a", "rules": [{"id": 5, "action": 2, "appliedToGroups": ["g"]}]}]
  })");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->default_rule_id, 77u);
  EXPECT_TRUE(p->tcp_strict);
  EXPECT_EQ(p->groups.at(0).vnic_ids, (std::vector<std::uint32_t>{1, 2}));
  const Rule& rule = p->categories[static_cast<std::size_t>(Category::kApplication)].at(0).rules.at(0);
  EXPECT_EQ(rule.action, RuleAction::kDrop);
  EXPECT_EQ(rule.applied_to_groups, std::vector<std::string>{"g"});
}

TEST(PolicyJson, DecodingAndValidationProblemsReadAsInText) {
  auto p = parse_policy_json(R"({"default_rule": {"action": "DROP"}, "groups": [{"id": "g", "cidrs": ["10.0.0.1/8"]}]})");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "group g: cidrs[0]: '10.0.0.1/8': host bits set; did you mean 10.0.0.0/8?");
  auto unknown_action = parse_policy_json(R"({"default_rule": {"action": 7}})");
  ASSERT_FALSE(unknown_action.ok());
  EXPECT_EQ(unknown_action.status().message(), "default_rule: action: 7 is not an action; use ALLOW or DROP");
}

TEST(PolicyBinary, UnknownEnumNumbersAreDecodingErrors) {
  v1::Policy message;
  message.mutable_default_rule()->set_action(v1::Rule::DROP);
  v1::Rule* rule = message.add_application()->add_rules();
  message.mutable_application(0)->set_id("a");
  rule->set_id(1);
  rule->set_action(static_cast<v1::Rule::Action>(9));
  std::string binary;
  ASSERT_TRUE(message.SerializeToString(&binary));
  auto p = parse_policy_binary(binary);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "rule 1: action: 9 is not an action; use ALLOW, DROP, REJECT or JUMP_TO_APPLICATION");
}

TEST(PolicyReport, EveryProblemOfABadFile) {
  auto report = check_policy_file((kBadSamples / "many-problems.textpb").string(), std::nullopt);
  ASSERT_TRUE(report.status.ok()) << report.status.to_string();
  std::vector<std::string> problems;
  for (const PolicyError& p : report.problems) problems.push_back(p.to_string());
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "service web: entries[0].dst_ports[0]: '8443-443': first port 8443 is greater than last port 443",
                "service ping: entries[0].dst_ports: protocol 1 (ICMP) has no ports; ports apply to TCP (6), UDP (17) "
                "and SCTP (132)",
                "group db: cidrs[0]: '10.0.3.1/24': host bits set; did you mean 10.0.3.0/24?",
                "group db: groups[0]: cycle db -> all -> db; a group cannot contain itself, directly or through "
                "nested groups",
                "rule 10: sources.groups[0]: unknown group 'wbe'",
                "rule 10: services[0]: unknown service 'https'",
                "rule 11: destinations.cidrs[0]: '10.0.0.0/33': prefix length 33 is out of range 0-32",
                "rule 10: id: duplicate rule id 10 (section app rules[0] has it too); rule ids are unique across all "
                "categories",
                "rule 10: action: missing; every rule says what it does: ALLOW, DROP, REJECT or JUMP_TO_APPLICATION",
                "default_rule: action: REJECT is not allowed for the default rule; use ALLOW or DROP",
            }));
  // parse/load stop at the first.
  auto loaded = load_policy((kBadSamples / "many-problems.textpb").string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(), (kBadSamples / "many-problems.textpb").string() + ": " + problems[0]);
}

}  // namespace
}  // namespace fw

namespace fw {
namespace {

// The model compares structurally: the same policy read from text and from
// JSON is equal, and any field change makes it differ (what an incremental
// compiler diffs on).
TEST(PolicyModelEquality, SameFileInTwoFormatsIsEqualAndEditsDiffer) {
  const std::string dir = std::string(FW_EXAMPLES_DATA_DIR) + "/policy/";
  auto text = load_policy(dir + "three-tier.textpb");
  auto json = load_policy(dir + "three-tier.json");
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  ASSERT_TRUE(json.ok()) << json.status().to_string();
  EXPECT_TRUE(*text == *json);
  Policy edited = *text;
  ASSERT_FALSE(edited.categories[static_cast<int>(Category::kApplication)].empty());
  ASSERT_FALSE(edited.categories[static_cast<int>(Category::kApplication)][0].rules.empty());
  edited.categories[static_cast<int>(Category::kApplication)][0].rules[0].destinations.negate ^= true;
  EXPECT_FALSE(edited == *text);
  Policy regrouped = *text;
  ASSERT_FALSE(regrouped.groups.empty());
  regrouped.groups[0].cidrs.push_back(Cidr{IpAddress::v4(0x0a0a0a0au), 32});
  EXPECT_FALSE(regrouped == *text);
}

}  // namespace
}  // namespace fw
