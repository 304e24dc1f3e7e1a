// The GroupSink that drives fw::Dfw (fw/inventory.h).
//
// fw::Dfw offers set_group_addresses(group, all addresses) today, so this
// adapter keeps each group's current dynamic set and hands the DFW the whole
// set after applying a delta: the DFW's cost is the group's size, not the
// delta's. When Dfw gains add_group_addresses / remove_group_addresses (the
// DFW's delta calls, in progress in include/fw/dfw.h), this adapter passes
// deltas straight through and drops its copy (docs/groups.md, "Status").
#include <map>
#include <set>

#include "fw/dfw.h"
#include "fw/inventory.h"

namespace fw {
namespace {

struct CidrLess {
  bool operator()(const Cidr& a, const Cidr& b) const noexcept {
    if (a.address.family != b.address.family) return a.address.family < b.address.family;
    if (a.address.bytes != b.address.bytes) return a.address.bytes < b.address.bytes;
    return a.prefix_length < b.prefix_length;
  }
};

class DfwGroupSink final : public GroupSink {
 public:
  explicit DfwGroupSink(Dfw& dfw) : dfw_(dfw) {}

  Status apply(std::span<const GroupDelta> deltas) override {
    // Each group is replaced as a whole, so a failure part-way leaves the
    // groups before it applied and the rest untouched; the inventory hands
    // the same deltas again and re-applying a delta to a group that already
    // has it is a no-op (sets), so a retry converges.
    for (const GroupDelta& d : deltas) {
      std::set<Cidr, CidrLess> next = sets_[d.group_id];
      for (const Cidr& c : d.removed) next.erase(c);
      for (const Cidr& c : d.added) next.insert(c);
      if (Status s = dfw_.set_group_addresses(d.group_id, std::vector<Cidr>(next.begin(), next.end())); !s.ok())
        return Status(s.code(), "dfw group " + d.group_id + ": " + s.message());
      sets_[d.group_id] = std::move(next);
    }
    return Status::Ok();
  }

 private:
  Dfw& dfw_;
  std::map<std::string, std::set<Cidr, CidrLess>, std::less<>> sets_;
};

}  // namespace

std::unique_ptr<GroupSink> make_dfw_group_sink(Dfw& dfw) { return std::make_unique<DfwGroupSink>(dfw); }

}  // namespace fw
