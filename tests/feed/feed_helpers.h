// tests/feed/feed_helpers.h — building feed events and a sink that mirrors
// what it was told, shared by the feed suites.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fw/feed.h"
#include "fw/inventory.h"

namespace fw::test {

inline IpAddress ip(const char* text) { return parse_ip(text).value(); }

inline FeedEvent begin(std::uint64_t r) { return FeedEvent{.revision = r, .kind = FeedEventKind::kSnapshotBegin}; }
inline FeedEvent end(std::uint64_t r) { return FeedEvent{.revision = r, .kind = FeedEventKind::kSnapshotEnd}; }
inline FeedEvent upsert(std::uint64_t r, VmSpec vm) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kVmUpsert, .vm = std::move(vm)};
}
inline FeedEvent remove(std::uint64_t r, std::string id) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kVmDelete, .vm_id = std::move(id)};
}
inline FeedEvent tag_add(std::uint64_t r, std::string id, Tag t) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kTagAdd, .vm_id = std::move(id), .tag = std::move(t)};
}
inline FeedEvent tag_remove(std::uint64_t r, std::string id, Tag t) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kTagRemove, .vm_id = std::move(id), .tag = std::move(t)};
}
inline FeedEvent address_add(std::uint64_t r, std::uint32_t vnic, IpAddress a) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kAddressAdd, .vnic_id = vnic, .address = a};
}
inline FeedEvent address_remove(std::uint64_t r, std::uint32_t vnic, IpAddress a) {
  return FeedEvent{.revision = r, .kind = FeedEventKind::kAddressRemove, .vnic_id = vnic, .address = a};
}
inline VmSpec vm(std::string id, std::uint32_t vnic, const char* address, std::vector<Tag> tags = {}) {
  return VmSpec{.id = std::move(id), .tags = std::move(tags), .vnics = {VnicSpec{.id = vnic, .addresses = {ip(address)}}}};
}

// One group, "web": the VMs with a tag of value "web" (any scope).
inline Policy web_policy() {
  Policy p;
  Group web;
  web.id = "web";
  web.criteria = {CriteriaExpression{
      .all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .values = {"web"}}}}};
  p.groups = {web};
  return p;
}

// Keeps each group's set as the sink was told; fails the test on a delta
// that contradicts it (removing what it does not have, adding twice), and
// remembers every removal (a resync must not remove what stays).
class MirrorSink : public GroupSink {
 public:
  Status apply(std::span<const GroupDelta> deltas) override {
    for (const GroupDelta& d : deltas) {
      for (const Cidr& c : d.removed) {
        EXPECT_EQ(sets[d.group_id].erase(c.address.to_string()), 1u) << d.group_id << " " << c.address.to_string();
        removed.push_back(d.group_id + " " + c.address.to_string());
      }
      for (const Cidr& c : d.added)
        EXPECT_TRUE(sets[d.group_id].insert(c.address.to_string()).second) << d.group_id << " " << c.address.to_string();
    }
    return Status::Ok();
  }
  std::map<std::string, std::set<std::string>> sets;
  std::vector<std::string> removed;
};

}  // namespace fw::test
