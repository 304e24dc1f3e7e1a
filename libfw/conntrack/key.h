// Internal: connection keys and their direction-symmetric hash.
//
// A key is one direction of a connection. The table stores the original
// direction's key once; a packet's key is compared as is (original) and
// reversed (reply). Both directions must land in the same bucket, so the
// hash is symmetric: each endpoint (address, port) gives a term on its own,
// the two terms are combined by symmetric functions, and zone, protocol and
// family are mixed in after.
//
// ICMP/ICMPv6 queries: a request from A to B with id I and request type T
// has key (A, B, I, T); a reply from B to A has (B, A, T, I), the reverse of
// the request's, so replies find their request's entry in the reply
// direction. T is always the request type (echo reply 0 maps to echo 8, ...).
//
// Thread-safety: values and pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "fw/address.h"

namespace fw::conntrack {

// 40 bytes.
struct ConnKey {
  std::uint64_t src[2];      // address bytes (IPv4: first 4, rest zero)
  std::uint64_t dst[2];
  std::uint16_t src_port;    // TCP/UDP ports; ICMP (id, request type) / (type, id)
  std::uint16_t dst_port;
  std::uint16_t zone;
  std::uint8_t protocol;
  std::uint8_t family;       // 4 or 6 (IpFamily)

  friend bool operator==(const ConnKey&, const ConnKey&) = default;

  ConnKey reversed() const noexcept {
    return ConnKey{{dst[0], dst[1]}, {src[0], src[1]}, dst_port, src_port, zone, protocol, family};
  }
};
static_assert(sizeof(ConnKey) == 40);

inline void load_address(const IpAddress& a, std::uint64_t out[2]) noexcept {
  std::memcpy(out, a.bytes.data(), 16);
}

inline IpAddress store_address(const std::uint64_t in[2], std::uint8_t family) noexcept {
  IpAddress a;
  a.family = static_cast<IpFamily>(family);
  std::memcpy(a.bytes.data(), in, 16);
  return a;
}

// The murmur3 64-bit finaliser: every input bit affects every output bit.
inline std::uint64_t mix64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// One endpoint's hash, mixed on its own: service insertion's flow hash
// (libfw/service/service.cc: the sum of both endpoints' with seed 0, the same
// value on every host and in every run). The table hashes
// with endpoint_term() below instead (one mix for the key, not one per
// endpoint).
inline std::uint64_t hash_endpoint(const std::uint64_t addr[2], std::uint16_t port,
                                   std::uint64_t seed) noexcept {
  // Independent multiplies, then one mix so that every bit depends on all.
  return mix64((addr[0] ^ seed) * 0x9e3779b97f4a7c15ULL + addr[1] * 0xc2b2ae3d27d4eb4fULL +
               port * 0x165667b19e3779f9ULL);
}

// The part of the hash that one endpoint (address, port) contributes: a
// bijection of each field (xor with the seed, times an odd constant), their
// sum, then one xorshift-multiply so that the two endpoints' terms are not
// linear in their inputs when they are added.
inline std::uint64_t endpoint_term(const std::uint64_t addr[2], std::uint16_t port,
                                   std::uint64_t seed) noexcept {
  std::uint64_t t = (addr[0] ^ seed) * 0x9e3779b97f4a7c15ULL + (addr[1] ^ (seed >> 17)) * 0xc2b2ae3d27d4eb4fULL +
                    (std::uint64_t{port} ^ (seed >> 41)) * 0x165667b19e3779f9ULL;
  t ^= t >> 29;
  return t * 0xbf58476d1ce4e5b9ULL;
}

// Same value for a key and its reverse: the endpoints' terms are added, zone,
// protocol and family mixed in, and one murmur3 finaliser mixes it all into
// every bit (the low bits pick the bucket, the high bits the shard). A
// change of any one field changes the value: every step is a bijection of
// it.
inline std::uint64_t symmetric_hash(const ConnKey& k, std::uint64_t seed) noexcept {
  const std::uint64_t ends = endpoint_term(k.src, k.src_port, seed) + endpoint_term(k.dst, k.dst_port, seed);
  const std::uint64_t meta = (std::uint64_t{k.zone} << 16) | (std::uint64_t{k.protocol} << 8) | k.family;
  return mix64(ends ^ (meta * 0x27d4eb2f165667c5ULL));
}

// Which direction of `k` the stored (original-direction) key `stored` is:
// kMatchOriginal if equal, kMatchReply if it is k reversed, else kNoMatch
// (a key equal to its own reverse matches as original). One pass over the
// stored key: the addresses as two 16-byte compares each way, then the last
// 8 bytes (ports, zone, protocol, family) against k's and against k's with
// the two ports swapped.
inline constexpr int kNoMatch = 0, kMatchOriginal = 1, kMatchReply = 2;
inline int match(const ConnKey& stored, const ConnKey& k) noexcept {
  if constexpr (std::endian::native != std::endian::little) {
    if (stored == k) return kMatchOriginal;
    return stored == k.reversed() ? kMatchReply : kNoMatch;
  } else {
    static_assert(offsetof(ConnKey, src_port) == 32 && offsetof(ConnKey, dst_port) == 34);
    std::uint64_t stored_tail, tail;
    std::memcpy(&stored_tail, &stored.src_port, 8);
    std::memcpy(&tail, &k.src_port, 8);
    // Little-endian: src_port is bits 0-15, dst_port bits 16-31.
    const std::uint64_t reply_tail =
        (tail & ~std::uint64_t{0xffffffff}) | std::rotl(static_cast<std::uint32_t>(tail), 16);
#if defined(__SSE2__)
    const __m128i ss = _mm_loadu_si128(reinterpret_cast<const __m128i*>(stored.src));
    const __m128i sd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(stored.dst));
    const __m128i ks = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k.src));
    const __m128i kd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k.dst));
    if (stored_tail == tail &&
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(ss, ks), _mm_cmpeq_epi8(sd, kd))) == 0xffff)
      return kMatchOriginal;
    if (stored_tail == reply_tail &&
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(ss, kd), _mm_cmpeq_epi8(sd, ks))) == 0xffff)
      return kMatchReply;
    return kNoMatch;
#else
    if (stored_tail == tail && ((stored.src[0] ^ k.src[0]) | (stored.src[1] ^ k.src[1]) |
                                (stored.dst[0] ^ k.dst[0]) | (stored.dst[1] ^ k.dst[1])) == 0)
      return kMatchOriginal;
    if (stored_tail == reply_tail && ((stored.src[0] ^ k.dst[0]) | (stored.src[1] ^ k.dst[1]) |
                                      (stored.dst[0] ^ k.src[0]) | (stored.dst[1] ^ k.src[1])) == 0)
      return kMatchReply;
    return kNoMatch;
#endif
  }
}

// ICMP/ICMPv6 query types: the request type of a query message, and whether
// it is the request or the reply. False for messages that are not queries.
struct IcmpQuery {
  std::uint8_t request_type;
  bool is_reply;
};
inline bool icmp_query(bool v6, std::uint8_t type, IcmpQuery& out) noexcept {
  if (v6) {
    if (type == 128) { out = {128, false}; return true; }  // echo request
    if (type == 129) { out = {128, true}; return true; }   // echo reply
    return false;
  }
  switch (type) {
    case 8: out = {8, false}; return true;    // echo
    case 0: out = {8, true}; return true;     // echo reply
    case 13: out = {13, false}; return true;  // timestamp
    case 14: out = {13, true}; return true;
    case 15: out = {15, false}; return true;  // information
    case 16: out = {15, true}; return true;
    case 17: out = {17, false}; return true;  // address mask
    case 18: out = {17, true}; return true;
    default: return false;
  }
}

}  // namespace fw::conntrack
