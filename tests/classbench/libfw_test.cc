// libfw's rule classifier (AddressClassMap + RuleIndex behind the harness
// interface) must give the reference's first match for every header: on
// random rule sets, for every burst size, and on every committed ClassBench
// set (and the shared 10k sets when present).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/classbench/classbench.h"
#include "bench/classbench/libfw_classifier.h"
#include "classbench/random_rules.h"

namespace classbench {
namespace {

TEST(LibfwClassifier, AgreesWithReferenceOnRandomRuleSets) {
  for (std::size_t size : {0, 1, 2, 7, 64, 500, 2000}) {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      test::RandomSet set = test::make_random_set({.rules = size, .headers = 3000, .seed = seed});
      auto c = make_libfw_classifier();
      ASSERT_TRUE(c->build(set.rules).ok());
      EXPECT_EQ(test::first_disagreement(*c, set.rules, set.headers, 64), "")
          << size << " rules, seed " << seed;
    }
  }
}

TEST(LibfwClassifier, EveryBurstSizeFromZeroToPastTwoChunks) {
  test::RandomSet set = test::make_random_set({.rules = 300, .headers = 200, .seed = 42});
  auto c = make_libfw_classifier();
  ASSERT_TRUE(c->build(set.rules).ok());
  std::vector<std::int32_t> expected = test::reference_matches(set.rules, set.headers);
  for (std::size_t n = 0; n <= 140; ++n) {
    std::vector<std::int32_t> out(n, 12345);
    c->classify(std::span(set.headers).first(n), out);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], expected[i]) << "burst " << n << " header " << i;
  }
}

// Every `stride`-th trace line of <dir>/<name> must get the reference's answer.
void check_set(const std::filesystem::path& dir, std::string_view name, std::size_t stride) {
  fw::StatusOr<test::LoadedSet> set = test::load_set(dir, name);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  std::vector<Header> headers;
  for (std::size_t i = 0; i < set->trace.size(); i += stride) headers.push_back(set->trace.headers[i]);
  auto c = make_libfw_classifier();
  ASSERT_TRUE(c->build(set->rules).ok());
  EXPECT_EQ(test::first_disagreement(*c, set->rules, headers, 64), "") << name;
}

TEST(LibfwClassifier, AgreesOnTheCommittedSets) {
  for (const char* set : {"acl1_1k", "fw1_1k", "ipc1_1k"})
    check_set(std::filesystem::path(FW_TEST_DATA_DIR) / "classbench", set, 1);
}

TEST(LibfwClassifier, AgreesOnShared10kSetsSample) {
  const std::string dir = std::string(FW_SHARED_DATA_DIR) + "/classbench";
  if (!std::filesystem::exists(dir + "/acl1_10k"))
    GTEST_SKIP() << dir << " is absent (a fresh clone has no ../shared); nothing to check";
  for (const char* set : {"acl1_10k", "fw1_10k", "ipc1_10k"}) check_set(dir, set, 7);
}

}  // namespace
}  // namespace classbench
