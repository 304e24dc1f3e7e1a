// DPDK rte_acl as a classifier must give the reference's first match for every
// header: on random rule sets, for every burst size, with every classify
// method this CPU has, and on the committed ClassBench sets.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/classbench/classbench.h"
#include "bench/classbench/reference.h"
#include "bench/classbench/rte_acl_peer.h"
#include "classbench/random_rules.h"

namespace classbench {
namespace {

// Small EAL: these rule sets need a few MiB; the bookkeeping of -m costs
// ~12 MiB per GiB without hugepages.
void init_small_eal() {
  fw::Status s = init_eal({.memory_mb = 1024});
  ASSERT_TRUE(s.ok()) << s.to_string();
}

TEST(RteAcl, AgreesWithReferenceOnRandomRuleSets) {
  init_small_eal();
  for (std::size_t size : {1, 2, 7, 64, 500, 2000}) {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      test::RandomSet set = test::make_random_set({.rules = size, .headers = 3000, .seed = seed});
      RteAclClassifier acl;
      fw::Status s = acl.build(set.rules);
      ASSERT_TRUE(s.ok()) << s.to_string();
      EXPECT_EQ(test::first_disagreement(acl, set.rules, set.headers, 64), "")
          << size << " rules, seed " << seed;
    }
  }
}

TEST(RteAcl, EveryBurstSizeFromZeroToPastTwoChunks) {
  init_small_eal();
  test::RandomSet set = test::make_random_set({.rules = 300, .headers = 200, .seed = 42});
  RteAclClassifier acl;
  ASSERT_TRUE(acl.build(set.rules).ok());
  std::vector<std::int32_t> expected = test::reference_matches(set.rules, set.headers);
  for (std::size_t n = 0; n <= 140; ++n) {
    std::vector<std::int32_t> out(n, 12345);
    acl.classify(std::span(set.headers).first(n), out);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], expected[i]) << "burst " << n << " header " << i;
  }
}

TEST(RteAcl, EmptyRuleSetMatchesNothing) {
  init_small_eal();
  RteAclClassifier acl;
  ASSERT_TRUE(acl.build({}).ok());
  std::vector<Header> headers(5);
  std::vector<std::int32_t> out(5, 7);
  acl.classify(headers, out);
  for (std::int32_t m : out) EXPECT_EQ(m, kNoMatch);
}

TEST(RteAcl, ReportsMemoryAndMethod) {
  init_small_eal();
  test::RandomSet set = test::make_random_set({.rules = 1000, .headers = 0, .seed = 5});
  RteAclClassifier acl;
  ASSERT_TRUE(acl.build(set.rules).ok());
  const RteAclBuildInfo& info = acl.build_info();
  EXPECT_GT(acl.memory_bytes(), 0u);
  EXPECT_EQ(acl.memory_bytes(), info.heap_bytes);
  // The heap growth holds the rule copy (12 + 5 * 16 bytes per rule) and the tries.
  EXPECT_GE(info.heap_bytes, set.rules.size() * 92 + info.runtime_bytes);
  EXPECT_GT(info.runtime_bytes, 0u) << "rte_acl's build log was not captured";
  EXPECT_GE(info.tries, 1u);
  EXPECT_NE(info.alg, "unknown");
  EXPECT_NE(acl.details().find("alg=" + info.alg), std::string::npos);
}

TEST(RteAcl, UnknownMethodIsAnError) {
  RteAclClassifier acl({.alg = "quantum"});
  fw::Status s = acl.build({});
  EXPECT_EQ(s.code(), fw::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("quantum"), std::string::npos);
}

// Every method is tested where it runs (DPDK's classify_fns[] table); one
// the CPU or the EAL SIMD width does not allow is refused at build time.
TEST(RteAcl, EveryAvailableMethodAgrees) {
  init_small_eal();
  test::RandomSet set = test::make_random_set({.rules = 800, .headers = 4000, .seed = 9});
  int ran = 0;
  for (std::string_view alg : rte_acl_algorithm_names()) {
    RteAclClassifier acl({.alg = std::string(alg)});
    fw::Status s = acl.build(set.rules);
    if (s.code() == fw::StatusCode::kFailedPrecondition) {
      std::cout << "[ info ] rte_acl method " << alg << " not available here: " << s.message()
                << "\n";
      continue;
    }
    ASSERT_TRUE(s.ok()) << alg << ": " << s.to_string();
    if (alg != "default") {
      EXPECT_EQ(acl.build_info().alg, alg);
    }
    EXPECT_EQ(test::first_disagreement(acl, set.rules, set.headers, 64), "") << "method " << alg;
    ++ran;
  }
  EXPECT_GE(ran, 2) << "at least default and scalar run everywhere";
}

TEST(RteAcl, AgreesOnCommittedClassbenchSets) {
  init_small_eal();
  const std::filesystem::path dir = std::filesystem::path(FW_TEST_DATA_DIR) / "classbench";
  for (std::string_view name : {"acl1_1k", "fw1_1k", "ipc1_1k"}) {
    fw::StatusOr<test::LoadedSet> set = test::load_set(dir, name);
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    const std::vector<Rule>& rules = set->rules;
    const Trace& trace = set->trace;
    RteAclClassifier acl;
    ASSERT_TRUE(acl.build(rules).ok());
    EXPECT_EQ(test::first_disagreement(acl, rules, trace.headers, 64), "") << name;
  }
}

// The 10k sets from the shared data, on an evenly spaced sample of each
// trace (the reference is O(rules) per header).
TEST(RteAcl, AgreesOnShared10kSetsSample) {
  const std::filesystem::path dir = std::filesystem::path(FW_SHARED_DATA_DIR) / "classbench";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "shared data not present at " << dir << " (only on development machines)";
  }
  init_small_eal();
  constexpr std::size_t kSample = 5000;
  for (std::string_view name : {"acl1_10k", "fw1_10k", "ipc1_10k"}) {
    if (!std::filesystem::exists(dir / name)) continue;
    fw::StatusOr<test::LoadedSet> set = test::load_set(dir, name);
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    const std::vector<Rule>& rules = set->rules;
    const Trace& trace = set->trace;
    std::vector<Header> sample;
    for (std::size_t k = 0; k < kSample && k < trace.size(); ++k) {
      sample.push_back(trace.headers[k * trace.size() / std::min(kSample, trace.size())]);
    }
    RteAclClassifier acl;
    fw::Status s = acl.build(rules);
    ASSERT_TRUE(s.ok()) << name << ": " << s.to_string();
    EXPECT_EQ(test::first_disagreement(acl, rules, sample, 64), "") << name;
  }
}

}  // namespace
}  // namespace classbench
