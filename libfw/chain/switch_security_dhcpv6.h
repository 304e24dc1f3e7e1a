// libfw/chain/switch_security_dhcpv6.h — internal: the DHCPv6 (RFC 8415)
// message reader switch security snoops with (docs/switch-security.md).
//
// It reads what slot 1 needs from a client/server message (not a relay
// message): the type, the client's link-layer address when its DUID carries
// one, the top-level status, and the addresses of the IA_NA / IA_TA options
// with their valid lifetimes. Bounds-checked throughout, no allocation, no
// recursion (the nesting it reads is fixed: message -> IA -> IAADDR ->
// status code); a malformed message is refused whole (nothing learned from
// it). Fuzzed by tests/fuzz/fuzz_packet.cc on every UDP payload to or from
// ports 546/547.
//
// Thread-safety: a pure function of its input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fw/address.h"

namespace fw::switch_security_internal {

inline constexpr std::uint16_t kDhcpv6ClientPort = 546;
inline constexpr std::uint16_t kDhcpv6ServerPort = 547;

// Message types (RFC 8415 section 7.3) slot 1 acts on.
inline constexpr std::uint8_t kDhcpv6Advertise = 2;
inline constexpr std::uint8_t kDhcpv6Reply = 7;
inline constexpr std::uint8_t kDhcpv6Release = 8;
inline constexpr std::uint8_t kDhcpv6Decline = 9;
inline constexpr std::uint8_t kDhcpv6Reconfigure = 10;
inline constexpr std::uint8_t kDhcpv6RelayForward = 12;
inline constexpr std::uint8_t kDhcpv6RelayReply = 13;

// Option codes read.
inline constexpr std::uint16_t kDhcpv6OptionClientId = 1;
inline constexpr std::uint16_t kDhcpv6OptionIaNa = 3;
inline constexpr std::uint16_t kDhcpv6OptionIaTa = 4;
inline constexpr std::uint16_t kDhcpv6OptionIaAddr = 5;
inline constexpr std::uint16_t kDhcpv6OptionStatusCode = 13;

// Addresses kept per message; more are counted in leases_dropped.
inline constexpr std::size_t kMaxDhcpv6Leases = 16;

enum class Dhcpv6Result : std::uint8_t {
  kOk = 0,
  kTruncatedHeader,  // shorter than the 4-byte header
  kRelayMessage,     // RELAY-FORW / RELAY-REPL: not read
  kTruncatedOption,  // an option's length runs past its container
  kBadOption,        // an IA, IAADDR or status code shorter than its fixed part
};

struct Dhcpv6Lease {
  IpAddress address;
  std::uint32_t valid_lifetime = 0;  // seconds; 0xffffffff = infinite
};

struct Dhcpv6Message {
  std::uint8_t type = 0;
  std::uint32_t transaction_id = 0;
  // The Client Identifier's DUID is a DUID-LLT or DUID-LL of hardware type
  // 1 (Ethernet) with a 6-byte address: that address (the first such
  // option counts).
  bool has_client_link_address = false;
  MacAddress client_link_address;
  // The message-level Status Code option (0, Success, when absent).
  std::uint16_t status = 0;
  // IAADDRs of IA_NA and IA_TA options, in message order, leaving out those
  // of an IA whose Status Code is not Success and those whose own Status
  // Code is not Success.
  std::size_t lease_count = 0;
  std::size_t leases_dropped = 0;  // beyond kMaxDhcpv6Leases
  std::array<Dhcpv6Lease, kMaxDhcpv6Leases> leases{};
};

// Reads `payload` (the UDP payload). `out` is reset first; on an error it
// holds what was read before the error and must not be acted on.
Dhcpv6Result parse_dhcpv6(std::span<const std::uint8_t> payload, Dhcpv6Message& out) noexcept;

}  // namespace fw::switch_security_internal
