// libfw/service/load_internal.h — internal: redirect-policy bytes in any
// format, every problem at once, and the model written back out (the fuzz
// target and the tests check that a policy survives the trip).
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fw/policy.h"
#include "fw/service.h"
#include "fw/status.h"

namespace fw::service_internal {

// As check_policy_bytes() for the DFW: `status` is not OK when the bytes do
// not parse at all (syntax error with line and column, unknown field); then
// `problems` is empty and `policy` unset. Otherwise `problems` holds every
// decoding and validation problem in document order (services, groups,
// profiles, chains, rules) and `policy` the decoded model (with
// placeholders where a value could not be decoded).
struct RedirectPolicyReport {
  Status status;
  std::vector<PolicyError> problems;
  std::optional<RedirectPolicy> policy;
};
RedirectPolicyReport check_redirect_policy_bytes(std::string_view bytes, PolicyFormat format);

// What parse_redirect_policy_*() and load_redirect_policy() return for a
// report: its status, or kInvalidArgument listing its problems (each line
// starting with `prefix`), or the policy.
StatusOr<RedirectPolicy> accept_redirect_policy(RedirectPolicyReport report, std::string_view prefix);

// The model as fw.v1.RedirectPolicy in `format` (JSON with the .proto's
// field names). A valid policy reads back to an equal model.
std::string write_redirect_policy(const RedirectPolicy& policy, PolicyFormat format);

}  // namespace fw::service_internal
