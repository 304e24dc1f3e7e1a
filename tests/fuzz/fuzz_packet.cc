// libFuzzer target for parse_frame(): any byte string, in both
// decapsulation modes. ASan/UBSan catch out-of-bounds reads and undefined
// behaviour inside the parser; the checks below catch a view that points
// outside the frame or contradicts itself, a disagreement between the
// two modes where they must agree, and any difference between parse_frame()
// and its general path alone (the fast path for common frames must fill the
// view exactly as the general path does).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "../packet/view_compare.h"
#include "fw/packet.h"
#include "libfw/chain/switch_security_dhcpv6.h"
#include "libfw/packet/parse_internal.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_packet: invariant violated: %s\n", what);
    std::abort();
  }
}

void check_view(const fw::PacketView& v, std::span<const std::uint8_t> frame, fw::ParseError err) {
  const std::size_t n = frame.size();
  require(static_cast<std::size_t>(err) < fw::kParseErrorCount, "error value in range");
  require(fw::parse_error_name(err) != "unknown", "error has a name");
  require(v.data == frame.data() && v.length == n, "data/length describe the frame");
  require(std::size_t{v.l3_offset} + v.l3_length <= n, "l3 region inside the frame");
  require(v.l4_offset <= n, "l4_offset inside the frame");
  require(std::size_t{v.payload_offset} + v.payload_length <= n, "payload inside the frame");
  // Layer structs are checked only where PacketView says they are valid.
  if (v.tunnel.kind != fw::TunnelKind::kNone)
    require(std::size_t{v.tunnel.inner_offset} + v.tunnel.inner_length <= n, "tunnel inner frame inside the frame");
  require(v.vlan_count <= fw::kMaxVlanTags, "vlan_count bounded");
  require(v.ipv6_ext_count <= fw::kMaxIpv6ExtHeaders, "ipv6_ext_count bounded");
  if (v.protocol == fw::kIpProtoTcp && v.has_l4)
    require(v.tcp.sack_block_count <= fw::kMaxSackBlocks, "sack_block_count bounded");

  if (err != fw::ParseError::kOk) return;
  if (v.l3 == fw::L3Kind::kIpv4 || v.l3 == fw::L3Kind::kIpv6) {
    const std::size_t l3_end = std::size_t{v.l3_offset} + v.l3_length;
    require(v.l3_length >= (v.l3 == fw::L3Kind::kIpv4 ? 20 : 40), "l3_length holds the IP header");
    if (v.has_l4) require(v.l4_offset >= v.l3_offset && v.l4_offset <= l3_end, "L4 inside L3");
    if (v.payload_length != 0)
      require(v.payload_offset >= v.l3_offset && std::size_t{v.payload_offset} + v.payload_length <= l3_end,
              "payload inside L3");
    if (v.has_l4 && v.protocol == fw::kIpProtoTcp)
      require(v.tcp.header_length >= 20 && v.payload_offset == v.l4_offset + v.tcp.header_length,
              "TCP payload follows the TCP header");
    if (v.is_fragment && v.fragment_offset != 0) require(!v.has_l4, "no L4 in a non-first fragment");
  }
  if (v.l3 == fw::L3Kind::kArp) require(v.is_arp && v.l3_length == 28, "ARP is 28 bytes");
  if (v.is_nd || v.is_dhcp) require(v.has_l4 && !v.is_fragment, "application layers only on whole datagrams");

  // Read every byte the view hands out, so ASan checks the spans themselves.
  volatile std::uint8_t sink = 0;
  for (std::uint8_t b : v.payload()) sink = sink ^ b;
  if (v.tunnel.kind != fw::TunnelKind::kNone)
    for (std::uint8_t b : frame.subspan(v.tunnel.inner_offset, v.tunnel.inner_length)) sink = sink ^ b;
}

// Switch security's DHCPv6 reader (slot 1 runs it on UDP payloads between
// ports 546 and 547): never reads outside `bytes`, and what it returns is
// bounded.
void check_dhcpv6(std::span<const std::uint8_t> bytes) {
  namespace ssi = fw::switch_security_internal;
  static ssi::Dhcpv6Message m;  // reused, as the reader must reset it
  const ssi::Dhcpv6Result r = ssi::parse_dhcpv6(bytes, m);
  require(static_cast<int>(r) <= static_cast<int>(ssi::Dhcpv6Result::kBadOption), "DHCPv6 result in range");
  require(m.lease_count <= ssi::kMaxDhcpv6Leases, "DHCPv6 leases bounded");
  if (r == ssi::Dhcpv6Result::kOk) require(bytes.size() >= 4 && m.type == bytes[0], "DHCPv6 type is the first byte");
}

void check_dhcpv6_of(const fw::PacketView& v, fw::ParseError err) {
  if (err != fw::ParseError::kOk || v.protocol != fw::kIpProtoUdp || !v.has_l4) return;
  const auto port = [](std::uint16_t p) { return p == 546 || p == 547; };
  if (port(v.src_port) || port(v.dst_port)) check_dhcpv6(v.payload());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> frame(data, size);
  // Views are reused across inputs, as the datapath reuses its scratch views,
  // so state left behind by an earlier frame would show up here.
  static fw::PacketView outer;
  const fw::ParseError outer_err = fw::parse_frame(frame, outer, {.decapsulate = false});
  check_view(outer, frame, outer_err);
  check_dhcpv6_of(outer, outer_err);

  static fw::PacketView inner;
  const fw::ParseError inner_err = fw::parse_frame(frame, inner, {.decapsulate = true});
  check_view(inner, frame, inner_err);
  check_dhcpv6_of(inner, inner_err);
  // And the input itself as a DHCPv6 message, so the reader is reached
  // whether or not the input is a whole packet.
  check_dhcpv6(frame);

  // The general path alone, into views that start out different from the
  // ones above (the fast path must write every field it leaves valid).
  static fw::PacketView general;
  for (const bool decapsulate : {false, true}) {
    std::memset(static_cast<void*>(&general), decapsulate ? 0x01 : 0x00, sizeof general);
    const fw::ParseError general_err =
        fw::packet_internal::parse_frame_general(frame, general, {.decapsulate = decapsulate});
    require(general_err == (decapsulate ? inner_err : outer_err), "parse_frame's result is the general path's");
    const char* field = fw::test::first_view_difference(decapsulate ? inner : outer, general);
    if (field != nullptr) std::fprintf(stderr, "fuzz_packet: views differ in %s\n", field);
    require(field == nullptr, "parse_frame's view is the general path's");
  }

  // Decapsulation can only change the result once a tunnel has been found.
  if (outer.tunnel.kind == fw::TunnelKind::kNone) require(inner_err == outer_err, "modes agree without a tunnel");
  if (outer_err != fw::ParseError::kOk) require(inner_err == outer_err, "an outer error is an error in both modes");
  if (inner_err == fw::ParseError::kOk && outer.tunnel.kind != fw::TunnelKind::kNone)
    require(inner.tunnel.kind == outer.tunnel.kind && inner.tunnel.vni == outer.tunnel.vni &&
                inner.tunnel.inner_offset == outer.tunnel.inner_offset,
            "both modes see the same tunnel");
  return 0;
}
