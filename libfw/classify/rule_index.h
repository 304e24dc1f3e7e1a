// Internal: first-match rule lookup over address classes.
//
// Input: rules in priority order (position 0 first), each with a source and
// a destination side (any, or a set of atoms, optionally negated) and a
// service list (protocol, source and destination port ranges; ICMP type and
// code are matched as destination "ports" (type << 8 | code), which is how
// the parser reports them).
//
// Index: every rule is filed under the atoms of ONE of its sides, the side
// that is cheapest to probe (fewest rules sharing its atoms, weighted by how
// wide the atoms are): a packet reaches it only through an atom of its own
// class on that side. Rules with neither side indexable (any, or negated)
// go to a per-protocol "wide" list. Lists hold compact 32-byte copies of the
// rules, sorted by position, so a probe is a sequential scan that stops at
// the first rule that matches or whose position is not better than the best
// match found so far.
//
// A lookup is: source class, destination class (AddressClassMap), then the
// lists of the atoms of each class plus the wide lists. A group membership
// change touches only the AddressClassMap: the lists are keyed by atom and
// do not change.
//
// Thread-safety: immutable after build(); classify() from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "fw/address.h"
#include "fw/policy.h"
#include "libfw/classify/address_class_map.h"

namespace fw::classify {

inline constexpr std::uint32_t kNoMatch = 0xffffffffu;

// What the index knows of an atom to choose which side to file a rule under.
struct AtomInfo {
  IpFamily family = IpFamily::kIpv4;  // kNone: mixed or unknown (e.g. a group)
  // log2 of the number of addresses the atom covers (0 for one address;
  // 8 for an IPv4 /24). Groups: log2 of their member count.
  std::uint8_t coverage_log2 = 0;
};

struct SideSpec {
  std::vector<AtomId> atoms;  // empty = any
  bool negate = false;
  // The side is exactly one IPv4 CIDR: verified by a mask compare instead of
  // a class-membership test (the common case of literal rules).
  std::optional<Cidr> single_v4_cidr;
};

struct ServiceSpec {
  std::optional<std::uint8_t> protocol;  // nullopt = any
  std::uint16_t src_first = 0, src_last = 65535;
  std::uint16_t dst_first = 0, dst_last = 65535;
};

struct RuleSpec {
  SideSpec src;
  SideSpec dst;
  std::vector<ServiceSpec> services;  // empty = any; a rule matches if any entry does
};

// The fields of a packet the rules look at.
struct LookupKey {
  IpAddress src;
  IpAddress dst;
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
};

// The instruction set a RuleIndex burst lookup is compiled for: the
// baseline (SSE2 on x86-64) or AVX2 (rule_index_avx2.cc). The burst uses
// AVX2 when the process's AddressClassMap walk variant does (avx2 or
// avx512; FW_CLASSIFY_WALK=scalar selects the baseline for both).
enum class ScanIsa : std::uint8_t { kBase, kAvx2 };

// An IPv4 packet's fields, for bursts known to be IPv4 (16 bytes, cheaper
// to fill and to read than a LookupKey): addresses in host order.
struct LookupKeyV4 {
  std::uint32_t src = 0;
  std::uint32_t dst = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t protocol = 0;
};

struct RuleIndexStats {
  std::size_t rules = 0;
  std::size_t indexed_src = 0;
  std::size_t indexed_dst = 0;
  std::size_t wide = 0;
  std::size_t records = 0;  // rule copies over all lists
  std::size_t longest_list = 0;
  std::size_t blocks = 0;   // 8-lane SoA blocks of the long lists
  std::size_t merged_lists = 0;     // lists made by merging a class side's lists
  std::size_t unmerged_probes = 0;  // class sides left with two or more lists
  std::size_t memory_bytes = 0;
};

class RuleIndex {
 public:
  // `atoms` describes every atom id the rules use (indexed by AtomId). The
  // classes `map` holds now get a precomputed probe (the record ranges of
  // their non-empty lists); classes created later by membership changes are
  // probed through their atoms, which gives the same answers a little slower.
  RuleIndex(std::span<const RuleSpec> rules, std::span<const AtomInfo> atoms,
            const AddressClassMap& map);
  RuleIndex(const RuleIndex&) = delete;
  RuleIndex& operator=(const RuleIndex&) = delete;

  // Position of the first matching rule, or kNoMatch.
  std::uint32_t classify(const AddressClassMap& map, const LookupKey& key) const noexcept;
  // The same for a burst; out.size() >= keys.size().
  void classify(const AddressClassMap& map, std::span<const LookupKey> keys,
                std::span<std::uint32_t> out) const noexcept;
  // The same for IPv4 packets given as LookupKeyV4 (same answers as the
  // LookupKey of the same packet).
  std::uint32_t classify(const AddressClassMap& map, const LookupKeyV4& key) const noexcept;
  void classify(const AddressClassMap& map, std::span<const LookupKeyV4> keys,
                std::span<std::uint32_t> out) const noexcept;

  const RuleIndexStats& stats() const noexcept { return stats_; }
  // Whether bursts are looked up in prefetching stages (the index and map
  // are larger than the caches); callers staging their own follow-up loads
  // (the decision of the matched rule) can do the same.
  bool staged() const noexcept { return staged_; }

 private:
  // What a record's fast compare leaves to the full check (full_match()).
  enum Flag : std::uint8_t {
    kSrcAtoms = 1,       // the source side is a set of atoms: class membership
    kDstAtoms = 2,
    kSrcNegate = 4,      // the side is negated
    kDstNegate = 8,
    kManyServices = 16,  // two or more service entries
    kSlow = kSrcAtoms | kDstAtoms | kSrcNegate | kDstNegate | kManyServices,
    // Not slow: the side is exactly one IPv4 CIDR (src_net/src_mask), so an
    // address of another family does not match it.
    kSrcV4 = 32,
    kDstV4 = 64,
  };

  // 32 bytes, two a cache line; lists are arrays of these, scanned in order.
  // For an IPv4 packet the compare of the addresses, protocol and ports is
  // exact for a record without kSlow flags; with them it is necessary (what
  // it cannot decide compares as "any") and full_match() decides.
  struct Record {
    std::uint32_t position;
    std::uint32_t src_net, src_mask;  // mask 0: any source (or decided by the full check)
    std::uint32_t dst_net, dst_mask;
    std::uint16_t sport_first, sport_span;  // first <= port <= first + span
    std::uint16_t dport_first, dport_span;
    std::uint8_t protocol, protocol_mask;  // mask 0: any protocol
    std::uint8_t flags;
    std::uint8_t reserved;
  };
  static_assert(sizeof(Record) == 32);

  // What the full check of a kSlow record needs, by position (slow_of_).
  struct SlowRule {
    std::uint32_t src_atoms, src_count;  // side_atoms_[src_atoms ...], or a v4 net/mask
    std::uint32_t dst_atoms, dst_count;
    std::uint32_t services, service_count;  // services_[services ...]
  };

  // Lists of kBlockMinRules or more are stored instead as 8-lane
  // structure-of-arrays blocks compared branch-free, eight records at once:
  // the same 16-bit ranges as a PackedRecord's, the address and port fields
  // as 32-bit lanes (two 16-bit ranges each: low half, high half), the
  // protocol as 16-bit lanes. lane_record() puts one back together for the
  // full check; a record's flags are flags_of_[position]. Padding lanes
  // after a list's last rule have position kNoMatch, which ends a scan
  // wherever they compare.
  static constexpr std::size_t kLanes = 8;
  static constexpr std::size_t kBlockMinRules = 4;
  struct alignas(64) Block {
    std::uint32_t src_first[kLanes], src_span[kLanes];
    std::uint32_t dst_first[kLanes], dst_span[kLanes];
    std::uint32_t port_first[kLanes], port_span[kLanes];  // source port | destination port << 16
    std::uint16_t proto_first[kLanes], proto_span[kLanes];
    std::uint32_t position[kLanes];
  };
  static_assert(sizeof(Block) == 256);
  static constexpr std::uint32_t kNoBlocks = 0xffffffffu;
  struct Range {
    std::uint32_t first;        // position of the list's first rule; kNoMatch if empty
    std::uint32_t begin, end;   // records_[begin, end); with blocks, 0 and the rule count
    std::uint32_t block_begin;  // the list is blocks_[block_begin ...]; kNoBlocks: records
  };
  Record lane_record(const Block& b, std::size_t l) const noexcept {
    PackedRecord r{};
    split16(r, 0, b.src_first[l], b.src_span[l]);
    split16(r, 2, b.dst_first[l], b.dst_span[l]);
    split16(r, 4, b.port_first[l], b.port_span[l]);
    r.first[6] = b.proto_first[l];
    r.span[6] = b.proto_span[l];
    return unpack(r, b.position[l]);
  }
  // Per class: its non-empty source lists, then its non-empty destination
  // lists, as ranges in probe_ranges_[offset ...], each side in ascending
  // order of first position. When a side's lists together hold at most
  // kMergeLimit records they are merged into one list (shared by every class
  // with the same lists on that side), so the lookup scans one range there.
  static constexpr std::size_t kMergeLimit = 64;
  static constexpr std::size_t kStagedFromBytes = std::size_t{8} << 20;
  struct ClassProbe {  // construction only (build_side_probes() turns them into SideProbes)
    std::uint32_t offset;
    std::uint16_t src_lists, dst_lists;
  };

  // What a lookup scans of a list: 12 bytes.
  static constexpr std::uint32_t kBlocksBit = 0x80000000u;
  struct List {
    std::uint32_t first;  // position of the list's first rule; kNoMatch: empty (or the end of a rest run)
    std::uint32_t begin;  // packed_[begin, begin + count), or blocks_[begin ...] if count has kBlocksBit
    std::uint32_t count;  // rules in the list | kBlocksBit when it is stored as blocks
  };
  static List to_list(const Range& r) noexcept {
    if (r.block_begin != kNoBlocks) return List{r.first, r.block_begin, r.end | kBlocksBit};
    return List{r.first, r.begin, r.end - r.begin};
  }
  // Per class and side (side_probes_[side][class]): the side's first list
  // inline, so a lookup reaches its records with one load less; its other
  // lists (if any) are rest_lists_[rest ...] up to an entry whose first is
  // kNoMatch (rest 0 is that entry alone). Lists are in ascending order of
  // first position, so a scan stops at the first one not better than the
  // best match so far. 16 bytes, aligned: one line.
  struct alignas(16) SideProbe {
    List list;
    std::uint32_t rest;
  };
  static_assert(sizeof(SideProbe) == 16);

  // The lookup's form of a record in a list kept as records (the records
  // themselves are construction-time only): every field of the fast compare
  // as a range of 16-bit lanes, first <= lane <= first + span, so one
  // compare of eight lanes decides the whole record. A CIDR is exactly the
  // product of the ranges of its two halves (an aligned prefix: the high
  // half exact when 16 or more bits are fixed, else a range; the low half a
  // range, or anything). Lanes: source low and high, destination low and
  // high, source port, destination port, protocol, and one the packet
  // leaves 0 (first and span 0). The record's position is
  // packed_positions_[same index], its flags flags_of_[position].
  // 32 bytes, two a cache line.
  struct alignas(16) PackedRecord {
    std::uint16_t first[8];
    std::uint16_t span[8];
  };
  static_assert(sizeof(PackedRecord) == 32);
  static PackedRecord pack(const Record& r) noexcept;
  // The record back (for the full check), with its flags.
  Record unpack(const PackedRecord& r, std::uint32_t position) const noexcept;
  // A 32-bit field as lanes `lane` (low half) and `lane + 1` (high half),
  // and back: how blocks (32-bit lanes) and packed records (16-bit) agree.
  static void split16(PackedRecord& r, std::size_t lane, std::uint32_t first, std::uint32_t span) noexcept {
    r.first[lane] = static_cast<std::uint16_t>(first);
    r.first[lane + 1] = static_cast<std::uint16_t>(first >> 16);
    r.span[lane] = static_cast<std::uint16_t>(span);
    r.span[lane + 1] = static_cast<std::uint16_t>(span >> 16);
  }
  static std::uint32_t join16(const std::uint16_t* v, std::size_t lane) noexcept {
    return std::uint32_t{v[lane]} | std::uint32_t{v[lane + 1]} << 16;
  }

  struct Probe {  // what a lookup computes once per packet
    const LookupKey* key;  // nullptr: an IPv4 packet given as a LookupKeyV4
    // The packet in PackedRecord's lanes (16-byte aligned): source and
    // destination (IPv4, host order; meaningless for another family),
    // source port | destination port << 16, protocol.
    const std::uint32_t* lanes;
    ClassId src_class, dst_class;
  };
  static void fill_lanes(std::uint32_t* lanes, std::uint32_t src_v4, std::uint32_t dst_v4, std::uint16_t src_port,
                         std::uint16_t dst_port, std::uint8_t protocol) noexcept {
    lanes[0] = src_v4;
    lanes[1] = dst_v4;
    lanes[2] = std::uint32_t{src_port} | std::uint32_t{dst_port} << 16;
    lanes[3] = protocol;
  }
  // The class's side probe (side 0 source, 1 destination), or nullptr for a
  // class newer than the index.
  const SideProbe* side_probe(int side, ClassId c) const noexcept {
    return c < side_probes_[side].size() ? side_probes_[side].data() + c : nullptr;
  }

  bool full_match(const Record& r, const AddressClassMap& map, const Probe& p) const noexcept;
  // The list scans and the burst lookup (rule_index_scan.inc), one
  // instantiation per instruction set.
  template <ScanIsa kIsa, bool kV4>
  std::uint32_t scan_list(const List& l, std::uint32_t best, const AddressClassMap& map,
                          const Probe& p) const noexcept;
  template <ScanIsa kIsa, bool kV4>
  std::uint32_t scan_side(const SideProbe& s, std::uint32_t best, const AddressClassMap& map,
                          const Probe& p) const noexcept;
  template <ScanIsa kIsa, bool kV4>
  std::uint32_t decide(const AddressClassMap& map, const Probe& p, const SideProbe* src,
                       const SideProbe* dst) const noexcept;
  template <typename Key>
  void dispatch_burst(const AddressClassMap& map, std::span<const Key> keys,
                      std::span<std::uint32_t> out) const noexcept;
  static constexpr std::size_t kBurstChunk = 64;
  template <ScanIsa kIsa>
  void decide_chunk_v4(const AddressClassMap& map, std::size_t n, const ClassId* classes,
                       const std::uint32_t (*lanes)[4], const LookupKey* keys, std::uint32_t* out) const noexcept;
  template <ScanIsa kIsa>
  void classify_burst(const AddressClassMap& map, std::span<const LookupKey> keys,
                      std::span<std::uint32_t> out) const noexcept;
  template <ScanIsa kIsa>
  void classify_burst(const AddressClassMap& map, std::span<const LookupKeyV4> keys,
                      std::span<std::uint32_t> out) const noexcept;
  // One packet, classes known (either family; key nullptr: IPv4).
  template <ScanIsa kIsa>
  std::uint32_t decide_any(const AddressClassMap& map, const Probe& p) const noexcept;
  // Prefetches what scan_list() reads first of `l`: its first block, or its
  // first records.
  void prefetch_list(const List& l) const noexcept {
    if (l.count & kBlocksBit) {
      const char* b = reinterpret_cast<const char*>(blocks_.data() + l.begin);
      for (std::size_t line = 0; line < sizeof(Block); line += 64) __builtin_prefetch(b + line);
    } else if (l.count != 0) {
      __builtin_prefetch(packed_.data() + l.begin);
      __builtin_prefetch(packed_positions_.data() + l.begin);
    }
  }
  Range make_range(std::uint32_t begin, std::uint32_t end);
  // Drops the records of lists stored as blocks (construction keeps every
  // list as records until merging is done).
  void drop_block_records();
  Range merged_range(std::span<const Range> lists);
  void build_class_probes(const AddressClassMap& map);
  void build_wide_probes();
  // The lookup's form of the lists (after drop_block_records()): List
  // copies of the atoms' and wide lists, the SideProbes; frees the Ranges.
  void build_side_probes();
  // Turns records_ (what is left of it: the lists kept as records) into
  // packed_ and packed_positions_, index for index, and frees it.
  void pack_records();

  std::vector<Record> records_;  // construction only; lists kept as records end as packed_
  std::vector<PackedRecord> packed_;
  std::vector<std::uint32_t> packed_positions_;
  std::vector<SlowRule> slow_rules_;
  std::vector<std::uint32_t> slow_of_;    // by position: index into slow_rules_ (kSlow records only)
  std::vector<AtomId> side_atoms_;        // kSrcAtoms / kDstAtoms sides point in here
  std::vector<ServiceSpec> services_;     // kManyServices rules point in here
  std::vector<Block> blocks_;
  std::vector<std::uint8_t> flags_of_;    // by position: the record's Flags (a block lane's are here)
  // Construction: every list as a Range of records_ (and blocks_): source
  // and destination lists by AtomId; wide lists by protocol (0-255), then any
  // protocol (256); per protocol, the wide list of that protocol merged with
  // the any-protocol one; the classes' probes. Emptied once built.
  std::vector<Range> src_ranges_, dst_ranges_, wide_ranges_;
  std::vector<Range> wide_probes_;
  std::vector<ClassProbe> class_probes_;
  std::vector<Range> probe_ranges_;
  // Lookup: the source and destination lists by AtomId (classes newer than
  // the index are probed through their atoms), the wide list to scan per
  // protocol, and per class and side its SideProbe (for classes at build time).
  std::vector<List> src_lists_, dst_lists_;
  std::vector<List> wide_lists_;
  std::vector<SideProbe> side_probes_[2];
  std::vector<List> rest_lists_;
  // Whether a burst is looked up in prefetching stages: worth it when the
  // index does not fit in the caches; a small index is cheaper without.
  bool staged_ = true;
  RuleIndexStats stats_;
};

}  // namespace fw::classify
