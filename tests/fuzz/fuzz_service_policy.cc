// libFuzzer target for redirect-policy files: any byte string is read as
// Protobuf text format, JSON and binary (fw.v1.RedirectPolicy); whatever
// decodes is validated. ASan/UBSan catch memory errors and undefined
// behaviour; the checks below catch the entry points disagreeing with each
// other, and an accepted policy that does not read back, from each format,
// to the same model. Nothing may throw, crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "fw/policy.h"
#include "fw/service.h"
#include "libfw/service/load_internal.h"

namespace {

using fw::PolicyFormat;
using fw::service_internal::check_redirect_policy_bytes;
using fw::service_internal::write_redirect_policy;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_service_policy: invariant violated: %s\n", what);
    std::abort();
  }
}

void check_one(std::string_view bytes, PolicyFormat format) {
  const fw::service_internal::RedirectPolicyReport report = check_redirect_policy_bytes(bytes, format);
  // Binary has no public parse function; load_redirect_policy() reads it
  // through the same report.
  const bool has_parse = format != PolicyFormat::kBinary;
  fw::StatusOr<fw::RedirectPolicy> parsed = fw::invalid_argument("not parsed");
  if (has_parse)
    parsed = format == PolicyFormat::kText ? fw::parse_redirect_policy_text(bytes) : fw::parse_redirect_policy_json(bytes);
  if (!report.status.ok()) {
    require(report.status.code() == fw::StatusCode::kInvalidArgument, "syntax errors are kInvalidArgument");
    require(!report.status.message().empty(), "syntax errors say something");
    require(report.problems.empty() && !report.policy, "no problems or policy after a syntax error");
    if (has_parse)
      require(!parsed.ok() && parsed.status().message() == report.status.message(), "parse_* reports the syntax error");
    return;
  }
  require(report.policy.has_value(), "a parsed policy is decoded");
  for (const fw::PolicyError& problem : report.problems)
    require(!problem.where.empty() && !problem.message.empty(), "problems name the object and say what is wrong");
  if (!report.problems.empty()) {
    if (has_parse) {
      require(!parsed.ok(), "parse_* refuses what the report refuses");
      // (A problem's text may quote a newline, so compare a prefix, not a line.)
      require(parsed.status().message().starts_with(report.problems.front().to_string()),
              "parse_* names the first problem first");
    }
    // The model-level checks also run on a policy with decoding
    // placeholders in it.
    for (const fw::PolicyError& problem : fw::validate_redirect_policy(*report.policy))
      require(!problem.where.empty() && !problem.message.empty(), "validate_redirect_policy problems are complete");
    return;
  }
  if (has_parse) require(parsed.ok() && *parsed == *report.policy, "parse_* accepts what the report accepts");
  require(fw::validate_redirect_policy(*report.policy).empty(), "an accepted policy validates");
  // Written out in every format, it reads back to the same model.
  for (PolicyFormat out : {PolicyFormat::kText, PolicyFormat::kJson, PolicyFormat::kBinary}) {
    const auto again = check_redirect_policy_bytes(write_redirect_policy(*report.policy, out), out);
    require(again.status.ok() && again.problems.empty(), "a written policy reads back without problems");
    require(*again.policy == *report.policy, "a written policy reads back to the same model");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs invalid UTF-8 in binary input to stderr; the fuzzer does
  // not need to read it.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (PolicyFormat format : {PolicyFormat::kText, PolicyFormat::kJson, PolicyFormat::kBinary}) check_one(bytes, format);
  return 0;
}
