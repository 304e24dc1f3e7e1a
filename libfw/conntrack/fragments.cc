// The fragment table (fragments.h).
#include "libfw/conntrack/fragments.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "libfw/conntrack/key.h"

namespace fw::conntrack {

struct FragmentTable::Record {
  FragKey key;
  std::uint64_t touched_ns = 0;
  FragDecision decision;
  std::uint32_t piece_begin[kMaxFragmentPieces];
  std::uint32_t piece_end[kMaxFragmentPieces];
  std::uint32_t datagram_end = 0;  // valid if last_seen
  std::uint8_t pieces = 0;
  bool last_seen = false;
  // Every byte seen: nothing more to decide. The record stays (and peek()
  // finds it) until its slot is needed; first()/follow() treat it as gone.
  bool complete = false;
  CtReason poison = CtReason::kNone;  // why the datagram is being dropped
};

struct FragmentTable::Stripe {
  SpinLock lock;
  Record* records = nullptr;
  std::uint32_t* hashes = nullptr;  // 0 = free slot (a real hash of 0 is stored as 1)
  std::atomic<std::uint64_t> evicted{0};
};

FragKey frag_key(const PacketView& p, std::uint16_t zone) noexcept {
  FragKey k;
  load_address(p.src_ip, k.src);
  load_address(p.dst_ip, k.dst);
  k.id = p.fragment_id;
  k.zone = zone;
  k.protocol = p.protocol;
  k.family = static_cast<std::uint8_t>(p.src_ip.family);
  return k;
}

std::uint32_t frag_hash(const FragKey& k) noexcept {
  const std::uint64_t h = mix64(k.src[0] * 0x9e3779b97f4a7c15ULL + k.src[1] * 0xc2b2ae3d27d4eb4fULL +
                                k.dst[0] * 0x165667b19e3779f9ULL + k.dst[1] * 0x27d4eb2f165667c5ULL +
                                ((std::uint64_t{k.id} << 32) | (std::uint64_t{k.zone} << 16) |
                                 (std::uint64_t{k.protocol} << 8) | k.family));
  const auto h32 = static_cast<std::uint32_t>(h ^ (h >> 32));
  return h32 == 0 ? 1 : h32;
}

FragRange frag_range(const PacketView& p) noexcept {
  FragRange r;
  r.more_fragments = p.more_fragments;
  if (p.has_l4) {
    // The first fragment: its fragmentable part starts at the L4 header (for
    // IPv6 this leaves out extension headers after the fragment header, so
    // the range may be a few bytes short: overlaps are still never invented).
    r.begin = 0;
    r.end = static_cast<std::uint32_t>(p.l3_offset) + p.l3_length - p.l4_offset;
  } else {
    r.begin = p.fragment_offset;
    r.end = std::uint32_t{p.fragment_offset} + p.payload_length;
  }
  return r;
}

FragmentTable::FragmentTable(std::uint32_t capacity, std::uint64_t timeout_ns,
                             std::uint32_t max_datagram, bool locking)
    : timeout_ns_(timeout_ns), max_datagram_(max_datagram), locking_(locking) {
  capacity = std::max<std::uint32_t>(capacity, 1);
  stripe_count_ = std::min<std::uint32_t>(16, capacity);
  per_stripe_ = (capacity + stripe_count_ - 1) / stripe_count_;
  stripes_ = std::make_unique<Stripe[]>(stripe_count_);
  records_ = std::make_unique<Record[]>(std::size_t{stripe_count_} * per_stripe_);
  hashes_storage_ = std::make_unique<std::uint32_t[]>(std::size_t{stripe_count_} * per_stripe_);
  for (std::uint32_t i = 0; i < stripe_count_; ++i) {
    stripes_[i].records = &records_[std::size_t{i} * per_stripe_];
    stripes_[i].hashes = &hashes_storage_[std::size_t{i} * per_stripe_];
  }
}

FragmentTable::~FragmentTable() = default;

FragmentTable::Stripe& FragmentTable::stripe_of(std::uint32_t hash) noexcept {
  return stripes_[(hash >> 16) % stripe_count_];
}

FragmentTable::Record* FragmentTable::find(Stripe& s, const FragKey& key, std::uint32_t hash,
                                           std::uint64_t now_ns) noexcept {
  for (std::uint32_t i = 0; i < per_stripe_; ++i) {
    if (s.hashes[i] != hash || !(s.records[i].key == key)) continue;
    Record& r = s.records[i];
    if (r.complete) continue;
    if (now_ns > r.touched_ns && now_ns - r.touched_ns >= timeout_ns_) {
      s.hashes[i] = 0;  // timed out: as if never seen
      return nullptr;
    }
    return &r;
  }
  return nullptr;
}

FragmentTable::Record* FragmentTable::insert(Stripe& s, const FragKey& key, std::uint32_t hash,
                                             std::uint64_t now_ns) noexcept {
  std::uint32_t slot = per_stripe_;
  std::uint32_t oldest = 0;
  for (std::uint32_t i = 0; i < per_stripe_; ++i) {
    if (s.hashes[i] == 0 || s.records[i].complete ||
        (now_ns > s.records[i].touched_ns && now_ns - s.records[i].touched_ns >= timeout_ns_)) {
      slot = i;
      break;
    }
    if (s.records[i].touched_ns < s.records[oldest].touched_ns) oldest = i;
  }
  if (slot == per_stripe_) {  // full: the datagram waiting longest gives way
    slot = oldest;
    s.evicted.store(s.evicted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  Record& r = s.records[slot];
  r = Record{};
  r.key = key;
  r.touched_ns = now_ns;
  s.hashes[slot] = hash;
  return &r;
}

CtReason FragmentTable::add(Stripe& s, Record& r, const FragRange& range,
                            std::uint64_t now_ns) noexcept {
  r.touched_ns = std::max(r.touched_ns, now_ns);
  if (r.poison != CtReason::kNone) return r.poison;
  auto poison = [&](CtReason why) {
    r.poison = why;
    return why;
  };
  if (range.end > max_datagram_ || range.end <= range.begin) return poison(CtReason::kFragmentOversize);
  if (r.last_seen && range.end > r.datagram_end) return poison(CtReason::kFragmentOversize);
  if (!range.more_fragments) {
    for (std::uint8_t i = 0; i < r.pieces; ++i)
      if (r.piece_end[i] > range.end) return poison(CtReason::kFragmentOversize);
    if (r.last_seen && range.end != r.datagram_end) return poison(CtReason::kFragmentOversize);
  }
  // Pieces are kept sorted and disjoint; adjacent ones are merged.
  std::uint8_t at = 0;
  while (at < r.pieces && r.piece_end[at] <= range.begin) ++at;
  if (at < r.pieces && r.piece_begin[at] < range.end) return poison(CtReason::kFragmentOverlap);
  const bool joins_left = at > 0 && r.piece_end[at - 1] == range.begin;
  const bool joins_right = at < r.pieces && r.piece_begin[at] == range.end;
  if (joins_left && joins_right) {
    r.piece_end[at - 1] = r.piece_end[at];
    for (std::uint8_t i = at; i + 1 < r.pieces; ++i) {
      r.piece_begin[i] = r.piece_begin[i + 1];
      r.piece_end[i] = r.piece_end[i + 1];
    }
    --r.pieces;
  } else if (joins_left) {
    r.piece_end[at - 1] = range.end;
  } else if (joins_right) {
    r.piece_begin[at] = range.begin;
  } else {
    if (r.pieces == kMaxFragmentPieces) return poison(CtReason::kFragmentTooManyPieces);
    for (std::uint8_t i = r.pieces; i > at; --i) {
      r.piece_begin[i] = r.piece_begin[i - 1];
      r.piece_end[i] = r.piece_end[i - 1];
    }
    r.piece_begin[at] = range.begin;
    r.piece_end[at] = range.end;
    ++r.pieces;
  }
  if (!range.more_fragments) {
    r.last_seen = true;
    r.datagram_end = range.end;
  }
  return CtReason::kNone;
}

namespace {
bool complete(const std::uint8_t pieces, const std::uint32_t* begin, const std::uint32_t* end,
              bool last_seen, std::uint32_t datagram_end) {
  return last_seen && pieces == 1 && begin[0] == 0 && end[0] == datagram_end;
}
}  // namespace

CtReason FragmentTable::first(const FragKey& key, const FragRange& range,
                              const FragDecision& decision, std::uint64_t now_ns) noexcept {
  const std::uint32_t hash = frag_hash(key);
  Stripe& s = stripe_of(hash);
  MaybeLocked guard(s.lock, locking_);
  Record* r = find(s, key, hash, now_ns);
  if (r == nullptr) r = insert(s, key, hash, now_ns);
  const CtReason why = add(s, *r, range, now_ns);
  if (why != CtReason::kNone) return why;
  r->decision = decision;
  return CtReason::kNone;
}

void FragmentTable::admit(const FragKey& key, const FragDecision& decision) noexcept {
  const std::uint32_t hash = frag_hash(key);
  Stripe& s = stripe_of(hash);
  MaybeLocked guard(s.lock, locking_);
  for (std::uint32_t i = 0; i < per_stripe_; ++i) {
    if (s.hashes[i] == hash && s.records[i].key == key && !s.records[i].complete &&
        s.records[i].poison == CtReason::kNone) {
      s.records[i].decision = decision;
      return;
    }
  }
}

CtReason FragmentTable::follow(const FragKey& key, const FragRange& range, std::uint64_t now_ns,
                               FragDecision& out) noexcept {
  const std::uint32_t hash = frag_hash(key);
  Stripe& s = stripe_of(hash);
  MaybeLocked guard(s.lock, locking_);
  Record* r = find(s, key, hash, now_ns);
  // The first fragment is the one that creates the record: without it the
  // fragment's connection is unknown.
  if (r == nullptr) return CtReason::kFragmentBeforeFirst;
  if (r->poison != CtReason::kNone) return r->poison;
  // The first fragment may open a connection that is not committed yet (a
  // lookup of the same burst): not admitted for now, and nothing recorded,
  // so that the look-up the DFW repeats after create() finds the fragment
  // new rather than overlapping itself.
  if (r->decision.outcome == CtOutcome::kNew && !r->decision.conn.valid()) return CtReason::kFragmentNotAdmitted;
  const CtReason why = add(s, *r, range, now_ns);
  if (why != CtReason::kNone) return why;
  out = r->decision;
  if (complete(r->pieces, r->piece_begin, r->piece_end, r->last_seen, r->datagram_end))
    r->complete = true;  // every byte seen: nothing more to decide
  return CtReason::kNone;
}

bool FragmentTable::peek(const FragKey& key, FragDecision& out) noexcept {
  const std::uint32_t hash = frag_hash(key);
  Stripe& s = stripe_of(hash);
  MaybeLocked guard(s.lock, locking_);
  for (std::uint32_t i = 0; i < per_stripe_; ++i) {
    if (s.hashes[i] != hash || !(s.records[i].key == key) || s.records[i].poison != CtReason::kNone) continue;
    out = s.records[i].decision;
    return true;
  }
  return false;
}

void FragmentTable::clear() noexcept {
  for (std::uint32_t i = 0; i < stripe_count_; ++i) {
    MaybeLocked guard(stripes_[i].lock, locking_);
    std::fill_n(stripes_[i].hashes, per_stripe_, 0u);
  }
}

std::uint64_t FragmentTable::evicted() const noexcept {
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < stripe_count_; ++i)
    n += stripes_[i].evicted.load(std::memory_order_relaxed);
  return n;
}

std::size_t FragmentTable::memory_bytes() const noexcept {
  const std::size_t records = std::size_t{stripe_count_} * per_stripe_;
  return stripe_count_ * sizeof(Stripe) + records * (sizeof(Record) + sizeof(std::uint32_t));
}

}  // namespace fw::conntrack
