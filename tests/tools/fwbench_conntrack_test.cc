// Smoke test of `fwbench conntrack` with tiny sizes: it runs, every check
// inside it passes (each established packet found, the SYN flood leaves
// established connections working, the full chain passes established
// packets by state), and it prints every report line in its documented
// format (bench/fwbench/conntrack_cmd.cc, docs/conntrack.md).
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"
#include "support/subprocess.h"

namespace {

const std::string kFwbench = FWBENCH_PATH;

TEST(FwbenchConntrack, TinyRunReportsEveryLine) {
  fw::test::ScratchDir dir("fwbench-conntrack");
  fw::test::RunResult r = fw::test::run_program(
      kFwbench,
      {"conntrack", "--small", "500", "--large", "3000", "--passes", "2", "--packets", "2048", "--flood-capacity",
       "256", "--rules", "50"},
      dir.path());
  ASSERT_TRUE(r.started) << r.err;
  ASSERT_EQ(r.signal, 0) << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = fw::test::split_lines(r.out);
  const std::string rate = R"([0-9]+\.[0-9]{2})";
  const std::string num = R"([0-9]+(\.[0-9]+)?)";
  auto new_line = [&](const char* proto, const char* flows) {
    return std::string("new         ") + proto + " +" + flows + " flows: " + rate + " M conn/s, " + num +
           " ns/conn \\(" + rate + " M/s wall\\); " + num + "x OVS";
  };
  auto est_line = [&](const char* proto, const char* flows) {
    return std::string("established ") + proto + " +" + flows + " flows: " + rate + " Mpps, " + num +
           " ns/packet \\(" + rate + " Mpps wall\\); " + num + "x OVS";
  };
  const std::string worker = " batch [0-9]+: 1 worker " + rate + " Mpps, 2 workers " + rate + " Mpps \\(" + num +
                             "x wall, " + num + "x CPU\\)";
  // The full chain, once with each table mode (the single-thread figure is
  // the one-core goal's).
  auto chain_line = [&](const char* table) {
    return std::string("chain       Engine \\+ stateful DFW, ") + table + " table, 50 rules \\(compiled in " + num +
           " s\\), 3000 flows opened at " + rate + " M flows/s \\(first packet \\+ reply\\): established " + rate +
           " Mpps, " + num + " ns/packet \\(" + rate + " Mpps wall\\)";
  };
  const std::vector<std::string> patterns = {
      R"(conntrack: 500 and 3000 flows, bursts of 32, 2 passes \(medians; rates per CPU second of the measuring thread, wall in parentheses\))",
      new_line("udp", "500"),
      new_line("udp", "3000"),
      new_line("tcp", "500"),
      new_line("tcp", "3000"),
      est_line("udp", "500"),
      est_line("udp", "3000"),
      est_line("tcp", "500"),
      est_line("tcp", "3000"),
      // Capacities are powers of two: 512 and 4096.
      "memory      512 connections: " + num + " bytes/conn \\(" + num + " MiB\\); 4096 connections: " + num +
          " bytes/conn \\(" + num + " MiB\\); each more connection 128\\.0 bytes",
      // 256 entries, 128 established, 2560 SYNs; every established packet passes.
      R"(synflood    2560 SYNs into 256 entries holding 128 established: established packets passing 100\.00% \([0-9]+ of [0-9]+\); SYNs admitted [0-9]+, evicted [0-9]+, refused [0-9]+; )" +
          rate + " M SYNs/s",
      "workers    " + worker + ";" + worker + ";" + worker,
      chain_line("single-thread"),
      chain_line("shared"),
      "goals       >= 5 M new conn/s: (met|missed) \\(" + rate + " M\\); >= 15 Mpps established, full chain: (met|missed) \\(" +
          rate + " Mpps, " + rate + " with a shared table\\); <= 128 bytes/conn: met \\(128\\.0 a connection, " + num + " with fixed parts\\); 2 workers >= 1.8x: (met|missed) \\(" + num +
          "x\\); 3x OVS: new (met|missed) \\(" + num + "x\\), established small (met|missed) \\(" + num +
          "x\\), large (met|missed) \\(" + num + "x\\)",
  };
  ASSERT_EQ(lines.size(), patterns.size()) << r.out;
  for (std::size_t i = 0; i < lines.size(); ++i)
    EXPECT_TRUE(std::regex_match(lines[i], std::regex(patterns[i]))) << "line " << i << ": " << lines[i];
}

TEST(FwbenchConntrack, OnlyRunsTheListedMeasurements) {
  fw::test::ScratchDir dir("fwbench-conntrack");
  fw::test::RunResult r = fw::test::run_program(
      kFwbench, {"conntrack", "--small", "500", "--large", "3000", "--passes", "1", "--only", "memory,synflood",
                 "--flood-capacity", "128"},
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = fw::test::split_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[1].rfind("memory ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("synflood ", 0), 0u) << lines[2];
  r = fw::test::run_program(kFwbench, {"conntrack", "--only", "new,bogus"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'bogus' is not one of new, established, memory, synflood, workers, chain"), std::string::npos)
      << r.err;
}

TEST(FwbenchConntrack, UsageErrors) {
  fw::test::ScratchDir dir("fwbench-conntrack");
  fw::test::RunResult r = fw::test::run_program(kFwbench, {"conntrack", "--small", "5000", "--large", "1000"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "fwbench conntrack: --small must not exceed --large (see 'fwbench conntrack --help')\n");
  r = fw::test::run_program(kFwbench, {"conntrack", "--batch", "300"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'300' is not a whole number in 1..256"), std::string::npos) << r.err;
  r = fw::test::run_program(kFwbench, {"conntrack", "extra"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
