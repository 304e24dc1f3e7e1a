// Zero-copy frame parser: fills a PacketView from one Ethernet frame.
//
// How it is built:
//   - One Parser per call walks the layers with absolute offsets into the
//     frame and an exclusive `end` for the current layer, which shrinks as
//     length fields are learnt (frame -> IP total/payload length -> UDP
//     length). Every read is preceded by a check that `end - off` holds it,
//     so nothing past `end` (and hence past the frame) is ever touched.
//   - Multi-byte fields are read with byte shifts: no alignment assumptions
//     and no type punning (the tests run under UBSan).
//   - The general path resets the view's headers once up front; its writers
//     rely on that (e.g. an IPv4 address only copies its 4 bytes into an
//     all-zero array).
//   - parse_frame() first tries a fast path for the common frames (plain
//     Ethernet, IPv4 without options or IPv6 without extension headers,
//     TCP/UDP): see "The common path" at the end. It fills the view exactly
//     as the general path would, or declines before writing anything.
//   - Decapsulation re-enters ethernet() (or l3()) with `inner_` set, so a
//     tunnel inside the tunnel is plain UDP: recursion depth is at most two.
#include <bit>
#include <cstddef>
#include <cstring>
#include <limits>

#include "fw/packet.h"
#include "libfw/packet/parse_internal.h"

namespace fw {
namespace {

// Resets what every frame sets; the layer structs (tcp, icmp, arp, nd,
// dhcp, tunnel details) are reset by the layer that fills them. Zeroing the
// whole 600-byte view cost about half of a TCP parse.
inline void reset_headers(PacketView& v) noexcept {
  static_cast<PacketHeaders&>(v) = PacketHeaders{};
  v.tunnel.kind = TunnelKind::kNone;
}


// Wire constants that are not part of the public API.
constexpr std::uint8_t kIpProtoHopByHop = 0;
constexpr std::uint8_t kIpProtoRouting = 43;
constexpr std::uint8_t kIpProtoFragment = 44;
constexpr std::uint8_t kIpProtoAh = 51;
constexpr std::uint8_t kIpProtoDestOpts = 60;

constexpr std::size_t kEthernetHeaderLength = 14;
constexpr std::size_t kVlanTagLength = 4;  // TCI + the next EtherType
constexpr std::size_t kArpHeaderLength = 8;
constexpr std::size_t kArpEthernetIpv4Length = 28;
constexpr std::size_t kIpv4MinHeaderLength = 20;
constexpr std::size_t kIpv6HeaderLength = 40;
constexpr std::size_t kIpv6MinExtHeaderLength = 8;
constexpr std::size_t kIpv6FragmentHeaderLength = 8;
constexpr std::size_t kAhMinLength = 12;  // next header, length, reserved, SPI, sequence
constexpr std::size_t kTcpMinHeaderLength = 20;
constexpr std::size_t kUdpHeaderLength = 8;
constexpr std::size_t kIcmpHeaderLength = 8;
constexpr std::size_t kDhcpFixedLength = 236;  // BOOTP header up to the options
constexpr std::size_t kDhcpOptionsOffset = kDhcpFixedLength + 4;  // after the magic cookie
constexpr std::uint32_t kDhcpMagicCookie = 0x63825363;             // 99.130.83.99
constexpr std::size_t kVxlanHeaderLength = 8;
constexpr std::size_t kGeneveHeaderLength = 8;
// Largest datagram an IP length field (and the view's 16-bit lengths) can describe.
constexpr std::size_t kMaxIpDatagram = 65535;

constexpr std::uint8_t kVxlanFlagVni = 0x08;  // the "I" flag

inline std::uint16_t load16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load24(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | std::uint32_t{p[2]};
}
inline std::uint32_t load32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline void load_mac(MacAddress& mac, const std::uint8_t* p) noexcept {
  std::memcpy(mac.bytes.data(), p, 6);
}
// The destination was reset to all-zero, so bytes 4..15 stay zero.
inline void load_ipv4(IpAddress& ip, const std::uint8_t* p) noexcept {
  ip.family = IpFamily::kIpv4;
  std::memcpy(ip.bytes.data(), p, 4);
}
inline void load_ipv6(IpAddress& ip, const std::uint8_t* p) noexcept {
  ip.family = IpFamily::kIpv6;
  std::memcpy(ip.bytes.data(), p, 16);
}
inline std::uint16_t u16(std::size_t v) noexcept { return static_cast<std::uint16_t>(v); }

// Where an L4 header sits relative to fragmentation.
enum class Fragment : std::uint8_t { kNone, kFirst };

// ICMPv4 types whose header carries an identifier and sequence number.
constexpr bool icmp4_is_query(std::uint8_t type) noexcept {
  return type == 0 || type == 8 ||    // echo reply / request
         type == 13 || type == 14 ||  // timestamp
         type == 15 || type == 16 ||  // information
         type == 17 || type == 18;    // address mask
}
// ICMPv4 messages quoting the offending datagram (as netfilter's conntrack
// relates them): unreachable, source quench, redirect, time exceeded,
// parameter problem.
constexpr bool icmp4_is_error(std::uint8_t type) noexcept {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}
// ICMPv6 errors are types 1-4: unreachable, packet too big, time exceeded,
// parameter problem.
constexpr bool icmp6_is_error(std::uint8_t type) noexcept { return type >= 1 && type <= 4; }
constexpr bool icmp6_is_echo(std::uint8_t type) noexcept { return type == 128 || type == 129; }

// IPv4 options: EOL ends the list (the rest is padding), NOP is one byte,
// everything else is type-length-value with length >= 2 covering itself.
ParseError check_ipv4_options(const std::uint8_t* o, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t type = o[i];
    if (type == 0) break;
    if (type == 1) {
      ++i;
      continue;
    }
    if (n - i < 2) return ParseError::kBadIpv4Options;
    const std::size_t len = o[i + 1];
    if (len < 2 || len > n - i) return ParseError::kBadIpv4Options;
    i += len;
  }
  return ParseError::kOk;
}

// Hop-by-hop / destination options: Pad1 is one byte, everything else is
// type-length-value where the length excludes the two-byte TL.
ParseError check_ipv6_options(const std::uint8_t* o, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    if (o[i] == 0) {
      ++i;
      continue;
    }
    if (n - i < 2) return ParseError::kBadIpv6Options;
    const std::size_t len = o[i + 1];
    if (len > n - i - 2) return ParseError::kBadIpv6Options;
    i += 2 + len;
  }
  return ParseError::kOk;
}

// TCP options. Unknown kinds are skipped by their length; known kinds must
// have their RFC length, since a stack that sends anything else is either
// broken or probing the middlebox.
ParseError parse_tcp_options(const std::uint8_t* o, std::size_t n, TcpInfo& tcp) noexcept {
  // What nearly every segment of an established Linux or BSD connection
  // carries: NOP, NOP, timestamps. The walk below reads it the same way.
  constexpr std::uint32_t kNopNopTimestamps = 0x0101080a;
  if (n == 12 && load32(o) == kNopNopTimestamps) {
    tcp.ts_value = load32(o + 4);
    tcp.ts_echo = load32(o + 8);
    tcp.has_timestamps = true;
    return ParseError::kOk;
  }
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t kind = o[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (n - i < 2) return ParseError::kBadTcpOption;
    const std::size_t len = o[i + 1];
    if (len < 2 || len > n - i) return ParseError::kBadTcpOption;
    const std::uint8_t* value = o + i + 2;
    switch (kind) {
      case 2:  // MSS
        if (len != 4) return ParseError::kBadTcpOption;
        tcp.mss = load16(value);
        tcp.has_mss = true;
        break;
      case 3:  // window scale
        if (len != 3) return ParseError::kBadTcpOption;
        tcp.window_scale = value[0];
        tcp.has_window_scale = true;
        break;
      case 4:  // SACK permitted
        if (len != 2) return ParseError::kBadTcpOption;
        tcp.sack_permitted = true;
        break;
      case 5: {  // SACK: 1..4 blocks of (left, right)
        const std::size_t blocks = (len - 2) / 8;
        // 40 bytes of options hold at most 4 blocks; the bound still guards the arrays.
        if ((len - 2) % 8 != 0 || blocks == 0 || blocks > kMaxSackBlocks)
          return ParseError::kBadTcpOption;
        for (std::size_t b = 0; b < blocks; ++b) {
          tcp.sack_left[b] = load32(value + b * 8);
          tcp.sack_right[b] = load32(value + b * 8 + 4);
        }
        tcp.sack_block_count = static_cast<std::uint8_t>(blocks);
        break;
      }
      case 8:  // timestamps
        if (len != 10) return ParseError::kBadTcpOption;
        tcp.ts_value = load32(value);
        tcp.ts_echo = load32(value + 4);
        tcp.has_timestamps = true;
        break;
      default:
        break;
    }
    i += len;
  }
  return ParseError::kOk;
}

// Ports (or the echo identifier) of a quoted L4 header of `n` bytes.
void parse_inner_ports(const std::uint8_t* l4, std::size_t n, IcmpInner& inner) noexcept {
  switch (inner.protocol) {
    case kIpProtoTcp:
    case kIpProtoUdp:
      if (n < 4) return;
      inner.src_port = load16(l4);
      inner.dst_port = load16(l4 + 2);
      inner.has_ports = true;
      return;
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      if (n < kIcmpHeaderLength) return;
      const bool echo = inner.protocol == kIpProtoIcmp ? (l4[0] == 0 || l4[0] == 8)
                                                       : icmp6_is_echo(l4[0]);
      if (!echo) return;
      inner.src_port = inner.dst_port = load16(l4 + 4);
      inner.has_ports = true;
      return;
    }
    default:
      return;
  }
}

// The IPv4 header (+ L4 start) quoted by an ICMP error. The quote is
// normally the start of a longer datagram, so the quoted total length may
// exceed the quote, but the header itself must be whole and self-consistent.
ParseError parse_inner_ipv4(const std::uint8_t* q, std::size_t n, IcmpInner& inner) noexcept {
  if (n < kIpv4MinHeaderLength || (q[0] >> 4) != 4) return ParseError::kBadIcmpInner;
  const std::size_t header_length = std::size_t{q[0] & 0x0fu} * 4;
  if (header_length < kIpv4MinHeaderLength || header_length > n) return ParseError::kBadIcmpInner;
  const std::size_t total_length = load16(q + 2);
  if (total_length < header_length) return ParseError::kBadIcmpInner;
  inner.family = IpFamily::kIpv4;
  load_ipv4(inner.src, q + 12);
  load_ipv4(inner.dst, q + 16);
  inner.protocol = q[9];
  if ((load16(q + 6) & 0x1fff) != 0) return ParseError::kOk;  // non-first fragment: no ports
  // Quoted bytes past the datagram's own total length are not its L4 header.
  const std::size_t l4_end = total_length < n ? total_length : n;
  parse_inner_ports(q + header_length, l4_end - header_length, inner);
  return ParseError::kOk;
}

// The IPv6 header quoted by an ICMPv6 error; the extension headers are
// walked to find the upper layer, but a quote that ends inside them is only
// "too short for ports", not malformed.
ParseError parse_inner_ipv6(const std::uint8_t* q, std::size_t n, IcmpInner& inner) noexcept {
  if (n < kIpv6HeaderLength || (q[0] >> 4) != 6) return ParseError::kBadIcmpInner;
  inner.family = IpFamily::kIpv6;
  load_ipv6(inner.src, q + 8);
  load_ipv6(inner.dst, q + 24);
  const std::size_t datagram_end = kIpv6HeaderLength + load16(q + 4);
  const std::size_t end = datagram_end < n ? datagram_end : n;
  std::size_t off = kIpv6HeaderLength;
  std::uint8_t next = q[6];
  for (std::size_t count = 0;; ++count) {
    inner.protocol = next;
    std::size_t len = 0;
    switch (next) {
      case kIpProtoHopByHop:
      case kIpProtoRouting:
      case kIpProtoDestOpts:
        if (end - off < kIpv6MinExtHeaderLength) return ParseError::kOk;
        len = (std::size_t{q[off + 1]} + 1) * 8;
        break;
      case kIpProtoFragment:
        if (end - off < kIpv6FragmentHeaderLength) return ParseError::kOk;
        if ((load16(q + off + 2) & 0xfff8) != 0) {  // non-first fragment: no ports
          inner.protocol = q[off];
          return ParseError::kOk;
        }
        len = kIpv6FragmentHeaderLength;
        break;
      case kIpProtoAh:
        if (end - off < kAhMinLength) return ParseError::kOk;
        len = (std::size_t{q[off + 1]} + 2) * 4;
        if (len < kAhMinLength) return ParseError::kBadIcmpInner;
        break;
      default:
        parse_inner_ports(q + off, end - off, inner);
        return ParseError::kOk;
    }
    if (count == kMaxIpv6ExtHeaders) return ParseError::kBadIcmpInner;
    if (len > end - off) return ParseError::kOk;
    next = q[off];
    off += len;
  }
}

class Parser {
 public:
  Parser(const std::uint8_t* frame, PacketView& view, bool decapsulate) noexcept
      : frame_(frame), v_(view), decapsulate_(decapsulate) {}

  ParseError ethernet(std::size_t off, std::size_t end) noexcept;

 private:
  ParseError l3(std::uint16_t ethertype, std::size_t off, std::size_t end) noexcept;
  ParseError arp(std::size_t off, std::size_t end) noexcept;
  ParseError ipv4(std::size_t off, std::size_t end) noexcept;
  ParseError ipv6(std::size_t off, std::size_t end) noexcept;
  ParseError l4(std::uint8_t protocol, std::size_t off, std::size_t end, Fragment frag) noexcept;
  ParseError tcp(std::size_t off, std::size_t end, Fragment frag) noexcept;
  ParseError udp(std::size_t off, std::size_t end, Fragment frag) noexcept;
  ParseError icmp(std::size_t off, std::size_t end, Fragment frag) noexcept;
  ParseError icmpv6(std::size_t off, std::size_t end, Fragment frag) noexcept;
  const std::uint8_t* icmp_common(std::size_t off, std::size_t end, Fragment frag,
                                  ParseError& err) noexcept;
  void icmp_query_id(const std::uint8_t* p) noexcept;
  ParseError nd(std::size_t off, std::size_t end) noexcept;
  ParseError dhcp() noexcept;
  ParseError vxlan() noexcept;
  ParseError geneve() noexcept;
  ParseError enter_tunnel(TunnelKind kind, std::uint32_t vni, std::size_t inner_offset,
                          std::size_t inner_length, std::uint16_t inner_protocol) noexcept;

  // Layers without a parsed L4 header still expose what follows the last
  // header parsed, so payload() is meaningful for app-id on e.g. GRE or a
  // non-first fragment.
  ParseError opaque_payload(std::size_t off, std::size_t end) noexcept {
    v_.payload_offset = u16(off);
    v_.payload_length = u16(end - off);
    return ParseError::kOk;
  }

  const std::uint8_t* const frame_;
  PacketView& v_;
  const bool decapsulate_;
  bool inner_ = false;  // inside a decapsulated frame: tunnels are not followed again
};

ParseError Parser::ethernet(std::size_t off, std::size_t end) noexcept {
  if (end - off < kEthernetHeaderLength) return ParseError::kTruncatedEthernet;
  const std::uint8_t* p = frame_ + off;
  load_mac(v_.dst_mac, p);
  load_mac(v_.src_mac, p + 6);
  std::uint16_t ethertype = load16(p + 12);
  off += kEthernetHeaderLength;
  while (ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinQ) [[unlikely]] {
    if (v_.vlan_count == kMaxVlanTags) return ParseError::kTooManyVlanTags;
    if (end - off < kVlanTagLength) return ParseError::kTruncatedVlan;
    VlanTag& tag = v_.vlans[v_.vlan_count++];
    tag.tpid = ethertype;
    tag.tci = load16(frame_ + off);
    ethertype = load16(frame_ + off + 2);
    off += kVlanTagLength;
  }
  v_.ethertype = ethertype;
  return l3(ethertype, off, end);
}

ParseError Parser::l3(std::uint16_t ethertype, std::size_t off, std::size_t end) noexcept {
  switch (ethertype) {
    case kEtherTypeIpv4: return ipv4(off, end);
    case kEtherTypeIpv6: return ipv6(off, end);
    case kEtherTypeArp: return arp(off, end);
    default: return ParseError::kOk;  // not ours to judge (LLDP, 802.3 length, ...)
  }
}

ParseError Parser::arp(std::size_t off, std::size_t end) noexcept {
  const std::size_t avail = end - off;
  if (avail < kArpHeaderLength) return ParseError::kTruncatedArp;
  const std::uint8_t* p = frame_ + off;
  // Hardware Ethernet (1) with 6-byte addresses, protocol IPv4 with 4-byte ones.
  if (load16(p) != 1 || load16(p + 2) != kEtherTypeIpv4 || p[4] != 6 || p[5] != 4)
    return ParseError::kBadArp;
  if (avail < kArpEthernetIpv4Length) return ParseError::kTruncatedArp;
  v_.l3 = L3Kind::kArp;
  v_.l3_offset = u16(off);
  v_.l3_length = u16(kArpEthernetIpv4Length);
  v_.is_arp = true;
  v_.arp = ArpInfo{};
  v_.arp.operation = load16(p + 6);
  load_mac(v_.arp.sender_mac, p + 8);
  load_ipv4(v_.arp.sender_ip, p + 14);
  load_mac(v_.arp.target_mac, p + 18);
  load_ipv4(v_.arp.target_ip, p + 24);
  return ParseError::kOk;
}

ParseError Parser::ipv4(std::size_t off, std::size_t end) noexcept {
  const std::size_t avail = end - off;
  if (avail < kIpv4MinHeaderLength) return ParseError::kTruncatedIpv4;
  const std::uint8_t* p = frame_ + off;
  if ((p[0] >> 4) != 4) return ParseError::kBadIpVersion;
  const std::size_t header_length = std::size_t{p[0] & 0x0fu} * 4;
  if (header_length < kIpv4MinHeaderLength || header_length > avail)
    return ParseError::kBadIpv4HeaderLength;
  const std::size_t total_length = load16(p + 2);
  // Shorter than what is present is Ethernet padding (or an FCS); longer is a lie.
  if (total_length < header_length || total_length > avail) return ParseError::kBadIpv4TotalLength;

  v_.l3 = L3Kind::kIpv4;
  v_.l3_offset = u16(off);
  v_.l3_length = u16(total_length);
  v_.tos = p[1];
  v_.ttl = p[8];
  v_.protocol = p[9];
  load_ipv4(v_.src_ip, p + 12);
  load_ipv4(v_.dst_ip, p + 16);
  if (header_length > kIpv4MinHeaderLength) [[unlikely]] {
    const ParseError err =
        check_ipv4_options(p + kIpv4MinHeaderLength, header_length - kIpv4MinHeaderLength);
    if (err != ParseError::kOk) return err;
  }

  const std::uint16_t flags_offset = load16(p + 6);
  v_.dont_fragment = (flags_offset & 0x4000) != 0;
  v_.fragment_id = load16(p + 4);
  const std::size_t l4_off = off + header_length;
  const std::size_t l3_end = off + total_length;
  if ((flags_offset & 0x3fff) == 0) [[likely]]
    return l4(v_.protocol, l4_off, l3_end, Fragment::kNone);

  v_.is_fragment = true;
  v_.more_fragments = (flags_offset & 0x2000) != 0;
  const std::size_t fragment_offset = std::size_t{flags_offset & 0x1fffu} * 8;
  v_.fragment_offset = u16(fragment_offset);
  const std::size_t fragment_length = total_length - header_length;
  if (fragment_offset + fragment_length > kMaxIpDatagram ||
      (v_.more_fragments && fragment_length % 8 != 0) ||
      (fragment_offset == 8 && v_.protocol == kIpProtoTcp))
    return ParseError::kBadIpv4Fragment;
  if (fragment_offset != 0) return opaque_payload(l4_off, l3_end);
  return l4(v_.protocol, l4_off, l3_end, Fragment::kFirst);
}

ParseError Parser::ipv6(std::size_t off, std::size_t end) noexcept {
  const std::size_t avail = end - off;
  if (avail < kIpv6HeaderLength) return ParseError::kTruncatedIpv6;
  const std::uint8_t* p = frame_ + off;
  if ((p[0] >> 4) != 6) return ParseError::kBadIpVersion;
  // A payload length of 0 is taken literally: jumbograms (RFC 2675) cannot
  // cross an Ethernet link.
  const std::size_t l3_length = kIpv6HeaderLength + load16(p + 4);
  if (l3_length > avail || l3_length > kMaxIpDatagram) return ParseError::kBadIpv6PayloadLength;

  v_.l3 = L3Kind::kIpv6;
  v_.l3_offset = u16(off);
  v_.l3_length = u16(l3_length);
  const std::uint32_t first_word = load32(p);
  v_.tos = static_cast<std::uint8_t>(first_word >> 20);
  v_.flow_label = first_word & 0xfffff;
  v_.ttl = p[7];
  load_ipv6(v_.src_ip, p + 8);
  load_ipv6(v_.dst_ip, p + 24);

  // Walk the extension headers to the upper layer.
  const std::size_t l3_end = off + l3_length;
  std::size_t cur = off + kIpv6HeaderLength;
  std::uint8_t next = p[6];
  std::size_t count = 0;
  bool seen_fragment_header = false;
  Fragment frag = Fragment::kNone;
  // RFC 7112: a first fragment must hold the whole header chain, so running
  // out of bytes there is a tiny first fragment rather than mere truncation.
  auto truncated = [&](ParseError err) {
    return frag == Fragment::kFirst ? ParseError::kTinyFirstFragment : err;
  };
  for (;;) {
    switch (next) {
      case kIpProtoHopByHop:
      case kIpProtoRouting:
      case kIpProtoDestOpts: {
        if (next == kIpProtoHopByHop && count != 0) return ParseError::kBadIpv6ExtHeaderOrder;
        if (count == kMaxIpv6ExtHeaders) return ParseError::kTooManyIpv6ExtHeaders;
        ++count;
        if (l3_end - cur < kIpv6MinExtHeaderLength)
          return truncated(ParseError::kTruncatedIpv6ExtHeader);
        const std::uint8_t* h = frame_ + cur;
        const std::size_t len = (std::size_t{h[1]} + 1) * 8;
        if (len > l3_end - cur) return truncated(ParseError::kTruncatedIpv6ExtHeader);
        if (next != kIpProtoRouting) {
          const ParseError err = check_ipv6_options(h + 2, len - 2);
          if (err != ParseError::kOk) return err;
        }
        next = h[0];
        cur += len;
        break;
      }
      case kIpProtoFragment: {
        if (count == kMaxIpv6ExtHeaders) return ParseError::kTooManyIpv6ExtHeaders;
        ++count;
        if (seen_fragment_header) return ParseError::kBadIpv6ExtHeaderOrder;
        seen_fragment_header = true;
        if (l3_end - cur < kIpv6FragmentHeaderLength)
          return truncated(ParseError::kTruncatedIpv6ExtHeader);
        const std::uint8_t* h = frame_ + cur;
        next = h[0];
        const std::uint16_t offset_flags = load16(h + 2);
        cur += kIpv6FragmentHeaderLength;
        v_.fragment_id = load32(h + 4);
        // An "atomic fragment" (offset 0, M clear) is a whole packet (RFC 6946).
        if ((offset_flags & 0xfff9) == 0) break;
        v_.is_fragment = true;
        v_.more_fragments = (offset_flags & 1) != 0;
        v_.fragment_offset = static_cast<std::uint16_t>(offset_flags & 0xfff8);
        const std::size_t fragment_length = l3_end - cur;
        if (std::size_t{v_.fragment_offset} + fragment_length > kMaxIpDatagram ||
            (v_.more_fragments && fragment_length % 8 != 0) ||
            (v_.fragment_offset == 8 && next == kIpProtoTcp))
          return ParseError::kBadIpv6Fragment;
        if (v_.fragment_offset != 0) {
          v_.protocol = next;
          v_.ipv6_ext_count = static_cast<std::uint8_t>(count);
          return opaque_payload(cur, l3_end);
        }
        frag = Fragment::kFirst;
        break;
      }
      case kIpProtoAh: {
        if (count == kMaxIpv6ExtHeaders) return ParseError::kTooManyIpv6ExtHeaders;
        ++count;
        if (l3_end - cur < kAhMinLength) return truncated(ParseError::kTruncatedAh);
        const std::uint8_t* h = frame_ + cur;
        const std::size_t len = (std::size_t{h[1]} + 2) * 4;  // in 4-byte units, minus 2
        if (len < kAhMinLength) return ParseError::kTruncatedAh;
        if (len > l3_end - cur) return truncated(ParseError::kTruncatedAh);
        next = h[0];
        cur += len;
        break;
      }
      default:
        v_.protocol = next;
        v_.ipv6_ext_count = static_cast<std::uint8_t>(count);
        return l4(next, cur, l3_end, frag);
    }
  }
}

ParseError Parser::l4(std::uint8_t protocol, std::size_t off, std::size_t end,
                      Fragment frag) noexcept {
  switch (protocol) {
    case kIpProtoTcp: return tcp(off, end, frag);
    case kIpProtoUdp: return udp(off, end, frag);
    case kIpProtoIcmp:
      if (v_.l3 == L3Kind::kIpv4) return icmp(off, end, frag);
      break;
    case kIpProtoIcmpv6:
      if (v_.l3 == L3Kind::kIpv6) return icmpv6(off, end, frag);
      break;
    default:
      break;
  }
  return opaque_payload(off, end);
}

ParseError Parser::tcp(std::size_t off, std::size_t end, Fragment frag) noexcept {
  const std::size_t avail = end - off;
  if (avail < kTcpMinHeaderLength)
    return frag == Fragment::kFirst ? ParseError::kTinyFirstFragment : ParseError::kTruncatedTcp;
  const std::uint8_t* p = frame_ + off;
  const std::size_t header_length = (std::size_t{p[12]} >> 4) * 4;
  if (header_length < kTcpMinHeaderLength) return ParseError::kBadTcpDataOffset;
  // A first fragment must carry the options too (RFC 1858): no header
  // spread over fragments for a filter to miss.
  if (header_length > avail)
    return frag == Fragment::kFirst ? ParseError::kTinyFirstFragment
                                    : ParseError::kBadTcpDataOffset;
  v_.has_l4 = true;
  v_.l4_offset = u16(off);
  v_.src_port = load16(p);
  v_.dst_port = load16(p + 2);
  TcpInfo& t = v_.tcp;
  t = TcpInfo{};  // layer structs are reset only when their layer is parsed
  t.seq = load32(p + 4);
  t.ack = load32(p + 8);
  t.flags = p[13];
  t.window = load16(p + 14);
  t.header_length = static_cast<std::uint8_t>(header_length);
  v_.payload_offset = u16(off + header_length);
  v_.payload_length = u16(avail - header_length);
  if (header_length > kTcpMinHeaderLength)
    return parse_tcp_options(p + kTcpMinHeaderLength, header_length - kTcpMinHeaderLength, t);
  return ParseError::kOk;
}

ParseError Parser::udp(std::size_t off, std::size_t end, Fragment frag) noexcept {
  const std::size_t avail = end - off;
  if (avail < kUdpHeaderLength)
    return frag == Fragment::kFirst ? ParseError::kTinyFirstFragment : ParseError::kTruncatedUdp;
  const std::uint8_t* p = frame_ + off;
  const std::size_t udp_length = load16(p + 4);
  if (udp_length < kUdpHeaderLength) return ParseError::kBadUdpLength;
  v_.has_l4 = true;
  v_.l4_offset = u16(off);
  v_.src_port = load16(p);
  v_.dst_port = load16(p + 2);
  v_.payload_offset = u16(off + kUdpHeaderLength);
  // A first fragment's UDP length describes the reassembled datagram.
  if (frag == Fragment::kFirst) {
    v_.payload_length = u16(avail - kUdpHeaderLength);
    return ParseError::kOk;
  }
  if (udp_length > avail) return ParseError::kBadUdpLength;
  v_.payload_length = u16(udp_length - kUdpHeaderLength);

  if (!inner_) {
    if (v_.dst_port == kUdpPortVxlan) return vxlan();
    if (v_.dst_port == kUdpPortGeneve) return geneve();
  }
  const auto is_dhcp_port = [](std::uint16_t port) {
    return port == kUdpPortDhcpServer || port == kUdpPortDhcpClient;
  };
  if (v_.l3 == L3Kind::kIpv4 && is_dhcp_port(v_.dst_port) && is_dhcp_port(v_.src_port))
    return dhcp();
  return ParseError::kOk;
}

// The 8-byte header ICMP and ICMPv6 share: type, code, checksum, then 4
// bytes whose meaning depends on the type. Returns nullptr if too short.
const std::uint8_t* Parser::icmp_common(std::size_t off, std::size_t end, Fragment frag,
                                        ParseError& err) noexcept {
  const std::size_t avail = end - off;
  if (avail < kIcmpHeaderLength) {
    err = frag == Fragment::kFirst ? ParseError::kTinyFirstFragment : ParseError::kTruncatedIcmp;
    return nullptr;
  }
  const std::uint8_t* p = frame_ + off;
  IcmpInfo& info = v_.icmp;
  info = IcmpInfo{};
  info.type = p[0];
  info.code = p[1];
  v_.has_l4 = true;
  v_.l4_offset = u16(off);
  v_.dst_port = static_cast<std::uint16_t>((info.type << 8) | info.code);
  v_.payload_offset = u16(off + kIcmpHeaderLength);
  v_.payload_length = u16(avail - kIcmpHeaderLength);
  return p;
}

void Parser::icmp_query_id(const std::uint8_t* p) noexcept {
  v_.icmp.id = load16(p + 4);
  v_.icmp.sequence = load16(p + 6);
  v_.src_port = v_.icmp.id;
}

ParseError Parser::icmp(std::size_t off, std::size_t end, Fragment frag) noexcept {
  ParseError err = ParseError::kOk;
  const std::uint8_t* p = icmp_common(off, end, frag, err);
  if (p == nullptr) return err;
  IcmpInfo& info = v_.icmp;
  if (icmp4_is_query(info.type)) {
    icmp_query_id(p);
  } else if (icmp4_is_error(info.type)) {
    info.is_error = true;
    return parse_inner_ipv4(p + kIcmpHeaderLength, end - off - kIcmpHeaderLength, info.inner);
  }
  return ParseError::kOk;
}

ParseError Parser::icmpv6(std::size_t off, std::size_t end, Fragment frag) noexcept {
  ParseError err = ParseError::kOk;
  const std::uint8_t* p = icmp_common(off, end, frag, err);
  if (p == nullptr) return err;
  IcmpInfo& info = v_.icmp;
  if (icmp6_is_echo(info.type)) {
    icmp_query_id(p);
  } else if (icmp6_is_error(info.type)) {
    info.is_error = true;
    return parse_inner_ipv6(p + kIcmpHeaderLength, end - off - kIcmpHeaderLength, info.inner);
  } else if (info.type >= 133 && info.type <= 137 && frag == Fragment::kNone) {
    return nd(off, end);
  }
  return ParseError::kOk;
}

// Neighbour discovery (RFC 4861): a fixed part per type, then options in
// 8-byte units that must tile the rest of the message exactly.
ParseError Parser::nd(std::size_t off, std::size_t end) noexcept {
  const std::uint8_t* p = frame_ + off;
  const std::size_t avail = end - off;
  std::size_t fixed = 0;
  switch (p[0]) {
    case 133: fixed = 8; break;   // router solicitation
    case 134: fixed = 16; break;  // router advertisement
    case 135:                     // neighbour solicitation
    case 136: fixed = 24; break;  // neighbour advertisement
    default: fixed = 40; break;   // 137 redirect: target + destination
  }
  if (avail < fixed) return ParseError::kTruncatedNd;
  NdInfo& nd = v_.nd;
  nd = NdInfo{};
  if (fixed >= 24) load_ipv6(nd.target, p + 8);
  std::size_t i = fixed;
  while (i < avail) {
    if (avail - i < 2) return ParseError::kBadNdOption;
    const std::size_t len = std::size_t{p[i + 1]} * 8;
    if (len == 0 || len > avail - i) return ParseError::kBadNdOption;
    // Link-layer address options hold the MAC right after type and length
    // (len >= 8 guarantees its 6 bytes are present).
    if (p[i] == 1) {
      load_mac(nd.source_link_address, p + i + 2);
      nd.has_source_link_address = true;
    } else if (p[i] == 2) {
      load_mac(nd.target_link_address, p + i + 2);
      nd.has_target_link_address = true;
    }
    i += len;
  }
  v_.is_nd = true;
  return ParseError::kOk;
}

ParseError Parser::dhcp() noexcept {
  const std::uint8_t* p = frame_ + v_.payload_offset;
  const std::size_t n = v_.payload_length;
  if (n < kDhcpOptionsOffset) return ParseError::kTruncatedDhcp;
  DhcpInfo& d = v_.dhcp;
  d = DhcpInfo{};
  d.op = p[0];
  if ((d.op != 1 && d.op != 2) || load32(p + kDhcpFixedLength) != kDhcpMagicCookie)
    return ParseError::kBadDhcp;
  d.xid = load32(p + 4);
  load_ipv4(d.client_ip, p + 12);
  load_ipv4(d.your_ip, p + 16);
  // chaddr is a MAC only for Ethernet (htype 1, hlen 6).
  if (p[1] == 1 && p[2] == 6) load_mac(d.client_mac, p + 28);
  std::size_t i = kDhcpOptionsOffset;
  while (i < n) {
    const std::uint8_t code = p[i];
    if (code == 0) {  // pad
      ++i;
      continue;
    }
    if (code == 255) break;  // end: what follows is padding
    if (n - i < 2) return ParseError::kBadDhcp;
    const std::size_t len = p[i + 1];
    if (len > n - i - 2) return ParseError::kBadDhcp;
    const std::uint8_t* value = p + i + 2;
    switch (code) {
      case 53:
        if (len != 1) return ParseError::kBadDhcp;
        d.message_type = value[0];
        break;
      case 50:
        if (len != 4) return ParseError::kBadDhcp;
        load_ipv4(d.requested_ip, value);
        break;
      case 51:
        if (len != 4) return ParseError::kBadDhcp;
        d.lease_seconds = load32(value);
        break;
      case 54:
        if (len != 4) return ParseError::kBadDhcp;
        load_ipv4(d.server_id, value);
        break;
      default:
        break;
    }
    i += 2 + len;
  }
  v_.is_dhcp = true;
  return ParseError::kOk;
}

ParseError Parser::vxlan() noexcept {
  const std::uint8_t* p = frame_ + v_.payload_offset;
  const std::size_t n = v_.payload_length;
  if (n < kVxlanHeaderLength) return ParseError::kTruncatedTunnel;
  // Only the I flag is checked: the other bits are reserved and must be
  // ignored on receipt (RFC 7348), which lets VXLAN-GBP through.
  if ((p[0] & kVxlanFlagVni) == 0) return ParseError::kBadTunnel;
  return enter_tunnel(TunnelKind::kVxlan, load24(p + 4), v_.payload_offset + kVxlanHeaderLength,
                      n - kVxlanHeaderLength, kEtherTypeTransparentEthernet);
}

ParseError Parser::geneve() noexcept {
  const std::uint8_t* p = frame_ + v_.payload_offset;
  const std::size_t n = v_.payload_length;
  if (n < kGeneveHeaderLength) return ParseError::kTruncatedTunnel;
  if ((p[0] >> 6) != 0) return ParseError::kBadTunnel;  // version
  const std::size_t options_length = std::size_t{p[0] & 0x3fu} * 4;
  if (options_length > n - kGeneveHeaderLength) return ParseError::kTruncatedTunnel;
  // Options are class(2) type(1) length(1, low 5 bits, 4-byte units) + data
  // and must tile the option area exactly. The area and every option are
  // multiples of 4 bytes, so an option's 4-byte header is always present.
  const std::uint8_t* o = p + kGeneveHeaderLength;
  for (std::size_t i = 0; i < options_length;) {
    const std::size_t len = 4 + std::size_t{o[i + 3] & 0x1fu} * 4;
    if (len > options_length - i) return ParseError::kBadTunnel;
    i += len;
  }
  const std::size_t header_length = kGeneveHeaderLength + options_length;
  return enter_tunnel(TunnelKind::kGeneve, load24(p + 4), v_.payload_offset + header_length,
                      n - header_length, load16(p + 2));
}

ParseError Parser::enter_tunnel(TunnelKind kind, std::uint32_t vni, std::size_t inner_offset,
                                std::size_t inner_length, std::uint16_t inner_protocol) noexcept {
  const bool ethernet_inside = inner_protocol == kEtherTypeTransparentEthernet;
  if (ethernet_inside && inner_length < kEthernetHeaderLength) return ParseError::kTruncatedTunnel;
  TunnelInfo& t = v_.tunnel;
  t.kind = kind;
  t.vni = vni;
  t.inner_offset = static_cast<std::uint32_t>(inner_offset);
  t.inner_length = static_cast<std::uint32_t>(inner_length);
  t.inner_protocol = inner_protocol;
  t.outer_src_port = v_.src_port;
  t.outer_src_ip = v_.src_ip;
  t.outer_dst_ip = v_.dst_ip;
  if (!decapsulate_) return ParseError::kOk;
  // Filtering the inner traffic is the point of decapsulating: a payload we
  // cannot parse must not pass on the strength of its outer headers.
  if (!ethernet_inside && inner_protocol != kEtherTypeIpv4 && inner_protocol != kEtherTypeIpv6)
    return ParseError::kBadTunnel;

  // Restart the view for the inner frame, keeping the frame and the tunnel.
  const TunnelInfo tunnel = t;
  const std::uint8_t* const data = v_.data;
  const std::uint32_t length = v_.length;
  reset_headers(v_);
  v_.data = data;
  v_.length = length;
  v_.tunnel = tunnel;
  inner_ = true;
  const std::size_t inner_end = inner_offset + inner_length;
  if (ethernet_inside) return ethernet(inner_offset, inner_end);
  v_.ethertype = inner_protocol;
  return l3(inner_protocol, inner_offset, inner_end);
}

// ---- The common path --------------------------------------------------------
//
// Nearly every frame a vNIC sees is Ethernet II without VLAN tags, carrying
// IPv4 without options or IPv6 without extension headers, unfragmented, with
// TCP or with UDP that is neither a tunnel nor DHCP. parse_frame() takes
// exactly those on a fast path (parse_common_ipv4/ipv6) that checks every
// length the general path checks, all before it writes anything, and then
// writes each field of PacketHeaders once — the parsed value, or the zero
// the general path's reset leaves — instead of zeroing the headers, walking
// the layers through calls and checking the bounds before each read.
// Anything else (other EtherTypes, VLAN tags, IPv4 options, extension
// headers, fragments, ICMP, tunnel and DHCP ports, and every frame the
// general path rejects) goes to the general path before anything is
// written. The one error the fast path reports itself is a bad TCP option:
// found after the same writes, by the same function, so the view is the same
// either way. tests/packet/fast_path_test.cc and fuzz_packet compare the
// two paths field by field.

// Out of line, so that the fast path pays nothing for the general path's set-up.
[[gnu::noinline]] ParseError parse_general(const std::uint8_t* frame, std::size_t size,
                                           PacketView& out, const ParseOptions& options) noexcept {
  reset_headers(out);
  out.data = frame;
  out.length = static_cast<std::uint32_t>(size);
  Parser parser(frame, out, options.decapsulate);
  return parser.ethernet(0, size);
}

// Not an error: "take the general path" (ParseError::kCount).
constexpr ParseError kNotCommon = packet_internal::kNotCommonFrame;

constexpr std::size_t kCommonL3Offset = kEthernetHeaderLength;  // no VLAN tags
// The shortest common frame: Ethernet, IPv4, UDP.
constexpr std::size_t kMinCommonFrame = kCommonL3Offset + kIpv4MinHeaderLength + kUdpHeaderLength;

// The L4 header of a common frame: TCP, or UDP that is neither a tunnel nor
// (over IPv4) DHCP, with the general path's length checks. `avail` is the IP
// payload length; the frame holds at least 8 bytes from `l4`. Sets the L4
// header and payload lengths; false: not common.
template <bool kIpv4>
inline bool common_l4(const std::uint8_t* l4, std::uint8_t protocol, std::size_t avail,
                      std::size_t& header_length, std::size_t& payload_length) noexcept {
  if (protocol == kIpProtoUdp) {
    // The UDP header is inside the frame (kMinCommonFrame); whether it is
    // inside the IP payload follows from 8 <= udp_length <= avail.
    const std::size_t udp_length = load16(l4 + 4);
    if (udp_length < kUdpHeaderLength || udp_length > avail) return false;
    const std::uint16_t dst_port = load16(l4 + 2);
    if (dst_port == kUdpPortVxlan || dst_port == kUdpPortGeneve) return false;
    if (kIpv4 && (dst_port == kUdpPortDhcpServer || dst_port == kUdpPortDhcpClient)) {
      const std::uint16_t src_port = load16(l4);
      if (src_port == kUdpPortDhcpServer || src_port == kUdpPortDhcpClient) return false;
    }
    header_length = kUdpHeaderLength;
    payload_length = udp_length - kUdpHeaderLength;
    return true;
  }
  if (protocol == kIpProtoTcp) {
    if (avail < kTcpMinHeaderLength) return false;
    header_length = (std::size_t{l4[12]} >> 4) * 4;
    if (header_length < kTcpMinHeaderLength || header_length > avail) return false;
    payload_length = avail - header_length;
    return true;
  }
  return false;
}

// What precedes L3 in a common frame: no VLAN tags.
inline void write_common_l2(const std::uint8_t* frame, std::size_t size, std::uint16_t ethertype,
                            PacketView& v) noexcept {
  v.data = frame;
  v.length = static_cast<std::uint32_t>(size);
  // Both MACs in one 12-byte copy (an 8- and a 4-byte move instead of four
  // moves): they are adjacent in the view as on the wire.
  static_assert(offsetof(PacketHeaders, src_mac) ==
                offsetof(PacketHeaders, dst_mac) + sizeof(MacAddress));
  std::memcpy(reinterpret_cast<unsigned char*>(static_cast<PacketHeaders*>(&v)) +
                  offsetof(PacketHeaders, dst_mac),
              frame, 2 * sizeof(MacAddress));
  v.vlan_count = 0;
  v.vlans[0] = VlanTag{};
  v.vlans[1] = VlanTag{};
  v.ethertype = ethertype;
  v.l3_offset = u16(kCommonL3Offset);
}

// What follows L3 in a common frame, as Parser::tcp() / udp() write it.
inline ParseError write_common_l4(const std::uint8_t* l4, std::size_t l4_offset,
                                  std::uint8_t protocol, std::size_t header_length,
                                  std::size_t payload_length, PacketView& v) noexcept {
  v.is_fragment = false;
  v.more_fragments = false;
  v.fragment_offset = 0;
  v.has_l4 = true;
  v.l4_offset = u16(l4_offset);
  v.src_port = load16(l4);
  v.dst_port = load16(l4 + 2);
  v.payload_offset = u16(l4_offset + header_length);
  v.payload_length = u16(payload_length);
  v.is_arp = false;
  v.is_nd = false;
  v.is_dhcp = false;
  v.tunnel.kind = TunnelKind::kNone;
  if (protocol != kIpProtoTcp) return ParseError::kOk;
  TcpInfo& t = v.tcp;
  t = TcpInfo{};
  t.seq = load32(l4 + 4);
  t.ack = load32(l4 + 8);
  t.flags = l4[13];
  t.window = load16(l4 + 14);
  t.header_length = static_cast<std::uint8_t>(header_length);
  if (header_length == kTcpMinHeaderLength) return ParseError::kOk;
  const ParseError err =
      parse_tcp_options(l4 + kTcpMinHeaderLength, header_length - kTcpMinHeaderLength, t);
  if (err == kNotCommon) __builtin_unreachable();  // lets parse_frame() tail-call it
  return err;
}

// Ethernet + IPv4 (IHL 5, unfragmented) + common L4, as Parser::ipv4() does it.
inline ParseError parse_common_ipv4(const std::uint8_t* frame, std::size_t size,
                                    PacketView& v) noexcept {
  constexpr std::size_t kL4 = kCommonL3Offset + kIpv4MinHeaderLength;
  if (size < kL4 + kUdpHeaderLength) return kNotCommon;
  const std::uint8_t* const ip = frame + kCommonL3Offset;
  if (ip[0] != 0x45) return kNotCommon;  // version 4, IHL 5: no options
  const std::size_t total_length = load16(ip + 2);
  if (total_length < kIpv4MinHeaderLength || total_length > size - kCommonL3Offset)
    return kNotCommon;
  if ((load16(ip + 6) & 0x3fff) != 0) return kNotCommon;  // MF or an offset: a fragment
  const std::uint8_t protocol = ip[9];
  std::size_t l4_header_length = 0;
  std::size_t payload_length = 0;
  if (!common_l4<true>(frame + kL4, protocol, total_length - kIpv4MinHeaderLength,
                       l4_header_length, payload_length))
    return kNotCommon;

  write_common_l2(frame, size, kEtherTypeIpv4, v);
  v.l3 = L3Kind::kIpv4;
  v.l3_length = u16(total_length);
  v.protocol = protocol;
  v.tos = ip[1];
  v.ttl = ip[8];
  v.flow_label = 0;
  v.ipv6_ext_count = 0;
  v.src_ip.set_v4(load32(ip + 12));  // all 16 bytes: no reset to rely on here
  v.dst_ip.set_v4(load32(ip + 16));
  v.dont_fragment = (ip[6] & 0x40) != 0;
  v.fragment_id = load16(ip + 4);
  return write_common_l4(frame + kL4, kL4, protocol, l4_header_length, payload_length, v);
}

// Ethernet + IPv6 without extension headers + common L4, as Parser::ipv6() does it.
inline ParseError parse_common_ipv6(const std::uint8_t* frame, std::size_t size,
                                    PacketView& v) noexcept {
  constexpr std::size_t kL4 = kCommonL3Offset + kIpv6HeaderLength;
  if (size < kL4 + kUdpHeaderLength) return kNotCommon;
  const std::uint8_t* const ip = frame + kCommonL3Offset;
  const std::uint32_t first_word = load32(ip);
  if ((first_word >> 28) != 6) return kNotCommon;
  const std::size_t l3_length = kIpv6HeaderLength + load16(ip + 4);
  if (l3_length > size - kCommonL3Offset || l3_length > kMaxIpDatagram) return kNotCommon;
  const std::uint8_t protocol = ip[6];  // an extension header is neither TCP nor UDP
  std::size_t l4_header_length = 0;
  std::size_t payload_length = 0;
  if (!common_l4<false>(frame + kL4, protocol, l3_length - kIpv6HeaderLength, l4_header_length,
                        payload_length))
    return kNotCommon;

  write_common_l2(frame, size, kEtherTypeIpv6, v);
  v.l3 = L3Kind::kIpv6;
  v.l3_length = u16(l3_length);
  v.protocol = protocol;
  v.tos = static_cast<std::uint8_t>(first_word >> 20);
  v.flow_label = first_word & 0xfffff;
  v.ttl = ip[7];
  v.ipv6_ext_count = 0;
  load_ipv6(v.src_ip, ip + 8);
  load_ipv6(v.dst_ip, ip + 24);
  v.dont_fragment = false;
  v.fragment_id = 0;
  return write_common_l4(frame + kL4, kL4, protocol, l4_header_length, payload_length, v);
}

// The fast path: kNotCommon, with `v` untouched, for anything but a common frame.
inline ParseError parse_common(const std::uint8_t* frame, std::size_t size, PacketView& v) noexcept {
  if (size < kMinCommonFrame) return kNotCommon;
  const std::uint16_t ethertype = load16(frame + 12);
  if (ethertype == kEtherTypeIpv4) return parse_common_ipv4(frame, size, v);
  if (ethertype == kEtherTypeIpv6) return parse_common_ipv6(frame, size, v);
  return kNotCommon;
}

// `length` is 32-bit; bytes past 4 GiB could only be padding anyway, as
// every IP datagram is at most 64 KiB.
std::size_t clamp_frame_size(std::size_t size) noexcept {
  return size < std::numeric_limits<std::uint32_t>::max() ? size
                                                          : std::numeric_limits<std::uint32_t>::max();
}

}  // namespace

ParseError parse_frame(std::span<const std::uint8_t> frame, PacketView& out,
                       const ParseOptions& options) noexcept {
  const std::size_t size = clamp_frame_size(frame.size());
  const ParseError err = parse_common(frame.data(), size, out);
  if (err != kNotCommon) [[likely]]
    return err;
  return parse_general(frame.data(), size, out, options);
}

namespace packet_internal {

ParseError parse_frame_general(std::span<const std::uint8_t> frame, PacketView& out,
                               const ParseOptions& options) noexcept {
  return parse_general(frame.data(), clamp_frame_size(frame.size()), out, options);
}

ParseError parse_frame_common(std::span<const std::uint8_t> frame, PacketView& out) noexcept {
  return parse_common(frame.data(), clamp_frame_size(frame.size()), out);
}

}  // namespace packet_internal
}  // namespace fw
