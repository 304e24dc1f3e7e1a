// Packet fixtures shared by the benchmarks: each is a named, realistic frame
// built with the test packet builder (so benchmarks and tests agree on bytes).
#pragma once

#include <string>
#include <vector>

#include "support/packet_builder.h"

namespace fw::bench {

struct NamedPacket {
  std::string name;
  test::Bytes bytes;
};

// A TCP SYN with the options a Linux client sends (MSS, SACK-permitted,
// timestamps, window scale) over IPv4.
test::Bytes ipv4_tcp_syn();
// IPv6 with hop-by-hop, routing and destination-options headers, then TCP.
test::Bytes ipv6_ext_tcp();
// VXLAN (outer IPv4/UDP 4789) carrying an inner IPv4/TCP frame.
test::Bytes vxlan_ipv4_tcp();
// IPv4/UDP with a 64-byte payload.
test::Bytes ipv4_udp();
// An established connection's segment as Linux sends it: IPv4/TCP ACK with
// NOP, NOP, timestamps and a 64-byte payload.
test::Bytes ipv4_tcp_established();
// IPv6/UDP with a 64-byte payload.
test::Bytes ipv6_udp();
// As ipv4_tcp_established(), over IPv6.
test::Bytes ipv6_tcp_established();

}  // namespace fw::bench
