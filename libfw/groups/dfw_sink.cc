// The GroupSink that drives fw::Dfw (fw/inventory.h): each delta becomes
// Dfw::remove_group_addresses / add_group_addresses (and, for groups with
// exclude_vm_ids, add/remove_group_exclusions), which cost the size of the
// delta, never the group's size, and are live for the next lookup; the
// vNICs that joined / left groups become one Dfw::update_group_vnics call
// (dynamic applied-to: only the vNICs whose rules change get a new filter).
#include "fw/dfw.h"
#include "fw/inventory.h"

namespace fw {
namespace {

class DfwGroupSink final : public GroupSink {
 public:
  explicit DfwGroupSink(Dfw& dfw) : dfw_(dfw) {}

  Status apply(std::span<const GroupDelta> deltas) override {
    // A failure part-way leaves the deltas before it applied; the inventory
    // hands all of them again (merged with later changes), and the DFW's
    // calls have set semantics — adding what is there or removing what is
    // not is a no-op — so a retry converges.
    //
    // New exclusions go first (an excluded VM's address never shows in a
    // parent while its nested group gains it), exclusions that end go last.
    for (const GroupDelta& d : deltas) {
      if (Status s = call(&Dfw::add_group_exclusions, d.group_id, d.excluded_added); !s.ok()) return s;
    }
    for (const GroupDelta& d : deltas) {
      if (Status s = call(&Dfw::remove_group_addresses, d.group_id, d.removed); !s.ok()) return s;
      if (Status s = call(&Dfw::add_group_addresses, d.group_id, d.added); !s.ok()) return s;
    }
    for (const GroupDelta& d : deltas) {
      if (Status s = call(&Dfw::remove_group_exclusions, d.group_id, d.excluded_removed); !s.ok()) return s;
    }
    // Applied-to last, in one call: the vNICs whose rules change get their
    // new filter in one engine generation, with the groups' addresses
    // already in place.
    std::vector<GroupVnicChange> members;
    for (const GroupDelta& d : deltas) {
      if (d.vnics_joined.empty() && d.vnics_left.empty()) continue;
      members.push_back({.group_id = d.group_id, .joined = d.vnics_joined, .left = d.vnics_left});
    }
    if (!members.empty()) {
      Status s = dfw_.update_group_vnics(members);
      if (!s.ok()) return Status(s.code(), "dfw applied-to: " + s.message());
    }
    return Status::Ok();
  }

 private:
  using Call = Status (Dfw::*)(const std::string&, const std::vector<Cidr>&);
  Status call(Call method, const std::string& group_id, const std::vector<Cidr>& cidrs) {
    if (cidrs.empty()) return Status::Ok();
    Status s = (dfw_.*method)(group_id, cidrs);
    if (!s.ok()) return Status(s.code(), "dfw group " + group_id + ": " + s.message());
    return s;
  }

  Dfw& dfw_;
};

}  // namespace

std::unique_ptr<GroupSink> make_dfw_group_sink(Dfw& dfw) { return std::make_unique<DfwGroupSink>(dfw); }

}  // namespace fw
