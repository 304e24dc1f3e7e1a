// End-to-end tests of `fwctl check`: the built binary runs as a subprocess
// on the sample policies (examples/data/policy) and the bad ones
// (tests/data/policy); exit codes, stdout and stderr are checked exactly.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "support/scratch_dir.h"
#include "support/subprocess.h"

#include "fw/v1/policy.pb.h"

namespace {

using fw::test::read_file;
using fw::test::RunResult;
using fw::test::split_lines;

namespace fs = std::filesystem;

const std::string kFwctl = FWCTL_PATH;
const fs::path kSamples = fs::path(FWCTL_DATA_DIR) / "policy";
const fs::path kBad = fs::path(FWCTL_TEST_DATA_DIR) / "policy";
const std::string kThreeTier = (kSamples / "three-tier.textpb").string();

std::string summary(const std::string& path, const std::string& format) {
  return path + ": valid policy (" + format + " format)\n" +
         "  rules     11: ethernet 0, emergency 2, infrastructure 2, environment 2, application 5; 1 disabled, 4 "
         "logged\n"
         "  sections  5: ethernet 0, emergency 1, infrastructure 1, environment 1, application 2; 1 stateless\n"
         "  groups    8: 5 with criteria, 1 with nested groups\n"
         "  services  7\n"
         "  default   rule 9999 DROP; revalidation REVALIDATE; tcp_strict on\n";
}

class FwctlCheckTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& contents) const {
    return scratch_.write(name, contents);
  }

  // Runs fwctl with `args`; stdin from /dev/null, stdout and stderr captured.
  RunResult run(const std::vector<std::string>& args) const {
    RunResult result = fw::test::run_program(kFwctl, args, dir_);
    if (!result.started) ADD_FAILURE() << result.err;
    EXPECT_EQ(result.signal, 0) << "fwctl crashed; stderr: " << result.err;
    return result;
  }

  // A usage error: exit 2, one line on stderr naming the command, no stdout.
  void expect_usage_error(const std::vector<std::string>& args, const std::string& message) const {
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "fwctl check: " + message + " (see 'fwctl check --help')\n");
  }

  fw::test::ScratchDir scratch_{"fwctl_check_test"};
  const fs::path& dir_ = scratch_.path();
};

// ---- valid policies -----------------------------------------------------------------

TEST_F(FwctlCheckTest, ValidPolicyPrintsASummary) {
  RunResult r = run({"check", kThreeTier});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, summary(kThreeTier, "text"));
  EXPECT_EQ(r.err, "");
}

TEST_F(FwctlCheckTest, JsonAndBinaryGiveTheSameSummary) {
  const std::string json = (kSamples / "three-tier.json").string();
  RunResult from_json = run({"check", json});
  EXPECT_EQ(from_json.exit_code, 0) << from_json.err;
  EXPECT_EQ(from_json.out, summary(json, "json"));

  fw::v1::Policy message;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(read_file(kThreeTier), &message));
  std::string bytes;
  ASSERT_TRUE(message.SerializeToString(&bytes));
  const std::string pb = write("three-tier.pb", bytes);
  RunResult from_pb = run({"check", pb});
  EXPECT_EQ(from_pb.exit_code, 0) << from_pb.err;
  EXPECT_EQ(from_pb.out, summary(pb, "binary"));

  // --format overrides the extension.
  const std::string dat = write("policy.dat", bytes);
  RunResult forced = run({"check", "--format", "binary", dat});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.out, summary(dat, "binary"));
  const std::string txt = write("policy.txt", read_file(json));
  RunResult forced_json = run({"check", txt, "--format=json"});
  EXPECT_EQ(forced_json.exit_code, 0) << forced_json.err;
  EXPECT_EQ(forced_json.out, summary(txt, "json"));
}

TEST_F(FwctlCheckTest, PolicyOptionAndQuiet) {
  RunResult named = run({"check", "--policy", kThreeTier});
  EXPECT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(named.out, summary(kThreeTier, "text"));
  RunResult quiet = run({"check", "--quiet", "--policy=" + kThreeTier});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
}

TEST_F(FwctlCheckTest, MinimalPolicy) {
  const std::string path = write("minimal.textpb", "default_rule { action: ALLOW }\n");
  RunResult r = run({"check", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, path + ": valid policy (text format)\n"
                          "  rules     0: ethernet 0, emergency 0, infrastructure 0, environment 0, application 0; 0 "
                          "disabled, 0 logged\n"
                          "  sections  0: ethernet 0, emergency 0, infrastructure 0, environment 0, application 0; 0 "
                          "stateless\n"
                          "  groups    0: 0 with criteria, 0 with nested groups\n"
                          "  services  0\n"
                          "  default   rule 4294967295 ALLOW; revalidation REVALIDATE; tcp_strict off\n");
}

// ---- invalid policies ---------------------------------------------------------------

TEST_F(FwctlCheckTest, EveryProblemOnePerLine) {
  const std::string path = (kBad / "many-problems.textpb").string();
  RunResult r = run({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  const std::vector<std::string> expected = {
      "service web: entries[0].dst_ports[0]: '8443-443': first port 8443 is greater than last port 443",
      "service ping: entries[0].dst_ports: protocol 1 (ICMP) has no ports; ports apply to TCP (6), UDP (17) and SCTP "
      "(132)",
      "group db: cidrs[0]: '10.0.3.1/24': host bits set; did you mean 10.0.3.0/24?",
      "group db: groups[0]: cycle db -> all -> db; a group cannot contain itself, directly or through nested groups",
      "rule 10: sources.groups[0]: unknown group 'wbe'",
      "rule 10: services[0]: unknown service 'https'",
      "rule 11: destinations.cidrs[0]: '10.0.0.0/33': prefix length 33 is out of range 0-32",
      "rule 10: id: duplicate rule id 10 (section app rules[0] has it too); rule ids are unique across all categories",
      "rule 10: action: missing; every rule says what it does: ALLOW, DROP, REJECT or JUMP_TO_APPLICATION",
      "default_rule: action: REJECT is not allowed for the default rule; use ALLOW or DROP",
  };
  const std::vector<std::string> out = split_lines(r.out);
  ASSERT_EQ(out.size(), expected.size()) << r.out;
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], path + ": " + expected[i]);
  EXPECT_EQ(r.err, "fwctl check: " + path + ": 10 problems; the policy is refused\n");

  // --quiet silences the summary only.
  RunResult quiet = run({"check", "--quiet", path});
  EXPECT_EQ(quiet.exit_code, 1);
  EXPECT_EQ(quiet.out, r.out);
}

TEST_F(FwctlCheckTest, OneProblem) {
  const std::string path = (kBad / "host-bits.json").string();
  RunResult r = run({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, path + ": group web: cidrs[0]: '10.0.1.7/24': host bits set; did you mean 10.0.1.0/24?\n");
  EXPECT_EQ(r.err, "fwctl check: " + path + ": 1 problem; the policy is refused\n");
}

TEST_F(FwctlCheckTest, SyntaxErrorsCarryLineAndColumn) {
  struct {
    const char* file;
    std::string problem;
  } cases[] = {
      {"syntax-error.textpb", "line 6, column 14: Message type \"fw.v1.Rule\" has no field named \"default_rule\"."},
      {"trailing-comma.json", "line 4, column 43: groups[0].cidrs: trailing comma before ']'"},
      {"duplicate-key.json",
       "line 3, column 57: application[0].rules[0]: field \"action\" given twice (first at line 3, column 39)"},
  };
  for (const auto& c : cases) {
    const std::string path = (kBad / c.file).string();
    RunResult r = run({"check", path});
    EXPECT_EQ(r.exit_code, 1) << c.file;
    EXPECT_EQ(r.out, path + ": " + c.problem + "\n");
    EXPECT_EQ(r.err, "fwctl check: " + path + ": 1 problem; the policy is refused\n");
  }
}

TEST_F(FwctlCheckTest, JsonUnderAnotherNameGetsAHintUnlessTheFormatIsGiven) {
  const std::string path = write("policy.textpb", read_file(kSamples / "three-tier.json"));
  RunResult guessed = run({"check", path});
  EXPECT_EQ(guessed.exit_code, 1);
  EXPECT_EQ(guessed.out,
            path + ": line 1, column 1: Expected identifier, got: { (the file looks like JSON: name it .json)\n");
  RunResult forced = run({"check", path, "--format", "text"});
  EXPECT_EQ(forced.exit_code, 1);
  EXPECT_EQ(forced.out, path + ": line 1, column 1: Expected identifier, got: {\n");
}

// ---- files that cannot be read --------------------------------------------------------

TEST_F(FwctlCheckTest, MissingFileIsARuntimeError) {
  const std::string path = (dir_ / "absent.textpb").string();
  RunResult r = run({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "fwctl check: cannot read the policy: " + path + ": cannot open: No such file or directory\n");
}

TEST_F(FwctlCheckTest, DirectoryIsARuntimeError) {
  RunResult r = run({"check", dir_.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "fwctl check: cannot read the policy: " + dir_.string() + ": is a directory, not a policy file\n");
}

// ---- the command line -------------------------------------------------------------------

TEST_F(FwctlCheckTest, UsageErrors) {
  expect_usage_error({"check"}, "missing the policy FILE");
  expect_usage_error({"check", kThreeTier, "other.json"}, "unexpected argument 'other.json'; check takes one FILE");
  expect_usage_error({"check", kThreeTier, "--policy", kThreeTier}, "the policy file is given twice (FILE and --policy)");
  expect_usage_error({"check", "--policy", "a", "--policy", "b"}, "--policy: the policy file is given twice");
  expect_usage_error({"check", kThreeTier, "--format", "yaml"}, "--format: 'yaml' is not a format; use text, json or binary");
  expect_usage_error({"check", kThreeTier, "--format"}, "option '--format' needs a value (FORMAT)");
  expect_usage_error({"check", "--format", "--quiet", kThreeTier}, "option '--format' needs a value (FORMAT)");
  expect_usage_error({"check", kThreeTier, "--bogus"}, "unknown option '--bogus'");
  expect_usage_error({"check", "-x", kThreeTier}, "unknown option '-x' (options are --long-names)");
  expect_usage_error({"check", ""}, "the policy FILE is an empty string");
}

TEST_F(FwctlCheckTest, Help) {
  RunResult r = run({"check", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out.starts_with("Usage: fwctl check FILE [--format text|json|binary] [--quiet]\n")) << r.out;
  EXPECT_NE(r.out.find("--format FORMAT"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  RunResult main_help = run({"--help"});
  EXPECT_NE(main_help.out.find("  check      validate a policy file and list every problem\n"), std::string::npos)
      << main_help.out;
}

}  // namespace
