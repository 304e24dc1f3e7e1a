// libFuzzer target for policy files: any byte string is read as Protobuf
// text format, JSON and binary (fw.v1.Policy); whatever decodes is
// validated. ASan/UBSan catch memory errors and undefined behaviour; the
// checks below catch the entry points disagreeing with each other. Nothing
// may throw (std::regex does, and must be caught inside), crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "fw/policy.h"
#include "fw/policy.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_policy: invariant violated: %s\n", what);
    std::abort();
  }
}

void check_one(std::string_view bytes, fw::PolicyFormat format) {
  using fw::PolicyFormat;
  const fw::PolicyReport report = fw::check_policy_bytes(bytes, format);
  fw::StatusOr<fw::Policy> parsed = format == PolicyFormat::kText   ? fw::parse_policy_text(bytes)
                                    : format == PolicyFormat::kJson ? fw::parse_policy_json(bytes)
                                                                    : fw::parse_policy_binary(bytes);
  if (!report.status.ok()) {
    require(report.status.code() == fw::StatusCode::kInvalidArgument, "syntax errors are kInvalidArgument");
    require(!report.status.message().empty(), "syntax errors say something");
    require(report.problems.empty() && !report.policy, "no problems or policy after a syntax error");
    require(!parsed.ok() && parsed.status().message() == report.status.message(), "parse_* reports the syntax error");
    return;
  }
  require(report.policy.has_value(), "a parsed policy is decoded");
  for (const fw::PolicyError& problem : report.problems) {
    require(!problem.where.empty() && !problem.message.empty(), "problems name the object and say what is wrong");
  }
  if (report.problems.empty()) {
    require(parsed.ok(), "parse_* accepts what the report accepts");
    require(fw::check_policy(*parsed).empty(), "an accepted policy has no problem");
    require(fw::validate_policy(*parsed).ok(), "an accepted policy validates");
  } else {
    require(!parsed.ok(), "parse_* refuses what the report refuses");
    require(parsed.status().message() == report.problems.front().to_string(), "parse_* names the first problem");
    // The model-level checks also run on a policy with decoding
    // placeholders in it (the report hides their consequences).
    for (const fw::PolicyError& problem : fw::check_policy(*report.policy)) {
      require(!problem.where.empty() && !problem.message.empty(), "check_policy problems are complete");
    }
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
  using fw::PolicyFormat;
  for (PolicyFormat format : {PolicyFormat::kText, PolicyFormat::kJson, PolicyFormat::kBinary}) check_one(bytes, format);
  return 0;
}
