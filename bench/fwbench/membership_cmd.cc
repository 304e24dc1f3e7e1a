// fwbench membership — dynamic groups at scale: an inventory of N VMs, G
// groups each selecting one tag value, a policy of R rules naming those
// groups, enforced by a (stateless) fw::Dfw on an fw::Engine. Measures:
//
//   * event-to-live latency of single tag changes: from handing one encoded
//     feed message (tag_add / tag_remove) to the FeedConsumer until the
//     inventory's realized sequence covers it — the DFW sink has updated the
//     DFW's address-class map, so the next packet sees the new membership;
//   * throughput of bursts of tag changes, applied back to back one message
//     at a time (FeedConsumer::apply_message), and the same handed over in
//     batches (FeedConsumer::apply_messages: one inventory change, one sink
//     call per batch);
//   * heap held by the policy + DFW and by the inventory, and peak RSS.
//
// Live is checked, not assumed: for a sample of changes a packet from the
// VM's address is run through Engine::process right after the change, and
// must be decided by the group's first rule after a tag_add and by the
// default rule after the matching tag_remove. A mismatch fails the run.
//
// Shape (docs/groups.md, "Measured"): VM i has vNIC i + 2 with address
// 10.0.0.0 + i and tag app=a<i mod G>; group g<k> selects app=a<k>; rule
// index j (id j + 1) names group j mod G as source, TCP destination port
// j mod 60000 + 1, so the first rule matching port k + 1 is rule k + 1 of
// group k. A change gives (then takes back) VM i the tag of another group.
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "bench/fwbench/cli.h"
#include "bench/fwbench/commands.h"
#include "fw/chain.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/feed.h"
#include "fw/inventory.h"
#include "fw/policy.h"
#include "support/packet_builder.h"

namespace fwbench {
namespace {

constexpr std::string_view kCommand = "membership";
constexpr std::uint32_t kObserverVnic = 1;  // the vNIC the verification packets go through
constexpr std::size_t kMaxPort = 60000;

struct MembershipOptions {
  std::size_t vms = 100000;
  std::size_t groups = 10000;
  std::size_t rules = 100000;
  std::size_t changes = 20000;  // single changes timed one by one
  std::size_t burst = 10000;    // changes per burst
  std::size_t bursts = 6;       // bursts (half add, half remove)
  std::size_t batch = 1000;     // messages per apply_messages call in the batched bursts
  std::size_t verify = 100;     // (add, remove) pairs of single changes checked by an Engine lookup
  std::size_t seed = 1;
  bool progress = false;
  bool only_batched = false;  // skip the one-message-at-a-time bursts (for profiling)
};

std::vector<OptionSpec> option_specs(MembershipOptions& o) {
  return {
      {"vms", "N", "VMs in the inventory, one vNIC and one IPv4 address each (default 100000)",
       [&](std::string_view v) { return parse_count(v, 2, 1u << 20, o.vms); }},
      {"groups", "N", "groups, each selecting one tag value (default 10000; at most 60000)",
       [&](std::string_view v) { return parse_count(v, 2, kMaxPort, o.groups); }},
      {"rules", "N", "rules, each naming one group as source (default 100000)",
       [&](std::string_view v) { return parse_count(v, 1, 1u << 22, o.rules); }},
      {"changes", "N", "single tag changes timed one by one, rounded up to even (default 20000)",
       [&](std::string_view v) {
         OptionError e = parse_count(v, 1, 1u << 26, o.changes);
         o.changes += o.changes % 2;  // add then remove: every tag given is taken back
         return e;
       }},
      {"burst", "N", "tag changes per burst (default 10000)",
       [&](std::string_view v) { return parse_count(v, 1, 1u << 24, o.burst); }},
      {"bursts", "N", "bursts measured, alternately adding and removing tags (default 6)",
       [&](std::string_view v) { return parse_count(v, 1, 1000, o.bursts); }},
      {"batch", "N",
       "messages per FeedConsumer::apply_messages call in the batched bursts (default 1000; a 64 KiB read "
       "of the stream source holds about 2000 tag messages); 0: no batched bursts",
       [&](std::string_view v) { return parse_count(v, 0, 1u << 24, o.batch); }},
      {"verify", "N", "(add, remove) pairs of single changes verified by a packet through the Engine (default 100)",
       [&](std::string_view v) { return parse_count(v, 0, 1u << 20, o.verify); }},
      {"seed", "N", "seed of the VM and tag choice (default 1)",
       [&](std::string_view v) { return parse_count(v, 0, ~std::size_t{0} >> 1, o.seed); }},
      {"only-batched", "", "time only the batched bursts, not the one-message-at-a-time ones (for profiling)",
       [&](std::string_view) -> OptionError {
         o.only_batched = true;
         return std::nullopt;
       }},
      {"progress", "", "report progress on stderr even when it is not a terminal",
       [&](std::string_view) -> OptionError {
         o.progress = true;
         return std::nullopt;
       }},
  };
}

void print_help(std::span<const OptionSpec> specs) {
  fmt::print(
      "Usage: fwbench membership [options]\n"
      "\n"
      "Dynamic groups at scale: VMs, groups selecting a tag value each, and a policy of\n"
      "rules naming the groups, enforced by the DFW on an Engine. Measures the latency\n"
      "from one tag change (a feed message to the FeedConsumer) until the DFW enforces\n"
      "it (p50, p99, max), the throughput of bursts of changes (one message at a time,\n"
      "and in batches: one inventory change and one sink call per batch), and the heap\n"
      "held. A sample of changes is verified by a packet through the Engine.\n"
      "The defaults are the issue's sizes (100k VMs, 10k groups, 100k rules); goals:\n"
      "p50 <= 10 us, p99 <= 100 us, >= 100k changes/s.\n"
      "\n"
      "Options:\n");
  print_options(stdout, specs);
  fmt::print("\nExit codes: 0 ok (goals met or not), 1 setup failed or a change was not live, 2 usage error.\n");
}

std::string group_id(std::size_t k) { return "g" + std::to_string(k); }
std::string group_value(std::size_t k) { return "a" + std::to_string(k); }
fw::Tag group_tag(std::size_t k) { return fw::Tag{.scope = "app", .value = group_value(k)}; }
std::string vm_id(std::size_t i) { return "vm" + std::to_string(i); }
std::uint32_t vm_address(std::size_t i) { return 0x0a000000u + static_cast<std::uint32_t>(i); }
std::uint16_t rule_port(std::size_t j) { return static_cast<std::uint16_t>(j % kMaxPort + 1); }

fw::Policy build_policy(const MembershipOptions& o) {
  fw::Policy p;
  p.groups.reserve(o.groups);
  for (std::size_t k = 0; k < o.groups; ++k) {
    fw::Group g;
    g.id = group_id(k);
    g.criteria = {fw::CriteriaExpression{.all_of = {fw::Criterion{.key = fw::CriterionKey::kTag,
                                                                   .op = fw::CriterionOperator::kEquals,
                                                                   .scope = "app",
                                                                   .values = {group_value(k)}}}}};
    p.groups.push_back(std::move(g));
  }
  fw::Section s;
  s.id = "app";
  s.rules.reserve(o.rules);
  for (std::size_t j = 0; j < o.rules; ++j) {
    fw::Rule r;
    r.id = static_cast<std::uint32_t>(j + 1);
    r.action = fw::RuleAction::kAllow;
    r.sources.groups = {group_id(j % o.groups)};
    r.inline_services = {fw::ServiceEntry{.protocol = 6, .dst_ports = {fw::PortRange{rule_port(j), rule_port(j)}}}};
    s.rules.push_back(std::move(r));
  }
  p.categories[static_cast<int>(fw::Category::kApplication)] = {std::move(s)};
  p.default_action = fw::RuleAction::kDrop;
  return p;
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }
std::size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
}
double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
// CPU time of this thread: on a shared machine, wall time also counts the
// time other processes held the core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class Progress {
 public:
  explicit Progress(bool forced) : enabled_(forced || isatty(STDERR_FILENO) == 1), tty_(isatty(STDERR_FILENO) == 1) {}
  void stage(std::string_view what) {
    if (!enabled_) return;
    end_line();
    fmt::print(stderr, "fwbench membership: {}...{}", what, tty_ ? "" : "\n");
    std::fflush(stderr);
    open_ = tty_;
    last_ = std::chrono::steady_clock::now();
  }
  void step(std::string_view what, std::size_t done, std::size_t total) {
    if (!enabled_ || std::chrono::steady_clock::now() - last_ < std::chrono::seconds(1)) return;
    last_ = std::chrono::steady_clock::now();
    fmt::print(stderr, "{}fwbench membership: {} {}/{}{}", tty_ ? "\r" : "", what, done, total, tty_ ? "   " : "\n");
    std::fflush(stderr);
    open_ = tty_;
  }
  void end_line() {
    if (open_) fmt::print(stderr, "\n");
    open_ = false;
  }

 private:
  bool enabled_;
  bool tty_;
  bool open_ = false;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Everything under test, built once.
struct Bench {
  std::unique_ptr<fw::Engine> engine;
  std::unique_ptr<fw::Worker> worker;
  std::unique_ptr<fw::Dfw> dfw;
  std::unique_ptr<fw::GroupSink> sink;
  std::unique_ptr<fw::Inventory> inventory;
  std::unique_ptr<fw::FeedConsumer> consumer;
  std::uint64_t revision = 1;  // the snapshot's; deltas follow
  std::uint32_t default_rule_id = 0;
};

// The verdict of a TCP SYN from VM i's address to `port`, through the DFW.
fw::Verdict lookup(Bench& b, std::size_t i, std::uint16_t port) {
  const fw::IpAddress src = fw::IpAddress::v4(vm_address(i));
  const fw::test::Bytes frame = fw::test::PacketBuilder()
                                    .eth("02:00:00:00:00:09", "02:00:00:00:00:01")
                                    .ipv4(src.to_string(), "10.255.0.1")
                                    .tcp(40000, port, fw::kTcpSyn)
                                    .build();
  const fw::Frame frames[1] = {fw::Frame(frame)};
  fw::Verdict verdicts[1];
  b.engine->process(*b.worker, kObserverVnic, fw::Direction::kToVm, frames, verdicts);
  return verdicts[0];
}

// One tag change as a feed message body at the next revision.
std::string change_message(Bench& b, std::size_t vm, std::size_t group, bool add) {
  return fw::encode_feed_message(fw::FeedEvent{.revision = ++b.revision,
                                               .kind = add ? fw::FeedEventKind::kTagAdd : fw::FeedEventKind::kTagRemove,
                                               .vm_id = vm_id(vm),
                                               .tag = group_tag(group)});
}

double percentile(std::vector<double>& sorted, double p) {
  const std::size_t index = std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return sorted[index];
}

struct Rates {
  double median = 0, min = 0, max = 0;
};
// The median of an even count is the mean of the middle two: bursts
// alternate adding and removing tags, and removes are faster, so the upper
// middle alone would be a remove's rate.
Rates rates_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return Rates{.median = median, .min = values.front(), .max = values.back()};
}

struct BurstResult {
  Rates wall;             // changes per second
  Rates cpu;              // changes per CPU second of this thread
  Rates adds, removes;    // wall, the bursts adding tags / removing them
  std::size_t verified_added = 0;    // changes checked by a packet right after their burst
  std::size_t verified_removed = 0;
};

// Checks by a packet that VM `vm` has (add) or has not the tag of `group`.
fw::Status verify_change(Bench& b, std::size_t vm, std::size_t group, bool add) {
  const fw::Verdict v = lookup(b, vm, rule_port(group));
  const std::uint32_t want = add ? static_cast<std::uint32_t>(group + 1) : b.default_rule_id;
  if (v.rule_id == want && v.slot == fw::kSlotDfw) return fw::Status::Ok();
  return fw::internal_error(fmt::format("after {} {} on {}: a packet from {} to port {} was decided by slot {} rule {}, "
                                        "not slot {} rule {}",
                                        add ? "adding" : "removing", group_tag(group).value, vm_id(vm),
                                        fw::IpAddress::v4(vm_address(vm)).to_string(), rule_port(group),
                                        static_cast<int>(v.slot), v.rule_id, static_cast<int>(fw::kSlotDfw), want));
}

// `o.bursts` bursts of `o.burst` tag changes, alternately adding a tag of
// another group to random VMs and removing it again. Handed over one
// message at a time (batch 0: apply_message) or `batch` messages per
// apply_messages call. Messages are encoded before the clock starts; the
// clock stops when the inventory reports the burst realized (the DFW
// enforces it). The first and last change of each burst are then checked by
// a packet. A VM picked twice in one burst gains the tag once and loses it
// once: both are still changes the consumer applied (no-ops included).
fw::StatusOr<BurstResult> run_bursts(Bench& b, const MembershipOptions& o, std::mt19937_64& random, std::size_t batch,
                                     Progress& progress) {
  std::vector<double> rates, cpu_rates, add_rates, remove_rates;
  std::vector<std::size_t> burst_vms, burst_groups;
  std::vector<std::string> bodies(o.burst);
  std::vector<std::string_view> views(o.burst);
  BurstResult result;
  for (std::size_t k = 0; k < o.bursts; ++k) {
    const bool add = k % 2 == 0;
    if (add) {
      burst_vms.clear();
      burst_groups.clear();
      for (std::size_t j = 0; j < o.burst; ++j) {
        const std::size_t i = (random() % o.vms);
        burst_vms.push_back(i);
        burst_groups.push_back((i % o.groups + 1 + random() % (o.groups - 1)) % o.groups);
      }
    }
    for (std::size_t j = 0; j < o.burst; ++j) {
      bodies[j] = change_message(b, burst_vms[j], burst_groups[j], add);
      views[j] = bodies[j];
    }
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    if (batch == 0) {
      for (std::string_view body : views) {
        if (fw::Status s = b.consumer->apply_message(body); !s.ok())
          return fw::internal_error("a burst change was refused: " + s.to_string());
      }
    } else {
      for (std::size_t at = 0; at < views.size(); at += batch) {
        const std::span<const std::string_view> part =
            std::span<const std::string_view>(views).subspan(at, std::min(batch, views.size() - at));
        if (fw::Status s = b.consumer->apply_messages(part); !s.ok())
          return fw::internal_error("a batch of burst changes was refused: " + s.to_string());
      }
    }
    const bool live = b.inventory->realization().realized >= b.consumer->inventory_sequence();
    const double elapsed = seconds_since(t0);
    const double cpu = thread_cpu_seconds() - cpu0;
    if (!live) return fw::internal_error("a burst was not live: " + b.inventory->realization().last_error.to_string());
    // The first and the last change of the burst, unless their VM appears
    // again in it (another change may have given it the same tag).
    for (std::size_t j : {std::size_t{0}, o.burst - 1}) {
      if (std::count(burst_vms.begin(), burst_vms.end(), burst_vms[j]) != 1) continue;
      if (fw::Status s = verify_change(b, burst_vms[j], burst_groups[j], add); !s.ok()) return s;
      ++(add ? result.verified_added : result.verified_removed);
    }
    rates.push_back(static_cast<double>(o.burst) / elapsed);
    (add ? add_rates : remove_rates).push_back(rates.back());
    cpu_rates.push_back(static_cast<double>(o.burst) / cpu);
    progress.step("bursts", k + 1, o.bursts);
  }
  result.wall = rates_of(std::move(rates));
  result.cpu = rates_of(std::move(cpu_rates));
  result.adds = rates_of(std::move(add_rates));
  if (!remove_rates.empty()) result.removes = rates_of(std::move(remove_rates));
  return result;
}

int run(const MembershipOptions& o) {
  Progress progress(o.progress);
  Bench b;
  fmt::print("membership: {} VMs, {} groups, {} rules (stateless DFW, one engine worker)\n", o.vms, o.groups, o.rules);
  std::fflush(stdout);

  // ---- policy and DFW ----
  progress.stage(fmt::format("building a policy of {} rules over {} groups", o.rules, o.groups));
  const std::size_t heap_start = heap_in_use();
  auto start = std::chrono::steady_clock::now();
  fw::Policy policy = build_policy(o);
  b.default_rule_id = policy.default_rule_id;
  auto engine = fw::Engine::create({.max_workers = 1});
  if (!engine.ok()) return failure(kCommand, engine.status().to_string());
  b.engine = std::move(*engine);
  if (fw::Status s = b.engine->attach_vnic({.id = kObserverVnic, .mac = fw::MacAddress::from_u64(0x020000000001)});
      !s.ok())
    return failure(kCommand, s.to_string());
  auto worker = b.engine->create_worker();
  if (!worker.ok()) return failure(kCommand, worker.status().to_string());
  b.worker = std::move(*worker);
  auto dfw = fw::Dfw::create(*b.engine, {.stateful = false});
  if (!dfw.ok()) return failure(kCommand, dfw.status().to_string());
  b.dfw = std::move(*dfw);
  const std::size_t heap_before_apply = heap_in_use();
  if (fw::Status s = b.dfw->apply(policy, {kObserverVnic}); !s.ok())
    return failure(kCommand, "the DFW refused the policy: " + s.to_string());
  const double apply_s = seconds_since(start);
  const std::size_t heap_dfw = heap_in_use() - heap_before_apply;

  // ---- inventory, loaded by a snapshot through the consumer ----
  progress.stage(fmt::format("loading {} VMs through the feed consumer", o.vms));
  b.sink = fw::make_dfw_group_sink(*b.dfw);
  const std::size_t heap_before_inventory = heap_in_use();
  auto inventory = fw::Inventory::create({.sink = b.sink.get()});
  if (!inventory.ok()) return failure(kCommand, inventory.status().to_string());
  b.inventory = std::move(*inventory);
  if (auto s = b.inventory->set_groups(policy); !s.ok()) return failure(kCommand, s.status().to_string());
  policy = fw::Policy{};  // the DFW and the inventory hold what they need
  auto consumer = fw::FeedConsumer::create(*b.inventory);
  if (!consumer.ok()) return failure(kCommand, consumer.status().to_string());
  b.consumer = std::move(*consumer);
  start = std::chrono::steady_clock::now();
  fw::Status load = b.consumer->apply({.revision = b.revision, .kind = fw::FeedEventKind::kSnapshotBegin});
  for (std::size_t i = 0; i < o.vms && load.ok(); ++i) {
    load = b.consumer->apply(fw::FeedEvent{
        .revision = b.revision,
        .kind = fw::FeedEventKind::kVmUpsert,
        .vm = fw::VmSpec{.id = vm_id(i),
                         .tags = {group_tag(i % o.groups)},
                         .vnics = {fw::VnicSpec{.id = static_cast<std::uint32_t>(i + 2),
                                                .addresses = {fw::IpAddress::v4(vm_address(i))}}}}});
    progress.step("VMs loaded", i + 1, o.vms);
  }
  if (load.ok()) load = b.consumer->apply({.revision = b.revision, .kind = fw::FeedEventKind::kSnapshotEnd});
  if (!load.ok() || !b.consumer->in_sync()) return failure(kCommand, "loading the VMs failed: " + load.to_string());
  const double load_s = seconds_since(start);
  const std::size_t heap_inventory = heap_in_use() - heap_before_inventory;
  if (!b.inventory->realization().last_error.ok())
    return failure(kCommand, "the DFW sink failed: " + b.inventory->realization().last_error.to_string());
  progress.end_line();
  fmt::print("setup      policy compiled and installed in {:.2f} s; {} VMs loaded by a snapshot in {:.2f} s ({:.0f} VMs/s)\n",
             apply_s, o.vms, load_s, static_cast<double>(o.vms) / load_s);
  std::fflush(stdout);

  // ---- single changes ----
  // Change c: VM i gains (c even) or loses again (c odd) the tag of group
  // k != its own. Messages are encoded before the clock starts.
  std::mt19937_64 random(o.seed);
  std::vector<double> latencies_ns;
  latencies_ns.reserve(o.changes);
  const std::size_t verify_every = o.verify == 0 ? 0 : std::max<std::size_t>(1, o.changes / (2 * o.verify)) * 2;
  std::size_t verified_added = 0, verified_removed = 0;
  std::size_t vm = 0, group = 0;
  const std::uint64_t evaluations_before = b.inventory->stats().group_evaluations;
  progress.stage(fmt::format("timing {} single tag changes", o.changes));
  for (std::size_t c = 0; c < o.changes; ++c) {
    const bool add = c % 2 == 0;
    if (add) {
      vm = random() % o.vms;
      group = (vm % o.groups + 1 + random() % (o.groups - 1)) % o.groups;
    }
    const std::string body = change_message(b, vm, group, add);
    const auto t0 = std::chrono::steady_clock::now();
    fw::Status s = b.consumer->apply_message(body);
    const std::uint64_t sequence = b.consumer->inventory_sequence();
    const bool live = b.inventory->realization().realized >= sequence;
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok() || !live)
      return failure(kCommand, fmt::format("change {} ({} {} on {}) not live: {}; {}", c, add ? "add" : "remove",
                                           group_id(group), vm_id(vm), s.to_string(),
                                           b.inventory->realization().last_error.to_string()));
    latencies_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    // Verify the pair (c - 1, c) for a sample: the add decided by the
    // group's first rule, the remove by the default rule.
    if (verify_every != 0 && (c / 2) % (verify_every / 2) == 0) {
      if (fw::Status s = verify_change(b, vm, group, add); !s.ok()) return failure(kCommand, s.message());
      ++(add ? verified_added : verified_removed);
    }
    progress.step("single changes", c + 1, o.changes);
  }
  std::sort(latencies_ns.begin(), latencies_ns.end());
  const double p50 = percentile(latencies_ns, 0.50) / 1000.0;
  const double p99 = percentile(latencies_ns, 0.99) / 1000.0;
  const double max = latencies_ns.back() / 1000.0;

  // ---- bursts ----
  // Burst 2n adds a tag to `burst` VMs, burst 2n + 1 removes them; first
  // one message at a time, then in batches (new VMs).
  progress.stage(fmt::format("timing {} bursts of {} tag changes, one message at a time", o.bursts, o.burst));
  fw::StatusOr<BurstResult> one_by_one = BurstResult{};
  if (!o.only_batched) one_by_one = run_bursts(b, o, random, 0, progress);
  if (!one_by_one.ok()) return failure(kCommand, one_by_one.status().to_string());
  progress.stage(fmt::format("timing {} bursts of {} tag changes in batches of {}", o.bursts, o.burst, o.batch));
  const std::uint64_t sinks_before = b.inventory->stats().sink_calls;
  fw::StatusOr<BurstResult> batched = BurstResult{};
  if (o.batch != 0) batched = run_bursts(b, o, random, o.batch, progress);
  if (!batched.ok()) return failure(kCommand, batched.status().to_string());
  const std::uint64_t batched_sink_calls = b.inventory->stats().sink_calls - sinks_before;
  progress.end_line();

  // ---- memory and report ----
  const std::size_t burst_added = one_by_one->verified_added + batched->verified_added;
  const std::size_t burst_removed = one_by_one->verified_removed + batched->verified_removed;
  const fw::InventoryStats stats = b.inventory->stats();
  fmt::print("single     {} tag changes, event to live: p50 {:.2f} us, p99 {:.2f} us, max {:.2f} us\n", o.changes, p50,
             p99, max);
  if (!o.only_batched)
    fmt::print("burst      {} bursts of {} changes, one message at a time: {:.0f} changes/s (median; min {:.0f}, "
               "max {:.0f}; adds {:.0f}, removes {:.0f}); {:.0f} changes per CPU second (median)\n",
               o.bursts, o.burst, one_by_one->wall.median, one_by_one->wall.min, one_by_one->wall.max,
               one_by_one->adds.median, one_by_one->removes.median, one_by_one->cpu.median);
  if (o.batch != 0)
    fmt::print("batched    {} bursts of {} changes, {} messages per apply_messages: {:.0f} changes/s (median; min "
               "{:.0f}, max {:.0f}; adds {:.0f}, removes {:.0f}); {:.0f} changes per CPU second (median); {} sink "
               "calls\n",
               o.bursts, o.burst, o.batch, batched->wall.median, batched->wall.min, batched->wall.max,
               batched->adds.median, batched->removes.median, batched->cpu.median, batched_sink_calls);
  fmt::print("verified   {} changes by an Engine lookup: {} decided by the group's rule after tag_add, {} by the "
             "default rule after tag_remove ({} of them right after a burst)\n",
             verified_added + verified_removed + burst_added + burst_removed, verified_added + burst_added,
             verified_removed + burst_removed, burst_added + burst_removed);
  fmt::print("evaluated  {:.2f} (group, vNIC) evaluations per change\n",
             static_cast<double>(stats.group_evaluations - evaluations_before) /
                 static_cast<double>(o.changes + ((o.only_batched ? 0 : 1) + (o.batch == 0 ? 0 : 1)) * o.bursts * o.burst));
  fmt::print("memory     heap held: policy in the DFW {:.1f} MiB, inventory {:.1f} MiB, total {:.1f} MiB; peak RSS {:.0f} MiB\n",
             mib(heap_dfw), mib(heap_inventory), mib(heap_in_use() - heap_start), mib(peak_rss_bytes()));
  fmt::print("goals      p50 <= 10 us: {}; p99 <= 100 us: {}; >= 100k changes/s: {} batched, {} one at a time\n",
             p50 <= 10.0 ? "met" : "missed", p99 <= 100.0 ? "met" : "missed",
             o.batch == 0 ? "not timed" : batched->wall.median >= 100000.0 ? "met" : "missed",
             o.only_batched ? "not timed" : one_by_one->wall.median >= 100000.0 ? "met" : "missed");
  return kExitOk;
}

}  // namespace

int run_membership(std::span<const std::string_view> args) {
  MembershipOptions options;
  const std::vector<OptionSpec> specs = option_specs(options);
  CommandLine parsed;
  if (auto error = parse_command_line(args, specs, parsed)) return usage_error(kCommand, *error);
  if (parsed.help_requested) {
    print_help(specs);
    return kExitOk;
  }
  if (!parsed.positionals.empty())
    return usage_error(kCommand, fmt::format("unexpected argument '{}'", parsed.positionals.front()));
  if (options.groups > options.vms) return usage_error(kCommand, "--groups must not exceed --vms");
  if (options.burst > options.vms) return usage_error(kCommand, "--burst must not exceed --vms");
  if (options.only_batched && options.batch == 0)
    return usage_error(kCommand, "--only-batched with --batch 0 would time no bursts");
  return run(options);
}

}  // namespace fwbench
