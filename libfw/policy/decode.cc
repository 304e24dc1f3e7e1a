// fw.v1.Policy -> fw::Policy; see decode.h. The walk numbers objects exactly
// as check_located() does (services, groups, sections each followed by its
// rules per category, default rule, policy) so their problems interleave in
// document order.
#include "libfw/policy/decode.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>

namespace fw::policy_internal {
namespace {

class Decoder {
 public:
  DecodedPolicy run(const v1::Policy& in) {
    Policy& out = result_.policy;
    for (int i = 0; i < in.services_size(); ++i) out.services.push_back(service(static_cast<std::size_t>(i), in.services(i)));
    for (int i = 0; i < in.groups_size(); ++i) out.groups.push_back(group(static_cast<std::size_t>(i), in.groups(i)));
    const google::protobuf::RepeatedPtrField<v1::Section>* categories[kCategoryCount] = {
        &in.ethernet(), &in.emergency(), &in.infrastructure(), &in.environment(), &in.application()};
    for (std::size_t c = 0; c < kCategoryCount; ++c) {
      for (int s = 0; s < categories[c]->size(); ++s)
        out.categories[c].push_back(section(static_cast<Category>(c), static_cast<std::size_t>(s), categories[c]->Get(s)));
    }
    default_rule(in);
    begin(ObjectKind::kPolicy, "policy");
    switch (in.revalidation()) {
      case v1::Policy::REVALIDATION_UNSPECIFIED:
      case v1::Policy::REVALIDATE: out.revalidation = RevalidationMode::kRevalidate; break;
      case v1::Policy::KEEP: out.revalidation = RevalidationMode::kKeep; break;
      case v1::Policy::RESET: out.revalidation = RevalidationMode::kReset; break;
      default: error("revalidation", fmt::format("{} is not a revalidation mode; use KEEP, REVALIDATE or RESET",
                                                 static_cast<int>(in.revalidation())));
    }
    out.tcp_strict = in.tcp_strict();
    return std::move(result_);
  }

 private:
  void begin(ObjectKind kind, std::string where) {
    if (started_) ++object_;
    started_ = true;
    kind_ = kind;
    where_ = std::move(where);
  }
  // `covers`: the field path whose check problems this error makes moot
  // (default: the field itself).
  void error(std::string field, std::string message, std::optional<std::string> covers = std::nullopt) {
    std::string covered = covers ? std::move(*covers) : field;
    result_.errors.push_back({.object = object_,
                              .kind = kind_,
                              .error = {.where = where_, .field = std::move(field), .message = std::move(message)},
                              .covers = std::move(covered)});
  }

  std::optional<std::uint8_t> byte(std::uint32_t value, const std::string& field, std::string_view what,
                                   const std::string& covers) {
    if (value <= 255) return static_cast<std::uint8_t>(value);
    error(field, fmt::format("{} is not {} (0-255)", value, what), covers);
    return std::nullopt;
  }

  std::vector<Cidr> cidrs(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& field) {
    std::vector<Cidr> out;
    for (int k = 0; k < in.size(); ++k) {
      auto cidr = parse_cidr(in.Get(k));
      if (!cidr.ok()) error(fmt::format("{}[{}]", field, k), cidr.status().message());
      out.push_back(cidr.ok() ? *cidr : Cidr{});  // placeholder: no family; family checks skip it
    }
    return out;
  }

  std::vector<IpRange> ranges(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& field) {
    std::vector<IpRange> out;
    for (int k = 0; k < in.size(); ++k) {
      auto range = parse_ip_range(in.Get(k));
      if (!range.ok()) error(fmt::format("{}[{}]", field, k), range.status().message());
      out.push_back(range.ok() ? *range : IpRange{});
    }
    return out;
  }

  std::vector<PortRange> ports(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& field) {
    std::vector<PortRange> out;
    for (int k = 0; k < in.size(); ++k) {
      auto range = parse_port_range(in.Get(k));
      if (!range.ok()) error(fmt::format("{}[{}]", field, k), range.status().message());
      out.push_back(range.ok() ? *range : PortRange{});
    }
    return out;
  }

  static std::vector<std::string> strings(const google::protobuf::RepeatedPtrField<std::string>& in) {
    return {in.begin(), in.end()};
  }
  static std::vector<std::uint32_t> numbers(const google::protobuf::RepeatedField<std::uint32_t>& in) {
    return {in.begin(), in.end()};
  }

  ServiceEntry entry(const v1::ServiceEntry& in, const std::string& prefix) {
    ServiceEntry out;
    // A protocol that is not a protocol leaves the entry meaningless: its
    // ports and ICMP fields are not checked against a guess.
    if (in.has_protocol()) out.protocol = byte(in.protocol(), prefix + ".protocol", "an IP protocol number", prefix);
    out.src_ports = ports(in.src_ports(), prefix + ".src_ports");
    out.dst_ports = ports(in.dst_ports(), prefix + ".dst_ports");
    if (in.has_icmp_type()) out.icmp_type = byte(in.icmp_type(), prefix + ".icmp_type", "an ICMP type", prefix + ".icmp_type");
    if (in.has_icmp_code()) out.icmp_code = byte(in.icmp_code(), prefix + ".icmp_code", "an ICMP code", prefix + ".icmp_code");
    return out;
  }

  Service service(std::size_t i, const v1::Service& in) {
    begin(ObjectKind::kService, service_where(i, in.id()));
    Service out{.id = in.id(), .name = in.name(), .entries = {}};
    for (int e = 0; e < in.entries_size(); ++e) out.entries.push_back(entry(in.entries(e), fmt::format("entries[{}]", e)));
    return out;
  }

  Criterion criterion(const v1::Criterion& in, const std::string& prefix) {
    Criterion out;
    switch (in.key()) {
      case v1::Criterion::TAG: out.key = CriterionKey::kTag; break;
      case v1::Criterion::VM_NAME: out.key = CriterionKey::kVmName; break;
      case v1::Criterion::OS_NAME: out.key = CriterionKey::kOsName; break;
      case v1::Criterion::COMPUTER_NAME: out.key = CriterionKey::kComputerName; break;
      case v1::Criterion::KEY_UNSPECIFIED:
        error(prefix + ".key", "missing; say TAG, VM_NAME, OS_NAME or COMPUTER_NAME", prefix);
        break;
      default:
        error(prefix + ".key",
              fmt::format("{} is not a criterion key; use TAG, VM_NAME, OS_NAME or COMPUTER_NAME", static_cast<int>(in.key())),
              prefix);
    }
    switch (in.operator_()) {
      case v1::Criterion::EQUALS: out.op = CriterionOperator::kEquals; break;
      case v1::Criterion::NOT_EQUALS: out.op = CriterionOperator::kNotEquals; break;
      case v1::Criterion::CONTAINS: out.op = CriterionOperator::kContains; break;
      case v1::Criterion::STARTS_WITH: out.op = CriterionOperator::kStartsWith; break;
      case v1::Criterion::ENDS_WITH: out.op = CriterionOperator::kEndsWith; break;
      case v1::Criterion::IN: out.op = CriterionOperator::kIn; break;
      case v1::Criterion::NOT_IN: out.op = CriterionOperator::kNotIn; break;
      case v1::Criterion::MATCHES: out.op = CriterionOperator::kMatches; break;
      case v1::Criterion::OPERATOR_UNSPECIFIED:
        error(prefix + ".operator",
              "missing; say EQUALS, NOT_EQUALS, CONTAINS, STARTS_WITH, ENDS_WITH, IN, NOT_IN or MATCHES", prefix);
        break;
      default:
        error(prefix + ".operator", fmt::format("{} is not a criterion operator", static_cast<int>(in.operator_())),
              prefix);
    }
    out.scope = in.scope();
    out.values = strings(in.values());
    return out;
  }

  Group group(std::size_t i, const v1::Group& in) {
    begin(ObjectKind::kGroup, group_where(i, in.id()));
    Group out;
    out.id = in.id();
    out.name = in.name();
    out.cidrs = cidrs(in.cidrs(), "cidrs");
    out.ranges = ranges(in.ranges(), "ranges");
    out.vnic_ids = numbers(in.vnic_ids());
    out.vm_ids = strings(in.vm_ids());
    out.groups = strings(in.groups());
    for (int e = 0; e < in.criteria_size(); ++e) {
      CriteriaExpression expression;
      for (int k = 0; k < in.criteria(e).all_of_size(); ++k)
        expression.all_of.push_back(criterion(in.criteria(e).all_of(k), fmt::format("criteria[{}].all_of[{}]", e, k)));
      out.criteria.push_back(std::move(expression));
    }
    out.exclude_cidrs = cidrs(in.exclude_cidrs(), "exclude_cidrs");
    out.exclude_vm_ids = strings(in.exclude_vm_ids());
    return out;
  }

  AddressSide side(const v1::AddressSide& in, const std::string& name) {
    AddressSide out;
    out.groups = strings(in.groups());
    out.cidrs = cidrs(in.cidrs(), name + ".cidrs");
    out.ranges = ranges(in.ranges(), name + ".ranges");
    out.vnic_ids = numbers(in.vnic_ids());
    out.negate = in.negate();
    return out;
  }

  Rule rule(const std::string& section, std::size_t r, const v1::Rule& in) {
    begin(ObjectKind::kRule, rule_where(section, r, in.id()));
    Rule out;
    out.id = in.id();
    out.name = in.name();
    out.sources = side(in.sources(), "sources");
    out.destinations = side(in.destinations(), "destinations");
    out.services = strings(in.services());
    for (int e = 0; e < in.inline_services_size(); ++e)
      out.inline_services.push_back(entry(in.inline_services(e), fmt::format("inline_services[{}]", e)));
    out.applied_to_groups = strings(in.applied_to_groups());
    out.applied_to_vnics = numbers(in.applied_to_vnics());
    switch (in.direction()) {
      case v1::Rule::IN_OUT: out.direction = RuleDirection::kInOut; break;
      case v1::Rule::IN: out.direction = RuleDirection::kIn; break;
      case v1::Rule::OUT: out.direction = RuleDirection::kOut; break;
      default: error("direction", fmt::format("{} is not a direction; use IN_OUT, IN or OUT", static_cast<int>(in.direction())));
    }
    switch (in.action()) {
      case v1::Rule::ALLOW: out.action = RuleAction::kAllow; break;
      case v1::Rule::DROP: out.action = RuleAction::kDrop; break;
      case v1::Rule::REJECT: out.action = RuleAction::kReject; break;
      case v1::Rule::JUMP_TO_APPLICATION: out.action = RuleAction::kJumpToApplication; break;
      case v1::Rule::ACTION_UNSPECIFIED:
        error("action", "missing; every rule says what it does: ALLOW, DROP, REJECT or JUMP_TO_APPLICATION");
        break;
      default:
        error("action", fmt::format("{} is not an action; use ALLOW, DROP, REJECT or JUMP_TO_APPLICATION",
                                    static_cast<int>(in.action())));
    }
    out.logged = in.logged();
    out.tag = in.tag();
    out.disabled = in.disabled();
    return out;
  }

  Section section(Category category, std::size_t s, const v1::Section& in) {
    const std::string where = section_where(category, s, in.id());
    begin(ObjectKind::kSection, where);
    Section out{.id = in.id(), .name = in.name(), .stateless = in.stateless(), .rules = {}};
    for (int r = 0; r < in.rules_size(); ++r) out.rules.push_back(rule(where, static_cast<std::size_t>(r), in.rules(r)));
    return out;
  }

  void default_rule(const v1::Policy& in) {
    begin(ObjectKind::kDefaultRule, "default_rule");
    Policy& out = result_.policy;
    if (!in.has_default_rule()) {
      error("",
            "missing; every policy ends with a default rule: add default_rule { action: DROP } to deny what no "
            "rule allows, or ALLOW");
      return;
    }
    const v1::DefaultRule& rule = in.default_rule();
    switch (rule.action()) {
      case v1::Rule::ALLOW: out.default_action = RuleAction::kAllow; break;
      case v1::Rule::DROP: out.default_action = RuleAction::kDrop; break;
      // Decoded so that check_policy() says why they are refused.
      case v1::Rule::REJECT: out.default_action = RuleAction::kReject; break;
      case v1::Rule::JUMP_TO_APPLICATION: out.default_action = RuleAction::kJumpToApplication; break;
      case v1::Rule::ACTION_UNSPECIFIED: error("action", "missing; say ALLOW or DROP"); break;
      default: error("action", fmt::format("{} is not an action; use ALLOW or DROP", static_cast<int>(rule.action())));
    }
    if (rule.has_id()) out.default_rule_id = rule.id();
    out.default_logged = rule.logged();
    out.default_tag = rule.tag();
  }

  DecodedPolicy result_;
  std::size_t object_ = 0;
  bool started_ = false;
  ObjectKind kind_ = ObjectKind::kPolicy;
  std::string where_;
};

std::string child_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

// Calls visit(message, path) on the message and every message below it,
// depth first, and returns the first answer it gives.
template <typename Visit>
std::optional<std::string> walk(const google::protobuf::Message& message, const std::string& path, const Visit& visit) {
  if (auto found = visit(message, path)) return found;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(f);
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string name = child_path(path, field->name());
    if (field->is_repeated()) {
      for (int k = 0; k < reflection->FieldSize(message, field); ++k) {
        if (auto found = walk(reflection->GetRepeatedMessage(message, field, k), fmt::format("{}[{}]", name, k), visit))
          return found;
      }
    } else if (reflection->HasField(message, field)) {
      if (auto found = walk(reflection->GetMessage(message, field), name, visit)) return found;
    }
  }
  return std::nullopt;
}

std::optional<std::string> unknown_field_here(const google::protobuf::Message& message, const std::string& path) {
  const google::protobuf::UnknownFieldSet& unknown = message.GetReflection()->GetUnknownFields(message);
  if (unknown.empty()) return std::nullopt;
  return fmt::format("{}field number {} of {} is unknown to this libfw; the policy was written for a newer "
                     "schema (or is not a policy)",
                     path.empty() ? "" : path + ": ", unknown.field(0).number(), message.GetDescriptor()->full_name());
}

std::optional<std::string> invalid_utf8_here(const google::protobuf::Message& message, const std::string& path) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(f);
    if (field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) continue;
    const std::string name = child_path(path, field->name());
    auto bad = [&](const std::string& where) {
      return fmt::format("{}: not valid UTF-8; strings are UTF-8 text", where);
    };
    if (field->is_repeated()) {
      for (int k = 0; k < reflection->FieldSize(message, field); ++k) {
        if (!is_valid_utf8(reflection->GetRepeatedString(message, field, k))) return bad(fmt::format("{}[{}]", name, k));
      }
    } else if (!is_valid_utf8(reflection->GetString(message, field))) {
      return bad(name);
    }
  }
  return std::nullopt;
}

}  // namespace

DecodedPolicy decode_policy(const v1::Policy& message) { return Decoder().run(message); }

std::optional<std::string> find_unknown_field(const google::protobuf::Message& message) {
  return walk(message, "", unknown_field_here);
}

std::optional<std::string> find_invalid_utf8(const google::protobuf::Message& message) {
  return walk(message, "", invalid_utf8_here);
}

}  // namespace fw::policy_internal
