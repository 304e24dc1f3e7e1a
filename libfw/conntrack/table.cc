// The connection table (fw/conntrack.h): shards of Boost.Intrusive buckets,
// expiry lists and free lists over one preallocated entry pool.
//
// Lock order: a shard lock is never held while taking another shard's lock
// except by try_lock (stealing free entries), so there is no cycle; the
// fragment table's stripe locks are taken with no shard lock held.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>

#include <sys/mman.h>

#include "fw/conntrack.h"
#include "libfw/conntrack/entry.h"
#include "libfw/conntrack/fragments.h"
#include "libfw/conntrack/key.h"
#include "libfw/conntrack/spinlock.h"
#include "libfw/conntrack/tracker.h"
#include "libfw/conntrack/udp.h"
#include "libfw/core/counter.h"

namespace fw {

using conntrack::BucketSet;
using conntrack::ConnKey;
using conntrack::Dir;
using conntrack::Entry;
using conntrack::EntryList;
using conntrack::FragDecision;
using conntrack::FragmentTable;
using conntrack::L4Tracker;
using conntrack::MaybeLocked;
using conntrack::SpinLock;
using conntrack::TimeoutClass;
using conntrack::TrackResult;
using internal::SingleWriterCounter;

namespace {

constexpr std::size_t kChunk = 256;
// ConnTableOptions::shards = 0 gives 256 shards from this capacity, else 64.
constexpr std::uint32_t kManyShardsFrom = 256 * 1024;
// Entry pools this large (about 35k connections) are prefetched deeply.
constexpr std::size_t kDeepPrefetchBytes = 4u << 20;
constexpr std::uint32_t kStealBatch = 32;
// Entries and list heads share one block that CompactListNode's 32-bit
// offsets must span (entry.h): 2^27 entries are 14 GiB.
constexpr std::uint32_t kMaxCapacity = 1u << 27;
static_assert(std::uint64_t{kMaxCapacity} * sizeof(conntrack::Entry) + (std::uint64_t{1} << 30) <=
                  conntrack::kMaxCompactSpan,
              "the largest table's entries and shards are within a list link's reach");

enum class ProbeKind : std::uint8_t { kDone, kConn, kRelated, kFragment };

// One packet of a burst between the stages (64 bytes).
struct Probe {
  ConnKey key;
  std::uint32_t hash;
  std::uint16_t packet;
  ProbeKind kind;
  bool inner_echo;  // kRelated quoting an ICMP echo: try the reply form on a miss
  // kConn: the hash's bucket and shard, found once in stage 1.
  const BucketSet::bucket_type* bucket;
  std::uint32_t shard;
};

// UDP's tracker calls, inlined: the same functions as udp_tracker()'s (both
// are udp.h), with the call interface of L4Tracker so that the table's
// templates take either.
struct UdpInline {
  static TrackResult update(conntrack::L4State& l4, Dir dir, const PacketView&,
                            const conntrack::TrackerConfig&) noexcept {
    return conntrack::udp::update(l4, dir);
  }
  static TimeoutClass timeout_class(const conntrack::L4State& l4) noexcept {
    return conntrack::udp::timeout_class(l4);
  }
  static bool established(const conntrack::L4State& l4) noexcept { return conntrack::udp::established(l4); }
  static bool valid_new(const PacketView&, const conntrack::TrackerConfig&) noexcept { return true; }
};

// The tracker of a key: ICMP only when the protocol matches the family (an
// IPv6 packet with next header 1 is "other").
const L4Tracker& tracker_of(std::uint8_t protocol, std::uint8_t family) noexcept {
  if (protocol == kIpProtoIcmp && family != static_cast<std::uint8_t>(IpFamily::kIpv4))
    return conntrack::other_tracker();
  if (protocol == kIpProtoIcmpv6 && family != static_cast<std::uint8_t>(IpFamily::kIpv6))
    return conntrack::other_tracker();
  return conntrack::tracker_for(protocol);
}

// Reads a pointer that another thread may be writing under a lock we do not
// hold, only to prefetch what it points to: the value is never dereferenced,
// so a stale one costs a useless prefetch. Inline assembly keeps the read
// outside the C++ memory model (and ThreadSanitizer's view); elsewhere than
// x86-64 the stage is skipped.
inline const void* prefetch_hint_load(const void* p) noexcept {
#if defined(__x86_64__)
  const void* v;
  asm("movq %1, %0" : "=r"(v) : "m"(*static_cast<const char(*)[8]>(p)));
  return v;
#else
  (void)p;
  return nullptr;
#endif
}

inline void prefetch(const void* p) noexcept { __builtin_prefetch(p, 0, 3); }

// Every cache line of the entry at `p` (112 bytes: two or three lines).
inline void prefetch_entry(const void* p) noexcept {
  const char* c = static_cast<const char*>(p);
  prefetch(c);
  prefetch(c + 64);
  prefetch(c + sizeof(conntrack::Entry) - 1);
}

// The entry pool and bucket array: large tables are touched at random, one
// line per lookup, so with 4 KB pages nearly every lookup also misses the
// TLB. Blocks of 2 MB or more are 2 MB-aligned and marked for transparent
// huge pages (Linux; a hint: without THP they are ordinary pages).
constexpr std::size_t kHugePage = 2u << 20;
void* allocate_table_memory(std::size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes, std::align_val_t(internal::kCacheLine));
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = ::operator new(rounded, std::align_val_t(kHugePage));
#if defined(MADV_HUGEPAGE)
  (void)::madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}
void free_table_memory(void* p, std::size_t bytes) noexcept {
  if (bytes < kHugePage) {
    ::operator delete(p, std::align_val_t(internal::kCacheLine));
  } else {
    ::operator delete(p, std::align_val_t(kHugePage));
  }
}

constexpr std::uint8_t state_bits(bool established, CtDirection dir) noexcept {
  return static_cast<std::uint8_t>((established ? kCtEstablished : kCtNew) |
                                   (dir == CtDirection::kReply ? kCtReply : 0) | kCtTracked);
}

void set_invalid(CtResult& r, CtReason reason) noexcept {
  r.outcome = CtOutcome::kInvalid;
  r.reason = reason;
  r.ct_state = kCtInvalid | kCtTracked;
}

// The common packet: TCP or UDP with its ports (any but a later fragment),
// in a zone the caller checked. Its key, as classify() below would build it;
// false for every other packet.
inline bool common_key(const PacketView& v, std::uint16_t zone, ConnKey& k) noexcept {
  if (!((v.l3 == L3Kind::kIpv4 || v.l3 == L3Kind::kIpv6) && v.has_l4 &&
        (v.protocol == kIpProtoTcp || v.protocol == kIpProtoUdp)))
    return false;
  conntrack::load_address(v.src_ip, k.src);
  conntrack::load_address(v.dst_ip, k.dst);
  k.src_port = v.src_port;
  k.dst_port = v.dst_port;
  k.zone = zone;
  k.protocol = v.protocol;
  k.family = static_cast<std::uint8_t>(v.l3 == L3Kind::kIpv6 ? IpFamily::kIpv6 : IpFamily::kIpv4);
  return true;
}

// Every packet but the common one: see classify().
ProbeKind classify_other(const PacketView& v, std::uint16_t zone, std::uint32_t zones, Probe& p,
                         CtResult& r) noexcept {
  ConnKey& k = p.key;
  if (v.l3 != L3Kind::kIpv4 && v.l3 != L3Kind::kIpv6) {
    r.outcome = CtOutcome::kUntracked;
    r.reason = CtReason::kNotIp;
    r.ct_state = kCtInvalid | kCtTracked;
    return ProbeKind::kDone;
  }
  if (zone >= zones) {
    set_invalid(r, CtReason::kBadZone);
    return ProbeKind::kDone;
  }
  if (v.is_fragment && !v.has_l4) return ProbeKind::kFragment;
  const bool v6 = v.l3 == L3Kind::kIpv6;
  const auto family = static_cast<std::uint8_t>(v6 ? IpFamily::kIpv6 : IpFamily::kIpv4);
  k.zone = zone;
  k.family = family;
  k.protocol = v.protocol;
  const bool icmp = v.has_l4 && v.protocol == (v6 ? kIpProtoIcmpv6 : kIpProtoIcmp);
  if (icmp && v.icmp.is_error) {
    // RELATED only if the quote can be a packet this error answers: same
    // family, sent by the error's destination, with the ports (or echo id)
    // that identify its connection.
    const IcmpInner& in = v.icmp.inner;
    if (in.family != v.src_ip.family || !(in.src == v.dst_ip)) {
      set_invalid(r, CtReason::kIcmpErrorMismatch);
      return ProbeKind::kDone;
    }
    const bool inner_icmp = in.protocol == (v6 ? kIpProtoIcmpv6 : kIpProtoIcmp);
    const bool ported = in.protocol == kIpProtoTcp || in.protocol == kIpProtoUdp || inner_icmp;
    if (ported && !in.has_ports) {
      set_invalid(r, CtReason::kIcmpErrorMismatch);
      return ProbeKind::kDone;
    }
    conntrack::load_address(in.src, k.src);
    conntrack::load_address(in.dst, k.dst);
    k.protocol = in.protocol;
    if (inner_icmp) {
      // The quote of an echo request: (id, request type). IcmpInner does
      // not carry the quoted type, so a miss retries as an echo reply.
      k.src_port = in.src_port;
      k.dst_port = v6 ? 128 : 8;
      p.inner_echo = true;
    } else {
      k.src_port = ported ? in.src_port : 0;
      k.dst_port = ported ? in.dst_port : 0;
    }
    return ProbeKind::kRelated;
  }
  conntrack::load_address(v.src_ip, k.src);
  conntrack::load_address(v.dst_ip, k.dst);
  if (icmp) {
    conntrack::IcmpQuery q;
    if (!conntrack::icmp_query(v6, v.icmp.type, q)) {
      r.outcome = CtOutcome::kUntracked;
      r.reason = CtReason::kIcmpNotTrackable;
      r.ct_state = kCtInvalid | kCtTracked;
      return ProbeKind::kDone;
    }
    k.src_port = q.is_reply ? q.request_type : v.src_port;
    k.dst_port = q.is_reply ? v.src_port : q.request_type;
  } else if (v.has_l4 && (v.protocol == kIpProtoTcp || v.protocol == kIpProtoUdp)) {
    k.src_port = v.src_port;
    k.dst_port = v.dst_port;
  } else {
    k.src_port = 0;
    k.dst_port = 0;
  }
  return ProbeKind::kConn;
}

// Builds the key of `v` (or says why it has none). kConn: a packet of a
// connection; kRelated: an ICMP error, `key` is the quoted packet's;
// kFragment: a non-first fragment. Inline: the burst lookup's stage 1 takes
// the common packet without a call.
inline ProbeKind classify(const PacketView& v, std::uint16_t zone, std::uint32_t zones, Probe& p,
                   CtResult& r) noexcept {
  p.inner_echo = false;
  if (zone < zones && common_key(v, zone, p.key)) return ProbeKind::kConn;
  return classify_other(v, zone, zones, p, r);
}

}  // namespace

struct ConnTable::Impl {
  // Two parts on their own cache lines: the set's bucket traits and hash
  // seed, read by every lookup and never written after construction (so
  // every core keeps a clean copy), then the lock and what it guards,
  // written by whichever core holds it. With both on one line, every packet
  // of another core's shard pulled the line across twice before its lock.
  struct alignas(internal::kCacheLine) Shard {
    Shard(BucketSet::bucket_type* buckets, std::size_t count, std::uint64_t seed)
        : set(BucketSet::bucket_traits(buckets, count), conntrack::EntryHashFromKey{seed}) {}
    BucketSet set;
    static_assert(sizeof(BucketSet) <= internal::kCacheLine, "the set's line holds nothing written");
    alignas(internal::kCacheLine) SpinLock lock;
    EntryList lists[conntrack::kListCount];
    EntryList free_list;
    // Written under `lock`, read by stats() without it.
    SingleWriterCounter created, expired, evicted, removed;
    SingleWriterCounter refused_table_full, refused_zone_limit, refused_half_open;
    SingleWriterCounter invalid[kCtReasonCount];
  };

  ConnTableOptions opt;
  conntrack::TrackerConfig tracker_config;
  bool locking = true;
  std::uint32_t shard_count = 1;
  std::uint32_t shard_shift = 32;  // hash >> shard_shift = shard (32: one shard)
  std::uint32_t bucket_mask = 0;   // within a shard
  std::uint32_t max_connections = 0;
  std::uint64_t seed = 0;
  std::uint64_t timeout_ns[conntrack::kTimeoutClassCount] = {};
  // Refresh granularity per class: min(1 s, timeout / 64).
  std::uint64_t refresh_ns[conntrack::kTimeoutClassCount] = {};

  // One block: the entries, then the shards (whose expiry and free lists'
  // heads must be within CompactListNode's reach of the entries).
  Entry* pool = nullptr;
  std::size_t block_bytes = 0;
  std::size_t capacity = 0;
  // The burst lookup prefetches every line of the first two entries of
  // each bucket (stages 2 and 2b) only when the pool is larger than
  // kDeepPrefetchBytes, i.e. when entries are likely to be cache misses.
  bool deep_prefetch = false;
  BucketSet::bucket_type* buckets = nullptr;
  std::size_t bucket_count = 0;
  Shard* shards = nullptr;
  std::unique_ptr<std::atomic<std::uint32_t>[]> zone_count;
  std::unique_ptr<std::atomic<std::uint32_t>[]> zone_limit;
  std::unique_ptr<FragmentTable> fragments;

  // Touched only when a connection is created or freed.
  alignas(internal::kCacheLine) std::atomic<std::uint32_t> total{0};
  alignas(internal::kCacheLine) std::atomic<std::uint32_t> half_open{0};
  // Expiry cursor and counters of packets decided without a shard lock.
  alignas(internal::kCacheLine) std::atomic<std::uint32_t> sweep_cursor{0};
  std::atomic<std::uint64_t> fragments_tracked{0};
  std::atomic<std::uint64_t> unlocked_invalid[kCtReasonCount] = {};

  ~Impl() {
    if (shards != nullptr) {
      for (std::uint32_t i = 0; i < shard_count; ++i) shards[i].~Shard();
    }
    if (pool != nullptr) {
      for (std::size_t i = 0; i < capacity; ++i) pool[i].~Entry();
      free_table_memory(pool, block_bytes);
    }
    if (buckets != nullptr) {
      for (std::size_t i = 0; i < bucket_count; ++i) std::destroy_at(&buckets[i]);
      free_table_memory(buckets, sizeof(BucketSet::bucket_type) * bucket_count);
    }
  }

  // Whether a bucket link read as a prefetch hint points into the entry
  // pool (Boost.Intrusive buckets are circular lists: the last entry, or an
  // empty bucket, links back to the bucket).
  bool is_entry(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto lo = reinterpret_cast<std::uintptr_t>(pool);
    return a - lo < capacity * sizeof(Entry);
  }

  std::uint32_t shard_index(std::uint32_t hash) const noexcept {
    return static_cast<std::uint32_t>(std::uint64_t{hash} >> shard_shift);  // 32: shard 0
  }
  Shard& shard_of(std::uint32_t hash) noexcept { return shards[shard_index(hash)]; }
  // Shard s owns buckets[s * (bucket_mask + 1) ...] (its BucketSet is made
  // over them); the burst lookup finds a hash's bucket from the table's own
  // fields (shard_buckets(shard) + (hash & bucket_mask)), with no read of the
  // shard.
  BucketSet::bucket_type* shard_buckets(std::uint32_t s) const noexcept {
    return buckets + std::size_t{s} * (std::size_t{bucket_mask} + 1);
  }
  std::uint32_t index_of(const Entry& e) const noexcept {
    return static_cast<std::uint32_t>(&e - pool);
  }

  void count_unlocked(CtReason reason) noexcept {
    unlocked_invalid[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }

  bool expired(const Entry& e, std::uint64_t now_ns) const noexcept {
    return now_ns > e.last_seen_ns && now_ns - e.last_seen_ns >= timeout_ns[e.list_index / 2];
  }

  // The entry of `key` in either direction, or nullptr.
  Entry* find(Shard& s, std::uint32_t hash, const ConnKey& key, Dir& dir) noexcept {
    const std::size_t b = hash & bucket_mask;
    for (auto it = s.set.begin(b), end = s.set.end(b); it != end; ++it) {
      const int m = conntrack::match(it->key, key);
      if (m != conntrack::kNoMatch) {
        dir = m == conntrack::kMatchOriginal ? Dir::kOriginal : Dir::kReply;
        return &*it;
      }
    }
    return nullptr;
  }

  void free_entry(Shard& s, Entry& e, SingleWriterCounter& why) noexcept {
    s.set.erase(s.set.iterator_to(e));
    s.lists[e.list_index].erase(EntryList::s_iterator_to(e));
    total.fetch_sub(1, std::memory_order_relaxed);
    zone_count[e.key.zone].fetch_sub(1, std::memory_order_relaxed);
    if (e.flags & conntrack::kEntryHalfOpen) half_open.fetch_sub(1, std::memory_order_relaxed);
    e.flags = 0;
    ++e.incarnation;
    s.free_list.push_front(e);
    why.add(1);
  }

  // The expiry list of an entry's state. "Kept" (odd lists, never evicted)
  // means established and not already closing down: a reset or TIME_WAIT
  // TCP connection is evicted before a live half-open one would be.
  template <typename Tracker>  // L4Tracker or UdpInline
  static std::uint8_t list_of(const Tracker& t, const conntrack::L4State& l4) noexcept {
    const TimeoutClass c = t.timeout_class(l4);
    const bool kept = t.established(l4) && c != TimeoutClass::kTcpTimeWait && c != TimeoutClass::kTcpClosed;
    return conntrack::list_index(c, kept);
  }

  // After an accepted packet: timer, expiry list, half-open accounting.
  template <typename Tracker>
  void refresh(Shard& s, Entry& e, const Tracker& t, std::uint64_t now_ns) noexcept {
    const bool established = t.established(e.l4);
    if (established && (e.flags & conntrack::kEntryHalfOpen)) {
      e.flags &= static_cast<std::uint8_t>(~conntrack::kEntryHalfOpen);
      half_open.fetch_sub(1, std::memory_order_relaxed);
    }
    const std::uint8_t li = list_of(t, e.l4);
    if (li == e.list_index) {
      // Same class: refresh only if refresh_ns has passed since the last
      // time, so a busy connection does not rewrite its list (two random
      // neighbours' cache lines) on every packet (docs/conntrack.md).
      if (now_ns <= e.last_seen_ns || now_ns - e.last_seen_ns < refresh_ns[li / 2]) return;
      e.last_seen_ns = now_ns;
      EntryList& list = s.lists[li];
      if (&list.back() == &e) return;  // already the newest
      list.erase(EntryList::s_iterator_to(e));
      list.push_back(e);
      return;
    }
    if (now_ns > e.last_seen_ns) e.last_seen_ns = now_ns;
    s.lists[e.list_index].erase(EntryList::s_iterator_to(e));
    e.list_index = li;
    s.lists[li].push_back(e);
  }

  // Frees the oldest connection that is not established (of `zone` only, if
  // given, looking at the first kZoneEvictionScan of each list).
  bool evict(Shard& s, int zone) noexcept {
    Entry* victim = nullptr;
    for (std::size_t li = 0; li < conntrack::kListCount; li += 2) {
      EntryList& list = s.lists[li];
      Entry* candidate = nullptr;
      if (zone < 0) {
        if (!list.empty()) candidate = &list.front();
      } else {
        std::uint32_t scanned = 0;
        for (auto it = list.begin(); it != list.end() && scanned < kZoneEvictionScan; ++it, ++scanned) {
          if (it->key.zone == zone) {
            candidate = &*it;
            break;
          }
        }
      }
      if (candidate != nullptr && (victim == nullptr || candidate->last_seen_ns < victim->last_seen_ns))
        victim = candidate;
    }
    if (victim == nullptr) return false;
    EntryList& from = s.lists[victim->list_index];
    free_entry(s, *victim, s.evicted);
    // Under a flood the next create evicts the next oldest: start loading it.
    if (!from.empty()) {
      prefetch(&from.front());
      prefetch(reinterpret_cast<const char*>(&from.front()) + 64);
    }
    return true;
  }

  // Moves free entries from another shard (try_lock only: we hold ours).
  void steal(Shard& s) noexcept {
    const auto self = static_cast<std::uint32_t>(&s - shards);
    for (std::uint32_t j = 1; j < shard_count; ++j) {
      Shard& other = shards[(self + j) & (shard_count - 1)];
      if (locking && !other.lock.try_lock()) continue;
      std::uint32_t moved = 0;
      while (moved < kStealBatch && !other.free_list.empty()) {
        Entry& e = other.free_list.front();
        other.free_list.pop_front();
        e.shard.store(static_cast<std::uint8_t>(self), std::memory_order_relaxed);
        s.free_list.push_front(e);
        ++moved;
      }
      if (locking) other.lock.unlock();
      if (moved > 0) return;
    }
  }

  Entry* pop_free(Shard& s) noexcept {
    if (s.free_list.empty()) steal(s);
    if (s.free_list.empty()) return nullptr;
    Entry& e = s.free_list.front();
    s.free_list.pop_front();
    // The shard's next new connection will write every line of the next
    // free entry: fetch them for writing now (creates land on the 64
    // shards at random, too many streams for the hardware prefetcher).
    if (!s.free_list.empty()) {
      const char* next = reinterpret_cast<const char*>(&s.free_list.front());
      __builtin_prefetch(next, 1, 3);
      __builtin_prefetch(next + 64, 1, 3);
      __builtin_prefetch(next + sizeof(Entry) - 1, 1, 3);
    }
    return &e;
  }

  std::size_t sweep(Shard& s, std::uint64_t now_ns, std::size_t budget) noexcept {
    std::size_t freed = 0;
    for (std::size_t li = 0; li < conntrack::kListCount && freed < budget; ++li) {
      EntryList& list = s.lists[li];
      while (freed < budget && !list.empty() && expired(list.front(), now_ns)) {
        free_entry(s, list.front(), s.expired);
        ++freed;
      }
    }
    return freed;
  }

  void fill_hit(CtResult& r, const Entry& e, Dir dir, bool established) const noexcept {
    r.conn = {index_of(e), e.incarnation};
    r.generation = e.generation;
    r.rule_id = e.rule_id;
    r.outcome = CtOutcome::kEstablished;
    r.direction = dir == Dir::kReply ? CtDirection::kReply : CtDirection::kOriginal;
    r.ct_state = state_bits(established, r.direction);
    r.reason = CtReason::kNone;
  }

  // A packet of a connection (kConn probe), under its shard lock. Inline
  // (in the burst lookup and create()), so that UDP's tracking is too.
  [[gnu::always_inline]] void track(Shard& s, const Probe& p, const PacketView& v, std::uint64_t now_ns, CtResult& r) noexcept {
    if (p.key.protocol == kIpProtoUdp) {
      track_with(s, p, v, now_ns, r, UdpInline{});
    } else {
      track_with(s, p, v, now_ns, r, tracker_of(p.key.protocol, p.key.family));
    }
  }
  template <typename Tracker>
  [[gnu::always_inline]] void track_with(Shard& s, const Probe& p, const PacketView& v, std::uint64_t now_ns, CtResult& r,
                  const Tracker& t) noexcept {
    Dir dir = Dir::kOriginal;
    Entry* e = find(s, p.hash, p.key, dir);
    if (e != nullptr && expired(*e, now_ns)) {
      free_entry(s, *e, s.expired);
      e = nullptr;
    }
    if (e != nullptr) {
      switch (t.update(e->l4, dir, v, tracker_config)) {
        case TrackResult::kAccept:
          // Stores only what changes: in a table larger than the caches a
          // line written is also a line written back to memory.
          if (dir == Dir::kReply && !(e->flags & conntrack::kEntryReplySeen))
            e->flags |= conntrack::kEntryReplySeen;
          refresh(s, *e, t, now_ns);
          fill_hit(r, *e, dir, (e->flags & conntrack::kEntryReplySeen) != 0);
          return;
        case TrackResult::kInvalid:
          fill_hit(r, *e, dir, false);
          set_invalid(r, CtReason::kTrackerRejected);
          s.invalid[static_cast<std::size_t>(CtReason::kTrackerRejected)].add(1);
          return;
        case TrackResult::kRestart:
          free_entry(s, *e, s.removed);
          break;
      }
    }
    if (t.valid_new(v, tracker_config)) {
      r.outcome = CtOutcome::kNew;
      r.direction = CtDirection::kOriginal;
      r.ct_state = kCtNew | kCtTracked;
      r.reason = CtReason::kNone;
      r.hash = p.hash;
      return;
    }
    set_invalid(r, CtReason::kCannotOpen);
    s.invalid[static_cast<std::size_t>(CtReason::kCannotOpen)].add(1);
  }

  // An ICMP error (kRelated probe): the connection of the quoted packet.
  void relate(const Probe& p, std::uint64_t now_ns, CtResult& r) noexcept {
    ConnKey key = p.key;
    std::uint32_t hash = p.hash;
    for (int attempt = 0; attempt < (p.inner_echo ? 2 : 1); ++attempt) {
      if (attempt == 1) {  // the quote may be an echo reply: (type, id)
        std::swap(key.src_port, key.dst_port);
        hash = static_cast<std::uint32_t>(conntrack::symmetric_hash(key, seed));
      }
      Shard& s = shard_of(hash);
      MaybeLocked guard(s.lock, locking);
      Dir dir = Dir::kOriginal;
      Entry* e = find(s, hash, key, dir);
      if (e == nullptr || expired(*e, now_ns)) continue;
      // The quoted packet travelled in `dir`; the error travels back.
      fill_hit(r, *e, dir == Dir::kOriginal ? Dir::kReply : Dir::kOriginal, false);
      r.outcome = CtOutcome::kRelated;
      r.ct_state = static_cast<std::uint8_t>(kCtRelated | kCtTracked |
                                             (r.direction == CtDirection::kReply ? kCtReply : 0));
      return;
    }
    set_invalid(r, CtReason::kIcmpErrorNoConnection);
    count_unlocked(CtReason::kIcmpErrorNoConnection);
  }

  // Reads the admission of a live connection; false if `ref` is stale.
  template <typename Fn>
  bool with_entry(ConnRef ref, Fn&& fn) noexcept {
    if (ref.index >= capacity) return false;
    Entry& e = pool[ref.index];
    const std::uint8_t si = e.shard.load(std::memory_order_relaxed);
    Shard& s = shards[si];
    MaybeLocked guard(s.lock, locking);
    if (e.shard.load(std::memory_order_relaxed) != si || !(e.flags & conntrack::kEntryInUse) ||
        e.incarnation != ref.incarnation)
      return false;
    fn(s, e);
    return true;
  }

  // A non-first fragment: decided like its first fragment.
  void follow_fragment(const PacketView& v, std::uint16_t zone, std::uint64_t now_ns, CtResult& r) noexcept {
    FragDecision d;
    const CtReason why = fragments->follow(conntrack::frag_key(v, zone), conntrack::frag_range(v), now_ns, d);
    if (why != CtReason::kNone) {
      set_invalid(r, why);
      count_unlocked(why);
      return;
    }
    if (d.outcome == CtOutcome::kUntracked) {
      r.outcome = CtOutcome::kUntracked;
      r.reason = CtReason::kIcmpNotTrackable;
      r.ct_state = kCtInvalid | kCtTracked;
      return;
    }
    const bool admitted =
        (d.outcome == CtOutcome::kNew || d.outcome == CtOutcome::kEstablished ||
         d.outcome == CtOutcome::kRelated) &&
        with_entry(d.conn, [&](Shard&, Entry& e) {
          r.conn = d.conn;
          r.generation = e.generation;
          r.rule_id = e.rule_id;
        });
    if (!admitted) {
      set_invalid(r, CtReason::kFragmentNotAdmitted);
      count_unlocked(CtReason::kFragmentNotAdmitted);
      return;
    }
    // A fragment of a connection's first packet is a packet of it.
    r.outcome = d.outcome == CtOutcome::kRelated ? CtOutcome::kRelated : CtOutcome::kEstablished;
    r.direction = d.direction;
    r.ct_state = d.ct_state;
    r.reason = CtReason::kNone;
    fragments_tracked.fetch_add(1, std::memory_order_relaxed);
  }

  void first_fragment(const PacketView& v, std::uint16_t zone, std::uint64_t now_ns, CtResult& r) noexcept {
    const FragDecision d{r.conn, r.outcome, r.direction, r.ct_state};
    const CtReason why = fragments->first(conntrack::frag_key(v, zone), conntrack::frag_range(v), d, now_ns);
    if (why != CtReason::kNone) {
      set_invalid(r, why);
      count_unlocked(why);
    }
  }

  // Looks up packets[which[k]] for k < count (at most kChunk), writing
  // results[which[k]]; indices outside packets or results are skipped.
  void lookup_chunk(std::uint16_t zone, std::span<const PacketView> packets, const std::uint16_t* which,
                    std::size_t count, std::uint64_t now_ns, std::span<CtResult> results) noexcept {
    // Stage 1: keys and hashes; prefetch each bucket.
    alignas(64) unsigned char probe_bytes[sizeof(Probe) * kChunk];  // written before read
    auto* probes = reinterpret_cast<Probe*>(probe_bytes);
    const std::size_t limit = std::min(packets.size(), results.size());
    std::size_t n = 0;  // probes
    for (std::size_t k = 0; k < count; ++k) {
      const std::uint16_t i = which[k];
      if (i >= limit) [[unlikely]] continue;
      Probe& p = *::new (&probes[n++]) Probe;
      p.packet = i;
      CtResult& r = results[i];
      r = CtResult{};
      p.kind = classify(packets[i], zone, opt.zones, p, r);
      if (p.kind == ProbeKind::kConn || p.kind == ProbeKind::kRelated) {
        p.hash = static_cast<std::uint32_t>(conntrack::symmetric_hash(p.key, seed));
        p.shard = shard_index(p.hash);
        p.bucket = shard_buckets(p.shard) + (p.hash & bucket_mask);
        prefetch(p.bucket);
      }
    }
    // Stage 2: the first entry of each bucket, every line of it: an entry
    // is 112 bytes at any offset in its cache line, so it spans two or
    // three lines, and a hit reads all of them (key, tracker state, timer,
    // admission), so none may be left to miss in stage 3.
    // Tables that fit in the caches skip all but the first line and key of
    // the first entry: there every extra prefetch is an instruction for
    // nothing (about 4 ns a packet at 10k connections).
    const void* first_node[kChunk];
    for (std::size_t k = 0; k < n; ++k) {
      const Probe& p = probes[k];
      first_node[k] = nullptr;
      if (p.kind != ProbeKind::kConn) continue;
      const void* node = prefetch_hint_load(p.bucket);
      // The shard lock stage 3 takes, for writing: with several workers it
      // is often in another core's cache, a transfer as long as a miss.
      if (locking) __builtin_prefetch(&shards[p.shard].lock, 1);
      if (!is_entry(node)) continue;  // an empty bucket links to itself
      first_node[k] = node;
      if (deep_prefetch) {
        prefetch_entry(node);
      } else {
        prefetch(node);
        prefetch(static_cast<const char*>(node) + 48);  // the key ends at byte 55
      }
    }
    // Stage 2b: the second entry of each bucket. At the default load (at
    // most one connection per two buckets) about a fifth of the hits are
    // not the first entry of their bucket (a third at one per bucket);
    // without this their entry is a miss taken one packet at a time in
    // stage 3. The bucket link is the entry's first word.
    for (std::size_t k = 0; deep_prefetch && k < n; ++k) {
      if (first_node[k] == nullptr) continue;
      const void* next = prefetch_hint_load(first_node[k]);
      if (is_entry(next)) prefetch_entry(next);  // the last entry links to its bucket
    }
    // Stage 3: compare and update, one shard lock at a time.
    for (std::size_t k = 0; k < n; ++k) {
      const Probe& p = probes[k];
      const PacketView& v = packets[p.packet];
      CtResult& r = results[p.packet];
      switch (p.kind) {
        case ProbeKind::kDone:
          if (r.outcome == CtOutcome::kInvalid) count_unlocked(r.reason);
          break;
        case ProbeKind::kConn: {
          {
            Shard& s = shards[p.shard];
            MaybeLocked guard(s.lock, locking);
            track(s, p, v, now_ns, r);
          }
          if (v.is_fragment) first_fragment(v, zone, now_ns, r);
          break;
        }
        case ProbeKind::kRelated:
          relate(p, now_ns, r);
          if (v.is_fragment && r.outcome == CtOutcome::kRelated) first_fragment(v, zone, now_ns, r);
          break;
        case ProbeKind::kFragment:
          follow_fragment(v, zone, now_ns, r);
          break;
      }
    }
  }

  // Bounded expiry after a burst: one shard, round robin.
  void sweep_some(std::uint64_t now_ns) noexcept {
    if (opt.expiry_per_burst == 0) return;
    const std::uint32_t si = sweep_cursor.fetch_add(1, std::memory_order_relaxed) & (shard_count - 1);
    Shard& s = shards[si];
    if (locking && !s.lock.try_lock()) return;  // busy: the next burst sweeps another
    sweep(s, now_ns, opt.expiry_per_burst);
    if (locking) s.lock.unlock();
  }
};

StatusOr<std::unique_ptr<ConnTable>> ConnTable::create(const ConnTableOptions& options) {
  const ConnTableOptions& o = options;
  if (o.capacity == 0 || o.capacity > kMaxCapacity)
    return invalid_argument("capacity: " + std::to_string(o.capacity) + " is not in 1..2^27");
  if (o.max_connections > o.capacity)
    return invalid_argument("max_connections: " + std::to_string(o.max_connections) +
                            " exceeds capacity " + std::to_string(o.capacity));
  if (o.zones == 0 || o.zones > 65536)
    return invalid_argument("zones: " + std::to_string(o.zones) + " is not in 1..65536");
  if (o.shards > 256 || (o.shards != 0 && !std::has_single_bit(o.shards)))
    return invalid_argument("shards: " + std::to_string(o.shards) + " is neither 0 nor a power of two in 1..256");
  const std::uint32_t shards = o.shards != 0 ? o.shards : o.capacity >= kManyShardsFrom ? 256 : 64;
  if (o.buckets > (1u << 31))
    return invalid_argument("buckets: " + std::to_string(o.buckets) + " exceeds 2^31");
  if (o.fragment_capacity == 0) return invalid_argument("fragment_capacity: must be at least 1");
  if (o.fragment_timeout == 0) return invalid_argument("fragment_timeout: must be at least 1 second");
  if (o.max_datagram_bytes == 0 || o.max_datagram_bytes > 65535)
    return invalid_argument("max_datagram_bytes: " + std::to_string(o.max_datagram_bytes) +
                            " is not in 1..65535");
  const std::pair<const char*, std::uint32_t> timeouts[] = {
      {"tcp_syn_sent", o.timeouts.tcp_syn_sent},     {"tcp_syn_recv", o.timeouts.tcp_syn_recv},
      {"tcp_established", o.timeouts.tcp_established}, {"tcp_fin_wait", o.timeouts.tcp_fin_wait},
      {"tcp_closing", o.timeouts.tcp_closing},       {"tcp_time_wait", o.timeouts.tcp_time_wait},
      {"tcp_closed", o.timeouts.tcp_closed},         {"udp_first", o.timeouts.udp_first},
      {"udp_multiple", o.timeouts.udp_multiple},     {"icmp", o.timeouts.icmp},
      {"other_first", o.timeouts.other_first},       {"other_multiple", o.timeouts.other_multiple},
  };
  static_assert(std::size(timeouts) == conntrack::kTimeoutClassCount, "one timeout per class");
  for (const auto& [name, seconds] : timeouts)
    if (seconds == 0) return invalid_argument(std::string("timeouts.") + name + ": must be at least 1 second");

  auto impl = std::make_unique<Impl>();
  impl->opt = o;
  impl->tracker_config = {.tcp_strict = o.tcp_strict, .tcp_liberal = o.tcp_liberal};
  impl->locking = o.concurrency == CtConcurrency::kShared;
  impl->shard_count = shards;
  impl->shard_shift = 32 - static_cast<std::uint32_t>(std::countr_zero(shards));
  impl->max_connections = o.max_connections == 0 ? o.capacity : o.max_connections;
  impl->seed = o.hash_seed;
  if (impl->seed == 0) {
    // Not cryptographic; enough that two hosts (and two tables) differ.
    std::random_device entropy;
    impl->seed = conntrack::mix64((std::uint64_t{entropy()} << 32) ^ entropy() ^
                                  reinterpret_cast<std::uintptr_t>(impl.get()));
    if (impl->seed == 0) impl->seed = 1;
  }
  for (std::size_t c = 0; c < conntrack::kTimeoutClassCount; ++c) {
    impl->timeout_ns[c] = std::uint64_t{timeouts[c].second} * 1'000'000'000ULL;
    impl->refresh_ns[c] = std::min<std::uint64_t>(1'000'000'000ULL, impl->timeout_ns[c] / 64);
  }

  // Two buckets per entry by default (a load of at most one half: see
  // docs/conntrack.md, "Layout").
  std::uint64_t buckets =
      std::bit_ceil(o.buckets == 0 ? std::uint64_t{o.capacity} * 2 : std::uint64_t{o.buckets});
  buckets = std::max<std::uint64_t>(buckets, shards);
  const std::uint64_t per_shard = buckets / shards;
  impl->bucket_mask = static_cast<std::uint32_t>(per_shard - 1);

  impl->capacity = o.capacity;
  impl->deep_prefetch = std::size_t{o.capacity} * sizeof(Entry) >= kDeepPrefetchBytes;
  const std::size_t pool_bytes =
      (sizeof(Entry) * impl->capacity + internal::kCacheLine - 1) / internal::kCacheLine * internal::kCacheLine;
  impl->block_bytes = pool_bytes + sizeof(Impl::Shard) * shards;
  auto* block = static_cast<unsigned char*>(allocate_table_memory(impl->block_bytes));
  impl->pool = reinterpret_cast<Entry*>(block);
  for (std::size_t i = 0; i < impl->capacity; ++i) ::new (&impl->pool[i]) Entry{};
  impl->bucket_count = buckets;
  impl->buckets = static_cast<BucketSet::bucket_type*>(
      allocate_table_memory(sizeof(BucketSet::bucket_type) * buckets));
  for (std::size_t i = 0; i < buckets; ++i) ::new (&impl->buckets[i]) BucketSet::bucket_type();
  impl->shards = reinterpret_cast<Impl::Shard*>(block + pool_bytes);
  for (std::uint32_t i = 0; i < shards; ++i)
    ::new (&impl->shards[i]) Impl::Shard(impl->shard_buckets(i), per_shard, impl->seed);
  // The pool is dealt out in contiguous blocks; shards that run dry steal.
  for (std::size_t i = 0; i < impl->capacity; ++i) {
    const auto si = static_cast<std::uint32_t>(i * shards / impl->capacity);
    impl->pool[i].shard.store(static_cast<std::uint8_t>(si), std::memory_order_relaxed);
    impl->shards[si].free_list.push_back(impl->pool[i]);
  }
  impl->zone_count = std::make_unique<std::atomic<std::uint32_t>[]>(o.zones);
  impl->zone_limit = std::make_unique<std::atomic<std::uint32_t>[]>(o.zones);
  for (std::uint32_t z = 0; z < o.zones; ++z) {
    impl->zone_count[z].store(0, std::memory_order_relaxed);
    impl->zone_limit[z].store(o.zone_limit, std::memory_order_relaxed);
  }
  impl->fragments = std::make_unique<FragmentTable>(
      o.fragment_capacity, std::uint64_t{o.fragment_timeout} * 1'000'000'000ULL, o.max_datagram_bytes,
      impl->locking);
  return std::unique_ptr<ConnTable>(new ConnTable(std::move(impl)));
}

ConnTable::ConnTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnTable::~ConnTable() = default;

const ConnTableOptions& ConnTable::options() const noexcept { return impl_->opt; }

void ConnTable::lookup(std::uint16_t zone, std::span<const PacketView> packets, std::uint64_t now_ns,
                       std::span<CtResult> results) noexcept {
  const std::size_t n = std::min(packets.size(), results.size());
  std::uint16_t which[kChunk];
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t m = std::min(kChunk, n - start);
    for (std::size_t k = 0; k < m; ++k) which[k] = static_cast<std::uint16_t>(k);
    impl_->lookup_chunk(zone, packets.subspan(start, m), which, m, now_ns, results.subspan(start, m));
  }
  impl_->sweep_some(now_ns);
}

void ConnTable::lookup(std::uint16_t zone, std::span<const PacketView> packets,
                       std::span<const std::uint16_t> active, std::uint64_t now_ns,
                       std::span<CtResult> results) noexcept {
  // lookup_chunk() skips the indices out of range.
  for (std::size_t start = 0; start < active.size(); start += kChunk)
    impl_->lookup_chunk(zone, packets, active.data() + start, std::min(kChunk, active.size() - start), now_ns,
                        results);
  impl_->sweep_some(now_ns);
}

bool ConnTable::create(std::uint16_t zone, const PacketView& packet, const CtAdmission& admission,
                       std::uint64_t now_ns, CtResult& result) noexcept {
  Impl& t = *impl_;
  if (result.outcome != CtOutcome::kNew) return false;
  if (result.conn.valid()) return true;  // already committed
  Probe p;
  CtResult scratch;
  if (classify(packet, zone, t.opt.zones, p, scratch) != ProbeKind::kConn) return false;
  p.hash = result.hash;
  const L4Tracker& tracker = tracker_of(p.key.protocol, p.key.family);
  Impl::Shard& s = t.shard_of(p.hash);
  bool created = false;
  {
    MaybeLocked guard(s.lock, t.locking);
    Dir dir = Dir::kOriginal;
    Entry* e = t.find(s, p.hash, p.key, dir);
    if (e != nullptr && t.expired(*e, now_ns)) {
      t.free_entry(s, *e, s.expired);
      e = nullptr;
    }
    if (e != nullptr) {
      // Created meanwhile (an earlier packet of this burst, another thread):
      // this packet is one of its packets (or, for a TCP restart, the first
      // of a new connection in its place).
      t.track(s, p, packet, now_ns, result);
      if (result.outcome != CtOutcome::kEstablished && result.outcome != CtOutcome::kNew) return false;
      if (result.outcome == CtOutcome::kNew) e = nullptr;
    }
    if (e == nullptr) {
      auto refuse = [&](CtReason why, SingleWriterCounter& counter) {
        set_invalid(result, why);
        counter.add(1);
        return false;
      };
      const std::uint32_t zone_limit = t.zone_limit[zone].load(std::memory_order_relaxed);
      if (zone_limit != 0 && t.zone_count[zone].load(std::memory_order_relaxed) >= zone_limit &&
          !t.evict(s, zone))
        return refuse(CtReason::kZoneLimit, s.refused_zone_limit);
      if (t.opt.max_half_open != 0 &&
          t.half_open.load(std::memory_order_relaxed) >= t.opt.max_half_open && !t.evict(s, -1))
        return refuse(CtReason::kHalfOpenLimit, s.refused_half_open);
      if (t.total.load(std::memory_order_relaxed) >= t.max_connections && !t.evict(s, -1))
        return refuse(CtReason::kTableFull, s.refused_table_full);
      e = t.pop_free(s);
      if (e == nullptr && t.evict(s, -1)) e = t.pop_free(s);
      if (e == nullptr) return refuse(CtReason::kTableFull, s.refused_table_full);
      // The global counts first: a locked add waits for every earlier
      // store, and the entry's stores below may miss the cache.
      t.total.fetch_add(1, std::memory_order_relaxed);
      t.zone_count[zone].fetch_add(1, std::memory_order_relaxed);

      e->key = p.key;
      tracker.new_conn(e->l4, packet, t.tracker_config);
      e->last_seen_ns = now_ns;
      e->generation = admission.generation;
      e->rule_id = admission.rule_id;
      e->service_word = 0;
      const bool established = tracker.established(e->l4);
      e->flags = static_cast<std::uint8_t>(conntrack::kEntryInUse |
                                           (established ? 0 : conntrack::kEntryHalfOpen));
      e->list_index = Impl::list_of(tracker, e->l4);
      BucketSet::insert_commit_data commit;
      commit.hash = p.hash;
      s.set.insert_unique_commit(*e, commit);
      s.lists[e->list_index].push_back(*e);
      if (!established) t.half_open.fetch_add(1, std::memory_order_relaxed);
      s.created.add(1);
      result.conn = {t.index_of(*e), e->incarnation};
      result.generation = admission.generation;
      result.rule_id = admission.rule_id;
      result.direction = CtDirection::kOriginal;
      result.ct_state = kCtNew | kCtTracked;
      created = true;
    }
  }
  if (packet.is_fragment) {
    t.fragments->admit(conntrack::frag_key(packet, zone),
                       FragDecision{result.conn, created ? CtOutcome::kNew : result.outcome,
                                    result.direction, result.ct_state});
  }
  return true;
}

void ConnTable::peek(std::uint16_t zone, std::span<const PacketView> packets,
                     std::span<const std::uint16_t> active, std::uint64_t now_ns,
                     std::span<Peek> out) const noexcept {
  Impl& t = *impl_;
  for (const std::uint16_t i : active) {
    if (i >= packets.size() || i >= out.size()) continue;
    Peek& result = out[i];
    result = Peek{};
    const PacketView& v = packets[i];
    Probe p;
    CtResult scratch;
    const ProbeKind kind = classify(v, zone, t.opt.zones, p, scratch);
    if (kind == ProbeKind::kFragment) {
      FragDecision d;
      if (t.fragments->peek(conntrack::frag_key(v, zone), d) && d.conn.valid()) {
        t.with_entry(d.conn, [&](Impl::Shard&, Entry& e) {
          result.conn = d.conn;
          result.direction = d.direction;
          result.service_word = e.service_word;
          result.found = true;
        });
      }
      continue;
    }
    if (kind != ProbeKind::kConn) continue;
    const auto hash = static_cast<std::uint32_t>(conntrack::symmetric_hash(p.key, t.seed));
    Impl::Shard& s = t.shard_of(hash);
    MaybeLocked guard(s.lock, t.locking);
    Dir dir = Dir::kOriginal;
    const Entry* e = t.find(s, hash, p.key, dir);
    if (e == nullptr || t.expired(*e, now_ns)) continue;
    result.conn = {t.index_of(*e), e->incarnation};
    result.direction = dir == Dir::kReply ? CtDirection::kReply : CtDirection::kOriginal;
    result.service_word = e->service_word;
    result.found = true;
  }
}

bool ConnTable::exchange_service_word(ConnRef conn, std::uint32_t& expected, std::uint32_t desired) noexcept {
  bool swapped = false;
  impl_->with_entry(conn, [&](Impl::Shard&, Entry& e) {
    if (e.service_word == expected) {
      e.service_word = desired;
      swapped = true;
    } else {
      expected = e.service_word;
    }
  });
  return swapped;
}

bool ConnTable::service_word(ConnRef conn, std::uint32_t& out) const noexcept {
  return impl_->with_entry(conn, [&](Impl::Shard&, Entry& e) { out = e.service_word; });
}

bool ConnTable::remove(ConnRef conn) noexcept {
  return impl_->with_entry(conn, [&](Impl::Shard& s, Entry& e) { impl_->free_entry(s, e, s.removed); });
}

bool ConnTable::update_admission(ConnRef conn, const CtAdmission& admission) noexcept {
  return impl_->with_entry(conn, [&](Impl::Shard&, Entry& e) {
    e.rule_id = admission.rule_id;
    e.generation = admission.generation;
  });
}

std::size_t ConnTable::expire(std::uint64_t now_ns, std::size_t max_entries) noexcept {
  Impl& t = *impl_;
  std::size_t freed = 0;
  for (std::uint32_t i = 0; i < t.shard_count && freed < max_entries; ++i) {
    MaybeLocked guard(t.shards[i].lock, t.locking);
    freed += t.sweep(t.shards[i], now_ns, max_entries - freed);
  }
  return freed;
}

bool ConnTable::info(ConnRef conn, ConnInfo& out) const noexcept {
  Impl& t = *impl_;
  return t.with_entry(conn, [&](Impl::Shard&, Entry& e) {
    out.src = conntrack::store_address(e.key.src, e.key.family);
    out.dst = conntrack::store_address(e.key.dst, e.key.family);
    out.src_port = e.key.src_port;
    out.dst_port = e.key.dst_port;
    out.protocol = e.key.protocol;
    out.zone = e.key.zone;
    out.established = (e.list_index & 1) != 0;
    out.timeout_class = static_cast<std::uint8_t>(e.list_index / 2);
    out.last_seen_ns = e.last_seen_ns;
    out.expires_ns = e.last_seen_ns + t.timeout_ns[e.list_index / 2];
    out.admission = {.rule_id = e.rule_id, .generation = e.generation};
  });
}

Status ConnTable::set_zone_limit(std::uint16_t zone, std::uint32_t limit) {
  if (zone >= impl_->opt.zones)
    return invalid_argument("zone: " + std::to_string(zone) + " is not below zones (" +
                            std::to_string(impl_->opt.zones) + ")");
  impl_->zone_limit[zone].store(limit, std::memory_order_relaxed);
  return Status::Ok();
}

std::uint32_t ConnTable::zone_connections(std::uint16_t zone) const noexcept {
  if (zone >= impl_->opt.zones) return 0;
  return impl_->zone_count[zone].load(std::memory_order_relaxed);
}

ConnTableStats ConnTable::stats() const {
  const Impl& t = *impl_;
  ConnTableStats st;
  st.connections = t.total.load(std::memory_order_relaxed);
  st.half_open = t.half_open.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < t.shard_count; ++i) {
    const Impl::Shard& s = t.shards[i];
    st.created += s.created.get();
    st.expired += s.expired.get();
    st.evicted += s.evicted.get();
    st.removed += s.removed.get();
    st.refused_table_full += s.refused_table_full.get();
    st.refused_zone_limit += s.refused_zone_limit.get();
    st.refused_half_open += s.refused_half_open.get();
    for (std::size_t r = 0; r < kCtReasonCount; ++r) st.invalid[r] += s.invalid[r].get();
  }
  for (std::size_t r = 0; r < kCtReasonCount; ++r)
    st.invalid[r] += t.unlocked_invalid[r].load(std::memory_order_relaxed);
  st.fragments_tracked = t.fragments_tracked.load(std::memory_order_relaxed);
  st.fragment_datagrams_evicted = t.fragments->evicted();
  return st;
}

void ConnTable::clear() {
  Impl& t = *impl_;
  for (std::uint32_t i = 0; i < t.shard_count; ++i) {
    Impl::Shard& s = t.shards[i];
    MaybeLocked guard(s.lock, t.locking);
    SingleWriterCounter discarded;  // clear() is not counted as removal
    for (EntryList& list : s.lists)
      while (!list.empty()) t.free_entry(s, list.front(), discarded);
  }
  t.fragments->clear();
  // The bounded sweep after each lookup() starts again at shard 0, so a
  // cleared table decides a packet sequence as it did the first time
  // (fuzz_conntrack replays each input twice and compares).
  t.sweep_cursor.store(0, std::memory_order_relaxed);
}

std::size_t ConnTable::memory_bytes() const noexcept {
  const Impl& t = *impl_;
  return t.capacity * sizeof(Entry) + t.bucket_count * sizeof(BucketSet::bucket_type) +
         t.shard_count * sizeof(Impl::Shard) + std::size_t{t.opt.zones} * 2 * sizeof(std::uint32_t) +
         t.fragments->memory_bytes() + sizeof(Impl);
}

}  // namespace fw
