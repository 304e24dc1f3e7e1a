#include "examples/service-vm/nsh_strip.h"

#include <cstring>

namespace svm {
namespace {

constexpr std::size_t kEthernetHeader = 14;
constexpr std::uint8_t kNextProtocolIpv4 = 1;
constexpr std::uint8_t kNextProtocolIpv6 = 2;
constexpr std::uint8_t kNextProtocolEthernet = 3;

}  // namespace

std::string strip_nsh(std::span<const std::uint8_t> frame, std::vector<std::uint8_t>& buffer,
                      std::span<const std::uint8_t>& inner, NshInfo& info) {
  std::span<const std::uint8_t> nsh = frame;
  if (frame.size() >= kEthernetHeader &&
      (std::uint16_t{frame[12]} << 8 | frame[13]) == kEtherTypeNsh) {
    nsh = frame.subspan(kEthernetHeader);
  }
  if (nsh.size() < 8) return "nsh: shorter than its 8-byte base and service path headers";
  if ((nsh[0] >> 6) != 0) return "nsh: version is not 0";
  std::size_t length = std::size_t{nsh[1] & 0x3fu} * 4;
  if (length < 8) return "nsh: Length field below 2 (8 bytes)";
  if (length > nsh.size()) return "nsh: Length field runs past the frame";
  info.next_protocol = nsh[3];
  info.service_path = std::uint32_t{nsh[4]} << 24 | std::uint32_t{nsh[5]} << 16 |
                      std::uint32_t{nsh[6]} << 8 | nsh[7];
  std::span<const std::uint8_t> payload = nsh.subspan(length);
  switch (info.next_protocol) {
    case kNextProtocolEthernet:
      inner = payload;
      return {};
    case kNextProtocolIpv4:
    case kNextProtocolIpv6: {
      buffer.resize(kEthernetHeader + payload.size());
      std::memset(buffer.data(), 0, 12);
      buffer[12] = info.next_protocol == kNextProtocolIpv4 ? 0x08 : 0x86;
      buffer[13] = info.next_protocol == kNextProtocolIpv4 ? 0x00 : 0xdd;
      if (!payload.empty()) std::memcpy(buffer.data() + kEthernetHeader, payload.data(), payload.size());
      inner = buffer;
      return {};
    }
    default:
      return "nsh: next protocol " + std::to_string(info.next_protocol) +
             " is not Ethernet (3), IPv4 (1) or IPv6 (2)";
  }
}

}  // namespace svm
