#include "libfw/groups/criteria.h"

#include <algorithm>

namespace fw::groups {

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

StatusOr<PreparedCriterion> prepare(const Criterion& criterion) {
  PreparedCriterion p;
  p.key = criterion.key;
  p.op = criterion.op;
  p.scope = ascii_lower(criterion.scope);
  for (const std::string& v : criterion.values) p.values.push_back(ascii_lower(v));
  if (criterion.op == CriterionOperator::kMatches) {
    if (criterion.values.size() != 1) return invalid_argument("MATCHES needs exactly one regular expression");
    try {
      p.regex.emplace(criterion.values[0], std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return invalid_argument("MATCHES '" + criterion.values[0] + "': " + e.what());
    }
  }
  return p;
}

namespace {

// One value against the operator; for the negative operators this is the
// positive test (EQUALS / IN), negated by the caller.
bool value_matches(const PreparedCriterion& c, std::string_view v) {
  switch (c.op) {
    case CriterionOperator::kEquals:
    case CriterionOperator::kNotEquals:
    case CriterionOperator::kIn:
    case CriterionOperator::kNotIn:
      return std::find(c.values.begin(), c.values.end(), v) != c.values.end();
    case CriterionOperator::kContains:
      return !c.values.empty() && v.find(c.values[0]) != std::string_view::npos;
    case CriterionOperator::kStartsWith:
      return !c.values.empty() && v.starts_with(c.values[0]);
    case CriterionOperator::kEndsWith:
      return !c.values.empty() && v.ends_with(c.values[0]);
    case CriterionOperator::kMatches:
      // std::regex_search may throw error_complexity / error_stack on a
      // pathological input; values are bounded (256 bytes) and validation
      // bounds the pattern's size, but a throw must still not escape.
      try {
        return c.regex && std::regex_search(v.begin(), v.end(), *c.regex);
      } catch (const std::regex_error&) {
        return false;
      }
  }
  return false;
}

}  // namespace

bool matches(const PreparedCriterion& c, const VmFields& vm) {
  const bool negative = is_negative(c.op);
  if (c.key == CriterionKey::kTag) {
    bool any = false;
    for (const auto& [scope, value] : vm.tags) {
      if (!c.scope.empty() && scope != c.scope) continue;
      if (value_matches(c, value)) {
        any = true;
        break;
      }
    }
    return negative ? !any : any;
  }
  const std::string& field = c.key == CriterionKey::kVmName   ? vm.name
                             : c.key == CriterionKey::kOsName ? vm.os_name
                                                              : vm.computer_name;
  const bool hit = value_matches(c, field);
  return negative ? !hit : hit;
}

}  // namespace fw::groups
