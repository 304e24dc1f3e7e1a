// NSH codec (fw/nsh.h): ns per packet to encapsulate a frame for a service
// and to decode what comes back, for the header shapes libfw sends.
//   fw_bench --benchmark_filter=Nsh
// Frame: the 60-byte IPv4 TCP SYN of bench_packets (copied behind the
// header by encapsulate; decode only reads the header).
#include <benchmark/benchmark.h>

#include <array>
#include <vector>

#include "bench_packets.h"
#include "fw/nsh.h"

namespace fw::bench {
namespace {

NshContext context(std::uint8_t present) {
  return NshContext{.spi = 0x123, .si = 255, .next_protocol = NshNextProtocol::kEthernet,
                    .present = present, .source_group = 10, .destination_group = 11,
                    .rule_id = 1001, .tag_set_id = 7, .vnic_id = 42, .flow_id = 0x0102030405060708ULL};
}

// arg 0: no metadata (8-byte NSH); 1: every libfw field (56 bytes).
std::uint8_t present_for(std::int64_t arg) { return arg == 0 ? 0 : kNshHasAll; }

void BM_NshEncapsulate(benchmark::State& state) {
  const test::Bytes frame = ipv4_tcp_syn();
  const NshContext ctx = context(present_for(state.range(0)));
  const NshOptions options{.framing = static_cast<NshFraming>(state.range(1))};
  std::array<std::uint8_t, 2048> out{};
  for (auto _ : state) {
    NshWriteResult w = nsh_encapsulate(ctx, frame, out, options);
    benchmark::DoNotOptimize(w);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(nsh_encapsulated_size(ctx, frame.size(), options));
}

void BM_NshWriteHeader(benchmark::State& state) {
  const NshContext ctx = context(present_for(state.range(0)));
  std::array<std::uint8_t, kNshMaxHeaderBytes> out{};
  for (auto _ : state) {
    NshWriteResult w = nsh_write_header(ctx, out);
    benchmark::DoNotOptimize(w);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_NshDecode(benchmark::State& state) {
  const test::Bytes frame = ipv4_tcp_syn();
  const NshContext ctx = context(present_for(state.range(0)));
  const NshOptions options{.framing = static_cast<NshFraming>(state.range(1))};
  std::vector<std::uint8_t> packet(nsh_encapsulated_size(ctx, frame.size(), options));
  if (!nsh_encapsulate(ctx, frame, packet, options).ok()) {
    state.SkipWithError("fixture does not encode");
    return;
  }
  NshDecoded decoded;
  for (auto _ : state) {
    NshError e = nsh_decapsulate(packet, decoded, options);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(decoded.context.rule_id);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

// The service's return path as a forwarder does it: decrement SI and TTL
// in place.
void BM_NshDecrementSiTtl(benchmark::State& state) {
  std::array<std::uint8_t, 8> header{0x0F, 0xC2, 0x02, 0x03, 0x00, 0x01, 0x23, 0xFF};
  for (auto _ : state) {
    header[7] = 0xFF;
    header[0] = 0x0F;
    header[1] = 0xC2;
    NshError a = nsh_decrement_si(header);
    NshError b = nsh_decrement_ttl(header);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_NshEncapsulate)->ArgNames({"meta", "framing"})->ArgsProduct({{0, 1}, {1, 2}});
BENCHMARK(BM_NshWriteHeader)->ArgName("meta")->Arg(0)->Arg(1);
BENCHMARK(BM_NshDecode)->ArgNames({"meta", "framing"})->ArgsProduct({{0, 1}, {1, 2}});
BENCHMARK(BM_NshDecrementSiTtl);

}  // namespace
}  // namespace fw::bench
