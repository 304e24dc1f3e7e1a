// AddressClassMap::lookup_burst_v4 under every walk variant this CPU runs
// (scalar, AVX2, AVX-512; see WalkVariant): forced one after the other, each
// must give lookup_v4()'s class for every address, for bursts of every
// length 0-140 (the SIMD walks' partial groups) over maps holding root
// classes, tables and leaves of all three sizes, through membership changes
// and with a map large enough for the scalar walk's prefetching stages.
// (The classifier and policy differential tests also run once per variant:
// the walk_<variant>.* tests in tests/CMakeLists.txt.)
#include "libfw/classify/address_class_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace fw::classify {
namespace {

class WalkVariants : public ::testing::TestWithParam<WalkVariant> {
 protected:
  void SetUp() override {
    if (!AddressClassMap::walk_supported(GetParam()))
      GTEST_SKIP() << walk_variant_name(GetParam()) << " is not supported on this CPU";
    before_ = AddressClassMap::walk_variant();
    ASSERT_TRUE(AddressClassMap::force_walk_variant(GetParam()));
    ASSERT_EQ(AddressClassMap::walk_variant(), GetParam());
  }
  void TearDown() override { AddressClassMap::force_walk_variant(before_); }
  WalkVariant before_ = WalkVariant::kScalar;
};

IpAddress v4(std::uint32_t a) { return IpAddress::v4(a); }

// Every burst length 0-140 at several offsets of `addresses`.
void expect_bursts_agree(const AddressClassMap& m, const std::vector<std::uint32_t>& addresses) {
  std::vector<ClassId> out(addresses.size() + 8);
  for (std::size_t length = 0; length <= std::min<std::size_t>(140, addresses.size()); ++length) {
    for (std::size_t from : {std::size_t{0}, std::size_t{3}, addresses.size() - length}) {
      if (from + length > addresses.size()) continue;
      std::fill(out.begin(), out.end(), 0xdeadbeefu);
      m.lookup_burst_v4(std::span<const std::uint32_t>(addresses.data() + from, length), out);
      for (std::size_t i = 0; i < length; ++i)
        ASSERT_EQ(out[i], m.lookup_v4(addresses[from + i])) << "length " << length << " from " << from << " i " << i;
      for (std::size_t i = length; i < out.size(); ++i) ASSERT_EQ(out[i], 0xdeadbeefu) << "wrote past the burst";
    }
  }
  // One burst of everything (several groups and chunks), through
  // lookup_burst_v4 (which stages a large map's walk whatever the variant)
  // and through the variant's own walk.
  std::vector<ClassId> all(addresses.size()), own(addresses.size());
  m.lookup_burst_v4(addresses, all);
  m.lookup_burst_v4_with(AddressClassMap::walk_variant(), addresses, own);
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    ASSERT_EQ(all[i], m.lookup_v4(addresses[i])) << i;
    ASSERT_EQ(own[i], m.lookup_v4(addresses[i])) << i;
  }
}

TEST_P(WalkVariants, BurstMatchesSingleLookupsOnEveryNodeForm) {
  std::mt19937_64 rng(static_cast<unsigned>(GetParam()) * 7919 + 1);
  AddressClassMap m;
  // Region 10.7.0.0/22, four nodes of 2, 5, 11 and 40 runs of hosts (a
  // leaf of each size and a table), then 10.8.0.0/22 under random changes;
  // elsewhere /8../32 blocks for root classes and deeper nodes.
  const std::uint32_t region = 0x0a070000u;
  const std::uint32_t runs[4] = {2, 5, 11, 40};
  for (std::uint32_t node = 0; node < 4; ++node)
    for (std::uint32_t r = 1; r < runs[node]; r += 2)
      m.add(static_cast<AtomId>(r % 7), Cidr{v4(region + node * 256 + r * 5), 32});
  const std::uint32_t churned = 0x0a080000u;
  for (int op = 0; op < 400; ++op) {
    const auto atom = static_cast<AtomId>(rng() % 9);
    const std::uint32_t first = churned + static_cast<std::uint32_t>(rng() % 1024);
    const std::uint32_t last = std::min(churned + 1023, first + static_cast<std::uint32_t>(rng() % 40));
    if (rng() % 5 == 0) m.remove(atom, IpRange{v4(first), v4(last)});
    else m.add(atom, IpRange{v4(first), v4(last)});
    if (op % 50 == 49) m.reclaim();
  }
  for (int op = 0; op < 200; ++op) {
    const auto len = static_cast<std::uint8_t>(8 + rng() % 25);
    m.add(static_cast<AtomId>(9 + rng() % 20), Cidr{v4(static_cast<std::uint32_t>(rng())), len});
  }
  const auto s = m.node_stats();
  EXPECT_GT(s.tables, 0u);
  EXPECT_GT(s.leaves[0], 0u);
  EXPECT_GT(s.leaves[1], 0u);
  EXPECT_GT(s.leaves[2], 0u);
  std::vector<std::uint32_t> addresses;
  for (std::uint32_t a = 0; a < 1024; ++a) {
    addresses.push_back(region + a);
    addresses.push_back(churned + a);
  }
  for (int i = 0; i < 2000; ++i) addresses.push_back(static_cast<std::uint32_t>(rng()));
  addresses.push_back(0);
  addresses.push_back(0xffffffffu);
  std::shuffle(addresses.begin() + 1024, addresses.end(), rng);
  expect_bursts_agree(m, addresses);
}

// Past the size where bursts are walked in prefetching stages (4 MiB of
// nodes and atoms), with chunks far into the node range: every variant's
// walk agrees there too.
TEST_P(WalkVariants, BurstMatchesSingleLookupsOnALargeMap) {
  std::mt19937_64 rng(42);
  AddressClassMap m;
  std::vector<AddressClassMap::AtomBlock> blocks;
  for (AtomId atom = 0; atom < 40000; ++atom) {
    const auto a = static_cast<std::uint32_t>(rng()) & 0x3fffffffu;  // a quarter of the space: deep nodes
    blocks.push_back({atom, IpRange{v4(a), v4(a + static_cast<std::uint32_t>(rng() % 3000))}});
  }
  m.add_all(blocks);
  ASSERT_GE(m.memory_bytes(), std::size_t{4} << 20);
  std::vector<std::uint32_t> addresses;
  for (int i = 0; i < 3000; ++i) {
    const auto& b = blocks[rng() % blocks.size()].block;
    addresses.push_back(b.first.v4_host_order() + static_cast<std::uint32_t>(rng() % 4));
  }
  expect_bursts_agree(m, addresses);
  for (std::size_t length : {1, 7, 8, 9, 63, 64, 65, 128, 129, 1000}) {
    std::vector<ClassId> out(length);
    m.lookup_burst_v4_with(GetParam(), std::span<const std::uint32_t>(addresses.data(), length), out);
    for (std::size_t i = 0; i < length; ++i) ASSERT_EQ(out[i], m.lookup_v4(addresses[i])) << length << " " << i;
  }
}

TEST(WalkVariant, TheChosenVariantIsSupportedAndForcingAnUnsupportedOneFails) {
  EXPECT_TRUE(AddressClassMap::walk_supported(AddressClassMap::walk_variant()));
  EXPECT_TRUE(AddressClassMap::walk_supported(WalkVariant::kScalar));
  const WalkVariant before = AddressClassMap::walk_variant();
  for (WalkVariant v : kWalkVariants) {
    EXPECT_EQ(AddressClassMap::force_walk_variant(v), AddressClassMap::walk_supported(v)) << walk_variant_name(v);
  }
  AddressClassMap::force_walk_variant(before);
}

INSTANTIATE_TEST_SUITE_P(AddressClassMap, WalkVariants, ::testing::ValuesIn(kWalkVariants),
                         [](const ::testing::TestParamInfo<WalkVariant>& info) {
                           return std::string(walk_variant_name(info.param));
                         });

}  // namespace
}  // namespace fw::classify
