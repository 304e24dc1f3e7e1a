// Internal: one connection of the table, and the containers that hold it.
//
// 112 bytes, so that an entry and its share of the bucket array (two 8-byte
// buckets per entry at full capacity: a load of at most one half) make 128
// bytes a connection. The fields a lookup touches (bucket link, key) are in
// the first 56 bytes.
//
//   offset size  field
//        0    8  bucket_hook    Boost.Intrusive unordered_set link (next in bucket)
//        8    8  list_node      expiry list link (or free list when unused): two
//                               32-bit self-relative offsets (CompactListNode)
//       16   40  key            original direction (ConnKey: addresses 32, ports 4,
//                               zone 2, protocol 1, family 1)
//       56   24  l4             the protocol tracker's state (tracker.h L4State)
//       80    8  last_seen_ns   caller's clock at the last accepted packet
//       88    8  generation     policy generation that admitted the connection
//       96    4  rule_id        rule that admitted it
//      100    4  service_word   service insertion's per-connection word (fw/service.h)
//      104    4  incarnation    +1 each time the slot is freed: stale ConnRefs fail
//      108    1  list_index     expiry list = timeout class * 2 + established
//      109    1  flags          kInUse, kHalfOpen, kReplySeen
//      110    1  shard          shard whose lock guards the entry (atomic: read
//                               before that lock is known, see ConnTable::info)
//      111    1  (padding)
//
// Guarded by the shard lock: every field but `shard`, which changes only
// while the entry is free and moves to another shard's free list (under
// both shards' locks).
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/unordered_set.hpp>

#include "libfw/conntrack/key.h"
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {

namespace bi = boost::intrusive;
using BucketHook = bi::unordered_set_member_hook<bi::link_mode<bi::normal_link>>;

// A doubly linked list node in 8 bytes instead of Boost.Intrusive's two
// pointers: the distances to the next and the previous node in units of 8
// bytes, relative to this node. Every node of a table (its entries' nodes
// and its lists' heads) lives in one allocation (table.cc), at most
// kMaxCompactSpan bytes long, so the distances fit in 32 bits.
// 8-byte aligned wherever it is (an entry's link or a list's head), so that
// every distance is a whole number of units.
struct alignas(8) CompactListNode {
  std::int32_t next;
  std::int32_t prev;
};
static_assert(alignof(CompactListNode) == 8 && sizeof(CompactListNode) == 8);
inline constexpr std::uint64_t kMaxCompactSpan = std::uint64_t{1} << 34;  // 16 GiB: 2^31 * 8 bytes

struct CompactListNodeTraits {
  using node = CompactListNode;
  using node_ptr = node*;
  using const_node_ptr = const node*;
  // A null link (Boost.Intrusive may store one, e.g. when it marks a node
  // unlinked) is kNull; every other value is a distance.
  static constexpr std::int32_t kNull = INT32_MIN;
  static node_ptr at(const_node_ptr n, std::int32_t units) noexcept {
    if (units == kNull) return nullptr;
    return reinterpret_cast<node_ptr>(reinterpret_cast<std::intptr_t>(n) + std::intptr_t{units} * 8);
  }
  static std::int32_t units(const_node_ptr from, const_node_ptr to) noexcept {
    if (to == nullptr) return kNull;
    assert((reinterpret_cast<std::intptr_t>(to) - reinterpret_cast<std::intptr_t>(from)) % 8 == 0);
    return static_cast<std::int32_t>((reinterpret_cast<std::intptr_t>(to) - reinterpret_cast<std::intptr_t>(from)) / 8);
  }
  static node_ptr get_next(const_node_ptr n) noexcept { return at(n, n->next); }
  static void set_next(node_ptr n, node_ptr next) noexcept { n->next = units(n, next); }
  static node_ptr get_previous(const_node_ptr n) noexcept { return at(n, n->prev); }
  static void set_previous(node_ptr n, node_ptr prev) noexcept { n->prev = units(n, prev); }
};

inline constexpr std::uint8_t kEntryInUse = 0x01;
inline constexpr std::uint8_t kEntryHalfOpen = 0x02;  // counted in the half-open total
// A packet of the reply direction was accepted: ct_state "est" from then on
// (OVS and netfilter: established = reply seen, for every protocol, so a
// TCP SYN+ACK is already est|rpl; the tracker's established() - for TCP the
// completed handshake - decides eviction and the half-open count).
inline constexpr std::uint8_t kEntryReplySeen = 0x04;

// Expiry lists per shard: one per (timeout class, established). Every entry
// of a list has the same timeout, so the list in refresh order is also in
// expiry order: the head expires first, and eviction of "not established,
// oldest first" compares only the heads of the even lists.
inline constexpr std::size_t kListCount = kTimeoutClassCount * 2;
inline constexpr std::uint8_t list_index(TimeoutClass c, bool established) noexcept {
  return static_cast<std::uint8_t>(static_cast<std::size_t>(c) * 2 + (established ? 1 : 0));
}

struct Entry {
  BucketHook bucket_hook;
  CompactListNode list_node;
  ConnKey key;
  L4State l4;
  std::uint64_t last_seen_ns;
  std::uint64_t generation;
  std::uint32_t rule_id;
  std::uint32_t service_word;  // ConnTable::exchange_service_word
  std::uint32_t incarnation;
  std::uint8_t list_index;
  std::uint8_t flags;
  std::atomic<std::uint8_t> shard;
  std::uint8_t padding;
};
static_assert(sizeof(BucketHook) == 8 && sizeof(CompactListNode) == 8, "link sizes in the layout");
static_assert(sizeof(Entry) <= 128, "a connection entry is at most 128 bytes");
static_assert(sizeof(Entry) == 112, "layout above: update the comment and the docs");

struct EntryHashFromKey {
  std::uint64_t seed = 0;
  std::size_t operator()(const Entry& e) const noexcept {
    return static_cast<std::uint32_t>(symmetric_hash(e.key, seed));
  }
};
struct EntryKeyEqual {
  bool operator()(const Entry& a, const Entry& b) const noexcept { return a.key == b.key; }
};

using BucketSet =
    bi::unordered_set<Entry, bi::member_hook<Entry, BucketHook, &Entry::bucket_hook>,
                      bi::hash<EntryHashFromKey>, bi::equal<EntryKeyEqual>,
                      bi::power_2_buckets<true>, bi::constant_time_size<false>>;
// The Boost.Intrusive value traits of an entry on a CompactListNode list.
struct EntryListTraits {
  using node_traits = CompactListNodeTraits;
  using node_ptr = node_traits::node_ptr;
  using const_node_ptr = node_traits::const_node_ptr;
  using value_type = Entry;
  using pointer = Entry*;
  using const_pointer = const Entry*;
  static const bi::link_mode_type link_mode = bi::normal_link;
  static node_ptr to_node_ptr(Entry& e) noexcept { return &e.list_node; }
  static const_node_ptr to_node_ptr(const Entry& e) noexcept { return &e.list_node; }
  static pointer to_value_ptr(node_ptr n) noexcept {
    return reinterpret_cast<Entry*>(reinterpret_cast<char*>(n) - offsetof(Entry, list_node));
  }
  static const_pointer to_value_ptr(const_node_ptr n) noexcept {
    return reinterpret_cast<const Entry*>(reinterpret_cast<const char*>(n) - offsetof(Entry, list_node));
  }
};
using EntryList = bi::list<Entry, bi::value_traits<EntryListTraits>, bi::constant_time_size<false>>;

}  // namespace fw::conntrack
