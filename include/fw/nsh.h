// fw/nsh.h — Network Service Header (RFC 8300) encapsulation for service
// insertion: the frame libfw hands to a service VM carries the service path
// (SPI/SI) and, as MD type 2 context headers, why it was redirected — the
// source and destination group ids, the redirecting rule, the source VM's
// tag set id, the vNIC and a flow id.
//
// Usage:
//   fw::NshContext ctx{.spi = 0x123, .si = 255, .next_protocol = fw::NshNextProtocol::kEthernet,
//                      .present = fw::kNshHasGroups | fw::kNshHasRuleId | fw::kNshHasVnicId,
//                      .source_group = 10, .destination_group = 11, .rule_id = 1001,
//                      .vnic_id = 42};
//   std::array<std::uint8_t, 2048> buf;
//   fw::NshWriteResult w = fw::nsh_encapsulate(ctx, frame, buf);
//   if (!w.ok()) count(fw::nsh_error_name(w.error));
//   send_to_service(std::span(buf).first(w.bytes));
//
//   // ... and when the service hands it back:
//   fw::NshDecoded back;
//   fw::NshError e = fw::nsh_decode(returned, back);
//   if (e != fw::NshError::kOk) drop(fw::nsh_error_name(e));
//   reinject(back.payload);  // the inner frame
//
// Framing (NshOptions::framing) is the "with or without NSH" choice of a
// service: kNone hands the frame as it is, kNsh prepends the NSH, and
// kEthernetNsh prepends an Ethernet header (EtherType 0x894F, MACs from the
// options) and the NSH. nsh_encapsulate()/nsh_decapsulate() do all three.
//
// Wire format and metadata: docs/nsh.md. In short, MD type 2 carries
//   class 0x0000 (IETF) type 0x05  Source and Destination Groups (RFC 9263),
//                                  value: source group u32, destination group u32
//   class 0x0000 (IETF) type 0x06  Policy Identifier (RFC 9263), value: rule id u32
//   class libfw_md_class  type 0x01 tag set id u32, 0x02 vNIC id u32, 0x03 flow id u64
// all big-endian. MD type 1 (four fixed 32-bit context words) is encoded
// and decoded as opaque words.
//
// Decoding treats its input as hostile: every length is checked against the
// bytes present and against the others, nothing outside the span is read,
// and each inconsistency has its own NshError. Unknown context headers are
// skipped and counted (RFC 8300 has no "critical" bit: a receiver must skip
// what it does not understand); NshTlvReader walks them all.
//
// Nothing here allocates, locks, throws or logs: every function writes into
// the caller's buffer or struct and returns an error code.
//
// Thread-safety: every function is reentrant and touches only its
// arguments; NshContext, NshDecoded and NshOptions are plain values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fw/address.h"

namespace fw {

// ---- wire constants -----------------------------------------------------------

inline constexpr std::uint16_t kEtherTypeNsh = 0x894f;
inline constexpr std::size_t kNshEthernetHeaderBytes = 14;  // untagged Ethernet II
// Base header (4 bytes) + Service Path header (4 bytes).
inline constexpr std::size_t kNshFixedHeaderBytes = 8;
// MD type 1: the fixed header and four 32-bit context words (Length = 6).
inline constexpr std::size_t kNshMd1HeaderBytes = 24;
// Length is a 6-bit count of 4-byte words: 63 words.
inline constexpr std::size_t kNshMaxHeaderBytes = 252;
inline constexpr std::size_t kNshTlvHeaderBytes = 4;
// A context header's Length is 7 bits of bytes (padding excluded).
inline constexpr std::size_t kNshMaxTlvValueBytes = 127;
inline constexpr std::uint32_t kNshMaxSpi = 0xffffff;     // 24 bits
inline constexpr std::uint8_t kNshMaxTtl = 63;            // 6 bits
inline constexpr std::uint8_t kNshDefaultTtl = 63;        // RFC 8300 §2.2
inline constexpr std::uint8_t kNshInitialServiceIndex = 255;
inline constexpr std::uint8_t kNshMdType1 = 1;
inline constexpr std::uint8_t kNshMdType2 = 2;

enum class NshNextProtocol : std::uint8_t {
  kIpv4 = 1,
  kIpv6 = 2,
  kEthernet = 3,
  kNsh = 4,
  kMpls = 5,
  kExperiment1 = 0xfe,
  kExperiment2 = 0xff,
};

// Metadata classes and types (docs/nsh.md says why these).
inline constexpr std::uint16_t kNshMdClassIetf = 0x0000;
inline constexpr std::uint8_t kNshIetfTypeSourceDestinationGroups = 0x05;  // RFC 9263
inline constexpr std::uint8_t kNshIetfTypePolicyId = 0x06;                 // RFC 9263
// libfw's own context headers live under one MD class. libfw has no
// IANA-assigned class, so the default is the first value of the range RFC
// 8300 sets aside for experiments; a deployment with its own assigned class
// sets NshOptions::libfw_md_class on both ends.
inline constexpr std::uint16_t kNshMdClassLibfwDefault = 0xfff6;
inline constexpr std::uint8_t kNshLibfwTypeTagSetId = 0x01;  // u32
inline constexpr std::uint8_t kNshLibfwTypeVnicId = 0x02;    // u32
inline constexpr std::uint8_t kNshLibfwTypeFlowId = 0x03;    // u64

// NshContext::present bits: which MD type 2 metadata fields are carried.
inline constexpr std::uint8_t kNshHasGroups = 1u << 0;    // source_group and destination_group
inline constexpr std::uint8_t kNshHasRuleId = 1u << 1;
inline constexpr std::uint8_t kNshHasTagSetId = 1u << 2;
inline constexpr std::uint8_t kNshHasVnicId = 1u << 3;
inline constexpr std::uint8_t kNshHasFlowId = 1u << 4;
inline constexpr std::uint8_t kNshHasAll = 0x1f;

// ---- errors ------------------------------------------------------------------

// Stable reasons an encode, decode or in-place update failed. Values and
// names never change meaning; new ones are appended before kCount.
enum class NshError : std::uint8_t {
  kOk = 0,
  // decoding
  kTruncatedBaseHeader,        // fewer than 8 bytes (base + service path header)
  kBadVersion,                 // Ver != 0
  kBadLength,                  // Length < 2 words (smaller than the fixed header)
  kTruncatedHeader,            // Length * 4 bytes are not all present
  kReservedMdType,             // MD type 0x0 (reserved)
  kExperimentalMdType,         // MD type 0xF (experiments)
  kUnknownMdType,              // MD type 0x3-0xE
  kBadMd1Length,               // MD type 1 with Length != 6
  kUnknownNextProtocol,        // Next Protocol 0 or unassigned (0x06-0xFD)
  kExperimentalNextProtocol,   // 0xFE/0xFF without accept_experimental_next_protocol
  kTruncatedContextHeader,     // MD type 2: 1-3 bytes left, too few for a context header
  kContextHeaderOverrun,       // a context header's value (with padding) runs past Length
  kBadContextHeaderLength,     // a context header libfw reads has the wrong value length
  kDuplicateContextHeader,     // a context header libfw reads appears twice
  kTruncatedEthernet,          // kEthernetNsh framing: fewer than 14 bytes
  kNotNshEtherType,            // kEthernetNsh framing: EtherType != 0x894F (VLAN tags included)
  // encoding
  kBufferTooSmall,             // `out` cannot hold the result
  kBadSpi,                     // spi > 0xFFFFFF
  kBadTtl,                     // ttl > 63
  kBadMdType,                  // md_type not 1 or 2
  kBadNextProtocol,            // next_protocol not one of NshNextProtocol
  kBadPresentBits,             // bits outside kNshHasAll, or metadata with MD type 1
  kBadExtraContextHeader,      // an extra TLV's value is longer than 127 bytes
  kHeaderTooLong,              // the header would exceed 252 bytes (63 words)
  kBadFraming,                 // NshOptions::framing is not an NshFraming value
  // in-place updates
  kServiceIndexExhausted,      // SI is 0: it cannot be decremented
  kTtlExpired,                 // TTL reached 0 after the decrement: do not forward
  kCount
};
inline constexpr std::size_t kNshErrorCount = static_cast<std::size_t>(NshError::kCount);

// "ok", "truncated-base-header", ... (kebab-case, stable).
std::string_view nsh_error_name(NshError e) noexcept;

// ---- the header's content ----------------------------------------------------

// One MD type 2 context header as on the wire (value without padding).
struct NshTlv {
  std::uint16_t md_class = 0;
  std::uint8_t type = 0;
  std::span<const std::uint8_t> value;
};

// What an NSH says. Encoding reads it; decoding fills it.
struct NshContext {
  std::uint32_t spi = 0;                        // 24 bits
  std::uint8_t si = kNshInitialServiceIndex;
  std::uint8_t ttl = kNshDefaultTtl;            // 6 bits
  bool oam = false;                             // the O bit
  NshNextProtocol next_protocol = NshNextProtocol::kEthernet;
  std::uint8_t md_type = kNshMdType2;

  // MD type 2 metadata: each field is valid (and encoded) when its
  // kNshHas* bit is in `present`; absent fields decode as 0.
  std::uint8_t present = 0;
  std::uint32_t source_group = 0;       // kNshHasGroups (0: unknown)
  std::uint32_t destination_group = 0;  // kNshHasGroups (0: unknown)
  std::uint32_t rule_id = 0;            // kNshHasRuleId: the rule that redirected
  std::uint32_t tag_set_id = 0;         // kNshHasTagSetId: compact id of the source VM's tags
  std::uint32_t vnic_id = 0;            // kNshHasVnicId
  std::uint64_t flow_id = 0;            // kNshHasFlowId

  // MD type 1: the four fixed context words (host order here, big-endian
  // on the wire). Ignored for MD type 2.
  std::array<std::uint32_t, 4> md1_context{};

  // MD type 2, encoding only: further context headers written after
  // libfw's, in this order (e.g. ones a service added, passed on). Not
  // filled by decoding: walk NshDecoded::context_headers with NshTlvReader.
  std::span<const NshTlv> extra_tlvs;
};

// How a frame travels to and from a service.
enum class NshFraming : std::uint8_t {
  kNone = 0,         // the frame as it is, no NSH
  kNsh = 1,          // NSH + frame (e.g. inside a tunnel that says "NSH follows")
  kEthernetNsh = 2,  // Ethernet (EtherType 0x894F) + NSH + frame
};

// Options for every call (designated initialisers; defaults are RFC 8300's).
struct NshOptions {
  NshFraming framing = NshFraming::kNsh;
  MacAddress dst_mac;  // kEthernetNsh: outer destination (the service's vNIC)
  MacAddress src_mac;  // kEthernetNsh: outer source
  // The MD class of libfw's own context headers, on both ends.
  std::uint16_t libfw_md_class = kNshMdClassLibfwDefault;
  // Next Protocol 0xFE/0xFF: RFC 8300 says drop unless configured for the
  // experiment.
  bool accept_experimental_next_protocol = false;
};

// ---- encoding ----------------------------------------------------------------

struct [[nodiscard]] NshWriteResult {
  NshError error = NshError::kOk;
  std::size_t bytes = 0;  // bytes written to `out` when ok()
  bool ok() const noexcept { return error == NshError::kOk; }
};

// Bytes of the NSH `ctx` encodes to (MD type 1: 24; MD type 2: 8 + its
// context headers, each padded to 4 bytes). Meaningful when `ctx` is valid
// (nsh_write_header says why not).
std::size_t nsh_header_size(const NshContext& ctx) noexcept;

// Bytes nsh_encapsulate() writes for an inner frame of `inner_bytes`.
std::size_t nsh_encapsulated_size(const NshContext& ctx, std::size_t inner_bytes,
                                  const NshOptions& options = {}) noexcept;

// Writes the NSH alone at out[0]: for a caller that prepends it in the
// frame's headroom instead of copying the frame. Unassigned bits and
// padding are written as zero.
NshWriteResult nsh_write_header(const NshContext& ctx, std::span<std::uint8_t> out,
                                const NshOptions& options = {}) noexcept;

// Writes the framing's headers and then `inner` (copied) at out[0].
// `inner` must not overlap `out`. kNone: just the copy.
NshWriteResult nsh_encapsulate(const NshContext& ctx, std::span<const std::uint8_t> inner,
                               std::span<std::uint8_t> out, const NshOptions& options = {}) noexcept;

// ---- decoding ----------------------------------------------------------------

struct NshDecoded {
  NshContext context;                // header fields and the metadata libfw reads
  std::size_t header_offset = 0;     // where the NSH starts (14 after Ethernet)
  std::size_t header_bytes = 0;      // Length * 4 (0 for kNone framing)
  // MD type 2: the context headers, as on the wire (walk with NshTlvReader).
  std::span<const std::uint8_t> context_headers;
  std::uint8_t context_header_count = 0;  // all of them
  std::uint8_t unknown_header_count = 0;  // those libfw skipped
  bool unassigned_bits_set = false;       // a U bit was set (ignored, as RFC 8300 says)
  std::span<const std::uint8_t> payload;  // what follows the NSH: the inner frame or packet
};

// Decodes a bare NSH at bytes[0] (options.framing is not consulted). On an
// error, `out` holds what was decoded before it, for diagnostics only.
NshError nsh_decode(std::span<const std::uint8_t> bytes, NshDecoded& out,
                    const NshOptions& options = {}) noexcept;

// Decodes per options.framing: kNone gives payload = bytes (context left
// default, header_bytes 0); kNsh is nsh_decode; kEthernetNsh checks the
// untagged Ethernet header's EtherType first.
NshError nsh_decapsulate(std::span<const std::uint8_t> bytes, NshDecoded& out,
                         const NshOptions& options = {}) noexcept;

// Walks MD type 2 context headers one by one, checking each against the
// bytes left. Usage:
//   fw::NshTlvReader reader(decoded.context_headers);
//   for (fw::NshTlv tlv; reader.next(tlv);) use(tlv);
//   if (reader.error() != fw::NshError::kOk) ...
class NshTlvReader {
 public:
  explicit NshTlvReader(std::span<const std::uint8_t> context_headers) noexcept
      : rest_(context_headers) {}
  // The next context header, or false at the end or on an error.
  bool next(NshTlv& tlv) noexcept;
  NshError error() const noexcept { return error_; }

 private:
  std::span<const std::uint8_t> rest_;
  NshError error_ = NshError::kOk;
};

// ---- in-place updates on the way back ----------------------------------------
// Both take the bare NSH at header[0], check its first 8 bytes (present,
// Ver 0) and change only their own bits (U bits are preserved).

// SI - 1, as a service function does. kServiceIndexExhausted (nothing
// written) when SI is 0.
NshError nsh_decrement_si(std::span<std::uint8_t> header) noexcept;

// TTL - 1, as a service function forwarder does (0 wraps to 63, RFC 8300
// §2.2). Written in every case; kTtlExpired when the result is 0: the
// packet must not be forwarded.
NshError nsh_decrement_ttl(std::span<std::uint8_t> header) noexcept;

}  // namespace fw
