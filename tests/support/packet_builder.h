// tests/support/packet_builder.h — readable construction of test frames, and
// a tiny pcap reader.
//
// Usage:
//   using fw::test::PacketBuilder;
//   std::vector<std::uint8_t> syn =
//       PacketBuilder()
//           .eth("02:00:00:00:00:01", "02:00:00:00:00:02")
//           .vlan(10)
//           .ipv4("10.0.0.1", "10.0.0.2")
//           .tcp(1234, 80, fw::kTcpSyn,
//                {.options = fw::test::TcpOptions().mss(1460).sack_permitted()})
//           .build();
//
// Layers are stacked outermost first, and each one contains all that follows
// it, so a tunnel is simply more layers:
//   .ipv4(...).udp(5555, fw::kUdpPortVxlan).vxlan(42).eth(...).ipv4(...).tcp(...)
// and an ICMP error quotes what follows it:
//   .ipv4(...).icmp(3, 3).ipv4(..., {.total_length = 60}).udp(...)
//
// build() fills in everything the caller did not set explicitly: EtherTypes,
// IP protocols and next headers from the following layer; IPv4 total length,
// IPv6 payload length and UDP length from what follows; IPv4, TCP, UDP, ICMP
// and ICMPv6 checksums (the pseudo-header comes from the nearest enclosing IP
// layer). Each of them can be overridden in the layer's fields struct, and
// poke*() / truncate() then corrupt the finished bytes on purpose.
//
// Address arguments are text ("10.0.0.1", "2001:db8::1", "02:00:00:00:00:01");
// malformed text throws std::invalid_argument, which fails the calling test.
//
// Thread-safety: a builder is a plain value; build() is const.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fw/packet.h"
#include "fw/status.h"

namespace fw::test {

using Bytes = std::vector<std::uint8_t>;

enum class Layer : std::uint8_t {
  kEthernet,
  kVlan,
  kArp,
  kIpv4,
  kIpv6,
  kIpv6HopByHop,
  kIpv6Routing,
  kIpv6Fragment,
  kIpv6DestOpts,
  kAh,
  kTcp,
  kUdp,
  kIcmp,
  kIcmpv6,
  kDhcp,
  kVxlan,
  kGeneve,
  kPayload,
};

// ---- per-layer fields (all optional, designated-initialiser friendly) ------

struct VlanFields {
  std::uint8_t pcp = 0;
  bool dei = false;
  std::uint16_t tpid = kEtherTypeVlan;  // kEtherTypeQinQ for an 802.1ad S-tag
};

struct Ipv4Fields {
  std::uint8_t tos = 0;
  std::uint8_t ttl = 64;
  std::uint16_t id = 1;
  bool dont_fragment = false;
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;  // in bytes; a multiple of 8
  Bytes options = {};                 // raw option bytes, padded with EOL to 4n
  // Overrides of what build() computes.
  std::optional<std::uint8_t> protocol = {};
  std::optional<std::uint16_t> total_length = {};
  std::optional<std::uint8_t> ihl = {};  // in 32-bit words
  std::optional<std::uint16_t> checksum = {};
  std::uint8_t version = 4;
};

struct Ipv6Fields {
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
  std::uint8_t hop_limit = 64;
  std::optional<std::uint8_t> next_header = {};
  std::optional<std::uint16_t> payload_length = {};
  std::uint8_t version = 6;
};

// Hop-by-hop and destination options headers.
struct Ipv6OptionsFields {
  Bytes options = {};  // raw option TLVs; padded with PadN/Pad1 to 8n - 2 bytes
  std::optional<std::uint8_t> next_header = {};
  std::optional<std::uint8_t> length = {};  // "Hdr Ext Len" override (8-byte units - 1)
};

struct Ipv6RoutingFields {
  std::uint8_t routing_type = 4;  // segment routing; 0 is the deprecated RH0
  std::uint8_t segments_left = 0;
  Bytes data = {};  // type-specific data after the first 4 bytes; padded to 8n - 4
  std::optional<std::uint8_t> next_header = {};
};

struct Ipv6FragmentFields {
  std::uint16_t offset = 0;  // in bytes; a multiple of 8
  bool more_fragments = false;
  std::uint32_t id = 1;
  std::optional<std::uint8_t> next_header = {};
};

struct AhFields {
  std::uint32_t spi = 0x1000;
  std::uint32_t sequence = 1;
  std::size_t icv_length = 12;  // bytes of (zero) integrity check value
  std::optional<std::uint8_t> next_header = {};
  std::optional<std::uint8_t> length = {};  // "Payload Len" override (4-byte units - 2)
};

// TCP options in wire order; build() pads the list with EOL to 4n bytes.
class TcpOptions {
 public:
  TcpOptions& mss(std::uint16_t value);
  TcpOptions& window_scale(std::uint8_t shift);
  TcpOptions& sack_permitted();
  TcpOptions& sack(std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> blocks);
  TcpOptions& timestamps(std::uint32_t value, std::uint32_t echo);
  TcpOptions& nop();
  TcpOptions& eol();
  TcpOptions& raw(std::span<const std::uint8_t> bytes);  // anything, e.g. a bad length
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

struct TcpFields {
  std::uint32_t seq = 1000;
  std::uint32_t ack = 0;
  std::uint16_t window = 65535;
  std::uint16_t urgent = 0;
  TcpOptions options = {};
  std::optional<std::uint8_t> data_offset = {};  // in 32-bit words
  std::optional<std::uint16_t> checksum = {};
};

struct UdpFields {
  std::optional<std::uint16_t> length = {};
  std::optional<std::uint16_t> checksum = {};
};

struct IcmpFields {
  std::optional<std::uint16_t> checksum = {};
};

// Neighbour-discovery options in wire order.
class NdOptions {
 public:
  NdOptions& source_link_address(std::string_view mac);  // option 1
  NdOptions& target_link_address(std::string_view mac);  // option 2
  NdOptions& mtu(std::uint32_t mtu);                      // option 5
  // Any option: `length_units` is written as is (0 is malformed) and `body`
  // follows the two-byte type/length (zero-padded to length_units * 8 - 2).
  NdOptions& raw(std::uint8_t type, std::uint8_t length_units, Bytes body = {});
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

struct ArpFields {
  std::uint16_t operation = 1;  // 1 request, 2 reply
  std::string sender_mac = "02:00:00:00:00:01";
  std::string sender_ip = "10.0.0.1";
  std::string target_mac = "00:00:00:00:00:00";
  std::string target_ip = "10.0.0.2";
  std::uint16_t hardware_type = 1;
  std::uint16_t protocol_type = kEtherTypeIpv4;
  std::uint8_t hardware_length = 6;
  std::uint8_t protocol_length = 4;
};

struct DhcpFields {
  std::uint8_t op = 1;  // 1 BOOTREQUEST, 2 BOOTREPLY
  std::uint32_t xid = 0x12345678;
  std::string client_mac = "02:00:00:00:00:01";
  std::string client_ip = "0.0.0.0";  // ciaddr
  std::string your_ip = "0.0.0.0";    // yiaddr
  std::uint8_t message_type = 1;      // option 53; 0 leaves it out
  std::optional<std::string> requested_ip = {};      // option 50
  std::optional<std::uint32_t> lease_seconds = {};   // option 51
  std::optional<std::string> server_id = {};         // option 54
  Bytes extra_options = {};  // raw, after the ones above and before END
  bool end_option = true;
  std::uint32_t magic_cookie = 0x63825363;
};

struct VxlanFields {
  std::uint8_t flags = 0x08;  // the I flag
};

struct GeneveFields {
  Bytes options = {};  // raw option TLVs (a multiple of 4 bytes)
  std::uint8_t version = 0;
  bool oam = false;
  std::optional<std::uint16_t> protocol = {};       // default: from the next layer
  std::optional<std::uint8_t> option_length = {};   // in 4-byte units
};

// ---- the builder -------------------------------------------------------------

class PacketBuilder {
 public:
  // L2
  PacketBuilder& eth(std::string_view src = "02:00:00:00:00:01",
                     std::string_view dst = "02:00:00:00:00:02",
                     std::optional<std::uint16_t> ethertype = {});
  PacketBuilder& vlan(std::uint16_t vid, VlanFields fields = {});
  PacketBuilder& arp(ArpFields fields = {});

  // L3
  PacketBuilder& ipv4(std::string_view src, std::string_view dst, Ipv4Fields fields = {});
  PacketBuilder& ipv6(std::string_view src, std::string_view dst, Ipv6Fields fields = {});
  PacketBuilder& ipv6_hop_by_hop(Ipv6OptionsFields fields = {});
  PacketBuilder& ipv6_destination_options(Ipv6OptionsFields fields = {});
  PacketBuilder& ipv6_routing(Ipv6RoutingFields fields = {});
  PacketBuilder& ipv6_fragment(Ipv6FragmentFields fields = {});
  PacketBuilder& ah(AhFields fields = {});

  // L4
  PacketBuilder& tcp(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t flags,
                     TcpFields fields = {});
  PacketBuilder& udp(std::uint16_t src_port, std::uint16_t dst_port, UdpFields fields = {});
  // Any ICMP/ICMPv6 message: `rest` is header bytes 4-7 (id/seq, MTU, pointer...).
  PacketBuilder& icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest = 0,
                      IcmpFields fields = {});
  PacketBuilder& icmp_echo(std::uint16_t id, std::uint16_t sequence, bool reply = false);
  PacketBuilder& icmpv6(std::uint8_t type, std::uint8_t code, std::uint32_t rest = 0,
                        IcmpFields fields = {});
  PacketBuilder& icmpv6_echo(std::uint16_t id, std::uint16_t sequence, bool reply = false);

  // IPv6 neighbour discovery (ICMPv6 133-137), options after the fixed part.
  PacketBuilder& nd_router_solicitation(const NdOptions& options = {});
  PacketBuilder& nd_router_advertisement(const NdOptions& options = {});
  PacketBuilder& nd_neighbor_solicitation(std::string_view target, const NdOptions& options = {});
  PacketBuilder& nd_neighbor_advertisement(std::string_view target, std::uint32_t flags = 0x60000000,
                                           const NdOptions& options = {});
  PacketBuilder& nd_redirect(std::string_view target, std::string_view destination,
                             const NdOptions& options = {});

  // Applications and tunnels (put the matching UDP layer first).
  PacketBuilder& dhcp(DhcpFields fields = {});
  PacketBuilder& vxlan(std::uint32_t vni, VxlanFields fields = {});
  PacketBuilder& geneve(std::uint32_t vni, GeneveFields fields = {});

  // Opaque bytes as the last layer (or in the middle, to build anything).
  PacketBuilder& payload(std::span<const std::uint8_t> bytes);
  PacketBuilder& payload(std::string_view text);
  PacketBuilder& payload(std::size_t length, std::uint8_t fill = 0xab);

  // After the fix-ups. Padding/trailer bytes are outside every length field
  // (Ethernet padding, an FCS); pokes write big-endian at absolute offsets
  // and run after padding; truncate() cuts the final frame last.
  PacketBuilder& pad_to(std::size_t min_length);
  PacketBuilder& trailer(std::span<const std::uint8_t> bytes);
  PacketBuilder& poke8(std::size_t offset, std::uint8_t value);
  PacketBuilder& poke16(std::size_t offset, std::uint16_t value);
  PacketBuilder& poke32(std::size_t offset, std::uint32_t value);
  PacketBuilder& truncate(std::size_t length);
  // Like truncate(), but build() first computes the IPv4 total lengths, IPv6
  // payload lengths, UDP lengths and checksums as if the frame ended at
  // `length` (overridden values stay): a cut packet whose length fields
  // agree with it, so the L4 and application parsers see the cut.
  PacketBuilder& truncate_consistently(std::size_t length);

  // Offset of the nth (0-based) layer of a kind, as laid out by build();
  // throws std::out_of_range if there is no such layer.
  std::size_t offset_of(Layer kind, std::size_t nth = 0) const;
  std::size_t size() const;  // bytes of all layers, before padding/truncation

  Bytes build() const;

 private:
  struct LayerRecord {
    Layer kind;
    Bytes bytes;
    // What a preceding layer writes in its type field for this one.
    std::uint16_t as_ethertype = 0;
    std::uint8_t as_ip_protocol = 0;
    // Values the caller fixed (never recomputed by build()).
    std::optional<std::uint32_t> next_type;
    std::optional<std::uint16_t> length;
    std::optional<std::uint16_t> checksum;
  };
  PacketBuilder& push(LayerRecord record);
  PacketBuilder& nd(std::uint8_t type, Bytes fixed, const NdOptions& options);

  std::vector<LayerRecord> layers_;
  std::size_t pad_to_ = 0;
  Bytes trailer_;
  std::vector<std::pair<std::size_t, Bytes>> pokes_;
  std::optional<std::size_t> truncate_;
  bool truncate_consistently_ = false;
};

// The Internet checksum (RFC 1071) of `bytes`, folded and complemented.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial = 0);

// ---- DHCPv6 (RFC 8415) messages, for .udp(547, 546).payload(...) -----------
//
//   Bytes reply = dhcpv6_message(7, 0x1234, {dhcpv6_client_id_ll("02:00:00:00:00:01"),
//       dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::20", 1800, 3600)})});
//
// Any option: code, 16-bit length (the body's, unless `length` says
// otherwise: a wrong one builds a malformed option), body.
Bytes dhcpv6_option(std::uint16_t code, std::span<const std::uint8_t> body,
                    std::optional<std::uint16_t> length = {});
// Message type, 24-bit transaction id, then the options back to back.
Bytes dhcpv6_message(std::uint8_t type, std::uint32_t transaction_id, std::initializer_list<Bytes> options);
// IA_NA (3): IAID, T1, T2, options. IA_TA (4): IAID, options.
Bytes dhcpv6_ia_na(std::uint32_t iaid, std::initializer_list<Bytes> options, std::uint32_t t1 = 0,
                   std::uint32_t t2 = 0);
Bytes dhcpv6_ia_ta(std::uint32_t iaid, std::initializer_list<Bytes> options);
// IAADDR (5): IPv6 address, preferred and valid lifetimes, options.
Bytes dhcpv6_ia_address(std::string_view address, std::uint32_t preferred, std::uint32_t valid,
                        std::initializer_list<Bytes> options = {});
// Client Identifier (1) holding a DUID-LL (type 3) of an Ethernet address.
Bytes dhcpv6_client_id_ll(std::string_view mac);
// Status Code (13) with an empty message.
Bytes dhcpv6_status(std::uint16_t status);

// ---- captures ---------------------------------------------------------------

struct PcapFrame {
  Bytes bytes;                       // always an Ethernet frame (see read_pcap)
  std::uint32_t original_length = 0;  // on the wire, before the snap length
  bool synthetic_ethernet = false;   // an Ethernet header was made up
};

// Reads every frame of a capture with libpcap. Ethernet captures are
// returned as is; raw IP (DLT_RAW, DLT_IPV4, DLT_IPV6) and BSD loopback
// (DLT_NULL, DLT_LOOP) frames get a synthetic Ethernet header
// (02:00:00:00:00:01 -> 02:00:00:00:00:02, EtherType from the IP version) so
// that parse_frame() can read them. Other link types are an error.
StatusOr<std::vector<PcapFrame>> read_pcap(const std::string& path);

}  // namespace fw::test
