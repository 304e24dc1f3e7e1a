// The BindingListener that feeds switch security's learned bindings into an
// Inventory (AddressSource::kLearned), so groups that select the VM gain the
// addresses the VM really uses.
#include "fw/inventory.h"
#include "fw/switch_security.h"

namespace fw {
namespace {

class InventoryBindingListener final : public BindingListener {
 public:
  explicit InventoryBindingListener(Inventory& inventory) : inventory_(inventory) {}

  Status on_bindings(std::span<const BindingChange> changes) override {
    Status first_error;
    for (const BindingChange& c : changes) {
      StatusOr<std::uint64_t> s =
          c.kind == BindingChangeKind::kLearned
              ? inventory_.add_address(c.vnic_id, c.address, AddressSource::kLearned)
              : inventory_.remove_address(c.vnic_id, c.address, AddressSource::kLearned);
      // Keep going: one vNIC the inventory does not know must not keep the
      // others' addresses out of their groups.
      if (!s.ok() && first_error.ok()) first_error = s.status();
    }
    return first_error;
  }

 private:
  Inventory& inventory_;
};

}  // namespace

std::unique_ptr<BindingListener> make_inventory_binding_listener(Inventory& inventory) {
  return std::make_unique<InventoryBindingListener>(inventory);
}

}  // namespace fw
