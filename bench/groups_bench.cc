// The issue's `membership` shape at a scale that runs in seconds: an
// inventory of 100k VMs (one vNIC, one IPv4 address each) and 10k groups,
// each selecting one tag value (tag app=a<k>, 10 VMs per group).
//
//   BM_TagChangeToApplied/<sink>   one tag add or remove on one VM until its
//       address deltas are applied by the sink (realized == the change's
//       sequence when the call returns). sink 0: a sink that only counts
//       (the inventory's own cost: index lookup, evaluation, delta); sink 1:
//       the DFW sink over an fw::Engine + fw::Dfw whose policy has 10k rules,
//       one per group (live for the next packet when the call returns).
//   BM_SnapshotLoad                a full snapshot of the 100k VMs through
//       the FeedConsumer (decode + apply + sweep) into an inventory with the
//       10k groups, per snapshot.
//
//   fw_bench --benchmark_filter='TagChange|SnapshotLoad'
//            --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/feed.h"
#include "fw/inventory.h"

namespace fw::bench {
namespace {

constexpr std::size_t kVms = 100000;
constexpr std::size_t kGroups = 10000;

class CountingSink : public GroupSink {
 public:
  Status apply(std::span<const GroupDelta> deltas) override {
    for (const GroupDelta& d : deltas) changes += d.added.size() + d.removed.size();
    return Status::Ok();
  }
  std::uint64_t changes = 0;
};

std::string group_id(std::size_t k) { return "g" + std::to_string(k); }
Tag group_tag(std::size_t k) { return Tag{.scope = "app", .value = "a" + std::to_string(k)}; }

Policy membership_policy(bool with_rules) {
  Policy p;
  Section s;
  s.id = "app";
  for (std::size_t k = 0; k < kGroups; ++k) {
    Group g;
    g.id = group_id(k);
    g.criteria = {CriteriaExpression{.all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals,
                                                          .scope = "app", .values = {group_tag(k).value}}}}};
    p.groups.push_back(std::move(g));
    if (with_rules) {
      Rule r;
      r.id = static_cast<std::uint32_t>(k + 1);
      r.sources.groups = {group_id(k)};
      r.inline_services = {ServiceEntry{.protocol = 6, .dst_ports = {PortRange{static_cast<std::uint16_t>(k % 60000 + 1),
                                                                                static_cast<std::uint16_t>(k % 60000 + 1)}}}};
      s.rules.push_back(std::move(r));
    }
  }
  if (with_rules) p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  return p;
}

VmSpec vm_spec(std::size_t i) {
  return VmSpec{.id = "vm" + std::to_string(i),
                .name = "vm-" + std::to_string(i),
                .tags = {group_tag(i % kGroups), Tag{.scope = "env", .value = i % 2 ? "prod" : "dev"}},
                .vnics = {VnicSpec{.id = static_cast<std::uint32_t>(i + 1),
                                   .addresses = {IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>(i))}}}};
}

void load(Inventory& inv) {
  for (std::size_t i = 0; i < kVms; ++i) {
    if (!inv.upsert_vm(vm_spec(i)).ok()) std::abort();
  }
}

void BM_TagChangeToApplied(benchmark::State& state) {
  const bool dfw_sink = state.range(0) == 1;
  CountingSink counting;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Dfw> dfw;
  std::unique_ptr<GroupSink> sink;
  const Policy policy = membership_policy(dfw_sink);
  if (dfw_sink) {
    engine = Engine::create({.max_workers = 1}).value();
    if (!engine->attach_vnic({.id = 1, .mac = MacAddress::from_u64(0x020000000001)}).ok()) std::abort();
    dfw = Dfw::create(*engine).value();
    if (Status s = dfw->apply(policy, {1}); !s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      return;
    }
    sink = make_dfw_group_sink(*dfw);
  }
  auto inv = Inventory::create({.sink = dfw_sink ? sink.get() : &counting}).value();
  if (!inv->set_groups(policy).ok()) std::abort();
  load(*inv);
  // VM i gains (then loses) the tag of group (i + 1) % kGroups: one
  // address joins (leaves) one group of ten.
  const std::uint64_t evaluations_before = inv->stats().group_evaluations;
  std::size_t i = 0;
  bool adding = true;
  for (auto _ : state) {
    const Tag tag = group_tag((i + 1) % kGroups);
    const std::string id = "vm" + std::to_string(i);
    StatusOr<std::uint64_t> seq = adding ? inv->add_tag(id, tag) : inv->remove_tag(id, tag);
    if (!seq.ok() || inv->realization().realized != *seq) {
      state.SkipWithError("a tag change was not applied");
      return;
    }
    if (++i == 4096) {
      i = 0;
      adding = !adding;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["evaluations_per_change"] = benchmark::Counter(
      static_cast<double>(inv->stats().group_evaluations - evaluations_before), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TagChangeToApplied)->Arg(0)->Arg(1)->Unit(benchmark::kNanosecond);

void BM_SnapshotLoad(benchmark::State& state) {
  std::string stream;
  stream += encode_feed_frame(FeedEvent{.revision = 1, .kind = FeedEventKind::kSnapshotBegin});
  for (std::size_t i = 0; i < kVms; ++i)
    stream += encode_feed_frame(FeedEvent{.revision = 1, .kind = FeedEventKind::kVmUpsert, .vm = vm_spec(i)});
  stream += encode_feed_frame(FeedEvent{.revision = 1, .kind = FeedEventKind::kSnapshotEnd});
  const Policy policy = membership_policy(false);
  for (auto _ : state) {
    state.PauseTiming();
    CountingSink sink;
    auto inv = Inventory::create({.sink = &sink}).value();
    if (!inv->set_groups(policy).ok()) std::abort();
    auto consumer = FeedConsumer::create(*inv).value();
    FeedFrameReader reader;
    state.ResumeTiming();
    reader.append(stream);
    for (;;) {
      auto body = reader.next();
      if (!body.ok() || !body->has_value()) break;
      if (!consumer->apply_message(**body).ok()) std::abort();
    }
    if (!consumer->in_sync() || inv->vm_count() != kVms) {
      state.SkipWithError("snapshot did not load");
      return;
    }
    state.PauseTiming();
    consumer.reset();  // destruction is not part of the load
    inv.reset();
    state.ResumeTiming();
  }
  state.counters["bytes"] = static_cast<double>(stream.size());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kVms));
}
BENCHMARK(BM_SnapshotLoad)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace fw::bench
