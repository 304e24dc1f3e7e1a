// Cost of a group membership change on the address-class map: one address
// joins (or leaves) a group atom while 100k literal prefixes are loaded. The
// change is live for the next lookup when add()/remove() returns (each trie
// entry is published with one atomic store), so this is the event-to-live
// latency of the classifier's part.
//   fw_bench --benchmark_filter=Membership
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "libfw/classify/address_class_map.h"

namespace fw::bench {
namespace {

using classify::AddressClassMap;
using classify::AtomId;

// Literal prefixes shaped like ClassBench ACL sources: mostly /32-/28 inside
// a few hundred /16s.
void load_literals(AddressClassMap& map, std::size_t count, std::mt19937_64& rng) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t base = 0x0a000000u | (static_cast<std::uint32_t>(rng() % 300) << 16);
    const std::uint8_t len = static_cast<std::uint8_t>(28 + rng() % 5);
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - len);
    map.add(static_cast<AtomId>(i), Cidr{IpAddress::v4((base | (rng() & 0xffff)) & mask), len});
  }
}

void BM_MembershipChange(benchmark::State& state) {
  const auto literals = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 rng(7);
  AddressClassMap map;
  load_literals(map, literals, rng);
  const AtomId group = static_cast<AtomId>(literals);
  std::vector<Cidr> members;
  for (int i = 0; i < 4096; ++i)
    members.push_back(Cidr{IpAddress::v4(0x0a000000u | (static_cast<std::uint32_t>(rng() % 300) << 16) |
                                         static_cast<std::uint32_t>(rng() & 0xffff)),
                           32});
  std::size_t next = 0;
  bool adding = true;
  for (auto _ : state) {
    const Cidr& m = members[next];
    if (adding) map.add(group, m); else map.remove(group, m);
    if (++next == members.size()) { next = 0; adding = !adding; }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["classes"] = static_cast<double>(map.class_count());
}
BENCHMARK(BM_MembershipChange)->Arg(10000)->Arg(100000);

}  // namespace
}  // namespace fw::bench
