// fwctl check — loads and validates a policy file (fw.v1.Policy) and prints
// either a summary of what it holds or every problem it has, one per line,
// as "FILE: <object>: <field>: <message>". See docs/fwctl.md and
// docs/policy.md.
//
// libfw's parse_policy_*() and load_policy() stop at the first problem;
// check uses fw::check_policy_file() (fw/policy.h), which decodes
// what it can and lists every decoding and validation problem in document
// order, so one run shows everything to fix.
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "examples/fwctl/cli.h"
#include "examples/fwctl/commands.h"
#include "fw/policy.h"

namespace fwctl {
namespace {

using fw::PolicyFormat;

constexpr std::string_view kCommand = "check";

struct CheckOptions {
  std::string policy_path;              // FILE or --policy FILE
  std::optional<PolicyFormat> format;   // nullopt: by extension
  bool quiet = false;                   // no summary on success
};

std::vector<OptionSpec> check_option_specs(CheckOptions& options) {
  return {
      {.name = "policy",
       .value_name = "FILE",
       .help = "the policy file (the same as giving FILE)",
       .apply = [&options](std::string_view v) -> OptionError {
         if (!options.policy_path.empty()) return "the policy file is given twice";
         options.policy_path = v;
         return std::nullopt;
       }},
      {.name = "format",
       .value_name = "FORMAT",
       .help = "text, json or binary (default: by extension: .json, .pb/.bin, else text)",
       .apply = [&options](std::string_view v) -> OptionError {
         options.format = fw::policy_format_from_name(v);
         if (!options.format) return fmt::format("'{}' is not a format; use text, json or binary", v);
         return std::nullopt;
       }},
      {.name = "quiet",
       .value_name = "",
       .help = "print nothing when the policy is valid (problems are still printed)",
       .apply = [&options](std::string_view) -> OptionError {
         options.quiet = true;
         return std::nullopt;
       }},
  };
}

void print_check_help(std::FILE* out, std::span<const OptionSpec> specs) {
  fmt::print(out,
             "Usage: fwctl check FILE [--format text|json|binary] [--quiet]\n"
             "\n"
             "Loads a policy file (fw.v1.Policy: Protobuf text format, JSON or binary) and\n"
             "validates it. A valid policy gets a summary of what it holds; an invalid one\n"
             "gets every problem, one per line on stdout:\n"
             "  FILE: rule 12: sources.cidrs[1]: '10.0.0.0/33': prefix length 33 is out of range 0-32\n"
             "\n"
             "Options:\n");
  print_options(out, specs);
  fmt::print(out,
             "\n"
             "Exit codes: 0 valid, 1 invalid or unreadable, 2 usage error.\n");
}

std::string category_counts(const std::array<std::size_t, fw::kCategoryCount>& counts) {
  std::string out;
  for (std::size_t c = 0; c < fw::kCategoryCount; ++c) {
    out += fmt::format("{}{} {}", c ? ", " : "", fw::category_name(static_cast<fw::Category>(c)), counts[c]);
  }
  return out;
}

void print_summary(const std::string& path, PolicyFormat format, const fw::Policy& policy) {
  std::array<std::size_t, fw::kCategoryCount> sections{}, rules{};
  std::size_t total_sections = 0, total_rules = 0, disabled = 0, logged = 0, stateless = 0;
  for (std::size_t c = 0; c < fw::kCategoryCount; ++c) {
    for (const fw::Section& section : policy.categories[c]) {
      ++sections[c];
      ++total_sections;
      if (section.stateless) ++stateless;
      for (const fw::Rule& rule : section.rules) {
        ++rules[c];
        ++total_rules;
        if (rule.disabled) ++disabled;
        if (rule.logged) ++logged;
      }
    }
  }
  std::size_t with_criteria = 0, with_nested = 0;
  for (const fw::Group& group : policy.groups) {
    if (!group.criteria.empty()) ++with_criteria;
    if (!group.groups.empty()) ++with_nested;
  }
  fmt::print("{}: valid policy ({} format)\n", path, fw::policy_format_name(format));
  fmt::print("  rules     {}: {}; {} disabled, {} logged\n", total_rules, category_counts(rules), disabled, logged);
  fmt::print("  sections  {}: {}; {} stateless\n", total_sections, category_counts(sections), stateless);
  fmt::print("  groups    {}: {} with criteria, {} with nested groups\n", policy.groups.size(), with_criteria,
             with_nested);
  fmt::print("  services  {}\n", policy.services.size());
  fmt::print("  default   rule {} {}; revalidation {}; tcp_strict {}\n", policy.default_rule_id,
             policy.default_action == fw::RuleAction::kDrop ? "DROP" : "ALLOW",
             policy.revalidation == fw::RevalidationMode::kKeep    ? "KEEP"
             : policy.revalidation == fw::RevalidationMode::kReset ? "RESET"
                                                                   : "REVALIDATE",
             policy.tcp_strict ? "on" : "off");
}

int check(const CheckOptions& options) {
  const fw::PolicyReport report =
      fw::check_policy_file(options.policy_path, options.format);
  if (!report.status.ok()) {
    // Unreadable: a runtime error. Unparseable: the one problem, on stdout
    // like the others (its message already names the file).
    if (report.status.code() != fw::StatusCode::kInvalidArgument)
      return runtime_error(kCommand, fmt::format("cannot read the policy: {}", report.status.message()));
    fmt::print("{}\n", report.status.message());
    fmt::print(stderr, "fwctl {}: {}: 1 problem; the policy is refused\n", kCommand, options.policy_path);
    return kExitRuntimeError;
  }
  if (!report.problems.empty()) {
    for (const fw::PolicyError& problem : report.problems) {
      fmt::print("{}: {}\n", options.policy_path, problem.to_string());
    }
    fmt::print(stderr, "fwctl {}: {}: {} problem{}; the policy is refused\n", kCommand, options.policy_path,
               report.problems.size(), report.problems.size() == 1 ? "" : "s");
    return kExitRuntimeError;
  }
  if (!options.quiet) {
    print_summary(options.policy_path,
                  options.format.value_or(fw::policy_format_for_path(options.policy_path)),
                  *report.policy);
  }
  return kExitOk;
}

}  // namespace

int run_check(std::span<const std::string_view> args) {
  CheckOptions options;
  std::vector<OptionSpec> specs = check_option_specs(options);
  // check takes its FILE positionally, the one exception to fwctl's named
  // inputs (docs/fwctl.md), so it parses with the shared toolkit directly.
  ParsedCommandLine parsed;
  if (std::optional<std::string> error = fw::cli::parse_command_line(args, specs, parsed)) {
    return usage_error(kCommand, *error);
  }
  const std::vector<std::string_view>& positional = parsed.positionals;
  if (positional.size() > 1) {
    return usage_error(kCommand, fmt::format("unexpected argument '{}'; check takes one FILE", positional[1]));
  }
  if (parsed.help_requested) {
    print_check_help(stdout, specs);
    return kExitOk;
  }
  if (!positional.empty()) {
    if (!options.policy_path.empty()) return usage_error(kCommand, "the policy file is given twice (FILE and --policy)");
    if (positional[0].empty()) return usage_error(kCommand, "the policy FILE is an empty string");
    options.policy_path = positional[0];
  }
  if (options.policy_path.empty()) return usage_error(kCommand, "missing the policy FILE");
  return check(options);
}

}  // namespace fwctl
