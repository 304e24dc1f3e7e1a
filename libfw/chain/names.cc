#include "fw/verdict.h"

namespace fw {

std::string_view direction_name(Direction d) noexcept {
  return d == Direction::kFromVm ? "from-vm" : "to-vm";
}

std::string_view action_name(Action a) noexcept {
  switch (a) {
    case Action::kPass: return "pass";
    case Action::kDrop: return "drop";
    case Action::kReject: return "reject";
    case Action::kRedirect: return "redirect";
    case Action::kPunt: return "punt";
  }
  return "unknown";
}

std::string_view drop_reason_name(DropReason r) noexcept {
  switch (r) {
    case DropReason::kNone: return "none";
    case DropReason::kMalformed: return "malformed";
    case DropReason::kRule: return "rule";
    case DropReason::kDefaultRule: return "default-rule";
    case DropReason::kUnknownVnic: return "unknown-vnic";
    case DropReason::kFilterError: return "filter-error";
    case DropReason::kServiceDrop: return "service-drop";
    case DropReason::kConntrackInvalid: return "conntrack-invalid";
    case DropReason::kConntrackFull: return "conntrack-full";
    case DropReason::kSpoofGuard: return "spoof-guard";
    case DropReason::kServiceDown: return "service-down";
    case DropReason::kServiceFlowBlock: return "service-flow-block";
    case DropReason::kNotRedirected: return "not-redirected";
    case DropReason::kCount: break;
  }
  return "unknown";
}

}  // namespace fw
