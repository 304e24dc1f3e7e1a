#include "fw/packet.h"

namespace fw {

std::string_view parse_error_name(ParseError e) noexcept {
  switch (e) {
    case ParseError::kOk: return "ok";
    case ParseError::kTruncatedEthernet: return "truncated-ethernet";
    case ParseError::kTruncatedVlan: return "truncated-vlan";
    case ParseError::kTooManyVlanTags: return "too-many-vlan-tags";
    case ParseError::kTruncatedArp: return "truncated-arp";
    case ParseError::kBadArp: return "bad-arp";
    case ParseError::kTruncatedIpv4: return "truncated-ipv4";
    case ParseError::kBadIpVersion: return "bad-ip-version";
    case ParseError::kBadIpv4HeaderLength: return "bad-ipv4-header-length";
    case ParseError::kBadIpv4TotalLength: return "bad-ipv4-total-length";
    case ParseError::kBadIpv4Options: return "bad-ipv4-options";
    case ParseError::kBadIpv4Fragment: return "bad-ipv4-fragment";
    case ParseError::kTruncatedIpv6: return "truncated-ipv6";
    case ParseError::kBadIpv6PayloadLength: return "bad-ipv6-payload-length";
    case ParseError::kTruncatedIpv6ExtHeader: return "truncated-ipv6-ext-header";
    case ParseError::kTooManyIpv6ExtHeaders: return "too-many-ipv6-ext-headers";
    case ParseError::kBadIpv6ExtHeaderOrder: return "bad-ipv6-ext-header-order";
    case ParseError::kTinyFirstFragment: return "tiny-first-fragment";
    case ParseError::kTruncatedTcp: return "truncated-tcp";
    case ParseError::kBadTcpDataOffset: return "bad-tcp-data-offset";
    case ParseError::kBadTcpOption: return "bad-tcp-option";
    case ParseError::kTruncatedUdp: return "truncated-udp";
    case ParseError::kBadUdpLength: return "bad-udp-length";
    case ParseError::kTruncatedIcmp: return "truncated-icmp";
    case ParseError::kBadIcmpInner: return "bad-icmp-inner";
    case ParseError::kTruncatedNd: return "truncated-nd";
    case ParseError::kBadNdOption: return "bad-nd-option";
    case ParseError::kTruncatedDhcp: return "truncated-dhcp";
    case ParseError::kBadDhcp: return "bad-dhcp";
    case ParseError::kTruncatedTunnel: return "truncated-tunnel";
    case ParseError::kBadTunnel: return "bad-tunnel";
    case ParseError::kTruncatedAh: return "truncated-ah";
    case ParseError::kBadIpv6Options: return "bad-ipv6-options";
    case ParseError::kBadIpv6Fragment: return "bad-ipv6-fragment";
    case ParseError::kCount: break;
  }
  return "unknown";
}

}  // namespace fw
