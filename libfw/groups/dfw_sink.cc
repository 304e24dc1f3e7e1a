// The GroupSink that drives fw::Dfw (fw/inventory.h): libfw/groups/slot_sink.h
// says what each delta becomes and in which order.
#include "fw/dfw.h"
#include "fw/inventory.h"
#include "libfw/groups/slot_sink.h"

namespace fw {

std::unique_ptr<GroupSink> make_dfw_group_sink(Dfw& dfw) {
  return std::make_unique<groups_internal::SlotGroupSink<Dfw>>(dfw, "dfw", /*skip_unknown_groups=*/false);
}

}  // namespace fw
