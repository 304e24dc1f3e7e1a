// Internal: the fragment table, which decides non-first fragments like
// their first fragment.
//
// A record per datagram in flight, keyed by (family, zone, source,
// destination, protocol, IP id). The first fragment (offset 0, carrying the
// L4 header) is looked up in the connection table as any packet; its
// decision (the connection, direction, ct_state, outcome) is stored here,
// and create() attaches the connection it commits. A later fragment copies
// that decision; it never sees ports of its own.
//
// Each record keeps the byte ranges received (merged when adjacent, at most
// kMaxFragmentPieces disjoint pieces) and the datagram's end once the last
// fragment (MF clear) is seen. A fragment that overlaps data already
// received, or ends past max_datagram_bytes or the datagram's end, is
// dropped and poisons its datagram: every later fragment of it is dropped
// too (RFC 5722; Linux drops the whole queue on overlap since 4.19). A
// record is done when the datagram is complete (its slot is then the first
// to be reused; peek() still finds it until then), after `timeout` without a
// fragment, or when its stripe is full and a new datagram needs room
// (oldest first, counted).
//
// Bounds: `capacity` records in `stripes` stripes of capacity/stripes each
// (rounded up), about 160 bytes a record. A non-first fragment that arrives
// before its first fragment finds no record and is dropped
// (kFragmentBeforeFirst): libfw holds no packets, so it cannot wait for the
// first; the receiver's reassembly then fails and the sender's upper layer
// retransmits.
//
// Thread-safety: one spinlock per stripe (skipped when `locking` is false);
// any thread may call any method.
#pragma once

#include <cstdint>
#include <memory>

#include "fw/conntrack.h"
#include "libfw/conntrack/spinlock.h"

namespace fw::conntrack {

struct FragKey {
  std::uint64_t src[2];
  std::uint64_t dst[2];
  std::uint32_t id;
  std::uint16_t zone;
  std::uint8_t protocol;
  std::uint8_t family;
  friend bool operator==(const FragKey&, const FragKey&) = default;
};

FragKey frag_key(const PacketView& packet, std::uint16_t zone) noexcept;
std::uint32_t frag_hash(const FragKey& key) noexcept;

// The decision of a first fragment, copied to the rest of its datagram.
struct FragDecision {
  ConnRef conn;
  CtOutcome outcome = CtOutcome::kInvalid;
  CtDirection direction = CtDirection::kOriginal;
  std::uint8_t ct_state = 0;
};

// Where a fragment's bytes sit in its datagram's fragmentable part.
struct FragRange {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool more_fragments = false;
};
FragRange frag_range(const PacketView& packet) noexcept;

class FragmentTable {
 public:
  FragmentTable(std::uint32_t capacity, std::uint64_t timeout_ns, std::uint32_t max_datagram,
                bool locking);
  ~FragmentTable();

  // A first fragment: records its range and decision. kNone, or why it must
  // be dropped (overlap, oversize, too many pieces).
  CtReason first(const FragKey& key, const FragRange& range, const FragDecision& decision,
                 std::uint64_t now_ns) noexcept;
  // create() committed a connection for the first fragment of `key`.
  void admit(const FragKey& key, const FragDecision& decision) noexcept;
  // A non-first fragment: kNone and the first fragment's decision in `out`,
  // or why it must be dropped.
  CtReason follow(const FragKey& key, const FragRange& range, std::uint64_t now_ns,
                  FragDecision& out) noexcept;

  // The decision recorded for `key`'s datagram (a completed one too, until
  // its record is reused), without adding a fragment; false when none. For
  // ConnTable::peek().
  bool peek(const FragKey& key, FragDecision& out) noexcept;

  void clear() noexcept;
  std::uint64_t evicted() const noexcept;
  std::size_t memory_bytes() const noexcept;

 private:
  struct Record;
  struct Stripe;
  Record* find(Stripe& s, const FragKey& key, std::uint32_t hash, std::uint64_t now_ns) noexcept;
  Record* insert(Stripe& s, const FragKey& key, std::uint32_t hash, std::uint64_t now_ns) noexcept;
  CtReason add(Stripe& s, Record& r, const FragRange& range, std::uint64_t now_ns) noexcept;
  Stripe& stripe_of(std::uint32_t hash) noexcept;

  std::uint32_t stripe_count_ = 0;
  std::uint32_t per_stripe_ = 0;
  std::uint64_t timeout_ns_ = 0;
  std::uint32_t max_datagram_ = 0;
  bool locking_ = true;
  std::unique_ptr<Stripe[]> stripes_;
  std::unique_ptr<Record[]> records_;
  std::unique_ptr<std::uint32_t[]> hashes_storage_;
};

}  // namespace fw::conntrack
