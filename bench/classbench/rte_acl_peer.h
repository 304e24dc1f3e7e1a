// bench/classbench/rte_acl_peer.h — DPDK's rte_acl as the peer classifier.
//
// Compiled only when CMake finds libdpdk (FW_HAVE_DPDK=1 for users of
// fw_classbench); libfw itself never depends on DPDK. This header includes no
// DPDK header, so its users compile without DPDK's flags.
//
// Usage:
//   if (fw::Status s = classbench::init_eal({.memory_mb = 4096}); !s.ok()) fail(s);
//   classbench::RteAclClassifier acl({.alg = "default"});
//   if (fw::Status s = acl.build(rules); !s.ok()) fail(s);
//   acl.classify(burst, out);   // bursts of any size, 64 at a time inside
//
// Rules map to rte_acl as in DPDK's app/test-acl (IPv4 5-tuple): field 0 the
// protocol (1-byte bitmask), 1 and 2 the source and destination address
// (prefix masks), 3 and 4 the ports (ranges) sharing one 4-byte input group.
// Rule i gets priority N - i (rte_acl picks the highest priority, ClassBench
// the lowest index) and userdata i + 1 (0 means "no match" to rte_acl).
// rte_acl reads headers in network byte order at fixed offsets, as from a
// packet; classify() converts each burst of host-order Headers into that
// layout first, so the measured time includes the conversion (a few byte
// swaps per header).
//
// Memory: rte_acl keeps its rule copy and its run-time tries in EAL memory
// (rte_malloc); memory_bytes() is the growth of EAL heap allocations from
// before rte_acl_create to after rte_acl_build. The tries alone (DPDK's own
// "total" of the gen phase) and the temporary build memory (plain malloc,
// freed after the build; can be GBs for 100k rules) are in build_info().
//
// Thread-safety: init_eal() once per process, from one thread; one
// classifier object per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/classbench/classifier_iface.h"

namespace classbench {

// EAL set-up for a process that only uses rte_acl: no hugepages, no PCI, no
// shared config files, no telemetry, one lcore (the first CPU the process may
// run on). EAL pins the calling thread to that CPU; init_eal() restores the
// thread's previous CPU set, so pin the whole run with taskset if wanted.
struct EalOptions {
  // EAL memory (-m) in MiB. Without hugepages this is reserved address
  // space, touched only as rte_malloc hands it out (plus ~12 MiB of page
  // bookkeeping per GiB). It bounds rte_acl's rules plus run-time tries.
  std::size_t memory_mb = 4096;
  // Extra EAL arguments appended to the defaults, e.g.
  // "--force-max-simd-bitwidth=512" to allow rte_acl's AVX512x32 method.
  std::vector<std::string> extra_args;
};

// Initialises DPDK's EAL once per process. Later calls return the first
// call's status and ignore their options.
[[nodiscard]] fw::Status init_eal(const EalOptions& options = {});
// The argument vector init_eal() passed (or would pass) to rte_eal_init.
std::vector<std::string> eal_arguments(const EalOptions& options);

// rte_acl classify methods by the names DPDK's test-acl uses:
// "default" (DPDK picks the best the CPU and the EAL SIMD width allow),
// "scalar", "sse", "avx2", "avx512x16", "avx512x32".
std::vector<std::string_view> rte_acl_algorithm_names();

struct RteAclOptions {
  std::string alg = "default";
  // rte_acl_config.max_size: a bound on the run-time structures; rte_acl
  // splits the rules into more tries to stay under it. 0 = no bound.
  std::size_t max_size = 0;
  // Copy rte_acl's debug log of the build (trie split, node counts,
  // memory) to stderr.
  bool log_build = false;
};

struct RteAclBuildInfo {
  std::string alg;                  // the method classify() uses, e.g. "avx2"
  std::size_t heap_bytes = 0;       // EAL heap growth: rule copy + tries (= memory_bytes())
  std::size_t runtime_bytes = 0;    // DPDK's "total" of the gen phase (tries only)
  std::size_t build_temp_bytes = 0; // DPDK's "memory consumed" by the build phase (malloc)
  unsigned tries = 0;               // number of tries the rules were split into
};

class RteAclClassifier final : public Classifier {
 public:
  explicit RteAclClassifier(RteAclOptions options = {});
  ~RteAclClassifier() override;
  RteAclClassifier(const RteAclClassifier&) = delete;
  RteAclClassifier& operator=(const RteAclClassifier&) = delete;

  std::string_view name() const noexcept override { return "rte_acl"; }
  // Calls init_eal() with default options if nothing initialised EAL yet.
  fw::Status build(std::span<const Rule> rules) override;
  std::size_t memory_bytes() const noexcept override;
  void classify(std::span<const Header> burst, std::span<std::int32_t> out) override;
  std::string details() const override;

  const RteAclBuildInfo& build_info() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace classbench
