#include "bench/classbench/policy_classifier.h"

#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

#include "bench/classbench/heap.h"
#include "libfw/policy/compile.h"

namespace classbench {
namespace {

using fw::policy_compile::CompiledPolicy;
using fw::policy_compile::Decision;

// The vNIC and direction every lookup is made for. The vNIC is listed in
// CompileInput::vnics, as the DFW slot lists the vNICs it is installed on,
// so the lookup takes the same by-vNIC path as the slot's.
constexpr std::uint32_t kVnic = 1;
constexpr fw::Direction kDirection = fw::Direction::kFromVm;

bool has_ports(std::uint8_t protocol) { return protocol == 6 || protocol == 17 || protocol == 132; }

fw::AddressSide side_of(const Prefix& p) {
  fw::AddressSide side;
  if (p.len != 0) side.cidrs.push_back(fw::Cidr{fw::IpAddress::v4(p.addr), p.len});
  return side;
}

class PolicyClassifier final : public Classifier {
 public:
  std::string_view name() const noexcept override { return "policy"; }

  fw::Status build(std::span<const Rule> rules) override {
    fw::StatusOr<fw::Policy> policy = policy_from_rules(rules);
    if (!policy.ok()) return policy.status();
    compiled_.reset();
    const std::size_t before = heap_in_use();
    fw::StatusOr<std::unique_ptr<CompiledPolicy>> compiled =
        fw::policy_compile::compile({.policy = &*policy, .vnics = {kVnic}});
    if (!compiled.ok()) return fw::Status(compiled.status().code(), "policy compile: " + compiled.status().message());
    compiled_ = std::move(*compiled);
    held_bytes_ = heap_in_use() - before;
    {
      // The compiled policy keeps a copy of the policy; one more copy
      // measures it.
      const std::size_t copy_before = heap_in_use();
      const fw::Policy copy = *policy;
      policy_copy_bytes_ = heap_in_use() - copy_before;
    }
    keys_.reserve(256);
    decisions_.reserve(256);
    return fw::Status::Ok();
  }

  // The compiled policy's heap less its copy of the fw::Policy, plus the
  // address map's node chunks (mapped outside the heap): the address map,
  // the rule indexes and the rule lists (see the header).
  std::size_t memory_bytes() const noexcept override {
    const std::size_t map = compiled_->address_map().memory_bytes();
    const std::size_t off_heap = compiled_->address_map().off_heap_bytes();
    if (!heap_readable() || held_bytes_ + off_heap < policy_copy_bytes_ + map) return map;
    return held_bytes_ - policy_copy_bytes_ + off_heap;
  }

  void classify(std::span<const Header> burst, std::span<std::int32_t> out) override {
    keys_.resize(burst.size());
    decisions_.resize(burst.size());
    // ClassBench is IPv4: the IPv4 key form (fw::classify::LookupKeyV4).
    // The classifier path (libfw_classifier.cc) measures the general
    // LookupKey.
    for (std::size_t i = 0; i < burst.size(); ++i) {
      fw::classify::LookupKeyV4& k = keys_[i];
      k.src = burst[i].src;
      k.dst = burst[i].dst;
      k.protocol = burst[i].proto;
      k.src_port = burst[i].sport;
      k.dst_port = burst[i].dport;
    }
    compiled_->decide_burst(kVnic, kDirection, keys_, decisions_);
    for (std::size_t i = 0; i < burst.size(); ++i) {
      out[i] = decisions_[i].is_default ? kNoMatch : static_cast<std::int32_t>(decisions_[i].rule_id - 1);
    }
  }

  std::string details() const override {
    const double map = compiled_->address_map().memory_bytes() / 1048576.0;
    if (!heap_readable()) {
      return fmt::format("rule_lists={} classes={} map={:.1f}MiB (heap not readable under a sanitizer: memory = map)",
                         compiled_->rule_lists(), compiled_->address_map().class_count(), map);
    }
    return fmt::format(
        "rule_lists={} classes={} map={:.1f}MiB indexes+lists={:.1f}MiB; plus the policy copy {:.1f}MiB "
        "= {:.1f}MiB held by the compiled policy",
        compiled_->rule_lists(), compiled_->address_map().class_count(), map,
        memory_bytes() / 1048576.0 - map, policy_copy_bytes_ / 1048576.0,
        (held_bytes_ + compiled_->address_map().off_heap_bytes()) / 1048576.0);
  }

 private:
  std::unique_ptr<CompiledPolicy> compiled_;
  std::size_t held_bytes_ = 0;         // heap growth across compile()
  std::size_t policy_copy_bytes_ = 0;  // heap of one copy of the policy
  std::vector<fw::classify::LookupKeyV4> keys_;
  std::vector<Decision> decisions_;
};

}  // namespace

fw::StatusOr<fw::Policy> policy_from_rules(std::span<const Rule> rules) {
  // Ids are i + 1 and must stay below the default rule's id; answers are int32.
  if (rules.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return fw::invalid_argument(fmt::format("policy: {} rules do not fit an int32 rule index", rules.size()));
  }
  fw::Policy policy;
  policy.default_action = fw::RuleAction::kDrop;
  policy.default_rule_id = kClassbenchDefaultRuleId;
  fw::Section& section = policy.categories[static_cast<std::size_t>(fw::Category::kApplication)].emplace_back();
  section.id = "classbench";
  section.rules.reserve(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    fw::Rule& rule = section.rules.emplace_back();
    rule.id = static_cast<std::uint32_t>(i + 1);
    rule.action = fw::RuleAction::kAllow;
    rule.sources = side_of(r.src);
    rule.destinations = side_of(r.dst);
    const bool any_sport = r.sport == PortRange{};
    const bool any_dport = r.dport == PortRange{};
    const bool any_protocol = r.proto_mask == kProtoAny;
    if ((!any_sport || !any_dport) && (any_protocol || !has_ports(r.proto))) {
      return fw::invalid_argument(fmt::format(
          "policy: rule index {} ({}): port ranges on {} cannot be expressed as a policy, which has ports on TCP, UDP "
          "and SCTP only (use --path classifier)",
          i, format_rule(r), any_protocol ? "any protocol" : fmt::format("protocol {}", r.proto)));
    }
    // The policy model refuses a rule that can never match a real packet:
    // ICMPv6 between IPv4 addresses. A ClassBench header can carry it.
    if (!any_protocol && r.proto == 58 && (r.src.len != 0 || r.dst.len != 0)) {
      return fw::invalid_argument(fmt::format(
          "policy: rule index {} ({}): protocol 58 (ICMPv6) with IPv4 prefixes cannot be expressed as a policy, "
          "which refuses rules that can never match (use --path classifier)",
          i, format_rule(r)));
    }
    if (!any_protocol) {
      fw::ServiceEntry entry;
      entry.protocol = r.proto;
      if (!any_sport) entry.src_ports.push_back({r.sport.lo, r.sport.hi});
      if (!any_dport) entry.dst_ports.push_back({r.dport.lo, r.dport.hi});
      rule.inline_services.push_back(std::move(entry));
    }
  }
  return policy;
}

std::unique_ptr<Classifier> make_policy_classifier() { return std::make_unique<PolicyClassifier>(); }

}  // namespace classbench
