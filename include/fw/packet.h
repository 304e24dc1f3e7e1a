// fw/packet.h — zero-copy parsing of one Ethernet frame into a PacketView.
//
// Usage:
//   fw::PacketView view;
//   fw::ParseError err = fw::parse_frame(frame_bytes, view);
//   if (err != fw::ParseError::kOk) count(fw::parse_error_name(err));
//
// The view points into the caller's buffer (no copy); it is valid only while
// that buffer is. Parsing never reads outside [data, data + length): a
// truncated or inconsistent frame yields a specific ParseError instead.
// Length fields are checked against each other: IPv4 total length, IPv6
// payload length, header lengths, TCP data offset and UDP length must all fit
// the bytes actually present (trailing Ethernet padding is allowed and
// excluded from the L3 length).
//
// Supported: Ethernet II; 802.1Q and 802.1ad/QinQ (at most two tags); ARP
// (Ethernet/IPv4); IPv4 with options and fragments; IPv6 with an
// extension-header chain (hop-by-hop, routing, fragment, destination
// options, AH) bounded to kMaxIpv6ExtHeaders headers; TCP with options (MSS,
// window scale, SACK-permitted, SACK blocks, timestamps); UDP; ICMP and
// ICMPv6 including neighbour discovery and the inner IP + L4 header of ICMP
// errors; DHCPv4 (UDP 67/68); VXLAN (UDP 4789) and Geneve (UDP 6081).
//
// Thread-safety: parse_frame is reentrant; a PacketView is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fw/address.h"

namespace fw {

// Stable reasons a frame is rejected. Values and names never change meaning;
// new reasons are appended before kCount.
enum class ParseError : std::uint8_t {
  kOk = 0,
  kTruncatedEthernet,
  kTruncatedVlan,
  kTooManyVlanTags,
  kTruncatedArp,
  kBadArp,                  // not Ethernet/IPv4 ARP, or bad lengths
  kTruncatedIpv4,
  kBadIpVersion,            // version nibble disagrees with the EtherType
  kBadIpv4HeaderLength,     // IHL < 5 or beyond the packet
  kBadIpv4TotalLength,      // total length < header or > bytes present
  kBadIpv4Options,          // malformed option list
  kBadIpv4Fragment,         // fragment offset + length beyond 65535
  kTruncatedIpv6,
  kBadIpv6PayloadLength,    // payload length > bytes present
  kTruncatedIpv6ExtHeader,
  kTooManyIpv6ExtHeaders,   // more than kMaxIpv6ExtHeaders
  kBadIpv6ExtHeaderOrder,   // hop-by-hop not first, or a second fragment header
  kTinyFirstFragment,       // first fragment too short to carry its L4 header
  kTruncatedTcp,
  kBadTcpDataOffset,        // data offset < 5 or beyond the segment
  kBadTcpOption,            // option length 0/1 or running past the header
  kTruncatedUdp,
  kBadUdpLength,            // UDP length < 8 or > IP payload
  kTruncatedIcmp,
  kBadIcmpInner,            // ICMP error whose quoted header is malformed
  kTruncatedNd,
  kBadNdOption,             // ND option of length 0 or past the message
  kTruncatedDhcp,
  kBadDhcp,                 // bad magic cookie or option overrun
  kTruncatedTunnel,
  kBadTunnel,               // VXLAN I-flag clear, Geneve version != 0, ...
  kTruncatedAh,
  kCount
};

inline constexpr std::size_t kParseErrorCount = static_cast<std::size_t>(ParseError::kCount);

// "ok", "truncated-ethernet", ... (kebab-case, stable).
std::string_view parse_error_name(ParseError e) noexcept;

inline constexpr std::size_t kMaxVlanTags = 2;
inline constexpr std::size_t kMaxIpv6ExtHeaders = 8;
inline constexpr std::size_t kMaxSackBlocks = 4;

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;

inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;

// TCP flag bits as on the wire (byte 13).
inline constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                              kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

enum class L3Kind : std::uint8_t { kNone = 0, kArp, kIpv4, kIpv6 };
enum class TunnelKind : std::uint8_t { kNone = 0, kVxlan, kGeneve };

struct VlanTag {
  std::uint16_t tpid = 0;  // 0x8100 or 0x88a8
  std::uint16_t tci = 0;
  constexpr std::uint16_t vid() const noexcept { return tci & 0x0fff; }
  constexpr std::uint8_t pcp() const noexcept { return static_cast<std::uint8_t>(tci >> 13); }
};

struct TcpInfo {
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint16_t window = 0;          // unscaled, as on the wire
  std::uint8_t flags = 0;            // kTcpFin | kTcpSyn | ...
  std::uint8_t header_length = 0;    // data offset * 4
  std::uint16_t mss = 0;             // valid if has_mss
  std::uint8_t window_scale = 0;     // valid if has_window_scale
  bool has_mss = false;
  bool has_window_scale = false;
  bool sack_permitted = false;
  bool has_timestamps = false;
  std::uint8_t sack_block_count = 0; // at most kMaxSackBlocks
  std::uint32_t ts_value = 0;
  std::uint32_t ts_echo = 0;
  std::uint32_t sack_left[kMaxSackBlocks] = {};
  std::uint32_t sack_right[kMaxSackBlocks] = {};
};

// The IP + L4 header quoted inside an ICMP/ICMPv6 error message.
struct IcmpInner {
  IpFamily family = IpFamily::kNone;
  IpAddress src;
  IpAddress dst;
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0;  // TCP/UDP ports, or ICMP echo id in both
  std::uint16_t dst_port = 0;
  bool has_ports = false;      // the quoted L4 header was long enough
};

struct IcmpInfo {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t id = 0;        // echo request/reply identifier
  std::uint16_t sequence = 0;  // echo request/reply sequence
  bool is_error = false;       // destination unreachable, time exceeded, ...
  IcmpInner inner;             // valid if is_error
};

// IPv6 neighbour discovery (ICMPv6 133-137).
struct NdInfo {
  IpAddress target;                   // NS/NA/redirect target
  MacAddress source_link_address;     // option 1, valid if has_source_link_address
  MacAddress target_link_address;     // option 2, valid if has_target_link_address
  bool has_source_link_address = false;
  bool has_target_link_address = false;
};

struct ArpInfo {
  std::uint16_t operation = 0;  // 1 request, 2 reply
  MacAddress sender_mac;
  IpAddress sender_ip;
  MacAddress target_mac;
  IpAddress target_ip;
};

struct DhcpInfo {
  std::uint8_t op = 0;            // 1 BOOTREQUEST, 2 BOOTREPLY
  std::uint8_t message_type = 0;  // option 53, 0 if absent
  std::uint32_t xid = 0;
  MacAddress client_mac;          // chaddr
  IpAddress client_ip;            // ciaddr
  IpAddress your_ip;              // yiaddr
  IpAddress requested_ip;         // option 50, kNone if absent
  IpAddress server_id;            // option 54, kNone if absent
  std::uint32_t lease_seconds = 0;  // option 51
};

struct TunnelInfo {
  TunnelKind kind = TunnelKind::kNone;
  std::uint32_t vni = 0;
  std::uint32_t inner_offset = 0;  // offset of the inner Ethernet frame
  std::uint32_t inner_length = 0;
};

// Everything the filters need to know about one frame. Offsets are from the
// start of the frame; a layer that is absent has offset 0 and its kind/flags
// say so.
struct PacketView {
  const std::uint8_t* data = nullptr;
  std::uint32_t length = 0;

  // L2
  MacAddress dst_mac;
  MacAddress src_mac;
  std::uint8_t vlan_count = 0;
  VlanTag vlans[kMaxVlanTags];      // outermost first
  std::uint16_t ethertype = 0;      // after the VLAN tags

  // L3
  L3Kind l3 = L3Kind::kNone;
  std::uint16_t l3_offset = 0;
  std::uint16_t l3_length = 0;      // header + payload, excluding Ethernet padding
  IpAddress src_ip;
  IpAddress dst_ip;
  std::uint8_t protocol = 0;        // IPv4 protocol / IPv6 final next header
  std::uint8_t ttl = 0;             // TTL / hop limit
  std::uint8_t tos = 0;             // DSCP+ECN / traffic class
  std::uint32_t flow_label = 0;     // IPv6 only
  std::uint8_t ipv6_ext_count = 0;

  // Fragments (IPv4 or IPv6 fragment header).
  bool is_fragment = false;         // MF set or offset != 0
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;  // in bytes
  std::uint32_t fragment_id = 0;

  // L4 (absent for non-first fragments: has_l4 == false).
  bool has_l4 = false;
  std::uint16_t l4_offset = 0;
  std::uint16_t payload_offset = 0;
  std::uint16_t payload_length = 0;
  std::uint16_t src_port = 0;       // TCP/UDP; for ICMP echo: the id
  std::uint16_t dst_port = 0;       // TCP/UDP; for ICMP: (type << 8) | code
  TcpInfo tcp;                      // valid if protocol == TCP and has_l4
  IcmpInfo icmp;                    // valid if protocol is ICMP/ICMPv6 and has_l4

  // Application / special layers; the bool says whether the struct is valid.
  bool is_arp = false;
  ArpInfo arp;
  bool is_nd = false;
  NdInfo nd;
  bool is_dhcp = false;
  DhcpInfo dhcp;
  TunnelInfo tunnel;                // tunnel.kind != kNone for VXLAN/Geneve

  std::span<const std::uint8_t> frame() const noexcept { return {data, length}; }
  std::span<const std::uint8_t> payload() const noexcept {
    return {data + payload_offset, payload_length};
  }
};

struct ParseOptions {
  // When a VXLAN/Geneve packet is found and this is true, the view describes
  // the inner frame's layers and `tunnel` keeps the outer encapsulation.
  // When false, the view describes the outer frame and `tunnel` locates the
  // (header-checked) inner frame.
  bool decapsulate = false;
};

// Parses `frame` into `out` (fully overwritten). Never reads out of bounds.
ParseError parse_frame(std::span<const std::uint8_t> frame, PacketView& out,
                       const ParseOptions& options = {}) noexcept;

}  // namespace fw
