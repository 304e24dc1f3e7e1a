// Parse rate: ns per frame for the shapes the datapath sees most.
//   fw_bench --benchmark_filter=Parse
#include <benchmark/benchmark.h>

#include "bench_packets.h"
#include "fw/packet.h"

#if FW_BENCH_HAVE_DPDK
#include "bench/peers/dpdk_ptype.h"
#endif

namespace fw::bench {
namespace {

void run_parse(benchmark::State& state, const test::Bytes& frame, ParseOptions options) {
  PacketView view;
  if (parse_frame(frame, view, options) != ParseError::kOk) {
    state.SkipWithError("fixture does not parse");
    return;
  }
  for (auto _ : state) {
    ParseError err = parse_frame(frame, view, options);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(view.dst_port);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(frame.size());
}

void BM_Parse_Ipv4TcpSyn(benchmark::State& s) { run_parse(s, ipv4_tcp_syn(), {}); }
void BM_Parse_Ipv4Udp(benchmark::State& s) { run_parse(s, ipv4_udp(), {}); }
void BM_Parse_Ipv4TcpEstablished(benchmark::State& s) { run_parse(s, ipv4_tcp_established(), {}); }
void BM_Parse_Ipv6Udp(benchmark::State& s) { run_parse(s, ipv6_udp(), {}); }
void BM_Parse_Ipv6TcpEstablished(benchmark::State& s) { run_parse(s, ipv6_tcp_established(), {}); }
void BM_Parse_Ipv6ExtTcp(benchmark::State& s) { run_parse(s, ipv6_ext_tcp(), {}); }
void BM_Parse_VxlanOuter(benchmark::State& s) { run_parse(s, vxlan_ipv4_tcp(), {.decapsulate = false}); }
void BM_Parse_VxlanInner(benchmark::State& s) { run_parse(s, vxlan_ipv4_tcp(), {.decapsulate = true}); }

#if FW_BENCH_HAVE_DPDK
// The peer on the same frames (see bench/peers/dpdk_ptype.h for what it does
// and does not do).
void run_peer(benchmark::State& state, const test::Bytes& frame) {
  for (auto _ : state) {
    PeerHeaderLengths r = dpdk_packet_type(frame.data(), static_cast<std::uint32_t>(frame.size()));
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_Peer_DpdkPtype_Ipv4TcpSyn(benchmark::State& s) { run_peer(s, ipv4_tcp_syn()); }
void BM_Peer_DpdkPtype_Ipv4Udp(benchmark::State& s) { run_peer(s, ipv4_udp()); }
void BM_Peer_DpdkPtype_Ipv4TcpEstablished(benchmark::State& s) { run_peer(s, ipv4_tcp_established()); }
void BM_Peer_DpdkPtype_Ipv6Udp(benchmark::State& s) { run_peer(s, ipv6_udp()); }
void BM_Peer_DpdkPtype_Ipv6TcpEstablished(benchmark::State& s) { run_peer(s, ipv6_tcp_established()); }
void BM_Peer_DpdkPtype_Ipv6ExtTcp(benchmark::State& s) { run_peer(s, ipv6_ext_tcp()); }
void BM_Peer_DpdkPtype_VxlanOuter(benchmark::State& s) { run_peer(s, vxlan_ipv4_tcp()); }
BENCHMARK(BM_Peer_DpdkPtype_Ipv4TcpSyn);
BENCHMARK(BM_Peer_DpdkPtype_Ipv4Udp);
BENCHMARK(BM_Peer_DpdkPtype_Ipv4TcpEstablished);
BENCHMARK(BM_Peer_DpdkPtype_Ipv6Udp);
BENCHMARK(BM_Peer_DpdkPtype_Ipv6TcpEstablished);
BENCHMARK(BM_Peer_DpdkPtype_Ipv6ExtTcp);
BENCHMARK(BM_Peer_DpdkPtype_VxlanOuter);
#endif

BENCHMARK(BM_Parse_Ipv4TcpSyn);
BENCHMARK(BM_Parse_Ipv4Udp);
BENCHMARK(BM_Parse_Ipv4TcpEstablished);
BENCHMARK(BM_Parse_Ipv6Udp);
BENCHMARK(BM_Parse_Ipv6TcpEstablished);
BENCHMARK(BM_Parse_Ipv6ExtTcp);
BENCHMARK(BM_Parse_VxlanOuter);
BENCHMARK(BM_Parse_VxlanInner);

}  // namespace
}  // namespace fw::bench
