// Chain overhead per packet: parse + slot loop + counters, with an empty
// chain and with the slot-0 L2 ACL, for bursts of 1, 32 and 256.
//   fw_bench --benchmark_filter=Chain
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_packets.h"
#include "fw/config.h"
#include "fw/dfw.h"
#include "fw/policy.h"
#include "fw/engine.h"

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

// The stateless DFW in slot 2: a policy of `rules` rules, each allowing TCP
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
  Policy policy;
  Section section;
  section.id = "s";
  for (std::uint32_t i = 0; i < nrules; ++i) {
    Rule r;
    r.id = i + 1;
    // 10.0.0.2 (the frame's destination) only in the last rule.
    const std::uint32_t dst = i + 1 == nrules ? 0x0a000002u : 0x0b000000u + i;
    r.destinations.cidrs = {Cidr{IpAddress::v4(dst), 32}};
    r.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{443, 443}}}};
    section.rules.push_back(r);
  }
  policy.categories[static_cast<int>(Category::kApplication)] = {section};
  policy.default_action = RuleAction::kDrop;
  auto dfw = Dfw::create(*engine).value();
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

}  // namespace
}  // namespace fw::bench
