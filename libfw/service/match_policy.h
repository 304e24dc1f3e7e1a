// libfw/service/match_policy.h — internal: the redirect table as a DFW
// policy, so that redirect rules share the DFW's validation, compiler and
// classifier (libfw/policy).
//
// Mapping: one stateless section "redirect" in the Application category
// holding the rules in order; kRedirect -> RuleAction::kAllow,
// kDoNotRedirect -> RuleAction::kDrop; the default rule (no match = do not
// redirect) is a kDrop with id kRedirectDefaultRuleId, which no redirect
// rule may use. Services and groups are copied as they are.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>

#include "fw/policy.h"
#include "fw/service.h"

namespace fw::service_internal {

inline constexpr std::uint32_t kRedirectDefaultRuleId = 0xffffffffu;

Policy redirect_match_policy(const RedirectPolicy& policy);

}  // namespace fw::service_internal
