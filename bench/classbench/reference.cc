#include "bench/classbench/reference.h"

#include <cassert>
#include <limits>
#include <string>

namespace classbench {

std::int32_t first_match(std::span<const Rule> rules, const Header& header) noexcept {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].matches(header)) return static_cast<std::int32_t>(i);
  }
  return kNoMatch;
}

fw::Status ReferenceClassifier::build(std::span<const Rule> rules) {
  // Rule indices are reported as int32 (with -1 for no match).
  if (rules.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return fw::invalid_argument("reference: " + std::to_string(rules.size()) +
                                " rules do not fit an int32 rule index");
  }
  rules_.assign(rules.begin(), rules.end());
  return fw::Status::Ok();
}

std::size_t ReferenceClassifier::memory_bytes() const noexcept {
  return rules_.size() * sizeof(Rule);
}

void ReferenceClassifier::classify(std::span<const Header> burst, std::span<std::int32_t> out) {
  assert(burst.size() == out.size());
  for (std::size_t i = 0; i < burst.size(); ++i) out[i] = first_match(rules_, burst[i]);
}

}  // namespace classbench
