// fw/policy.h — the distributed-firewall policy model (NSX DFW style).
//
// A Policy holds services, groups, and rules in sections under five
// categories evaluated in a fixed order (Ethernet, Emergency, Infrastructure,
// Environment, Application); within a category, sections and their rules are
// evaluated in order; the first matching rule wins; a default rule ends the
// policy. Rules name groups; groups are not expanded into rules.
//
// Usage:
//   fw::StatusOr<fw::Policy> policy = fw::load_policy("policy.textpb");
//   if (!policy.ok()) { print(policy.status()); return; }
//   fw::Status valid = fw::validate_policy(*policy);
//
// Files are Protobuf text format or JSON (protobuf's own parsers) of message
// fw.v1.Policy (libfw/proto/fw/v1/policy.proto); see docs/policy.md.
//
// Thread-safety: plain values; the free functions are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fw/address.h"
#include "fw/status.h"

namespace fw {

// ---- addresses ---------------------------------------------------------------

// An IPv4 or IPv6 CIDR; the address has no bits set past the prefix length.
struct Cidr {
  IpAddress address;
  std::uint8_t prefix_length = 0;  // 0-32 for IPv4, 0-128 for IPv6
  friend bool operator==(const Cidr&, const Cidr&) = default;
};
// An inclusive range of addresses of one family (first <= last).
struct IpRange {
  IpAddress first;
  IpAddress last;
  friend bool operator==(const IpRange&, const IpRange&) = default;
};

StatusOr<Cidr> parse_cidr(std::string_view text);      // "10.0.0.0/8", "2001:db8::/32", "10.0.0.1" (= /32)
StatusOr<IpRange> parse_ip_range(std::string_view text);  // "10.0.0.1-10.0.0.9"

// ---- services ----------------------------------------------------------------

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// One protocol/port (or ICMP type/code) combination.
struct ServiceEntry {
  // IP protocol number; nullopt = any protocol (then no ports or ICMP fields).
  std::optional<std::uint8_t> protocol;
  // TCP/UDP/SCTP only; empty = any port.
  std::vector<PortRange> src_ports;
  std::vector<PortRange> dst_ports;
  // ICMP (1) / ICMPv6 (58) only; nullopt = any.
  std::optional<std::uint8_t> icmp_type;
  std::optional<std::uint8_t> icmp_code;
  friend bool operator==(const ServiceEntry&, const ServiceEntry&) = default;
};

struct Service {
  std::string id;                     // unique among services
  std::string name;
  std::vector<ServiceEntry> entries;  // matches if any entry matches
  friend bool operator==(const Service&, const Service&) = default;
};

// ---- groups -------------------------------------------------------------------

enum class CriterionKey : std::uint8_t { kTag, kVmName, kOsName, kComputerName };
enum class CriterionOperator : std::uint8_t {
  kEquals, kNotEquals, kContains, kStartsWith, kEndsWith, kIn, kNotIn, kMatches
};

// One condition on a VM, e.g. tag EQUALS "web" (scope "tier"). Evaluated
// case-insensitively, as NSX does, by the groups-and-feed component.
struct Criterion {
  CriterionKey key = CriterionKey::kTag;
  CriterionOperator op = CriterionOperator::kEquals;
  std::string scope;                // tag scope (kTag only); empty = any scope
  std::vector<std::string> values;  // one value; several for kIn/kNotIn; a regex for kMatches
  friend bool operator==(const Criterion&, const Criterion&) = default;
};

// Criteria combined with AND; the expressions of a group are OR-ed.
struct CriteriaExpression {
  std::vector<Criterion> all_of;
  friend bool operator==(const CriteriaExpression&, const CriteriaExpression&) = default;
};

struct Group {
  std::string id;  // unique among groups
  std::string name;
  // Static members.
  std::vector<Cidr> cidrs;              // a single address is a /32 or /128
  std::vector<IpRange> ranges;
  std::vector<std::uint32_t> vnic_ids;  // their addresses, as the inventory knows them
  std::vector<std::string> vm_ids;
  std::vector<std::string> groups;      // nested group ids (no cycles)
  // Dynamic membership (evaluated against the inventory).
  std::vector<CriteriaExpression> criteria;  // OR of ANDs; empty = none
  // Members matched by anything above but listed here are excluded.
  std::vector<Cidr> exclude_cidrs;
  std::vector<std::string> exclude_vm_ids;
  friend bool operator==(const Group&, const Group&) = default;
};

// ---- rules --------------------------------------------------------------------

enum class Category : std::uint8_t {
  kEthernet = 0, kEmergency, kInfrastructure, kEnvironment, kApplication
};
inline constexpr std::size_t kCategoryCount = 5;
std::string_view category_name(Category c) noexcept;  // "ethernet", ...

enum class RuleAction : std::uint8_t { kAllow, kDrop, kReject, kJumpToApplication };
enum class RuleDirection : std::uint8_t { kInOut, kIn, kOut };  // in = to the VM

// One side of a rule (sources or destinations): any mix of references and
// literals; empty everything = any. `negate` matches everything else.
struct AddressSide {
  std::vector<std::string> groups;
  std::vector<Cidr> cidrs;
  std::vector<IpRange> ranges;
  std::vector<std::uint32_t> vnic_ids;
  bool negate = false;
  bool is_any() const noexcept {
    return groups.empty() && cidrs.empty() && ranges.empty() && vnic_ids.empty();
  }
  friend bool operator==(const AddressSide&, const AddressSide&) = default;
};

struct Rule {
  std::uint32_t id = 0;  // unique in the policy, non-zero
  std::string name;
  AddressSide sources;
  AddressSide destinations;
  std::vector<std::string> services;         // references; OR-ed with inline ones
  std::vector<ServiceEntry> inline_services; // empty with no references = any
  // Where the rule is enforced: groups and vNIC ids; empty = every vNIC.
  std::vector<std::string> applied_to_groups;
  std::vector<std::uint32_t> applied_to_vnics;
  RuleDirection direction = RuleDirection::kInOut;
  RuleAction action = RuleAction::kAllow;
  bool logged = false;
  std::string tag;  // free text copied into flow logs
  bool disabled = false;
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Section {
  std::string id;  // unique among sections
  std::string name;
  bool stateless = false;  // no connection tracking for its rules
  std::vector<Rule> rules;
  friend bool operator==(const Section&, const Section&) = default;
};

// What happens to an established connection whose admitting policy
// generation is older than the vNIC's current one (see the DFW slot).
enum class RevalidationMode : std::uint8_t { kKeep, kRevalidate, kReset };

struct Policy {
  std::vector<Service> services;
  std::vector<Group> groups;
  // Sections per category, indexed by Category.
  std::vector<Section> categories[kCategoryCount];
  // kAllow or kDrop only. A Policy built in code defaults to allow (the
  // NSX default rule); a policy *file* must state its default rule.
  RuleAction default_action = RuleAction::kAllow;
  std::uint32_t default_rule_id = 0xffffffff;
  bool default_logged = false;  // as Rule::logged, for the default rule
  std::string default_tag;      // as Rule::tag, for the default rule
  RevalidationMode revalidation = RevalidationMode::kRevalidate;
  bool tcp_strict = false;  // refuse mid-stream TCP pickup (conntrack issue)
  friend bool operator==(const Policy&, const Policy&) = default;
};

// ---- files and validation ----------------------------------------------------

// One problem found by check_policy(): where and what.
struct PolicyError {
  std::string where;    // "rule 12", "group web", "service dns", "section s1"
  std::string field;    // "sources.cidrs[1]", "dst_ports[0]", ...
  std::string message;  // "10.0.0.0/33: prefix length 33 is out of range 0-32"
  std::string to_string() const;  // "rule 12: sources.cidrs[1]: ..."
};

// Every problem in the policy, in document order (empty = valid): unknown
// references, nested-group cycles, duplicate ids, bad CIDRs/ranges, port
// ranges with first > last, ports on protocols without ports, ICMP fields on
// non-ICMP protocols, default action other than allow/drop, ...
std::vector<PolicyError> check_policy(const Policy& policy);
// The first problem as kInvalidArgument naming the object and field, or OK.
Status validate_policy(const Policy& policy);

// Parse (syntax and field decoding) and validate. Text format and JSON use
// protobuf's parsers; syntax errors carry line/column.
StatusOr<Policy> parse_policy_text(std::string_view text);
StatusOr<Policy> parse_policy_json(std::string_view json);
StatusOr<Policy> parse_policy_binary(std::string_view bytes);
// Chooses the format by extension: .json -> JSON, .pb/.bin -> binary,
// anything else -> text format.
StatusOr<Policy> load_policy(const std::string& path);

// ---- every problem at once (for tools) ---------------------------------------
//
// parse_policy_*() and load_policy() stop at the first problem, as an API that
// accepts or refuses a policy should. A person fixing a file wants them all:
// check_policy_file() decodes what it can, validates everything, and lists
// every decoding and validation problem in document order (`fwctl check`).

enum class PolicyFormat { kText, kJson, kBinary };

// "text", "json", "binary"; nullopt for anything else.
std::optional<PolicyFormat> policy_format_from_name(std::string_view name);
std::string_view policy_format_name(PolicyFormat format);
// As load_policy(): .json -> JSON, .pb/.bin -> binary, anything else -> text.
PolicyFormat policy_format_for_path(std::string_view path);

struct PolicyReport {
  // Not OK when the input could not be read or parsed at all (I/O error,
  // syntax error with line and column, unknown binary field); then
  // `problems` is empty and `policy` unset.
  Status status;
  // Decoding and validation problems, in document order; empty = valid.
  std::vector<PolicyError> problems;
  // The decoded policy (with placeholders where `problems` says a value
  // could not be decoded); valid only when `problems` is empty.
  std::optional<Policy> policy;
};

PolicyReport check_policy_bytes(std::string_view bytes, PolicyFormat format);
// Reads `path` (status messages start with it); `format` nullopt = by
// extension.
PolicyReport check_policy_file(const std::string& path, std::optional<PolicyFormat> format);

}  // namespace fw
