// libfw/groups/slot_sink.h — internal: the GroupSink (fw/inventory.h) that
// drives a slot's control object, shared by the DFW's sink
// (make_dfw_group_sink) and the service insertion's (make_service_group_sink).
//
// Each delta becomes the target's remove_group_addresses /
// add_group_addresses (and add/remove_group_exclusions for groups with
// exclude_vm_ids), which cost the size of the delta, never the group's size;
// the vNICs that joined / left groups become one update_group_vnics call.
// Order: new exclusions first (an excluded VM's address never shows in a
// parent while its nested group gains it), then addresses, then exclusions
// that end, then applied-to (so the vNICs whose rules change get their new
// filter with the groups' addresses already in place).
//
// A failure part-way leaves the deltas before it applied; the inventory
// hands all of them again (merged with later changes), and the calls have
// set semantics, so a retry converges. With `skip_unknown_groups`, a group
// the target does not have (kNotFound) is not an error: the target's policy
// does not name it.
//
// Thread-safety: called by the inventory (one thread at a time).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "fw/dfw.h"
#include "fw/inventory.h"

namespace fw::groups_internal {

template <typename Target>
class SlotGroupSink final : public GroupSink {
 public:
  SlotGroupSink(Target& target, std::string name, bool skip_unknown_groups)
      : target_(target), name_(std::move(name)), skip_unknown_(skip_unknown_groups) {}

  Status apply(std::span<const GroupDelta> deltas) override {
    for (const GroupDelta& d : deltas)
      if (Status s = call(&Target::add_group_exclusions, d.group_id, d.excluded_added); !s.ok()) return s;
    for (const GroupDelta& d : deltas) {
      if (Status s = call(&Target::remove_group_addresses, d.group_id, d.removed); !s.ok()) return s;
      if (Status s = call(&Target::add_group_addresses, d.group_id, d.added); !s.ok()) return s;
    }
    for (const GroupDelta& d : deltas)
      if (Status s = call(&Target::remove_group_exclusions, d.group_id, d.excluded_removed); !s.ok()) return s;
    // members_ keeps its buffer (and its first elements' vectors) from one
    // call to the next: a batch of thousands of changes then costs no large
    // allocation here (which would make malloc consolidate the batch's many
    // freed small chunks: measured at ~10% of a batch's time).
    std::size_t n = 0;
    for (const GroupDelta& d : deltas) n += d.vnics_joined.empty() && d.vnics_left.empty() ? 0 : 1;
    if (n == 0) return Status::Ok();
    members_.resize(n);
    auto member = members_.begin();
    for (const GroupDelta& d : deltas) {
      if (d.vnics_joined.empty() && d.vnics_left.empty()) continue;
      member->group_id.assign(d.group_id);
      member->joined.assign(d.vnics_joined.begin(), d.vnics_joined.end());
      member->left.assign(d.vnics_left.begin(), d.vnics_left.end());
      ++member;
    }
    Status s = target_.update_group_vnics(members_);
    if (!s.ok()) return Status(s.code(), name_ + " applied-to: " + s.message());
    return Status::Ok();
  }

 private:
  using Call = Status (Target::*)(const std::string&, const std::vector<Cidr>&);
  Status call(Call method, const std::string& group_id, const std::vector<Cidr>& cidrs) {
    if (cidrs.empty()) return Status::Ok();
    Status s = (target_.*method)(group_id, cidrs);
    if (s.ok() || (skip_unknown_ && s.code() == StatusCode::kNotFound)) return Status::Ok();
    return Status(s.code(), name_ + " group " + group_id + ": " + s.message());
  }

  Target& target_;
  const std::string name_;
  const bool skip_unknown_;
  std::vector<GroupVnicChange> members_;  // scratch of apply()
};

}  // namespace fw::groups_internal
