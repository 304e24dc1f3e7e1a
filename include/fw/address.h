// fw/address.h — MAC and IP address value types shared by the whole API.
//
// Thread-safety: plain values; the free functions are pure and reentrant.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fw/status.h"

namespace fw {

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};

  // The 48 address bits in the low bits of a u64, first byte most significant.
  constexpr std::uint64_t to_u64() const noexcept {
    std::uint64_t v = 0;
    for (std::uint8_t b : bytes) v = (v << 8) | b;
    return v;
  }
  static constexpr MacAddress from_u64(std::uint64_t v) noexcept {
    MacAddress m;
    for (int i = 5; i >= 0; --i) { m.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v); v >>= 8; }
    return m;
  }
  constexpr bool is_multicast() const noexcept { return (bytes[0] & 1u) != 0; }
  constexpr bool is_broadcast() const noexcept { return to_u64() == 0xffffffffffffULL; }
  std::string to_string() const;  // "02:00:00:00:00:01"
  friend constexpr auto operator<=>(const MacAddress&, const MacAddress&) = default;
};

// Accepts "aa:bb:cc:dd:ee:ff" and "aa-bb-cc-dd-ee-ff" (hex, either case).
StatusOr<MacAddress> parse_mac(std::string_view text);

enum class IpFamily : std::uint8_t { kNone = 0, kIpv4 = 4, kIpv6 = 6 };

// An IPv4 or IPv6 address. IPv4 occupies bytes[0..3] in network order and the
// rest is zero, so an IPv4 address never equals an IPv6 one (family differs).
struct IpAddress {
  IpFamily family = IpFamily::kNone;
  alignas(8) std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint32_t host_order) noexcept {
    IpAddress a;
    a.set_v4(host_order);
    return a;
  }
  // In place (cheaper than `x = IpAddress::v4(...)` in a loop, which
  // compilers tend to build in a stack temporary and copy back with a wide
  // load of narrow stores).
  // Writes all 16 bytes; on a little-endian host as two 8-byte stores (the
  // address in network order zero-extended, then zeros), which compilers
  // do not make of a 16-byte array assignment.
  void set_v4(std::uint32_t host_order) noexcept {
    family = IpFamily::kIpv4;
    if constexpr (std::endian::native == std::endian::little) {
      const std::uint64_t low = __builtin_bswap32(host_order);
      const std::uint64_t high = 0;
      std::memcpy(bytes.data(), &low, 8);
      std::memcpy(bytes.data() + 8, &high, 8);
    } else {
      bytes = {static_cast<std::uint8_t>(host_order >> 24), static_cast<std::uint8_t>(host_order >> 16),
               static_cast<std::uint8_t>(host_order >> 8), static_cast<std::uint8_t>(host_order)};
    }
  }
  static IpAddress v6(const std::uint8_t network_order[16]) noexcept;
  // Only meaningful for kIpv4. Inline: the classifier calls it per packet.
  std::uint32_t v4_host_order() const noexcept {
    return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
           (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
  }
  bool is_v4() const noexcept { return family == IpFamily::kIpv4; }
  bool is_v6() const noexcept { return family == IpFamily::kIpv6; }
  std::string to_string() const;  // "10.0.0.1", "2001:db8::1", "-" for kNone
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

StatusOr<IpAddress> parse_ip(std::string_view text);

}  // namespace fw
