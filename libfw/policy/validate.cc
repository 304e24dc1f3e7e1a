// check_policy() and validate_policy(): every rule of docs/policy.md
// ("Validation") over the C++ model, and the document order of problems.
//
// The checks walk the policy once in document order (services, groups, each
// category's sections and rules, the default rule); references may point
// forward, so the id tables are built first. Nothing here allocates per
// packet or runs on the datapath; the cost is linear in the policy plus one
// std::regex compilation per MATCHES value (bounded by kMaxRegexLength).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <exception>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "fw/policy.h"
#include "fw/v1/policy.pb.h"
#include "libfw/policy/internal.h"

namespace fw {
namespace policy_internal {
namespace {

bool protocol_has_ports(std::uint8_t protocol) { return protocol == 6 || protocol == 17 || protocol == 132; }
bool protocol_is_icmp(std::uint8_t protocol) { return protocol == 1 || protocol == 58; }

// The address families a rule side (or a set of services) can match.
struct Families {
  bool v4 = true;
  bool v6 = true;
  bool none() const { return !v4 && !v6; }
  std::string_view only() const { return v4 ? "IPv4" : "IPv6"; }
};

// The families the entries of a service can match: ICMP (1) only IPv4,
// ICMPv6 (58) only IPv6, anything else both.
struct ServiceFamilies {
  bool v4 = false;
  bool v6 = false;
  bool any_entry = false;
  void note(const ServiceEntry& entry) {
    any_entry = true;
    v4 = v4 || entry.protocol != std::uint8_t{58};
    v6 = v6 || entry.protocol != std::uint8_t{1};
  }
  void merge(const ServiceFamilies& other) {
    v4 = v4 || other.v4;
    v6 = v6 || other.v6;
    any_entry = any_entry || other.any_entry;
  }
};

// A side restricted to literal addresses of one family matches only that
// family. Groups, vNICs, negation and "any" can be either; so can a side
// whose literals could not be decoded (no family).
Families side_families(const AddressSide& side) {
  if (side.negate || !side.groups.empty() || !side.vnic_ids.empty()) return {};
  Families f{.v4 = false, .v6 = false};
  auto note = [&f](IpFamily family) {
    if (family == IpFamily::kIpv4) f.v4 = true;
    if (family == IpFamily::kIpv6) f.v6 = true;
  };
  for (const Cidr& cidr : side.cidrs) note(cidr.address.family);
  for (const IpRange& range : side.ranges) {
    if (range.first.family == range.last.family) note(range.first.family);
  }
  if (f.none()) return {};
  return f;
}

// The longest digit run of a brace {m,n} in `pattern` outside bracket
// expressions and escapes, terminated or not. libstdc++'s regex compiler
// reads such counts into a long without an overflow check (undefined
// behaviour past 19 digits), so long runs are refused before compiling.
std::size_t longest_brace_count(std::string_view pattern) {
  std::size_t longest = 0;
  const std::size_t n = pattern.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (c == '[') {
      std::size_t j = i + 1;
      if (j < n && pattern[j] == '^') ++j;
      if (j < n && pattern[j] == ']') ++j;
      while (j < n && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '{') {
      std::size_t run = 0;
      for (std::size_t j = i + 1; j < n && ((pattern[j] >= '0' && pattern[j] <= '9') || pattern[j] == ','); ++j) {
        run = pattern[j] == ',' ? 0 : run + 1;
        longest = std::max(longest, run);
      }
    }
  }
  return longest;
}
constexpr std::size_t kMaxRepetitionDigits = 9;

// A rough count of the NFA states libstdc++ builds for an ECMAScript
// pattern: one per atom; a repetition {m,n} copies what it repeats
// max(m, n) times ({m,} as m + 1); a group is its content plus one.
// Compilation time follows this count, so it is bounded before compiling.
std::uint64_t regex_state_estimate(std::string_view pattern) {
  constexpr std::uint64_t kSaturated = std::uint64_t{1} << 40;
  struct Frame {
    std::uint64_t total = 0;  // finished atoms of this group
    std::uint64_t last = 0;   // the atom a quantifier would repeat
  };
  std::vector<Frame> stack(1);
  auto atom = [&](std::uint64_t states) {
    Frame& f = stack.back();
    f.total = std::min(f.total + f.last, kSaturated);
    f.last = std::min(states, kSaturated);
  };
  const std::size_t n = pattern.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      atom(1);
      ++i;
    } else if (c == '[') {
      atom(1);
      std::size_t j = i + 1;
      if (j < n && pattern[j] == '^') ++j;
      if (j < n && pattern[j] == ']') ++j;
      while (j < n && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(') {
      stack.emplace_back();
      if (i + 1 < n && pattern[i + 1] == '?') i += 2;
    } else if (c == ')' && stack.size() > 1) {
      const Frame group = stack.back();
      stack.pop_back();
      atom(group.total + group.last + 1);
    } else if (c == '|') {
      Frame& f = stack.back();
      f.total = std::min(f.total + f.last, kSaturated);
      f.last = 0;
    } else if (c == '*' || c == '+' || c == '?') {
      stack.back().last += 1;
    } else if (c == '{') {
      std::uint64_t low = 0, high = 0;
      bool comma = false, has_high = false, digits = false;
      std::size_t j = i + 1;
      for (; j < n && pattern[j] != '}'; ++j) {
        const char d = pattern[j];
        if (d == ',' && !comma) {
          comma = true;
        } else if (d >= '0' && d <= '9') {
          std::uint64_t& bound = comma ? high : low;
          bound = std::min<std::uint64_t>(bound * 10 + static_cast<std::uint64_t>(d - '0'), kSaturated);
          digits = true;
          has_high = has_high || comma;
        } else {
          break;
        }
      }
      if (j < n && pattern[j] == '}' && digits) {
        const std::uint64_t copies = std::max<std::uint64_t>(1, has_high ? std::max(low, high) : comma ? low + 1 : low);
        Frame& f = stack.back();
        f.last = std::min(f.last * copies, kSaturated);
        i = j;
      } else {
        atom(1);
      }
    } else {
      atom(1);
    }
  }
  std::uint64_t total = 0;
  for (const Frame& f : stack) total = std::min(total + f.total + f.last, kSaturated);
  return total;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Ids of one kind: index of the first object with each id, and a
// case-insensitive view for "did you mean".
struct IdTable {
  std::unordered_map<std::string, std::size_t> first;
  std::unordered_map<std::string, std::string> by_lowercase;
  void add(const std::string& id, std::size_t index) {
    if (first.emplace(id, index).second) by_lowercase.emplace(lowercase(id), id);
  }
  const std::size_t* find(const std::string& id) const {
    auto it = first.find(id);
    return it == first.end() ? nullptr : &it->second;
  }
};

// A nested-group cycle, reported on the group where the walk re-entered it.
struct Cycle {
  std::size_t edge = 0;  // index in that group's `groups`
  std::string path;      // "a -> b -> c -> a"
};

class Checker {
 public:
  explicit Checker(const Policy& policy) : policy_(policy) {}

  std::vector<LocatedError> run() {
    for (std::size_t i = 0; i < policy_.services.size(); ++i) services_.add(policy_.services[i].id, i);
    for (std::size_t i = 0; i < policy_.groups.size(); ++i) groups_.add(policy_.groups[i].id, i);
    // Per service once, not per reference: a rule may name a service with
    // many entries many times.
    for (const Service& service : policy_.services) {
      ServiceFamilies& families = service_families_.emplace_back();
      for (const ServiceEntry& entry : service.entries) families.note(entry);
    }
    find_cycles();

    for (std::size_t i = 0; i < policy_.services.size(); ++i) check_service(i);
    for (std::size_t i = 0; i < policy_.groups.size(); ++i) check_group(i);
    for (std::size_t c = 0; c < kCategoryCount; ++c) {
      const auto category = static_cast<Category>(c);
      const std::vector<Section>& sections = policy_.categories[c];
      for (std::size_t s = 0; s < sections.size(); ++s) {
        const std::string where = check_section(category, s);
        for (std::size_t r = 0; r < sections[s].rules.size(); ++r) check_rule(category, where, r, sections[s].rules[r]);
      }
    }
    check_default_rule();
    check_policy_fields();
    return std::move(out_);
  }

 private:
  void begin(ObjectKind kind, std::string where) {
    if (started_) ++object_;
    started_ = true;
    kind_ = kind;
    where_ = std::move(where);
  }
  void add(std::string field, std::string message) {
    out_.push_back({.object = object_,
                    .kind = kind_,
                    .error = {.where = where_, .field = std::move(field), .message = std::move(message)}});
  }

  std::string unknown_reference(std::string_view kind, const std::string& id) const {
    const IdTable& same = kind == "group" ? groups_ : services_;
    const IdTable& other = kind == "group" ? services_ : groups_;
    std::string message = fmt::format("unknown {} {}", kind, quote(id));
    if (auto it = same.by_lowercase.find(lowercase(id)); it != same.by_lowercase.end()) {
      message += fmt::format("; did you mean {}? (ids are case-sensitive)", quote(it->second));
    } else if (other.find(id)) {
      message += fmt::format("; {} is a {}", quote(id), kind == "group" ? "service" : "group");
    }
    return message;
  }

  // A list of references to groups or services.
  void check_references(std::string_view kind, const std::vector<std::string>& ids, const std::string& field) {
    const IdTable& table = kind == "group" ? groups_ : services_;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (ids[k].empty()) {
        add(fmt::format("{}[{}]", field, k), fmt::format("empty {} id", kind));
      } else if (!table.find(ids[k])) {
        add(fmt::format("{}[{}]", field, k), unknown_reference(kind, ids[k]));
      }
    }
  }

  void check_cidrs(const std::vector<Cidr>& cidrs, const std::string& field) {
    for (std::size_t k = 0; k < cidrs.size(); ++k) {
      if (auto problem = cidr_problem(cidrs[k])) add(fmt::format("{}[{}]", field, k), *problem);
    }
  }
  void check_ranges(const std::vector<IpRange>& ranges, const std::string& field) {
    for (std::size_t k = 0; k < ranges.size(); ++k) {
      if (auto problem = range_problem(ranges[k])) add(fmt::format("{}[{}]", field, k), *problem);
    }
  }
  void check_non_empty(const std::vector<std::string>& values, const std::string& field, std::string_view what) {
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (values[k].empty()) add(fmt::format("{}[{}]", field, k), fmt::format("empty {}", what));
    }
  }

  // ---- services ----------------------------------------------------------------

  void check_ports(std::uint8_t protocol, const std::vector<PortRange>& ports, const std::string& field) {
    if (ports.empty()) return;
    if (!protocol_has_ports(protocol)) {
      add(field, fmt::format("protocol {} has no ports; ports apply to TCP (6), UDP (17) and SCTP (132)",
                             protocol_label(protocol)));
      return;
    }
    for (std::size_t k = 0; k < ports.size(); ++k) {
      if (auto problem = port_range_problem(ports[k])) add(fmt::format("{}[{}]", field, k), *problem);
    }
  }

  void check_entry(const ServiceEntry& entry, const std::string& prefix) {
    if (!entry.protocol) {
      for (auto [ports, name] : {std::pair{&entry.src_ports, "src_ports"}, std::pair{&entry.dst_ports, "dst_ports"}}) {
        if (!ports->empty())
          add(prefix + "." + name, "ports need a protocol: set protocol to 6 (TCP), 17 (UDP) or 132 (SCTP)");
      }
      if (entry.icmp_type) add(prefix + ".icmp_type", "an ICMP type needs protocol 1 (ICMP) or 58 (ICMPv6)");
      if (entry.icmp_code) add(prefix + ".icmp_code", "an ICMP code needs protocol 1 (ICMP) or 58 (ICMPv6)");
      return;
    }
    const std::uint8_t protocol = *entry.protocol;
    check_ports(protocol, entry.src_ports, prefix + ".src_ports");
    check_ports(protocol, entry.dst_ports, prefix + ".dst_ports");
    if (!protocol_is_icmp(protocol)) {
      for (auto [set, name] : {std::pair{entry.icmp_type.has_value(), "icmp_type"},
                               std::pair{entry.icmp_code.has_value(), "icmp_code"}}) {
        if (set)
          add(prefix + "." + name,
              fmt::format("protocol {} is not ICMP; {} applies to protocol 1 (ICMP) and 58 (ICMPv6)",
                          protocol_label(protocol), name));
      }
    } else if (entry.icmp_code && !entry.icmp_type) {
      add(prefix + ".icmp_code", "a code needs icmp_type too: ICMP codes are defined per type");
    }
  }

  void check_service(std::size_t i) {
    const Service& service = policy_.services[i];
    begin(ObjectKind::kService, service_where(i, service.id));
    if (auto problem = id_problem(service.id)) {
      add("id", *problem);
    } else if (*services_.find(service.id) != i) {
      add("id", fmt::format("duplicate service id {} (services[{}] has it too)", quote(service.id),
                            *services_.find(service.id)));
    }
    if (service.entries.empty())
      add("entries", "empty; a service needs at least one entry (an entry without protocol matches any traffic)");
    for (std::size_t e = 0; e < service.entries.size(); ++e)
      check_entry(service.entries[e], fmt::format("entries[{}]", e));
  }

  // ---- groups ------------------------------------------------------------------

  // Depth-first over nested references, iteratively (a chain of thousands
  // of groups must not exhaust the stack). A reference to a group on the
  // current path closes a cycle.
  void find_cycles() {
    const std::size_t n = policy_.groups.size();
    cycles_.assign(n, {});
    enum : std::uint8_t { kUnseen, kOnPath, kDone };
    std::vector<std::uint8_t> state(n, kUnseen);
    struct Frame {
      std::size_t group;
      std::size_t next_edge;
    };
    std::vector<Frame> path;
    for (std::size_t start = 0; start < n; ++start) {
      if (state[start] != kUnseen) continue;
      state[start] = kOnPath;
      path.push_back({start, 0});
      while (!path.empty()) {
        const std::size_t u = path.back().group;
        const std::vector<std::string>& refs = policy_.groups[u].groups;
        if (path.back().next_edge == refs.size()) {
          state[u] = kDone;
          path.pop_back();
          continue;
        }
        const std::size_t edge = path.back().next_edge++;
        const std::size_t* target = groups_.find(refs[edge]);
        if (!target) continue;
        if (state[*target] == kUnseen) {
          state[*target] = kOnPath;
          path.push_back({*target, 0});
        } else if (state[*target] == kOnPath) {
          std::size_t from = path.size() - 1;
          while (path[from].group != *target) --from;
          // Long cycles are shown by their ends: the first and last few groups.
          constexpr std::size_t kShownEachEnd = 5;
          const std::size_t length = path.size() - from;
          std::string text;
          for (std::size_t k = from; k < path.size(); ++k) {
            const std::size_t step = k - from;
            if (length > 2 * kShownEachEnd + 1 && step == kShownEachEnd) {
              text += fmt::format("({} more) -> ", length - 2 * kShownEachEnd);
              k = path.size() - kShownEachEnd - 1;
              continue;
            }
            text += policy_.groups[path[k].group].id + " -> ";
          }
          text += policy_.groups[*target].id;
          cycles_[*target].push_back({.edge = path[from].next_edge - 1, .path = std::move(text)});
        }
      }
    }
  }

  void check_criterion(const Criterion& criterion, const std::string& prefix) {
    const bool key_known = static_cast<std::uint8_t>(criterion.key) <= static_cast<std::uint8_t>(CriterionKey::kComputerName);
    const bool op_known = static_cast<std::uint8_t>(criterion.op) <= static_cast<std::uint8_t>(CriterionOperator::kMatches);
    if (!key_known) add(prefix + ".key", fmt::format("{} is not a criterion key", static_cast<int>(criterion.key)));
    if (!op_known) add(prefix + ".operator", fmt::format("{} is not a criterion operator", static_cast<int>(criterion.op)));
    if (!criterion.scope.empty() && key_known && criterion.key != CriterionKey::kTag)
      add(prefix + ".scope", fmt::format("only TAG criteria have a scope; remove it ({} has none)", key_name(criterion.key)));
    if (criterion.scope.size() > kMaxCriterionValueLength)
      add(prefix + ".scope", fmt::format("scope of {} bytes; the limit is {}", criterion.scope.size(), kMaxCriterionValueLength));
    if (!op_known) return;

    const std::size_t n = criterion.values.size();
    const std::string_view op = operator_name(criterion.op);
    if (criterion.op == CriterionOperator::kIn || criterion.op == CriterionOperator::kNotIn) {
      if (n == 0) add(prefix + ".values", fmt::format("empty; {} needs at least one value", op));
    } else if (n == 0) {
      add(prefix + ".values", fmt::format("empty; {} needs one value", op));
    } else if (n > 1) {
      add(prefix + ".values",
          fmt::format("{} takes exactly one value, got {}; {}", op, n,
                      criterion.op == CriterionOperator::kMatches ? "combine them into one regex with (a|b)"
                      : criterion.op == CriterionOperator::kNotEquals ? "use NOT_IN for a list"
                                                                       : "use IN for a list"));
    }
    for (std::size_t k = 0; k < n; ++k) {
      const std::string& value = criterion.values[k];
      const std::string field = fmt::format("{}.values[{}]", prefix, k);
      if (value.empty()) {
        add(field, "empty value");
      } else if (criterion.op == CriterionOperator::kMatches) {
        check_regex(value, field);
      } else if (value.size() > kMaxCriterionValueLength) {
        add(field, fmt::format("value of {} bytes; the limit is {}", value.size(), kMaxCriterionValueLength));
      }
    }
  }

  // The groups component matches MATCHES values with std::regex
  // (ECMAScript, case-insensitive); compile it here so a bad pattern is a
  // policy error, not a surprise at evaluation. The length and state
  // bounds keep compilation to a few milliseconds; libstdc++ itself gives
  // up at 100000 states (error_space), which is caught too.
  void check_regex(const std::string& value, const std::string& field) {
    if (value.size() > kMaxRegexLength) {
      add(field, fmt::format("regular expression of {} characters; the limit is {}", value.size(), kMaxRegexLength));
      return;
    }
    if (longest_brace_count(value) > kMaxRepetitionDigits) {
      add(field, fmt::format("{}: regular expression with a repetition count of more than {} digits", quote(value),
                             kMaxRepetitionDigits));
      return;
    }
    if (const std::uint64_t states = regex_state_estimate(value); states > kMaxRegexStates) {
      add(field, fmt::format("{}: regular expression too complex: about {} states once its repetitions are "
                             "expanded; the limit is {}",
                             quote(value), states, kMaxRegexStates));
      return;
    }
    try {
      std::regex compiled(value, std::regex::ECMAScript | std::regex::icase);
      static_cast<void>(compiled);
    } catch (const std::regex_error& e) {
      if (e.code() == std::regex_constants::error_space || e.code() == std::regex_constants::error_complexity) {
        add(field, fmt::format("{}: regular expression too complex (its {{m,n}} repetitions expand beyond the "
                               "matcher's limit); simplify it",
                               quote(value)));
      } else {
        add(field, fmt::format("{}: not a valid ECMAScript regular expression: {}", quote(value), e.what()));
      }
    } catch (const std::exception& e) {
      add(field, fmt::format("{}: cannot compile the regular expression: {}", quote(value), e.what()));
    }
  }

  void check_group(std::size_t i) {
    const Group& group = policy_.groups[i];
    begin(ObjectKind::kGroup, group_where(i, group.id));
    if (auto problem = id_problem(group.id)) {
      add("id", *problem);
    } else if (*groups_.find(group.id) != i) {
      add("id", fmt::format("duplicate group id {} (groups[{}] has it too)", quote(group.id), *groups_.find(group.id)));
    }
    check_cidrs(group.cidrs, "cidrs");
    check_ranges(group.ranges, "ranges");
    check_non_empty(group.vm_ids, "vm_ids", "VM id");
    check_references("group", group.groups, "groups");
    for (const Cycle& cycle : cycles_[i])
      add(fmt::format("groups[{}]", cycle.edge),
          fmt::format("cycle {}; a group cannot contain itself, directly or through nested groups", cycle.path));
    for (std::size_t e = 0; e < group.criteria.size(); ++e) {
      const std::vector<Criterion>& all_of = group.criteria[e].all_of;
      if (all_of.empty())
        add(fmt::format("criteria[{}].all_of", e), "empty; an expression needs at least one criterion");
      for (std::size_t k = 0; k < all_of.size(); ++k)
        check_criterion(all_of[k], fmt::format("criteria[{}].all_of[{}]", e, k));
    }
    check_cidrs(group.exclude_cidrs, "exclude_cidrs");
    check_non_empty(group.exclude_vm_ids, "exclude_vm_ids", "VM id");
  }

  // ---- sections and rules --------------------------------------------------------

  std::string check_section(Category category, std::size_t s) {
    const Section& section = policy_.categories[static_cast<std::size_t>(category)][s];
    std::string where = section_where(category, s, section.id);
    begin(ObjectKind::kSection, where);
    const std::string position = fmt::format("{}[{}]", category_name(category), s);
    if (auto problem = id_problem(section.id)) {
      add("id", *problem);
    } else if (auto [it, fresh] = section_ids_.emplace(section.id, position); !fresh) {
      add("id", fmt::format("duplicate section id {} ({} has it too)", quote(section.id), it->second));
    }
    return where;
  }

  void check_side(const AddressSide& side, const std::string& name) {
    check_references("group", side.groups, name + ".groups");
    check_cidrs(side.cidrs, name + ".cidrs");
    check_ranges(side.ranges, name + ".ranges");
    if (side.negate && side.is_any())
      add(name + ".negate", "negating 'any' matches nothing; list what to negate, or remove negate");
  }

  // Literal addresses of one family on one side and of the other family on
  // the other side, or ICMP of one family against addresses of the other:
  // no packet can match.
  void check_families(const Rule& rule) {
    const Families sources = side_families(rule.sources);
    const Families destinations = side_families(rule.destinations);
    const Families both{.v4 = sources.v4 && destinations.v4, .v6 = sources.v6 && destinations.v6};
    if (both.none()) {
      add("destinations", fmt::format("the rule can never match: its sources are {} only and its destinations {} "
                                      "only (literal addresses, no groups); split it per family",
                                      sources.only(), destinations.only()));
      return;
    }
    if (both.v4 && both.v6) return;
    // The families the services allow; unknown references are reported
    // elsewhere and make the answer unknown.
    ServiceFamilies services;
    for (const ServiceEntry& entry : rule.inline_services) services.note(entry);
    for (const std::string& id : rule.services) {
      const std::size_t* index = services_.find(id);
      if (!index) return;
      services.merge(service_families_[*index]);
    }
    if (!services.any_entry || (services.v4 && both.v4) || (services.v6 && both.v6)) return;
    add(rule.services.empty() ? "inline_services" : "services",
        both.v4 ? "the rule can never match: its services are all ICMPv6 (58) but its addresses are IPv4 only; "
                  "use ICMP (1)"
                : "the rule can never match: its services are all ICMP (1), which is IPv4 only, but its "
                  "addresses are IPv6 only; use ICMPv6 (58)");
  }

  void check_rule(Category category, const std::string& section_where_text, std::size_t r, const Rule& rule) {
    begin(ObjectKind::kRule, rule_where(section_where_text, r, rule.id));
    const std::string position = fmt::format("{} rules[{}]", section_where_text, r);
    if (rule.id == 0) {
      add("id", "rule id 0 is reserved; give every rule a unique non-zero id");
    } else if (auto [it, fresh] = rule_ids_.emplace(rule.id, position); !fresh) {
      add("id", fmt::format("duplicate rule id {} ({} has it too); rule ids are unique across all categories",
                            rule.id, it->second));
    }
    check_side(rule.sources, "sources");
    check_side(rule.destinations, "destinations");
    check_references("service", rule.services, "services");
    for (std::size_t e = 0; e < rule.inline_services.size(); ++e)
      check_entry(rule.inline_services[e], fmt::format("inline_services[{}]", e));
    check_references("group", rule.applied_to_groups, "applied_to_groups");
    if (static_cast<std::uint8_t>(rule.direction) > static_cast<std::uint8_t>(RuleDirection::kOut))
      add("direction", fmt::format("{} is not a direction", static_cast<int>(rule.direction)));
    if (static_cast<std::uint8_t>(rule.action) > static_cast<std::uint8_t>(RuleAction::kJumpToApplication)) {
      add("action", fmt::format("{} is not an action", static_cast<int>(rule.action)));
    } else if (rule.action == RuleAction::kJumpToApplication && category == Category::kApplication) {
      add("action",
          "JUMP_TO_APPLICATION skips to the application category, so it cannot be used inside it; use ALLOW, "
          "DROP or REJECT");
    }
    check_families(rule);
  }

  // ---- the end of the policy -------------------------------------------------------

  void check_default_rule() {
    begin(ObjectKind::kDefaultRule, "default_rule");
    if (policy_.default_action != RuleAction::kAllow && policy_.default_action != RuleAction::kDrop)
      add("action", fmt::format("{} is not allowed for the default rule; use ALLOW or DROP",
                                action_name(policy_.default_action)));
    if (policy_.default_rule_id == 0) {
      add("id", "rule id 0 is reserved; omit id (4294967295) or give a non-zero id");
    } else if (auto it = rule_ids_.find(policy_.default_rule_id); it != rule_ids_.end()) {
      add("id", fmt::format("{} is also the id of {}; the default rule needs its own id", policy_.default_rule_id,
                            it->second));
    }
  }

  void check_policy_fields() {
    begin(ObjectKind::kPolicy, "policy");
    if (static_cast<std::uint8_t>(policy_.revalidation) > static_cast<std::uint8_t>(RevalidationMode::kReset))
      add("revalidation", fmt::format("{} is not a revalidation mode", static_cast<int>(policy_.revalidation)));
  }

  const Policy& policy_;
  IdTable services_;
  IdTable groups_;
  std::vector<ServiceFamilies> service_families_;             // per service
  std::vector<std::vector<Cycle>> cycles_;                    // per group
  std::unordered_map<std::uint32_t, std::string> rule_ids_;  // id -> first "section s rules[i]"
  std::unordered_map<std::string, std::string> section_ids_; // id -> first "category[i]"
  std::vector<LocatedError> out_;
  std::size_t object_ = 0;
  bool started_ = false;
  ObjectKind kind_ = ObjectKind::kPolicy;
  std::string where_;
};

const google::protobuf::Descriptor* descriptor_of(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kService: return v1::Service::descriptor();
    case ObjectKind::kGroup: return v1::Group::descriptor();
    case ObjectKind::kSection: return v1::Section::descriptor();
    case ObjectKind::kRule: return v1::Rule::descriptor();
    case ObjectKind::kDefaultRule: return v1::DefaultRule::descriptor();
    case ObjectKind::kPolicy: return v1::Policy::descriptor();
  }
  return nullptr;
}

// "entries[2].dst_ports[0]" -> {index of entries, 3, index of dst_ports, 1}:
// the field's declaration position in the schema, then the element + 1.
std::vector<int> field_order(ObjectKind kind, std::string_view path) {
  std::vector<int> key;
  const google::protobuf::Descriptor* message = descriptor_of(kind);
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    std::string_view component = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    int element = 0;
    if (const std::size_t bracket = component.find('['); bracket != std::string_view::npos) {
      for (char c : component.substr(bracket + 1)) {
        if (c < '0' || c > '9') break;
        element = std::min(element * 10 + (c - '0'), INT_MAX / 16);
      }
      ++element;
      component = component.substr(0, bracket);
    }
    const google::protobuf::FieldDescriptor* field =
        message ? message->FindFieldByName(std::string(component)) : nullptr;
    key.push_back(field ? field->index() : INT_MAX);
    key.push_back(element);
    message = field ? field->message_type() : nullptr;
  }
  return key;
}

// Whether `field` or a path above it ("" is the whole object) is covered:
// "entries[0].dst_ports[1]" is under "entries[0].dst_ports", "entries[0]",
// "entries" and "".
bool covered_by(std::string_view field, const std::unordered_set<std::string_view>& covers) {
  if (covers.contains(field) || covers.contains(std::string_view())) return true;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if ((field[i] == '.' || field[i] == '[') && covers.contains(field.substr(0, i))) return true;
  }
  return false;
}

}  // namespace

std::vector<LocatedError> check_located(const Policy& policy) { return Checker(policy).run(); }

std::vector<PolicyError> order_problems(std::vector<LocatedError> problems) {
  // Drop check problems that repeat what the decoder reported.
  std::unordered_map<std::size_t, std::unordered_set<std::string_view>> covered_fields;  // by object
  for (const LocatedError& p : problems) {
    if (p.covers) covered_fields[p.object].insert(*p.covers);
  }
  struct Keyed {
    std::size_t object;
    std::vector<int> order;
    std::size_t sequence;
    const LocatedError* problem;
  };
  std::vector<Keyed> kept;
  kept.reserve(problems.size());
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const LocatedError& p = problems[i];
    if (!p.covers) {
      auto it = covered_fields.find(p.object);
      if (it != covered_fields.end() && covered_by(p.error.field, it->second)) continue;
    }
    kept.push_back({p.object, field_order(p.kind, p.error.field), i, &p});
  }
  std::sort(kept.begin(), kept.end(), [](const Keyed& a, const Keyed& b) {
    if (a.object != b.object) return a.object < b.object;
    if (a.order != b.order) return a.order < b.order;
    return a.sequence < b.sequence;
  });
  std::vector<PolicyError> out;
  out.reserve(kept.size());
  for (const Keyed& k : kept) out.push_back(k.problem->error);
  return out;
}

}  // namespace policy_internal

std::vector<PolicyError> check_policy(const Policy& policy) {
  return policy_internal::order_problems(policy_internal::check_located(policy));
}

Status validate_policy(const Policy& policy) {
  std::vector<PolicyError> problems = check_policy(policy);
  if (problems.empty()) return Status::Ok();
  return invalid_argument(problems.front().to_string());
}

}  // namespace fw
