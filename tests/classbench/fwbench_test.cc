// End-to-end: the fwbench binary on the committed ClassBench set. Its exit
// codes, its report, and the --matches file checked against an independent
// computation of the first matches.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/classbench/classbench.h"
#include "bench/classbench/reference.h"

namespace classbench {
namespace {

const std::filesystem::path kData = std::filesystem::path(FW_TEST_DATA_DIR) / "classbench";

struct FwbenchRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

FwbenchRun run_fwbench(const std::string& args) {
  const std::filesystem::path err_file =
      std::filesystem::temp_directory_path() / ("fwbench_test_err_" + std::to_string(getpid()));
  std::string command = std::string(FWBENCH_PATH) + " " + args + " 2>" + err_file.string();
  FwbenchRun run;
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = slurp(err_file);
  std::filesystem::remove(err_file);
  return run;
}

TEST(Fwbench, ClassbenchAgreesAndWritesTheReferenceMatches) {
  const std::filesystem::path matches =
      std::filesystem::temp_directory_path() / ("fwbench_matches_" + std::to_string(getpid()));
  FwbenchRun run = run_fwbench("classbench " + (kData / "fw1_1k").string() + " " +
                        (kData / "fw1_1k_trace").string() + " --passes 1 --eal-memory 512" +
                        " --matches " + matches.string());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("reference      761"), std::string::npos) << run.out;
#if FW_HAVE_DPDK
  EXPECT_NE(run.out.find("yes (7610/7610)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("rte_acl: alg="), std::string::npos) << run.out;
#endif

  fw::StatusOr<std::vector<Rule>> rules = load_rules(kData / "fw1_1k");
  ASSERT_TRUE(rules.ok());
  fw::StatusOr<Trace> trace = load_trace(kData / "fw1_1k_trace");
  ASSERT_TRUE(trace.ok());
  std::ifstream in(matches);
  std::vector<std::int32_t> written;
  for (std::int32_t m; in >> m;) written.push_back(m);
  std::filesystem::remove(matches);
  ASSERT_EQ(written.size(), trace->size());
  for (std::size_t i = 0; i < trace->size(); ++i) {
    ASSERT_EQ(written[i], first_match(*rules, trace->headers[i])) << "trace line " << i + 1;
  }
}

TEST(Fwbench, MissingFileIsExitOneNamingThePath) {
  FwbenchRun run = run_fwbench("classbench " + (kData / "nonexistent").string() + " " +
                        (kData / "fw1_1k_trace").string() + " --no-peer");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("nonexistent"), std::string::npos) << run.err;
}

TEST(Fwbench, BadLineIsExitOneNamingFileAndLine) {
  // A rule file given as the trace: line 1 is not a trace line.
  FwbenchRun run = run_fwbench("classbench " + (kData / "fw1_1k").string() + " " +
                        (kData / "fw1_1k").string() + " --no-peer");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("fw1_1k:1: "), std::string::npos) << run.err;
}

TEST(Fwbench, UsageErrorsAreExitTwo) {
  EXPECT_EQ(run_fwbench("").exit_code, 2);
  EXPECT_EQ(run_fwbench("nosuchcommand").exit_code, 2);
  EXPECT_EQ(run_fwbench("classbench onlyone").exit_code, 2);
  EXPECT_EQ(run_fwbench("classbench a b --passes 0").exit_code, 2);
  EXPECT_EQ(run_fwbench("classbench a b --unknown").exit_code, 2);
  FwbenchRun help = run_fwbench("classbench --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--matches OUT"), std::string::npos);
}

}  // namespace
}  // namespace classbench
