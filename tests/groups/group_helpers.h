// tests/groups/group_helpers.h — policies of tag groups and a sink that
// records what it was told, shared by the groups suites.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fw/inventory.h"

namespace fw::test {

inline IpAddress ip(const char* text) { return parse_ip(text).value(); }
inline Cidr host(const char* text) { return parse_cidr(text).value(); }

inline Criterion crit(CriterionKey key, CriterionOperator op, std::vector<std::string> values, std::string scope = "") {
  return Criterion{.key = key, .op = op, .scope = std::move(scope), .values = std::move(values)};
}
inline Group group(std::string id, std::vector<std::vector<Criterion>> criteria) {
  Group g;
  g.id = std::move(id);
  for (auto& all_of : criteria) g.criteria.push_back(CriteriaExpression{.all_of = std::move(all_of)});
  return g;
}
inline Policy policy_of(std::vector<Group> groups) {
  Policy p;
  p.groups = std::move(groups);
  return p;
}

// Records every delta and keeps each group's set as the sink sees it.
class RecordingSink : public GroupSink {
 public:
  Status apply(std::span<const GroupDelta> deltas) override {
    ++calls;
    if (fail_next > 0) {
      --fail_next;
      return io_error("sink is down");
    }
    for (const GroupDelta& d : deltas) {
      log.push_back(d);
      for (const Cidr& c : d.removed) {
        EXPECT_EQ(sets[d.group_id].erase(c.address.to_string()), 1u) << "removed what it never had: " << d.group_id;
      }
      for (const Cidr& c : d.added) {
        EXPECT_TRUE(sets[d.group_id].insert(c.address.to_string()).second) << "added twice: " << d.group_id;
      }
    }
    return Status::Ok();
  }
  std::set<std::string> members(const std::string& g) { return sets[g]; }

  int calls = 0;
  int fail_next = 0;
  std::vector<GroupDelta> log;
  std::map<std::string, std::set<std::string>> sets;
};

}  // namespace fw::test
