// Minimal Ethernet frames for chain tests (L2 only; the parser suite has the
// full packet builder).
#pragma once

#include <cstdint>
#include <vector>

#include "fw/address.h"
#include "fw/packet.h"

namespace fw::test {

inline MacAddress mac(std::uint64_t v) { return MacAddress::from_u64(v); }

// Ethernet header, optional VLAN tags (outermost first), EtherType, then a
// zero payload up to the 60-byte minimum frame.
inline std::vector<std::uint8_t> l2_frame(MacAddress src, MacAddress dst, std::uint16_t ethertype,
                                          std::vector<std::uint16_t> vids = {}) {
  std::vector<std::uint8_t> f;
  f.insert(f.end(), dst.bytes.begin(), dst.bytes.end());
  f.insert(f.end(), src.bytes.begin(), src.bytes.end());
  for (std::size_t i = 0; i < vids.size(); ++i) {
    const std::uint16_t tpid = (vids.size() == 2 && i == 0) ? kEtherTypeQinQ : kEtherTypeVlan;
    f.push_back(static_cast<std::uint8_t>(tpid >> 8));
    f.push_back(static_cast<std::uint8_t>(tpid));
    f.push_back(static_cast<std::uint8_t>(vids[i] >> 8));
    f.push_back(static_cast<std::uint8_t>(vids[i]));
  }
  f.push_back(static_cast<std::uint8_t>(ethertype >> 8));
  f.push_back(static_cast<std::uint8_t>(ethertype));
  // A payload that parses for every EtherType used here: for IPv4 a minimal
  // header with total length 20, for others just zeros.
  if (ethertype == kEtherTypeIpv4) {
    const std::uint8_t ip[20] = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    f.insert(f.end(), ip, ip + 20);
  } else if (ethertype == kEtherTypeIpv6) {
    std::uint8_t ip6[40] = {0x60, 0, 0, 0, 0, 0, 59, 64};  // next header 59: no next header
    ip6[23] = 1;
    ip6[39] = 2;
    f.insert(f.end(), ip6, ip6 + 40);
  } else if (ethertype == kEtherTypeArp) {
    const std::uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
    f.insert(f.end(), arp, arp + 28);
  }
  while (f.size() < 60) f.push_back(0);
  return f;
}

}  // namespace fw::test
