// Chain overhead per packet: parse + slot loop + counters, with an empty
// chain and with the slot-0 L2 ACL, for bursts of 1, 32 and 256.
//   fw_bench --benchmark_filter=Chain
#include <benchmark/benchmark.h>

#include <span>
#include <vector>

#include "bench_packets.h"
#include "fw/config.h"
#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/policy.h"
#include "fw/engine.h"
#include "fw/flow_log.h"

namespace fw::bench {
namespace {

// The ACL an NSX Ethernet section typically holds: allow IPv4, IPv6, ARP;
// drop the rest. IPv4 frames match the first rule (best case); `rules_before`
// extra non-matching MAC rules in front measure the per-rule scan cost.
L2AclConfig non_ip_drop(int rules_before) {
  L2AclConfig cfg;
  for (int i = 0; i < rules_before; ++i)
    cfg.rules.push_back({.id = static_cast<std::uint32_t>(100 + i),
                         .src_mac = MacMatch{MacAddress::from_u64(0x0a0000000000ULL + i)},
                         .action = L2Action::kDrop});
  cfg.rules.push_back({.id = 10, .ethertype = kEtherTypeIpv4});
  cfg.rules.push_back({.id = 11, .ethertype = kEtherTypeIpv6});
  cfg.rules.push_back({.id = 12, .ethertype = kEtherTypeArp});
  cfg.default_action = L2Action::kDrop;
  return cfg;
}

// state.range(0): burst size; state.range(1): -1 = empty chain, else the
// number of extra L2 ACL rules ahead of the matching one.
void BM_Chain(benchmark::State& state) {
  const auto burst = static_cast<std::size_t>(state.range(0));
  const auto acl_rules = state.range(1);
  auto engine = Engine::create({.max_workers = 1}).value();
  if (!engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) {
    state.SkipWithError("attach");
    return;
  }
  if (acl_rules >= 0) {
    auto acl = make_l2_acl(non_ip_drop(static_cast<int>(acl_rules)), *engine);
    if (!acl.ok() || !engine->set_filter(1, kSlotL2Acl, *acl).ok()) {
      state.SkipWithError("acl");
      return;
    }
  }
  auto worker = engine->create_worker().value();
  const test::Bytes frame = ipv4_tcp_syn();
  // Distinct buffers per burst slot, as a vswitch would hand over.
  std::vector<test::Bytes> storage(burst, frame);
  std::vector<Frame> frames(storage.begin(), storage.end());
  std::vector<Verdict> verdicts(burst);
  for (auto _ : state) {
    engine->process(*worker, 1, Direction::kFromVm, frames, verdicts);
    benchmark::DoNotOptimize(verdicts.data());
    benchmark::ClobberMemory();
  }
  if (verdicts[0].action != Action::kPass) state.SkipWithError("unexpected verdict");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(burst));
}

BENCHMARK(BM_Chain)
    ->ArgNames({"burst", "acl_rules"})
    ->ArgsProduct({{1, 32, 256}, {-1, 0}})
    ->Args({32, 16})
    ->Args({32, 64});

}  // namespace
}  // namespace fw::bench

namespace fw::bench {
namespace {

// A policy of `rules` literal rules allowing `protocol` to `port` on one /32
// each, only the last naming 10.0.0.2 (the benchmark frames' destination),
// so a first packet pays a full classification; default drop.
Policy last_rule_policy(std::uint32_t rules, std::uint8_t protocol, std::uint16_t port) {
  Policy policy;
  Section section;
  section.id = "s";
  for (std::uint32_t i = 0; i < rules; ++i) {
    Rule r;
    r.id = i + 1;
    const std::uint32_t dst = i + 1 == rules ? 0x0a000002u : 0x0b000000u + i;
    r.destinations.cidrs = {Cidr{IpAddress::v4(dst), 32}};
    r.inline_services = {ServiceEntry{.protocol = protocol, .dst_ports = {PortRange{port, port}}}};
    section.rules.push_back(r);
  }
  policy.categories[static_cast<int>(Category::kApplication)] = {section};
  policy.default_action = RuleAction::kDrop;
  return policy;
}

// The DFW in slot 2 without connection tracking (every packet classified;
// DfwOptions::stateful = false): a policy of `rules` rules, each allowing TCP
// to one /32 in group-free literal form, the last one matching the frame;
// default drop. Measures the per-packet cost of the slot (parse included).
void BM_ChainDfw(benchmark::State& state) {
  const auto burst = static_cast<std::size_t>(state.range(0));
  const auto nrules = static_cast<std::uint32_t>(state.range(1));
  auto engine = Engine::create({.max_workers = 1}).value();
  if (!engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) {
    state.SkipWithError("attach");
    return;
  }
  const Policy policy = last_rule_policy(nrules, kIpProtoTcp, 443);
  auto dfw = Dfw::create(*engine, {.stateful = false}).value();
  if (Status s = dfw->apply(policy, {1}); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  auto worker = engine->create_worker().value();
  std::vector<test::Bytes> storage(burst, ipv4_tcp_syn());
  std::vector<Frame> frames(storage.begin(), storage.end());
  std::vector<Verdict> verdicts(burst);
  for (auto _ : state) {
    engine->process(*worker, 1, Direction::kFromVm, frames, verdicts);
    benchmark::DoNotOptimize(verdicts.data());
    benchmark::ClobberMemory();
  }
  if (verdicts[0].action != Action::kPass || verdicts[0].rule_id != nrules) state.SkipWithError("unexpected verdict");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(burst));
}

BENCHMARK(BM_ChainDfw)->ArgNames({"burst", "rules"})->ArgsProduct({{1, 32, 256}, {10, 1000}});

// The cost of flow logs (fw/flow_log.h) on the stateless DFW: burst 32, 10
// rules, every packet decided by the last rule. log 0: the rule is not
// logged; 1: logged, verdicts flagged, no FlowLog; 2: logged into a FlowLog
// that this thread drains after every burst (the datapath's record copy
// plus the logger's drain; formatting is the logger's and not counted).
void BM_ChainDfwFlowLog(benchmark::State& state) {
  constexpr std::size_t kBurst = 32;
  const auto mode = state.range(0);
  auto engine = Engine::create({.max_workers = 1}).value();
  if (!engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) {
    state.SkipWithError("attach");
    return;
  }
  Policy policy = last_rule_policy(10, kIpProtoTcp, 443);
  policy.categories[static_cast<int>(Category::kApplication)][0].rules.back().logged = mode > 0;
  std::shared_ptr<FlowLog> log;
  if (mode == 2) log = FlowLog::create({.workers = 1, .capacity = 1024}).value();
  auto dfw = Dfw::create(*engine, {.stateful = false, .flow_log = log}).value();
  if (Status s = dfw->apply(policy, {1}); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  auto worker = engine->create_worker().value();
  std::vector<test::Bytes> storage(kBurst, ipv4_tcp_syn());
  std::vector<Frame> frames(storage.begin(), storage.end());
  std::vector<Verdict> verdicts(kBurst);
  std::vector<FlowLogRecord> records(kBurst);
  std::size_t drained = 0;
  for (auto _ : state) {
    engine->process(*worker, 1, Direction::kFromVm, frames, verdicts);
    if (log) drained += log->drain(records);
    benchmark::DoNotOptimize(verdicts.data());
    benchmark::ClobberMemory();
  }
  const bool flagged = (verdicts[0].flags & kVerdictLogged) != 0;
  if (verdicts[0].action != Action::kPass || flagged != (mode > 0) ||
      (log && drained != state.iterations() * kBurst))
    state.SkipWithError("unexpected verdict or lost records");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBurst));
}

BENCHMARK(BM_ChainDfwFlowLog)->ArgName("log")->Arg(0)->Arg(1)->Arg(2);

// The stateful DFW in slot 2 (docs/stateful-dfw.md), UDP, burst 32, a
// 1000-rule policy whose last rule allows the VM's traffic (so a first
// packet pays a full classification):
//   mode 0, established: 1024 connections with both directions seen; each
//     burst is 32 of them from the VM, decided by the table alone.
//   mode 1, new: 64 bursts of 32 distinct flows in rotation, the clock
//     moving past the UDP first-packet timeout (60 s) every burst, so every
//     packet finds its previous connection expired (freed by the lookup)
//     and is a first packet: lookup + classify + create.
// ns per packet = 1 / items_per_second.
//   fw_bench --benchmark_filter=ChainDfwStateful --benchmark_repetitions=5
test::Bytes udp_frame(bool from_vm, std::uint16_t vm_port) {
  test::PacketBuilder b;
  if (from_vm) {
    b.eth("02:00:00:00:00:01", "02:00:00:00:00:02").ipv4("10.0.0.1", "10.0.0.2").udp(vm_port, 53);
  } else {
    b.eth("02:00:00:00:00:02", "02:00:00:00:00:01").ipv4("10.0.0.2", "10.0.0.1").udp(53, vm_port);
  }
  return b.payload(64).build();
}

void BM_ChainDfwStateful(benchmark::State& state) {
  const bool fresh = state.range(0) == 1;
  constexpr std::size_t kBurst = 32;
  constexpr std::uint32_t kRules = 1000;
  auto engine = Engine::create({.max_workers = 1}).value();
  if (!engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) {
    state.SkipWithError("attach");
    return;
  }
  const Policy policy = last_rule_policy(kRules, kIpProtoUdp, 53);
  auto dfw = Dfw::create(*engine, {.conntrack = {.capacity = 1 << 16,
                                                 .concurrency = CtConcurrency::kSingleThread}}).value();
  if (Status s = dfw->apply(policy, {1}); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  auto worker = engine->create_worker().value();
  const std::size_t flows = fresh ? 64 * kBurst : 1024;
  std::vector<test::Bytes> out_storage, in_storage;
  for (std::size_t f = 0; f < flows; ++f) {
    out_storage.push_back(udp_frame(true, static_cast<std::uint16_t>(10000 + f)));
    in_storage.push_back(udp_frame(false, static_cast<std::uint16_t>(10000 + f)));
  }
  std::vector<Frame> out_frames(out_storage.begin(), out_storage.end());
  std::vector<Frame> in_frames(in_storage.begin(), in_storage.end());
  std::vector<Verdict> verdicts(kBurst);
  std::uint64_t now = 1'000'000'000;
  if (!fresh) {
    // Open every connection and see its reply: established.
    for (std::size_t at = 0; at < flows; at += kBurst) {
      engine->process(*worker, 1, Direction::kFromVm, std::span(out_frames).subspan(at, kBurst), verdicts,
                      {.now_ns = now});
      engine->process(*worker, 1, Direction::kToVm, std::span(in_frames).subspan(at, kBurst), verdicts,
                      {.now_ns = now});
    }
  }
  const std::uint64_t step = fresh ? 61'000'000'000ull : 1'000ull;
  std::size_t at = 0;
  for (auto _ : state) {
    now += step;
    engine->process(*worker, 1, Direction::kFromVm, std::span(out_frames).subspan(at, kBurst), verdicts,
                    {.now_ns = now});
    at = (at + kBurst) % flows;
    benchmark::DoNotOptimize(verdicts.data());
    benchmark::ClobberMemory();
  }
  const std::uint8_t expected = fresh ? (kCtNew | kCtTracked) : (kCtEstablished | kCtTracked);
  if (verdicts[0].action != Action::kPass || verdicts[0].rule_id != kRules || verdicts[0].ct_state != expected)
    state.SkipWithError("unexpected verdict");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBurst));
  state.SetLabel(fresh ? "new" : "established");
}

BENCHMARK(BM_ChainDfwStateful)->ArgName("new")->Arg(0)->Arg(1);

}  // namespace
}  // namespace fw::bench

