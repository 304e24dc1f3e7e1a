#include "fw/address.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace fw {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

StatusOr<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac;
  auto bad = [&] {
    return invalid_argument("'" + std::string(text) + "' is not a MAC address (want aa:bb:cc:dd:ee:ff)");
  };
  if (text.size() != 17) return bad();
  const char sep = text[2];
  if (sep != ':' && sep != '-') return bad();
  for (std::size_t i = 0; i < 6; ++i) {
    const std::size_t at = i * 3;
    if (i > 0 && text[at - 1] != sep) return bad();
    const int hi = hex_value(text[at]), lo = hex_value(text[at + 1]);
    if (hi < 0 || lo < 0) return bad();
    mac.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return mac;
}

IpAddress IpAddress::v6(const std::uint8_t network_order[16]) noexcept {
  IpAddress a;
  a.family = IpFamily::kIpv6;
  std::memcpy(a.bytes.data(), network_order, 16);
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "-";
  if (family == IpFamily::kIpv4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  if (family == IpFamily::kIpv6) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

StatusOr<IpAddress> parse_ip(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would hide what follows it.
  if (text.find('\0') != std::string_view::npos)
    return invalid_argument("'" + std::string(text.substr(0, text.find('\0'))) +
                            "...' contains a NUL byte; not an IP address");
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = IpFamily::kIpv4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = IpFamily::kIpv6;
    return a;
  }
  return invalid_argument("'" + s + "' is not an IPv4 or IPv6 address");
}

}  // namespace fw
