// Policy files: bytes -> fw.v1.Policy (protobuf's text format, JSON and
// binary parsers) -> fw::Policy (decode.cc) -> every problem
// (validate.cc). parse_policy_*() and load_policy() refuse a policy with
// any problem, naming the first; check_policy_file() lists them all.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "fw/policy.h"
#include "libfw/policy/decode.h"
#include "libfw/policy/internal.h"
#include "libfw/policy/json_check.h"

namespace fw {
namespace policy_internal {
namespace {

class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!first_.empty()) return;
    // The tokenizer says "got: " and nothing when the input ended.
    const bool at_end = message.ends_with("got: ");
    first_ = fmt::format("line {}, column {}: {}{}", line + 1, column + 1, message, at_end ? "end of input" : "");
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

Status parse_text(std::string_view bytes, google::protobuf::Message& message) {
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(bytes), &message))
    return invalid_argument(errors.first().empty()
                                ? fmt::format("not a text-format {}", message.GetDescriptor()->full_name())
                                : errors.first());
  if (auto invalid = find_invalid_utf8(message)) return invalid_argument(*invalid);
  return Status::Ok();
}

namespace {

// protobuf's JSON errors look like
//   (services[0].entries[0].protocol): invalid value "tcp" for type TYPE_UINT32
// Keep the path, say what is wanted in the policy's words.
std::string tidy_json_error(std::string message) {
  if (const std::size_t newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  if (message.starts_with("(")) {
    if (const std::size_t close = message.find("):"); close != std::string::npos)
      message = message.substr(1, close - 1) + message.substr(close + 1);
  }
  static constexpr std::string_view kForType = " for type ";
  const std::size_t at = message.rfind(kForType);
  if (at == std::string::npos) return message;
  const std::string type = message.substr(at + kForType.size());
  std::string want;
  if (type == "TYPE_UINT32") want = "a whole number 0-4294967295";
  else if (type == "TYPE_STRING") want = "a string";
  else if (type == "TYPE_BOOL") want = "true or false";
  else if (type.starts_with("type.googleapis.com/")) {
    const std::string name = type.substr(std::string_view("type.googleapis.com/").size());
    if (const auto* e = google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(name)) {
      for (int v = 0; v < e->value_count(); ++v) {
        if (e->value(v)->number() == 0 && e->value(v)->name().ends_with("_UNSPECIFIED")) continue;
        want += (want.empty() ? "" : ", ") + e->value(v)->name();
      }
      want = "one of " + want;
    } else {
      want = "a JSON object";
    }
  }
  if (want.empty()) return message;
  return message.substr(0, at) + "; want " + want;
}

}  // namespace

Status parse_json(std::string_view bytes, google::protobuf::Message& message) {
  if (Status strict = check_json(bytes, *message.GetDescriptor()); !strict.ok()) return strict;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(bytes), &message, options);
  if (!status.ok()) return invalid_argument(tidy_json_error(std::string(status.message())));
  return Status::Ok();
}

Status parse_binary(std::string_view bytes, google::protobuf::Message& message) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX) || !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalid_argument(fmt::format("not a binary {} (protobuf wire format)", message.GetDescriptor()->full_name()));
  if (auto unknown = find_unknown_field(message)) return invalid_argument(*unknown);
  return Status::Ok();
}

bool looks_like_json(std::string_view bytes) {
  const std::size_t first = bytes.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && bytes[first] == '{';
}

StatusOr<std::string> read_policy_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return io_error(path + ": is a directory, not a policy file");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return io_error(fmt::format("{}: cannot open: {}", path, std::generic_category().message(errno)));
  std::string bytes;
  char buffer[64 * 1024];
  for (;;) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    bytes.append(buffer, n);
    if (bytes.size() > kMaxPolicyFileBytes)
      return resource_exhausted(fmt::format("{}: larger than {} MiB, the limit of a policy file", path,
                                            kMaxPolicyFileBytes >> 20));
    if (n < sizeof buffer) break;
  }
  if (std::ferror(file.get()))
    return io_error(fmt::format("{}: read error: {}", path, std::generic_category().message(errno)));
  return bytes;
}

namespace {

StatusOr<Policy> accept_or_refuse(PolicyReport report, std::string_view prefix) {
  if (!report.status.ok()) return report.status;
  if (!report.problems.empty())
    return invalid_argument(fmt::format("{}{}", prefix, report.problems.front().to_string()));
  return std::move(*report.policy);
}

}  // namespace
}  // namespace policy_internal

using namespace policy_internal;

std::optional<PolicyFormat> policy_format_from_name(std::string_view name) {
  if (name == "text") return PolicyFormat::kText;
  if (name == "json") return PolicyFormat::kJson;
  if (name == "binary") return PolicyFormat::kBinary;
  return std::nullopt;
}

std::string_view policy_format_name(PolicyFormat format) {
  switch (format) {
    case PolicyFormat::kText: return "text";
    case PolicyFormat::kJson: return "json";
    case PolicyFormat::kBinary: return "binary";
  }
  return "unknown";
}

PolicyFormat policy_format_for_path(std::string_view path) {
  std::string extension = std::filesystem::path(path).extension().string();
  for (char& c : extension) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (extension == ".json") return PolicyFormat::kJson;
  if (extension == ".pb" || extension == ".bin") return PolicyFormat::kBinary;
  return PolicyFormat::kText;
}

PolicyReport check_policy_bytes(std::string_view bytes, PolicyFormat format) {
  PolicyReport report;
  v1::Policy message;
  switch (format) {
    case PolicyFormat::kText: report.status = parse_text(bytes, message); break;
    case PolicyFormat::kJson: report.status = parse_json(bytes, message); break;
    case PolicyFormat::kBinary: report.status = parse_binary(bytes, message); break;
  }
  if (!report.status.ok()) return report;
  DecodedPolicy decoded = decode_policy(message);
  std::vector<LocatedError> problems = std::move(decoded.errors);
  std::vector<LocatedError> checked = check_located(decoded.policy);
  problems.insert(problems.end(), std::make_move_iterator(checked.begin()), std::make_move_iterator(checked.end()));
  report.problems = order_problems(std::move(problems));
  report.policy = std::move(decoded.policy);
  return report;
}

PolicyReport check_policy_file(const std::string& path, std::optional<PolicyFormat> format) {
  auto bytes = read_policy_file(path);
  if (!bytes.ok()) return {.status = bytes.status(), .problems = {}, .policy = std::nullopt};
  const PolicyFormat chosen = format.value_or(policy_format_for_path(path));
  PolicyReport report = check_policy_bytes(*bytes, chosen);
  if (!report.status.ok()) {
    std::string message = fmt::format("{}: {}", path, report.status.message());
    if (!format && chosen == PolicyFormat::kText && looks_like_json(*bytes))
      message += " (the file looks like JSON: name it .json)";
    report.status = Status(report.status.code(), std::move(message));
  }
  return report;
}

StatusOr<Policy> parse_policy_text(std::string_view text) {
  return accept_or_refuse(check_policy_bytes(text, PolicyFormat::kText), "");
}

StatusOr<Policy> parse_policy_json(std::string_view json) {
  return accept_or_refuse(check_policy_bytes(json, PolicyFormat::kJson), "");
}

StatusOr<Policy> parse_policy_binary(std::string_view bytes) {
  return accept_or_refuse(check_policy_bytes(bytes, PolicyFormat::kBinary), "");
}

StatusOr<Policy> load_policy(const std::string& path) {
  return accept_or_refuse(check_policy_file(path, std::nullopt), path + ": ");
}

}  // namespace fw
