// Placeholder: the full parser lands with the packet-parsing work. This
// minimal version parses Ethernet + VLAN only so the chain can be built.
#include "fw/packet.h"

namespace fw {

ParseError parse_frame(std::span<const std::uint8_t> frame, PacketView& out,
                       const ParseOptions& options) noexcept {
  out = PacketView{};
  out.data = frame.data();
  out.length = static_cast<std::uint32_t>(frame.size());
  if (frame.size() < 14) return ParseError::kTruncatedEthernet;
  for (int i = 0; i < 6; ++i) {
    out.dst_mac.bytes[i] = frame[i];
    out.src_mac.bytes[i] = frame[6 + i];
  }
  std::size_t off = 12;
  std::uint16_t et = static_cast<std::uint16_t>(frame[off] << 8 | frame[off + 1]);
  while (et == kEtherTypeVlan || et == kEtherTypeQinQ) {
    if (out.vlan_count == kMaxVlanTags) return ParseError::kTooManyVlanTags;
    if (frame.size() < off + 6) return ParseError::kTruncatedVlan;
    out.vlans[out.vlan_count].tpid = et;
    out.vlans[out.vlan_count].tci = static_cast<std::uint16_t>(frame[off + 2] << 8 | frame[off + 3]);
    ++out.vlan_count;
    off += 4;
    et = static_cast<std::uint16_t>(frame[off] << 8 | frame[off + 1]);
  }
  out.ethertype = et;
  return ParseError::kOk;
}

}  // namespace fw
