// Internal: connection keys and their direction-symmetric hash.
//
// A key is one direction of a connection. The table stores the original
// direction's key once; a packet's key is compared as is (original) and
// reversed (reply). Both directions must land in the same bucket, so the
// hash is symmetric: each endpoint (address, port) is hashed on its own and
// the two are added before the final mix; zone, protocol and family are
// mixed in after.
//
// ICMP/ICMPv6 queries: a request from A to B with id I and request type T
// has key (A, B, I, T); a reply from B to A has (B, A, T, I), the reverse of
// the request's, so replies find their request's entry in the reply
// direction. T is always the request type (echo reply 0 maps to echo 8, ...).
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <cstring>

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

inline std::uint64_t hash_endpoint(const std::uint64_t addr[2], std::uint16_t port,
                                   std::uint64_t seed) noexcept {
  // Independent multiplies (they pipeline across a burst), then one mix so
  // that both the low bits (bucket) and the high bits (shard) depend on all.
  return mix64((addr[0] ^ seed) * 0x9e3779b97f4a7c15ULL + addr[1] * 0xc2b2ae3d27d4eb4fULL +
               port * 0x165667b19e3779f9ULL);
}

// Same value for a key and its reverse.
inline std::uint64_t symmetric_hash(const ConnKey& k, std::uint64_t seed) noexcept {
  const std::uint64_t ends = hash_endpoint(k.src, k.src_port, seed) +
                             hash_endpoint(k.dst, k.dst_port, seed);
  const std::uint64_t meta = (std::uint64_t{k.zone} << 16) | (std::uint64_t{k.protocol} << 8) | k.family;
  return mix64(ends ^ (meta * 0x27d4eb2f165667c5ULL));
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
