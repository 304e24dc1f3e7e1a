// fwbench classbench — every classifier on one ClassBench rule set and trace,
// in one run: build time, memory, lookup speed, and agreement with the
// brute-force reference. docs/classbench.md explains each number.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "bench/classbench/classbench.h"
#include "bench/classbench/classifier_iface.h"
#include "bench/classbench/libfw_classifier.h"
#include "bench/classbench/policy_classifier.h"
#include "bench/classbench/reference.h"
#include "bench/fwbench/cli.h"
#include "bench/fwbench/commands.h"
#if FW_HAVE_DPDK
#include "bench/classbench/rte_acl_peer.h"
#endif

namespace fwbench {
namespace {

using classbench::Classifier;
using classbench::Header;
using classbench::Rule;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kCommand = "classbench";

struct ClassbenchOptions {
  std::string rules_path;
  std::string trace_path;
  std::string matches_path;      // --matches OUT; empty: not written
  std::size_t passes = 5;        // timed passes per classifier (median reported)
  std::size_t burst = 64;        // headers per classify() call
  std::size_t limit = 0;         // use the first N trace lines; 0: all
  // Timed passes round-robin over the classifiers (pass 1 of each, then
  // pass 2 of each, ...) instead of all passes of one classifier, then the
  // next: on a shared, noisy machine a burst of load then hits every
  // classifier's passes alike instead of one classifier's median.
  bool interleave = false;
  bool no_peer = false;          // skip rte_acl
  // Which libfw path is measured: the policy compiler's decide_burst (what
  // the DFW slot runs), the classifier directly, or both in one run.
  bool policy_path = true;
  bool classifier_path = false;
  // The reference checks the whole trace when the set has at most this many
  // rules (or with --reference-full), else an evenly spaced sample. It costs
  // about 0.35 ns per rule per header here: ~4 s for 100k rules x 100k headers.
  std::size_t reference_full_max_rules = 200000;
  bool reference_full = false;
  std::size_t reference_sample = 20000;
  // rte_acl / EAL.
  std::size_t eal_memory_mb = 4096;
  std::vector<std::string> eal_args;
  std::string rte_acl_alg = "default";
  std::size_t rte_acl_max_size = 0;
  bool rte_acl_log = false;
};

// ---- the classifiers compared ------------------------------------------------

enum class Role {
  kReference,  // the oracle: checks the others
  kCandidate,  // libfw (the first candidate is the primary)
  kPeer,       // another implementation to compare with (rte_acl)
};

struct ClassifierEntry {
  std::string_view name;
  Role role;
  std::unique_ptr<Classifier> (*make)(const ClassbenchOptions& options);
};

// The primary classifier (the one --matches writes) is the first candidate:
// the policy path when it is measured, else the direct classifier.
std::vector<ClassifierEntry> classifier_table(const ClassbenchOptions& options) {
  std::vector<ClassifierEntry> table = {
      {"reference", Role::kReference,
       [](const ClassbenchOptions&) -> std::unique_ptr<Classifier> {
         return std::make_unique<classbench::ReferenceClassifier>();
       }},
  };
  if (options.policy_path) {
    table.push_back({"policy", Role::kCandidate,
                     [](const ClassbenchOptions&) -> std::unique_ptr<Classifier> {
                       return classbench::make_policy_classifier();
                     }});
  }
  if (options.classifier_path) {
    table.push_back({"classifier", Role::kCandidate,
                     [](const ClassbenchOptions&) -> std::unique_ptr<Classifier> {
                       return classbench::make_libfw_classifier();
                     }});
  }
#if FW_HAVE_DPDK
  if (!options.no_peer) {
    table.push_back({"rte_acl", Role::kPeer,
                     [](const ClassbenchOptions& o) -> std::unique_ptr<Classifier> {
                       return std::make_unique<classbench::RteAclClassifier>(
                           classbench::RteAclOptions{.alg = o.rte_acl_alg,
                                                     .max_size = o.rte_acl_max_size,
                                                     .log_build = o.rte_acl_log});
                     }});
  }
#endif
  return table;
}

// ---- measurement -------------------------------------------------------------

struct Measurement {
  std::string name;
  Role role = Role::kPeer;
  double build_ms = 0;
  std::size_t memory_bytes = 0;
  std::string details;
  std::size_t headers_per_pass = 0;
  std::size_t timed_passes = 0;
  double ns_median = 0, ns_min = 0, ns_max = 0;  // per lookup
  std::vector<double> per_pass;                  // ns per lookup of each timed pass
  std::vector<std::int32_t> matches;             // one per header classified
  std::size_t checked = 0, mismatches = 0;       // against the reference
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Prints "<what>: N% (i/n)" to stderr every few seconds of a long phase.
class Progress {
 public:
  Progress(std::string what, std::size_t total) : what_(std::move(what)), total_(total) {}
  void update(std::size_t done) {
    if (seconds_since(last_) < kInterval) return;
    last_ = Clock::now();
    fmt::print(stderr, "  {}: {:.0f}% ({}/{}, {:.0f} s)\n", what_, 100.0 * done / total_, done,
               total_, seconds_since(start_));
  }

 private:
  static constexpr double kInterval = 5.0;
  std::string what_;
  std::size_t total_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

// Prints "<what>: still <doing> (N s)" to stderr every 10 s until destroyed:
// a 100k-rule rte_acl build is silent for up to a minute.
class Heartbeat {
 public:
  Heartbeat(std::string what, std::string doing)
      : thread_([what = std::move(what), doing = std::move(doing)](std::stop_token stop) {
          Clock::time_point start = Clock::now();
          std::mutex mutex;
          std::condition_variable_any wake;
          std::unique_lock lock(mutex);
          while (!wake.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; }) &&
                 !stop.stop_requested()) {
            fmt::print(stderr, "  {}: still {} ({:.0f} s)\n", what, doing, seconds_since(start));
          }
        }) {}

 private:
  std::jthread thread_;  // joined (after a stop request) on destruction
};

// One pass over `headers` in bursts; returns nanoseconds per header.
double classify_pass(Classifier& classifier, std::span<const Header> headers,
                     std::span<std::int32_t> out, std::size_t burst, Progress* progress) {
  Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < headers.size(); i += burst) {
    std::size_t n = std::min(burst, headers.size() - i);
    classifier.classify(headers.subspan(i, n), out.subspan(i, n));
    // Only the slow reference reports progress; 1024 bursts between clock reads.
    if (progress != nullptr && (i / burst) % 1024 == 0) progress->update(i);
  }
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  return headers.empty() ? 0 : ns / static_cast<double>(headers.size());
}

// Median, min and max of the timed passes.
void summarize(Measurement& m) {
  if (m.per_pass.empty()) return;
  std::vector<double> sorted = m.per_pass;
  std::sort(sorted.begin(), sorted.end());
  m.timed_passes = sorted.size();
  m.ns_min = sorted.front();
  m.ns_max = sorted.back();
  m.ns_median = sorted[sorted.size() / 2];
}

// Builds `classifier` and classifies `headers`: one untimed pass that keeps
// the answers (it also warms caches), then `passes` timed passes (0: the
// caller times them, interleaved with other classifiers').
fw::StatusOr<Measurement> measure(Classifier& classifier, Role role, std::span<const Rule> rules,
                                  std::span<const Header> headers, std::size_t passes,
                                  std::size_t burst) {
  Measurement m;
  m.name = classifier.name();
  m.role = role;
  fmt::print(stderr, "  {}: building {} rules\n", m.name, rules.size());
  {
    Heartbeat heartbeat(m.name, "building");
    Clock::time_point start = Clock::now();
    fw::Status built = classifier.build(rules);
    m.build_ms = seconds_since(start) * 1e3;
    if (!built.ok()) return built;
  }
  m.memory_bytes = classifier.memory_bytes();
  m.details = classifier.details();
  fmt::print(stderr, "  {}: built in {:.1f} ms; classifying {} headers\n", m.name, m.build_ms,
             headers.size());

  m.matches.assign(headers.size(), classbench::kNoMatch);
  m.headers_per_pass = headers.size();
  if (role == Role::kReference) {
    // O(rules) per header: its one pass is its measurement.
    Progress progress(m.name, headers.size());
    m.ns_median = m.ns_min = m.ns_max = classify_pass(classifier, headers, m.matches, burst,
                                                      &progress);
    m.timed_passes = 1;
    return m;
  }
  classify_pass(classifier, headers, m.matches, burst, nullptr);
  std::vector<std::int32_t> scratch(headers.size());
  for (std::size_t p = 0; p < passes; ++p) {
    m.per_pass.push_back(classify_pass(classifier, headers, scratch, burst, nullptr));
  }
  summarize(m);
  return m;
}

// The trace lines the reference classifies: all, or `sample` evenly spaced.
std::vector<std::size_t> check_indices(std::size_t trace_size, std::size_t sample, bool full) {
  std::vector<std::size_t> indices;
  if (full || sample >= trace_size) {
    indices.resize(trace_size);
    for (std::size_t i = 0; i < trace_size; ++i) indices[i] = i;
    return indices;
  }
  indices.reserve(sample);
  for (std::size_t k = 0; k < sample; ++k) indices.push_back(k * trace_size / sample);
  return indices;
}

fw::Status write_matches(const std::string& path, std::span<const std::int32_t> matches) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fw::io_error(path + ": cannot open for writing");
  std::string text;
  text.reserve(matches.size() * 7);
  for (std::int32_t m : matches) {
    text += std::to_string(m);
    text += '\n';
  }
  out << text;
  out.close();
  if (!out) return fw::io_error(path + ": write error");
  return fw::Status::Ok();
}

std::size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---- the command ----------------------------------------------------------------

std::vector<OptionSpec> option_specs(ClassbenchOptions& o) {
  return {
      {"matches", "OUT", "write the primary classifier's first match per trace line (-1: none)",
       [&](std::string_view v) -> OptionError { o.matches_path = v; return std::nullopt; }},
      {"path", "NAME",
       "libfw path measured: policy (the compiled policy's burst decide path, as the DFW slot), "
       "classifier (libfw/classify directly) or both (default: policy)",
       [&](std::string_view v) -> OptionError {
         if (v != "policy" && v != "classifier" && v != "both")
           return fmt::format("--path: '{}' is not policy, classifier or both", v);
         o.policy_path = v != "classifier";
         o.classifier_path = v != "policy";
         return std::nullopt;
       }},
      {"passes", "N", "timed passes per classifier; the median is reported (default 5)",
       [&](std::string_view v) { return parse_count(v, 1, 1000, o.passes); }},
      {"burst", "N", "headers per classify call (default 64)",
       [&](std::string_view v) { return parse_count(v, 1, 4096, o.burst); }},
      {"limit", "N", "use only the first N trace lines",
       [&](std::string_view v) { return parse_count(v, 1, SIZE_MAX, o.limit); }},
      {"interleave", "", "time the passes round-robin over the classifiers (steadier ratios on a busy machine)",
       [&](std::string_view) -> OptionError { o.interleave = true; return std::nullopt; }},
      {"no-peer", "", "skip rte_acl",
       [&](std::string_view) -> OptionError { o.no_peer = true; return std::nullopt; }},
      {"reference-full", "", "check the whole trace against the reference, whatever the size",
       [&](std::string_view) -> OptionError { o.reference_full = true; return std::nullopt; }},
      {"reference-full-max", "N",
       "rule count up to which the whole trace is checked (default 200000)",
       [&](std::string_view v) { return parse_count(v, 0, SIZE_MAX, o.reference_full_max_rules); }},
      {"reference-sample", "N", "trace lines checked above that (evenly spaced; default 20000)",
       [&](std::string_view v) { return parse_count(v, 1, SIZE_MAX, o.reference_sample); }},
      {"eal-memory", "MB", "EAL memory for rte_acl, MiB (default 4096)",
       [&](std::string_view v) { return parse_count(v, 64, 1 << 20, o.eal_memory_mb); }},
      {"eal-arg", "ARG", "extra EAL argument, repeatable (e.g. --force-max-simd-bitwidth=512)",
       [&](std::string_view v) -> OptionError { o.eal_args.emplace_back(v); return std::nullopt; }},
      {"rte-acl-alg", "NAME",
       "rte_acl method: default, scalar, sse, avx2, avx512x16, avx512x32 (default: default)",
       [&](std::string_view v) -> OptionError { o.rte_acl_alg = v; return std::nullopt; }},
      {"rte-acl-max-size", "BYTES", "rte_acl_config.max_size; 0 = no bound (default 0)",
       [&](std::string_view v) { return parse_count(v, 0, SIZE_MAX, o.rte_acl_max_size); }},
      {"rte-acl-log", "", "copy rte_acl's build log (tries, nodes, memory) to stderr",
       [&](std::string_view) -> OptionError { o.rte_acl_log = true; return std::nullopt; }},
  };
}

void print_help(std::span<const OptionSpec> specs) {
  fmt::print(
      "Usage: fwbench classbench RULES TRACE [options]\n"
      "\n"
      "Builds every classifier from the ClassBench rule file RULES, classifies every\n"
      "header of TRACE in bursts, and reports per classifier: build time, memory,\n"
      "ns/lookup and Mpps (median of the timed passes), and whether every answer agrees\n"
      "with the brute-force reference (first match in file order). Progress goes to\n"
      "stderr, the report to stdout. Classifiers: reference; policy (the rules as a\n"
      "libfw policy, validated, compiled and decided in bursts) and/or classifier\n"
      "(libfw/classify directly), see --path; rte_acl ({}).\n"
      "\n"
      "Options:\n",
      FW_HAVE_DPDK ? "DPDK found at build time" : "not built: no DPDK at build time");
  print_options(stdout, specs);
  fmt::print("\nExit codes: 0 all classifiers agree, 1 failure or disagreement, 2 usage error.\n");
}

void print_mismatches(const Measurement& m, std::span<const std::size_t> indices,
                      std::span<const std::int32_t> expected, std::span<const Header> headers,
                      std::span<const Rule> rules) {
  constexpr std::size_t kShown = 5;
  std::size_t shown = 0;
  auto describe = [&](std::int32_t r) {
    return r < 0 ? std::string("no match")
                 : fmt::format("rule {} {}", r, classbench::format_rule(rules[r]));
  };
  for (std::size_t k = 0; k < indices.size() && shown < kShown; ++k) {
    std::int32_t got = m.matches[indices[k]];
    if (got == expected[k]) continue;
    ++shown;
    fmt::print("  {} trace line {}: {}\n    expected {}\n    got      {}\n", m.name,
               indices[k] + 1, classbench::format_header(headers[indices[k]]),
               describe(expected[k]), describe(got));
  }
}

int run(const ClassbenchOptions& options) {
  Clock::time_point start = Clock::now();
  fw::StatusOr<std::vector<Rule>> rules = classbench::load_rules(options.rules_path);
  if (!rules.ok()) return failure(kCommand, rules.status().to_string());
  double rules_ms = seconds_since(start) * 1e3;
  start = Clock::now();
  fw::StatusOr<classbench::Trace> trace = classbench::load_trace(options.trace_path);
  if (!trace.ok()) return failure(kCommand, trace.status().to_string());
  double trace_ms = seconds_since(start) * 1e3;
  std::span<const Header> headers = trace->headers;
  if (options.limit != 0 && options.limit < headers.size()) {
    headers = headers.first(options.limit);
  }
  if (headers.empty()) return failure(kCommand, options.trace_path + ": no trace lines");

  std::vector<ClassifierEntry> table = classifier_table(options);
  const bool have_candidate =
      std::any_of(table.begin(), table.end(), [](auto& e) { return e.role == Role::kCandidate; });
  // --matches comes from the reference while there is no candidate, and then
  // it needs every line.
  const bool full_check = options.reference_full ||
                          rules->size() <= options.reference_full_max_rules ||
                          (!options.matches_path.empty() && !have_candidate);
  std::vector<std::size_t> indices =
      check_indices(headers.size(), options.reference_sample, full_check);
  std::vector<Header> check_headers;
  check_headers.reserve(indices.size());
  for (std::size_t i : indices) check_headers.push_back(headers[i]);

#if FW_HAVE_DPDK
  if (!options.no_peer) {
    classbench::EalOptions eal{.memory_mb = options.eal_memory_mb, .extra_args = options.eal_args};
    if (fw::Status s = classbench::init_eal(eal); !s.ok()) {
      return failure(kCommand, s.to_string() + " (run with --no-peer to skip rte_acl)");
    }
  }
#endif

  fmt::print("fwbench classbench\n");
  fmt::print("  rules  {}: {} rules (parsed in {:.0f} ms)\n", options.rules_path, rules->size(),
             rules_ms);
  fmt::print("  trace  {}: {} headers{} (parsed in {:.0f} ms)\n", options.trace_path,
             headers.size(),
             headers.size() < trace->size() ? fmt::format(" of {}", trace->size()) : "", trace_ms);
  fmt::print("  timing bursts of {}, median of {} passes over the trace after one warm-up pass{};\n"
             "         reference: one pass over the headers it checks\n",
             options.burst, options.passes,
             options.interleave ? ", passes interleaved across classifiers" : "");
  fmt::print("  check  {} against the reference\n",
             indices.size() == headers.size()
                 ? fmt::format("every header ({})", headers.size())
                 : fmt::format("{} evenly spaced headers of {}", indices.size(), headers.size()));
  std::fflush(stdout);

  std::vector<Measurement> results;
  const Measurement* reference = nullptr;
  bool failed = false;
  // With --interleave the built classifiers stay alive for the timed
  // passes, index for index with `results`.
  std::vector<std::unique_ptr<Classifier>> live;
  for (const ClassifierEntry& entry : table) {
    std::unique_ptr<Classifier> classifier = entry.make(options);
    std::span<const Header> input = entry.role == Role::kReference
                                        ? std::span<const Header>(check_headers)
                                        : headers;
    fw::StatusOr<Measurement> m = measure(*classifier, entry.role, *rules, input,
                                          options.interleave ? 0 : options.passes, options.burst);
    if (!m.ok()) {
      // Statuses name their classifier ("rte_acl_build of ... failed").
      fmt::print(stderr, "fwbench classbench: {}\n", m.status().to_string());
      failed = true;
      continue;
    }
    results.push_back(std::move(*m));
    live.push_back(options.interleave ? std::move(classifier) : nullptr);
  }
  if (options.interleave) {
    fmt::print(stderr, "  timing {} passes of each classifier, interleaved\n", options.passes);
    std::vector<std::int32_t> scratch(headers.size());
    for (std::size_t p = 0; p < options.passes; ++p) {
      for (std::size_t k = 0; k < results.size(); ++k) {
        if (results[k].role == Role::kReference) continue;
        results[k].per_pass.push_back(classify_pass(*live[k], headers, scratch, options.burst, nullptr));
      }
    }
    for (Measurement& m : results) {
      if (m.role != Role::kReference) summarize(m);
    }
    live.clear();
  }
  for (const Measurement& m : results) {
    if (m.role == Role::kReference) reference = &m;
  }
  if (reference == nullptr) return failure(kCommand, "the reference classifier failed to build");

  // Agreement, and what the reference says about the trace itself.
  for (Measurement& m : results) {
    if (m.role == Role::kReference) continue;
    m.checked = indices.size();
    for (std::size_t k = 0; k < indices.size(); ++k) {
      if (m.matches[indices[k]] != reference->matches[k]) ++m.mismatches;
    }
    if (m.mismatches != 0) failed = true;
  }
  std::size_t no_match = 0, generating_rule_first = 0;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    std::int32_t r = reference->matches[k];
    if (r < 0) ++no_match;
    if (r >= 0 && static_cast<std::uint32_t>(r) == trace->generated_from[indices[k]]) {
      ++generating_rule_first;
    }
  }
  fmt::print("  oracle first match is the generating rule for {:.1f}% of checked headers; "
             "{} match no rule\n\n",
             100.0 * generating_rule_first / indices.size(), no_match);

  const Measurement* peer = nullptr;
  for (const Measurement& m : results) {
    if (m.name == "rte_acl") peer = &m;
  }
  fmt::print("{:<10} {:>7} {:>10} {:>10} {:>10} {:>8} {:>17}  {}\n", "classifier", "rules",
             "build_ms", "memory_MiB", "ns/lookup", "Mpps", "min..max ns", "agrees with reference");
  for (const Measurement& m : results) {
    std::string agrees =
        m.role == Role::kReference
            ? fmt::format("(oracle; {} headers)", m.headers_per_pass)
            : fmt::format("{} ({}/{})", m.mismatches == 0 ? "yes" : "NO", m.checked - m.mismatches,
                          m.checked);
    std::string spread = m.timed_passes > 1 ? fmt::format("{:.1f}..{:.1f}", m.ns_min, m.ns_max)
                                            : std::string("1 pass");
    fmt::print("{:<10} {:>7} {:>10.1f} {:>10.2f} {:>10.1f} {:>8.2f} {:>17}  {}\n", m.name,
               rules->size(), m.build_ms, mib(m.memory_bytes), m.ns_median,
               m.ns_median > 0 ? 1e3 / m.ns_median : 0.0, spread, agrees);
  }
  if (peer != nullptr && results.size() > 1) {
    fmt::print("\n{:<10} {:>10} {:>10} {:>10}   (speed: rte_acl ns / ns, >1 is faster; "
               "memory, build: x / rte_acl, <1 is smaller)\n",
               "vs rte_acl", "speed", "memory", "build");
    for (const Measurement& m : results) {
      if (&m == peer) continue;
      auto ratio = [](double a, double b) { return b > 0 ? fmt::format("{:.3g}x", a / b) : "-"; };
      fmt::print("{:<10} {:>10} {:>10} {:>10}\n", m.name, ratio(peer->ns_median, m.ns_median),
                 ratio(static_cast<double>(m.memory_bytes), static_cast<double>(peer->memory_bytes)),
                 ratio(m.build_ms, peer->build_ms));
    }
  }
  fmt::print("\n");
  for (const Measurement& m : results) {
    if (!m.details.empty()) fmt::print("{}: {}\n", m.name, m.details);
  }
  fmt::print("peak RSS of this process: {:.0f} MiB\n", mib(peak_rss_bytes()));
  for (const Measurement& m : results) {
    if (m.mismatches != 0) {
      fmt::print("\n{} disagrees with the reference on {} of {} headers; first ones:\n", m.name,
                 m.mismatches, m.checked);
      print_mismatches(m, indices, reference->matches, headers, *rules);
    }
  }

  if (!options.matches_path.empty()) {
    const Measurement* primary = reference;
    for (const Measurement& m : results) {
      if (m.role == Role::kCandidate) {
        primary = &m;
        break;
      }
    }
    if (fw::Status s = write_matches(options.matches_path, primary->matches); !s.ok()) {
      return failure(kCommand, s.to_string());
    }
    fmt::print("matches of {} written to {} ({} lines)\n", primary->name, options.matches_path,
               primary->matches.size());
  }
  return failed ? kExitFailure : kExitOk;
}

}  // namespace

int run_classbench(std::span<const std::string_view> args) {
  ClassbenchOptions options;
  std::vector<OptionSpec> specs = option_specs(options);
  CommandLine parsed;
  if (std::optional<std::string> error = parse_command_line(args, specs, parsed)) {
    return usage_error(kCommand, *error);
  }
  if (parsed.help_requested) {
    print_help(specs);
    return kExitOk;
  }
  if (parsed.positionals.size() != 2) {
    return usage_error(kCommand, fmt::format("expected RULES and TRACE files, got {} argument{}",
                                             parsed.positionals.size(),
                                             parsed.positionals.size() == 1 ? "" : "s"));
  }
  options.rules_path = parsed.positionals[0];
  options.trace_path = parsed.positionals[1];
#if !FW_HAVE_DPDK
  if (options.rte_acl_alg != "default" || !options.eal_args.empty()) {
    return usage_error(kCommand, "rte_acl options given, but fwbench was built without DPDK");
  }
#else
  {
    auto names = classbench::rte_acl_algorithm_names();
    if (std::find(names.begin(), names.end(), options.rte_acl_alg) == names.end()) {
      return usage_error(kCommand, fmt::format("--rte-acl-alg: unknown method '{}'",
                                               options.rte_acl_alg));
    }
  }
#endif
  return run(options);
}

}  // namespace fwbench
