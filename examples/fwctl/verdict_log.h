// examples/fwctl/verdict_log.h — the per-packet verdict file of
// `fwctl replay --verdicts OUT`.
//
// One line per packet, in capture order (format in docs/fwctl.md):
//   <n> <from-vm|to-vm> <action> slot=<slot|-> rule=<id|-> reason=<name|-> parse=<name|-> gen=<g>
// n is 1-based; "-" marks an absent field (no deciding slot, no rule, no
// drop reason, no parse error).
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
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "fw/status.h"
#include "fw/verdict.h"

namespace fwctl {

class VerdictLog {
 public:
  // `path` "-" writes to stdout.
  static fw::StatusOr<std::unique_ptr<VerdictLog>> open(const std::string& path);
  ~VerdictLog();
  VerdictLog(const VerdictLog&) = delete;
  VerdictLog& operator=(const VerdictLog&) = delete;

  void write(std::uint64_t packet_number, fw::Direction direction, const fw::Verdict& verdict);
  // Flushes and reports a write error (disk full, closed pipe) once.
  fw::Status close();

  bool is_stdout() const noexcept { return path_ == "-"; }

 private:
  VerdictLog(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  void flush_buffer();

  std::FILE* file_;
  std::string path_;
  fmt::memory_buffer buffer_;
  bool failed_ = false;
};

class CtStateLog {
 public:
  // `path` "-" writes to stdout.
  static fw::StatusOr<std::unique_ptr<CtStateLog>> open(const std::string& path);
  ~CtStateLog();
  CtStateLog(const CtStateLog&) = delete;
  CtStateLog& operator=(const CtStateLog&) = delete;

  void write(std::uint64_t packet_number, std::uint8_t ct_state);
  // Flushes and reports a write error once.
  fw::Status close();

  bool is_stdout() const noexcept { return path_ == "-"; }

 private:
  CtStateLog(std::FILE* file, std::string path);
  void flush_buffer();

  std::FILE* file_;
  std::string path_;
  std::array<std::string, 256> names_;  // format_ct_state of every value, made once
  fmt::memory_buffer buffer_;
  bool failed_ = false;
};

}  // namespace fwctl
