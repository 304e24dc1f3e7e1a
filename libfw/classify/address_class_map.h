// Internal: address -> address class.
//
// An *atom* is anything a rule can name on its address sides: a group, a
// literal CIDR, a literal range, a vNIC's addresses. An address's *class* is
// the set of atoms that contain it; addresses with the same set share a
// class id (classes are interned). Rules are indexed by atom (see
// rule_index.h), so the datapath needs only: address -> class id -> atoms.
//
// Structure: per family, a stride trie over the address bits (a 16-bit root
// of 65536 entries, then 8-bit tables) whose leaves hold class ids. It is
// built from *ranges*, not prefixes, so IP ranges need no prefix expansion:
// a leaf entry covers an aligned block wholly inside one class; a block that
// straddles a class boundary becomes a child table. IPv4 lookups take at
// most 3 dependent loads; IPv6 at most 15, usually 2-3 as groups rarely hold
// long prefixes.
//
// Updates are in place and concurrent with lookups: every entry is an
// atomic 32-bit word; a child table is filled before its index is published
// (release), and each entry change is one atomic store, so a lookup sees,
// for its address, either the class before or after an update. The cost of
// add()/remove() is the number of trie entries the block covers (a /32 in
// IPv4: at most three entries) plus interning the new classes.
//
// An atom's blocks form a set of addresses: add() of an overlapping block is
// idempotent and remove() takes the addresses out of the atom whatever
// blocks put them in (callers pass normalised member sets).
//
// Memory is never returned while the map lives: tables split by add() are
// not merged back by remove(), and classes no longer used stay interned
// (bounded by what was ever added; reported by memory_bytes()).
//
// Thread-safety: add()/remove() from one control thread at a time; lookup(),
// atoms() and contains() from any number of threads concurrently with them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "fw/address.h"
#include "fw/policy.h"

namespace fw::classify {

using AtomId = std::uint32_t;
using ClassId = std::uint32_t;
inline constexpr ClassId kEmptyClass = 0;  // the class of addresses in no atom

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

  // --- datapath ---
  ClassId lookup_v4(std::uint32_t host_order) const noexcept {
    std::uint32_t e = v4_root_[host_order >> 16].load(std::memory_order_acquire);
    if (e & kChildBit) {
      e = table(e)[(host_order >> 8) & 0xff].load(std::memory_order_acquire);
      if (e & kChildBit) e = table(e)[host_order & 0xff].load(std::memory_order_acquire);
    }
    return e;
  }
  ClassId lookup_v6(const std::uint8_t bytes[16]) const noexcept;
  // Classes of a burst of IPv4 addresses (host order), in stages (root
  // entries of all, then the next level of all, ...) with prefetches, so the
  // memory latency of one address overlaps the others'. out.size() >=
  // in.size(). Bursts with IPv6 addresses use lookup() per address.
  void lookup_burst_v4(std::span<const std::uint32_t> in, std::span<ClassId> out) const noexcept;
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

 private:
  static constexpr std::uint32_t kChildBit = 0x80000000u;
  static constexpr ClassId kNoClass = 0xffffffffu;  // an empty intern slot
  // Tables and class records live in chunks that never move (a published
  // index stays valid for readers), so a small map holds small chunks.
  // Tables: chunk k holds 16 << k tables up to kMaxTableChunkLog2 (1 MiB),
  // then every chunk that many: at most 1 MiB unused, and a directory of
  // 128 KiB for 16M tables (16 GiB). Class records (16 bytes): chunk k
  // holds 256 << k, so an id's chunk is a bit scan, no load.
  static constexpr int kFirstTablesLog2 = 4;
  static constexpr int kMaxTableChunkLog2 = 10;
  static constexpr std::size_t kMaxTableChunks = 16384;
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

  struct Table {
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

  // A child entry names its table by chunk and offset (kChildBit | chunk <<
  // kMaxTableChunkLog2 | offset): a shift and two masks, as cheap as a flat
  // index into fixed-size chunks.
  std::atomic<std::uint32_t>* table(std::uint32_t entry) const noexcept {
    return table_chunks_[(entry & ~kChildBit) >> kMaxTableChunkLog2][entry & ((1u << kMaxTableChunkLog2) - 1)].e;
  }
  const ClassRecord& class_record(ClassId c) const noexcept {
    const ChunkSlot s = chunk_slot(c, kFirstClassesLog2);
    return class_chunks_[s.chunk][s.offset];
  }

  // The trie's root, created on first use (control thread).
  std::atomic<std::uint32_t>* root_of(Trie& trie);
  std::uint32_t new_table(std::uint32_t fill);
  ClassId intern(const std::vector<AtomId>& atoms);
  ClassId with_atom(ClassId c, AtomId atom, bool present, ClassFn& memo);
  void update(Trie& trie, Key lo, Key hi, AtomId atom, bool present);
  template <typename Block>
  void change(AtomId atom, const Block& block, bool present);
  void update_table(std::atomic<std::uint32_t>* entries, int stride, Key base, int consumed,
                    int width, Key lo, Key hi, AtomId atom, bool present, ClassFn& memo);
  static bool range_of(const Cidr& c, Key& lo, Key& hi, int& width);
  static bool range_of(const IpRange& r, Key& lo, Key& hi, int& width);

  Trie v4_;
  Trie v6_;
  const std::atomic<std::uint32_t>* v4_root_ = nullptr;  // = v4_.root, fixed at construction
  std::unique_ptr<Table*[]> table_chunks_;  // kMaxTableChunks
  std::vector<std::unique_ptr<Table[]>> table_storage_;
  std::uint32_t table_chunk_size_ = 0, table_chunk_used_ = 0;  // of the last chunk
  std::size_t table_bytes_ = 0;
  std::uint32_t table_count_ = 0;

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
