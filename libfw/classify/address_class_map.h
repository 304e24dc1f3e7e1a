// Internal: address -> address class.
//
// An *atom* is anything a rule can name on its address sides: a group, a
// literal CIDR, a literal range, a vNIC's addresses. An address's *class* is
// the set of atoms that contain it; addresses with the same set share a
// class id (classes are interned). Rules are indexed by atom (see
// rule_index.h), so the datapath needs only: address -> class id -> atoms.
//
// Structure: per family, a stride trie over the address bits (a 16-bit root
// of 65536 entries, then 8-bit nodes of 256 entries) whose leaves hold class
// ids. It is built from *ranges*, not prefixes, so IP ranges need no prefix
// expansion: an entry holding a class covers an aligned block wholly inside
// one class; a block that straddles a class boundary becomes a child node.
// IPv4 lookups take at most 3 dependent loads; IPv6 at most 15, usually 2-3
// as groups rarely hold long prefixes.
//
// A child node is stored in one of two forms, told apart by a tag bit in the
// parent entry:
//   * a *table*: 256 atomic entries (1 KB), updated in place;
//   * a *compact leaf*: the node's runs of equal entries, at most 12 (most
//     nodes hold 2-4 runs: ClassBench acl1_100k 88 % of them at most 3),
//     as ascending 8-bit run bounds and one entry per run, in 16, 32 or 64
//     bytes (2, 6 or 12 runs). A lookup finds the run with one SSE2
//     compare of the byte against every bound, no branch and no mask.
//     Leaves are immutable once published. (The name says what they are
//     for: their entries are usually classes, but may point to child nodes
//     as a table's do.)
//
// Updates run concurrently with lookups: every entry is an atomic 32-bit
// word; a node is filled before the entry naming it is published (release),
// and each entry change is one atomic store, so a lookup sees, for its
// address, either the class before or after an update. An update that
// touches a leaf builds the node anew (a leaf again, or a table if it now
// has more than 12 runs) and publishes it with one store of the parent
// entry; an updated table that falls to 12 runs or fewer is replaced by a
// leaf the same way, and a node that becomes one class by that class. The
// replaced node is *retired*: its memory is reused only after an RCU grace
// period (libfw/core/rcu.h), when no lookup can still be reading it. The
// cost of add()/remove() is the trie entries the block covers (a /32 in
// IPv4: at most three), rebuilding the 256-entry nodes on its path, and
// interning the new classes; once retired memory reaches an eighth of the
// nodes' (at least 64 KiB), an update waits for a grace period and recycles
// it (amortised; rcu::synchronize()).
//
// An atom's blocks form a set of addresses: add() of an overlapping block is
// idempotent and remove() takes the addresses out of the atom whatever
// blocks put them in (callers pass normalised member sets).
//
// Node memory comes in 1 KB slots from chunks that never move and are kept
// while the map lives (retired nodes are recycled within the map); classes
// no longer used stay interned (bounded by what was ever added; reported by
// memory_bytes()).
//
// Thread-safety: add()/remove()/add_all()/reclaim() from one control thread
// at a time, never inside an RCU read-side critical section (they may wait
// for a grace period). lookup*(), atoms() and contains() from any number of
// threads: a lookup that may run concurrently with an update MUST run inside
// an RCU read-side critical section (rcu::ReadGuard, on a thread registered
// with rcu::register_reader_thread()) that it does not leave while it uses
// what it read from the trie; the class ids it returns stay valid forever.
// Lookups on the updating thread itself, or while no update can run (a map
// not yet shared), need no read-side section.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "fw/address.h"
#include "fw/policy.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fw::classify {

using AtomId = std::uint32_t;
using ClassId = std::uint32_t;
inline constexpr ClassId kEmptyClass = 0;  // the class of addresses in no atom

// How lookup_burst_v4() walks the IPv4 trie (STYLE.md #12, like DPDK's
// classify_fns[]): one address at a time, or 4 (AVX2) / 8 (AVX-512)
// addresses at once with gathers, one file per instruction set
// (trie_walk_avx2.cc, trie_walk_avx512.cc), chosen at run time from what
// the CPU supports. Every variant gives the same answers.
enum class WalkVariant : std::uint8_t { kScalar, kAvx2, kAvx512 };
inline constexpr WalkVariant kWalkVariants[] = {WalkVariant::kScalar, WalkVariant::kAvx2, WalkVariant::kAvx512};
const char* walk_variant_name(WalkVariant v) noexcept;  // "scalar", "avx2", "avx512"

class AddressClassMap {
 public:
  AddressClassMap();
  ~AddressClassMap();
  AddressClassMap(const AddressClassMap&) = delete;
  AddressClassMap& operator=(const AddressClassMap&) = delete;

  // --- control plane ---
  void add(AtomId atom, const Cidr& block);
  void add(AtomId atom, const IpRange& block);  // first <= last, same family
  // Many adds at once (building a map): the same result as add() of each in
  // any order, done widest block first. The order matters for the cost: an
  // add touches every trie entry its block covers, and a wide block added
  // after narrow ones has split entries into child tables it must then walk
  // (ClassBench acl1_100k: most of the build time); added first, it covers
  // a few root entries that the narrow blocks' new tables then copy.
  struct AtomBlock {
    AtomId atom = 0;
    IpRange block;
  };
  void add_all(std::span<const AtomBlock> blocks);
  void remove(AtomId atom, const Cidr& block);
  void remove(AtomId atom, const IpRange& block);

  std::size_t class_count() const noexcept { return class_count_; }
  std::size_t memory_bytes() const noexcept;
  // The part of memory_bytes() that is not on the malloc heap: the node
  // chunks, mapped in the map's reserved range (benchmarks that measure
  // memory as heap growth add it).
  std::size_t off_heap_bytes() const noexcept { return table_bytes_; }

  // --- datapath ---
  ClassId lookup_v4(std::uint32_t host_order) const noexcept {
    std::uint32_t e = v4_root_[host_order >> 16].load(std::memory_order_acquire);
    if (e & kChildBit) {
      e = child_entry(e, (host_order >> 8) & 0xff);
      if (e & kChildBit) e = child_entry(e, host_order & 0xff);
    }
    return e;
  }
  ClassId lookup_v6(const std::uint8_t bytes[16]) const noexcept;
  // Classes of a burst of IPv4 addresses (host order). out.size() >=
  // in.size(). Bursts with IPv6 addresses use lookup() per address. While
  // the map fits in the caches the walk is the process's WalkVariant: the
  // SIMD ones walk groups of 4 or 8 addresses level by level with gathers,
  // the scalar one address by address. Once it does not (nodes and atoms
  // past 4 MiB), every variant walks in scalar prefetching stages (root
  // entries of all, then the next level of all, ...): there a gather waits
  // for the slowest of its lanes' misses (ClassBench acl1_100k: AVX-512
  // 51-60 ns a lookup, the stages 46-51; docs/PERFORMANCE.md, session 6).
  void lookup_burst_v4(std::span<const std::uint32_t> in, std::span<ClassId> out) const noexcept;
  // Tests: the walk of variant `v` (supported), whatever the map's size.
  void lookup_burst_v4_with(WalkVariant v, std::span<const std::uint32_t> in, std::span<ClassId> out) const noexcept;

  // --- the burst walk's variant (process-wide) ---
  // Whether this CPU (and build) runs `v`. kScalar always.
  static bool walk_supported(WalkVariant v) noexcept;
  // The variant in use: the FW_CLASSIFY_WALK environment variable's
  // ("scalar", "avx2", "avx512") if set and supported when first needed,
  // else the widest supported.
  static WalkVariant walk_variant() noexcept;
  // Tests and benchmarks: use `v` from now on (false, and no change, if it
  // is not supported). Safe while lookups run (one atomic store; a burst
  // walked meanwhile uses the old or the new variant, same answers).
  static bool force_walk_variant(WalkVariant v) noexcept;
  // Prefetches what atoms(c) will read.
  void prefetch_atoms(ClassId c) const noexcept { __builtin_prefetch(class_record(c).atoms); }
  ClassId lookup(const IpAddress& a) const noexcept {
    if (a.family == IpFamily::kIpv4) return lookup_v4(a.v4_host_order());
    if (a.family == IpFamily::kIpv6) return lookup_v6(a.bytes.data());
    return kEmptyClass;
  }
  // The atoms of a class, ascending.
  std::span<const AtomId> atoms(ClassId c) const noexcept {
    const ClassRecord& r = class_record(c);
    return {r.atoms, r.count};
  }
  bool contains(ClassId c, AtomId atom) const noexcept;

  // Waits for an RCU grace period and makes every retired node reusable
  // (updates do this themselves when enough has been retired). Control
  // thread, outside any read-side critical section.
  void reclaim();

  // The trie's nodes (tests, benchmarks).
  struct NodeStats {
    std::size_t tables = 0;                // live 1 KB tables
    std::size_t leaves[3] = {0, 0, 0};     // live 16-, 32-, 64-byte leaves
    std::size_t retired = 0;               // waiting for a grace period
    std::size_t free_tables = 0;           // recycled, ready for reuse
    std::size_t free_leaves = 0;
    std::size_t slots = 0;                 // 1 KB slots taken from chunks
  };
  NodeStats node_stats() const noexcept;

 private:
  // An entry: a class id (bit 31 clear), or a child node (bit 31 set):
  //   1 leaf(1) size(2) chunk(12) slot(10) unit(6)
  // The node is `unit` 16-byte units into slot `slot` (1 KB) of chunk
  // `chunk`: a table (leaf 0, size 0, unit 0) or a leaf of 16, 32 or 64
  // bytes (size 0, 1, 2), so finding either is the same shift and masks.
  static constexpr std::uint32_t kChildBit = 0x80000000u;
  static constexpr std::uint32_t kLeafBit = 0x40000000u;
  static constexpr ClassId kNoClass = 0xffffffffu;  // an empty intern slot
  static constexpr int kMaxLeafRuns = 12;
  // Tables and class records live in chunks that never move (a published
  // index stays valid for readers), so a small map holds small chunks.
  // Node slots (1 KB: one table, or 64 16-byte leaf units): chunk k holds
  // 16 << k slots up to kMaxTableChunkLog2 (1 MiB), then every chunk that
  // many: at most 1 MiB unused, 4M slots (4 GiB of address space; a leaf
  // entry has 22 bits for its slot). Class records (16 bytes): chunk k
  // holds 256 << k, so an id's chunk is a bit scan, no load.
  static constexpr int kFirstTablesLog2 = 4;
  static constexpr int kMaxTableChunkLog2 = 10;
  static constexpr std::size_t kMaxTableChunks = 4096;
  static constexpr int kFirstClassesLog2 = 8;
  static constexpr std::size_t kMaxChunks = 23;  // 2^30 class records
  struct ChunkSlot {
    std::uint32_t chunk, offset;
  };
  static ChunkSlot chunk_slot(std::uint32_t index, int first_log2) noexcept {
    const std::uint32_t q = (index >> first_log2) + 1;
    const auto k = static_cast<std::uint32_t>(31 - __builtin_clz(q));
    return {k, index - (((1u << k) - 1) << first_log2)};
  }

  struct alignas(64) Table {
    std::atomic<std::uint32_t> e[256];
  };
  struct Trie {
    int width = 32;  // address bits
    // 65536 entries. IPv4's from construction; IPv6's from its first add
    // (published with release: a lookup before it finds no root, the empty
    // class), so a map without IPv6 does not hold 256 KiB for it.
    std::unique_ptr<std::atomic<std::uint32_t>[]> storage;
    std::atomic<std::atomic<std::uint32_t>*> root{nullptr};
  };
  struct ClassRecord {
    const AtomId* atoms = nullptr;
    std::uint32_t count = 0;
  };
  static std::uint32_t hash_atoms(std::span<const AtomId> atoms) noexcept;
  using Key = unsigned __int128;
  using ClassFn = std::unordered_map<ClassId, ClassId>;

  static constexpr std::uint32_t slot_entry(std::uint32_t slot) noexcept { return kChildBit | slot << 6; }
  static constexpr std::uint32_t slot_of(std::uint32_t entry) noexcept { return (entry >> 6) & 0x3fffff; }
  // The bytes of the node an entry names (table or leaf). Chunk k is
  // nodes_ + k MiB, so the entry's chunk, slot and unit bits are its offset
  // in 16-byte units: no load of a chunk directory (and a SIMD walk needs
  // no gather of chunk pointers).
  static constexpr std::uint32_t kNodeOffsetMask = 0x0fffffffu;
  const unsigned char* node_bytes(std::uint32_t entry) const noexcept {
    return nodes_ + (std::size_t{entry & kNodeOffsetMask} << 4);
  }
  std::atomic<std::uint32_t>* table(std::uint32_t entry) const noexcept {
    return reinterpret_cast<std::atomic<std::uint32_t>*>(const_cast<unsigned char*>(node_bytes(entry)));
  }
  // A leaf's bytes: `bounds`, then one entry per run. bounds[i] is the
  // first byte of run i + 1, minus one (so 0-254); unused bounds are 255.
  // 16- and 32-byte leaves have 8 bytes of bounds (at most 1 and 5 used,
  // so one is always 255), 64-byte leaves 16 (at most 11 used). The run of
  // byte x is the number of bounds below x: they ascend, so it is the first
  // bound >= x, found by one unsigned saturating subtract and compare of 16
  // bytes (on 16- and 32-byte leaves the bytes past the bounds are entries,
  // but an unused bound comes first). Leaves are aligned to their size.
  static std::uint32_t leaf_value(const unsigned char* leaf, std::uint32_t size, std::uint32_t byte) noexcept {
#if defined(__SSE2__)
    const __m128i bounds = _mm_load_si128(reinterpret_cast<const __m128i*>(leaf));
    const __m128i x = _mm_set1_epi8(static_cast<char>(byte));
    const auto at_or_above = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_subs_epu8(x, bounds), _mm_setzero_si128())));
    const auto run = static_cast<unsigned>(__builtin_ctz(at_or_above));
#else
    unsigned run = 0;
    while (leaf[run] < byte) ++run;
#endif
    std::uint32_t v;
    std::memcpy(&v, leaf + (8u << (size >> 1)) + 4 * run, sizeof v);
    return v;
  }
  static std::uint32_t leaf_size(std::uint32_t entry) noexcept { return (entry >> 28) & 3; }
  // The entry at `byte` of the node `entry` names, whose bytes are `node`.
  static std::uint32_t node_entry(std::uint32_t entry, const unsigned char* node, std::uint32_t byte) noexcept {
    if (entry & kLeafBit) return leaf_value(node, leaf_size(entry), byte);
    return reinterpret_cast<const std::atomic<std::uint32_t>*>(node)[byte].load(std::memory_order_acquire);
  }
  std::uint32_t child_entry(std::uint32_t entry, std::uint32_t byte) const noexcept {
    return node_entry(entry, node_bytes(entry), byte);
  }
  const ClassRecord& class_record(ClassId c) const noexcept {
    const ChunkSlot s = chunk_slot(c, kFirstClassesLog2);
    return class_chunks_[s.chunk][s.offset];
  }

  // The burst walks (lookup_burst_v4). The SIMD ones are defined in
  // trie_walk_<isa>.cc with function-level target attributes and run only
  // where walk_supported() says so. n addresses from in, classes to out.
  using WalkFn = void (*)(const AddressClassMap&, const std::uint32_t* in, ClassId* out, std::size_t n) noexcept;
  static void walk_scalar(const AddressClassMap& m, const std::uint32_t* in, ClassId* out, std::size_t n) noexcept;
  static void walk_avx2(const AddressClassMap& m, const std::uint32_t* in, ClassId* out, std::size_t n) noexcept;
  static void walk_avx512(const AddressClassMap& m, const std::uint32_t* in, ClassId* out, std::size_t n) noexcept;
  static WalkFn walk_fn(WalkVariant v) noexcept;
  static WalkFn chosen_walk() noexcept;
  void lookup_burst_v4_staged(std::span<const std::uint32_t> in, std::span<ClassId> out) const noexcept;

  // The trie's root, created on first use (control thread).
  std::atomic<std::uint32_t>* root_of(Trie& trie);
  std::uint32_t new_slot();
  std::uint32_t new_leaf(int size);
  // The entry for a node holding these 256 entries: their class if they are
  // one, else a new leaf if they have at most kMaxLeafRuns runs, else a new
  // table.
  std::uint32_t make_node(const std::atomic<std::uint32_t>* entries);
  void retire(std::uint32_t entry);
  void reclaim_if_due();
  void update_lookup_mode() noexcept;
  ClassId intern(const std::vector<AtomId>& atoms);
  ClassId with_atom(ClassId c, AtomId atom, bool present, ClassFn& memo);
  void update(Trie& trie, Key lo, Key hi, AtomId atom, bool present);
  template <typename Block>
  void change(AtomId atom, const Block& block, bool present);
  // Applies the change to the entries of [lo, hi] in `entries` (2^stride of
  // them, the first starting at `base` after `consumed` address bits);
  // returns whether any entry changed.
  bool update_entries(std::atomic<std::uint32_t>* entries, int stride, Key base, int consumed,
                      int width, Key lo, Key hi, AtomId atom, bool present, ClassFn& memo);
  // The same below one entry (`entry`, a class partly covered or a child
  // node); returns the entry that replaces it (itself if a table changed in
  // place or nothing changed).
  std::uint32_t update_child(std::uint32_t entry, Key base, int consumed, int width, Key lo, Key hi,
                             AtomId atom, bool present, ClassFn& memo);
  static bool range_of(const Cidr& c, Key& lo, Key& hi, int& width);
  static bool range_of(const IpRange& r, Key& lo, Key& hi, int& width);

  Trie v4_;
  Trie v6_;
  const std::atomic<std::uint32_t>* v4_root_ = nullptr;  // = v4_.root, fixed at construction
  // Node memory: kMaxTableChunks windows of 1 MiB of address space reserved
  // at construction (PROT_NONE: no memory, no commit charge, but 4 GiB
  // against RLIMIT_AS if a process sets one); chunk k is made readable and
  // writable in window k when it is needed.
  unsigned char* nodes_ = nullptr;
  std::size_t table_chunk_count_ = 0;
  std::uint32_t table_chunk_size_ = 0, table_chunk_used_ = 0;  // of the last chunk
  std::size_t table_bytes_ = 0;
  // Whether lookup_burst_v4 works in prefetching stages: set by the control
  // thread as node and atom memory grow past 4 MiB, read (relaxed) by
  // lookups; either way gives the same answers.
  std::atomic<bool> staged_lookups_{false};
  std::uint32_t slot_count_ = 0;
  std::size_t live_tables_ = 0;
  std::size_t live_leaves_[3] = {0, 0, 0};
  // Leaf units are carved from slots, one open slot per size.
  std::uint32_t leaf_slot_[3] = {0, 0, 0};
  std::uint32_t leaf_slot_used_[3] = {64, 64, 64};  // units; 64 = none open
  // Replaced nodes wait in retired_ for a grace period, then go to the free lists.
  std::vector<std::uint32_t> retired_;
  std::size_t retired_bytes_ = 0;
  std::vector<std::uint32_t> free_slots_;      // slot numbers
  std::vector<std::uint32_t> free_leaves_[3];  // leaf entries

  ClassRecord* class_chunks_[kMaxChunks] = {};
  std::unique_ptr<ClassRecord[]> class_storage_[kMaxChunks];
  std::size_t class_chunk_count_ = 0;
  std::vector<std::unique_ptr<AtomId[]>> atom_storage_;  // chunks of class atom arrays
  AtomId* atom_chunk_next_ = nullptr;
  std::size_t atom_chunk_free_ = 0;
  std::size_t atom_bytes_ = 0;
  std::uint32_t class_count_ = 0;
  // Interning: an open-addressing table of class ids keyed by the hash of
  // their atoms, compared against the atoms the class records already hold
  // (no second copy of each atom list). Load factor at most 1/2.
  std::vector<ClassId> intern_slots_;
  std::vector<std::uint32_t> class_hashes_;  // by ClassId
  std::vector<AtomId> scratch_atoms_;  // with_atom()'s candidate class, reused
};

}  // namespace fw::classify
