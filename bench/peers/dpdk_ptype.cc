#include "bench/peers/dpdk_ptype.h"

#include <rte_mbuf.h>
#include <rte_net.h>

namespace fw::bench {

PeerHeaderLengths dpdk_packet_type(const std::uint8_t* data, std::uint32_t len) noexcept {
  // A single-segment mbuf over the caller's buffer, as a driver would hand
  // it over; rte_net_get_ptype only reads through rte_pktmbuf_read().
  struct rte_mbuf m = {};
  m.buf_addr = const_cast<std::uint8_t*>(data);
  m.data_off = 0;
  m.data_len = static_cast<std::uint16_t>(len);
  m.pkt_len = len;
  m.nb_segs = 1;
  m.next = nullptr;
  struct rte_net_hdr_lens lens = {};
  PeerHeaderLengths out;
  out.packet_type = rte_net_get_ptype(&m, &lens, RTE_PTYPE_ALL_MASK);
  out.l2 = lens.l2_len;
  out.l3 = lens.l3_len;
  out.l4 = lens.l4_len;
  return out;
}

}  // namespace fw::bench
