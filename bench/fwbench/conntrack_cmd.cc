// fwbench conntrack — the connection table and the stateful DFW at scale,
// in the manner of OVS's tests/test-conntrack.c benchmark (threads x batch
// size), with the goals and the OVS 3.1 userspace figures measured
// on the development machine beside each line. Measures:
//
//   * new connections per second (lookup + create), UDP and TCP (SYN), into
//     a table sized for --small and --large flows (the table is cleared
//     between passes, not rebuilt);
//   * established packets per second, UDP and TCP (pure ACKs, both
//     directions, random flows), with --small and --large flows prefilled;
//   * bytes per connection (ConnTable::memory_bytes() / capacity);
//   * a SYN flood of 10x the table's size against established TCP
//     connections: the share of established packets still accepted;
//   * 1 vs 2 worker threads on one shared table (established UDP, --large
//     flows) for several batch sizes;
//   * the full chain: fw::Engine with a stateful fw::Dfw in slot 2 and a
//     --rules-rule policy, established UDP at --large flows, once with a
//     single-thread table (one worker: the one-core goal) and once with a
//     shared one (shard locks, as several workers on one vNIC need).
//
// Packets. The table benchmarks parse one frame per kind once and write
// each packet's addresses and ports into its view before the burst (the
// table reads only parsed fields), so 1M flows need no 1M parsed views; the
// full chain copies the addresses and ports (12 bytes, precomputed in
// sending order) into 32 real frames per burst and lets the Engine parse
// them. Those writes are inside the timed loops.
//
// Time: every figure is a median over --passes passes. On a shared machine
// wall time also counts the time other processes held the core, so rates
// are computed from the measuring thread's CPU time, wall-time rates in
// parentheses; the worker comparison uses wall time (it is about two
// threads running at once) and also reports the CPU-time ratio.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "bench/fwbench/cli.h"
#include "bench/fwbench/commands.h"
#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/policy.h"
#include "support/packet_builder.h"

namespace fwbench {
namespace {

constexpr std::string_view kCommand = "conntrack";
constexpr std::uint16_t kZone = 1;
constexpr std::uint32_t kVnic = 1;
constexpr std::uint64_t kBurstNs = 1000;  // the clock moves 1 us a burst

// Open vSwitch 3.1 userspace conntrack on the development machine (issue 4).
constexpr double kOvsNewNs = 540;
constexpr double kOvsEstSmallNs = 129;
constexpr double kOvsEstLargeNs = 302;

struct ConntrackOptions {
  std::size_t small = 10000;
  std::size_t large = 1000000;
  std::size_t passes = 5;
  std::size_t packets = 2000000;  // established packets per pass
  std::size_t batch = 32;
  std::size_t flood_capacity = 65536;
  std::size_t rules = 10000;
  std::size_t chain_flows = 0;  // 0 = --large
  bool progress = false;
  // Which measurements run (--only); all by default.
  bool run_new = true, run_established = true, run_memory = true, run_flood = true, run_workers = true,
       run_chain = true;
};

OptionError parse_only(std::string_view list, ConntrackOptions& o) {
  o.run_new = o.run_established = o.run_memory = o.run_flood = o.run_workers = o.run_chain = false;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (name == "new") o.run_new = true;
    else if (name == "established") o.run_established = true;
    else if (name == "memory") o.run_memory = true;
    else if (name == "synflood") o.run_flood = true;
    else if (name == "workers") o.run_workers = true;
    else if (name == "chain") o.run_chain = true;
    else
      return "'" + std::string(name) + "' is not one of new, established, memory, synflood, workers, chain";
  }
  return std::nullopt;
}

std::vector<OptionSpec> option_specs(ConntrackOptions& o) {
  return {
      {"small", "N", "flows of the small table (default 10000)",
       [&](std::string_view v) { return parse_count(v, 64, 1u << 30, o.small); }},
      {"large", "N", "flows of the large table (default 1000000)",
       [&](std::string_view v) { return parse_count(v, 64, 1u << 30, o.large); }},
      {"passes", "N", "passes per measurement; medians are reported (default 5)",
       [&](std::string_view v) { return parse_count(v, 1, 1000, o.passes); }},
      {"packets", "N", "established packets per pass (default 2000000)",
       [&](std::string_view v) { return parse_count(v, 256, std::size_t{1} << 34, o.packets); }},
      {"batch", "N", "packets per burst (default 32; at most 256)",
       [&](std::string_view v) { return parse_count(v, 1, 256, o.batch); }},
      {"flood-capacity", "N", "table size of the SYN flood; the flood is 10x (default 65536)",
       [&](std::string_view v) { return parse_count(v, 64, 1u << 26, o.flood_capacity); }},
      {"rules", "N", "rules of the full chain's policy (default 10000)",
       [&](std::string_view v) { return parse_count(v, 1, 1u << 20, o.rules); }},
      {"chain-flows", "N", "established flows of the full chain (default: --large)",
       [&](std::string_view v) { return parse_count(v, 64, 1u << 30, o.chain_flows); }},
      {"only", "LIST", "run only these measurements (comma-separated: new, established, memory, synflood, "
                       "workers, chain); the goals line then lists only what was measured",
       [&](std::string_view v) { return parse_only(v, o); }},
      {"progress", "", "report progress on stderr even when it is not a terminal",
       [&](std::string_view) -> OptionError {
         o.progress = true;
         return std::nullopt;
       }},
  };
}

void print_help(std::span<const OptionSpec> specs) {
  fmt::print(
      "Usage: fwbench conntrack [options]\n"
      "\n"
      "The connection table (fw::ConnTable) and the stateful DFW at scale, as OVS's\n"
      "test-conntrack benchmark: new connections/s and established packets/s (UDP, TCP;\n"
      "--small and --large flows), bytes per connection, a SYN flood at 10x the table,\n"
      "1 vs 2 worker threads (batch sizes 1, 32, 256), and the full chain (Engine +\n"
      "stateful DFW, --rules rules) at --large established flows, with a single-thread\n"
      "table and with a shared one. Medians of --passes passes; rates from the\n"
      "measuring thread's CPU time (wall time in parentheses).\n"
      "Goals (issue 4): >= 5 M new connections/s, >= 15 Mpps established at 1M flows\n"
      "through the full chain with 10k rules (single-thread table: one worker),\n"
      "<= 128 bytes per connection, 2 workers >= 1.8x one, 3x OVS 3.1 userspace\n"
      "conntrack (540 ns new; 129 / 302 ns established at 10k / 1M flows, measured\n"
      "on the development machine).\n"
      "\n"
      "Options:\n");
  print_options(stdout, specs);
  fmt::print("\nExit codes: 0 ok (goals met or not), 1 a check failed (a packet was not decided as expected), "
             "2 usage error.\n");
}

// ---- clocks, medians, progress ------------------------------------------

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  double cpu = 0;   // seconds
  double wall = 0;  // seconds
};
class Stopwatch {
 public:
  Stopwatch() : cpu_(thread_cpu_seconds()), wall_(wall_seconds()) {}
  Timing elapsed() const { return {thread_cpu_seconds() - cpu_, wall_seconds() - wall_}; }

 private:
  double cpu_, wall_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// Items per second from the median CPU and wall times of several passes.
struct Rate {
  double per_cpu_second = 0;
  double per_wall_second = 0;
  double ns_cpu() const { return per_cpu_second > 0 ? 1e9 / per_cpu_second : 0; }
};
Rate rate_of(const std::vector<Timing>& passes, double items) {
  std::vector<double> cpu, wall;
  for (const Timing& t : passes) {
    cpu.push_back(t.cpu);
    wall.push_back(t.wall);
  }
  const double c = median(cpu), w = median(wall);
  return {c > 0 ? items / c : 0, w > 0 ? items / w : 0};
}

class Progress {
 public:
  explicit Progress(bool forced) : enabled_(forced || isatty(STDERR_FILENO) == 1) {}
  void stage(std::string_view what) {
    if (!enabled_) return;
    fmt::print(stderr, "fwbench conntrack: {}\n", what);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
};

std::string millions(double per_second) { return fmt::format("{:.2f}", per_second / 1e6); }

// ---- packets ----------------------------------------------------------------

// Flow i: client 10.(i >> 16).(i >> 8).(i) : 1024 + (i >> 24) -> server
// 192.168.0.1 : 53 (UDP) or 80 (TCP); distinct for i < 2^30.
struct FlowAddress {
  std::uint32_t client;
  std::uint16_t client_port;
};
FlowAddress flow_address(std::uint32_t i) {
  return {0x0a000000u | (i & 0xffffffu), static_cast<std::uint16_t>(1024 + (i >> 24))};
}
constexpr std::uint32_t kServer = 0xc0a80001u;

void write_flow(fw::PacketView& v, std::uint32_t i, bool reply, std::uint16_t server_port) {
  const FlowAddress f = flow_address(i);
  const fw::IpAddress client = fw::IpAddress::v4(f.client);
  const fw::IpAddress server = fw::IpAddress::v4(kServer);
  v.src_ip = reply ? server : client;
  v.dst_ip = reply ? client : server;
  v.src_port = reply ? server_port : f.client_port;
  v.dst_port = reply ? f.client_port : server_port;
}

// Parsed views of one frame kind; the frames stay alive with them.
struct Templates {
  std::vector<fw::test::Bytes> frames;
  std::vector<fw::PacketView> views;  // one per frame
};
bool parse_into(const fw::test::Bytes& frame, fw::PacketView& v) {
  return fw::parse_frame(frame, v) == fw::ParseError::kOk;
}

// TCP segments of flow i: a SYN (ISN 1000), the SYN/ACK (ISN 5000), the
// client's ACK and the server's ACK, every later packet a pure ACK.
enum TcpKind { kSyn = 0, kSynAck, kClientAck, kServerAck, kTcpKinds };
struct PacketSet {
  fw::test::Bytes storage[kTcpKinds + 1];
  fw::PacketView udp;
  fw::PacketView tcp[kTcpKinds];
};
std::unique_ptr<PacketSet> make_packets() {
  auto set = std::make_unique<PacketSet>();
  auto tcp_frame = [](bool from_client, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack) {
    fw::test::PacketBuilder b;
    if (from_client) {
      b.eth().ipv4("10.0.0.1", "192.168.0.1").tcp(1024, 80, flags, {.seq = seq, .ack = ack});
    } else {
      b.eth().ipv4("192.168.0.1", "10.0.0.1").tcp(80, 1024, flags, {.seq = seq, .ack = ack});
    }
    return b.build();
  };
  set->storage[kSyn] = tcp_frame(true, fw::kTcpSyn, 1000, 0);
  set->storage[kSynAck] = tcp_frame(false, fw::kTcpSyn | fw::kTcpAck, 5000, 1001);
  set->storage[kClientAck] = tcp_frame(true, fw::kTcpAck, 1001, 5001);
  set->storage[kServerAck] = tcp_frame(false, fw::kTcpAck, 5001, 1001);
  set->storage[kTcpKinds] = fw::test::PacketBuilder().eth().ipv4("10.0.0.1", "192.168.0.1").udp(1024, 53).payload(64).build();
  for (int k = 0; k < kTcpKinds; ++k)
    if (!parse_into(set->storage[k], set->tcp[k])) return nullptr;
  if (!parse_into(set->storage[kTcpKinds], set->udp)) return nullptr;
  return set;
}

std::unique_ptr<fw::ConnTable> make_table(std::size_t flows, fw::CtConcurrency mode = fw::CtConcurrency::kShared) {
  auto t = fw::ConnTable::create(
      {.capacity = static_cast<std::uint32_t>(std::bit_ceil(flows)), .concurrency = mode});
  if (!t.ok()) return nullptr;
  return std::move(t).value();
}

// Pushes one burst through lookup (+ create when `commit`); returns how many
// packets had `want` as outcome.
std::size_t run_burst(fw::ConnTable& table, std::span<fw::PacketView> views, std::span<fw::CtResult> results,
                      std::uint64_t now, bool commit, fw::CtOutcome want) {
  table.lookup(kZone, views, now, results);
  std::size_t hits = 0;
  for (std::size_t k = 0; k < views.size(); ++k) {
    if (commit && results[k].outcome == fw::CtOutcome::kNew)
      table.create(kZone, views[k], {.rule_id = 1, .generation = 1}, now, results[k]);
    hits += results[k].outcome == want;
  }
  return hits;
}

// Opens flows [first, first + count) and sees their replies (UDP) or
// completes their handshakes (TCP). Returns the flows established.
std::size_t prefill(fw::ConnTable& table, const PacketSet& set, bool tcp, std::uint32_t first, std::uint32_t count,
                    std::uint64_t& now) {
  std::vector<fw::PacketView> views(256);
  std::vector<fw::CtResult> results(256);
  std::size_t established = 0;
  const std::uint16_t port = tcp ? 80 : 53;
  for (std::uint32_t base = 0; base < count; base += 256) {
    const std::size_t n = std::min<std::uint32_t>(256, count - base);
    auto stage = [&](const fw::PacketView& tmpl, bool reply, bool commit) {
      for (std::size_t k = 0; k < n; ++k) {
        views[k] = tmpl;
        write_flow(views[k], first + base + static_cast<std::uint32_t>(k), reply, port);
      }
      return run_burst(table, std::span(views.data(), n), std::span(results.data(), n), now, commit,
                       fw::CtOutcome::kEstablished);
    };
    if (tcp) {
      stage(set.tcp[kSyn], false, true);
      stage(set.tcp[kSynAck], true, false);
      established += stage(set.tcp[kClientAck], false, false);
    } else {
      stage(set.udp, false, true);
      established += stage(set.udp, true, false);
    }
    now += kBurstNs;
  }
  return established;
}

// Random flow order, read sequentially by the timed loops.
std::vector<std::uint32_t> random_order(std::size_t flows, unsigned seed) {
  std::vector<std::uint32_t> order(std::size_t{1} << 20);
  std::mt19937 rng(seed);
  for (auto& o : order) o = static_cast<std::uint32_t>(rng() % flows);
  return order;
}

// Established packets: `packets` random packets of flows [0, flows) in
// bursts, alternating direction per packet. Returns the misses.
std::size_t established_pass(fw::ConnTable& table, const PacketSet& set, bool tcp,
                             const std::vector<std::uint32_t>& order, std::size_t& at, std::size_t packets,
                             std::size_t batch, std::uint64_t& now) {
  fw::PacketView views[256];
  fw::CtResult results[256];
  const fw::PacketView& out = tcp ? set.tcp[kClientAck] : set.udp;
  const fw::PacketView& back = tcp ? set.tcp[kServerAck] : set.udp;
  const std::uint16_t port = tcp ? 80 : 53;
  for (std::size_t k = 0; k < batch; ++k) views[k] = (k & 1) ? back : out;
  std::size_t misses = 0;
  const std::size_t mask = order.size() - 1;
  for (std::size_t done = 0; done < packets; done += batch) {
    for (std::size_t k = 0; k < batch; ++k) {
      write_flow(views[k], order[at], (k & 1) != 0, port);
      at = (at + 1) & mask;
    }
    table.lookup(kZone, std::span(views, batch), now, std::span(results, batch));
    for (std::size_t k = 0; k < batch; ++k) misses += results[k].outcome != fw::CtOutcome::kEstablished;
    now += kBurstNs;
  }
  return misses;
}

// ---- the measurements -------------------------------------------------------

struct Report {
  bool failed = false;
  double new_udp_large = 0, new_tcp_large = 0;  // per CPU second
  double est_small_ns = 0, est_large_ns = 0;    // UDP, CPU ns per packet
  double bytes_per_conn = 0;
  double marginal_bytes = 0;                    // entry + bucket
  double worker_ratio = 0;                      // batch 32, wall
  double chain_pps = 0;         // single-thread table: the one-core goal
  double chain_shared_pps = 0;  // shared table (shard locks)
};

void fail(Report& report, const std::string& what) {
  fmt::print(stderr, "fwbench conntrack: {}\n", what);
  report.failed = true;
}

void measure_new(const ConntrackOptions& o, const PacketSet& set, Progress& progress, Report& report) {
  for (const bool tcp : {false, true}) {
    for (const std::size_t flows : {o.small, o.large}) {
      progress.stage(fmt::format("new {} connections, {} flows", tcp ? "TCP" : "UDP", flows));
      auto table = make_table(flows);
      if (!table) return fail(report, "cannot create a table of " + std::to_string(flows));
      std::vector<fw::PacketView> views(o.batch, tcp ? set.tcp[kSyn] : set.udp);
      std::vector<fw::CtResult> results(o.batch);
      std::vector<Timing> passes;
      std::uint64_t now = 1'000'000'000;
      for (std::size_t pass = 0; pass < o.passes; ++pass) {
        table->clear();
        std::size_t created = 0;
        const Stopwatch watch;
        for (std::uint32_t base = 0; base < flows; base += static_cast<std::uint32_t>(o.batch)) {
          const std::size_t n = std::min<std::size_t>(o.batch, flows - base);
          for (std::size_t k = 0; k < n; ++k)
            write_flow(views[k], base + static_cast<std::uint32_t>(k), false, tcp ? 80 : 53);
          created += run_burst(*table, std::span(views.data(), n), std::span(results.data(), n), now, true,
                               fw::CtOutcome::kNew);
          now += kBurstNs;
        }
        passes.push_back(watch.elapsed());
        if (created != flows) return fail(report, fmt::format("new: {} of {} flows created", created, flows));
      }
      const Rate r = rate_of(passes, static_cast<double>(flows));
      const double ovs = kOvsNewNs / r.ns_cpu();
      fmt::print("new         {} {:>8} flows: {} M conn/s, {:.0f} ns/conn ({} M/s wall); {:.1f}x OVS\n",
                 tcp ? "tcp" : "udp", flows, millions(r.per_cpu_second), r.ns_cpu(), millions(r.per_wall_second),
                 ovs);
      if (flows == o.large) (tcp ? report.new_tcp_large : report.new_udp_large) = r.per_cpu_second;
    }
  }
}

void measure_established(const ConntrackOptions& o, const PacketSet& set, Progress& progress, Report& report) {
  for (const bool tcp : {false, true}) {
    for (const std::size_t flows : {o.small, o.large}) {
      progress.stage(fmt::format("established {}, {} flows", tcp ? "TCP" : "UDP", flows));
      auto table = make_table(flows);
      if (!table) return fail(report, "cannot create a table of " + std::to_string(flows));
      std::uint64_t now = 1'000'000'000;
      if (prefill(*table, set, tcp, 0, static_cast<std::uint32_t>(flows), now) != flows)
        return fail(report, "prefill: not every flow was established");
      const std::vector<std::uint32_t> order = random_order(flows, 1);
      std::size_t at = 0;
      std::vector<Timing> passes;
      // One untimed pass warms the caches and the TLB as a running switch has.
      if (established_pass(*table, set, tcp, order, at, o.packets / 4, o.batch, now) != 0)
        return fail(report, "an established flow was not found");
      for (std::size_t pass = 0; pass < o.passes; ++pass) {
        const Stopwatch watch;
        const std::size_t misses = established_pass(*table, set, tcp, order, at, o.packets, o.batch, now);
        passes.push_back(watch.elapsed());
        if (misses != 0) return fail(report, fmt::format("established: {} packets not found", misses));
      }
      const std::size_t per_pass = (o.packets + o.batch - 1) / o.batch * o.batch;
      const Rate r = rate_of(passes, static_cast<double>(per_pass));
      const double ovs_ns = flows <= 100000 ? kOvsEstSmallNs : kOvsEstLargeNs;
      fmt::print("established {} {:>8} flows: {} Mpps, {:.1f} ns/packet ({} Mpps wall); {:.1f}x OVS\n",
                 tcp ? "tcp" : "udp", flows, millions(r.per_cpu_second), r.ns_cpu(), millions(r.per_wall_second),
                 ovs_ns / r.ns_cpu());
      if (!tcp) (flows == o.large ? report.est_large_ns : report.est_small_ns) = r.ns_cpu();
    }
  }
}

// Bytes per connection: memory_bytes() / capacity (fixed parts included:
// shards, zone counters, the fragment table), and the cost of one more
// connection (entry + bucket), from two tables of the large size and half.
void measure_memory(const ConntrackOptions& o, Report& report) {
  std::string line = "memory      ";
  bool first = true;
  for (const std::size_t flows : {o.small, o.large}) {
    auto table = make_table(flows);
    if (!table) return fail(report, "cannot create a table of " + std::to_string(flows));
    const auto capacity = static_cast<double>(table->options().capacity);
    const double per = static_cast<double>(table->memory_bytes()) / capacity;
    line += fmt::format("{}{} connections: {:.1f} bytes/conn ({:.1f} MiB)", first ? "" : "; ",
                        table->options().capacity, per, static_cast<double>(table->memory_bytes()) / (1 << 20));
    if (flows == o.large) report.bytes_per_conn = per;
    first = false;
  }
  auto large = make_table(o.large), half = make_table(std::bit_ceil(o.large) / 2);
  if (!large || !half) return fail(report, "cannot create the tables of the memory measurement");
  report.marginal_bytes = static_cast<double>(large->memory_bytes() - half->memory_bytes()) /
                          static_cast<double>(large->options().capacity - half->options().capacity);
  line += fmt::format("; each more connection {:.1f} bytes", report.marginal_bytes);
  fmt::print("{}\n", line);
}

// SYN flood: half the table established (TCP, exchanging ACKs), then 10x
// the table's size in SYNs of new flows, each burst of SYNs followed by a
// burst of established packets.
void measure_flood(const ConntrackOptions& o, const PacketSet& set, Progress& progress, Report& report) {
  const std::size_t capacity = std::bit_ceil(o.flood_capacity);
  progress.stage(fmt::format("SYN flood, {} SYNs into a {}-entry table", capacity * 10, capacity));
  auto table = make_table(capacity);
  if (!table) return fail(report, "cannot create the flood table");
  const auto established = static_cast<std::uint32_t>(capacity / 2);
  std::uint64_t now = 1'000'000'000;
  if (prefill(*table, set, true, 0, established, now) != established)
    return fail(report, "flood prefill: not every flow was established");
  const std::vector<std::uint32_t> order = random_order(established, 2);
  std::vector<fw::PacketView> syns(o.batch, set.tcp[kSyn]);
  std::vector<fw::CtResult> results(256);
  std::size_t at = 0, est_packets = 0, est_misses = 0, syns_sent = 0, syns_admitted = 0;
  double syn_cpu = 0;
  const std::uint32_t flood_base = 1u << 29;  // flows no established one uses
  const std::size_t flood = capacity * 10;
  for (std::size_t sent = 0; sent < flood; sent += o.batch) {
    const std::size_t n = std::min(o.batch, flood - sent);
    for (std::size_t k = 0; k < n; ++k)
      write_flow(syns[k], flood_base + static_cast<std::uint32_t>(sent + k), false, 80);
    const double c0 = thread_cpu_seconds();
    syns_admitted += run_burst(*table, std::span(syns.data(), n), std::span(results.data(), n), now, true,
                               fw::CtOutcome::kNew);
    syn_cpu += thread_cpu_seconds() - c0;
    syns_sent += n;
    est_misses += established_pass(*table, set, true, order, at, o.batch, o.batch, now);
    est_packets += o.batch;
  }
  const fw::ConnTableStats st = table->stats();
  // A SYN "admitted" got a connection (lookup kNew, then create kept kNew).
  const double share = 100.0 * static_cast<double>(est_packets - est_misses) / static_cast<double>(est_packets);
  fmt::print(
      "synflood    {} SYNs into {} entries holding {} established: established packets passing {:.2f}% "
      "({} of {}); SYNs admitted {}, evicted {}, refused {}; {} M SYNs/s\n",
      syns_sent, capacity, established, share, est_packets - est_misses, est_packets, syns_admitted, st.evicted,
      st.refused_table_full, millions(syn_cpu > 0 ? static_cast<double>(syns_sent) / syn_cpu : 0));
  if (share < 99.9) fail(report, fmt::format("SYN flood: only {:.2f}% of established packets passed", share));
}

// 1 vs 2 threads on one shared table (OVS test-conntrack "benchmark
// N_THREADS N_PKTS BATCH"): each thread looks up o.packets random
// established UDP packets; wall time of the slowest thread.
void measure_workers(const ConntrackOptions& o, const PacketSet& set, Progress& progress, Report& report) {
  progress.stage(fmt::format("1 vs 2 workers, {} flows", o.large));
  auto table = make_table(o.large);
  if (!table) return fail(report, "cannot create the workers' table");
  std::uint64_t now0 = 1'000'000'000;
  if (prefill(*table, set, false, 0, static_cast<std::uint32_t>(o.large), now0) != o.large)
    return fail(report, "workers prefill: not every flow was established");
  const std::vector<std::uint32_t> orders[2] = {random_order(o.large, 3), random_order(o.large, 4)};
  std::string line = "workers    ";
  for (const std::size_t batch : {std::size_t{1}, std::size_t{32}, std::size_t{256}}) {
    double wall_rate[3] = {}, cpu_rate[3] = {};
    for (const unsigned threads : {1u, 2u}) {
      std::vector<double> walls, cpus;
      for (std::size_t pass = 0; pass < o.passes; ++pass) {
        std::atomic<std::size_t> misses{0};
        std::vector<double> cpu(threads), wall(threads);
        std::barrier start(static_cast<std::ptrdiff_t>(threads));
        auto work = [&](unsigned t) {
          std::size_t at = t * 4096;
          std::uint64_t now = now0 + t;  // each thread's clock moves forward
          start.arrive_and_wait();
          const Stopwatch watch;
          misses += established_pass(*table, set, false, orders[t], at, o.packets, batch, now);
          const Timing e = watch.elapsed();
          cpu[t] = e.cpu;
          wall[t] = e.wall;
        };
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
        work(0);
        for (auto& th : pool) th.join();
        if (misses != 0) return fail(report, "workers: an established flow was not found");
        walls.push_back(*std::max_element(wall.begin(), wall.end()));
        double cpu_sum = 0;
        for (double c : cpu) cpu_sum += c;
        cpus.push_back(cpu_sum / threads);
      }
      const std::size_t per_thread = (o.packets + batch - 1) / batch * batch;
      wall_rate[threads] = static_cast<double>(per_thread * threads) / median(walls);
      cpu_rate[threads] = static_cast<double>(per_thread * threads) / median(cpus);
    }
    const double ratio = wall_rate[2] / wall_rate[1];
    line += fmt::format(" batch {}: 1 worker {} Mpps, 2 workers {} Mpps ({:.2f}x wall, {:.2f}x CPU);", batch,
                        millions(wall_rate[1]), millions(wall_rate[2]), ratio, cpu_rate[2] / cpu_rate[1]);
    if (batch == 32) report.worker_ratio = ratio;
  }
  line.pop_back();
  fmt::print("{}\n", line);
}

// ---- the full chain -----------------------------------------------------------

// Rule j allows UDP from 10.0.0.0/8 to 172.16.x.y (the j-th address) port
// 53; flow i goes to server i % rules, so every rule admits connections and
// a first packet's classification meets all of them. Default drop.
std::uint32_t chain_server(std::size_t j) { return 0xac100000u + static_cast<std::uint32_t>(j); }
fw::Policy chain_policy(std::size_t rules) {
  fw::Policy policy;
  fw::Section section;
  section.id = "app";
  section.rules.reserve(rules);
  for (std::size_t j = 0; j < rules; ++j) {
    fw::Rule r;
    r.id = static_cast<std::uint32_t>(j + 1);
    r.sources.cidrs = {fw::Cidr{fw::IpAddress::v4(0x0a000000u), 8}};
    r.destinations.cidrs = {fw::Cidr{fw::IpAddress::v4(chain_server(j)), 32}};
    r.inline_services = {fw::ServiceEntry{.protocol = 17, .dst_ports = {fw::PortRange{53, 53}}}};
    r.action = fw::RuleAction::kAllow;
    section.rules.push_back(std::move(r));
  }
  policy.categories[static_cast<int>(fw::Category::kApplication)] = {std::move(section)};
  policy.default_action = fw::RuleAction::kDrop;
  return policy;
}

// Writes flow i into a UDP frame built by make_packets (Ethernet + IPv4 +
// UDP, no options): addresses at 26/30, ports at 34/36. The parser does not
// check IPv4 header checksums.
void write_frame(std::uint8_t* frame, std::uint32_t i, bool reply, std::size_t rules) {
  const FlowAddress f = flow_address(i);
  const std::uint32_t server = chain_server(i % rules);
  auto put32 = [](std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
  };
  auto put16 = [](std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
  };
  put32(frame + 26, reply ? server : f.client);
  put32(frame + 30, reply ? f.client : server);
  put16(frame + 34, reply ? 53 : f.client_port);
  put16(frame + 36, reply ? f.client_port : 53);
}

// The 12 bytes of a frame from make_packets that name its flow: IPv4
// source and destination (offsets 26 and 30), UDP source and destination
// port (34 and 36), for the original direction.
struct FlowHeader {
  std::uint8_t bytes[12];
};
FlowHeader flow_header(std::uint32_t i, std::size_t rules) {
  std::uint8_t frame[38] = {};
  write_frame(frame, i, false, rules);
  FlowHeader h;
  std::memcpy(h.bytes, frame + 26, sizeof h.bytes);
  return h;
}
// Writes `h` into the frame, its reply (addresses and ports swapped) if
// `reply`: the same bytes as write_frame.
inline void put_header(std::uint8_t* frame, const FlowHeader& h, bool reply) {
  std::uint64_t addresses;
  std::uint32_t ports;
  std::memcpy(&addresses, h.bytes, 8);
  std::memcpy(&ports, h.bytes + 8, 4);
  if (reply) {
    addresses = std::rotl(addresses, 32);
    ports = std::rotl(ports, 16);
  }
  std::memcpy(frame + 26, &addresses, 8);
  std::memcpy(frame + 34, &ports, 4);
}

// The full chain with the table in `concurrency` mode: kSingleThread is
// what an embedder with one worker configures (no shard lock per packet,
// fw/conntrack.h), kShared what several workers on one vNIC need.
void measure_chain(const ConntrackOptions& o, const PacketSet& set, Progress& progress, Report& report,
                   fw::CtConcurrency concurrency) {
  const bool single = concurrency == fw::CtConcurrency::kSingleThread;
  const std::size_t flows = o.chain_flows != 0 ? o.chain_flows : o.large;
  progress.stage(fmt::format("full chain: {}-rule policy, {} flows, {} table", o.rules, flows,
                             single ? "single-thread" : "shared"));
  auto engine = fw::Engine::create({.max_workers = 1});
  if (!engine.ok()) return fail(report, engine.status().to_string());
  if (fw::Status s = (*engine)->attach_vnic({.id = kVnic, .mac = fw::MacAddress::from_u64(0x020000000001)}); !s.ok())
    return fail(report, s.to_string());
  auto dfw = fw::Dfw::create(
      **engine, {.conntrack = {.capacity = static_cast<std::uint32_t>(std::bit_ceil(flows)), .concurrency = concurrency}});
  if (!dfw.ok()) return fail(report, dfw.status().to_string());
  const Stopwatch compile;
  if (fw::Status s = (*dfw)->apply(chain_policy(o.rules), {kVnic}); !s.ok()) return fail(report, s.to_string());
  const double compile_s = compile.elapsed().wall;
  auto worker = (*engine)->create_worker();
  if (!worker.ok()) return fail(report, worker.status().to_string());

  const fw::test::Bytes& udp = set.storage[kTcpKinds];
  const std::size_t batch = o.batch;
  std::vector<fw::test::Bytes> storage(batch, udp);
  std::vector<fw::Frame> frames(storage.begin(), storage.end());
  std::vector<fw::Verdict> verdicts(batch);
  std::uint64_t now = 1'000'000'000;
  auto burst = [&](std::size_t n, bool reply) {
    (*engine)->process(**worker, kVnic, reply ? fw::Direction::kToVm : fw::Direction::kFromVm,
                       std::span(frames.data(), n), std::span(verdicts.data(), n), {.now_ns = now});
    now += kBurstNs;
  };
  // Open every connection (first packets: lookup, classify, create), then
  // their replies.
  const Stopwatch open;
  for (std::uint32_t base = 0; base < flows; base += static_cast<std::uint32_t>(batch)) {
    const std::size_t n = std::min<std::size_t>(batch, flows - base);
    for (const bool reply : {false, true}) {
      for (std::size_t k = 0; k < n; ++k) write_frame(storage[k].data(), base + static_cast<std::uint32_t>(k), reply, o.rules);
      burst(n, reply);
      for (std::size_t k = 0; k < n; ++k)
        if (verdicts[k].action != fw::Action::kPass)
          return fail(report, fmt::format("full chain: flow {} was not admitted", base + k));
    }
  }
  const Timing opened = open.elapsed();
  if ((*dfw)->connections()->stats().connections != flows)
    return fail(report, "full chain: not every flow has a connection");

  // The measured packets' headers, in the order they are sent: each burst
  // copies 12 bytes into each of its frames (a reply swaps the halves), so
  // that the timed loop spends on making packets a few instructions, not a
  // division and a dozen byte stores (94 instructions a packet before).
  const std::vector<std::uint32_t> order = random_order(flows, 5);
  std::vector<FlowHeader> headers(order.size());
  for (std::size_t j = 0; j < order.size(); ++j) headers[j] = flow_header(order[j], o.rules);
  std::size_t at = 0;
  auto pass = [&](std::size_t packets) -> std::size_t {
    std::size_t wrong = 0;
    for (std::size_t done = 0; done < packets; done += batch) {
      const bool reply = ((done / batch) & 1) != 0;
      for (std::size_t k = 0; k < batch; ++k) {
        put_header(storage[k].data(), headers[at], reply);
        at = (at + 1) & (order.size() - 1);
      }
      burst(batch, reply);
      for (std::size_t k = 0; k < batch; ++k)
        wrong += verdicts[k].action != fw::Action::kPass || !(verdicts[k].ct_state & fw::kCtEstablished);
    }
    return wrong;
  };
  if (pass(o.packets / 4) != 0) return fail(report, "full chain: an established packet was not passed by state");
  std::vector<Timing> passes;
  for (std::size_t p = 0; p < o.passes; ++p) {
    const Stopwatch watch;
    const std::size_t wrong = pass(o.packets);
    passes.push_back(watch.elapsed());
    if (wrong != 0) return fail(report, "full chain: an established packet was not passed by state");
  }
  const std::size_t per_pass = (o.packets + batch - 1) / batch * batch;
  const Rate r = rate_of(passes, static_cast<double>(per_pass));
  fmt::print(
      "chain       Engine + stateful DFW, {} table, {} rules (compiled in {:.2f} s), {} flows opened at {} M flows/s "
      "(first packet + reply): established {} Mpps, {:.1f} ns/packet ({} Mpps wall)\n",
      single ? "single-thread" : "shared", o.rules, compile_s, flows,
      millions(opened.cpu > 0 ? static_cast<double>(flows) / opened.cpu : 0), millions(r.per_cpu_second), r.ns_cpu(),
      millions(r.per_wall_second));
  std::fflush(stdout);
  (single ? report.chain_pps : report.chain_shared_pps) = r.per_cpu_second;
}

}  // namespace

int run_conntrack(std::span<const std::string_view> args) {
  ConntrackOptions o;
  const std::vector<OptionSpec> specs = option_specs(o);
  CommandLine parsed;
  if (auto error = parse_command_line(args, specs, parsed)) return usage_error(kCommand, *error);
  if (parsed.help_requested) {
    print_help(specs);
    return kExitOk;
  }
  if (!parsed.positionals.empty()) return usage_error(kCommand, "takes no arguments");
  if (o.small > o.large) return usage_error(kCommand, "--small must not exceed --large");

  Progress progress(o.progress);
  const std::unique_ptr<PacketSet> set = make_packets();
  if (!set) return failure(kCommand, "cannot parse the template frames");
  fmt::print("conntrack: {} and {} flows, bursts of {}, {} passes (medians; rates per CPU second of the "
             "measuring thread, wall in parentheses)\n",
             o.small, o.large, o.batch, o.passes);
  std::fflush(stdout);
  Report report;
  if (o.run_new) measure_new(o, *set, progress, report);
  if (o.run_established) measure_established(o, *set, progress, report);
  if (o.run_memory) measure_memory(o, report);
  if (o.run_flood) measure_flood(o, *set, progress, report);
  if (o.run_workers) measure_workers(o, *set, progress, report);
  if (o.run_chain) {
    measure_chain(o, *set, progress, report, fw::CtConcurrency::kSingleThread);
    measure_chain(o, *set, progress, report, fw::CtConcurrency::kShared);
  }
  if (!(o.run_new && o.run_established && o.run_memory && o.run_workers && o.run_chain))
    return report.failed ? kExitFailure : kExitOk;  // the goals need every figure
  auto met = [](bool ok) { return ok ? "met" : "missed"; };
  const double new_rate = std::min(report.new_udp_large, report.new_tcp_large);
  fmt::print(
      "goals       >= 5 M new conn/s: {} ({} M); >= 15 Mpps established, full chain: {} ({} Mpps, {} with a shared table); "
      "<= 128 bytes/conn: {} ({:.1f} a connection, {:.1f} with fixed parts); 2 workers >= 1.8x: {} ({:.2f}x); 3x OVS: new {} ({:.1f}x), "
      "established small {} ({:.1f}x), large {} ({:.1f}x)\n",
      met(new_rate >= 5e6), millions(new_rate), met(report.chain_pps >= 15e6), millions(report.chain_pps),
      millions(report.chain_shared_pps),
      met(report.marginal_bytes <= 128.0), report.marginal_bytes, report.bytes_per_conn, met(report.worker_ratio >= 1.8),
      report.worker_ratio, met(new_rate > 0 && kOvsNewNs * new_rate / 1e9 >= 3),
      new_rate > 0 ? kOvsNewNs * new_rate / 1e9 : 0.0,
      met(report.est_small_ns > 0 && kOvsEstSmallNs / report.est_small_ns >= 3),
      report.est_small_ns > 0 ? kOvsEstSmallNs / report.est_small_ns : 0.0,
      met(report.est_large_ns > 0 && kOvsEstLargeNs / report.est_large_ns >= 3),
      report.est_large_ns > 0 ? kOvsEstLargeNs / report.est_large_ns : 0.0);
  return report.failed ? kExitFailure : kExitOk;
}

}  // namespace fwbench
