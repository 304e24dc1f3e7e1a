// AddressClassMap lookups on reader threads, each inside an RCU read-side
// critical section, while the control thread keeps changing memberships so
// trie nodes move between leaves and tables and replaced nodes are recycled
// (reclaim() after a grace period). Every lookup must return the address's
// class before or after a change: never another address's atoms, a torn
// entry or a node already reused. Run under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "libfw/classify/address_class_map.h"
#include "libfw/core/rcu.h"

namespace fw::classify {
namespace {

TEST(AddressClassMapConcurrency, LookupsSeeOldOrNewClassWhileNodesAreReplaced) {
  // Atom 0 is a /16 that never changes; host h (of kHosts, packed into two
  // /24s so one node crosses the 12-run line both ways and the other stays a
  // leaf) has its own atom h + 1 that the writer toggles. So the class of
  // host h is {0} or {0, h + 1}, and of any other address in the /16, {0}.
  constexpr std::uint32_t kNet = 0x0a0b0000;
  constexpr int kHosts = 24;
  std::vector<std::uint32_t> hosts;
  for (int h = 0; h < kHosts; ++h)
    hosts.push_back(kNet + (h < 18 ? 0x100u + 7u * static_cast<std::uint32_t>(h) : 0x300u + 11u * static_cast<std::uint32_t>(h)));
  AddressClassMap map;
  map.add(0, Cidr{IpAddress::v4(kNet), 16});

  std::atomic<bool> stop{false};
  std::atomic<long> lookups{0}, wrong{0};
  auto reader = [&](unsigned seed) {
    rcu::register_reader_thread();
    std::mt19937 rng(seed);
    std::vector<std::uint32_t> burst(64);
    std::vector<ClassId> out(64);
    while (!stop.load(std::memory_order_relaxed)) {
      rcu::ReadGuard guard;
      for (auto& a : burst) {
        const std::uint32_t pick = rng() % (kHosts + 8);
        a = pick < kHosts ? hosts[pick] : kNet + (rng() & 0xffff);
      }
      map.lookup_burst_v4(burst, out);
      for (std::size_t i = 0; i < burst.size(); ++i) {
        const ClassId one = map.lookup(IpAddress::v4(burst[i]));
        for (const ClassId c : {one, out[i]}) {
          const auto atoms = map.atoms(c);
          const auto h = std::find(hosts.begin(), hosts.end(), burst[i]);
          const AtomId own = h == hosts.end() ? 0 : static_cast<AtomId>(h - hosts.begin() + 1);
          const bool ok = (atoms.size() == 1 && atoms[0] == 0) ||
                          (own != 0 && atoms.size() == 2 && atoms[0] == 0 && atoms[1] == own);
          if (!ok) wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
      lookups.fetch_add(static_cast<long>(burst.size()), std::memory_order_relaxed);
    }
    rcu::unregister_reader_thread();
  };
  std::thread r1(reader, 1), r2(reader, 2);

  std::mt19937 rng(3);
  std::vector<bool> in(kHosts, false);
  int tables_seen = 0;
  for (int change = 0; change < 20000; ++change) {
    const auto h = static_cast<std::size_t>(rng() % kHosts);
    const Cidr block{IpAddress::v4(hosts[h]), 32};
    if (in[h]) map.remove(static_cast<AtomId>(h + 1), block);
    else map.add(static_cast<AtomId>(h + 1), block);
    in[h] = !in[h];
    tables_seen += map.node_stats().tables > 0;
    if (change % 16 == 15) map.reclaim();  // recycle replaced nodes often
  }
  // Let the readers run on the last state too.
  while (lookups.load() < 20000) std::this_thread::yield();
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(tables_seen, 0);
  EXPECT_GT(map.node_stats().free_leaves, 0u);
}

}  // namespace
}  // namespace fw::classify
