// The redirect table as a DFW policy (match_policy.h).
#include "libfw/service/match_policy.h"

namespace fw::service_internal {

Policy redirect_match_policy(const RedirectPolicy& policy) {
  Policy out;
  out.services = policy.services;
  out.groups = policy.groups;
  Section section;
  section.id = "redirect";
  section.name = "redirect rules";
  section.stateless = true;
  section.rules.reserve(policy.rules.size());
  for (const RedirectRule& r : policy.rules) {
    Rule rule;
    rule.id = r.id;
    rule.name = r.name;
    rule.sources = r.sources;
    rule.destinations = r.destinations;
    rule.services = r.services;
    rule.inline_services = r.inline_services;
    rule.applied_to_groups = r.applied_to_groups;
    rule.applied_to_vnics = r.applied_to_vnics;
    rule.direction = r.direction;
    rule.action = r.action == RedirectAction::kRedirect ? RuleAction::kAllow : RuleAction::kDrop;
    rule.disabled = r.disabled;
    section.rules.push_back(std::move(rule));
  }
  out.categories[static_cast<std::size_t>(Category::kApplication)].push_back(std::move(section));
  out.default_action = RuleAction::kDrop;
  out.default_rule_id = kRedirectDefaultRuleId;
  out.revalidation = RevalidationMode::kKeep;
  return out;
}

}  // namespace fw::service_internal
