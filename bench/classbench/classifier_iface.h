// bench/classbench/classifier_iface.h — what the ClassBench harness drives.
//
// Every classifier compared by `fwbench classbench` implements this: the
// brute-force reference (the oracle), DPDK's rte_acl (the peer), and, later,
// the libfw rule classifier. The harness builds each one from the same rule
// span, feeds it the same trace in bursts, and compares every answer with the
// reference's.
//
// Usage:
//   std::unique_ptr<Classifier> c = make_something();
//   if (fw::Status s = c->build(rules); !s.ok()) fail(s);
//   c->classify(headers.subspan(i, 64), matches.subspan(i, 64));
//
// Contract:
//   - build() is called once, with rules in priority order (index 0 first);
//     a classifier copies what it needs and does not keep the span.
//   - classify() answers, for each header, the index of the first (lowest
//     index) rule that matches it, or kNoMatch. `burst` and `out` have the
//     same size, any size including 0 (the harness uses 64). It does not
//     allocate; it may use scratch space owned by the object, so one object
//     is driven by one thread at a time.
//   - memory_bytes() is what the built classifier holds to classify (not the
//     temporary memory of the build), as best the implementation can tell;
//     details() says how it was measured.
//
// Thread-safety: one object per thread; build() before classify().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "bench/classbench/classbench.h"
#include "fw/status.h"

namespace classbench {

inline constexpr std::int32_t kNoMatch = -1;

class Classifier {
 public:
  virtual ~Classifier() = default;

  virtual std::string_view name() const noexcept = 0;
  [[nodiscard]] virtual fw::Status build(std::span<const Rule> rules) = 0;
  virtual std::size_t memory_bytes() const noexcept = 0;
  virtual void classify(std::span<const Header> burst, std::span<std::int32_t> out) = 0;
  // One line about the built classifier for the report ("alg=avx2 tries=3");
  // empty if there is nothing to say.
  virtual std::string details() const { return {}; }
};

}  // namespace classbench
