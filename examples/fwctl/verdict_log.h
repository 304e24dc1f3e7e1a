// examples/fwctl/verdict_log.h — the per-packet verdict file of
// `fwctl replay --verdicts OUT`.
//
// One line per packet, in capture order (format in docs/fwctl.md):
//   <n> <from-vm|to-vm> <action> slot=<slot|-> rule=<id|-> reason=<name|-> parse=<name|-> gen=<g>
// n is 1-based; "-" marks an absent field (no deciding slot, no rule, no
// drop reason, no parse error). A packet that visited services (--redirect-
// policy) ends its line with " via=<endpoint>,<endpoint>..." in the order
// it visited them; the line's verdict is the one after the last service.
//
// And the per-packet connection-state file of `fwctl replay --ct-states
// OUT` (CtStateLog), in the format of Open vSwitch's `ovstest
// test-conntrack pcap` (tests/test-conntrack.c: printf("%"PRIuSIZE": %s\n")
// of format_flags(ct_state_to_string, ct_state, '|')):
//   <n>: <flags>        e.g. "1: new|trk", "2: est|rpl|trk", "5: 0"
// n is 1-based; flags as fw::format_ct_state prints them.
//
// Thread-safety: one VerdictLog / CtStateLog per thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "fw/status.h"
#include "fw/verdict.h"

namespace fwctl {

// A buffered output file of lines ("-" is stdout) that reports a write error
// (disk full, closed pipe) once, on close(). `what` names the content in
// messages ("verdicts", "connection states").
class LineFile {
 public:
  static fw::StatusOr<std::unique_ptr<LineFile>> open(const std::string& path, std::string what);
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  // Where to format the next line; call line_done() after each.
  fmt::memory_buffer& buffer() noexcept { return buffer_; }
  void line_done();
  fw::Status close();
  bool is_stdout() const noexcept { return path_ == "-"; }

 private:
  LineFile(std::FILE* file, std::string path, std::string what)
      : file_(file), path_(std::move(path)), what_(std::move(what)) {}
  void flush_buffer();

  std::FILE* file_;
  std::string path_;
  std::string what_;
  fmt::memory_buffer buffer_;
  bool failed_ = false;
};

class VerdictLog {
 public:
  // `path` "-" writes to stdout.
  static fw::StatusOr<std::unique_ptr<VerdictLog>> open(const std::string& path);

  void write(std::uint64_t packet_number, fw::Direction direction, const fw::Verdict& verdict,
             std::span<const std::uint32_t> via = {});
  // Flushes and reports a write error (disk full, closed pipe) once.
  fw::Status close() { return file_->close(); }
  bool is_stdout() const noexcept { return file_->is_stdout(); }

 private:
  explicit VerdictLog(std::unique_ptr<LineFile> file) : file_(std::move(file)) {}
  std::unique_ptr<LineFile> file_;
};

class CtStateLog {
 public:
  // `path` "-" writes to stdout.
  static fw::StatusOr<std::unique_ptr<CtStateLog>> open(const std::string& path);

  void write(std::uint64_t packet_number, std::uint8_t ct_state);
  // Flushes and reports a write error once.
  fw::Status close() { return file_->close(); }
  bool is_stdout() const noexcept { return file_->is_stdout(); }

 private:
  explicit CtStateLog(std::unique_ptr<LineFile> file);
  std::unique_ptr<LineFile> file_;
  std::array<std::string, 256> names_;  // format_ct_state of every value, made once
};

}  // namespace fwctl
