// examples/service-vm/verdict_output.h — what the service VM writes: the
// per-flow verdict line, the summary line, and the binary verdict record a
// socket client reads back (docs/service-vm.md has examples of each).
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "examples/service-vm/scanner.h"
#include "fw/status.h"

namespace svm {

// One line (no newline) per flow:
//   flow=3 verdict=block reason=signature proto=tcp client=10.1.0.5:40002
//   server=10.1.0.80:80 sig=1001 dir=to-server offset=27 bytes=53/0 end=open
// plus " alerts=ID/DIR/OFFSET,..." when alert signatures matched.
std::string format_flow_line(const Flow& flow, FlowEnd end, bool unscannable_blocks);

// "summary frames=... flows=... bytes_scanned=... scan_gbps=..." (no newline).
std::string format_summary(const ScannerStats& stats, double elapsed_seconds);

// Adds `from` into `into` (the server's total over its connections).
void add_stats(ScannerStats& into, const ScannerStats& from);

// The socket reply, one per frame message. Fixed 64 bytes, big-endian:
//   0 u8 version (1)         1 u8 action (0 allow, 1 block)
//   2 u8 reason (VerdictReason: 0 no-match, 1 signature, 2 unscannable,
//        3 malformed, 4 not-inspected, 5 fragment)
//   3 u8 IP version (4, 6; 0 = no flow key)   4 u8 IP protocol
//   5 u8 direction of this frame (0 to-server, 1 to-client)
//   6 u8 direction of the match  7 u8 flags (bit 0: the frame had an NSH)
//   8 u32 signature id (0 = none)  12 u16 client port  14 u16 server port
//  16 16 bytes client address (IPv4 in the first 4)   32 16 bytes server address
//  48 u64 match offset   56 u32 NSH service path (SPI << 8 | SI)   60 u32 zero
inline constexpr std::size_t kVerdictRecordSize = 64;
inline constexpr std::uint8_t kVerdictRecordVersion = 1;
using VerdictRecord = std::array<std::uint8_t, kVerdictRecordSize>;

VerdictRecord encode_verdict(const FrameVerdict& verdict);
// For clients and tests: checks the size and version.
fw::StatusOr<FrameVerdict> decode_verdict(std::span<const std::uint8_t> record);

}  // namespace svm
