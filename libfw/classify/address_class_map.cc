#include "libfw/classify/address_class_map.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "libfw/core/rcu.h"

namespace fw::classify {
namespace {

constexpr int kRootStride = 16;
constexpr int kStride = 8;
constexpr int kLeafRuns[3] = {2, 6, 12};
constexpr int kLeafBounds[3] = {8, 8, 16};  // bytes of bounds before the entries
// Retired node memory is recycled (after a grace period) once it reaches an
// eighth of the node slots' memory and at least this much.
constexpr std::size_t kMinReclaimBytes = 64 * 1024;
// Bursts are looked up in prefetching stages once node and atom memory
// reach this (below it the nodes stay in the caches and the stages cost
// more instructions than they save).
constexpr std::size_t kStagedFromBytes = std::size_t{4} << 20;

using Key = unsigned __int128;

Key key_of(const IpAddress& a, int width) noexcept {
  Key k = 0;
  const int bytes = width / 8;
  for (int i = 0; i < bytes; ++i) k = (k << 8) | a.bytes[static_cast<std::size_t>(i)];
  return k;
}

Key ones(int bits) noexcept { return bits >= 128 ? ~Key{0} : ((Key{1} << bits) - 1); }

}  // namespace

std::uint32_t AddressClassMap::hash_atoms(std::span<const AtomId> atoms) noexcept {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ atoms.size();
  for (AtomId a : atoms) h = (h ^ a) * 0x100000001b3ULL;
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

namespace {
constexpr std::size_t kChunkWindow = std::size_t{1} << 20;  // chunk k starts k MiB into the reservation
}  // namespace

AddressClassMap::AddressClassMap() {
  void* nodes = mmap(nullptr, kMaxTableChunks * kChunkWindow, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (nodes == MAP_FAILED) throw std::bad_alloc();
  nodes_ = static_cast<unsigned char*>(nodes);
  v4_root_ = root_of(v4_);
  v4_.width = 32;
  v6_.width = 128;
  const ClassId empty = intern({});
  assert(empty == kEmptyClass);
  (void)empty;
}

AddressClassMap::~AddressClassMap() { munmap(nodes_, kMaxTableChunks * kChunkWindow); }

std::atomic<std::uint32_t>* AddressClassMap::root_of(Trie& trie) {
  std::atomic<std::uint32_t>* root = trie.root.load(std::memory_order_relaxed);
  if (root != nullptr) return root;
  trie.storage = std::make_unique<std::atomic<std::uint32_t>[]>(1u << kRootStride);
  for (std::size_t i = 0; i < (1u << kRootStride); ++i) trie.storage[i].store(kEmptyClass, std::memory_order_relaxed);
  root = trie.storage.get();
  trie.root.store(root, std::memory_order_release);
  return root;
}

// Everything the map holds: roots, table and class chunks as allocated
// (whole chunks), class atom arrays, interning.
std::size_t AddressClassMap::memory_bytes() const noexcept {
  const std::size_t roots = (v4_.storage ? 1 : 0) + (v6_.storage ? 1 : 0);
  return sizeof(*this) + roots * (std::size_t{1} << kRootStride) * sizeof(std::uint32_t) +
         table_bytes_ +
         (((std::size_t{1} << class_chunk_count_) - 1) << kFirstClassesLog2) * sizeof(ClassRecord) +
         atom_bytes_ + atom_storage_.capacity() * sizeof(atom_storage_[0]) +
         intern_slots_.capacity() * sizeof(ClassId) + class_hashes_.capacity() * sizeof(std::uint32_t) +
         (retired_.capacity() + free_slots_.capacity() + free_leaves_[0].capacity() + free_leaves_[1].capacity() +
          free_leaves_[2].capacity()) * sizeof(std::uint32_t);
}

AddressClassMap::NodeStats AddressClassMap::node_stats() const noexcept {
  NodeStats s;
  s.tables = live_tables_;
  for (int i = 0; i < 3; ++i) {
    s.leaves[i] = live_leaves_[i];
    s.free_leaves += free_leaves_[i].size();
  }
  s.retired = retired_.size();
  s.free_tables = free_slots_.size();
  s.slots = slot_count_;
  return s;
}

ClassId AddressClassMap::lookup_v6(const std::uint8_t b[16]) const noexcept {
  const std::atomic<std::uint32_t>* root = v6_.root.load(std::memory_order_acquire);
  if (root == nullptr) return kEmptyClass;
  std::uint32_t e = root[(std::uint32_t{b[0]} << 8) | b[1]].load(std::memory_order_acquire);
  for (int i = 2; (e & kChildBit) && i < 16; ++i) e = child_entry(e, b[i]);
  return e;
}

namespace {

// The walk in use (a WalkFn), set on first use or by force_walk_variant().
// Constant-initialised, so a lookup from another static initialiser finds it
// null and chooses, never an unconstructed object.
std::atomic<void*> g_walk{nullptr};

bool cpu_runs(WalkVariant v) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // The CPU model is filled by a constructor of the runtime library; a
  // lookup from another static initialiser may come first.
  __builtin_cpu_init();
  switch (v) {
    case WalkVariant::kScalar:
      return true;
    case WalkVariant::kAvx2:
      return __builtin_cpu_supports("avx2");
    case WalkVariant::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return v == WalkVariant::kScalar;
#endif
}

}  // namespace

const char* walk_variant_name(WalkVariant v) noexcept {
  switch (v) {
    case WalkVariant::kScalar:
      return "scalar";
    case WalkVariant::kAvx2:
      return "avx2";
    case WalkVariant::kAvx512:
      return "avx512";
  }
  return "?";
}

bool AddressClassMap::walk_supported(WalkVariant v) noexcept { return walk_fn(v) != nullptr && cpu_runs(v); }

AddressClassMap::WalkFn AddressClassMap::walk_fn(WalkVariant v) noexcept {
  switch (v) {
    case WalkVariant::kScalar:
      return &walk_scalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case WalkVariant::kAvx2:
      return &walk_avx2;
    case WalkVariant::kAvx512:
      return &walk_avx512;
#endif
    default:
      return nullptr;
  }
}

AddressClassMap::WalkFn AddressClassMap::chosen_walk() noexcept {
  if (void* f = g_walk.load(std::memory_order_relaxed)) return reinterpret_cast<WalkFn>(f);
  WalkVariant v = WalkVariant::kScalar;
  for (WalkVariant w : kWalkVariants)
    if (walk_supported(w)) v = w;  // kWalkVariants is narrowest first
  if (const char* forced = std::getenv("FW_CLASSIFY_WALK")) {
    for (WalkVariant w : kWalkVariants)
      if (std::strcmp(forced, walk_variant_name(w)) == 0 && walk_supported(w)) v = w;
  }
  const WalkFn f = walk_fn(v);
  void* expected = nullptr;  // a racing first lookup or force_walk_variant() may have set it
  if (!g_walk.compare_exchange_strong(expected, reinterpret_cast<void*>(f), std::memory_order_relaxed))
    return reinterpret_cast<WalkFn>(expected);
  return f;
}

WalkVariant AddressClassMap::walk_variant() noexcept {
  const WalkFn f = chosen_walk();
  for (WalkVariant v : kWalkVariants)
    if (walk_fn(v) == f) return v;
  return WalkVariant::kScalar;
}

bool AddressClassMap::force_walk_variant(WalkVariant v) noexcept {
  if (!walk_supported(v)) return false;
  g_walk.store(reinterpret_cast<void*>(walk_fn(v)), std::memory_order_relaxed);
  return true;
}

void AddressClassMap::walk_scalar(const AddressClassMap& m, const std::uint32_t* in, ClassId* out,
                                  std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = m.lookup_v4(in[i]);
}

void AddressClassMap::lookup_burst_v4(std::span<const std::uint32_t> in,
                                      std::span<ClassId> out) const noexcept {
  if (staged_lookups_.load(std::memory_order_relaxed)) {
    lookup_burst_v4_staged(in, out);
    return;
  }
  chosen_walk()(*this, in.data(), out.data(), in.size());
}

void AddressClassMap::lookup_burst_v4_with(WalkVariant v, std::span<const std::uint32_t> in,
                                           std::span<ClassId> out) const noexcept {
  walk_fn(walk_supported(v) ? v : WalkVariant::kScalar)(*this, in.data(), out.data(), in.size());
}

void AddressClassMap::lookup_burst_v4_staged(std::span<const std::uint32_t> in,
                                             std::span<ClassId> out) const noexcept {
  // Level by level over the whole burst: each stage reads the node the
  // previous one prefetched (the table entry, or the whole leaf: one line)
  // and keeps the node's address for the next, so it is computed once.
  // A map that fits in the caches is cheaper walked address by address.
  constexpr std::size_t kStage = 128;
  const unsigned char* node[kStage];
  auto next = [&](std::size_t i, std::uint32_t e, std::uint32_t byte) {
    node[i] = node_bytes(e);
    __builtin_prefetch(node[i] + ((e & kLeafBit) ? 0 : byte << 2));
  };
  for (std::size_t at = 0; at < in.size(); at += kStage) {
    const std::size_t n = std::min(kStage, in.size() - at);
    const std::uint32_t* const a = in.data() + at;
    ClassId* const o = out.data() + at;
    for (std::size_t i = 0; i < n; ++i) __builtin_prefetch(&v4_root_[a[i] >> 16]);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t e = v4_root_[a[i] >> 16].load(std::memory_order_acquire);
      o[i] = e;
      if (e & kChildBit) next(i, e, (a[i] >> 8) & 0xff);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!(o[i] & kChildBit)) continue;
      const std::uint32_t e = node_entry(o[i], node[i], (a[i] >> 8) & 0xff);
      o[i] = e;
      if (e & kChildBit) next(i, e, a[i] & 0xff);
    }
    for (std::size_t i = 0; i < n; ++i)
      if (o[i] & kChildBit) o[i] = node_entry(o[i], node[i], a[i] & 0xff);
  }
}

bool AddressClassMap::contains(ClassId c, AtomId atom) const noexcept {
  const std::span<const AtomId> a = atoms(c);
  return std::binary_search(a.begin(), a.end(), atom);
}

std::uint32_t AddressClassMap::new_slot() {
  if (!free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (table_chunk_used_ == table_chunk_size_) {
    // Chunks never move, so a published node stays valid for readers.
    const std::size_t chunk = table_chunk_count_;
    if (chunk >= kMaxTableChunks) throw std::bad_alloc();  // 4M slots: 4 GiB
    table_chunk_size_ = 1u << std::min<std::size_t>(kFirstTablesLog2 + chunk, kMaxTableChunkLog2);
    unsigned char* window = nodes_ + chunk * kChunkWindow;
    if (mprotect(window, std::size_t{table_chunk_size_} * sizeof(Table), PROT_READ | PROT_WRITE) != 0)
      throw std::bad_alloc();
    // Fresh anonymous pages read as zero: the tables' entries are the empty class.
    for (std::uint32_t t = 0; t < table_chunk_size_; ++t) new (window + t * sizeof(Table)) Table{};
    ++table_chunk_count_;
    table_chunk_used_ = 0;
    table_bytes_ += std::size_t{table_chunk_size_} * sizeof(Table);
    update_lookup_mode();
  }
  const auto chunk = static_cast<std::uint32_t>(table_chunk_count_ - 1);
  ++slot_count_;
  return (chunk << kMaxTableChunkLog2) | table_chunk_used_++;
}

std::uint32_t AddressClassMap::new_leaf(int size) {
  ++live_leaves_[size];
  std::vector<std::uint32_t>& free = free_leaves_[size];
  if (!free.empty()) {
    const std::uint32_t entry = free.back();
    free.pop_back();
    return entry;
  }
  const std::uint32_t units = 1u << size;
  if (leaf_slot_used_[size] + units > 64) {
    leaf_slot_[size] = new_slot();
    leaf_slot_used_[size] = 0;
  }
  const std::uint32_t entry =
      slot_entry(leaf_slot_[size]) | kLeafBit | static_cast<std::uint32_t>(size) << 28 | leaf_slot_used_[size];
  leaf_slot_used_[size] += units;
  return entry;
}

std::uint32_t AddressClassMap::make_node(const std::atomic<std::uint32_t>* entries) {
  std::uint32_t starts[kMaxLeafRuns], values[kMaxLeafRuns];
  int runs = 0;
  for (std::uint32_t i = 0; i < 256; ++i) {
    const std::uint32_t v = entries[i].load(std::memory_order_relaxed);
    if (runs > 0 && v == values[runs - 1]) continue;
    if (runs == kMaxLeafRuns) {
      runs = kMaxLeafRuns + 1;
      break;
    }
    starts[runs] = i;
    values[runs++] = v;
  }
  if (runs == 1 && !(values[0] & kChildBit)) return values[0];  // one class: no node
  if (runs > kMaxLeafRuns) {
    const std::uint32_t entry = slot_entry(new_slot());
    ++live_tables_;
    std::atomic<std::uint32_t>* t = table(entry);
    for (std::size_t i = 0; i < 256; ++i) t[i].store(entries[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    return entry;
  }
  const int size = runs <= kLeafRuns[0] ? 0 : runs <= kLeafRuns[1] ? 1 : 2;
  const std::uint32_t entry = new_leaf(size);
  // Written through a byte pointer: a leaf is plain bytes inside the slot
  // (layout: leaf_value() in the header).
  auto* leaf = const_cast<unsigned char*>(node_bytes(entry));
  const int bounds = kLeafBounds[size];
  std::memset(leaf, 0xff, static_cast<std::size_t>(bounds));
  for (int r = 1; r < runs; ++r) leaf[r - 1] = static_cast<unsigned char>(starts[r] - 1);
  for (int r = 0; r < kLeafRuns[size]; ++r) std::memcpy(leaf + bounds + 4 * r, &values[std::min(r, runs - 1)], 4);
  return entry;
}

void AddressClassMap::retire(std::uint32_t entry) {
  if (entry & kLeafBit) {
    const auto size = leaf_size(entry);
    --live_leaves_[size];
    retired_bytes_ += std::size_t{16} << size;
  } else {
    --live_tables_;
    retired_bytes_ += sizeof(Table);
  }
  retired_.push_back(entry);
}

void AddressClassMap::reclaim() {
  if (retired_.empty()) return;
  // After this no lookup can still hold a retired node (lookups that may run
  // concurrently with updates are inside read-side critical sections).
  rcu::synchronize();
  for (const std::uint32_t entry : retired_) {
    if (entry & kLeafBit) free_leaves_[leaf_size(entry)].push_back(entry);
    else free_slots_.push_back(slot_of(entry));
  }
  retired_.clear();
  retired_bytes_ = 0;
}

// Lookups read only this flag, never the sizes the control thread updates.
void AddressClassMap::update_lookup_mode() noexcept {
  staged_lookups_.store(table_bytes_ + atom_bytes_ >= kStagedFromBytes, std::memory_order_relaxed);
}

void AddressClassMap::reclaim_if_due() {
  if (retired_bytes_ >= std::max(kMinReclaimBytes, table_bytes_ / 8)) reclaim();
}

// Copies `atoms` only when the class is new.
ClassId AddressClassMap::intern(const std::vector<AtomId>& atoms) {
  const std::uint32_t hash = hash_atoms(atoms);
  if (2 * (std::size_t{class_count_} + 1) > intern_slots_.size()) {
    // Grow and reinsert every class (hashes are kept, atoms not re-read).
    std::vector<ClassId> slots(std::max<std::size_t>(64, 2 * intern_slots_.size()), kNoClass);
    const std::size_t mask = slots.size() - 1;
    for (ClassId c = 0; c < class_count_; ++c) {
      std::size_t at = class_hashes_[c] & mask;
      while (slots[at] != kNoClass) at = (at + 1) & mask;
      slots[at] = c;
    }
    intern_slots_ = std::move(slots);
  }
  const std::size_t mask = intern_slots_.size() - 1;
  std::size_t slot = hash & mask;
  for (; intern_slots_[slot] != kNoClass; slot = (slot + 1) & mask) {
    const ClassId c = intern_slots_[slot];
    if (class_hashes_[c] != hash) continue;
    const std::span<const AtomId> have = this->atoms(c);
    if (std::equal(have.begin(), have.end(), atoms.begin(), atoms.end())) return c;
  }
  const ClassId id = class_count_;
  const ChunkSlot where = chunk_slot(id, kFirstClassesLog2);
  if (where.chunk >= class_chunk_count_) {
    class_storage_[where.chunk] = std::make_unique<ClassRecord[]>(std::size_t{1} << (kFirstClassesLog2 + where.chunk));
    class_chunks_[where.chunk] = class_storage_[where.chunk].get();
    class_chunk_count_ = where.chunk + 1;
  }
  // Class atom arrays are packed into large chunks (they are read on every
  // lookup: neighbours in memory, fewer cache and TLB misses than one heap
  // block each). Chunks never move.
  // Chunks double from 1Ki atoms up to 64Ki (a small map holds little).
  if (atom_chunk_free_ < atoms.size()) {
    const std::size_t grown = std::clamp<std::size_t>(atom_bytes_ / sizeof(AtomId), 1u << 10, 1u << 16);
    const std::size_t size = std::max(grown, atoms.size());
    atom_storage_.push_back(std::make_unique<AtomId[]>(size));
    atom_chunk_next_ = atom_storage_.back().get();
    atom_chunk_free_ = size;
    atom_bytes_ += size * sizeof(AtomId);
    update_lookup_mode();
  }
  std::copy(atoms.begin(), atoms.end(), atom_chunk_next_);
  ClassRecord& r = class_chunks_[where.chunk][where.offset];
  r.atoms = atom_chunk_next_;
  r.count = static_cast<std::uint32_t>(atoms.size());
  atom_chunk_next_ += atoms.size();
  atom_chunk_free_ -= atoms.size();
  intern_slots_[slot] = id;
  class_hashes_.push_back(hash);
  ++class_count_;
  return id;
}

ClassId AddressClassMap::with_atom(ClassId c, AtomId atom, bool present, ClassFn& memo) {
  auto m = memo.find(c);
  if (m != memo.end()) return m->second;
  const std::span<const AtomId> old = atoms(c);
  std::vector<AtomId>& next = scratch_atoms_;
  next.assign(old.begin(), old.end());
  auto at = std::lower_bound(next.begin(), next.end(), atom);
  const bool has = at != next.end() && *at == atom;
  ClassId result = c;
  if (present && !has) {
    next.insert(at, atom);
    result = intern(next);
  } else if (!present && has) {
    next.erase(at);
    result = intern(next);
  }
  memo.emplace(c, result);
  return result;
}

// Applies "atom present/absent" to every address of [lo, hi] below `entries`,
// a table (live or a scratch copy) of 2^stride entries whose first entry
// starts at `base` after `consumed` bits of the `width`-bit address.
bool AddressClassMap::update_entries(std::atomic<std::uint32_t>* entries, int stride, Key base,
                                     int consumed, int width, Key lo, Key hi, AtomId atom,
                                     bool present, ClassFn& memo) {
  const int below = width - consumed - stride;  // address bits under one entry
  const Key entry_span_mask = ones(below);
  const std::size_t first = static_cast<std::size_t>((lo - base) >> below);
  const std::size_t last = static_cast<std::size_t>((hi - base) >> below);
  bool changed = false;
  for (std::size_t i = first; i <= last; ++i) {
    const Key e_lo = base + (Key{i} << below);
    const Key e_hi = e_lo + entry_span_mask;
    const std::uint32_t v = entries[i].load(std::memory_order_relaxed);
    std::uint32_t next;
    if (!(v & kChildBit) && lo <= e_lo && e_hi <= hi) {
      next = with_atom(v, atom, present, memo);  // wholly covered class
    } else {
      next = update_child(v, e_lo, consumed + stride, width, std::max(lo, e_lo), std::min(hi, e_hi), atom,
                          present, memo);
    }
    if (next == v) continue;
    entries[i].store(next, std::memory_order_release);
    changed = true;
  }
  return changed;
}

std::uint32_t AddressClassMap::update_child(std::uint32_t v, Key base, int consumed, int width, Key lo,
                                            Key hi, AtomId atom, bool present, ClassFn& memo) {
  if ((v & kChildBit) && !(v & kLeafBit)) {
    // A table changes in place; if it is left with few runs, a leaf replaces it.
    std::atomic<std::uint32_t>* t = table(v);
    if (!update_entries(t, kStride, base, consumed, width, lo, hi, atom, present, memo)) return v;
    int runs = 1;
    for (std::size_t i = 1; i < 256 && runs <= kMaxLeafRuns; ++i)
      runs += t[i].load(std::memory_order_relaxed) != t[i - 1].load(std::memory_order_relaxed);
    if (runs > kMaxLeafRuns) return v;
    const std::uint32_t next = make_node(t);
    retire(v);
    return next;
  }
  // A class partly covered, or a leaf: build the node anew in a scratch
  // table, then publish it whole (the caller stores the returned entry).
  if (!(v & kChildBit) && with_atom(v, atom, present, memo) == v) return v;  // nothing changes below
  Table scratch;
  if (v & kLeafBit) {
    const unsigned char* leaf = node_bytes(v);
    const std::uint32_t size = leaf_size(v);
    for (std::uint32_t i = 0; i < 256; ++i) scratch.e[i].store(leaf_value(leaf, size, i), std::memory_order_relaxed);
  } else {
    for (auto& e : scratch.e) e.store(v, std::memory_order_relaxed);
  }
  if (!update_entries(scratch.e, kStride, base, consumed, width, lo, hi, atom, present, memo)) return v;
  const std::uint32_t next = make_node(scratch.e);
  if (v & kLeafBit) retire(v);
  return next;
}

void AddressClassMap::update(Trie& trie, Key lo, Key hi, AtomId atom, bool present) {
  ClassFn memo;
  update_entries(root_of(trie), kRootStride, 0, 0, trie.width, lo, hi, atom, present, memo);
  reclaim_if_due();
}

bool AddressClassMap::range_of(const Cidr& c, Key& lo, Key& hi, int& width) {
  if (c.address.family == IpFamily::kNone) return false;
  width = c.address.family == IpFamily::kIpv4 ? 32 : 128;
  if (c.prefix_length > width) return false;
  const Key host = ones(width - c.prefix_length);
  lo = key_of(c.address, width) & ~host & ones(width);
  hi = lo | host;
  return true;
}

bool AddressClassMap::range_of(const IpRange& r, Key& lo, Key& hi, int& width) {
  if (r.first.family == IpFamily::kNone || r.first.family != r.last.family) return false;
  width = r.first.family == IpFamily::kIpv4 ? 32 : 128;
  lo = key_of(r.first, width);
  hi = key_of(r.last, width);
  return lo <= hi;
}

template <typename Block>
void AddressClassMap::change(AtomId atom, const Block& block, bool present) {
  Key lo = 0, hi = 0;
  int width = 0;
  if (range_of(block, lo, hi, width)) update(width == 32 ? v4_ : v6_, lo, hi, atom, present);
}

void AddressClassMap::add(AtomId atom, const Cidr& block) { change(atom, block, true); }
void AddressClassMap::add(AtomId atom, const IpRange& block) { change(atom, block, true); }
void AddressClassMap::remove(AtomId atom, const Cidr& block) { change(atom, block, false); }
void AddressClassMap::remove(AtomId atom, const IpRange& block) { change(atom, block, false); }

void AddressClassMap::add_all(std::span<const AtomBlock> blocks) {
  struct Item {
    Key span;  // hi - lo
    std::size_t index;
  };
  std::vector<Item> order;
  order.reserve(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    Key lo, hi;
    int width;
    // Invalid blocks keep their place at the end; change() ignores them as add() does.
    order.push_back({range_of(blocks[i].block, lo, hi, width) ? hi - lo : Key{0}, i});
  }
  std::stable_sort(order.begin(), order.end(), [](const Item& x, const Item& y) { return x.span > y.span; });
  for (const Item& item : order) change(blocks[item.index].atom, blocks[item.index].block, true);
}

}  // namespace fw::classify
