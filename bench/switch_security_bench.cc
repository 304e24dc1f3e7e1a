// Slot 1 switch security per packet: allowed IPv4 TCP, IPv6 TCP and ARP
// frames from a vNIC with 1 or 16 bound addresses per family (the frame's
// source found last in its family, the worst case of the linear scan; IPv6
// after all IPv4 entries), in bursts of 32, through
// Engine::process (parse + chain + counters). The same frames with an empty
// chain give the baseline: the slot's cost is the difference.
//   fw_bench --benchmark_filter=SwitchSecurity
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_packets.h"
#include "fw/engine.h"
#include "fw/switch_security.h"

namespace fw::bench {
namespace {

constexpr const char* kVmMac = "02:00:00:00:00:01";

enum FrameKind : std::int64_t { kTcp4 = 0, kTcp6 = 1, kArp = 2 };

test::Bytes frame_of(std::int64_t kind) {
  switch (kind) {
    case kTcp4:
      return test::PacketBuilder().eth(kVmMac, "02:00:00:00:00:fe").ipv4("10.0.0.100", "10.1.0.1")
          .tcp(40000, 443, kTcpAck).payload(64).build();
    case kTcp6:
      return test::PacketBuilder().eth(kVmMac, "02:00:00:00:00:fe").ipv6("2001:db8::100", "2001:db8:1::1")
          .tcp(40000, 443, kTcpAck).payload(64).build();
    default:
      return test::PacketBuilder().eth(kVmMac, "ff:ff:ff:ff:ff:ff")
          .arp({.sender_mac = kVmMac, .sender_ip = "10.0.0.100", .target_ip = "10.0.0.1"}).build();
  }
}

std::string fmt_v6(std::int64_t i) {
  static const char* hex = "0123456789abcdef";
  return std::string("2001:db8::") + hex[i & 15];
}

// state.range(0): FrameKind; (1): bound addresses per family (0 = no switch
// security, the baseline); burst 32.
void BM_SwitchSecurity(benchmark::State& state) {
  constexpr std::size_t kBurst = 32;
  const std::int64_t kind = state.range(0);
  const std::int64_t addresses = state.range(1);
  auto engine = Engine::create({.max_workers = 1}).value();
  if (!engine->attach_vnic({.id = 1, .mac = parse_mac(kVmMac).value()}).ok()) {
    state.SkipWithError("attach");
    return;
  }
  std::unique_ptr<SwitchSecurity> ss;
  if (addresses > 0) {
    VnicSecurityConfig config{.vnic_id = 1, .mode = BindingMode::kDeclaredOnly};
    // The table is sorted (IPv4 first, then IPv6, each by address) and the
    // fillers sort before the frame's source, so the scan passes all of them.
    for (std::int64_t i = 1; i < addresses; ++i) {
      config.declared.push_back(IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>(i)));
      config.declared.push_back(parse_ip(fmt_v6(i)).value());
    }
    config.declared.push_back(parse_ip("10.0.0.100").value());
    config.declared.push_back(parse_ip("2001:db8::100").value());
    auto created = SwitchSecurity::create(*engine, {.max_addresses_per_vnic = 2 * static_cast<std::size_t>(addresses)});
    if (!created.ok() || !(*created)->protect(config).ok()) {
      state.SkipWithError("switch security");
      return;
    }
    ss = std::move(*created);
  }
  auto worker = engine->create_worker().value();
  std::vector<test::Bytes> storage(kBurst, frame_of(kind));
  std::vector<Frame> frames(storage.begin(), storage.end());
  std::vector<Verdict> verdicts(kBurst);
  for (auto _ : state) {
    engine->process(*worker, 1, Direction::kFromVm, frames, verdicts);
    benchmark::DoNotOptimize(verdicts.data());
    benchmark::ClobberMemory();
  }
  if (verdicts[0].action != Action::kPass) state.SkipWithError("unexpected verdict");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBurst));
  state.SetLabel(kind == kTcp4 ? "ipv4-tcp" : kind == kTcp6 ? "ipv6-tcp" : "arp");
  worker.reset();
  ss.reset();
}

BENCHMARK(BM_SwitchSecurity)
    ->ArgNames({"frame", "addresses"})
    ->ArgsProduct({{kTcp4, kTcp6, kArp}, {0, 1, 16}});

}  // namespace
}  // namespace fw::bench
