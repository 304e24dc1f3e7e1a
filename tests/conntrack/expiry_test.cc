// Timeouts per class, expiry lists (refresh moves to the tail), bounded
// sweeping. Time is the caller's, so every case is exact.
#include <gtest/gtest.h>

#include "conntrack/ct_support.h"

namespace fw {
namespace {

using test::kSecond;
using test::Stepper;
using test::udp4;

// OVS test-conntrack / netfilter selftests "unreplied connection times out":
// udp_first (60 s by default) counts from the last packet.
TEST(Expiry, UnrepliedUdpTimesOutAfterUdpFirst) {
  auto table = test::make_table();
  Stepper s{*table};
  ASSERT_EQ(s.flags(udp4("10.1.1.1", "10.1.1.2", 1, 2), 0), "new|trk");
  EXPECT_EQ(s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 59 * kSecond).outcome, CtOutcome::kEstablished);
  EXPECT_EQ(s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 119 * kSecond - 1).outcome, CtOutcome::kEstablished);
  const CtResult late = s.step(udp4("10.1.1.2", "10.1.1.1", 2, 1), (119 + 60) * kSecond - 2, false);
  EXPECT_EQ(late.outcome, CtOutcome::kEstablished);
  EXPECT_EQ(format_ct_state(late.ct_state), "est|rpl|trk");
  // Replied: udp_multiple (30 s).
  EXPECT_EQ(s.step(udp4("10.1.1.2", "10.1.1.1", 2, 1), (179 + 30) * kSecond, false).outcome,
            CtOutcome::kNew);
  EXPECT_EQ(table->stats().expired, 1u);
  EXPECT_EQ(table->stats().connections, 0u);
}

TEST(Expiry, ConfiguredTimeoutsPerClass) {
  auto table = test::make_table(
      {.timeouts = {.udp_first = 5, .udp_multiple = 7, .icmp = 3, .other_first = 4, .other_multiple = 6}});
  Stepper s{*table};
  ConnInfo info;
  struct Case {
    test::Bytes frame;
    std::uint64_t timeout_s;
  };
  Case cases[] = {
      {udp4("10.1.1.1", "10.1.1.2", 1, 2), 5},
      {test::v4("10.1.1.1", "10.1.1.2").icmp_echo(1, 1).build(), 3},
      {test::v4("10.1.1.1", "10.1.1.2", {.protocol = 47}).payload(8).build(), 4},
  };
  for (Case& c : cases) {
    const CtResult r = s.step(std::move(c.frame), 100 * kSecond);
    ASSERT_TRUE(table->info(r.conn, info));
    EXPECT_EQ(info.expires_ns, (100 + c.timeout_s) * kSecond);
  }
  const CtResult reply = s.step(udp4("10.1.1.2", "10.1.1.1", 2, 1), 101 * kSecond);
  ASSERT_TRUE(table->info(reply.conn, info));
  EXPECT_TRUE(info.established);
  EXPECT_EQ(info.expires_ns, 108 * kSecond);
}

// Expired entries are freed by the sweep after a burst, without a packet of
// theirs: at most expiry_per_burst per lookup() call.
TEST(Expiry, SweepIsBoundedPerBurst) {
  auto table = test::make_table({.shards = 1, .expiry_per_burst = 3});
  Stepper s{*table};
  for (std::uint16_t p = 1; p <= 10; ++p) s.step(udp4("10.1.1.1", "10.1.1.2", p, 2), 0);
  ASSERT_EQ(table->stats().connections, 10u);
  // Any burst, even an unrelated packet, sweeps.
  s.step(udp4("10.9.9.9", "10.1.1.2", 9, 9), 61 * kSecond, false);
  EXPECT_EQ(table->stats().expired, 3u);
  s.step(udp4("10.9.9.9", "10.1.1.2", 9, 9), 61 * kSecond, false);
  EXPECT_EQ(table->stats().expired, 6u);
  EXPECT_EQ(table->expire(61 * kSecond, 2), 2u);
  EXPECT_EQ(table->expire(61 * kSecond, 100), 2u);
  EXPECT_EQ(table->stats().connections, 0u);
  EXPECT_EQ(table->stats().expired, 10u);
  EXPECT_EQ(table->zone_connections(1), 0u);
  EXPECT_EQ(table->stats().half_open, 0u);
}

// A refreshed entry moves to the tail of its list: the sweep frees the one
// idle longest, not the one created first, and stops at the first live one.
TEST(Expiry, RefreshMovesToTail) {
  auto table = test::make_table({.shards = 1, .expiry_per_burst = 0});
  Stepper s{*table};
  const CtResult a = s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 0);
  const CtResult b = s.step(udp4("10.1.1.1", "10.1.1.2", 3, 4), 10 * kSecond);
  s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 20 * kSecond);  // refresh a
  EXPECT_EQ(table->expire(75 * kSecond, 10), 1u);            // b: 10 + 60 <= 75 < 20 + 60
  ConnInfo info;
  EXPECT_TRUE(table->info(a.conn, info));
  EXPECT_FALSE(table->info(b.conn, info));
  EXPECT_EQ(table->expire(80 * kSecond, 10), 1u);
}

// A packet refreshes the timer only when min(1 s, timeout/64) has passed
// since the last refresh (netfilter likewise skips updates under a jiffy):
// an idle connection expires between timeout - that and timeout after its
// last packet.
TEST(Expiry, RefreshGranularity) {
  auto table = test::make_table({.shards = 1, .expiry_per_burst = 0});
  Stepper s{*table};
  const CtResult a = s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 10 * kSecond);
  ConnInfo info;
  s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 10 * kSecond + 900'000'000);  // < 60 s / 64
  ASSERT_TRUE(table->info(a.conn, info));
  EXPECT_EQ(info.expires_ns, 70 * kSecond);
  s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 11 * kSecond);  // >= 0.9375 s later
  ASSERT_TRUE(table->info(a.conn, info));
  EXPECT_EQ(info.expires_ns, 71 * kSecond);
  // With a 5 s timeout the granularity is 5 s / 64 = 78.125 ms.
  auto quick = test::make_table({.timeouts = {.udp_first = 5}});
  Stepper q{*quick};
  const CtResult b = q.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 0);
  q.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 78'125'000);
  ASSERT_TRUE(quick->info(b.conn, info));
  EXPECT_EQ(info.expires_ns, 5 * kSecond + 78'125'000);
}

// A class change (first -> multiple) moves the entry to the other list with
// the other timeout.
TEST(Expiry, ClassChangeMovesList) {
  auto table = test::make_table({.shards = 1, .expiry_per_burst = 0});
  Stepper s{*table};
  const CtResult a = s.step(udp4("10.1.1.1", "10.1.1.2", 1, 2), 0);
  s.step(udp4("10.1.1.2", "10.1.1.1", 2, 1), 1 * kSecond);  // replied: 30 s
  EXPECT_EQ(table->expire(30 * kSecond, 10), 0u);
  EXPECT_EQ(table->expire(31 * kSecond, 10), 1u);
  ConnInfo info;
  EXPECT_FALSE(table->info(a.conn, info));
}

// Expiry never walks the table: with a million live connections and none
// expired, a sweep looks only at list heads (checked by the work it does:
// nothing is freed and the call returns at once; timing lives in the bench).
TEST(Expiry, LiveEntriesAreNotFreed) {
  auto table = test::make_table({.capacity = 4096, .shards = 4});
  Stepper s{*table};
  for (std::uint16_t p = 0; p < 2000; ++p) s.step(udp4("10.1.1.1", "10.1.1.2", p, 2), p);
  EXPECT_EQ(table->expire(59 * kSecond, 1u << 20), 0u);
  EXPECT_EQ(table->stats().connections, 2000u);
  EXPECT_EQ(table->expire(60 * kSecond + 999, 1u << 20), 1000u);
}

}  // namespace
}  // namespace fw
