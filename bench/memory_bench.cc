// The machine's random-access memory behaviour, the floor under the
// connection table's lookups at 1M connections (docs/PERFORMANCE.md,
// "Session 9"): what one random cache line costs at a given working set
// when 32 are fetched at a time, and whether lines prefetched for a burst
// arrive while the core computes (burst prefetch, then compute, then read)
// or only when the prefetches are paced D items ahead of their use. No
// libfw code: the same loops a burst lookup is made of, on a plain buffer
// (2 MB-aligned and marked for transparent huge pages, as the table's).
//
// Every figure is ns per item (ns_per_item); "compute" is a dependent
// multiply-add chain of `spin` steps per item, the stand-in for a lookup's
// instructions.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

constexpr std::size_t kItemBytes = 256;  // an item is the first lines of 256 bytes
constexpr std::size_t kHugePage = 2u << 20;

struct Buffer {
  explicit Buffer(std::size_t mb) : bytes(mb << 20) {
    data = static_cast<char*>(::operator new(bytes, std::align_val_t(kHugePage)));
#if defined(MADV_HUGEPAGE)
    (void)::madvise(data, bytes, MADV_HUGEPAGE);
#endif
    std::memset(data, 1, bytes);
    std::mt19937_64 rng(1);
    order.resize(std::size_t{1} << 20);
    for (auto& o : order) o = static_cast<std::uint32_t>(rng() % (bytes / kItemBytes));
  }
  ~Buffer() { ::operator delete(data, std::align_val_t(kHugePage)); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  const char* item(std::size_t k) const { return data + std::size_t{order[k & (order.size() - 1)]} * kItemBytes; }

  std::size_t bytes;
  char* data;
  std::vector<std::uint32_t> order;
};

const Buffer& buffer(std::size_t mb) {
  static std::unique_ptr<Buffer> held;
  if (!held || held->bytes != (mb << 20)) {
    held.reset();
    held = std::make_unique<Buffer>(mb);
  }
  return *held;
}

inline std::uint64_t compute(int spin, std::uint64_t x) {
  for (int j = 0; j < spin; ++j) {
    x = x * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(j);
    benchmark::DoNotOptimize(x);
  }
  return x;
}

void report(benchmark::State& state, std::size_t items) {
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["ns_per_item"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The machine's floor for the 1M-flow lookups: items at random
// 256-byte-aligned places in MB MiB, `lines` adjacent cache lines each,
// prefetched a batch of 32 at a time and then read, as the table's lookup
// stages do. A 1M-flow packet reads a bucket line (1 line, in a 16 MiB
// array that may fit the last-level cache), its entry (two or three lines)
// and, for about two in five, a second entry, in dependent rounds: the sum
// of those items' times is what memory alone costs a packet
// (docs/PERFORMANCE.md, sessions 6 and 9).
void BM_MemRandomLines(benchmark::State& state) {
  const Buffer& b = buffer(static_cast<std::size_t>(state.range(0)));
  const auto lines = static_cast<std::size_t>(state.range(1));
  std::size_t at = 0, items = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::size_t k = 0; k < 32; ++k)
      for (std::size_t l = 0; l < lines; ++l) __builtin_prefetch(b.item(at + k) + 64 * l);
    for (std::size_t k = 0; k < 32; ++k)
      for (std::size_t l = 0; l < lines; ++l) sum += static_cast<unsigned char>(b.item(at + k)[64 * l]);
    at += 32;
    items += 32;
  }
  benchmark::DoNotOptimize(sum);
  report(state, items);
}
BENCHMARK(BM_MemRandomLines)
    ->ArgNames({"MB", "lines"})
    ->Args({256, 1})
    ->Args({256, 2})
    ->Args({256, 3})
    ->Args({4, 1})
    ->Args({8, 1})
    ->Args({16, 1})
    ->Args({128, 1});

// A burst of 32 two-line items: prefetch all (prefetch:1) or none
// (prefetch:0), then `spin` steps of compute per item, then read both lines
// of every item. prefetch:2 is the compute alone (no prefetch, no read).
void BM_MemBurstPrefetchThenCompute(benchmark::State& state) {
  const Buffer& b = buffer(128);
  const auto mode = state.range(0);
  const int spin = static_cast<int>(state.range(1));
  std::size_t at = 0, items = 0;
  std::uint64_t sum = 1;
  for (auto _ : state) {
    if (mode == 1)
      for (std::size_t k = 0; k < 32; ++k) {
        __builtin_prefetch(b.item(at + k));
        __builtin_prefetch(b.item(at + k) + 64);
      }
    sum = compute(spin * 32, sum);
    if (mode != 2)
      for (std::size_t k = 0; k < 32; ++k) sum += static_cast<unsigned char>(b.item(at + k)[0] + b.item(at + k)[64]);
    at += 32;
    items += 32;
  }
  benchmark::DoNotOptimize(sum);
  report(state, items);
}
BENCHMARK(BM_MemBurstPrefetchThenCompute)
    ->ArgNames({"prefetch", "spin"})
    ->Args({2, 30})   // compute only
    ->Args({0, 30})   // no prefetch: demand misses after the compute
    ->Args({1, 30});  // burst prefetch before the compute

// Items one at a time: prefetch both lines of the item `distance` ahead,
// compute `spin` steps, read both lines of this item.
void BM_MemPacedPrefetch(benchmark::State& state) {
  const Buffer& b = buffer(128);
  const auto distance = static_cast<std::size_t>(state.range(0));
  const int spin = static_cast<int>(state.range(1));
  std::size_t at = 0, items = 0;
  std::uint64_t sum = 1;
  for (auto _ : state) {
    for (std::size_t k = 0; k < 32; ++k, ++at) {
      if (distance != 0) {
        __builtin_prefetch(b.item(at + distance));
        __builtin_prefetch(b.item(at + distance) + 64);
      }
      sum = compute(spin, sum);
      sum += static_cast<unsigned char>(b.item(at)[0] + b.item(at)[64]);
    }
    items += 32;
  }
  benchmark::DoNotOptimize(sum);
  report(state, items);
}
BENCHMARK(BM_MemPacedPrefetch)
    ->ArgNames({"distance", "spin"})
    ->Args({0, 30})
    ->Args({4, 30})
    ->Args({16, 30})
    ->Args({32, 30});

}  // namespace
