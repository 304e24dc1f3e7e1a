#include "examples/fwctl/verdict_log.h"

#include <cerrno>
#include <cstring>
#include <iterator>

#include "fw/conntrack.h"

namespace fwctl {

namespace {
// Lines are collected and written in blocks of about this size.
constexpr std::size_t kFlushBytes = 64 * 1024;
}  // namespace

fw::StatusOr<std::unique_ptr<LineFile>> LineFile::open(const std::string& path, std::string what) {
  if (path == "-") return std::unique_ptr<LineFile>(new LineFile(stdout, path, std::move(what)));
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return fw::io_error(fmt::format("cannot write {} to '{}': {}", what, path, std::strerror(errno)));
  }
  return std::unique_ptr<LineFile>(new LineFile(file, path, std::move(what)));
}

LineFile::~LineFile() { close().ignore_error(); }

void LineFile::line_done() {
  if (buffer_.size() >= kFlushBytes) flush_buffer();
}

void LineFile::flush_buffer() {
  if (!failed_ && buffer_.size() != 0 &&
      std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    failed_ = true;
  }
  buffer_.clear();
}

fw::Status LineFile::close() {
  if (file_ == nullptr) return fw::Status::Ok();
  flush_buffer();
  bool failed = failed_ || std::fflush(file_) != 0 || std::ferror(file_) != 0;
  int saved_errno = errno;
  if (file_ != stdout && std::fclose(file_) != 0) {
    failed = true;
    saved_errno = errno;
  }
  file_ = nullptr;
  if (failed) {
    return fw::io_error(fmt::format("writing {} to '{}' failed: {}", what_, path_, std::strerror(saved_errno)));
  }
  return fw::Status::Ok();
}

fw::StatusOr<std::unique_ptr<VerdictLog>> VerdictLog::open(const std::string& path) {
  auto file = LineFile::open(path, "verdicts");
  if (!file.ok()) return file.status();
  return std::unique_ptr<VerdictLog>(new VerdictLog(std::move(*file)));
}

void VerdictLog::write(std::uint64_t packet_number, fw::Direction direction,
                       const fw::Verdict& verdict, std::span<const std::uint32_t> via) {
  auto out = std::back_inserter(file_->buffer());
  fmt::format_to(out, "{} {} {} slot=", packet_number, fw::direction_name(direction),
                 fw::action_name(verdict.action));
  if (verdict.slot == fw::kNoSlot) {
    fmt::format_to(out, "-");
  } else {
    fmt::format_to(out, "{}", verdict.slot);
  }
  if (verdict.rule_id == fw::kNoRule) {
    fmt::format_to(out, " rule=-");
  } else {
    fmt::format_to(out, " rule={}", verdict.rule_id);
  }
  if (verdict.reason == fw::DropReason::kNone) {
    fmt::format_to(out, " reason=-");
  } else {
    fmt::format_to(out, " reason={}", fw::drop_reason_name(verdict.reason));
  }
  if (verdict.parse_error == fw::ParseError::kOk) {
    fmt::format_to(out, " parse=-");
  } else {
    fmt::format_to(out, " parse={}", fw::parse_error_name(verdict.parse_error));
  }
  fmt::format_to(out, " gen={}", verdict.generation);
  for (std::size_t i = 0; i < via.size(); ++i) fmt::format_to(out, "{}{}", i == 0 ? " via=" : ",", via[i]);
  fmt::format_to(out, "\n");
  file_->line_done();
}

fw::StatusOr<std::unique_ptr<CtStateLog>> CtStateLog::open(const std::string& path) {
  auto file = LineFile::open(path, "connection states");
  if (!file.ok()) return file.status();
  return std::unique_ptr<CtStateLog>(new CtStateLog(std::move(*file)));
}

CtStateLog::CtStateLog(std::unique_ptr<LineFile> file) : file_(std::move(file)) {
  for (std::size_t v = 0; v < names_.size(); ++v) names_[v] = fw::format_ct_state(static_cast<std::uint8_t>(v));
}

void CtStateLog::write(std::uint64_t packet_number, std::uint8_t ct_state) {
  fmt::format_to(std::back_inserter(file_->buffer()), "{}: {}\n", packet_number, names_[ct_state]);
  file_->line_done();
}

}  // namespace fwctl
