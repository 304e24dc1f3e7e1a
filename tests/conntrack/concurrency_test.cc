// Several threads process one zone of one table at once (CtConcurrency::
// kShared). Run under ThreadSanitizer in CI (label "concurrency"): any data
// race in the table, its shards, free-list stealing or the fragment table
// fails the run. The checks below are what must hold whatever the
// interleaving.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "conntrack/ct_support.h"

namespace fw {
namespace {

using test::Frames;
using test::udp4;

constexpr int kThreads = 4;

// Both threads see the same new flows in the same order: every flow gets
// exactly one entry, whoever creates it, and the loser's create() attaches.
TEST(ConnTableConcurrency, RacingCreatesMakeOneEntryPerFlow) {
  constexpr int kFlows = 2000;
  auto table = test::make_table({.capacity = 4096, .shards = 8});
  Frames f;
  for (int i = 0; i < kFlows; ++i)
    f.add(udp4("10.1.1.1", "10.1.1.2", static_cast<std::uint16_t>(1000 + i), 53));
  const auto views = f.views();
  std::vector<std::vector<ConnRef>> refs(kThreads, std::vector<ConnRef>(kFlows));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int base = 0; base < kFlows; base += 32) {
        const std::size_t n = std::min(32, kFlows - base);
        std::span<const PacketView> burst(views.data() + base, n);
        CtResult r[32];
        table->lookup(1, burst, 1, std::span(r, n));
        for (std::size_t k = 0; k < n; ++k) {
          if (r[k].outcome == CtOutcome::kNew) table->create(1, burst[k], {.rule_id = 3}, 1, r[k]);
          refs[t][base + k] = r[k].conn;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(table->stats().created, static_cast<std::uint64_t>(kFlows));
  EXPECT_EQ(table->stats().connections, static_cast<std::uint64_t>(kFlows));
  for (int t = 1; t < kThreads; ++t)
    for (int i = 0; i < kFlows; ++i) ASSERT_EQ(refs[t][i], refs[0][i]) << "flow " << i;
}

// Mixed load on one zone: established traffic in both directions, new
// flows at the limit (eviction), removals by handle, explicit expiry,
// fragments and stats readers, all at once. Established packets always
// pass; the counters add up afterwards.
TEST(ConnTableConcurrency, MixedTrafficOnOneZone) {
  constexpr int kEstablished = 256;
  constexpr int kRounds = 150;
  auto table = test::make_table({.capacity = 1024, .shards = 8});
  test::Stepper setup{*table};
  for (int i = 0; i < kEstablished; ++i) {
    const auto port = static_cast<std::uint16_t>(20000 + i);
    setup.step(udp4("10.1.1.1", "10.1.1.2", port, 53), 1);
    setup.step(udp4("10.1.1.2", "10.1.1.1", 53, port), 1);
  }
  Frames est;
  for (int i = 0; i < kEstablished; ++i) {
    const auto port = static_cast<std::uint16_t>(20000 + i);
    est.add(i % 2 ? udp4("10.1.1.1", "10.1.1.2", port, 53) : udp4("10.1.1.2", "10.1.1.1", 53, port));
  }
  const auto est_views = est.views();

  std::atomic<std::uint64_t> failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Frames fresh;
      for (int i = 0; i < kRounds * 8; ++i)
        fresh.add(udp4("10.2." + std::to_string(t) + "." + std::to_string(i % 250), "10.1.1.2",
                       static_cast<std::uint16_t>(i), 80));
      Frames frags;
      for (int i = 0; i < kRounds; ++i) {
        const auto id = static_cast<std::uint16_t>(t * 1000 + i);
        frags.add(test::v4("10.3.0." + std::to_string(t), "10.1.1.2", {.id = id, .more_fragments = true})
                      .udp(7, 7).payload(16).build());
        frags.add(test::v4("10.3.0." + std::to_string(t), "10.1.1.2",
                           {.id = id, .fragment_offset = 24, .protocol = kIpProtoUdp})
                      .payload(16).build());
      }
      const auto fresh_views = fresh.views();
      const auto frag_views = frags.views();
      std::uint64_t now = 2;
      for (int round = 0; round < kRounds; ++round) {
        ++now;
        CtResult r[32];
        // Established packets.
        const std::size_t off = static_cast<std::size_t>((round * 32 + t * 8) % (kEstablished - 32));
        table->lookup(1, std::span(est_views.data() + off, 32), now, r);
        for (const CtResult& x : r)
          if (!(x.ct_state & kCtEstablished)) failed.fetch_add(1);
        // New flows, admitted; some removed again at once.
        std::span<const PacketView> burst(fresh_views.data() + round * 8, 8);
        table->lookup(1, burst, now, std::span(r, 8));
        for (std::size_t k = 0; k < 8; ++k) {
          if (r[k].outcome == CtOutcome::kNew && table->create(1, burst[k], {.rule_id = 5}, now, r[k]) &&
              k == 0)
            table->remove(r[k].conn);
          if (k == 1 && r[k].conn.valid()) table->update_admission(r[k].conn, {.rule_id = 6, .generation = 2});
        }
        // A fragmented datagram.
        std::span<const PacketView> fr(frag_views.data() + 2 * round, 2);
        table->lookup(1, fr.subspan(0, 1), now, std::span(r, 1));
        if (r[0].outcome == CtOutcome::kNew) table->create(1, fr[0], {.rule_id = 8}, now, r[0]);
        table->lookup(1, fr.subspan(1, 1), now, std::span(r, 1));
        if (round % 16 == 0) table->expire(now, 8);
      }
    });
  }
  std::thread reader([&] {
    while (!stop.load()) {
      const ConnTableStats st = table->stats();
      (void)st;
      (void)table->zone_connections(1);
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  reader.join();

  EXPECT_EQ(failed.load(), 0u);
  const ConnTableStats st = table->stats();
  EXPECT_EQ(st.connections, st.created - st.expired - st.evicted - st.removed);
  EXPECT_EQ(st.connections, table->zone_connections(1));
  EXPECT_LE(st.connections, 1024u);
}

}  // namespace
}  // namespace fw
