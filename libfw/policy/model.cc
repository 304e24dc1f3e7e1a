// The policy model's value parsers (CIDRs, address ranges, ports), the names
// used in messages, and the checks of single values shared by the decoder
// and check_policy().
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "fw/policy.h"
#include "libfw/policy/internal.h"

namespace fw {

namespace policy_internal {
namespace {

std::uint8_t max_prefix_length(IpFamily family) { return family == IpFamily::kIpv4 ? 32 : 128; }
std::size_t address_bytes(IpFamily family) { return family == IpFamily::kIpv4 ? 4 : 16; }

// Whitespace and control characters make inet_pton fail with an unhelpful
// message (or, for NUL, stop early and accept a prefix); say what they are.
std::optional<std::string> stray_character(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '\t') return "contains whitespace";
    if (u < 0x20 || u == 0x7f) return fmt::format("contains the control character \\x{:02x}", u);
  }
  return std::nullopt;
}

StatusOr<IpAddress> parse_address_part(std::string_view whole, std::string_view part) {
  if (part.empty()) return invalid_argument(fmt::format("{}: missing address", quote(whole)));
  auto address = parse_ip(part);
  if (!address.ok()) {
    if (part.size() == whole.size())
      return invalid_argument(fmt::format("{}: not an IPv4 or IPv6 address", quote(whole)));
    return invalid_argument(fmt::format("{}: {} is not an IPv4 or IPv6 address", quote(whole), quote(part)));
  }
  return address;
}

// Lexicographic comparison of the address bytes (network order).
int compare_addresses(const IpAddress& a, const IpAddress& b) {
  for (std::size_t i = 0; i < 16; ++i) {
    if (a.bytes[i] != b.bytes[i]) return a.bytes[i] < b.bytes[i] ? -1 : 1;
  }
  return 0;
}

std::optional<std::string> address_problem(const IpAddress& address, std::string_view shown) {
  if (address.family != IpFamily::kIpv4 && address.family != IpFamily::kIpv6)
    return fmt::format("{}: the address has no family (neither IPv4 nor IPv6)", quote(shown));
  if (address.family == IpFamily::kIpv4) {
    for (std::size_t i = 4; i < 16; ++i) {
      if (address.bytes[i] != 0)
        return fmt::format("{}: an IPv4 address with bytes set past the first four", quote(shown));
    }
  }
  return std::nullopt;
}

// Digits only, no sign; nullopt when not a number or above `max`.
std::optional<std::uint32_t> parse_decimal(std::string_view text, std::uint32_t max, bool& too_big) {
  too_big = false;
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > max) {
      too_big = true;
      // Keep scanning so "99999x" is reported as not a number.
      value = std::uint64_t{max} + 1;
    }
  }
  if (too_big) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

}  // namespace

// ---- names ---------------------------------------------------------------------

std::string quote(std::string_view text) {
  constexpr std::size_t kShown = 80;
  std::string out = "'";
  const std::size_t n = text.size() > kShown ? kShown - 3 : text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f || text[i] == '\\' || text[i] == '\'') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += text[i];
    }
  }
  if (n < text.size()) out += "...";
  out += "'";
  return out;
}

std::string service_where(std::size_t index, const std::string& id) {
  if (id_problem(id)) return fmt::format("services[{}]", index);
  return "service " + id;
}

std::string group_where(std::size_t index, const std::string& id) {
  if (id_problem(id)) return fmt::format("groups[{}]", index);
  return "group " + id;
}

std::string section_where(Category category, std::size_t index, const std::string& id) {
  if (id_problem(id)) return fmt::format("{}[{}]", category_name(category), index);
  return "section " + id;
}

std::string rule_where(const std::string& section, std::size_t index, std::uint32_t id) {
  if (id == 0) return fmt::format("{} rules[{}]", section, index);
  return fmt::format("rule {}", id);
}

std::string_view action_name(RuleAction action) {
  switch (action) {
    case RuleAction::kAllow: return "ALLOW";
    case RuleAction::kDrop: return "DROP";
    case RuleAction::kReject: return "REJECT";
    case RuleAction::kJumpToApplication: return "JUMP_TO_APPLICATION";
  }
  return "an unknown action";
}

std::string_view direction_name(RuleDirection direction) {
  switch (direction) {
    case RuleDirection::kInOut: return "IN_OUT";
    case RuleDirection::kIn: return "IN";
    case RuleDirection::kOut: return "OUT";
  }
  return "an unknown direction";
}

std::string_view key_name(CriterionKey key) {
  switch (key) {
    case CriterionKey::kTag: return "TAG";
    case CriterionKey::kVmName: return "VM_NAME";
    case CriterionKey::kOsName: return "OS_NAME";
    case CriterionKey::kComputerName: return "COMPUTER_NAME";
  }
  return "an unknown key";
}

std::string_view operator_name(CriterionOperator op) {
  switch (op) {
    case CriterionOperator::kEquals: return "EQUALS";
    case CriterionOperator::kNotEquals: return "NOT_EQUALS";
    case CriterionOperator::kContains: return "CONTAINS";
    case CriterionOperator::kStartsWith: return "STARTS_WITH";
    case CriterionOperator::kEndsWith: return "ENDS_WITH";
    case CriterionOperator::kIn: return "IN";
    case CriterionOperator::kNotIn: return "NOT_IN";
    case CriterionOperator::kMatches: return "MATCHES";
  }
  return "an unknown operator";
}

std::string_view revalidation_name(RevalidationMode mode) {
  switch (mode) {
    case RevalidationMode::kKeep: return "KEEP";
    case RevalidationMode::kRevalidate: return "REVALIDATE";
    case RevalidationMode::kReset: return "RESET";
  }
  return "an unknown mode";
}

std::string protocol_label(std::uint8_t protocol) {
  std::string_view name;
  switch (protocol) {
    case 1: name = "ICMP"; break;
    case 2: name = "IGMP"; break;
    case 4: name = "IP-in-IP"; break;
    case 6: name = "TCP"; break;
    case 17: name = "UDP"; break;
    case 41: name = "IPv6-in-IP"; break;
    case 47: name = "GRE"; break;
    case 50: name = "ESP"; break;
    case 51: name = "AH"; break;
    case 58: name = "ICMPv6"; break;
    case 89: name = "OSPF"; break;
    case 103: name = "PIM"; break;
    case 112: name = "VRRP"; break;
    case 132: name = "SCTP"; break;
    default: return fmt::format("{}", protocol);
  }
  return fmt::format("{} ({})", protocol, name);
}

std::string cidr_text(const Cidr& cidr) {
  return fmt::format("{}/{}", cidr.address.to_string(), cidr.prefix_length);
}

std::string range_text(const IpRange& range) {
  return fmt::format("{}-{}", range.first.to_string(), range.last.to_string());
}

std::string port_range_text(const PortRange& range) {
  if (range.first == range.last) return fmt::format("{}", range.first);
  return fmt::format("{}-{}", range.first, range.last);
}

// ---- single-value checks ---------------------------------------------------------

// The text of a value is made only for a problem: the checks run on every
// address the DFW's group calls receive, where formatting it would cost more
// than the change itself.
std::optional<std::string> cidr_problem(const Cidr& cidr, std::string_view shown) {
  auto text = [&] { return shown.empty() ? cidr_text(cidr) : std::string(shown); };
  if (address_problem(cidr.address, {})) return address_problem(cidr.address, text());
  const std::uint8_t max = max_prefix_length(cidr.address.family);
  if (cidr.prefix_length > max)
    return fmt::format("{}: prefix length {} is out of range 0-{}", quote(text()), cidr.prefix_length, max);
  // Host bits: any bit past the prefix.
  Cidr network = cidr;
  bool host_bits = false;
  for (std::size_t i = 0; i < address_bytes(cidr.address.family); ++i) {
    const int bits_in_prefix = std::clamp(static_cast<int>(cidr.prefix_length) - static_cast<int>(i * 8), 0, 8);
    const auto keep = static_cast<std::uint8_t>(0xff00u >> bits_in_prefix);
    if ((network.address.bytes[i] & ~keep & 0xff) != 0) host_bits = true;
    network.address.bytes[i] &= keep;
  }
  if (host_bits)
    return fmt::format("{}: host bits set; did you mean {}?", quote(text()), cidr_text(network));
  return std::nullopt;
}

std::optional<std::string> range_problem(const IpRange& range, std::string_view shown) {
  const std::string text = shown.empty() ? range_text(range) : std::string(shown);
  if (auto problem = address_problem(range.first, text)) return problem;
  if (auto problem = address_problem(range.last, text)) return problem;
  if (range.first.family != range.last.family)
    return fmt::format("{}: mixes IPv4 and IPv6; a range has one family", quote(text));
  if (compare_addresses(range.first, range.last) > 0)
    return fmt::format("{}: first address {} is greater than last address {}", quote(text),
                       range.first.to_string(), range.last.to_string());
  return std::nullopt;
}

std::optional<std::string> port_range_problem(const PortRange& range, std::string_view shown) {
  if (range.first <= range.last) return std::nullopt;
  const std::string text = shown.empty() ? fmt::format("{}-{}", range.first, range.last) : std::string(shown);
  return fmt::format("{}: first port {} is greater than last port {}", quote(text), range.first, range.last);
}

std::optional<std::string> id_problem(std::string_view id) {
  if (id.empty()) return "empty id; every object needs a unique id";
  if (id.size() > kMaxIdLength)
    return fmt::format("id of {} bytes; the limit is {}", id.size(), kMaxIdLength);
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f)
      return fmt::format("id {} contains whitespace or a control character; ids are single tokens", quote(id));
  }
  return std::nullopt;
}

StatusOr<PortRange> parse_port_range(std::string_view text) {
  auto bad = [&] {
    return invalid_argument(fmt::format("{}: not a port or port range; write 80 or 1024-65535", quote(text)));
  };
  if (text.empty()) return invalid_argument("empty port; write 80 or 1024-65535");
  const std::size_t dash = text.find('-');
  const std::string_view first_text = text.substr(0, dash);
  const std::string_view last_text = dash == std::string_view::npos ? first_text : text.substr(dash + 1);
  PortRange range;
  bool too_big = false;
  for (auto [part, out] : {std::pair{first_text, &range.first}, std::pair{last_text, &range.last}}) {
    auto value = parse_decimal(part, 65535, too_big);
    if (too_big && part.size() <= 10 && part.find_first_not_of("0123456789") == std::string_view::npos)
      return invalid_argument(fmt::format("{}: port {} is out of range 0-65535", quote(text), part));
    if (!value) return bad();
    *out = static_cast<std::uint16_t>(*value);
  }
  return range;
}

}  // namespace policy_internal

using namespace policy_internal;

std::string_view category_name(Category c) noexcept {
  switch (c) {
    case Category::kEthernet: return "ethernet";
    case Category::kEmergency: return "emergency";
    case Category::kInfrastructure: return "infrastructure";
    case Category::kEnvironment: return "environment";
    case Category::kApplication: return "application";
  }
  return "unknown";
}

std::string PolicyError::to_string() const {
  std::string out = where;
  if (!field.empty()) {
    out += ": ";
    out += field;
  }
  out += ": ";
  out += message;
  return out;
}

StatusOr<Cidr> parse_cidr(std::string_view text) {
  if (text.empty()) return invalid_argument("empty address; write 10.0.0.0/8, 2001:db8::/32 or 10.0.0.1");
  if (auto stray = stray_character(text)) return invalid_argument(fmt::format("{}: {}", quote(text), *stray));
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos && text.find('-') != std::string_view::npos)
    return invalid_argument(
        fmt::format("{}: not an IPv4 or IPv6 address; an address range FIRST-LAST belongs in ranges", quote(text)));
  auto address = parse_address_part(text, text.substr(0, slash));
  if (!address.ok()) return address.status();
  Cidr cidr{.address = *address, .prefix_length = max_prefix_length(address->family)};
  if (slash != std::string_view::npos) {
    const std::string_view length_text = text.substr(slash + 1);
    if (length_text.empty())
      return invalid_argument(fmt::format("{}: missing prefix length after '/'", quote(text)));
    bool too_big = false;
    auto length = parse_decimal(length_text, 255, too_big);
    const std::uint8_t max = max_prefix_length(address->family);
    if (!length && too_big && length_text.size() <= 10)
      return invalid_argument(fmt::format("{}: prefix length {} is out of range 0-{}", quote(text), length_text, max));
    if (!length)
      return invalid_argument(fmt::format("{}: {} is not a prefix length (0-{})", quote(text), quote(length_text), max));
    cidr.prefix_length = static_cast<std::uint8_t>(*length);
  }
  if (auto problem = cidr_problem(cidr, text)) return invalid_argument(*problem);
  return cidr;
}

StatusOr<IpRange> parse_ip_range(std::string_view text) {
  if (text.empty()) return invalid_argument("empty address range; write 10.0.0.1-10.0.0.9");
  if (auto stray = stray_character(text)) return invalid_argument(fmt::format("{}: {}", quote(text), *stray));
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos)
    return invalid_argument(
        fmt::format("{}: not an address range; write FIRST-LAST, e.g. 10.0.0.1-10.0.0.9", quote(text)));
  auto first = parse_address_part(text, text.substr(0, dash));
  if (!first.ok()) return first.status();
  auto last = parse_address_part(text, text.substr(dash + 1));
  if (!last.ok()) return last.status();
  IpRange range{.first = *first, .last = *last};
  if (auto problem = range_problem(range, text)) return invalid_argument(*problem);
  return range;
}

}  // namespace fw
