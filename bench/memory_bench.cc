// The machine's random-access memory behaviour, the floor under the
// connection table's lookups at 1M connections (docs/PERFORMANCE.md,
// "Session 9"): what one random cache line costs at a given working set
// when 32 are fetched at a time, and whether lines prefetched for a burst
// arrive while the core computes (burst prefetch, then compute, then read)
// or only when the prefetches are paced D items ahead of their use; and
// the connection table's own memory shape (buckets, chains, 112-byte
// entries) with none of its instructions, alone and beside a packet's work
// in five orders (BM_MemChainedTable). No libfw code: the same loops a
// burst lookup is made of, on plain buffers (2 MB-aligned and marked for
// transparent huge pages, as the table's).
//
// Every figure is ns per item (ns_per_item); "compute" is a dependent
// multiply-add chain of `spin` steps per item, the stand-in for a lookup's
// instructions.
#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

constexpr std::size_t kItemBytes = 256;  // an item is the first lines of 256 bytes
constexpr std::size_t kHugePage = 2u << 20;

// A block on 2 MB-aligned memory marked for transparent huge pages, as the
// table's pool and buckets are (table.cc allocate_table_memory), every byte
// set to `fill`.
struct HugeBlock {
  HugeBlock(std::size_t size, unsigned char fill)
      : bytes((size + kHugePage - 1) / kHugePage * kHugePage),
        data(static_cast<char*>(::operator new(bytes, std::align_val_t(kHugePage)))) {
#if defined(MADV_HUGEPAGE)
    (void)::madvise(data, bytes, MADV_HUGEPAGE);
#endif
    std::memset(data, fill, bytes);
  }
  ~HugeBlock() { ::operator delete(data, std::align_val_t(kHugePage)); }
  HugeBlock(const HugeBlock&) = delete;
  HugeBlock& operator=(const HugeBlock&) = delete;

  std::size_t bytes;
  char* data;
};

struct Buffer {
  explicit Buffer(std::size_t mb) : block(mb << 20, 1) {
    std::mt19937_64 rng(1);
    order.resize(std::size_t{1} << 20);
    for (auto& o : order) o = static_cast<std::uint32_t>(rng() % (block.bytes / kItemBytes));
  }
  const char* item(std::size_t k) const { return block.data + std::size_t{order[k & (order.size() - 1)]} * kItemBytes; }

  HugeBlock block;
  std::vector<std::uint32_t> order;
};

// A benchmark's data, built on first use and kept while it is asked for
// with the same arguments (one at a time: building the next frees the last).
template <typename T, typename... Args>
const T& kept(Args... args) {
  static std::unique_ptr<T> held;
  static std::tuple<Args...> made;
  if (!held || made != std::tuple<Args...>(args...)) {
    held.reset();
    held = std::make_unique<T>(args...);
    made = {args...};
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
  const Buffer& b = kept<Buffer>(static_cast<std::size_t>(state.range(0)));
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
  const Buffer& b = kept<Buffer>(std::size_t{128});
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
  const Buffer& b = kept<Buffer>(std::size_t{128});
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


// The connection table's memory shape with none of its instructions, and
// what happens to it when a packet's work is added (docs/PERFORMANCE.md,
// "Session 10"). `entries` 112-byte entries in one dense pool (as entry.h),
// two 8-byte buckets an entry, each bucket a singly linked chain through
// the entry's first word (new entries at the front); lookups of entries
// picked at random, 32 a burst; a hit reads every line its entry spans, as
// a UDP hit does. The open-addressing shape (open:1) is the other
// container, for comparison: entries in 128-byte slots at their hash's
// place, linear probing at a load of 1/2, one random place a lookup.
struct ChainedTable {
  static constexpr std::size_t kEntry = 112;
  ChainedTable(std::size_t n, bool open)
      : buckets_n(std::bit_ceil(2 * n)),
        pool_bytes(open ? buckets_n * 128 : n * kEntry),
        block(pool_bytes + buckets_n * 8, 0),
        pool(block.data),
        heads(reinterpret_cast<const char**>(block.data + pool_bytes)) {
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> ids(n);
    for (auto& id : ids) id = rng() | 1;  // non-zero: an empty slot holds 0
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t b = ids[i] & (buckets_n - 1);
      if (open) {
        std::size_t at = b;
        while (slot(at)[1] != 0) at = (at + 1) & (buckets_n - 1);
        slot(at)[1] = ids[i];
      } else {
        char* e = pool + i * kEntry;
        std::memcpy(e, &heads[b], 8);  // link: the old head
        std::memcpy(e + 8, &ids[i], 8);
        heads[b] = e;
      }
    }
    // The lookups' keys in lookup order, read sequentially: a packet
    // carries its key, so the probe must not add a random read for it.
    sequence.resize(std::size_t{1} << 20);
    for (auto& key : sequence) key = ids[rng() % n];
  }
  std::uint64_t* slot(std::size_t at) const { return reinterpret_cast<std::uint64_t*>(pool + at * 128); }
  std::uint64_t key(std::size_t k) const { return sequence[k & (sequence.size() - 1)]; }
  const char* const* bucket(std::uint64_t id) const { return &heads[id & (buckets_n - 1)]; }
  static const char* link(const char* e) {
    const char* next;
    std::memcpy(&next, e, 8);
    return next;
  }
  static void prefetch_entry(const char* e) {  // as table.cc's
    __builtin_prefetch(e);
    __builtin_prefetch(e + 64);
    __builtin_prefetch(e + kEntry - 1);
  }
  // The entry of `id`, walking the chain from `first`.
  static const char* find(const char* first, std::uint64_t id) {
    const char* e = first;
    for (std::uint64_t k; std::memcpy(&k, e + 8, 8), k != id;) e = link(e);
    return e;
  }
  // Reads the lines of entry `e` past the key's, as a hit does.
  static unsigned read(const char* e) { return static_cast<unsigned char>(e[64] + e[kEntry - 1]); }

  std::size_t buckets_n, pool_bytes;
  HugeBlock block;
  char* pool;
  const char** heads;
  std::vector<std::uint64_t> sequence;
};

// Independent work standing in for a packet's instructions: four
// accumulators, five instructions a round, no memory.
inline std::uint64_t independent_work(int rounds, std::uint64_t x) {
  std::uint64_t a = x, b = x ^ 1, c = x ^ 2, d = x ^ 3;
  for (int j = 0; j < rounds; ++j) {
    a = a * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(j);
    b = (b ^ (b >> 7)) + a;
    c = c * 0xc2b2ae3d27d4eb4fULL + static_cast<std::uint64_t>(j);
    d = (d ^ (d >> 9)) + c;
    asm volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  }
  return a ^ b ^ c ^ d;
}

// Lookups in one of seven orders, with `work` rounds of work a packet (the
// rest of the chain's instructions). The work does not depend
// on what the lookups read (its own accumulator), so an out-of-order core
// is free to run it while lines are on their way. Orders:
//   0 staged, as table.cc's lookup_chunk: prefetch every bucket of the
//     burst; read each head, prefetch its entry; read each first entry's
//     link, prefetch the second; then compare and work, packet by packet;
//   1 the same with a stage that demand-reads every line of both entries
//     in a tight loop before the compare (so the work never misses);
//   2 a rolling pipeline inside each burst: packet a's bucket prefetched
//     while a - D's entry is, a - 2D's second entry, and a - 3D compared;
//     the pipeline fills and drains in every burst;
//   3 the same pipeline kept full across bursts (what an interface that
//     saw the next burst could do);
//   4 the open-addressing shape: prefetch every slot, then probe and work;
//   5 staged, the burst's work done before the stages (as the chain parses
//     a burst before its lookups), the compare alone in the last stage;
//   6 staged, the compares of the whole burst first, then the work.
void BM_MemChainedTable(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto order = state.range(1);
  const int rounds = static_cast<int>(state.range(2));
  const auto d = static_cast<std::int64_t>(state.range(3));
  const ChainedTable& t = kept<ChainedTable>(n, order == 4);
  std::uint64_t sum = 0, side = 0;
  auto compare_and_work = [&](const char* first, std::uint64_t id) {
    sum += ChainedTable::read(ChainedTable::find(first, id));
    side += independent_work(rounds, side);
  };
  constexpr std::size_t kRing = 256;  // > 3D + 32
  const char* firsts[kRing] = {};
  std::int64_t at = 0;
  for (auto _ : state) {
    if (order == 4) {
      for (std::int64_t k = at; k < at + 32; ++k) __builtin_prefetch(t.slot(t.key(k) & (t.buckets_n - 1)));
      for (std::int64_t k = at; k < at + 32; ++k) {
        const std::uint64_t id = t.key(k);
        std::size_t s = id & (t.buckets_n - 1);
        while (t.slot(s)[1] != id) s = (s + 1) & (t.buckets_n - 1);
        const char* e = reinterpret_cast<const char*>(t.slot(s));
        sum += static_cast<unsigned char>(e[0] + e[64]);
        side += independent_work(rounds, side);
      }
    } else if (order <= 1 || order >= 5) {
      const char* first[32];
      if (order == 5)
        for (std::int64_t k = 0; k < 32; ++k) side += independent_work(rounds, side);
      for (std::int64_t k = 0; k < 32; ++k) __builtin_prefetch(t.bucket(t.key(at + k)));
      for (std::int64_t k = 0; k < 32; ++k) {
        first[k] = *t.bucket(t.key(at + k));
        ChainedTable::prefetch_entry(first[k]);
      }
      for (std::int64_t k = 0; k < 32; ++k)
        if (const char* next = ChainedTable::link(first[k]); next != nullptr) ChainedTable::prefetch_entry(next);
      if (order == 1) {
        unsigned touched = 0;
        for (std::int64_t k = 0; k < 32; ++k) {
          touched += static_cast<unsigned char>(first[k][64] ^ first[k][ChainedTable::kEntry - 1]);
          if (const char* next = ChainedTable::link(first[k]); next != nullptr)
            touched += static_cast<unsigned char>(next[8] ^ next[64] ^ next[ChainedTable::kEntry - 1]);
        }
        sum += touched & 1;
      }
      if (order == 5) {
        for (std::int64_t k = 0; k < 32; ++k) sum += ChainedTable::read(ChainedTable::find(first[k], t.key(at + k)));
      } else if (order == 6) {
        const char* hit[32];
        for (std::int64_t k = 0; k < 32; ++k) hit[k] = ChainedTable::find(first[k], t.key(at + k));
        for (std::int64_t k = 0; k < 32; ++k) {
          sum += ChainedTable::read(hit[k]);
          side += independent_work(rounds, side);
        }
      } else {
        for (std::int64_t k = 0; k < 32; ++k) compare_and_work(first[k], t.key(at + k));
      }
    } else {
      // a: bucket prefetched; a - D: entry prefetched; a - 2D: second
      // entry prefetched; a - 3D: compared. Packets [at, at + 32) are
      // compared in this burst. Order 2 starts each burst empty; order 3
      // continues from where the last burst's stages were.
      const bool carry = order == 3;
      const std::int64_t lo = at, hi = at + 32;
      const std::int64_t floor = carry ? 0 : lo;
      for (std::int64_t a = (carry && at != 0) ? lo + 3 * d : lo; a < hi + 3 * d; ++a) {
        if (carry || a < hi) __builtin_prefetch(t.bucket(t.key(a)));
        if (const std::int64_t b = a - d; b >= floor && (carry || b < hi)) {
          const char* f = *t.bucket(t.key(b));
          firsts[static_cast<std::size_t>(b) % kRing] = f;
          ChainedTable::prefetch_entry(f);
        }
        if (const std::int64_t c = a - 2 * d; c >= floor && (carry || c < hi))
          if (const char* next = ChainedTable::link(firsts[static_cast<std::size_t>(c) % kRing]); next != nullptr)
            ChainedTable::prefetch_entry(next);
        if (const std::int64_t g = a - 3 * d; g >= lo) compare_and_work(firsts[static_cast<std::size_t>(g) % kRing], t.key(g));
      }
    }
    at += 32;
  }
  benchmark::DoNotOptimize(sum);
  benchmark::DoNotOptimize(side);
  report(state, static_cast<std::size_t>(at));
}
BENCHMARK(BM_MemChainedTable)
    ->ArgNames({"entries", "order", "work", "D"})
    ->ArgsProduct({{16384, 1 << 20}, {0, 1}, {0, 20, 40}, {0}})
    ->ArgsProduct({{1 << 20}, {2, 3}, {0, 20}, {4, 16}})
    ->ArgsProduct({{1 << 20}, {4}, {0, 20}, {0}})
    ->ArgsProduct({{16384, 1 << 20}, {5, 6}, {20, 40}, {0}});

}  // namespace
