// What a policy change costs (docs/policy.md, "Updates and their cost"):
//
//   BM_PolicyCompileFull/rules       compile() of the whole policy
//   BM_PolicyRecompileOneRule/rules  recompile() after one rule's ports changed:
//                                    validation, specs, and the one rule list
//                                    (of 8) that holds the rule rebuilt
//   BM_DfwApplyOneRule/rules         Dfw::apply() of the same edit end to end:
//                                    recompile, counter table, one generation
//                                    on 8 vNICs (Engine::set_filters, one RCU
//                                    grace period)
//   BM_DfwGroupAddressDelta/members  one /32 added to (or removed from) a
//                                    group of a 10k-rule policy through
//                                    Dfw::add/remove_group_addresses; live on
//                                    the datapath when the call returns
//   BM_DfwGroupAddressSet/members    the same change through
//                                    set_group_addresses (the whole list)
//
// The policies: `rules` rules applied round-robin to 8 applied-to groups (one
// vNIC each, so 8 rule lists per direction, shared by both directions), each
// from a literal source prefix to one of 32 destination groups, TCP to one
// port. The membership benchmarks' group "big" holds `members` static /32s
// and as many API-set ones.
//   fw_bench --benchmark_filter='Policy|DfwApply|DfwGroup'
//            --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// (one command line)
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/policy.h"
#include "libfw/policy/compile.h"

namespace fw::bench {
namespace {

constexpr std::uint32_t kAppliedGroups = 8;
constexpr std::uint32_t kDestinationGroups = 32;

Policy update_policy(std::uint32_t rules, std::uint32_t big_members = 0) {
  Policy p;
  for (std::uint32_t g = 0; g < kAppliedGroups; ++g) {
    Group at;
    at.id = "at" + std::to_string(g);
    at.vnic_ids = {g + 1};
    p.groups.push_back(at);
  }
  for (std::uint32_t g = 0; g < kDestinationGroups; ++g) {
    Group dst;
    dst.id = "dst" + std::to_string(g);
    for (std::uint32_t m = 0; m < 16; ++m) dst.cidrs.push_back(Cidr{IpAddress::v4(0xac100000u + g * 256 + m), 32});
    p.groups.push_back(dst);
  }
  Group big;
  big.id = "big";
  for (std::uint32_t m = 0; m < big_members; ++m) big.cidrs.push_back(Cidr{IpAddress::v4(0xc0000000u + 2 * m), 32});
  p.groups.push_back(big);
  Section s;
  s.id = "s";
  for (std::uint32_t i = 0; i < rules; ++i) {
    Rule r;
    r.id = i + 1;
    // Sources: /24s and /32s spread over 10.0.0.0/8.
    const std::uint32_t src = 0x0a000000u | ((i * 2654435761u) & 0x00ffff00u);
    r.sources.cidrs = {i % 3 ? Cidr{IpAddress::v4(src), 24} : Cidr{IpAddress::v4(src | (i & 0xff)), 32}};
    r.destinations.groups = {i % 97 == 0 ? std::string("big") : "dst" + std::to_string(i % kDestinationGroups)};
    r.inline_services = {ServiceEntry{.protocol = kIpProtoTcp,
                                      .dst_ports = {PortRange{static_cast<std::uint16_t>(1000 + i % 1000),
                                                              static_cast<std::uint16_t>(1000 + i % 1000)}}}};
    r.applied_to_groups = {"at" + std::to_string(i % kAppliedGroups)};
    r.action = i % 2 ? RuleAction::kDrop : RuleAction::kAllow;
    s.rules.push_back(r);
  }
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  return p;
}

std::vector<std::uint32_t> vnics() {
  std::vector<std::uint32_t> out;
  for (std::uint32_t v = 1; v <= kAppliedGroups; ++v) out.push_back(v);
  return out;
}

// The edit: rule rules/2 moves between port 9 and its own port.
void edit_one_rule(Policy& p, std::uint32_t rules, bool toggled) {
  Rule& r = p.categories[static_cast<int>(Category::kApplication)][0].rules[rules / 2];
  const auto port = static_cast<std::uint16_t>(toggled ? 9 : 1000 + (rules / 2) % 1000);
  r.inline_services[0].dst_ports = {PortRange{port, port}};
}

void BM_PolicyCompileFull(benchmark::State& state) {
  const auto rules = static_cast<std::uint32_t>(state.range(0));
  const Policy policy = update_policy(rules);
  const policy_compile::CompileInput input{.policy = &policy, .vnics = vnics()};
  std::size_t lists = 0;
  for (auto _ : state) {
    auto compiled = policy_compile::compile(input);
    if (!compiled.ok()) {
      state.SkipWithError(compiled.status().to_string().c_str());
      return;
    }
    lists = (*compiled)->rule_lists();
    benchmark::DoNotOptimize(compiled);
  }
  state.counters["lists"] = static_cast<double>(lists);
}
BENCHMARK(BM_PolicyCompileFull)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_PolicyRecompileOneRule(benchmark::State& state) {
  const auto rules = static_cast<std::uint32_t>(state.range(0));
  Policy base = update_policy(rules);
  Policy edited = base;
  edit_one_rule(edited, rules, true);
  const policy_compile::CompileInput base_input{.policy = &base, .vnics = vnics()};
  auto previous = policy_compile::compile(base_input);
  if (!previous.ok()) {
    state.SkipWithError(previous.status().to_string().c_str());
    return;
  }
  const policy_compile::CompileInput input{.policy = &edited, .vnics = vnics()};
  policy_compile::CompileStats stats;
  for (auto _ : state) {
    auto next = policy_compile::recompile(**previous, input);
    if (!next.ok()) {
      state.SkipWithError(next.status().to_string().c_str());
      return;
    }
    stats = (*next)->compile_stats();
    benchmark::DoNotOptimize(next);
  }
  if (!stats.incremental || stats.lists_built != 1) state.SkipWithError("not the expected incremental recompile");
  state.counters["built"] = static_cast<double>(stats.lists_built);
  state.counters["reused"] = static_cast<double>(stats.lists_reused);
}
BENCHMARK(BM_PolicyRecompileOneRule)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

struct DfwSetup {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Dfw> dfw;
  Policy policy;
};

std::unique_ptr<DfwSetup> dfw_setup(benchmark::State& state, std::uint32_t rules, std::uint32_t big_members) {
  auto setup = std::make_unique<DfwSetup>();
  setup->engine = Engine::create({.max_workers = 2}).value();
  for (std::uint32_t v : vnics())
    if (!setup->engine->attach_vnic({.id = v, .mac = MacAddress::from_u64(0x020000000000 + v)}).ok()) {
      state.SkipWithError("attach");
      return nullptr;
    }
  setup->dfw = Dfw::create(*setup->engine).value();
  setup->policy = update_policy(rules, big_members);
  if (Status s = setup->dfw->apply(setup->policy, vnics()); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return nullptr;
  }
  return setup;
}

void BM_DfwApplyOneRule(benchmark::State& state) {
  const auto rules = static_cast<std::uint32_t>(state.range(0));
  auto setup = dfw_setup(state, rules, 0);
  if (!setup) return;
  bool toggled = false;
  for (auto _ : state) {
    state.PauseTiming();
    toggled = !toggled;
    edit_one_rule(setup->policy, rules, toggled);
    state.ResumeTiming();
    if (Status s = setup->dfw->apply(setup->policy, vnics()); !s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      return;
    }
  }
  const DfwApplyStats st = setup->dfw->last_apply();
  if (!st.incremental || st.lists_built != 1) state.SkipWithError("not the expected incremental apply");
  state.counters["built"] = static_cast<double>(st.lists_built);
  state.counters["reused"] = static_cast<double>(st.lists_reused);
}
BENCHMARK(BM_DfwApplyOneRule)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Alternately adds and removes addresses outside the group (each call one
// /32, cycling through 4096 of them), so every call really changes the map.
void BM_DfwGroupAddressDelta(benchmark::State& state) {
  const auto members = static_cast<std::uint32_t>(state.range(0));
  auto setup = dfw_setup(state, 10000, members);
  if (!setup) return;
  // As many API-set members as static ones.
  std::vector<Cidr> api;
  for (std::uint32_t m = 0; m < members; ++m) api.push_back(Cidr{IpAddress::v4(0xc1000000u + 2 * m), 32});
  if (!setup->dfw->set_group_addresses("big", api).ok()) {
    state.SkipWithError("set_group_addresses");
    return;
  }
  std::vector<std::vector<Cidr>> changes;
  for (std::uint32_t i = 0; i < 4096; ++i) changes.push_back({Cidr{IpAddress::v4(0xc2000000u + 2 * i), 32}});
  std::size_t next = 0;
  bool adding = true;
  for (auto _ : state) {
    const Status s = adding ? setup->dfw->add_group_addresses("big", changes[next])
                            : setup->dfw->remove_group_addresses("big", changes[next]);
    benchmark::DoNotOptimize(s);
    if (++next == changes.size()) {
      next = 0;
      adding = !adding;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DfwGroupAddressDelta)->Arg(10)->Arg(10000)->Arg(100000);

// The same change through set_group_addresses: the caller passes the whole
// list, and the call costs its length.
void BM_DfwGroupAddressSet(benchmark::State& state) {
  const auto members = static_cast<std::uint32_t>(state.range(0));
  auto setup = dfw_setup(state, 10000, members);
  if (!setup) return;
  std::vector<Cidr> api;
  for (std::uint32_t m = 0; m < members; ++m) api.push_back(Cidr{IpAddress::v4(0xc1000000u + 2 * m), 32});
  std::vector<Cidr> with_one = api;
  with_one.push_back(Cidr{IpAddress::v4(0xc2000000u), 32});
  bool adding = true;
  for (auto _ : state) {
    const Status s = setup->dfw->set_group_addresses("big", adding ? with_one : api);
    benchmark::DoNotOptimize(s);
    adding = !adding;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DfwGroupAddressSet)->Arg(10)->Arg(10000)->Arg(100000);

}  // namespace
}  // namespace fw::bench
