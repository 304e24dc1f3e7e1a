// examples/service-vm/nsh_strip.h — removes a Network Service Header
// (RFC 8300) in front of a redirected frame. Deliberately small and local:
// it reads only what the service VM needs (length, next protocol, service
// path); include/fw/nsh.h is the library's full NSH codec.
//
// Accepted input:
//   - Ethernet, EtherType 0x894F, then NSH, then the inner packet; or
//   - NSH at the start of the message (socket messages), when the bytes do
//     not carry EtherType 0x894F at offset 12 (the caller decides that bare
//     NSH is expected: ScannerOptions::nsh).
// NSH: base header (4 bytes: version 0, Length in 4-byte words in the low 6
// bits of byte 1, MD type, Next Protocol), service path header (4 bytes: SPI
// 24 bits, SI 8 bits), context headers up to Length * 4 bytes in all.
// Next Protocol 3 (Ethernet) is passed on as is; 1 (IPv4) and 2 (IPv6) get a
// synthetic Ethernet header (zero MACs) so fw::parse_frame can read them.
//
// Thread-safety: reentrant; `buffer` is the caller's.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace svm {

inline constexpr std::uint16_t kEtherTypeNsh = 0x894F;

struct NshInfo {
  std::uint32_t service_path = 0;  // SPI << 8 | SI, as on the wire
  std::uint8_t next_protocol = 0;
};

// On success returns "" and sets `inner` to the Ethernet frame after the NSH
// (pointing into `frame` or, for a bare IP packet, into `buffer`). On error
// returns a one-line reason.
std::string strip_nsh(std::span<const std::uint8_t> frame, std::vector<std::uint8_t>& buffer,
                      std::span<const std::uint8_t>& inner, NshInfo& info);

}  // namespace svm
