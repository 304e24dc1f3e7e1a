// Internal: one connection of the table, and the containers that hold it.
//
// 120 bytes, so that an entry and its share of the bucket array (one 8-byte
// bucket per entry at full capacity) make 128 bytes a connection. The
// fields a lookup touches (bucket link, key) are in the first 64 bytes.
//
//   offset size  field
//        0    8  bucket_hook    Boost.Intrusive unordered_set link (next in bucket)
//        8   16  list_hook      expiry list link (or free list when unused)
//       24   40  key            original direction (ConnKey: addresses 32, ports 4,
//                               zone 2, protocol 1, family 1)
//       64   24  l4             the protocol tracker's state (tracker.h L4State)
//       88    8  last_seen_ns   caller's clock at the last accepted packet
//       96    8  generation     policy generation that admitted the connection
//      104    4  rule_id        rule that admitted it
//      108    4  service_word   service insertion's per-connection word (fw/service.h)
//      112    4  incarnation    +1 each time the slot is freed: stale ConnRefs fail
//      116    1  list_index     expiry list = timeout class * 2 + established
//      117    1  flags          kInUse, kHalfOpen, kReplySeen
//      118    1  shard          shard whose lock guards the entry (atomic: read
//                               before that lock is known, see ConnTable::info)
//      119    1  (padding)
//
// Guarded by the shard lock: every field but `shard`, which changes only
// while the entry is free and moves to another shard's free list (under
// both shards' locks).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/unordered_set.hpp>

#include "libfw/conntrack/key.h"
#include "libfw/conntrack/tracker.h"

namespace fw::conntrack {

namespace bi = boost::intrusive;
using BucketHook = bi::unordered_set_member_hook<bi::link_mode<bi::normal_link>>;
using ListHook = bi::list_member_hook<bi::link_mode<bi::normal_link>>;

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
  ListHook list_hook;
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
static_assert(sizeof(BucketHook) == 8 && sizeof(ListHook) == 16, "hook sizes in the layout");
static_assert(sizeof(Entry) <= 128, "a connection entry is at most 128 bytes");
static_assert(sizeof(Entry) == 120, "layout above: update the comment and the docs");

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
using EntryList = bi::list<Entry, bi::member_hook<Entry, ListHook, &Entry::list_hook>,
                           bi::constant_time_size<false>>;

}  // namespace fw::conntrack
