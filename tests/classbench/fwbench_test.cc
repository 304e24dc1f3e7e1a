// End-to-end: the fwbench binary on the committed ClassBench set. Its exit
// codes, its report, the libfw path it measures (--path), and the --matches
// file checked against an independent computation of the first matches.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/classbench/classbench.h"
#include "bench/classbench/reference.h"
#include "support/scratch_dir.h"
#include "support/subprocess.h"

namespace classbench {
namespace {

const std::filesystem::path kData = std::filesystem::path(FW_TEST_DATA_DIR) / "classbench";

class Fwbench : public ::testing::Test {
 protected:
  fw::test::RunResult run(const std::vector<std::string>& args) {
    return fw::test::run_program(FWBENCH_PATH, args, dir_.path());
  }
  // classbench on fw1_1k, one timed pass, little EAL memory, plus `extra`.
  fw::test::RunResult run_fw1_1k(std::vector<std::string> extra) {
    std::vector<std::string> args = {"classbench", (kData / "fw1_1k").string(), (kData / "fw1_1k_trace").string(),
                                     "--passes", "1", "--eal-memory", "512"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  }
  // The --matches file must hold the reference's first match for every
  // trace line of fw1_1k.
  void expect_reference_matches(const std::filesystem::path& matches) {
    fw::StatusOr<std::vector<Rule>> rules = load_rules(kData / "fw1_1k");
    ASSERT_TRUE(rules.ok());
    fw::StatusOr<Trace> trace = load_trace(kData / "fw1_1k_trace");
    ASSERT_TRUE(trace.ok());
    std::ifstream in(matches);
    std::vector<std::int32_t> written;
    for (std::int32_t m; in >> m;) written.push_back(m);
    ASSERT_EQ(written.size(), trace->size());
    std::size_t no_match = 0;
    for (std::size_t i = 0; i < trace->size(); ++i) {
      ASSERT_EQ(written[i], first_match(*rules, trace->headers[i])) << "trace line " << i + 1;
      no_match += written[i] == -1;
    }
    // The default rule maps to -1 only when nothing matched (fw1_1k has a
    // few such headers; a -1 for a header some rule matches fails above).
    EXPECT_LT(no_match, trace->size());
  }

  fw::test::ScratchDir dir_{"fwbench_test"};
};

TEST_F(Fwbench, DefaultIsThePolicyPathAndItWritesTheReferenceMatches) {
  const std::filesystem::path matches = dir_ / "matches";
  fw::test::RunResult r = run_fw1_1k({"--matches", matches.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("reference      761"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policy         761"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("classifier     761"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matches of policy written to"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policy: rule_lists=1 "), std::string::npos) << r.out;
#if FW_HAVE_DPDK
  EXPECT_NE(r.out.find("yes (7610/7610)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rte_acl: alg="), std::string::npos) << r.out;
#endif
  expect_reference_matches(matches);
}

TEST_F(Fwbench, PathClassifierMeasuresTheClassifierDirectly) {
  const std::filesystem::path matches = dir_ / "matches";
  fw::test::RunResult r = run_fw1_1k({"--path", "classifier", "--no-peer", "--matches", matches.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("classifier     761"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("policy         761"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matches of classifier written to"), std::string::npos) << r.out;
  expect_reference_matches(matches);
}

TEST_F(Fwbench, PathBothMeasuresBothAndThePolicyPathIsPrimary) {
  const std::filesystem::path matches = dir_ / "matches";
  fw::test::RunResult r = run_fw1_1k({"--path", "both", "--no-peer", "--matches", matches.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("policy         761"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("classifier     761"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matches of policy written to"), std::string::npos) << r.out;
  expect_reference_matches(matches);
}

TEST_F(Fwbench, InterleavedPassesTimeEveryClassifierAndStillAgree) {
  fw::test::RunResult r = run_fw1_1k({"--path", "both", "--interleave", "--passes", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("passes interleaved across classifiers"), std::string::npos) << r.out;
  // Three timed passes each: a min..max spread, not "1 pass", on every
  // classifier but the reference.
  for (const char* row : {"policy         761", "classifier     761"}) {
    const std::size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_EQ(line.find("1 pass"), std::string::npos) << line;
    EXPECT_NE(line.find("yes (7610/7610)"), std::string::npos) << line;
  }
}

TEST_F(Fwbench, RuleThePolicyCannotExpressFailsThePolicyPathNamingIt) {
  // Rule 1 has ports on protocol "any": the policy model has ports on
  // TCP/UDP/SCTP only. The classifier path takes it.
  const std::string rules = dir_.write("rules",
                                       "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n"
                                       "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t53 : 53\t0x00/0x00\t0x0000/0x0000\n");
  const std::string trace = dir_.write("trace",
                                       "167772161\t1\t1000\t80\t6\t0\t0\n"
                                       "1\t2\t1000\t53\t17\t0\t1\n");
  fw::test::RunResult r = run({"classbench", rules, trace, "--no-peer"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("rule index 1 "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--path classifier"), std::string::npos) << r.err;

  const std::string matches = (dir_ / "matches").string();
  r = run({"classbench", rules, trace, "--no-peer", "--path", "classifier", "--matches", matches});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(fw::test::read_file(matches), "0\n1\n");
}

TEST_F(Fwbench, MissingFileIsExitOneNamingThePath) {
  fw::test::RunResult r =
      run({"classbench", (kData / "nonexistent").string(), (kData / "fw1_1k_trace").string(), "--no-peer"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nonexistent"), std::string::npos) << r.err;
}

TEST_F(Fwbench, BadLineIsExitOneNamingFileAndLine) {
  // A rule file given as the trace: line 1 is not a trace line.
  fw::test::RunResult r =
      run({"classbench", (kData / "fw1_1k").string(), (kData / "fw1_1k").string(), "--no-peer"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fw1_1k:1: "), std::string::npos) << r.err;
}

TEST_F(Fwbench, UsageErrorsAreExitTwo) {
  EXPECT_EQ(run({}).exit_code, 2);
  EXPECT_EQ(run({"nosuchcommand"}).exit_code, 2);
  EXPECT_EQ(run({"classbench", "onlyone"}).exit_code, 2);
  EXPECT_EQ(run({"classbench", "a", "b", "--passes", "0"}).exit_code, 2);
  EXPECT_EQ(run({"classbench", "a", "b", "--unknown"}).exit_code, 2);
  fw::test::RunResult bad_path = run({"classbench", "a", "b", "--path", "rte_acl"});
  EXPECT_EQ(bad_path.exit_code, 2);
  EXPECT_NE(bad_path.err.find("--path"), std::string::npos) << bad_path.err;
  fw::test::RunResult help = run({"classbench", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--matches OUT"), std::string::npos);
  EXPECT_NE(help.out.find("--path NAME"), std::string::npos);
}

}  // namespace
}  // namespace classbench
