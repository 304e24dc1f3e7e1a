// Smoke test of `fwbench membership` with tiny sizes: it runs, verifies its
// sample of changes through the Engine, and prints every report line in its
// documented format (bench/fwbench/membership_cmd.cc, docs/groups.md).
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"
#include "support/subprocess.h"

namespace {

const std::string kFwbench = FWBENCH_PATH;

TEST(FwbenchMembership, TinyRunReportsEveryLine) {
  fw::test::ScratchDir dir("fwbench-membership");
  fw::test::RunResult r = fw::test::run_program(
      kFwbench,
      {"membership", "--vms", "1000", "--groups", "50", "--rules", "500", "--changes", "400", "--burst", "200",
       "--bursts", "2", "--batch", "64", "--verify", "10"},
      dir.path());
  ASSERT_TRUE(r.started) << r.err;
  ASSERT_EQ(r.signal, 0) << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = fw::test::split_lines(r.out);
  const std::vector<std::string> patterns = {
      R"(membership: 1000 VMs, 50 groups, 500 rules \(stateless DFW, one engine worker\))",
      R"(setup      policy compiled and installed in [0-9.]+ s; 1000 VMs loaded by a snapshot in [0-9.]+ s \([0-9]+ VMs/s\))",
      R"(single     400 tag changes, event to live: p50 [0-9.]+ us, p99 [0-9.]+ us, max [0-9.]+ us)",
      R"(burst      2 bursts of 200 changes, one message at a time: [0-9]+ changes/s \(median; min [0-9]+, max [0-9]+; )"
      R"(adds [0-9]+, removes [0-9]+\); [0-9]+ changes per CPU second \(median\))",
      // Batches of 64: four sink calls per burst of 200 (a batch that
      // undoes all it does calls the sink not at all).
      R"(batched    2 bursts of 200 changes, 64 messages per apply_messages: [0-9]+ changes/s \(median; min [0-9]+, )"
      R"(max [0-9]+; adds [0-9]+, removes [0-9]+\); [0-9]+ changes per CPU second \(median\); [1-8] sink calls)",
      // --verify 10: ten (add, remove) pairs, each checked by a packet, and
      // the first and last change of each burst whose VM it alone changed.
      R"(verified   (2[0-8]) changes by an Engine lookup: 1[0-4] decided by the group's rule after tag_add, 1[0-4] by )"
      R"(the default rule after tag_remove \([0-8] of them right after a burst\))",
      // One VM, one vNIC, one candidate group per tag change.
      R"(evaluated  1\.00 \(group, vNIC\) evaluations per change)",
      R"(memory     heap held: policy in the DFW [0-9.]+ MiB, inventory [0-9.]+ MiB, total [0-9.]+ MiB; peak RSS [0-9]+ MiB)",
      R"(goals      p50 <= 10 us: (met|missed); p99 <= 100 us: (met|missed); >= 100k changes/s: (met|missed) batched, )"
      R"((met|missed) one at a time)",
  };
  ASSERT_EQ(lines.size(), patterns.size()) << r.out;
  for (std::size_t i = 0; i < lines.size(); ++i)
    EXPECT_TRUE(std::regex_match(lines[i], std::regex(patterns[i]))) << "line " << i << ": " << lines[i];
}

TEST(FwbenchMembership, EitherKindOfBurstCanBeLeftOut) {
  fw::test::ScratchDir dir("fwbench-membership");
  fw::test::RunResult r = fw::test::run_program(
      kFwbench,
      {"membership", "--vms", "500", "--groups", "20", "--rules", "100", "--changes", "20", "--burst", "100",
       "--bursts", "3", "--only-batched", "--verify", "2"},
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("one message at a time:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batched    3 bursts of 100 changes, 1000 messages per apply_messages:"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("batched, not timed one at a time"), std::string::npos) << r.out;
  // --batch 0: the other way round.
  r = fw::test::run_program(kFwbench,
                            {"membership", "--vms", "500", "--groups", "20", "--rules", "100", "--changes", "20",
                             "--burst", "100", "--bursts", "3", "--batch", "0", "--verify", "2"},
                            dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("batched    "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("burst      3 bursts of 100 changes, one message at a time:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not timed batched, "), std::string::npos) << r.out;
  r = fw::test::run_program(kFwbench, {"membership", "--batch", "0", "--only-batched"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
}

TEST(FwbenchMembership, UsageErrors) {
  fw::test::ScratchDir dir("fwbench-membership");
  fw::test::RunResult r = fw::test::run_program(kFwbench, {"membership", "--vms", "10", "--groups", "20"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "fwbench membership: --groups must not exceed --vms (see 'fwbench membership --help')\n");
  r = fw::test::run_program(kFwbench, {"membership", "--groups", "60001"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'60001' is not a whole number in 2..60000"), std::string::npos) << r.err;
}

}  // namespace
