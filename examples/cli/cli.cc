#include "examples/cli/cli.h"

#include <charconv>

#include <fmt/core.h>

namespace fw::cli {
namespace {

const OptionSpec* find_option(std::span<const OptionSpec> specs, std::string_view name) {
  for (const OptionSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> parse_command_line(std::span<const std::string_view> args,
                                              std::span<const OptionSpec> specs,
                                              CommandLine& parsed) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help_requested = true;
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      if (arg.starts_with("-") && arg.size() > 1) {
        return fmt::format("unknown option '{}' (options are --long-names)", arg);
      }
      parsed.positionals.push_back(arg);
      continue;
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
      // "--passes --no-peer" is a missing value, not a value "--no-peer".
      if (i + 1 >= args.size() || (args[i + 1].starts_with("--") && args[i + 1].size() > 2)) {
        return fmt::format("option '--{}' needs a value ({})", name, spec->value_name);
      }
      value = args[++i];
    }
    if (!spec->value_name.empty() && value.empty()) {
      return fmt::format("option '--{}' needs a non-empty value ({})", name, spec->value_name);
    }
    if (OptionError error = spec->apply(value)) return fmt::format("--{}: {}", name, *error);
  }
  return std::nullopt;
}

void print_options(std::FILE* out, std::span<const OptionSpec> specs) {
  for (const OptionSpec& spec : specs) {
    std::string left = spec.value_name.empty()
                           ? fmt::format("--{}", spec.name)
                           : fmt::format("--{} {}", spec.name, spec.value_name);
    fmt::print(out, "  {:<26} {}\n", left, spec.help);
  }
  fmt::print(out, "  {:<26} {}\n", "--help", "show this help");
}

OptionError parse_count(std::string_view text, std::size_t min, std::size_t max,
                        std::size_t& out) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return fmt::format("'{}' is not a whole number in {}..{}", text, min, max);
  }
  out = value;
  return std::nullopt;
}

int usage_error(std::string_view tool, std::string_view command, std::string_view message) {
  fmt::print(stderr, "{} {}: {} (see '{} {} --help')\n", tool, command, message, tool, command);
  return kExitUsageError;
}

int failure(std::string_view tool, std::string_view command, std::string_view message) {
  fmt::print(stderr, "{} {}: {}\n", tool, command, message);
  return kExitFailure;
}

}  // namespace fw::cli
