#include "bench/classbench/rte_acl_peer.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>

namespace classbench {
namespace {

// ---- EAL --------------------------------------------------------------------

struct EalState {
  std::mutex mutex;
  std::optional<fw::Status> result;  // set by the first init_eal()
  // rte_eal_init may keep pointers into argv (and permutes it): the strings
  // live as long as the process.
  std::vector<std::string> args;
  std::vector<char*> argv;
};

EalState& eal_state() {
  static EalState* state = new EalState;  // never destroyed: EAL outlives static destructors
  return *state;
}

// The first CPU this thread may run on: "-l 0" would fail under
// `taskset -c 1 fwbench ...`.
int first_allowed_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) return cpu;
    }
  }
  return 0;
}

// ---- rte_acl rule and input layout (DPDK app/test-acl's IPv4 5-tuple) --------

enum Field : std::uint8_t { kProtoField, kSrcField, kDstField, kSportField, kDportField, kNumFields };

// What rte_acl reads: one record per header, network byte order. The first
// field must be one byte (rte_acl's rule); the others are read as 4-byte input
// groups, the two ports sharing one.
struct AclInput {
  std::uint8_t proto;
  std::uint8_t pad[3];
  std::uint32_t src;
  std::uint32_t dst;
  std::uint16_t sport;
  std::uint16_t dport;
};
static_assert(sizeof(AclInput) == 16);
static_assert(offsetof(AclInput, src) == 4 && offsetof(AclInput, dst) == 8 &&
              offsetof(AclInput, sport) == 12 && offsetof(AclInput, dport) == 14);

RTE_ACL_RULE_DEF(AclRule, kNumFields);

constexpr std::array<rte_acl_field_def, kNumFields> kFieldDefs = {{
    {.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = sizeof(std::uint8_t), .field_index = kProtoField,
     .input_index = 0, .offset = offsetof(AclInput, proto)},
    {.type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(std::uint32_t), .field_index = kSrcField,
     .input_index = 1, .offset = offsetof(AclInput, src)},
    {.type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(std::uint32_t), .field_index = kDstField,
     .input_index = 2, .offset = offsetof(AclInput, dst)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(std::uint16_t), .field_index = kSportField,
     .input_index = 3, .offset = offsetof(AclInput, sport)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(std::uint16_t), .field_index = kDportField,
     .input_index = 3, .offset = offsetof(AclInput, dport)},
}};

struct AlgName {
  std::string_view name;
  enum rte_acl_classify_alg alg;  // "enum": a function has the same name
};
constexpr std::array<AlgName, 6> kAlgNames = {{
    {"default", RTE_ACL_CLASSIFY_DEFAULT},
    {"scalar", RTE_ACL_CLASSIFY_SCALAR},
    {"sse", RTE_ACL_CLASSIFY_SSE},
    {"avx2", RTE_ACL_CLASSIFY_AVX2},
    {"avx512x16", RTE_ACL_CLASSIFY_AVX512X16},
    {"avx512x32", RTE_ACL_CLASSIFY_AVX512X32},
}};

std::string alg_name(int alg) {
  for (const AlgName& a : kAlgNames) {
    if (a.alg == alg && a.alg != RTE_ACL_CLASSIFY_DEFAULT) return std::string(a.name);
  }
  return "alg#" + std::to_string(alg);
}

// Bytes handed out by the EAL heaps of every socket.
std::size_t eal_heap_allocated() {
  std::size_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); ++i) {
    rte_malloc_socket_stats stats{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0) {
      total += stats.heap_allocsz_bytes;
    }
  }
  return total;
}

// The method a context classifies with. rte_acl has no getter; rte_acl_dump
// prints "alg=<n>" to stdout, so stdout is pointed at a temporary file for
// the call.
std::optional<int> context_alg(const rte_acl_ctx* ctx) {
  std::fflush(stdout);
  std::FILE* capture = std::tmpfile();
  if (capture == nullptr) return std::nullopt;
  int saved = dup(STDOUT_FILENO);
  if (saved < 0 || dup2(fileno(capture), STDOUT_FILENO) < 0) {
    if (saved >= 0) close(saved);
    std::fclose(capture);
    return std::nullopt;
  }
  rte_acl_dump(ctx);
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);

  std::optional<int> alg;
  std::rewind(capture);
  char line[256];
  while (std::fgets(line, sizeof line, capture) != nullptr) {
    int value = 0;
    if (std::sscanf(line, " alg=%d", &value) == 1) alg = value;
  }
  std::fclose(capture);
  return alg;
}

// Collects rte_acl's debug log of one build (in memory), then restores the
// log stream and level.
class AclBuildLog {
 public:
  AclBuildLog() {
    stream_ = open_memstream(&buffer_, &size_);
    if (stream_ == nullptr) return;
    previous_stream_ = rte_log_get_stream();
    previous_level_ = rte_log_get_level(RTE_LOGTYPE_ACL);
    rte_openlog_stream(stream_);
    rte_log_set_level(RTE_LOGTYPE_ACL, RTE_LOG_DEBUG);
  }
  ~AclBuildLog() {
    finish();
    std::free(buffer_);
  }
  // Stops collecting; returns the text.
  std::string_view finish() {
    if (stream_ != nullptr) {
      rte_openlog_stream(previous_stream_);
      if (previous_level_ >= 0) rte_log_set_level(RTE_LOGTYPE_ACL, previous_level_);
      std::fclose(stream_);  // flushes into buffer_/size_
      stream_ = nullptr;
    }
    return buffer_ == nullptr ? std::string_view() : std::string_view(buffer_, size_);
  }

 private:
  std::FILE* stream_ = nullptr;
  std::FILE* previous_stream_ = nullptr;
  int previous_level_ = -1;
  char* buffer_ = nullptr;
  std::size_t size_ = 0;
};

// The last "<key> <number>" in the log, e.g. key "total: " in
// "total: 33222576 bytes".
std::size_t log_number(std::string_view log, std::string_view key) {
  std::size_t at = log.rfind(key);
  if (at == std::string_view::npos) return 0;
  return std::strtoull(std::string(log.substr(at + key.size(), 24)).c_str(), nullptr, 10);
}

unsigned count_occurrences(std::string_view text, std::string_view what) {
  unsigned n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

std::atomic<unsigned> next_context_id{0};

constexpr std::size_t kChunk = 64;  // headers per rte_acl_classify call

}  // namespace

// ---- EAL ----------------------------------------------------------------------

std::vector<std::string> eal_arguments(const EalOptions& options) {
  std::vector<std::string> args = {
      "fwbench",
      "--no-huge",       // works without root-configured hugepages
      "--no-pci",        // no devices: only rte_malloc and rte_acl are used
      "--no-shconf",     // no /var/run/dpdk files: parallel test processes do not collide
      "--no-telemetry",  // no socket, no thread
      "-l", std::to_string(first_allowed_cpu()),
      "-m", std::to_string(options.memory_mb),
      "--log-level=lib.eal:error",  // EAL's start-up notices are noise in a report
  };
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  return args;
}

fw::Status init_eal(const EalOptions& options) {
  EalState& state = eal_state();
  std::lock_guard lock(state.mutex);
  if (state.result) return *state.result;

  state.args = eal_arguments(options);
  for (std::string& arg : state.args) state.argv.push_back(arg.data());
  state.argv.push_back(nullptr);

  cpu_set_t previous;
  CPU_ZERO(&previous);
  bool have_previous = sched_getaffinity(0, sizeof previous, &previous) == 0;

  int rc = rte_eal_init(static_cast<int>(state.args.size()), state.argv.data());
  if (rc < 0) {
    std::string joined;
    for (const std::string& arg : state.args) joined += (joined.empty() ? "" : " ") + arg;
    state.result = fw::failed_precondition("rte_eal_init(" + joined +
                                           ") failed: " + rte_strerror(rte_errno));
  } else {
    // EAL pinned this thread to one CPU; the harness and the other
    // classifiers run on it too, so give it back the CPUs it had.
    if (have_previous) pthread_setaffinity_np(pthread_self(), sizeof previous, &previous);
    state.result = fw::Status::Ok();
  }
  return *state.result;
}

std::vector<std::string_view> rte_acl_algorithm_names() {
  std::vector<std::string_view> names;
  for (const AlgName& a : kAlgNames) names.push_back(a.name);
  return names;
}

// ---- the classifier -------------------------------------------------------------

struct RteAclClassifier::Impl {
  RteAclOptions options;
  rte_acl_ctx* ctx = nullptr;
  std::size_t num_rules = 0;
  RteAclBuildInfo info;

  // Per-burst scratch: converted headers, the pointers rte_acl wants, results.
  alignas(64) std::array<AclInput, kChunk> input{};
  std::array<const std::uint8_t*, kChunk> input_ptrs{};
  alignas(64) std::array<std::uint32_t, kChunk> results{};

  Impl() {
    for (std::size_t i = 0; i < kChunk; ++i) {
      input_ptrs[i] = reinterpret_cast<const std::uint8_t*>(&input[i]);
    }
  }
  ~Impl() { rte_acl_free(ctx); }
};

RteAclClassifier::RteAclClassifier(RteAclOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

RteAclClassifier::~RteAclClassifier() = default;

fw::Status RteAclClassifier::build(std::span<const Rule> rules) {
  Impl& d = *impl_;
  if (d.ctx != nullptr) return fw::failed_precondition("rte_acl: build() called twice");

  const AlgName* requested = nullptr;
  for (const AlgName& a : kAlgNames) {
    if (a.name == d.options.alg) requested = &a;
  }
  if (requested == nullptr) {
    return fw::invalid_argument("rte_acl: unknown classify method '" + d.options.alg +
                                "' (default, scalar, sse, avx2, avx512x16, avx512x32)");
  }
  // Priorities are N - i, and rte_acl accepts 1..RTE_ACL_MAX_PRIORITY.
  if (rules.size() > RTE_ACL_MAX_PRIORITY) {
    return fw::invalid_argument("rte_acl: " + std::to_string(rules.size()) +
                                " rules exceed RTE_ACL_MAX_PRIORITY");
  }
  if (fw::Status s = init_eal(); !s.ok()) return s;

  std::vector<AclRule> acl_rules(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    AclRule& a = acl_rules[i];
    a.data.category_mask = 1;
    a.data.priority = static_cast<std::int32_t>(rules.size() - i);
    a.data.userdata = static_cast<std::uint32_t>(i + 1);
    // Rule values are host order; rte_acl swaps them to match its input.
    a.field[kProtoField].value.u8 = r.proto;
    a.field[kProtoField].mask_range.u8 = r.proto_mask;
    a.field[kSrcField].value.u32 = r.src.addr;
    a.field[kSrcField].mask_range.u32 = r.src.len;
    a.field[kDstField].value.u32 = r.dst.addr;
    a.field[kDstField].mask_range.u32 = r.dst.len;
    a.field[kSportField].value.u16 = r.sport.lo;
    a.field[kSportField].mask_range.u16 = r.sport.hi;
    a.field[kDportField].value.u16 = r.dport.lo;
    a.field[kDportField].mask_range.u16 = r.dport.hi;
  }

  d.num_rules = rules.size();
  // rte_acl cannot build (nor classify with) an empty rule set;
  // classify() answers kNoMatch without it.
  if (rules.empty()) {
    d.info.alg = "none (no rules)";
    return fw::Status::Ok();
  }

  std::size_t heap_before = eal_heap_allocated();
  // Context names must be unique: rte_acl_create returns an existing
  // context of the same name instead of a new one.
  std::string ctx_name = "fwbench" + std::to_string(next_context_id++);
  rte_acl_param param{};
  param.name = ctx_name.c_str();
  param.socket_id = SOCKET_ID_ANY;
  param.rule_size = RTE_ACL_RULE_SZ(kNumFields);
  param.max_rule_num = static_cast<std::uint32_t>(rules.size());
  d.ctx = rte_acl_create(&param);
  if (d.ctx == nullptr) {
    return fw::resource_exhausted("rte_acl_create: " + std::string(rte_strerror(rte_errno)));
  }
  if (requested->alg != RTE_ACL_CLASSIFY_DEFAULT) {
    if (int rc = rte_acl_set_ctx_classify(d.ctx, requested->alg); rc != 0) {
      return fw::failed_precondition(
          "rte_acl: classify method '" + d.options.alg + "' is not available here (" +
          rte_strerror(-rc) +
          "); the CPU lacks it, DPDK was built without it, or the EAL SIMD width is too small "
          "(AVX512x32 needs the EAL argument --force-max-simd-bitwidth=512)");
    }
  }
  if (int rc = rte_acl_add_rules(d.ctx, reinterpret_cast<const rte_acl_rule*>(acl_rules.data()),
                                 static_cast<std::uint32_t>(acl_rules.size()));
      rc != 0) {
    return fw::invalid_argument("rte_acl_add_rules: " + std::string(rte_strerror(-rc)));
  }

  rte_acl_config config{};
  config.num_categories = 1;
  config.num_fields = kNumFields;
  std::copy(kFieldDefs.begin(), kFieldDefs.end(), config.defs);
  config.max_size = d.options.max_size;

  AclBuildLog log;
  int rc = rte_acl_build(d.ctx, &config);
  std::string_view log_text = log.finish();
  if (d.options.log_build) std::cerr << log_text;
  if (rc != 0) {
    std::string message = "rte_acl_build of " + std::to_string(rules.size()) +
                          " rules failed: " + rte_strerror(-rc);
    if (rc == -ENOMEM) {
      message += " (run-time tries live in EAL memory: raise the EAL -m size, "
                 "fwbench --eal-memory MB)";
    } else if (rc == -ERANGE) {
      message += " (even the finest split into tries exceeds max_size: raise "
                 "--rte-acl-max-size, or 0 for no bound)";
    }
    return fw::resource_exhausted(message);
  }

  d.info.heap_bytes = eal_heap_allocated() - heap_before;
  d.info.runtime_bytes = log_number(log_text, "total: ");
  d.info.build_temp_bytes = log_number(log_text, "memory consumed: ");
  // One "trie N: number of rules" line per trie, after the last "Build phase"
  // header (rte_acl retries a build that exceeds max_size).
  std::size_t last_build = log_text.rfind("Build phase");
  d.info.tries = count_occurrences(
      last_build == std::string_view::npos ? log_text : log_text.substr(last_build),
      "number of rules:");
  std::optional<int> alg = context_alg(d.ctx);
  d.info.alg = alg ? alg_name(*alg) : "unknown";
  return fw::Status::Ok();
}

std::size_t RteAclClassifier::memory_bytes() const noexcept { return impl_->info.heap_bytes; }

const RteAclBuildInfo& RteAclClassifier::build_info() const noexcept { return impl_->info; }

void RteAclClassifier::classify(std::span<const Header> burst, std::span<std::int32_t> out) {
  assert(burst.size() == out.size());
  Impl& d = *impl_;
  if (d.ctx == nullptr) {
    std::fill(out.begin(), out.end(), kNoMatch);
    return;
  }
  for (std::size_t done = 0; done < burst.size(); done += kChunk) {
    const std::size_t n = std::min(kChunk, burst.size() - done);
    for (std::size_t i = 0; i < n; ++i) {
      const Header& h = burst[done + i];
      AclInput& in = d.input[i];
      in.proto = h.proto;
      in.src = rte_cpu_to_be_32(h.src);
      in.dst = rte_cpu_to_be_32(h.dst);
      in.sport = rte_cpu_to_be_16(h.sport);
      in.dport = rte_cpu_to_be_16(h.dport);
    }
    // Fails only on invalid arguments (categories), which are fixed here.
    rte_acl_classify(d.ctx, d.input_ptrs.data(), d.results.data(), static_cast<std::uint32_t>(n),
                     1);
    for (std::size_t i = 0; i < n; ++i) {
      // userdata is index + 1; 0 is "no match", which becomes kNoMatch (-1).
      out[done + i] = static_cast<std::int32_t>(d.results[i]) - 1;
    }
  }
}

std::string RteAclClassifier::details() const {
  const RteAclBuildInfo& info = impl_->info;
  auto mib = [](std::size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return std::string(text);
  };
  return "alg=" + info.alg + " tries=" + std::to_string(info.tries) + " tries_mem=" +
         mib(info.runtime_bytes) + "MiB build_temp=" + mib(info.build_temp_bytes) +
         "MiB (memory = EAL heap growth: rule copy + tries)";
}

}  // namespace classbench
