#include "examples/fwctl/cli.h"

#include <fmt/core.h>

namespace fwctl {

namespace {

const OptionSpec* find_option(std::span<const OptionSpec> specs, std::string_view name) {
  for (const OptionSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> parse_options(std::span<const std::string_view> args,
                                         std::span<const OptionSpec> specs,
                                         ParsedCommandLine& parsed) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help_requested = true;
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return fmt::format("unexpected argument '{}'; inputs are given as --option VALUE", arg);
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (std::size_t eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = find_option(specs, name);
    if (spec == nullptr) return fmt::format("unknown option '--{}'", name);

    std::string_view value;
    if (spec->value_name.empty()) {
      if (inline_value) return fmt::format("option '--{}' takes no value", name);
    } else if (inline_value) {
      value = *inline_value;
    } else {
      // "--pcap --quiet" is a missing value, not a file named "--quiet";
      // a lone "-" is a value (stdout).
      if (i + 1 >= args.size() || (args[i + 1].starts_with("--") && args[i + 1].size() > 2)) {
        return fmt::format("option '--{}' needs a value ({})", name, spec->value_name);
      }
      value = args[++i];
    }
    if (!spec->value_name.empty() && value.empty()) {
      return fmt::format("option '--{}' needs a non-empty value ({})", name, spec->value_name);
    }
    if (OptionError error = spec->apply(value)) {
      return fmt::format("--{}: {}", name, *error);
    }
  }
  return std::nullopt;
}

void print_options(std::FILE* out, std::span<const OptionSpec> specs) {
  for (const OptionSpec& spec : specs) {
    std::string left = spec.value_name.empty()
                           ? fmt::format("--{}", spec.name)
                           : fmt::format("--{} {}", spec.name, spec.value_name);
    fmt::print(out, "  {:<22} {}\n", left, spec.help);
  }
  fmt::print(out, "  {:<22} {}\n", "--help", "show this help");
}

int usage_error(std::string_view command, std::string_view message) {
  fmt::print(stderr, "fwctl {}: {} (see 'fwctl {} --help')\n", command, message, command);
  return kExitUsageError;
}

int runtime_error(std::string_view command, std::string_view message) {
  fmt::print(stderr, "fwctl {}: {}\n", command, message);
  return kExitRuntimeError;
}

}  // namespace fwctl
