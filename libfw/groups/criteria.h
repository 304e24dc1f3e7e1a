// libfw/groups/criteria.h — internal: a group's criteria prepared for
// matching (values folded to lower case, MATCHES compiled once) and the
// matcher over a VM's folded fields. Semantics in fw/inventory.h and
// docs/groups.md.
//
// Thread-safety: immutable after build; match() is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "fw/policy.h"
#include "fw/status.h"

namespace fw::groups {

// ASCII case folding: NSX compares criteria case-insensitively; bytes
// outside A-Z (UTF-8 included) compare exactly.
std::string ascii_lower(std::string_view text);

// The fields of a VM that criteria look at, folded.
struct VmFields {
  std::string name;
  std::string os_name;
  std::string computer_name;
  // (scope, value); most VMs have a few tags, kept inline (a tag added
  // costs no allocation for the vector).
  boost::container::small_vector<std::pair<std::string, std::string>, 2> tags;
};

struct PreparedCriterion {
  CriterionKey key = CriterionKey::kTag;
  CriterionOperator op = CriterionOperator::kEquals;
  std::string scope;                // folded; empty = any scope
  std::vector<std::string> values;  // folded
  std::optional<std::regex> regex;  // kMatches
};

// kInvalidArgument naming the criterion for a regex std::regex refuses
// (validated policies never have one).
StatusOr<PreparedCriterion> prepare(const Criterion& criterion);

bool matches(const PreparedCriterion& criterion, const VmFields& vm);

// True for operators that hold when no tag (in scope) equals a value:
// NOT_EQUALS, NOT_IN.
inline bool is_negative(CriterionOperator op) {
  return op == CriterionOperator::kNotEquals || op == CriterionOperator::kNotIn;
}
// True for operators indexed by exact (scope, value): EQUALS, NOT_EQUALS,
// IN, NOT_IN — a tag can change their outcome only if it equals a value.
inline bool is_exact(CriterionOperator op) {
  return op == CriterionOperator::kEquals || op == CriterionOperator::kNotEquals ||
         op == CriterionOperator::kIn || op == CriterionOperator::kNotIn;
}

}  // namespace fw::groups
