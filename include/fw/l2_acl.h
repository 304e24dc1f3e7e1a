// fw/l2_acl.h — slot 0: the stateless L2 ACL (NSX's Ethernet category).
//
// Ordered rules on source/destination MAC (with mask), EtherType, VLAN id and
// direction; the first matching rule decides allow or drop; a default rule
// decides the rest. Example — drop everything that is not IPv4, IPv6 or ARP:
//
//   fw::L2AclConfig acl;
//   acl.rules = {{.id = 10, .ethertype = fw::kEtherTypeIpv4},
//                {.id = 11, .ethertype = fw::kEtherTypeIpv6},
//                {.id = 12, .ethertype = fw::kEtherTypeArp}};
//   acl.default_action = fw::L2Action::kDrop;
//   auto filter = fw::make_l2_acl(acl, *engine);
//   if (!filter.ok()) return filter.status();
//   return engine->set_filter(vnic, fw::kSlotL2Acl, *filter);
//
// Matching cost is a linear scan over rules packed as two 64-bit value/mask
// words each, so a rule test is two XOR/AND/compare pairs.
//
// Config files use Protobuf text format (message fw.v1.L2AclConfig in
// libfw/proto/fw/v1/chain.proto); see docs/l2-acl.md.
//
// Thread-safety: make_l2_acl and the parse/load functions are reentrant.
// An L2AclFilter is immutable; rule_hits() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fw/address.h"
#include "fw/filter.h"
#include "fw/status.h"

namespace fw {

class Engine;

struct MacMatch {
  MacAddress address;
  MacAddress mask = MacAddress::from_u64(0xffffffffffffULL);  // all bits must match
};

enum class DirectionMatch : std::uint8_t { kAny = 0, kFromVm, kToVm };
enum class L2Action : std::uint8_t { kAllow = 0, kDrop };

struct L2AclRule {
  std::uint32_t id = 0;                    // unique, non-zero
  std::optional<MacMatch> src_mac;         // nullopt = any
  std::optional<MacMatch> dst_mac;
  std::optional<std::uint16_t> ethertype;  // after VLAN tags; nullopt = any
  std::optional<std::uint16_t> vlan;       // outer VID 1-4094, 0 = untagged, nullopt = any
  DirectionMatch direction = DirectionMatch::kAny;
  L2Action action = L2Action::kAllow;
  std::string name;
};

struct L2AclConfig {
  std::vector<L2AclRule> rules;            // first match wins
  L2Action default_action = L2Action::kAllow;
  std::uint32_t default_rule_id = 0xffffffff;  // reported for default decisions
};

// Hits of one rule summed over workers.
struct RuleHits {
  std::uint32_t rule_id = 0;
  std::uint64_t packets = 0;
};

class L2AclFilter final : public Filter {
 public:
  ~L2AclFilter() override;
  std::string_view kind() const noexcept override { return "l2-acl"; }
  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override;

  const L2AclConfig& config() const noexcept;
  // One entry per rule in order, then the default rule.
  std::vector<RuleHits> rule_hits() const;

  struct Impl;
  explicit L2AclFilter(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Validates and compiles. Errors name the rule id and field, e.g.
// "rule 12: vlan: 4095 is not a VLAN id (0 = untagged, 1-4094)".
StatusOr<std::shared_ptr<const L2AclFilter>> make_l2_acl(const L2AclConfig& config,
                                                         const Engine& engine);
StatusOr<std::shared_ptr<const L2AclFilter>> make_l2_acl(const L2AclConfig& config,
                                                         std::uint32_t max_workers);

// Protobuf text format (fw.v1.L2AclConfig). Errors carry line and column.
StatusOr<L2AclConfig> parse_l2_acl_config(std::string_view text);
StatusOr<L2AclConfig> load_l2_acl_config(const std::string& path);

}  // namespace fw
