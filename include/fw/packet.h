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
// What is parsed where (the rules a caller can rely on):
//   - A frame or VLAN tag with an EtherType the parser does not know (or an
//     802.3 length) is accepted with l3 == kNone; an IP protocol it does not
//     know is accepted with has_l4 == false and payload() = the IP payload.
//   - Fragments: a non-first fragment has has_l4 == false and payload() = its
//     fragment data. A first fragment must carry its whole L4 header (and, in
//     IPv6, the whole extension-header chain) or it is kTinyFirstFragment; its
//     L4 header is parsed, but no application layer (ND, DHCP, tunnel) is.
//   - IPv6 walks HBH, routing, fragment, destination options and AH to the
//     upper-layer protocol (as netfilter does); IPv4 stops at its protocol
//     field, so IPv4 AH/ESP are protocols 51/50 with has_l4 == false.
//   - src_port/dst_port: TCP/UDP ports. ICMP/ICMPv6: src_port is the
//     identifier of a query message (echo request/reply; for ICMPv4 also
//     timestamp, information and address-mask) and 0 otherwise; dst_port is
//     (type << 8) | code for every ICMP message.
//   - DHCP is recognised on IPv4 UDP when both ports are 67 or 68 (client,
//     server and relay traffic); VXLAN/Geneve on UDP destination port
//     4789/6081 of the outermost packet only: a tunnel inside a decapsulated
//     frame is plain UDP (one level of decapsulation).
//   - Offsets in the view are always from the start of `data`, also for the
//     inner layers of a decapsulated frame.
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
  kBadIpv4Fragment,         // fragment offset + length beyond 65535, a non-last
                            // fragment whose length is not a multiple of 8, or a
                            // TCP fragment at offset 8 (RFC 1858 overlap attack)
  kTruncatedIpv6,
  kBadIpv6PayloadLength,    // payload length > bytes present (or 40 + payload
                            // length > 65535, which l3_length cannot hold)
  kTruncatedIpv6ExtHeader,
  kTooManyIpv6ExtHeaders,   // more than kMaxIpv6ExtHeaders
  kBadIpv6ExtHeaderOrder,   // hop-by-hop not first, or a second fragment header
  kTinyFirstFragment,       // first fragment too short to carry its L4 header
  kTruncatedTcp,
  kBadTcpDataOffset,        // data offset < 5 or beyond the segment
  kBadTcpOption,            // option length 0/1 or running past the header, or a
                            // known option (MSS, WS, SACK-permitted, SACK, TS)
                            // with the wrong length
  kTruncatedUdp,
  kBadUdpLength,            // UDP length < 8 or > IP payload (a first fragment
                            // is only checked for < 8)
  kTruncatedIcmp,
  kBadIcmpInner,            // ICMP error whose quoted IP header is short or malformed
  kTruncatedNd,
  kBadNdOption,             // ND option of length 0 or past the message
  kTruncatedDhcp,
  kBadDhcp,                 // bad magic cookie, op not 1/2, option overrun, or
                            // option 50/51/53/54 with the wrong length
  kTruncatedTunnel,
  kBadTunnel,               // VXLAN I-flag clear, Geneve version != 0 or option
                            // overrun, or (decapsulating) a Geneve protocol type
                            // other than Ethernet/IPv4/IPv6
  kTruncatedAh,             // AH shorter than its 12-byte fixed part or past the packet
  kBadIpv6Options,          // hop-by-hop/destination option TLV overrunning its header
  kBadIpv6Fragment,         // fragment offset + length beyond 65535, or as kBadIpv4Fragment
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
// Geneve protocol type of an Ethernet payload ("transparent Ethernet bridging").
inline constexpr std::uint16_t kEtherTypeTransparentEthernet = 0x6558;

inline constexpr std::uint16_t kUdpPortDhcpServer = 67;
inline constexpr std::uint16_t kUdpPortDhcpClient = 68;
inline constexpr std::uint16_t kUdpPortVxlan = 4789;
inline constexpr std::uint16_t kUdpPortGeneve = 6081;

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
  std::uint8_t protocol = 0;   // IPv4 protocol / IPv6 upper-layer header; if the
                               // quote ends inside the IPv6 extension headers,
                               // the last next-header reached (has_ports false)
  std::uint16_t src_port = 0;  // TCP/UDP ports, or ICMP echo id in both
  std::uint16_t dst_port = 0;
  bool has_ports = false;      // TCP/UDP: >= 4 quoted L4 bytes; ICMP echo: >= 8;
                               // never for a quoted non-first fragment
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
  std::uint32_t inner_offset = 0;  // offset of the inner frame (see inner_protocol)
  std::uint32_t inner_length = 0;
  // What starts at inner_offset: kEtherTypeTransparentEthernet (an Ethernet
  // frame: always for VXLAN) or, for Geneve, the protocol type of its header
  // (kEtherTypeIpv4/kEtherTypeIpv6: a bare IP packet, ...).
  std::uint16_t inner_protocol = 0;
  // The outer UDP source port (the tunnel's flow-entropy hash) and the outer
  // IP addresses: the tunnel endpoints, kept when the view is decapsulated.
  std::uint16_t outer_src_port = 0;
  IpAddress outer_src_ip;
  IpAddress outer_dst_ip;
};

// Everything the filters need to know about one frame. Offsets are from the
// start of the frame; a layer that is absent has offset 0 and its kind/flags
// say so.
// Every field that says *what* the frame holds. parse_frame() resets all of
// it on every call (about two cache lines).
struct PacketHeaders {
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
                                    // (ARP: the 28-byte Ethernet/IPv4 packet)
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
  bool dont_fragment = false;       // IPv4 DF (reported, never an error)
  std::uint16_t fragment_offset = 0;  // in bytes
  std::uint32_t fragment_id = 0;    // IPv4 identification / IPv6 fragment id

  // L4 (absent for non-first fragments: has_l4 == false).
  bool has_l4 = false;
  std::uint16_t l4_offset = 0;
  // The L4 payload: after the TCP header (and options), the UDP header (UDP
  // length is authoritative: bytes past it are excluded), the 8-byte
  // ICMP/ICMPv6 header. Without a parsed L4 header (unknown protocol,
  // non-first fragment): the IP payload after the last header parsed.
  std::uint16_t payload_offset = 0;
  std::uint16_t payload_length = 0;
  std::uint16_t src_port = 0;       // TCP/UDP; for ICMP query (echo...): the id, else 0
  std::uint16_t dst_port = 0;       // TCP/UDP; for ICMP: (type << 8) | code

  // Which of the layer structs of PacketView are valid. ND is set only for
  // unfragmented ICMPv6 133-137 (RFC 6980: fragmented ND is ignored); DHCP
  // and tunnels only for unfragmented UDP.
  bool is_arp = false;
  bool is_nd = false;
  bool is_dhcp = false;
};

// The parsed frame: the headers above plus per-layer detail. The layer
// structs are large (together ~7 cache lines) and most frames use one or
// none of them, so parse_frame() writes a layer struct only when it parses
// that layer: each is valid only under its condition below and otherwise
// holds unspecified values (possibly from an earlier frame). Do not read
// `tcp` without checking protocol == TCP && has_l4, and so on.
struct PacketView : PacketHeaders {
  TcpInfo tcp;                      // valid if protocol == TCP and has_l4
  IcmpInfo icmp;                    // valid if protocol is ICMP/ICMPv6 and has_l4
  ArpInfo arp;                      // valid if is_arp
  NdInfo nd;                        // valid if is_nd
  DhcpInfo dhcp;                    // valid if is_dhcp
  TunnelInfo tunnel;                // tunnel.kind is always valid (kNone = no
                                    // tunnel); the other fields if != kNone

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
  // In both modes the tunnel header is validated and an inner Ethernet frame
  // must hold at least its 14-byte header (else kTruncatedTunnel). When
  // decapsulating, an error in the inner frame is the result, and the outer
  // IP/UDP layers are not in the view (see TunnelInfo for what is kept).
  bool decapsulate = false;
};

// Parses `frame` into `out` (headers reset; layer structs as documented on
// PacketView). Never reads out of bounds.
// On an error, `out` holds what was parsed before it: enough for diagnostics,
// not for a filter decision.
ParseError parse_frame(std::span<const std::uint8_t> frame, PacketView& out,
                       const ParseOptions& options = {}) noexcept;

}  // namespace fw
