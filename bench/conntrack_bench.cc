// The connection table, in the manner of OVS's tests/test-conntrack.c
// benchmark (UDP, bursts of 32), with the peer figures from issue 4 (Open
// vSwitch 3.1 userspace conntrack on this machine): new connection
// 540-580 ns, established lookup 129 ns at 10k flows and 302 ns at 1M,
// 0.5-1 KB per connection.
//   fw_bench --benchmark_filter=Ct --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Packets are parsed once from a real frame; each burst then writes fresh
// addresses and ports into its 32 views (the table reads only the parsed
// fields), so 1M distinct flows need no 1M parsed views. That write is part
// of every measured iteration (BM_CtKeyFill measures it alone).
// Counters: ns_per_packet (time per packet or per new connection),
// bytes_per_conn (ConnTable::memory_bytes() / capacity).
#include <benchmark/benchmark.h>

#include <bit>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "bench_packets.h"
#include "fw/conntrack.h"

namespace fw::bench {
namespace {

constexpr std::uint16_t kZone = 1;

// Flow i: 10.x.y.z:(i's low bits) -> 192.168.0.1:53, distinct for i < 2^32.
void write_flow(PacketView& v, std::uint32_t i, bool reply) {
  const IpAddress client = IpAddress::v4(0x0a000000u | (i >> 8));
  const IpAddress server = IpAddress::v4(0xc0a80001u);
  const auto port = static_cast<std::uint16_t>(1024 + (i & 0xff));
  v.src_ip = reply ? server : client;
  v.dst_ip = reply ? client : server;
  v.src_port = reply ? 53 : port;
  v.dst_port = reply ? port : 53;
}

std::vector<PacketView> template_views(std::size_t n) {
  static const test::Bytes frame = ipv4_udp();
  PacketView v;
  if (parse_frame(frame, v) != ParseError::kOk) std::abort();
  return std::vector<PacketView>(n, v);
}

std::unique_ptr<ConnTable> make(std::uint32_t capacity, CtConcurrency mode) {
  auto t = ConnTable::create({.capacity = capacity, .concurrency = mode});
  if (!t.ok()) std::abort();
  return std::move(t).value();
}

// Creates `flows` connections with both directions seen (established).
void prefill(ConnTable& table, std::uint32_t flows) {
  auto views = template_views(32);
  std::vector<CtResult> r(32);
  for (std::uint32_t base = 0; base < flows; base += 32) {
    const std::size_t n = std::min<std::uint32_t>(32, flows - base);
    for (std::size_t k = 0; k < n; ++k) write_flow(views[k], base + static_cast<std::uint32_t>(k), false);
    table.lookup(kZone, std::span(views.data(), n), 1, std::span(r.data(), n));
    for (std::size_t k = 0; k < n; ++k) table.create(kZone, views[k], {.rule_id = 1}, 1, r[k]);
    for (std::size_t k = 0; k < n; ++k) write_flow(views[k], base + static_cast<std::uint32_t>(k), true);
    table.lookup(kZone, std::span(views.data(), n), 1, std::span(r.data(), n));
  }
}

void set_per_packet(benchmark::State& state, std::size_t per_iteration) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
  state.counters["ns_per_packet"] = benchmark::Counter(
      static_cast<double>(state.iterations() * per_iteration) / 1e9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// New UDP connections, lookup + create, burst of range(0). range(1): 0 =
// the table never fills (fixed iteration count), 1 = the table is full and
// every new connection evicts the oldest half-open one (steady state).
void BM_CtNewUdp(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool full = state.range(1) != 0;
  constexpr std::uint32_t kCapacity = 1u << 20;
  auto table = make(kCapacity, CtConcurrency::kShared);
  auto views = template_views(batch);
  std::vector<CtResult> r(batch);
  std::uint32_t next = 0;
  if (full) {  // fill with half-open flows
    while (next < kCapacity) {
      for (std::size_t k = 0; k < batch; ++k) write_flow(views[k], next++, false);
      table->lookup(kZone, views, 1, r);
      for (std::size_t k = 0; k < batch; ++k) table->create(kZone, views[k], {.rule_id = 1}, 1, r[k]);
    }
  }
  std::uint64_t now = 2;
  for (auto _ : state) {
    for (std::size_t k = 0; k < batch; ++k) write_flow(views[k], next++, false);
    table->lookup(kZone, views, now, r);
    for (std::size_t k = 0; k < batch; ++k) table->create(kZone, views[k], {.rule_id = 1}, now, r[k]);
    benchmark::DoNotOptimize(r.data());
    ++now;
  }
  set_per_packet(state, batch);
  const ConnTableStats st = table->stats();
  state.counters["evicted"] = static_cast<double>(st.evicted);
  state.counters["refused"] = static_cast<double>(st.refused_table_full);
}
BENCHMARK(BM_CtNewUdp)->Args({32, 0})->Iterations((1u << 20) / 32 - 1)->ArgNames({"batch", "full"});
BENCHMARK(BM_CtNewUdp)->Args({32, 1})->ArgNames({"batch", "full"});

// Established lookups: range(0) flows prefilled, bursts of range(1) packets
// of random flows, both directions. range(2): 0 shared (locks), 1 single
// thread (no locks).
void BM_CtEstablishedUdp(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const CtConcurrency mode = state.range(2) ? CtConcurrency::kSingleThread : CtConcurrency::kShared;
  auto table = make(std::bit_ceil(flows), mode);
  prefill(*table, flows);
  std::vector<std::uint32_t> order(1u << 20);
  std::mt19937 rng(1);
  for (auto& o : order) o = rng() % flows;
  auto views = template_views(batch);
  std::vector<CtResult> r(batch);
  std::size_t at = 0;
  std::uint64_t misses = 0;
  std::uint64_t now = 2;
  for (auto _ : state) {
    for (std::size_t k = 0; k < batch; ++k) {
      write_flow(views[k], order[at], (at & 1) != 0);
      at = (at + 1) & (order.size() - 1);
    }
    table->lookup(kZone, views, now, r);
    now += 1000;  // ~1 us a burst of 32, about 30 Mpps
    for (const CtResult& x : r) misses += x.outcome != CtOutcome::kEstablished;
  }
  if (misses != 0) state.SkipWithError("an established flow was not found");
  set_per_packet(state, batch);
}
BENCHMARK(BM_CtEstablishedUdp)
    ->ArgsProduct({{10000, 1000000}, {32}, {0, 1}})
    ->ArgNames({"flows", "batch", "single_thread"});
BENCHMARK(BM_CtEstablishedUdp)
    ->ArgsProduct({{1000000}, {1, 8, 256}, {0}})
    ->ArgNames({"flows", "batch", "single_thread"});

// The per-packet cost of writing a flow into a view, included above.
void BM_CtKeyFill(benchmark::State& state) {
  auto views = template_views(32);
  std::uint32_t i = 0;
  for (auto _ : state) {
    for (auto& v : views) {
      write_flow(v, i, (i & 1) != 0);
      ++i;
    }
    benchmark::DoNotOptimize(views.data());
    benchmark::ClobberMemory();
  }
  set_per_packet(state, 32);
}
BENCHMARK(BM_CtKeyFill);

// Threads x batch (OVS test-conntrack "benchmark N_THREADS N_PKTS BATCH"):
// several threads look up established flows of one zone of one shared
// table (random flows: threads hit the same shards).
std::unique_ptr<ConnTable> g_shared;
void BM_CtEstablishedThreads(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  constexpr std::uint32_t kFlows = 1000000;
  if (state.thread_index() == 0) {
    g_shared = make(1u << 20, CtConcurrency::kShared);
    prefill(*g_shared, kFlows);
  }
  std::mt19937 rng(static_cast<unsigned>(state.thread_index() + 1));
  std::vector<std::uint32_t> order(1u << 16);
  for (auto& o : order) o = rng() % kFlows;
  auto views = template_views(batch);
  std::vector<CtResult> r(batch);
  std::size_t at = 0;
  std::uint64_t now = 2;
  for (auto _ : state) {
    for (std::size_t k = 0; k < batch; ++k) {
      write_flow(views[k], order[at], (at & 1) != 0);
      at = (at + 1) & (order.size() - 1);
    }
    g_shared->lookup(kZone, views, now, r);
    now += 1000;
    benchmark::DoNotOptimize(r.data());
  }
  set_per_packet(state, batch);
  if (state.thread_index() == 0) g_shared.reset();
}
BENCHMARK(BM_CtEstablishedThreads)->Arg(32)->Arg(256)->ArgName("batch")->Threads(1)->Threads(2)->UseRealTime();

// Memory per connection at 10k and 1M capacity (no time measured).
void BM_CtMemory(benchmark::State& state) {
  const auto capacity = static_cast<std::uint32_t>(state.range(0));
  auto table = make(capacity, CtConcurrency::kShared);
  for (auto _ : state) benchmark::DoNotOptimize(table->memory_bytes());
  state.counters["bytes_per_conn"] = static_cast<double>(table->memory_bytes()) / capacity;
}
BENCHMARK(BM_CtMemory)->Arg(10000)->Arg(1 << 20)->ArgName("capacity")->Iterations(1);

// BM_MemRandomLines, the machine's memory floor under these lookups, is in
// memory_bench.cc with the other memory probes.

}  // namespace
}  // namespace fw::bench
