// Redirect policies: bytes -> fw.v1.RedirectPolicy (the policy's parsers,
// libfw/policy/load.cc) -> fw::RedirectPolicy -> every problem.
//
// The match part (services, groups, and the rules' match fields) is the
// DFW's: the rules are decoded and checked as rules of one application
// section of an fw.v1.Policy (match_policy.h; REDIRECT -> ALLOW,
// DO_NOT_REDIRECT -> DROP), so a CIDR or a group reference reads and fails
// exactly as it does in a DFW policy. Profiles, chains, and the rules'
// action and target are decoded and checked here. Problems come out in
// document order: services, groups, profiles, chains, rules; within an
// object, in the order of its fields.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "fw/policy.h"
#include "fw/service.h"
#include "fw/v1/policy.pb.h"
#include "fw/v1/service.pb.h"
#include "libfw/policy/decode.h"
#include "libfw/policy/internal.h"
#include "libfw/service/load_internal.h"
#include "libfw/service/match_policy.h"

namespace fw {
namespace service_internal {
namespace {

using policy_internal::LocatedError;
using policy_internal::ObjectKind;
using policy_internal::quote;

// The NSH service path identifier is 24 bits (RFC 8300).
constexpr std::uint32_t kMaxPathId = (std::uint32_t{1} << 24) - 1;
// A report lists at most this many problems in a Status message.
constexpr std::size_t kMaxListedProblems = 20;

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// What decoding found wrong beyond what the policy decoder reports: the
// value of these fields in the model is a placeholder.
struct ProfileDecodeErrors {
  std::optional<std::string> failure;
  std::optional<std::string> encapsulation;
};
struct RuleDecodeErrors {
  std::optional<std::string> action;
};
struct DecodeErrors {
  // decode_policy()'s, numbered on the match policy as check_located() numbers.
  std::vector<LocatedError> match;
  std::vector<ProfileDecodeErrors> profiles;  // per profile; empty when built in code
  std::vector<RuleDecodeErrors> rules;        // per rule; empty when built in code
};

std::string profile_where(std::size_t index, const std::string& id) {
  if (policy_internal::id_problem(id)) return fmt::format("profiles[{}]", index);
  return "profile " + id;
}
std::string chain_where(std::size_t index, const std::string& id) {
  if (policy_internal::id_problem(id)) return fmt::format("chains[{}]", index);
  return "chain " + id;
}
std::string rule_where(std::size_t index, std::uint32_t id) {
  if (id == 0) return fmt::format("rules[{}]", index);
  return fmt::format("rule {}", id);
}

// The policy checker names a rule without an id by its place in the match
// policy's one section; in a redirect policy it is rules[N].
std::string without_section(std::string text) {
  static constexpr std::string_view kSectionRules = "section redirect rules[";
  for (std::size_t at = text.find(kSectionRules); at != std::string::npos; at = text.find(kSectionRules, at))
    text.replace(at, kSectionRules.size(), "rules[");
  return text;
}

class Checker {
 public:
  Checker(const RedirectPolicy& policy, DecodeErrors decoded) : policy_(policy), decoded_(std::move(decoded)) {}

  std::vector<PolicyError> run() {
    for (std::size_t i = 0; i < policy_.profiles.size(); ++i) add_target(policy_.profiles[i].id, fmt::format("profiles[{}]", i), true);
    for (std::size_t i = 0; i < policy_.chains.size(); ++i) add_target(policy_.chains[i].id, fmt::format("chains[{}]", i), false);

    // The match part, split by object: services and groups come before the
    // profiles, the rules after the chains.
    std::vector<LocatedError> located = policy_internal::check_located(redirect_match_policy(policy_));
    located.insert(located.end(), std::make_move_iterator(decoded_.match.begin()),
                   std::make_move_iterator(decoded_.match.end()));
    std::vector<LocatedError> head, rules, tail;
    for (LocatedError& e : located) {
      switch (e.kind) {
        case ObjectKind::kService:
        case ObjectKind::kGroup: head.push_back(std::move(e)); break;
        case ObjectKind::kRule:
          e.error.where = without_section(std::move(e.error.where));
          e.error.message = without_section(std::move(e.error.message));
          rules.push_back(std::move(e));
          break;
        case ObjectKind::kDefaultRule:
          // The table's default rule is libfw's; a rule that takes its id
          // is told so on the rule (check_rule).
          if (e.error.field == "id") break;
          [[fallthrough]];
        default: tail.push_back(std::move(e)); break;
      }
    }
    for (std::size_t r = 0; r < policy_.rules.size(); ++r) check_rule(r, rules);

    out_ = policy_internal::order_problems(std::move(head));
    if (policy_.profiles.size() > kMaxProfiles)
      add("policy", "profiles", fmt::format("{} profiles; the limit is {}", policy_.profiles.size(), kMaxProfiles));
    for (std::size_t i = 0; i < policy_.profiles.size(); ++i) check_profile(i);
    for (std::size_t i = 0; i < policy_.chains.size(); ++i) check_chain(i);
    for (auto* part : {&rules, &tail}) {
      std::vector<PolicyError> ordered = policy_internal::order_problems(std::move(*part));
      out_.insert(out_.end(), std::make_move_iterator(ordered.begin()), std::make_move_iterator(ordered.end()));
    }
    return std::move(out_);
  }

 private:
  struct Target {
    std::string position;  // "profiles[2]", "chains[0]"
    bool is_profile = false;
  };

  void add_target(const std::string& id, std::string position, bool is_profile) {
    if (targets_.emplace(id, Target{.position = std::move(position), .is_profile = is_profile}).second)
      by_lowercase_.emplace(lowercase(id), id);
  }
  const Target* find_target(const std::string& id) const {
    auto it = targets_.find(id);
    return it == targets_.end() ? nullptr : &it->second;
  }
  // "; did you mean 'IDS'? (ids are case-sensitive)" or "".
  std::string did_you_mean(const std::string& id) const {
    auto it = by_lowercase_.find(lowercase(id));
    if (it == by_lowercase_.end() || it->second == id) return "";
    return fmt::format("; did you mean {}? (ids are case-sensitive)", quote(it->second));
  }

  void add(std::string where, std::string field, std::string message) {
    out_.push_back({.where = std::move(where), .field = std::move(field), .message = std::move(message)});
  }

  // Profile and chain ids: well-formed and unique across both kinds.
  void check_id(const std::string& where, const std::string& id, const std::string& position) {
    if (auto problem = policy_internal::id_problem(id)) {
      add(where, "id", *problem);
    } else if (const Target* first = find_target(id); first && first->position != position) {
      add(where, "id",
          fmt::format("duplicate id {} ({} has it too); profiles and chains share one namespace, since a rule's "
                      "target names either",
                      quote(id), first->position));
    }
  }

  void check_profile(std::size_t i) {
    const ServiceProfile& profile = policy_.profiles[i];
    const std::string where = profile_where(i, profile.id);
    check_id(where, profile.id, fmt::format("profiles[{}]", i));
    const std::size_t n = profile.instances.size();
    if (n == 0) {
      add(where, "instances",
          fmt::format("empty; a profile needs 1 to {} instances (the service's interfaces on this host)",
                      kMaxInstancesPerProfile));
    } else if (n > kMaxInstancesPerProfile) {
      add(where, "instances", fmt::format("{} instances; the limit is {} per profile", n, kMaxInstancesPerProfile));
    }
    std::unordered_map<std::uint32_t, std::size_t> endpoints;  // endpoint -> first position
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t endpoint = profile.instances[k].endpoint;
      const std::string field = fmt::format("instances[{}].endpoint", k);
      if (endpoint == 0) {
        add(where, field, "missing or 0; an endpoint is the host's non-zero handle for the instance");
      } else if (auto [it, fresh] = endpoints.emplace(endpoint, k); !fresh) {
        add(where, field,
            fmt::format("duplicate endpoint {} (instances[{}] has it too); each instance of a profile is a "
                        "different endpoint",
                        endpoint, it->second));
      }
    }
    const ProfileDecodeErrors* decoded = i < decoded_.profiles.size() ? &decoded_.profiles[i] : nullptr;
    if (decoded && decoded->failure) {
      add(where, "failure", *decoded->failure);
    } else if (profile.failure != FailurePolicy::kFailOpen && profile.failure != FailurePolicy::kFailClosed) {
      add(where, "failure",
          fmt::format("{} is not a failure policy; use FAIL_OPEN or FAIL_CLOSED", static_cast<int>(profile.failure)));
    }
    if (decoded && decoded->encapsulation) {
      add(where, "encapsulation", *decoded->encapsulation);
    } else if (profile.encapsulation != ServiceEncapsulation::kNone &&
               profile.encapsulation != ServiceEncapsulation::kNsh) {
      add(where, "encapsulation",
          fmt::format("{} is not an encapsulation; use NONE or NSH", static_cast<int>(profile.encapsulation)));
    }
  }

  void check_chain(std::size_t i) {
    const ServiceChain& chain = policy_.chains[i];
    const std::string where = chain_where(i, chain.id);
    check_id(where, chain.id, fmt::format("chains[{}]", i));
    const std::size_t n = chain.profiles.size();
    if (n == 0) {
      add(where, "profiles", fmt::format("empty; a chain visits 1 to {} profiles", kMaxChainLength));
    } else if (n > kMaxChainLength) {
      add(where, "profiles", fmt::format("{} profiles; a chain visits at most {}", n, kMaxChainLength));
    }
    std::unordered_map<std::string_view, std::size_t> seen;  // profile id -> first position in the chain
    for (std::size_t k = 0; k < n; ++k) {
      const std::string& id = chain.profiles[k];
      const std::string field = fmt::format("profiles[{}]", k);
      const Target* target = find_target(id);
      if (id.empty()) {
        add(where, field, "empty profile id");
      } else if (!target) {
        add(where, field, fmt::format("unknown profile {}{}", quote(id), did_you_mean(id)));
      } else if (!target->is_profile) {
        add(where, field, fmt::format("{} is a chain; a chain lists profiles (chains do not nest)", quote(id)));
      } else if (auto [it, fresh] = seen.emplace(id, k); !fresh) {
        add(where, field,
            fmt::format("profile {} is already hop {} of this chain (profiles[{}]); a chain visits each profile once",
                        quote(id), it->second + 1, it->second));
      }
    }
    if (chain.path_id > kMaxPathId) {
      add(where, "path_id",
          fmt::format("{} is out of range 0-{} (an NSH service path identifier has 24 bits)", chain.path_id,
                      kMaxPathId));
    } else if (chain.path_id != 0) {
      if (auto [it, fresh] = path_ids_.emplace(chain.path_id, i); !fresh)
        add(where, "path_id",
            fmt::format("path_id {} is also chains[{}]'s ({}); give each chain its own, or 0 for one libfw assigns",
                        chain.path_id, it->second, quote(policy_.chains[it->second].id)));
    }
  }

  // The rule's own problems as located ones of the match policy's numbering
  // (services, groups, the section, then rule r), so they merge with the
  // match problems of the same rule in field order.
  void check_rule(std::size_t r, std::vector<LocatedError>& rules) {
    const RedirectRule& rule = policy_.rules[r];
    const std::size_t object = policy_.services.size() + policy_.groups.size() + 1 + r;
    auto add_located = [&](std::string field, std::string message) {
      rules.push_back({.object = object,
                       .kind = ObjectKind::kRule,
                       .error = {.where = rule_where(r, rule.id), .field = std::move(field), .message = std::move(message)},
                       .covers = std::nullopt});
    };
    if (rule.id == kRedirectDefaultRuleId)
      add_located("id", fmt::format("{} is reserved for the table's default rule (no match: do not redirect); use "
                                    "another id",
                                    rule.id));
    const RuleDecodeErrors* decoded = r < decoded_.rules.size() ? &decoded_.rules[r] : nullptr;
    if (decoded && decoded->action) {
      add_located("action", *decoded->action);
      return;  // the target cannot be judged without the action
    }
    switch (rule.action) {
      case RedirectAction::kRedirect:
        if (rule.target.empty()) {
          add_located("target", "empty; a REDIRECT rule names the profile or chain the traffic goes through");
        } else if (!find_target(rule.target)) {
          add_located("target",
                      fmt::format("unknown profile or chain {}{}", quote(rule.target), did_you_mean(rule.target)));
        }
        break;
      case RedirectAction::kDoNotRedirect:
        if (!rule.target.empty())
          add_located("target", fmt::format("DO_NOT_REDIRECT takes no target; remove {} or make the rule a REDIRECT",
                                            quote(rule.target)));
        break;
      default:
        add_located("action", fmt::format("{} is not a redirect action; use REDIRECT or DO_NOT_REDIRECT",
                                          static_cast<int>(rule.action)));
    }
  }

  const RedirectPolicy& policy_;
  DecodeErrors decoded_;
  std::unordered_map<std::string, Target> targets_;          // profile and chain ids -> first of each
  std::unordered_map<std::string, std::string> by_lowercase_;  // for "did you mean"
  std::unordered_map<std::uint32_t, std::size_t> path_ids_;    // non-zero path id -> first chain
  std::vector<PolicyError> out_;
};

// ---- decoding -------------------------------------------------------------------------

struct Decoded {
  RedirectPolicy policy;
  DecodeErrors errors;
};

Decoded decode(const v1::RedirectPolicy& in) {
  Decoded out;
  // The match part through the policy decoder.
  v1::Policy match;
  *match.mutable_services() = in.services();
  *match.mutable_groups() = in.groups();
  v1::Section* section = match.add_application();
  section->set_id("redirect");
  section->set_stateless(true);
  out.errors.rules.resize(static_cast<std::size_t>(in.rules_size()));
  for (int r = 0; r < in.rules_size(); ++r) {
    const v1::RedirectRule& from = in.rules(r);
    v1::Rule* to = section->add_rules();
    to->set_id(from.id());
    to->set_name(from.name());
    if (from.has_sources()) *to->mutable_sources() = from.sources();
    if (from.has_destinations()) *to->mutable_destinations() = from.destinations();
    *to->mutable_services() = from.services();
    *to->mutable_inline_services() = from.inline_services();
    *to->mutable_applied_to_groups() = from.applied_to_groups();
    *to->mutable_applied_to_vnics() = from.applied_to_vnics();
    to->set_direction(from.direction());
    to->set_disabled(from.disabled());
    std::optional<std::string>& action_error = out.errors.rules[static_cast<std::size_t>(r)].action;
    switch (from.action()) {
      case v1::RedirectRule::REDIRECT: to->set_action(v1::Rule::ALLOW); break;
      case v1::RedirectRule::DO_NOT_REDIRECT: to->set_action(v1::Rule::DROP); break;
      case v1::RedirectRule::ACTION_UNSPECIFIED:
        action_error = "missing; every redirect rule says what it does: REDIRECT or DO_NOT_REDIRECT";
        to->set_action(v1::Rule::ALLOW);  // placeholder
        break;
      default:
        action_error = fmt::format("{} is not a redirect action; use REDIRECT or DO_NOT_REDIRECT",
                                   static_cast<int>(from.action()));
        to->set_action(v1::Rule::ALLOW);
    }
  }
  match.mutable_default_rule()->set_action(v1::Rule::DROP);
  match.mutable_default_rule()->set_id(kRedirectDefaultRuleId);
  match.set_revalidation(v1::Policy::KEEP);
  policy_internal::DecodedPolicy decoded = policy_internal::decode_policy(match);
  out.errors.match = std::move(decoded.errors);
  out.policy.services = std::move(decoded.policy.services);
  out.policy.groups = std::move(decoded.policy.groups);
  std::vector<Rule>& rules = decoded.policy.categories[static_cast<std::size_t>(Category::kApplication)][0].rules;
  for (int r = 0; r < in.rules_size(); ++r) {
    Rule& from = rules[static_cast<std::size_t>(r)];
    out.policy.rules.push_back({
        .id = from.id,
        .name = std::move(from.name),
        .sources = std::move(from.sources),
        .destinations = std::move(from.destinations),
        .services = std::move(from.services),
        .inline_services = std::move(from.inline_services),
        .applied_to_groups = std::move(from.applied_to_groups),
        .applied_to_vnics = std::move(from.applied_to_vnics),
        .direction = from.direction,
        .action = in.rules(r).action() == v1::RedirectRule::DO_NOT_REDIRECT ? RedirectAction::kDoNotRedirect
                                                                            : RedirectAction::kRedirect,
        .target = in.rules(r).target(),
        .disabled = from.disabled,
    });
  }

  // Profiles and chains.
  for (const v1::ServiceProfile& from : in.profiles()) {
    ServiceProfile& to = out.policy.profiles.emplace_back();
    ProfileDecodeErrors& errors = out.errors.profiles.emplace_back();
    to.id = from.id();
    to.service = from.service();
    for (const v1::ServiceInstance& instance : from.instances())
      to.instances.push_back({.endpoint = instance.endpoint(), .healthy = !instance.has_healthy() || instance.healthy()});
    switch (from.failure()) {
      case v1::ServiceProfile::FAIL_OPEN: to.failure = FailurePolicy::kFailOpen; break;
      case v1::ServiceProfile::FAIL_CLOSED: to.failure = FailurePolicy::kFailClosed; break;
      case v1::ServiceProfile::FAILURE_POLICY_UNSPECIFIED:
        errors.failure =
            "missing; say FAIL_OPEN (skip the service while it is down: traffic passes uninspected) or "
            "FAIL_CLOSED (drop that traffic)";
        break;
      default:
        errors.failure = fmt::format("{} is not a failure policy; use FAIL_OPEN or FAIL_CLOSED",
                                     static_cast<int>(from.failure()));
    }
    switch (from.encapsulation()) {
      case v1::ServiceProfile::NONE: to.encapsulation = ServiceEncapsulation::kNone; break;
      case v1::ServiceProfile::NSH: to.encapsulation = ServiceEncapsulation::kNsh; break;
      default:
        errors.encapsulation = fmt::format("{} is not an encapsulation; use NONE or NSH",
                                           static_cast<int>(from.encapsulation()));
    }
    to.repin_on_failure = from.repin_on_failure();
  }
  for (const v1::ServiceChain& from : in.chains())
    out.policy.chains.push_back({.id = from.id(), .profiles = {from.profiles().begin(), from.profiles().end()},
                                 .path_id = from.path_id()});
  return out;
}

// ---- encoding -------------------------------------------------------------------------

void encode_entry(const ServiceEntry& from, v1::ServiceEntry& to) {
  if (from.protocol) to.set_protocol(*from.protocol);
  for (const PortRange& p : from.src_ports) to.add_src_ports(policy_internal::port_range_text(p));
  for (const PortRange& p : from.dst_ports) to.add_dst_ports(policy_internal::port_range_text(p));
  if (from.icmp_type) to.set_icmp_type(*from.icmp_type);
  if (from.icmp_code) to.set_icmp_code(*from.icmp_code);
}

void encode_side(const AddressSide& from, v1::AddressSide& to) {
  for (const std::string& g : from.groups) to.add_groups(g);
  for (const Cidr& c : from.cidrs) to.add_cidrs(policy_internal::cidr_text(c));
  for (const IpRange& r : from.ranges) to.add_ranges(policy_internal::range_text(r));
  for (std::uint32_t v : from.vnic_ids) to.add_vnic_ids(v);
  to.set_negate(from.negate);
}

v1::Criterion::Key encode_key(CriterionKey key) {
  switch (key) {
    case CriterionKey::kTag: return v1::Criterion::TAG;
    case CriterionKey::kVmName: return v1::Criterion::VM_NAME;
    case CriterionKey::kOsName: return v1::Criterion::OS_NAME;
    case CriterionKey::kComputerName: return v1::Criterion::COMPUTER_NAME;
  }
  return v1::Criterion::KEY_UNSPECIFIED;
}

v1::Criterion::Operator encode_operator(CriterionOperator op) {
  switch (op) {
    case CriterionOperator::kEquals: return v1::Criterion::EQUALS;
    case CriterionOperator::kNotEquals: return v1::Criterion::NOT_EQUALS;
    case CriterionOperator::kContains: return v1::Criterion::CONTAINS;
    case CriterionOperator::kStartsWith: return v1::Criterion::STARTS_WITH;
    case CriterionOperator::kEndsWith: return v1::Criterion::ENDS_WITH;
    case CriterionOperator::kIn: return v1::Criterion::IN;
    case CriterionOperator::kNotIn: return v1::Criterion::NOT_IN;
    case CriterionOperator::kMatches: return v1::Criterion::MATCHES;
  }
  return v1::Criterion::OPERATOR_UNSPECIFIED;
}

v1::RedirectPolicy encode(const RedirectPolicy& in) {
  v1::RedirectPolicy out;
  for (const Service& from : in.services) {
    v1::Service& to = *out.add_services();
    to.set_id(from.id);
    to.set_name(from.name);
    for (const ServiceEntry& e : from.entries) encode_entry(e, *to.add_entries());
  }
  for (const Group& from : in.groups) {
    v1::Group& to = *out.add_groups();
    to.set_id(from.id);
    to.set_name(from.name);
    for (const Cidr& c : from.cidrs) to.add_cidrs(policy_internal::cidr_text(c));
    for (const IpRange& r : from.ranges) to.add_ranges(policy_internal::range_text(r));
    for (std::uint32_t v : from.vnic_ids) to.add_vnic_ids(v);
    for (const std::string& v : from.vm_ids) to.add_vm_ids(v);
    for (const std::string& g : from.groups) to.add_groups(g);
    for (const CriteriaExpression& expression : from.criteria) {
      v1::CriteriaExpression& e = *to.add_criteria();
      for (const Criterion& c : expression.all_of) {
        v1::Criterion& criterion = *e.add_all_of();
        criterion.set_key(encode_key(c.key));
        criterion.set_operator_(encode_operator(c.op));
        criterion.set_scope(c.scope);
        for (const std::string& v : c.values) criterion.add_values(v);
      }
    }
    for (const Cidr& c : from.exclude_cidrs) to.add_exclude_cidrs(policy_internal::cidr_text(c));
    for (const std::string& v : from.exclude_vm_ids) to.add_exclude_vm_ids(v);
  }
  for (const ServiceProfile& from : in.profiles) {
    v1::ServiceProfile& to = *out.add_profiles();
    to.set_id(from.id);
    to.set_service(from.service);
    for (const ServiceInstance& i : from.instances) {
      v1::ServiceInstance& instance = *to.add_instances();
      instance.set_endpoint(i.endpoint);
      if (!i.healthy) instance.set_healthy(false);
    }
    to.set_failure(from.failure == FailurePolicy::kFailOpen     ? v1::ServiceProfile::FAIL_OPEN
                   : from.failure == FailurePolicy::kFailClosed ? v1::ServiceProfile::FAIL_CLOSED
                                                                : v1::ServiceProfile::FAILURE_POLICY_UNSPECIFIED);
    to.set_encapsulation(from.encapsulation == ServiceEncapsulation::kNsh ? v1::ServiceProfile::NSH
                                                                          : v1::ServiceProfile::NONE);
    to.set_repin_on_failure(from.repin_on_failure);
  }
  for (const ServiceChain& from : in.chains) {
    v1::ServiceChain& to = *out.add_chains();
    to.set_id(from.id);
    for (const std::string& p : from.profiles) to.add_profiles(p);
    to.set_path_id(from.path_id);
  }
  for (const RedirectRule& from : in.rules) {
    v1::RedirectRule& to = *out.add_rules();
    to.set_id(from.id);
    to.set_name(from.name);
    if (!from.sources.is_any() || from.sources.negate) encode_side(from.sources, *to.mutable_sources());
    if (!from.destinations.is_any() || from.destinations.negate) encode_side(from.destinations, *to.mutable_destinations());
    for (const std::string& s : from.services) to.add_services(s);
    for (const ServiceEntry& e : from.inline_services) encode_entry(e, *to.add_inline_services());
    for (const std::string& g : from.applied_to_groups) to.add_applied_to_groups(g);
    for (std::uint32_t v : from.applied_to_vnics) to.add_applied_to_vnics(v);
    to.set_direction(from.direction == RuleDirection::kIn    ? v1::Rule::IN
                     : from.direction == RuleDirection::kOut ? v1::Rule::OUT
                                                             : v1::Rule::IN_OUT);
    to.set_action(from.action == RedirectAction::kRedirect        ? v1::RedirectRule::REDIRECT
                  : from.action == RedirectAction::kDoNotRedirect ? v1::RedirectRule::DO_NOT_REDIRECT
                                                                  : v1::RedirectRule::ACTION_UNSPECIFIED);
    to.set_target(from.target);
    to.set_disabled(from.disabled);
  }
  return out;
}

}  // namespace

RedirectPolicyReport check_redirect_policy_bytes(std::string_view bytes, PolicyFormat format) {
  RedirectPolicyReport report;
  v1::RedirectPolicy message;
  switch (format) {
    case PolicyFormat::kText: report.status = policy_internal::parse_text(bytes, message); break;
    case PolicyFormat::kJson: report.status = policy_internal::parse_json(bytes, message); break;
    case PolicyFormat::kBinary: report.status = policy_internal::parse_binary(bytes, message); break;
  }
  if (!report.status.ok()) return report;
  Decoded decoded = decode(message);
  report.problems = Checker(decoded.policy, std::move(decoded.errors)).run();
  report.policy = std::move(decoded.policy);
  return report;
}

StatusOr<RedirectPolicy> accept_redirect_policy(RedirectPolicyReport report, std::string_view prefix) {
  if (!report.status.ok()) return report.status;
  if (report.problems.empty()) return std::move(*report.policy);
  // Every problem, one per line, as ServiceInsertion::apply() lists them.
  std::string message;
  const std::size_t listed = std::min(report.problems.size(), kMaxListedProblems);
  for (std::size_t i = 0; i < listed; ++i)
    message += fmt::format("{}{}{}", i ? "\n" : "", prefix, report.problems[i].to_string());
  if (listed < report.problems.size())
    message += fmt::format("\n{}... and {} more problems", prefix, report.problems.size() - listed);
  return invalid_argument(std::move(message));
}

std::string write_redirect_policy(const RedirectPolicy& policy, PolicyFormat format) {
  const v1::RedirectPolicy message = encode(policy);
  std::string out;
  switch (format) {
    case PolicyFormat::kText: google::protobuf::TextFormat::PrintToString(message, &out); break;
    case PolicyFormat::kJson: {
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      options.add_whitespace = true;
      static_cast<void>(google::protobuf::util::MessageToJsonString(message, &out, options));
      break;
    }
    case PolicyFormat::kBinary: message.SerializeToString(&out); break;
  }
  return out;
}

}  // namespace service_internal

std::vector<PolicyError> validate_redirect_policy(const RedirectPolicy& policy) {
  return service_internal::Checker(policy, {}).run();
}

StatusOr<RedirectPolicy> parse_redirect_policy_text(std::string_view text) {
  return service_internal::accept_redirect_policy(
      service_internal::check_redirect_policy_bytes(text, PolicyFormat::kText), "");
}

StatusOr<RedirectPolicy> parse_redirect_policy_json(std::string_view json) {
  return service_internal::accept_redirect_policy(
      service_internal::check_redirect_policy_bytes(json, PolicyFormat::kJson), "");
}

StatusOr<RedirectPolicy> load_redirect_policy(const std::string& path) {
  auto bytes = policy_internal::read_policy_file(path);
  if (!bytes.ok()) return bytes.status();
  const PolicyFormat format = policy_format_for_path(path);
  service_internal::RedirectPolicyReport report = service_internal::check_redirect_policy_bytes(*bytes, format);
  if (!report.status.ok()) {
    std::string message = fmt::format("{}: {}", path, report.status.message());
    if (format == PolicyFormat::kText && policy_internal::looks_like_json(*bytes))
      message += " (the file looks like JSON: name it .json)";
    return Status(report.status.code(), std::move(message));
  }
  return service_internal::accept_redirect_policy(std::move(report), path + ": ");
}

}  // namespace fw
