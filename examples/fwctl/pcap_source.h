// examples/fwctl/pcap_source.h — reads Ethernet frames from a pcap/pcapng
// file with libpcap.
//
// Usage:
//   auto source = fwctl::PcapSource::open("capture.pcap");
//   if (!source.ok()) return report(source.status());
//   fwctl::CapturedFrame frame;
//   while ((*source)->next(frame) == fwctl::PcapSource::Next::kFrame) use(frame.bytes);
//
// Only link type DLT_EN10MB (Ethernet) is accepted: libfw's datapath takes
// Ethernet frames, and guessing an Ethernet header for other link types would
// invent MAC addresses the policy then matches on.
//
// Thread-safety: one PcapSource per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "fw/status.h"

struct pcap;

namespace fwctl {

struct CapturedFrame {
  // The captured bytes (caplen); valid until the next call to next().
  std::span<const std::uint8_t> bytes;
  std::uint32_t original_length = 0;  // length on the wire (>= bytes.size())
  // Capture timestamp in nanoseconds since the epoch (microsecond precision
  // for classic pcap): the clock `fwctl replay` gives the engine.
  std::uint64_t timestamp_ns = 0;
};

class PcapSource {
 public:
  enum class Next { kFrame, kEnd, kError };

  // Opens `path` (pcap or pcapng). Fails with kIoError when the file cannot
  // be read or is not a capture, kInvalidArgument for a non-Ethernet link type.
  static fw::StatusOr<std::unique_ptr<PcapSource>> open(const std::string& path);
  ~PcapSource();
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  // kError leaves the reason in error() (e.g. a truncated last record).
  Next next(CapturedFrame& frame);
  const std::string& error() const noexcept { return error_; }

 private:
  explicit PcapSource(pcap* handle) : handle_(handle) {}
  pcap* handle_;
  std::string error_;
};

}  // namespace fwctl
