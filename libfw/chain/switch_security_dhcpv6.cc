// DHCPv6 reader for switch security: see switch_security_dhcpv6.h.
//
// Every length is checked against what is left of its container before it
// is used; nothing is read past `payload`.
#include "libfw/chain/switch_security_dhcpv6.h"

#include <cstring>

namespace fw::switch_security_internal {
namespace {

std::uint16_t be16(const std::uint8_t* p) noexcept { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Walks the options of `area`: f(code, body) for each; an option whose
// length runs past the area fails the walk.
template <typename F>
Dhcpv6Result for_each_option(std::span<const std::uint8_t> area, F&& f) noexcept {
  std::size_t at = 0;
  while (at < area.size()) {
    if (area.size() - at < 4) return Dhcpv6Result::kTruncatedOption;
    const std::uint16_t code = be16(area.data() + at);
    const std::uint16_t length = be16(area.data() + at + 2);
    at += 4;
    if (area.size() - at < length) return Dhcpv6Result::kTruncatedOption;
    if (Dhcpv6Result r = f(code, area.subspan(at, length)); r != Dhcpv6Result::kOk) return r;
    at += length;
  }
  return Dhcpv6Result::kOk;
}

Dhcpv6Result status_of(std::span<const std::uint8_t> body, std::uint16_t& status) noexcept {
  if (body.size() < 2) return Dhcpv6Result::kBadOption;
  status = be16(body.data());  // the message text after it is not read
  return Dhcpv6Result::kOk;
}

// DUID-LLT: type 1, hardware type, time, address; DUID-LL: type 3,
// hardware type, address (RFC 8415 section 11).
void read_client_id(std::span<const std::uint8_t> duid, Dhcpv6Message& out) noexcept {
  if (out.has_client_link_address || duid.size() < 4) return;
  const std::uint16_t type = be16(duid.data());
  const std::uint16_t hardware = be16(duid.data() + 2);
  std::size_t address_at = 0;
  if (type == 1) address_at = 8;
  else if (type == 3) address_at = 4;
  else return;
  if (hardware != 1 || duid.size() != address_at + 6) return;
  std::memcpy(out.client_link_address.bytes.data(), duid.data() + address_at, 6);
  out.has_client_link_address = true;
}

// The options of an IA_NA (after IAID, T1, T2) or IA_TA (after IAID).
Dhcpv6Result read_ia(std::span<const std::uint8_t> options, Dhcpv6Message& out) noexcept {
  // The IA's status decides for all of its addresses, wherever it sits
  // among them: collect first, keep only if the IA succeeded.
  const std::size_t first = out.lease_count;
  const std::size_t dropped_before = out.leases_dropped;
  std::uint16_t ia_status = 0;
  Dhcpv6Result r = for_each_option(options, [&](std::uint16_t code, std::span<const std::uint8_t> body) {
    if (code == kDhcpv6OptionStatusCode) return status_of(body, ia_status);
    if (code != kDhcpv6OptionIaAddr) return Dhcpv6Result::kOk;
    if (body.size() < 24) return Dhcpv6Result::kBadOption;
    std::uint16_t address_status = 0;
    const Dhcpv6Result nested =
        for_each_option(body.subspan(24), [&](std::uint16_t inner, std::span<const std::uint8_t> inner_body) {
          return inner == kDhcpv6OptionStatusCode ? status_of(inner_body, address_status) : Dhcpv6Result::kOk;
        });
    if (nested != Dhcpv6Result::kOk) return nested;
    if (address_status != 0) return Dhcpv6Result::kOk;
    if (out.lease_count == kMaxDhcpv6Leases) {
      ++out.leases_dropped;
      return Dhcpv6Result::kOk;
    }
    Dhcpv6Lease& lease = out.leases[out.lease_count++];
    lease.address.family = IpFamily::kIpv6;
    std::memcpy(lease.address.bytes.data(), body.data(), 16);
    lease.valid_lifetime = be32(body.data() + 20);  // after the preferred lifetime
    return Dhcpv6Result::kOk;
  });
  if (r != Dhcpv6Result::kOk) return r;
  if (ia_status != 0) {
    out.lease_count = first;
    out.leases_dropped = dropped_before;
  }
  return Dhcpv6Result::kOk;
}

}  // namespace

Dhcpv6Result parse_dhcpv6(std::span<const std::uint8_t> payload, Dhcpv6Message& out) noexcept {
  out.type = 0;
  out.transaction_id = 0;
  out.has_client_link_address = false;
  out.client_link_address = MacAddress{};
  out.status = 0;
  out.lease_count = 0;
  out.leases_dropped = 0;
  if (payload.size() < 4) return Dhcpv6Result::kTruncatedHeader;
  out.type = payload[0];
  out.transaction_id = (std::uint32_t{payload[1]} << 16) | (std::uint32_t{payload[2]} << 8) | payload[3];
  if (out.type == kDhcpv6RelayForward || out.type == kDhcpv6RelayReply) return Dhcpv6Result::kRelayMessage;
  return for_each_option(payload.subspan(4), [&](std::uint16_t code, std::span<const std::uint8_t> body) {
    switch (code) {
      case kDhcpv6OptionClientId: read_client_id(body, out); return Dhcpv6Result::kOk;
      case kDhcpv6OptionStatusCode: return status_of(body, out.status);
      case kDhcpv6OptionIaNa:
        if (body.size() < 12) return Dhcpv6Result::kBadOption;
        return read_ia(body.subspan(12), out);
      case kDhcpv6OptionIaTa:
        if (body.size() < 4) return Dhcpv6Result::kBadOption;
        return read_ia(body.subspan(4), out);
      default: return Dhcpv6Result::kOk;
    }
  });
}

}  // namespace fw::switch_security_internal
