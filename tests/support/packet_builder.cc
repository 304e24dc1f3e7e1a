#include "support/packet_builder.h"

#include <pcap/pcap.h>

#include <stdexcept>

#include "fw/address.h"

namespace fw::test {
namespace {

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void append16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void append32(Bytes& b, std::uint32_t v) {
  append16(b, static_cast<std::uint16_t>(v >> 16));
  append16(b, static_cast<std::uint16_t>(v));
}
void append(Bytes& b, std::span<const std::uint8_t> more) { b.insert(b.end(), more.begin(), more.end()); }

MacAddress mac_or_throw(std::string_view text) {
  auto mac = parse_mac(text);
  if (!mac.ok()) throw std::invalid_argument(mac.status().to_string());
  return mac.value();
}
IpAddress ip_or_throw(std::string_view text, IpFamily family) {
  auto ip = parse_ip(text);
  if (!ip.ok()) throw std::invalid_argument(ip.status().to_string());
  if (ip.value().family != family)
    throw std::invalid_argument("'" + std::string(text) + "' is not an IPv" +
                                (family == IpFamily::kIpv4 ? "4" : "6") + " address");
  return ip.value();
}
void append_mac(Bytes& b, std::string_view text) {
  const MacAddress mac = mac_or_throw(text);
  b.insert(b.end(), mac.bytes.begin(), mac.bytes.end());
}
void append_ipv4(Bytes& b, std::string_view text) {
  const IpAddress ip = ip_or_throw(text, IpFamily::kIpv4);
  b.insert(b.end(), ip.bytes.begin(), ip.bytes.begin() + 4);
}
void append_ipv6(Bytes& b, std::string_view text) {
  const IpAddress ip = ip_or_throw(text, IpFamily::kIpv6);
  b.insert(b.end(), ip.bytes.begin(), ip.bytes.end());
}

// Pads hop-by-hop/destination options so the header is 8n bytes long
// (2 bytes of next header + length, then the options).
void pad_ipv6_options(Bytes& options) {
  const std::size_t need = (8 - (options.size() + 2) % 8) % 8;
  if (need == 1) {
    options.push_back(0);  // Pad1
  } else if (need >= 2) {
    options.push_back(1);  // PadN
    options.push_back(static_cast<std::uint8_t>(need - 2));
    options.insert(options.end(), need - 2, 0);
  }
}

}  // namespace

// ---- DHCPv6 -------------------------------------------------------------------

namespace {
Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& b : parts) out.insert(out.end(), b.begin(), b.end());
  return out;
}
}  // namespace

Bytes dhcpv6_option(std::uint16_t code, std::span<const std::uint8_t> body, std::optional<std::uint16_t> length) {
  Bytes out;
  append16(out, code);
  append16(out, length.value_or(static_cast<std::uint16_t>(body.size())));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes dhcpv6_message(std::uint8_t type, std::uint32_t transaction_id, std::initializer_list<Bytes> options) {
  Bytes out{type, static_cast<std::uint8_t>(transaction_id >> 16), static_cast<std::uint8_t>(transaction_id >> 8),
            static_cast<std::uint8_t>(transaction_id)};
  const Bytes rest = concat(options);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

Bytes dhcpv6_ia_na(std::uint32_t iaid, std::initializer_list<Bytes> options, std::uint32_t t1, std::uint32_t t2) {
  Bytes body;
  append32(body, iaid);
  append32(body, t1);
  append32(body, t2);
  const Bytes rest = concat(options);
  body.insert(body.end(), rest.begin(), rest.end());
  return dhcpv6_option(3, body);
}

Bytes dhcpv6_ia_ta(std::uint32_t iaid, std::initializer_list<Bytes> options) {
  Bytes body;
  append32(body, iaid);
  const Bytes rest = concat(options);
  body.insert(body.end(), rest.begin(), rest.end());
  return dhcpv6_option(4, body);
}

Bytes dhcpv6_ia_address(std::string_view address, std::uint32_t preferred, std::uint32_t valid,
                        std::initializer_list<Bytes> options) {
  const IpAddress a = ip_or_throw(address, IpFamily::kIpv6);
  Bytes body(a.bytes.begin(), a.bytes.end());
  append32(body, preferred);
  append32(body, valid);
  const Bytes rest = concat(options);
  body.insert(body.end(), rest.begin(), rest.end());
  return dhcpv6_option(5, body);
}

Bytes dhcpv6_client_id_ll(std::string_view mac) {
  const MacAddress m = mac_or_throw(mac);
  Bytes duid;
  append16(duid, 3);  // DUID-LL
  append16(duid, 1);  // Ethernet
  duid.insert(duid.end(), m.bytes.begin(), m.bytes.end());
  return dhcpv6_option(1, duid);
}

Bytes dhcpv6_status(std::uint16_t status) {
  Bytes body;
  append16(body, status);
  return dhcpv6_option(13, body);
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial) {
  std::uint64_t sum = initial;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) sum += (std::uint32_t{bytes[i]} << 8) | bytes[i + 1];
  if (bytes.size() % 2 != 0) sum += std::uint32_t{bytes.back()} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// ---- option lists --------------------------------------------------------------

TcpOptions& TcpOptions::mss(std::uint16_t value) {
  bytes_.insert(bytes_.end(), {2, 4});
  append16(bytes_, value);
  return *this;
}
TcpOptions& TcpOptions::window_scale(std::uint8_t shift) {
  bytes_.insert(bytes_.end(), {3, 3, shift});
  return *this;
}
TcpOptions& TcpOptions::sack_permitted() {
  bytes_.insert(bytes_.end(), {4, 2});
  return *this;
}
TcpOptions& TcpOptions::sack(std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> blocks) {
  bytes_.push_back(5);
  bytes_.push_back(static_cast<std::uint8_t>(2 + 8 * blocks.size()));
  for (const auto& [left, right] : blocks) {
    append32(bytes_, left);
    append32(bytes_, right);
  }
  return *this;
}
TcpOptions& TcpOptions::timestamps(std::uint32_t value, std::uint32_t echo) {
  bytes_.insert(bytes_.end(), {8, 10});
  append32(bytes_, value);
  append32(bytes_, echo);
  return *this;
}
TcpOptions& TcpOptions::nop() {
  bytes_.push_back(1);
  return *this;
}
TcpOptions& TcpOptions::eol() {
  bytes_.push_back(0);
  return *this;
}
TcpOptions& TcpOptions::raw(std::span<const std::uint8_t> bytes) {
  append(bytes_, bytes);
  return *this;
}

NdOptions& NdOptions::source_link_address(std::string_view mac) {
  bytes_.insert(bytes_.end(), {1, 1});
  append_mac(bytes_, mac);
  return *this;
}
NdOptions& NdOptions::target_link_address(std::string_view mac) {
  bytes_.insert(bytes_.end(), {2, 1});
  append_mac(bytes_, mac);
  return *this;
}
NdOptions& NdOptions::mtu(std::uint32_t mtu) {
  bytes_.insert(bytes_.end(), {5, 1, 0, 0});
  append32(bytes_, mtu);
  return *this;
}
NdOptions& NdOptions::raw(std::uint8_t type, std::uint8_t length_units, Bytes body) {
  bytes_.push_back(type);
  bytes_.push_back(length_units);
  const std::size_t want = length_units * std::size_t{8};
  if (want >= 2 && body.size() < want - 2) body.resize(want - 2, 0);
  append(bytes_, body);
  return *this;
}

// ---- layers ----------------------------------------------------------------------

PacketBuilder& PacketBuilder::push(LayerRecord record) {
  layers_.push_back(std::move(record));
  return *this;
}

PacketBuilder& PacketBuilder::eth(std::string_view src, std::string_view dst,
                                  std::optional<std::uint16_t> ethertype) {
  LayerRecord r{.kind = Layer::kEthernet, .as_ethertype = kEtherTypeTransparentEthernet};
  append_mac(r.bytes, dst);
  append_mac(r.bytes, src);
  append16(r.bytes, 0);
  if (ethertype) r.next_type = *ethertype;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::vlan(std::uint16_t vid, VlanFields f) {
  LayerRecord r{.kind = Layer::kVlan, .as_ethertype = f.tpid};
  append16(r.bytes, static_cast<std::uint16_t>((f.pcp << 13) | (f.dei ? 0x1000 : 0) | (vid & 0x0fff)));
  append16(r.bytes, 0);
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::arp(ArpFields f) {
  LayerRecord r{.kind = Layer::kArp, .as_ethertype = kEtherTypeArp};
  append16(r.bytes, f.hardware_type);
  append16(r.bytes, f.protocol_type);
  r.bytes.push_back(f.hardware_length);
  r.bytes.push_back(f.protocol_length);
  append16(r.bytes, f.operation);
  append_mac(r.bytes, f.sender_mac);
  append_ipv4(r.bytes, f.sender_ip);
  append_mac(r.bytes, f.target_mac);
  append_ipv4(r.bytes, f.target_ip);
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ipv4(std::string_view src, std::string_view dst, Ipv4Fields f) {
  LayerRecord r{.kind = Layer::kIpv4, .as_ethertype = kEtherTypeIpv4, .as_ip_protocol = 4};
  Bytes options = f.options;
  options.resize((options.size() + 3) / 4 * 4, 0);  // EOL padding
  const std::uint8_t ihl = f.ihl.value_or(static_cast<std::uint8_t>(5 + options.size() / 4));
  r.bytes.push_back(static_cast<std::uint8_t>((f.version << 4) | (ihl & 0x0f)));
  r.bytes.push_back(f.tos);
  append16(r.bytes, 0);  // total length
  append16(r.bytes, f.id);
  append16(r.bytes, static_cast<std::uint16_t>((f.dont_fragment ? 0x4000 : 0) |
                                               (f.more_fragments ? 0x2000 : 0) |
                                               ((f.fragment_offset / 8) & 0x1fff)));
  r.bytes.push_back(f.ttl);
  r.bytes.push_back(0);  // protocol
  append16(r.bytes, 0);  // checksum
  append_ipv4(r.bytes, src);
  append_ipv4(r.bytes, dst);
  append(r.bytes, options);
  if (f.protocol) r.next_type = *f.protocol;
  r.length = f.total_length;
  r.checksum = f.checksum;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ipv6(std::string_view src, std::string_view dst, Ipv6Fields f) {
  LayerRecord r{.kind = Layer::kIpv6, .as_ethertype = kEtherTypeIpv6, .as_ip_protocol = 41};
  append32(r.bytes, (std::uint32_t{f.version} << 28) | (std::uint32_t{f.traffic_class} << 20) |
                        (f.flow_label & 0xfffff));
  append16(r.bytes, 0);  // payload length
  r.bytes.push_back(0);  // next header
  r.bytes.push_back(f.hop_limit);
  append_ipv6(r.bytes, src);
  append_ipv6(r.bytes, dst);
  if (f.next_header) r.next_type = *f.next_header;
  r.length = f.payload_length;
  return push(std::move(r));
}

namespace {
Bytes ipv6_options_header(const Ipv6OptionsFields& f) {
  Bytes options = f.options;
  pad_ipv6_options(options);
  Bytes b{0, f.length.value_or(static_cast<std::uint8_t>((options.size() + 2) / 8 - 1))};
  append(b, options);
  return b;
}
}  // namespace

PacketBuilder& PacketBuilder::ipv6_hop_by_hop(Ipv6OptionsFields f) {
  LayerRecord r{.kind = Layer::kIpv6HopByHop, .bytes = ipv6_options_header(f), .as_ip_protocol = 0};
  if (f.next_header) r.next_type = *f.next_header;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ipv6_destination_options(Ipv6OptionsFields f) {
  LayerRecord r{.kind = Layer::kIpv6DestOpts, .bytes = ipv6_options_header(f), .as_ip_protocol = 60};
  if (f.next_header) r.next_type = *f.next_header;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ipv6_routing(Ipv6RoutingFields f) {
  LayerRecord r{.kind = Layer::kIpv6Routing, .as_ip_protocol = 43};
  Bytes data = f.data;
  data.resize((data.size() + 4 + 7) / 8 * 8 - 4, 0);
  r.bytes = {0, static_cast<std::uint8_t>((data.size() + 4) / 8 - 1), f.routing_type, f.segments_left};
  append(r.bytes, data);
  if (f.next_header) r.next_type = *f.next_header;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ipv6_fragment(Ipv6FragmentFields f) {
  LayerRecord r{.kind = Layer::kIpv6Fragment, .as_ip_protocol = 44};
  r.bytes = {0, 0};
  append16(r.bytes, static_cast<std::uint16_t>((f.offset & 0xfff8) | (f.more_fragments ? 1 : 0)));
  append32(r.bytes, f.id);
  if (f.next_header) r.next_type = *f.next_header;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::ah(AhFields f) {
  LayerRecord r{.kind = Layer::kAh, .as_ip_protocol = 51};
  const std::size_t total = 12 + f.icv_length;
  r.bytes = {0, f.length.value_or(static_cast<std::uint8_t>(total / 4 - 2)), 0, 0};
  append32(r.bytes, f.spi);
  append32(r.bytes, f.sequence);
  r.bytes.resize(total, 0);
  if (f.next_header) r.next_type = *f.next_header;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::tcp(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t flags,
                                  TcpFields f) {
  LayerRecord r{.kind = Layer::kTcp, .as_ip_protocol = kIpProtoTcp};
  Bytes options = f.options.bytes();
  options.resize((options.size() + 3) / 4 * 4, 0);  // EOL padding
  const std::uint8_t words = f.data_offset.value_or(static_cast<std::uint8_t>(5 + options.size() / 4));
  append16(r.bytes, src_port);
  append16(r.bytes, dst_port);
  append32(r.bytes, f.seq);
  append32(r.bytes, f.ack);
  r.bytes.push_back(static_cast<std::uint8_t>(words << 4));
  r.bytes.push_back(flags);
  append16(r.bytes, f.window);
  append16(r.bytes, 0);  // checksum
  append16(r.bytes, f.urgent);
  append(r.bytes, options);
  r.checksum = f.checksum;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::udp(std::uint16_t src_port, std::uint16_t dst_port, UdpFields f) {
  LayerRecord r{.kind = Layer::kUdp, .as_ip_protocol = kIpProtoUdp};
  append16(r.bytes, src_port);
  append16(r.bytes, dst_port);
  append16(r.bytes, 0);
  append16(r.bytes, 0);
  r.length = f.length;
  r.checksum = f.checksum;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest, IcmpFields f) {
  LayerRecord r{.kind = Layer::kIcmp, .bytes = {type, code, 0, 0}, .as_ip_protocol = kIpProtoIcmp};
  append32(r.bytes, rest);
  r.checksum = f.checksum;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::icmp_echo(std::uint16_t id, std::uint16_t sequence, bool reply) {
  return icmp(reply ? 0 : 8, 0, (std::uint32_t{id} << 16) | sequence);
}

PacketBuilder& PacketBuilder::icmpv6(std::uint8_t type, std::uint8_t code, std::uint32_t rest,
                                     IcmpFields f) {
  LayerRecord r{.kind = Layer::kIcmpv6, .bytes = {type, code, 0, 0}, .as_ip_protocol = kIpProtoIcmpv6};
  append32(r.bytes, rest);
  r.checksum = f.checksum;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::icmpv6_echo(std::uint16_t id, std::uint16_t sequence, bool reply) {
  return icmpv6(reply ? 129 : 128, 0, (std::uint32_t{id} << 16) | sequence);
}

PacketBuilder& PacketBuilder::nd(std::uint8_t type, Bytes fixed, const NdOptions& options) {
  LayerRecord r{.kind = Layer::kIcmpv6, .bytes = {type, 0, 0, 0}, .as_ip_protocol = kIpProtoIcmpv6};
  append(r.bytes, fixed);
  append(r.bytes, options.bytes());
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::nd_router_solicitation(const NdOptions& options) {
  return nd(133, Bytes(4, 0), options);
}

PacketBuilder& PacketBuilder::nd_router_advertisement(const NdOptions& options) {
  // Hop limit 64, no flags, router lifetime 1800 s, reachable and retrans timers unset.
  return nd(134, Bytes{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}, options);
}

PacketBuilder& PacketBuilder::nd_neighbor_solicitation(std::string_view target, const NdOptions& options) {
  Bytes fixed(4, 0);
  append_ipv6(fixed, target);
  return nd(135, std::move(fixed), options);
}

PacketBuilder& PacketBuilder::nd_neighbor_advertisement(std::string_view target, std::uint32_t flags,
                                                        const NdOptions& options) {
  Bytes fixed;
  append32(fixed, flags);
  append_ipv6(fixed, target);
  return nd(136, std::move(fixed), options);
}

PacketBuilder& PacketBuilder::nd_redirect(std::string_view target, std::string_view destination,
                                          const NdOptions& options) {
  Bytes fixed(4, 0);
  append_ipv6(fixed, target);
  append_ipv6(fixed, destination);
  return nd(137, std::move(fixed), options);
}

PacketBuilder& PacketBuilder::dhcp(DhcpFields f) {
  LayerRecord r{.kind = Layer::kDhcp, .as_ethertype = 0x88b5, .as_ip_protocol = 253};
  r.bytes = {f.op, 1, 6, 0};  // op, htype Ethernet, hlen 6, hops
  append32(r.bytes, f.xid);
  append32(r.bytes, 0);  // secs, flags
  append_ipv4(r.bytes, f.client_ip);
  append_ipv4(r.bytes, f.your_ip);
  append32(r.bytes, 0);  // siaddr
  append32(r.bytes, 0);  // giaddr
  append_mac(r.bytes, f.client_mac);
  r.bytes.resize(236, 0);  // rest of chaddr, sname, file
  append32(r.bytes, f.magic_cookie);
  if (f.message_type != 0) r.bytes.insert(r.bytes.end(), {53, 1, f.message_type});
  if (f.requested_ip) {
    r.bytes.insert(r.bytes.end(), {50, 4});
    append_ipv4(r.bytes, *f.requested_ip);
  }
  if (f.lease_seconds) {
    r.bytes.insert(r.bytes.end(), {51, 4});
    append32(r.bytes, *f.lease_seconds);
  }
  if (f.server_id) {
    r.bytes.insert(r.bytes.end(), {54, 4});
    append_ipv4(r.bytes, *f.server_id);
  }
  append(r.bytes, f.extra_options);
  if (f.end_option) r.bytes.push_back(255);
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::vxlan(std::uint32_t vni, VxlanFields f) {
  LayerRecord r{.kind = Layer::kVxlan, .bytes = {f.flags, 0, 0, 0}, .as_ethertype = 0x88b5,
                .as_ip_protocol = 253};
  append32(r.bytes, vni << 8);
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::geneve(std::uint32_t vni, GeneveFields f) {
  LayerRecord r{.kind = Layer::kGeneve, .as_ethertype = 0x88b5, .as_ip_protocol = 253};
  const std::uint8_t option_units = f.option_length.value_or(static_cast<std::uint8_t>(f.options.size() / 4));
  r.bytes.push_back(static_cast<std::uint8_t>((f.version << 6) | (option_units & 0x3f)));
  r.bytes.push_back(f.oam ? 0x80 : 0);
  append16(r.bytes, 0);  // protocol type
  append32(r.bytes, vni << 8);
  append(r.bytes, f.options);
  if (f.protocol) r.next_type = *f.protocol;
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::payload(std::span<const std::uint8_t> bytes) {
  // An IEEE "local experimental" EtherType / the RFC 3692 experimental
  // protocol, so that a payload-only layer still has a type.
  LayerRecord r{.kind = Layer::kPayload, .as_ethertype = 0x88b5, .as_ip_protocol = 253};
  append(r.bytes, bytes);
  return push(std::move(r));
}

PacketBuilder& PacketBuilder::payload(std::string_view text) {
  return payload(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

PacketBuilder& PacketBuilder::payload(std::size_t length, std::uint8_t fill) {
  const Bytes bytes(length, fill);
  return payload(std::span<const std::uint8_t>(bytes));
}

PacketBuilder& PacketBuilder::pad_to(std::size_t min_length) {
  pad_to_ = min_length;
  return *this;
}
PacketBuilder& PacketBuilder::trailer(std::span<const std::uint8_t> bytes) {
  append(trailer_, bytes);
  return *this;
}
PacketBuilder& PacketBuilder::poke8(std::size_t offset, std::uint8_t value) {
  pokes_.emplace_back(offset, Bytes{value});
  return *this;
}
PacketBuilder& PacketBuilder::poke16(std::size_t offset, std::uint16_t value) {
  Bytes b;
  append16(b, value);
  pokes_.emplace_back(offset, std::move(b));
  return *this;
}
PacketBuilder& PacketBuilder::poke32(std::size_t offset, std::uint32_t value) {
  Bytes b;
  append32(b, value);
  pokes_.emplace_back(offset, std::move(b));
  return *this;
}
PacketBuilder& PacketBuilder::truncate(std::size_t length) {
  truncate_ = length;
  return *this;
}
PacketBuilder& PacketBuilder::truncate_consistently(std::size_t length) {
  truncate_ = length;
  truncate_consistently_ = true;
  return *this;
}

std::size_t PacketBuilder::offset_of(Layer kind, std::size_t nth) const {
  std::size_t offset = 0;
  for (const LayerRecord& r : layers_) {
    if (r.kind == kind && nth-- == 0) return offset;
    offset += r.bytes.size();
  }
  throw std::out_of_range("PacketBuilder::offset_of: no such layer");
}

std::size_t PacketBuilder::size() const {
  std::size_t n = 0;
  for (const LayerRecord& r : layers_) n += r.bytes.size();
  return n;
}

// ---- build -----------------------------------------------------------------------

Bytes PacketBuilder::build() const {
  Bytes out;
  std::vector<std::size_t> offsets;
  for (const LayerRecord& r : layers_) {
    offsets.push_back(out.size());
    append(out, r.bytes);
  }
  // Where the packet ends for the length fields and checksums.
  const std::size_t end =
      truncate_consistently_ && *truncate_ < out.size() ? *truncate_ : out.size();

  // Pseudo-header sum for an L4 checksum: the nearest IP layer before `i`.
  auto pseudo_header_sum = [&](std::size_t i, std::uint8_t protocol, std::size_t length) {
    std::uint32_t sum = 0;
    for (std::size_t j = i; j-- > 0;) {
      const std::size_t o = offsets[j];
      auto add_words = [&](std::size_t at, std::size_t n) {
        for (std::size_t k = 0; k < n; k += 2) sum += (std::uint32_t{out[at + k]} << 8) | out[at + k + 1];
      };
      if (layers_[j].kind == Layer::kIpv4) {
        add_words(o + 12, 8);
      } else if (layers_[j].kind == Layer::kIpv6) {
        add_words(o + 8, 32);
      } else {
        continue;
      }
      sum += protocol;
      sum += static_cast<std::uint32_t>(length >> 16) + static_cast<std::uint32_t>(length & 0xffff);
      break;
    }
    return sum;
  };

  // Innermost first, so every checksum covers finished inner bytes.
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const LayerRecord& r = layers_[i];
    const LayerRecord* next = i + 1 < layers_.size() ? &layers_[i + 1] : nullptr;
    const std::size_t o = offsets[i];
    if (o >= end) continue;            // cut off entirely
    const std::size_t span = end - o;  // this layer and everything inside it
    const std::uint16_t next_ethertype =
        static_cast<std::uint16_t>(r.next_type.value_or(next ? next->as_ethertype : 0x88b5));
    const std::uint8_t next_protocol =
        static_cast<std::uint8_t>(r.next_type.value_or(next ? next->as_ip_protocol : 59));
    auto l4_checksum = [&](std::size_t field, std::uint8_t protocol, bool pseudo) {
      put16(out, o + field, 0);
      std::uint16_t sum = internet_checksum(std::span(out).subspan(o, span),
                                            pseudo ? pseudo_header_sum(i, protocol, span) : 0);
      if (protocol == kIpProtoUdp && sum == 0) sum = 0xffff;  // 0 means "no checksum"
      put16(out, o + field, r.checksum.value_or(sum));
    };
    switch (r.kind) {
      case Layer::kEthernet: put16(out, o + 12, next_ethertype); break;
      case Layer::kVlan: put16(out, o + 2, next_ethertype); break;
      case Layer::kIpv4:
        out[o + 9] = next_protocol;
        put16(out, o + 2, r.length.value_or(static_cast<std::uint16_t>(span)));
        put16(out, o + 10, 0);
        put16(out, o + 10,
              r.checksum.value_or(internet_checksum(std::span(out).subspan(o, r.bytes.size()))));
        break;
      case Layer::kIpv6:
        out[o + 6] = next_protocol;
        put16(out, o + 4, r.length.value_or(static_cast<std::uint16_t>(span > 40 ? span - 40 : 0)));
        break;
      case Layer::kIpv6HopByHop:
      case Layer::kIpv6Routing:
      case Layer::kIpv6Fragment:
      case Layer::kIpv6DestOpts:
      case Layer::kAh: out[o] = next_protocol; break;
      case Layer::kTcp: l4_checksum(16, kIpProtoTcp, true); break;
      case Layer::kUdp:
        put16(out, o + 4, r.length.value_or(static_cast<std::uint16_t>(span)));
        l4_checksum(6, kIpProtoUdp, true);
        break;
      case Layer::kIcmp: l4_checksum(2, kIpProtoIcmp, false); break;
      case Layer::kIcmpv6: l4_checksum(2, kIpProtoIcmpv6, true); break;
      case Layer::kGeneve: put16(out, o + 2, next_ethertype); break;
      case Layer::kArp:
      case Layer::kDhcp:
      case Layer::kVxlan:
      case Layer::kPayload: break;
    }
  }

  append(out, trailer_);
  if (out.size() < pad_to_) out.resize(pad_to_, 0);
  for (const auto& [offset, bytes] : pokes_) {
    if (offset + bytes.size() > out.size()) throw std::out_of_range("PacketBuilder: poke past the end");
    std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  if (truncate_ && *truncate_ < out.size()) out.resize(*truncate_);
  return out;
}

// ---- captures --------------------------------------------------------------------

StatusOr<std::vector<PcapFrame>> read_pcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_open_offline(path.c_str(), errbuf);
  if (pcap == nullptr) return io_error(path + ": " + errbuf);
  const int linktype = pcap_datalink(pcap);
  std::size_t strip = 0;
  bool synthetic = true;
  switch (linktype) {
    case DLT_EN10MB: synthetic = false; break;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: break;
    case DLT_NULL:
    case DLT_LOOP: strip = 4; break;  // the address family word
    default:
      pcap_close(pcap);
      return invalid_argument(path + ": unsupported link type " + std::to_string(linktype));
  }
  std::vector<PcapFrame> frames;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(pcap, &header, &data)) == 1) {
    PcapFrame f;
    f.original_length = header->len;
    f.synthetic_ethernet = synthetic;
    const std::span<const std::uint8_t> captured(data, header->caplen);
    if (!synthetic) {
      f.bytes.assign(captured.begin(), captured.end());
    } else {
      if (captured.size() <= strip) {
        pcap_close(pcap);
        return invalid_argument(path + ": frame " + std::to_string(frames.size()) + " is empty");
      }
      const std::span<const std::uint8_t> ip = captured.subspan(strip);
      const int version = ip[0] >> 4;
      if (version != 4 && version != 6) {
        pcap_close(pcap);
        return invalid_argument(path + ": frame " + std::to_string(frames.size()) + " is not IP");
      }
      f.bytes = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
      append16(f.bytes, version == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
      append(f.bytes, ip);
      f.original_length = static_cast<std::uint32_t>(f.original_length - strip + 14);
    }
    frames.push_back(std::move(f));
  }
  const std::string error = rc == -1 ? pcap_geterr(pcap) : "";
  pcap_close(pcap);
  if (rc == -1) return io_error(path + ": " + error);
  return frames;
}

}  // namespace fw::test
