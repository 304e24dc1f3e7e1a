// libfw/policy/internal.h — what the policy sources share: located problems,
// the names of objects in messages, and the checks of single values that
// both the decoder and check_policy() use, so a problem reads the same
// whichever of them finds it.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fw/policy.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace fw::policy_internal {

// Limits (docs/policy.md, "Limits").
inline constexpr std::size_t kMaxRegexLength = 256;       // a MATCHES value
inline constexpr std::uint64_t kMaxRegexStates = 10000;    // its estimated NFA size
inline constexpr std::size_t kMaxCriterionValueLength = 256;
inline constexpr std::size_t kMaxIdLength = 256;          // service, group, section ids
inline constexpr std::size_t kMaxPolicyFileBytes = 64u << 20;
inline constexpr int kMaxJsonDepth = 64;                  // nesting of objects and arrays

// The kind of object a problem belongs to; it says which message of the
// schema its field path is relative to.
enum class ObjectKind : std::uint8_t { kService, kGroup, kSection, kRule, kDefaultRule, kPolicy };

// A problem with the ordinal of its object in document order: services,
// then groups, then each category's sections each followed by its rules,
// then the default rule, then policy-wide fields. The decoder and
// check_located() number objects identically, so their problems merge.
struct LocatedError {
  std::size_t object = 0;
  ObjectKind kind = ObjectKind::kPolicy;
  PolicyError error;
  // Set by the decoder only: check problems of the same object whose field is
  // `*covers` or below it ("entries[0]" covers "entries[0].dst_ports"; ""
  // covers the whole object) are consequences of this one (a placeholder
  // value stood in for what could not be decoded) and are dropped.
  std::optional<std::string> covers;
};

// ---- names used in messages -------------------------------------------------

std::string service_where(std::size_t index, const std::string& id);    // "service dns" / "services[3]"
std::string group_where(std::size_t index, const std::string& id);      // "group web" / "groups[0]"
std::string section_where(Category category, std::size_t index, const std::string& id);
std::string rule_where(const std::string& section_where, std::size_t index, std::uint32_t id);
std::string_view action_name(RuleAction action);           // "ALLOW", as in the files
std::string_view direction_name(RuleDirection direction);  // "IN_OUT"
std::string_view key_name(CriterionKey key);                // "TAG"
std::string_view operator_name(CriterionOperator op);      // "EQUALS"
std::string_view revalidation_name(RevalidationMode mode);  // "REVALIDATE"
std::string protocol_label(std::uint8_t protocol);          // "6 (TCP)", "200"
std::string cidr_text(const Cidr& cidr);                    // "10.0.0.0/8", "-/0" without family
std::string range_text(const IpRange& range);               // "10.0.0.1-10.0.0.9"
std::string port_range_text(const PortRange& range);        // "80", "1024-65535"
// Quotes text for a message, escaping control and non-ASCII bytes.
std::string quote(std::string_view text);

// ---- single-value checks (nullopt = fine) -----------------------------------

// `shown` is the text the user wrote, quoted in the message; empty = the
// value's canonical text.
std::optional<std::string> cidr_problem(const Cidr& cidr, std::string_view shown = {});
std::optional<std::string> range_problem(const IpRange& range, std::string_view shown = {});
std::optional<std::string> port_range_problem(const PortRange& range, std::string_view shown = {});
// Ids of services, groups and sections: non-empty, no whitespace or control
// characters, at most kMaxIdLength bytes.
std::optional<std::string> id_problem(std::string_view id);

// "80" or "1024-65535"; only the syntax and the 0-65535 bound are checked
// here (first > last is left to port_range_problem).
StatusOr<PortRange> parse_port_range(std::string_view text);

// Whether `text` is well-formed UTF-8 (json_check.cc).
bool is_valid_utf8(std::string_view text);

// ---- files (load.cc) ------------------------------------------------------------
//
// Shared with the other policy-like schemas (the redirect policy,
// libfw/service/load.cc) so every policy file reads and fails alike.

// Bytes -> `message` by protobuf's text-format, JSON (after check_json()) and
// binary parsers; kInvalidArgument with line and column (text, JSON), an
// unknown field (binary) or invalid UTF-8 (text).
Status parse_text(std::string_view bytes, google::protobuf::Message& message);
Status parse_json(std::string_view bytes, google::protobuf::Message& message);
Status parse_binary(std::string_view bytes, google::protobuf::Message& message);
// The whole file, at most kMaxPolicyFileBytes: kIoError for a directory or
// an unreadable file, kResourceExhausted past the limit; messages start
// with the path.
StatusOr<std::string> read_policy_file(const std::string& path);
// Whether the first non-blank byte is '{' (a hint for a .textpb that is JSON).
bool looks_like_json(std::string_view bytes);

// ---- validation and ordering -------------------------------------------------

// Every problem check_policy() reports, with its object; unordered.
std::vector<LocatedError> check_located(const Policy& policy);

// Document order: by object, then by the position of the field path in the
// schema (a field declared earlier first; element 0 before element 1). Check
// problems covered by a decoder problem are dropped.
std::vector<PolicyError> order_problems(std::vector<LocatedError> problems);

}  // namespace fw::policy_internal
