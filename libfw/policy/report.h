// libfw/policy/report.h — every problem of a policy file at once, for tools.
//
// parse_policy_*() and load_policy() (fw/policy.h) stop at the first
// problem, as an API that accepts or refuses a policy should. A person
// fixing a file wants them all: check_policy_file() decodes what it can,
// validates everything, and lists every decoding and validation problem in
// document order. `fwctl check` is built on it.
//
// Internal to libfw (the public contract is fw/policy.h); it includes no
// protobuf header.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fw/policy.h"
#include "fw/status.h"

namespace fw::policy_internal {

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

}  // namespace fw::policy_internal
