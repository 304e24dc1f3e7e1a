// Field-by-field comparison of two PacketViews: every field of PacketHeaders,
// and each layer struct only where PacketView says it is valid (elsewhere it
// holds unspecified values). Used to check parse_frame()'s fast path against
// the general path (tests/packet/fast_path_test.cc, tests/fuzz/fuzz_packet.cc),
// so it has no GoogleTest dependency.
#pragma once

#include "fw/packet.h"

namespace fw::test {

// The name of the first field that differs, or nullptr if the views agree.
inline const char* first_view_difference(const PacketView& a, const PacketView& b) {
#define FW_VIEW_FIELD(f) \
  if (!(a.f == b.f)) return #f
  FW_VIEW_FIELD(data);
  FW_VIEW_FIELD(length);
  FW_VIEW_FIELD(dst_mac);
  FW_VIEW_FIELD(src_mac);
  FW_VIEW_FIELD(vlan_count);
  for (std::size_t i = 0; i < kMaxVlanTags; ++i) {
    FW_VIEW_FIELD(vlans[i].tpid);
    FW_VIEW_FIELD(vlans[i].tci);
  }
  FW_VIEW_FIELD(ethertype);
  FW_VIEW_FIELD(l3);
  FW_VIEW_FIELD(l3_offset);
  FW_VIEW_FIELD(l3_length);
  FW_VIEW_FIELD(src_ip);
  FW_VIEW_FIELD(dst_ip);
  FW_VIEW_FIELD(protocol);
  FW_VIEW_FIELD(ttl);
  FW_VIEW_FIELD(tos);
  FW_VIEW_FIELD(flow_label);
  FW_VIEW_FIELD(ipv6_ext_count);
  FW_VIEW_FIELD(is_fragment);
  FW_VIEW_FIELD(more_fragments);
  FW_VIEW_FIELD(dont_fragment);
  FW_VIEW_FIELD(fragment_offset);
  FW_VIEW_FIELD(fragment_id);
  FW_VIEW_FIELD(has_l4);
  FW_VIEW_FIELD(l4_offset);
  FW_VIEW_FIELD(payload_offset);
  FW_VIEW_FIELD(payload_length);
  FW_VIEW_FIELD(src_port);
  FW_VIEW_FIELD(dst_port);
  FW_VIEW_FIELD(is_arp);
  FW_VIEW_FIELD(is_nd);
  FW_VIEW_FIELD(is_dhcp);

  if (a.protocol == kIpProtoTcp && a.has_l4) {
    FW_VIEW_FIELD(tcp.seq);
    FW_VIEW_FIELD(tcp.ack);
    FW_VIEW_FIELD(tcp.window);
    FW_VIEW_FIELD(tcp.flags);
    FW_VIEW_FIELD(tcp.header_length);
    FW_VIEW_FIELD(tcp.mss);
    FW_VIEW_FIELD(tcp.window_scale);
    FW_VIEW_FIELD(tcp.has_mss);
    FW_VIEW_FIELD(tcp.has_window_scale);
    FW_VIEW_FIELD(tcp.sack_permitted);
    FW_VIEW_FIELD(tcp.has_timestamps);
    FW_VIEW_FIELD(tcp.sack_block_count);
    FW_VIEW_FIELD(tcp.ts_value);
    FW_VIEW_FIELD(tcp.ts_echo);
    for (std::size_t i = 0; i < kMaxSackBlocks; ++i) {
      FW_VIEW_FIELD(tcp.sack_left[i]);
      FW_VIEW_FIELD(tcp.sack_right[i]);
    }
  }
  if ((a.protocol == kIpProtoIcmp || a.protocol == kIpProtoIcmpv6) && a.has_l4) {
    FW_VIEW_FIELD(icmp.type);
    FW_VIEW_FIELD(icmp.code);
    FW_VIEW_FIELD(icmp.id);
    FW_VIEW_FIELD(icmp.sequence);
    FW_VIEW_FIELD(icmp.is_error);
  }
  if ((a.protocol == kIpProtoIcmp || a.protocol == kIpProtoIcmpv6) && a.has_l4 && a.icmp.is_error) {
    FW_VIEW_FIELD(icmp.inner.family);
    FW_VIEW_FIELD(icmp.inner.src);
    FW_VIEW_FIELD(icmp.inner.dst);
    FW_VIEW_FIELD(icmp.inner.protocol);
    FW_VIEW_FIELD(icmp.inner.src_port);
    FW_VIEW_FIELD(icmp.inner.dst_port);
    FW_VIEW_FIELD(icmp.inner.has_ports);
  }
  if (a.is_arp) {
    FW_VIEW_FIELD(arp.operation);
    FW_VIEW_FIELD(arp.sender_mac);
    FW_VIEW_FIELD(arp.sender_ip);
    FW_VIEW_FIELD(arp.target_mac);
    FW_VIEW_FIELD(arp.target_ip);
  }
  if (a.is_nd) {
    FW_VIEW_FIELD(nd.target);
    FW_VIEW_FIELD(nd.source_link_address);
    FW_VIEW_FIELD(nd.target_link_address);
    FW_VIEW_FIELD(nd.has_source_link_address);
    FW_VIEW_FIELD(nd.has_target_link_address);
  }
  if (a.is_dhcp) {
    FW_VIEW_FIELD(dhcp.op);
    FW_VIEW_FIELD(dhcp.message_type);
    FW_VIEW_FIELD(dhcp.xid);
    FW_VIEW_FIELD(dhcp.client_mac);
    FW_VIEW_FIELD(dhcp.client_ip);
    FW_VIEW_FIELD(dhcp.your_ip);
    FW_VIEW_FIELD(dhcp.requested_ip);
    FW_VIEW_FIELD(dhcp.server_id);
    FW_VIEW_FIELD(dhcp.lease_seconds);
  }
  FW_VIEW_FIELD(tunnel.kind);
  if (a.tunnel.kind != TunnelKind::kNone) {
    FW_VIEW_FIELD(tunnel.vni);
    FW_VIEW_FIELD(tunnel.inner_offset);
    FW_VIEW_FIELD(tunnel.inner_length);
    FW_VIEW_FIELD(tunnel.inner_protocol);
    FW_VIEW_FIELD(tunnel.outer_src_port);
    FW_VIEW_FIELD(tunnel.outer_src_ip);
    FW_VIEW_FIELD(tunnel.outer_dst_ip);
  }
#undef FW_VIEW_FIELD
  return nullptr;
}

}  // namespace fw::test
