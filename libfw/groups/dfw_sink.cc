// The GroupSink that drives fw::Dfw (fw/inventory.h): each delta becomes
// Dfw::remove_group_addresses / add_group_addresses, which cost the size of
// the delta, never the group's size, and are live for the next lookup.
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
    for (const GroupDelta& d : deltas) {
      if (!d.removed.empty()) {
        if (Status s = dfw_.remove_group_addresses(d.group_id, d.removed); !s.ok())
          return Status(s.code(), "dfw group " + d.group_id + ": " + s.message());
      }
      if (!d.added.empty()) {
        if (Status s = dfw_.add_group_addresses(d.group_id, d.added); !s.ok())
          return Status(s.code(), "dfw group " + d.group_id + ": " + s.message());
      }
    }
    return Status::Ok();
  }

 private:
  Dfw& dfw_;
};

}  // namespace

std::unique_ptr<GroupSink> make_dfw_group_sink(Dfw& dfw) { return std::make_unique<DfwGroupSink>(dfw); }

}  // namespace fw
