// bench/classbench/reference.h — the brute-force first-match classifier.
//
// A linear scan of the rules in priority order with Rule::matches: slow
// (O(rules) per header) and obviously right, which is the point — it is the
// oracle every other classifier is checked against, in the tests and in
// `fwbench classbench`.
//
// Thread-safety: see classifier_iface.h; first_match() is reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "bench/classbench/classifier_iface.h"

namespace classbench {

// Index of the first rule of `rules` that matches `header`, or kNoMatch.
std::int32_t first_match(std::span<const Rule> rules, const Header& header) noexcept;

class ReferenceClassifier final : public Classifier {
 public:
  std::string_view name() const noexcept override { return "reference"; }
  fw::Status build(std::span<const Rule> rules) override;
  std::size_t memory_bytes() const noexcept override;
  void classify(std::span<const Header> burst, std::span<std::int32_t> out) override;
  std::string details() const override { return "linear scan; memory = the rule array"; }

 private:
  std::vector<Rule> rules_;
};

}  // namespace classbench
