// NSH (RFC 8300) codec: see fw/nsh.h and docs/nsh.md.
//
// Base header, bytes 0-3 (bit 0 is the most significant bit of byte 0):
//   byte 0: Ver(2) O(1) U(1) TTL[5:2](4)
//   byte 1: TTL[1:0](2) Length(6)
//   byte 2: U(4) MD Type(4)
//   byte 3: Next Protocol
// Service path header, bytes 4-7: SPI(24) SI(8).
// MD type 2 context header: Class(16) Type(8) U(1) Length(7), then Length
// value bytes padded with zeros to a multiple of 4.
#include "fw/nsh.h"

#include <cstring>

namespace fw {
namespace {

constexpr std::uint8_t kVersionMask = 0xc0;
constexpr std::uint8_t kOamBit = 0x20;
constexpr std::uint8_t kByte0UnassignedBit = 0x10;
constexpr std::uint8_t kByte2UnassignedBits = 0xf0;
constexpr std::uint8_t kTlvUnassignedBit = 0x80;
constexpr std::uint8_t kMdTypeExperimental = 0x0f;

constexpr std::size_t kGroupsValueBytes = 8;
constexpr std::size_t kPolicyIdValueBytes = 4;
constexpr std::size_t kTagSetIdValueBytes = 4;
constexpr std::size_t kVnicIdValueBytes = 4;
constexpr std::size_t kFlowIdValueBytes = 8;

constexpr std::size_t padded(std::size_t value_bytes) noexcept { return (value_bytes + 3) & ~std::size_t{3}; }

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}
void store_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  store_be32(p, static_cast<std::uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<std::uint32_t>(v));
}

bool known_next_protocol(std::uint8_t np) noexcept {
  return (np >= 1 && np <= 5) || np == 0xfe || np == 0xff;
}

// Bytes of libfw's own context headers for `present` (each with its
// 4-byte TLV header; every value is a multiple of 4 already).
std::size_t metadata_bytes(std::uint8_t present) noexcept {
  std::size_t n = 0;
  if (present & kNshHasGroups) n += kNshTlvHeaderBytes + kGroupsValueBytes;
  if (present & kNshHasRuleId) n += kNshTlvHeaderBytes + kPolicyIdValueBytes;
  if (present & kNshHasTagSetId) n += kNshTlvHeaderBytes + kTagSetIdValueBytes;
  if (present & kNshHasVnicId) n += kNshTlvHeaderBytes + kVnicIdValueBytes;
  if (present & kNshHasFlowId) n += kNshTlvHeaderBytes + kFlowIdValueBytes;
  return n;
}

// Validates `ctx` for encoding and returns its header size in `bytes`.
NshError check_context(const NshContext& ctx, std::size_t& bytes) noexcept {
  if (ctx.spi > kNshMaxSpi) return NshError::kBadSpi;
  if (ctx.ttl > kNshMaxTtl) return NshError::kBadTtl;
  if (!known_next_protocol(static_cast<std::uint8_t>(ctx.next_protocol))) return NshError::kBadNextProtocol;
  if ((ctx.present & ~kNshHasAll) != 0) return NshError::kBadPresentBits;
  if (ctx.md_type == kNshMdType1) {
    if (ctx.present != 0 || !ctx.extra_tlvs.empty()) return NshError::kBadPresentBits;
    bytes = kNshMd1HeaderBytes;
    return NshError::kOk;
  }
  if (ctx.md_type != kNshMdType2) return NshError::kBadMdType;
  std::size_t n = kNshFixedHeaderBytes + metadata_bytes(ctx.present);
  for (const NshTlv& tlv : ctx.extra_tlvs) {
    if (tlv.value.size() > kNshMaxTlvValueBytes) return NshError::kBadExtraContextHeader;
    n += kNshTlvHeaderBytes + padded(tlv.value.size());
    // Checked per header so that a long list cannot overflow n.
    if (n > kNshMaxHeaderBytes) return NshError::kHeaderTooLong;
  }
  if (n > kNshMaxHeaderBytes) return NshError::kHeaderTooLong;
  bytes = n;
  return NshError::kOk;
}

std::uint8_t* put_tlv_header(std::uint8_t* p, std::uint16_t md_class, std::uint8_t type,
                             std::size_t value_bytes) noexcept {
  store_be16(p, md_class);
  p[2] = type;
  p[3] = static_cast<std::uint8_t>(value_bytes);  // U bit 0
  return p + kNshTlvHeaderBytes;
}

// Writes the header validated by check_context into out[0, bytes).
void write_header(const NshContext& ctx, std::size_t bytes, std::uint8_t* out,
                  std::uint16_t libfw_md_class) noexcept {
  const std::size_t words = bytes / 4;
  out[0] = static_cast<std::uint8_t>((ctx.oam ? kOamBit : 0) | (ctx.ttl >> 2));
  out[1] = static_cast<std::uint8_t>(((ctx.ttl & 0x3) << 6) | words);
  out[2] = ctx.md_type;
  out[3] = static_cast<std::uint8_t>(ctx.next_protocol);
  store_be32(out + 4, (ctx.spi << 8) | ctx.si);
  std::uint8_t* p = out + kNshFixedHeaderBytes;
  if (ctx.md_type == kNshMdType1) {
    for (std::uint32_t word : ctx.md1_context) {
      store_be32(p, word);
      p += 4;
    }
    return;
  }
  if (ctx.present & kNshHasGroups) {
    p = put_tlv_header(p, kNshMdClassIetf, kNshIetfTypeSourceDestinationGroups, kGroupsValueBytes);
    store_be32(p, ctx.source_group);
    store_be32(p + 4, ctx.destination_group);
    p += kGroupsValueBytes;
  }
  if (ctx.present & kNshHasRuleId) {
    p = put_tlv_header(p, kNshMdClassIetf, kNshIetfTypePolicyId, kPolicyIdValueBytes);
    store_be32(p, ctx.rule_id);
    p += kPolicyIdValueBytes;
  }
  if (ctx.present & kNshHasTagSetId) {
    p = put_tlv_header(p, libfw_md_class, kNshLibfwTypeTagSetId, kTagSetIdValueBytes);
    store_be32(p, ctx.tag_set_id);
    p += kTagSetIdValueBytes;
  }
  if (ctx.present & kNshHasVnicId) {
    p = put_tlv_header(p, libfw_md_class, kNshLibfwTypeVnicId, kVnicIdValueBytes);
    store_be32(p, ctx.vnic_id);
    p += kVnicIdValueBytes;
  }
  if (ctx.present & kNshHasFlowId) {
    p = put_tlv_header(p, libfw_md_class, kNshLibfwTypeFlowId, kFlowIdValueBytes);
    store_be64(p, ctx.flow_id);
    p += kFlowIdValueBytes;
  }
  for (const NshTlv& tlv : ctx.extra_tlvs) {
    p = put_tlv_header(p, tlv.md_class, tlv.type, tlv.value.size());
    if (!tlv.value.empty()) std::memcpy(p, tlv.value.data(), tlv.value.size());
    const std::size_t pad = padded(tlv.value.size()) - tlv.value.size();
    std::memset(p + tlv.value.size(), 0, pad);
    p += tlv.value.size() + pad;
  }
}

std::size_t framing_bytes(NshFraming framing) noexcept {
  return framing == NshFraming::kEthernetNsh ? kNshEthernetHeaderBytes : 0;
}

bool known_framing(NshFraming framing) noexcept {
  return framing == NshFraming::kNone || framing == NshFraming::kNsh || framing == NshFraming::kEthernetNsh;
}

// Reads one MD type 2 context header libfw understands into `out`.
// Returns kOk for headers it does not understand (counted by the caller
// through `known`).
NshError read_metadata(const NshTlv& tlv, std::uint16_t libfw_md_class, NshContext& out, bool& known) noexcept {
  known = false;
  std::uint8_t bit = 0;
  std::size_t want = 0;
  if (tlv.md_class == kNshMdClassIetf) {
    if (tlv.type == kNshIetfTypeSourceDestinationGroups) {
      bit = kNshHasGroups;
      want = kGroupsValueBytes;
    } else if (tlv.type == kNshIetfTypePolicyId) {
      // RFC 9263's Policy ID is of any length; libfw's rule ids are 4
      // bytes. A policy id of another length is someone else's: skipped.
      if (tlv.value.size() != kPolicyIdValueBytes) return NshError::kOk;
      bit = kNshHasRuleId;
      want = kPolicyIdValueBytes;
    }
  }
  // libfw's class is checked second so that a deployment that (wrongly)
  // sets it to 0 still reads the IETF headers as such.
  if (bit == 0 && tlv.md_class == libfw_md_class) {
    switch (tlv.type) {
      case kNshLibfwTypeTagSetId: bit = kNshHasTagSetId; want = kTagSetIdValueBytes; break;
      case kNshLibfwTypeVnicId: bit = kNshHasVnicId; want = kVnicIdValueBytes; break;
      case kNshLibfwTypeFlowId: bit = kNshHasFlowId; want = kFlowIdValueBytes; break;
      default: break;
    }
  }
  if (bit == 0) return NshError::kOk;
  if (tlv.value.size() != want) return NshError::kBadContextHeaderLength;
  if (out.present & bit) return NshError::kDuplicateContextHeader;
  known = true;
  out.present |= bit;
  const std::uint8_t* v = tlv.value.data();
  switch (bit) {
    case kNshHasGroups:
      out.source_group = load_be32(v);
      out.destination_group = load_be32(v + 4);
      break;
    case kNshHasRuleId: out.rule_id = load_be32(v); break;
    case kNshHasTagSetId: out.tag_set_id = load_be32(v); break;
    case kNshHasVnicId: out.vnic_id = load_be32(v); break;
    case kNshHasFlowId: out.flow_id = load_be64(v); break;
    default: break;
  }
  return NshError::kOk;
}

NshError check_fixed_header(std::span<const std::uint8_t> header) noexcept {
  if (header.size() < kNshFixedHeaderBytes) return NshError::kTruncatedBaseHeader;
  if ((header[0] & kVersionMask) != 0) return NshError::kBadVersion;
  return NshError::kOk;
}

}  // namespace

std::string_view nsh_error_name(NshError e) noexcept {
  switch (e) {
    case NshError::kOk: return "ok";
    case NshError::kTruncatedBaseHeader: return "truncated-base-header";
    case NshError::kBadVersion: return "bad-version";
    case NshError::kBadLength: return "bad-length";
    case NshError::kTruncatedHeader: return "truncated-header";
    case NshError::kReservedMdType: return "reserved-md-type";
    case NshError::kExperimentalMdType: return "experimental-md-type";
    case NshError::kUnknownMdType: return "unknown-md-type";
    case NshError::kBadMd1Length: return "bad-md1-length";
    case NshError::kUnknownNextProtocol: return "unknown-next-protocol";
    case NshError::kExperimentalNextProtocol: return "experimental-next-protocol";
    case NshError::kTruncatedContextHeader: return "truncated-context-header";
    case NshError::kContextHeaderOverrun: return "context-header-overrun";
    case NshError::kBadContextHeaderLength: return "bad-context-header-length";
    case NshError::kDuplicateContextHeader: return "duplicate-context-header";
    case NshError::kTruncatedEthernet: return "truncated-ethernet";
    case NshError::kNotNshEtherType: return "not-nsh-ethertype";
    case NshError::kBufferTooSmall: return "buffer-too-small";
    case NshError::kBadSpi: return "bad-spi";
    case NshError::kBadTtl: return "bad-ttl";
    case NshError::kBadMdType: return "bad-md-type";
    case NshError::kBadNextProtocol: return "bad-next-protocol";
    case NshError::kBadPresentBits: return "bad-present-bits";
    case NshError::kBadExtraContextHeader: return "bad-extra-context-header";
    case NshError::kHeaderTooLong: return "header-too-long";
    case NshError::kBadFraming: return "bad-framing";
    case NshError::kServiceIndexExhausted: return "service-index-exhausted";
    case NshError::kTtlExpired: return "ttl-expired";
    case NshError::kCount: break;
  }
  return "unknown";
}

std::size_t nsh_header_size(const NshContext& ctx) noexcept {
  if (ctx.md_type == kNshMdType1) return kNshMd1HeaderBytes;
  std::size_t n = kNshFixedHeaderBytes + metadata_bytes(static_cast<std::uint8_t>(ctx.present & kNshHasAll));
  for (const NshTlv& tlv : ctx.extra_tlvs) n += kNshTlvHeaderBytes + padded(tlv.value.size());
  return n;
}

std::size_t nsh_encapsulated_size(const NshContext& ctx, std::size_t inner_bytes,
                                  const NshOptions& options) noexcept {
  if (options.framing == NshFraming::kNone) return inner_bytes;
  return framing_bytes(options.framing) + nsh_header_size(ctx) + inner_bytes;
}

NshWriteResult nsh_write_header(const NshContext& ctx, std::span<std::uint8_t> out,
                                const NshOptions& options) noexcept {
  std::size_t bytes = 0;
  if (NshError e = check_context(ctx, bytes); e != NshError::kOk) return {e, 0};
  if (out.size() < bytes) return {NshError::kBufferTooSmall, 0};
  write_header(ctx, bytes, out.data(), options.libfw_md_class);
  return {NshError::kOk, bytes};
}

NshWriteResult nsh_encapsulate(const NshContext& ctx, std::span<const std::uint8_t> inner,
                               std::span<std::uint8_t> out, const NshOptions& options) noexcept {
  if (!known_framing(options.framing)) return {NshError::kBadFraming, 0};
  std::size_t header = 0;
  if (options.framing != NshFraming::kNone) {
    if (NshError e = check_context(ctx, header); e != NshError::kOk) return {e, 0};
  }
  const std::size_t outer = framing_bytes(options.framing);
  const std::size_t total = outer + header + inner.size();
  if (out.size() < total) return {NshError::kBufferTooSmall, 0};
  std::uint8_t* p = out.data();
  if (options.framing == NshFraming::kEthernetNsh) {
    std::memcpy(p, options.dst_mac.bytes.data(), 6);
    std::memcpy(p + 6, options.src_mac.bytes.data(), 6);
    store_be16(p + 12, kEtherTypeNsh);
  }
  if (options.framing != NshFraming::kNone) write_header(ctx, header, p + outer, options.libfw_md_class);
  if (!inner.empty()) std::memcpy(p + outer + header, inner.data(), inner.size());
  return {NshError::kOk, total};
}

bool NshTlvReader::next(NshTlv& tlv) noexcept {
  if (rest_.empty() || error_ != NshError::kOk) return false;
  if (rest_.size() < kNshTlvHeaderBytes) {
    error_ = NshError::kTruncatedContextHeader;
    return false;
  }
  const std::size_t value_bytes = rest_[3] & static_cast<std::uint8_t>(~kTlvUnassignedBit);
  const std::size_t total = kNshTlvHeaderBytes + padded(value_bytes);
  if (total > rest_.size()) {
    error_ = NshError::kContextHeaderOverrun;
    return false;
  }
  tlv.md_class = static_cast<std::uint16_t>((rest_[0] << 8) | rest_[1]);
  tlv.type = rest_[2];
  tlv.value = rest_.subspan(kNshTlvHeaderBytes, value_bytes);
  rest_ = rest_.subspan(total);
  return true;
}

NshError nsh_decode(std::span<const std::uint8_t> bytes, NshDecoded& out, const NshOptions& options) noexcept {
  out = NshDecoded{};
  if (NshError e = check_fixed_header(bytes); e != NshError::kOk) return e;
  const std::uint8_t* h = bytes.data();
  NshContext& ctx = out.context;
  ctx.oam = (h[0] & kOamBit) != 0;
  ctx.ttl = static_cast<std::uint8_t>(((h[0] & 0x0f) << 2) | (h[1] >> 6));
  ctx.md_type = h[2] & 0x0f;
  ctx.next_protocol = static_cast<NshNextProtocol>(h[3]);
  const std::uint32_t path = load_be32(h + 4);
  ctx.spi = path >> 8;
  ctx.si = static_cast<std::uint8_t>(path);
  ctx.present = 0;
  out.unassigned_bits_set = (h[0] & kByte0UnassignedBit) != 0 || (h[2] & kByte2UnassignedBits) != 0;

  const std::size_t header_bytes = std::size_t{h[1] & 0x3fu} * 4;
  if (header_bytes < kNshFixedHeaderBytes) return NshError::kBadLength;
  if (header_bytes > bytes.size()) return NshError::kTruncatedHeader;
  out.header_bytes = header_bytes;

  switch (ctx.md_type) {
    case 0: return NshError::kReservedMdType;
    case kNshMdType1:
    case kNshMdType2: break;
    case kMdTypeExperimental: return NshError::kExperimentalMdType;
    default: return NshError::kUnknownMdType;
  }
  const std::uint8_t np = h[3];
  if (!known_next_protocol(np)) return NshError::kUnknownNextProtocol;
  if ((np == 0xfe || np == 0xff) && !options.accept_experimental_next_protocol) {
    return NshError::kExperimentalNextProtocol;
  }

  if (ctx.md_type == kNshMdType1) {
    if (header_bytes != kNshMd1HeaderBytes) return NshError::kBadMd1Length;
    for (std::size_t i = 0; i < 4; ++i) ctx.md1_context[i] = load_be32(h + kNshFixedHeaderBytes + 4 * i);
  } else {
    out.context_headers = bytes.subspan(kNshFixedHeaderBytes, header_bytes - kNshFixedHeaderBytes);
    NshTlvReader reader(out.context_headers);
    for (NshTlv tlv; reader.next(tlv);) {
      bool known = false;
      if (NshError e = read_metadata(tlv, options.libfw_md_class, ctx, known); e != NshError::kOk) return e;
      // At most 61 headers fit in 244 bytes: the counts cannot overflow.
      ++out.context_header_count;
      if (!known) ++out.unknown_header_count;
    }
    if (reader.error() != NshError::kOk) return reader.error();
  }
  out.payload = bytes.subspan(header_bytes);
  return NshError::kOk;
}

NshError nsh_decapsulate(std::span<const std::uint8_t> bytes, NshDecoded& out, const NshOptions& options) noexcept {
  switch (options.framing) {
    case NshFraming::kNone:
      out = NshDecoded{};
      out.payload = bytes;
      return NshError::kOk;
    case NshFraming::kNsh:
      return nsh_decode(bytes, out, options);
    case NshFraming::kEthernetNsh: {
      if (bytes.size() < kNshEthernetHeaderBytes) {
        out = NshDecoded{};
        return NshError::kTruncatedEthernet;
      }
      if (((bytes[12] << 8) | bytes[13]) != kEtherTypeNsh) {
        out = NshDecoded{};
        return NshError::kNotNshEtherType;
      }
      NshError e = nsh_decode(bytes.subspan(kNshEthernetHeaderBytes), out, options);
      out.header_offset = kNshEthernetHeaderBytes;
      return e;
    }
  }
  out = NshDecoded{};
  return NshError::kBadFraming;
}

NshError nsh_decrement_si(std::span<std::uint8_t> header) noexcept {
  if (NshError e = check_fixed_header(header); e != NshError::kOk) return e;
  if (header[7] == 0) return NshError::kServiceIndexExhausted;
  --header[7];
  return NshError::kOk;
}

NshError nsh_decrement_ttl(std::span<std::uint8_t> header) noexcept {
  if (NshError e = check_fixed_header(header); e != NshError::kOk) return e;
  const std::uint8_t ttl = static_cast<std::uint8_t>(((header[0] & 0x0f) << 2) | (header[1] >> 6));
  const std::uint8_t next = ttl == 0 ? kNshMaxTtl : static_cast<std::uint8_t>(ttl - 1);
  header[0] = static_cast<std::uint8_t>((header[0] & 0xf0) | (next >> 2));
  header[1] = static_cast<std::uint8_t>((header[1] & 0x3f) | ((next & 0x3) << 6));
  return next == 0 ? NshError::kTtlExpired : NshError::kOk;
}

}  // namespace fw
