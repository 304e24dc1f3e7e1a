// Global, per-zone and half-open limits: evict what is not established,
// oldest first; refuse when nothing is evictable; count everything. And the
// flood test of issue 4: 10x the table size of new connections leaves
// established connections working.
#include <gtest/gtest.h>

#include <random>

#include "conntrack/ct_support.h"

namespace fw {
namespace {

using test::kSecond;
using test::Stepper;
using test::udp4;

// Established = a UDP connection whose reply has been seen.
CtResult establish(Stepper& s, std::uint16_t port, std::uint64_t now) {
  const CtResult r = s.step(udp4("10.1.1.1", "10.1.1.2", port, 53), now);
  EXPECT_TRUE(r.conn.valid());
  EXPECT_EQ(s.flags(udp4("10.1.1.2", "10.1.1.1", 53, port), now), "est|rpl|trk");
  return r;
}

// netfilter nf_conntrack_core.c early_drop (drop an unassured entry when the
// table is full) / OVS conntrack "ct-limit": at the global limit the oldest
// half-open connection makes room; established ones are kept.
TEST(Limits, GlobalLimitEvictsOldestNotEstablished) {
  auto table = test::make_table({.capacity = 16, .max_connections = 4, .shards = 1});
  Stepper s{*table};
  const CtResult e1 = establish(s, 1, 1);
  const CtResult e2 = establish(s, 2, 2);
  const CtResult h1 = s.step(udp4("10.1.1.1", "10.1.1.2", 3, 53), 3);
  const CtResult h2 = s.step(udp4("10.1.1.1", "10.1.1.2", 4, 53), 4);
  const CtResult n = s.step(udp4("10.1.1.1", "10.1.1.2", 5, 53), 5);
  ASSERT_TRUE(n.conn.valid());
  ConnInfo info;
  EXPECT_TRUE(table->info(e1.conn, info));
  EXPECT_TRUE(table->info(e2.conn, info));
  EXPECT_FALSE(table->info(h1.conn, info));  // the oldest half-open
  EXPECT_TRUE(table->info(h2.conn, info));
  EXPECT_EQ(table->stats().evicted, 1u);
  EXPECT_EQ(table->stats().connections, 4u);
}

TEST(Limits, RefusedWhenEverythingIsEstablished) {
  auto table = test::make_table({.capacity = 3, .shards = 1});
  Stepper s{*table};
  for (std::uint16_t p = 1; p <= 3; ++p) establish(s, p, p);
  const CtResult r = s.step(udp4("10.1.1.1", "10.1.1.2", 9, 53), 10);
  EXPECT_EQ(r.outcome, CtOutcome::kInvalid);
  EXPECT_EQ(r.reason, CtReason::kTableFull);
  EXPECT_FALSE(r.conn.valid());
  EXPECT_EQ(table->stats().refused_table_full, 1u);
  EXPECT_EQ(table->stats().evicted, 0u);
  for (std::uint16_t p = 1; p <= 3; ++p)
    EXPECT_EQ(s.flags(udp4("10.1.1.2", "10.1.1.1", 53, p), 11), "est|rpl|trk");
}

// OVS "ovs-appctl dpctl/ct-set-limits zone=N,limit=M" (system-traffic.at
// "conntrack - limit by zone"): a zone at its limit cannot take more, and
// never evicts another zone's connections.
TEST(Limits, ZoneLimit) {
  auto table = test::make_table({.capacity = 64, .shards = 1});
  ASSERT_TRUE(table->set_zone_limit(1, 2).ok());
  Stepper z1{*table, 1};
  Stepper z2{*table, 2};
  establish(z1, 1, 1);
  establish(z1, 2, 2);
  const CtResult other_zone = z2.step(udp4("10.1.1.1", "10.1.1.2", 3, 53), 3);  // half-open, zone 2
  ASSERT_TRUE(other_zone.conn.valid());
  const CtResult refused = z1.step(udp4("10.1.1.1", "10.1.1.2", 4, 53), 4);
  EXPECT_EQ(refused.reason, CtReason::kZoneLimit);
  EXPECT_EQ(table->stats().refused_zone_limit, 1u);
  ConnInfo info;
  EXPECT_TRUE(table->info(other_zone.conn, info));
  EXPECT_EQ(table->zone_connections(1), 2u);
  // A half-open connection of the zone itself gives way.
  ASSERT_TRUE(table->set_zone_limit(1, 3).ok());
  const CtResult h = z1.step(udp4("10.1.1.1", "10.1.1.2", 5, 53), 5);
  ASSERT_TRUE(h.conn.valid());
  const CtResult n = z1.step(udp4("10.1.1.1", "10.1.1.2", 6, 53), 6);
  ASSERT_TRUE(n.conn.valid());
  EXPECT_FALSE(table->info(h.conn, info));
  EXPECT_TRUE(table->info(other_zone.conn, info));
  EXPECT_EQ(table->zone_connections(1), 3u);
  EXPECT_EQ(table->stats().evicted, 1u);
  // 0 lifts the limit.
  ASSERT_TRUE(table->set_zone_limit(1, 0).ok());
  EXPECT_TRUE(z1.step(udp4("10.1.1.1", "10.1.1.2", 7, 53), 7).conn.valid());
}

// The half-open (SYN) limit: only connections without a reply count.
TEST(Limits, HalfOpenLimit) {
  auto table = test::make_table({.capacity = 64, .max_half_open = 2, .shards = 1});
  Stepper s{*table};
  for (std::uint16_t p = 1; p <= 5; ++p) establish(s, p, p);
  const CtResult h1 = s.step(udp4("10.1.1.1", "10.1.1.2", 10, 53), 10);
  const CtResult h2 = s.step(udp4("10.1.1.1", "10.1.1.2", 11, 53), 11);
  EXPECT_EQ(table->stats().half_open, 2u);
  const CtResult h3 = s.step(udp4("10.1.1.1", "10.1.1.2", 12, 53), 12);
  ASSERT_TRUE(h3.conn.valid());
  ConnInfo info;
  EXPECT_FALSE(table->info(h1.conn, info));
  EXPECT_TRUE(table->info(h2.conn, info));
  EXPECT_EQ(table->stats().half_open, 2u);
  EXPECT_EQ(table->stats().connections, 7u);
  EXPECT_EQ(table->stats().evicted, 1u);
}

// Issue 4: "A SYN flood at 10x the table size must leave established
// connections working: at least 99.9% of their packets still pass". Here
// the flood is of UDP first packets (half-open pseudo-connections, each
// admitted by the policy), from random sources, interleaved burst by burst
// with packets of the established connections in both directions.
TEST(Limits, FloodAtTenTimesTheTableLeavesEstablishedWorking) {
  constexpr std::uint32_t kCapacity = 2048;
  constexpr std::uint32_t kEstablished = 1024;
  for (CtConcurrency mode : {CtConcurrency::kShared, CtConcurrency::kSingleThread}) {
    auto table = test::make_table({.capacity = kCapacity, .shards = 16, .concurrency = mode});
    Stepper s{*table};
    std::uint64_t now = 0;
    for (std::uint32_t i = 0; i < kEstablished; ++i)
      establish(s, static_cast<std::uint16_t>(10000 + i), now += 1000);

    std::mt19937 rng(4);
    test::Frames flood_frames;
    std::uint64_t passed = 0, sent = 0;
    const std::uint32_t flood_total = 10 * kCapacity;
    for (std::uint32_t sent_flood = 0; sent_flood < flood_total; sent_flood += 32) {
      now += 1000;
      test::Frames burst;
      for (int k = 0; k < 32; ++k) {
        const std::uint32_t src = 0x0b000000u | (rng() & 0xffffff);
        const std::string ip = std::to_string(src >> 24) + "." + std::to_string((src >> 16) & 255) + "." +
                               std::to_string((src >> 8) & 255) + "." + std::to_string(src & 255);
        burst.add(udp4(ip, "10.1.1.2", static_cast<std::uint16_t>(rng()), 80));
      }
      const auto views = burst.views();
      std::vector<CtResult> r(views.size());
      table->lookup(1, views, now, r);
      for (std::size_t k = 0; k < views.size(); ++k)
        if (r[k].outcome == CtOutcome::kNew) table->create(1, views[k], {.rule_id = 1}, now, r[k]);

      test::Frames est;
      for (int k = 0; k < 32; ++k) {
        const auto port = static_cast<std::uint16_t>(10000 + rng() % kEstablished);
        est.add(k % 2 ? udp4("10.1.1.1", "10.1.1.2", port, 53) : udp4("10.1.1.2", "10.1.1.1", 53, port));
      }
      const auto est_views = est.views();
      std::vector<CtResult> er(est_views.size());
      table->lookup(1, est_views, now, er);
      for (const CtResult& x : er) {
        ++sent;
        if (x.outcome == CtOutcome::kEstablished && (x.ct_state & kCtEstablished)) ++passed;
      }
    }
    const ConnTableStats st = table->stats();
    EXPECT_GE(static_cast<double>(passed), 0.999 * static_cast<double>(sent))
        << passed << " of " << sent;
    EXPECT_EQ(st.connections, kCapacity);
    // New connections still get in during the flood: they push out older
    // half-open ones rather than being refused.
    EXPECT_LT(st.refused_table_full, flood_total / 100);
    EXPECT_EQ(st.evicted + st.refused_table_full + st.connections, kEstablished + flood_total)
        << "every flood connection is live, evicted or refused";
    std::cout << "flood: " << passed << "/" << sent << " established packets passed; evicted "
              << st.evicted << ", refused " << st.refused_table_full << "\n";
  }
}

}  // namespace
}  // namespace fw
