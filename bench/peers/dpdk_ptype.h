// bench/peers/dpdk_ptype.h — DPDK's packet-type recognition
// (rte_net_get_ptype) as the parser's peer in the micro-benchmarks.
//
// rte_net_get_ptype walks L2 (VLAN/QinQ), L3 (IPv4 options, IPv6 extension
// headers), L4 and IP-in-IP/GRE tunnels and reports header types and
// lengths. It extracts no fields (addresses, ports, TCP options), checks
// fewer lengths, and does not recognise VXLAN/Geneve by UDP port, so it does
// less work than fw::parse_frame: read its numbers as a lower bound for
// "knowing what the headers are". Benchmark-only; libfw never links DPDK.
#pragma once

#include <cstdint>

namespace fw::bench {

struct PeerHeaderLengths {
  std::uint32_t packet_type = 0;
  std::uint8_t l2 = 0, l3 = 0, l4 = 0;
};

// Classifies `len` bytes at `data` with every layer DPDK knows. Needs no EAL:
// the mbuf is a stack object pointing at the caller's bytes.
PeerHeaderLengths dpdk_packet_type(const std::uint8_t* data, std::uint32_t len) noexcept;

}  // namespace fw::bench
