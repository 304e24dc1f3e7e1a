// Service insertion (slot 4) per packet, through fw::Engine with a stateful
// DFW in slot 2 (allow all), bursts of 64 over 1024 established UDP flows:
//   - BM_ServiceSlot/0: the DFW alone (baseline);
//   - BM_ServiceSlot/1: + slot 4, every flow pinned and redirected (the
//     redirect decision of a known flow: peek + service word + hop);
//   - BM_ServiceSlot/2: + slot 4, flows not redirected (a rule said so);
//   - BM_ServiceSlot/3: + slot 4, flows offloaded by a kAllow flow verdict;
//   - BM_ServiceResume: Engine::resume of the redirected packets (one
//     profile: back from the last hop, on to the slots after).
//   - BM_ServiceFirstPacket: a stateless DFW (no pinning): every packet is
//     classified against the redirect table (10 rules, the last matches).
//   fw_bench --benchmark_filter='Service'
// Per packet cost = time / 64 (items_per_second counts packets).
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_packets.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/service.h"
#include "support/packet_builder.h"

namespace fw::bench {
namespace {

constexpr std::size_t kBurst = 64;
constexpr int kFlows = 1024;
constexpr std::uint64_t kNow = 1'000'000'000;

test::Bytes flow_packet(int flow) {
  char dst[32];
  std::snprintf(dst, sizeof dst, "10.1.%d.%d", (flow >> 8) & 255, flow & 255);
  return test::PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:09")
      .ipv4("10.0.0.1", dst)
      .udp(static_cast<std::uint16_t>(10000 + flow), 53)
      .payload(64)
      .build();
}

RedirectPolicy redirect_policy(bool redirect) {
  RedirectPolicy rp;
  ServiceProfile p;
  p.id = "ids";
  p.instances = {{.endpoint = 1}, {.endpoint = 2}, {.endpoint = 3}, {.endpoint = 4}};
  rp.profiles = {p};
  // Nine rules that do not match (TCP ports), then the one that does.
  for (std::uint32_t i = 0; i < 9; ++i) {
    RedirectRule r;
    r.id = 100 + i;
    r.inline_services = {ServiceEntry{.protocol = 6, .dst_ports = {PortRange{static_cast<std::uint16_t>(8000 + i),
                                                                             static_cast<std::uint16_t>(8000 + i)}}}};
    r.target = "ids";
    rp.rules.push_back(r);
  }
  RedirectRule dns;
  dns.id = 1;
  dns.inline_services = {ServiceEntry{.protocol = 17, .dst_ports = {PortRange{53, 53}}}};
  dns.action = redirect ? RedirectAction::kRedirect : RedirectAction::kDoNotRedirect;
  dns.target = redirect ? "ids" : "";
  rp.rules.push_back(dns);
  return rp;
}

struct Setup {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Dfw> dfw;
  std::unique_ptr<ServiceInsertion> service;
  std::vector<test::Bytes> storage;
  std::vector<Frame> frames;
};

// mode: 0 DFW only, 1 redirected, 2 not redirected, 3 offloaded.
bool make_setup(Setup& s, int mode, bool stateful = true) {
  s.engine = Engine::create({.max_workers = 1}).value();
  if (!s.engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) return false;
  s.worker = s.engine->create_worker().value();
  s.dfw = Dfw::create(*s.engine, {.stateful = stateful, .conntrack = {.capacity = 1 << 16}}).value();
  Policy allow_all;
  if (!s.dfw->apply(allow_all, {1}).ok()) return false;
  for (int f = 0; f < kFlows; ++f) s.storage.push_back(flow_packet(f));
  s.frames.assign(s.storage.begin(), s.storage.end());
  if (mode != 0) {
    s.service = ServiceInsertion::create(*s.engine, {.connections = s.dfw->shared_connections()}).value();
    if (!s.service->apply(redirect_policy(mode != 2), {1}).ok()) return false;
  }
  // Open (and pin) every flow.
  std::vector<Verdict> v(kBurst);
  for (int f = 0; f < kFlows; f += kBurst)
    s.engine->process(*s.worker, 1, Direction::kFromVm, std::span(s.frames).subspan(f, kBurst), v, {.now_ns = kNow});
  if (mode == 3) {
    for (int f = 0; f < kFlows; ++f)
      if (!s.service->set_flow_verdict(1, s.storage[f], FlowVerdict::kAllow).ok()) return false;
  }
  return true;
}

void BM_ServiceSlot(benchmark::State& state) {
  Setup s;
  if (!make_setup(s, static_cast<int>(state.range(0)))) {
    state.SkipWithError("setup");
    return;
  }
  std::vector<Verdict> v(kBurst);
  int at = 0;
  for (auto _ : state) {
    s.engine->process(*s.worker, 1, Direction::kFromVm, std::span(s.frames).subspan(at, kBurst), v, {.now_ns = kNow});
    benchmark::DoNotOptimize(v.data());
    at = (at + kBurst) % kFlows;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_ServiceSlot)->Arg(0)->Arg(1)->Arg(2)->Arg(3);

void BM_ServiceResume(benchmark::State& state) {
  Setup s;
  if (!make_setup(s, 1)) {
    state.SkipWithError("setup");
    return;
  }
  std::vector<Verdict> redirected(kFlows);
  for (int f = 0; f < kFlows; f += kBurst)
    s.engine->process(*s.worker, 1, Direction::kFromVm, std::span(s.frames).subspan(f, kBurst),
                      std::span(redirected).subspan(f, kBurst), {.now_ns = kNow});
  std::vector<Verdict> v(kBurst);
  int at = 0;
  for (auto _ : state) {
    std::copy_n(redirected.begin() + at, kBurst, v.begin());
    s.engine->resume(*s.worker, 1, Direction::kFromVm, std::span(s.frames).subspan(at, kBurst), v, {.now_ns = kNow});
    benchmark::DoNotOptimize(v.data());
    at = (at + kBurst) % kFlows;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_ServiceResume);

// range(0): 0 stateless DFW only, 1 stateless DFW + slot 4 (no pinning).
void BM_ServiceFirstPacket(benchmark::State& state) {
  Setup s;
  if (!make_setup(s, state.range(0) == 0 ? 0 : 1, false)) {
    state.SkipWithError("setup");
    return;
  }
  std::vector<Verdict> v(kBurst);
  int at = 0;
  for (auto _ : state) {
    s.engine->process(*s.worker, 1, Direction::kFromVm, std::span(s.frames).subspan(at, kBurst), v, {.now_ns = kNow});
    benchmark::DoNotOptimize(v.data());
    at = (at + kBurst) % kFlows;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_ServiceFirstPacket)->Arg(0)->Arg(1);

}  // namespace
}  // namespace fw::bench
