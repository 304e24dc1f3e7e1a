// NSH codec (fw/nsh.h): encoding against bytes written by hand from the
// RFC 8300 / RFC 9263 layouts, decoding of hand-written headers, every
// decode and encode error, truncation at every length, unknown context
// headers, MD type 1, framings, the in-place SI/TTL updates, round trips.
#include "fw/nsh.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace fw {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A small inner Ethernet frame (the payload; its content is not parsed).
const Bytes kInner = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // dst MAC
                      0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // src MAC
                      0x08, 0x00,                          // IPv4
                      0x45, 0x00};                         // two bytes of "IP"

// SPI 0x000123, SI 255, TTL 63, MD type 2, Ethernet, every libfw field.
NshContext full_context() {
  return NshContext{.spi = 0x000123,
                    .si = 255,
                    .ttl = 63,
                    .next_protocol = NshNextProtocol::kEthernet,
                    .md_type = kNshMdType2,
                    .present = kNshHasAll,
                    .source_group = 10,
                    .destination_group = 11,
                    .rule_id = 1001,
                    .tag_set_id = 7,
                    .vnic_id = 42,
                    .flow_id = 0x0102030405060708ULL};
}

// The NSH of full_context(), by hand from RFC 8300 §2.2-2.5 and RFC 9263.
const Bytes kFullHeader = {
    // Base header: Ver=00 O=0 U=0 TTL=111111 Length=001110 (14 words = 56 bytes)
    //   bits: 00 0 0 1111 | 11 001110  -> 0x0F 0xCE
    0x0F, 0xCE,
    0x02,                    // U=0000 MD Type=0010 (2)
    0x03,                    // Next Protocol: Ethernet
    // Service path header: SPI=0x000123, SI=0xFF
    0x00, 0x01, 0x23, 0xFF,
    // RFC 9263 Source and Destination Groups: class 0x0000, type 0x05, U=0 Length=8
    0x00, 0x00, 0x05, 0x08,
    0x00, 0x00, 0x00, 0x0A,  // source group 10
    0x00, 0x00, 0x00, 0x0B,  // destination group 11
    // RFC 9263 Policy Identifier: class 0x0000, type 0x06, Length=4
    0x00, 0x00, 0x06, 0x04,
    0x00, 0x00, 0x03, 0xE9,  // rule id 1001
    // libfw class 0xFFF6, type 0x01 tag set id, Length=4
    0xFF, 0xF6, 0x01, 0x04,
    0x00, 0x00, 0x00, 0x07,  // tag set 7
    // libfw class 0xFFF6, type 0x02 vNIC id, Length=4
    0xFF, 0xF6, 0x02, 0x04,
    0x00, 0x00, 0x00, 0x2A,  // vNIC 42
    // libfw class 0xFFF6, type 0x03 flow id, Length=8
    0xFF, 0xF6, 0x03, 0x08,
    0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08,  // flow 0x0102030405060708
};

// MD type 1 by hand: SPI 0xABCDEF, SI 3, TTL 42, O bit set, IPv4.
const Bytes kMd1Header = {
    // Ver=00 O=1 U=0 TTL=101010 Length=000110 (6)
    //   bits: 00 1 0 1010 | 10 000110 -> 0x2A 0x86
    0x2A, 0x86,
    0x01,                    // MD type 1
    0x01,                    // Next Protocol: IPv4
    0xAB, 0xCD, 0xEF, 0x03,  // SPI 0xABCDEF, SI 3
    0x11, 0x11, 0x11, 0x11,  // context word 1
    0x22, 0x22, 0x22, 0x22,  // context word 2
    0x33, 0x33, 0x33, 0x33,  // context word 3
    0x44, 0x44, 0x44, 0x44,  // context word 4
};

NshDecoded decode_ok(const Bytes& bytes, const NshOptions& options = {}) {
  NshDecoded d;
  NshError e = nsh_decode(bytes, d, options);
  EXPECT_EQ(e, NshError::kOk) << nsh_error_name(e);
  return d;
}

NshError decode_error(const Bytes& bytes, const NshOptions& options = {}) {
  NshDecoded d;
  return nsh_decode(bytes, d, options);
}

// ---- encoding against hand-written bytes ----------------------------------

TEST(NshEncode, Md2EveryFieldMatchesRfcLayout) {
  std::array<std::uint8_t, 256> buf{};
  NshWriteResult w = nsh_write_header(full_context(), buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), kFullHeader);
  EXPECT_EQ(nsh_header_size(full_context()), kFullHeader.size());
}

TEST(NshEncode, EncapsulateCopiesInnerAfterHeader) {
  std::array<std::uint8_t, 256> buf{};
  NshWriteResult w = nsh_encapsulate(full_context(), kInner, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), cat({kFullHeader, kInner}));
  EXPECT_EQ(nsh_encapsulated_size(full_context(), kInner.size()), w.bytes);
}

TEST(NshEncode, Md2WithoutMetadataIsTwoWords) {
  NshContext ctx{.spi = 1, .si = 254, .ttl = 1, .next_protocol = NshNextProtocol::kIpv6};
  const Bytes expected = {
      // Ver=00 O=0 U=0 TTL=000001 Length=000010 -> 00 0 0 0000 | 01 000010
      0x00, 0x42,
      0x02,                    // MD type 2
      0x02,                    // IPv6
      0x00, 0x00, 0x01, 0xFE,  // SPI 1, SI 254
  };
  std::array<std::uint8_t, 8> buf{};
  NshWriteResult w = nsh_write_header(ctx, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(Bytes(buf.begin(), buf.end()), expected);
}

TEST(NshEncode, Md1MatchesRfcLayout) {
  NshContext ctx{.spi = 0xABCDEF, .si = 3, .ttl = 42, .oam = true,
                 .next_protocol = NshNextProtocol::kIpv4, .md_type = kNshMdType1,
                 .md1_context = {0x11111111, 0x22222222, 0x33333333, 0x44444444}};
  std::array<std::uint8_t, 24> buf{};
  NshWriteResult w = nsh_write_header(ctx, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(Bytes(buf.begin(), buf.end()), kMd1Header);
}

TEST(NshEncode, ExtraContextHeadersArePaddedWithZeros) {
  const Bytes three = {0xAA, 0xBB, 0xCC};
  const Bytes none;
  const std::array<NshTlv, 2> extra{NshTlv{.md_class = 0x0200, .type = 0x7F, .value = three},
                                    NshTlv{.md_class = 0x0201, .type = 0x00, .value = none}};
  NshContext ctx{.spi = 2, .si = 9, .present = kNshHasVnicId, .vnic_id = 5, .extra_tlvs = extra};
  // 8 fixed + vNIC (4 + 4) + extra 1 (4 + 3 padded to 4) + extra 2 (4 + 0) = 28 bytes = 7 words.
  const Bytes expected_full = {
      0x0F, 0xC7,              // Ver 0, TTL 63, Length 7
      0x02, 0x03,              // MD type 2, Ethernet
      0x00, 0x00, 0x02, 0x09,  // SPI 2, SI 9
      0xFF, 0xF6, 0x02, 0x04,  // libfw vNIC id, Length 4
      0x00, 0x00, 0x00, 0x05,  // vNIC 5
      0x02, 0x00, 0x7F, 0x03,  // class 0x0200, type 0x7F, Length 3
      0xAA, 0xBB, 0xCC, 0x00,  // value + one pad byte
      0x02, 0x01, 0x00, 0x00,  // class 0x0201, type 0, Length 0 (no value)
  };
  std::array<std::uint8_t, 64> buf;
  buf.fill(0xEE);  // padding must be written, not left over
  NshWriteResult w = nsh_write_header(ctx, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), expected_full);
  EXPECT_EQ(nsh_header_size(ctx), expected_full.size());
}

TEST(NshEncode, CustomLibfwClass) {
  NshContext ctx{.spi = 2, .si = 9, .present = kNshHasTagSetId, .tag_set_id = 0x01020304};
  std::array<std::uint8_t, 16> buf{};
  NshWriteResult w = nsh_write_header(ctx, buf, {.libfw_md_class = 0x0234});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.bytes, 16u);
  EXPECT_EQ(Bytes(buf.begin() + 8, buf.end()), (Bytes{0x02, 0x34, 0x01, 0x04, 0x01, 0x02, 0x03, 0x04}));
  // Decoded with the default class, the header is someone else's.
  NshDecoded d = decode_ok(Bytes(buf.begin(), buf.end()));
  EXPECT_EQ(d.context.present, 0);
  EXPECT_EQ(d.unknown_header_count, 1);
  d = decode_ok(Bytes(buf.begin(), buf.end()), {.libfw_md_class = 0x0234});
  EXPECT_EQ(d.context.present, kNshHasTagSetId);
  EXPECT_EQ(d.context.tag_set_id, 0x01020304u);
}

TEST(NshEncode, EthernetFraming) {
  NshOptions options{.framing = NshFraming::kEthernetNsh,
                     .dst_mac = MacAddress::from_u64(0x020000000099ULL),
                     .src_mac = MacAddress::from_u64(0x0200000000AAULL)};
  NshContext ctx{.spi = 7, .si = 200, .ttl = 63};
  std::array<std::uint8_t, 64> buf{};
  NshWriteResult w = nsh_encapsulate(ctx, kInner, buf, options);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  const Bytes outer = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x99,  // dst MAC
      0x02, 0x00, 0x00, 0x00, 0x00, 0xAA,  // src MAC
      0x89, 0x4F,                          // EtherType NSH
      0x0F, 0xC2, 0x02, 0x03,              // TTL 63, Length 2, MD type 2, Ethernet
      0x00, 0x00, 0x07, 0xC8,              // SPI 7, SI 200
  };
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), cat({outer, kInner}));
  EXPECT_EQ(nsh_encapsulated_size(ctx, kInner.size(), options), w.bytes);

  NshDecoded d;
  ASSERT_EQ(nsh_decapsulate(std::span(buf).first(w.bytes), d, options), NshError::kOk);
  EXPECT_EQ(d.header_offset, 14u);
  EXPECT_EQ(d.header_bytes, 8u);
  EXPECT_EQ(d.context.spi, 7u);
  EXPECT_EQ(d.context.si, 200);
  EXPECT_EQ(Bytes(d.payload.begin(), d.payload.end()), kInner);
}

TEST(NshEncode, NoFramingIsTheFrameAsItIs) {
  NshOptions options{.framing = NshFraming::kNone};
  std::array<std::uint8_t, 64> buf{};
  // The context is not even looked at.
  NshContext bad{.spi = 0x1000000};
  NshWriteResult w = nsh_encapsulate(bad, kInner, buf, options);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), kInner);
  EXPECT_EQ(nsh_encapsulated_size(bad, kInner.size(), options), kInner.size());
  NshDecoded d;
  ASSERT_EQ(nsh_decapsulate(kInner, d, options), NshError::kOk);
  EXPECT_EQ(d.header_bytes, 0u);
  EXPECT_EQ(d.payload.data(), kInner.data());
  EXPECT_EQ(d.payload.size(), kInner.size());
}

// ---- decoding hand-written bytes --------------------------------------------

TEST(NshDecode, Md2EveryField) {
  const Bytes frame = cat({kFullHeader, kInner});
  NshDecoded d = decode_ok(frame);
  const NshContext& c = d.context;
  EXPECT_EQ(c.spi, 0x000123u);
  EXPECT_EQ(c.si, 255);
  EXPECT_EQ(c.ttl, 63);
  EXPECT_FALSE(c.oam);
  EXPECT_EQ(c.next_protocol, NshNextProtocol::kEthernet);
  EXPECT_EQ(c.md_type, kNshMdType2);
  EXPECT_EQ(c.present, kNshHasAll);
  EXPECT_EQ(c.source_group, 10u);
  EXPECT_EQ(c.destination_group, 11u);
  EXPECT_EQ(c.rule_id, 1001u);
  EXPECT_EQ(c.tag_set_id, 7u);
  EXPECT_EQ(c.vnic_id, 42u);
  EXPECT_EQ(c.flow_id, 0x0102030405060708ULL);
  EXPECT_EQ(d.header_offset, 0u);
  EXPECT_EQ(d.header_bytes, 56u);
  EXPECT_EQ(d.context_header_count, 5);
  EXPECT_EQ(d.unknown_header_count, 0);
  EXPECT_FALSE(d.unassigned_bits_set);
  EXPECT_EQ(d.context_headers.data(), frame.data() + 8);
  EXPECT_EQ(d.context_headers.size(), 48u);
  EXPECT_EQ(d.payload.data(), frame.data() + 56);
  EXPECT_EQ(Bytes(d.payload.begin(), d.payload.end()), kInner);
}

TEST(NshDecode, Md1FixedContext) {
  NshDecoded d = decode_ok(kMd1Header);
  EXPECT_EQ(d.context.md_type, kNshMdType1);
  EXPECT_EQ(d.context.spi, 0xABCDEFu);
  EXPECT_EQ(d.context.si, 3);
  EXPECT_EQ(d.context.ttl, 42);
  EXPECT_TRUE(d.context.oam);
  EXPECT_EQ(d.context.next_protocol, NshNextProtocol::kIpv4);
  EXPECT_EQ(d.context.md1_context, (std::array<std::uint32_t, 4>{0x11111111, 0x22222222, 0x33333333, 0x44444444}));
  EXPECT_EQ(d.context.present, 0);
  EXPECT_TRUE(d.context_headers.empty());
  EXPECT_EQ(d.header_bytes, 24u);
  EXPECT_TRUE(d.payload.empty());
}

TEST(NshDecode, UnknownContextHeadersAreSkippedAndCounted) {
  const Bytes bytes = {
      // TTL 63, Length 9 words (8 + 8 + 12 + 8 = 36 bytes), MD 2, Ethernet
      0x0F, 0xC9, 0x02, 0x03,
      0x00, 0x00, 0x10, 0x01,  // SPI 16, SI 1
      0x00, 0x00, 0x01, 0x04,  // IETF Tenant Identifier (0x01): not read by libfw
      0xDE, 0xAD, 0xBE, 0xEF,
      0x12, 0x34, 0x56, 0x85,  // class 0x1234 type 0x56, U bit SET, Length 5
      0x01, 0x02, 0x03, 0x04,
      0x05, 0x99, 0x99, 0x99,  // last value byte + 3 pad bytes (non-zero: ignored)
      0xFF, 0xF6, 0x02, 0x04,  // libfw vNIC id
      0x00, 0x00, 0x00, 0x09,
      0xAB,                    // payload
  };
  NshDecoded d = decode_ok(bytes);
  EXPECT_EQ(d.header_bytes, 36u);
  EXPECT_EQ(d.context_header_count, 3);
  EXPECT_EQ(d.unknown_header_count, 2);
  EXPECT_EQ(d.context.present, kNshHasVnicId);
  EXPECT_EQ(d.context.vnic_id, 9u);
  ASSERT_EQ(d.payload.size(), 1u);
  EXPECT_EQ(d.payload[0], 0xAB);

  NshTlvReader reader(d.context_headers);
  std::vector<NshTlv> seen;
  for (NshTlv tlv; reader.next(tlv);) seen.push_back(tlv);
  EXPECT_EQ(reader.error(), NshError::kOk);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].md_class, 0x0000);
  EXPECT_EQ(seen[0].type, 0x01);
  EXPECT_EQ(Bytes(seen[0].value.begin(), seen[0].value.end()), (Bytes{0xDE, 0xAD, 0xBE, 0xEF}));
  EXPECT_EQ(seen[1].md_class, 0x1234);
  EXPECT_EQ(seen[1].type, 0x56);
  EXPECT_EQ(Bytes(seen[1].value.begin(), seen[1].value.end()), (Bytes{1, 2, 3, 4, 5}));
  EXPECT_EQ(seen[2].md_class, 0xFFF6);
  EXPECT_EQ(seen[2].type, kNshLibfwTypeVnicId);
}

TEST(NshDecode, PolicyIdOfAnotherLengthIsNotARuleId) {
  const Bytes bytes = {
      0x0F, 0xC5, 0x02, 0x01,  // Length 5 words, MD 2, IPv4
      0x00, 0x00, 0x01, 0xFF,
      0x00, 0x00, 0x06, 0x08,  // IETF Policy ID, Length 8
      0x00, 0x00, 0x00, 0x01,
      0x00, 0x00, 0x00, 0x02,
  };
  NshDecoded d = decode_ok(bytes);
  EXPECT_EQ(d.context.present, 0);
  EXPECT_EQ(d.unknown_header_count, 1);
}

TEST(NshDecode, UnassignedBitsAreReportedAndIgnored) {
  Bytes bytes = {0x1F, 0xC2, 0xF2, 0x03, 0x00, 0x00, 0x01, 0xFF};  // U bit in byte 0, four in byte 2
  NshDecoded d = decode_ok(bytes);
  EXPECT_TRUE(d.unassigned_bits_set);
  EXPECT_EQ(d.context.ttl, 63);
  EXPECT_EQ(d.context.md_type, kNshMdType2);
}

TEST(NshDecode, ExperimentalNextProtocolOnlyWhenAccepted) {
  Bytes bytes = {0x0F, 0xC2, 0x02, 0xFE, 0x00, 0x00, 0x01, 0xFF};
  EXPECT_EQ(decode_error(bytes), NshError::kExperimentalNextProtocol);
  bytes[3] = 0xFF;
  EXPECT_EQ(decode_error(bytes), NshError::kExperimentalNextProtocol);
  NshDecoded d = decode_ok(bytes, {.accept_experimental_next_protocol = true});
  EXPECT_EQ(d.context.next_protocol, NshNextProtocol::kExperiment2);
}

TEST(NshDecode, EveryNextProtocolValue) {
  for (int np = 0; np < 256; ++np) {
    Bytes bytes = {0x0F, 0xC2, 0x02, static_cast<std::uint8_t>(np), 0x00, 0x00, 0x01, 0xFF};
    const NshError e = decode_error(bytes, {.accept_experimental_next_protocol = true});
    const bool known = (np >= 1 && np <= 5) || np >= 0xFE;
    EXPECT_EQ(e, known ? NshError::kOk : NshError::kUnknownNextProtocol) << np;
  }
}

// ---- every decode error ------------------------------------------------------

struct DecodeErrorCase {
  const char* what;
  Bytes bytes;
  NshError expected;
};

TEST(NshDecode, EveryError) {
  const std::vector<DecodeErrorCase> cases = {
      {"empty", {}, NshError::kTruncatedBaseHeader},
      {"seven bytes", {0x0F, 0xC2, 0x02, 0x03, 0x00, 0x00, 0x01}, NshError::kTruncatedBaseHeader},
      {"version 1", {0x4F, 0xC2, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadVersion},
      {"version 2", {0x8F, 0xC2, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadVersion},
      {"version 3", {0xCF, 0xC2, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadVersion},
      {"length 0", {0x0F, 0xC0, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadLength},
      {"length 1", {0x0F, 0xC1, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadLength},
      {"length 3, 8 bytes", {0x0F, 0xC3, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kTruncatedHeader},
      {"length 63, 8 bytes", {0x0F, 0xFF, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kTruncatedHeader},
      {"md type 0", {0x0F, 0xC2, 0x00, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kReservedMdType},
      {"md type 3", {0x0F, 0xC2, 0x03, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kUnknownMdType},
      {"md type 14", {0x0F, 0xC2, 0x0E, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kUnknownMdType},
      {"md type 15", {0x0F, 0xC2, 0x0F, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kExperimentalMdType},
      {"md type 1, length 2", {0x0F, 0xC2, 0x01, 0x03, 0x00, 0x00, 0x01, 0xFF}, NshError::kBadMd1Length},
      {"md type 1, length 7",
       {0x0F, 0xC7, 0x01, 0x03, 0x00, 0x00, 0x01, 0xFF, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5},
       NshError::kBadMd1Length},
      {"next protocol 0", {0x0F, 0xC2, 0x02, 0x00, 0x00, 0x00, 0x01, 0xFF}, NshError::kUnknownNextProtocol},
      {"next protocol 6", {0x0F, 0xC2, 0x02, 0x06, 0x00, 0x00, 0x01, 0xFF}, NshError::kUnknownNextProtocol},
      {"next protocol 0xfe", {0x0F, 0xC2, 0x02, 0xFE, 0x00, 0x00, 0x01, 0xFF}, NshError::kExperimentalNextProtocol},
      // Length 3: one 4-byte word of context headers holds a TLV header
      // whose value (Length 1, padded to 4) does not fit.
      {"tlv value past the header",
       {0x0F, 0xC3, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x12, 0x34, 0x01, 0x01, 0xAA, 0xAA, 0xAA, 0xAA},
       NshError::kContextHeaderOverrun},
      {"tlv padding past the header",
       {0x0F, 0xC4, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x12, 0x34, 0x01, 0x05, 1, 2, 3, 4, 5},
       NshError::kContextHeaderOverrun},
      {"tlv of 127 bytes in a short header",
       {0x0F, 0xC4, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x12, 0x34, 0x01, 0x7F, 1, 2, 3, 4},
       NshError::kContextHeaderOverrun},
      {"groups of 4 bytes",
       {0x0F, 0xC4, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x00, 0x05, 0x04, 0, 0, 0, 1},
       NshError::kBadContextHeaderLength},
      {"vnic id of 8 bytes",
       {0x0F, 0xC5, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xF6, 0x02, 0x08, 0, 0, 0, 1, 0, 0, 0, 2},
       NshError::kBadContextHeaderLength},
      {"flow id of 4 bytes",
       {0x0F, 0xC4, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xF6, 0x03, 0x04, 0, 0, 0, 1},
       NshError::kBadContextHeaderLength},
      {"tag set id of 0 bytes",
       {0x0F, 0xC3, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xF6, 0x01, 0x00},
       NshError::kBadContextHeaderLength},
      {"rule id twice",
       {0x0F, 0xC6, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x00, 0x06, 0x04, 0, 0, 0, 1, 0x00, 0x00, 0x06, 0x04, 0, 0, 0, 2},
       NshError::kDuplicateContextHeader},
      {"groups twice",
       {0x0F, 0xC8, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x00, 0x05, 0x08, 0, 0, 0, 1, 0, 0, 0, 2,
        0x00, 0x00, 0x05, 0x08, 0, 0, 0, 1, 0, 0, 0, 2},
       NshError::kDuplicateContextHeader},
  };
  std::set<NshError> covered;
  for (const DecodeErrorCase& c : cases) {
    NshDecoded d;
    EXPECT_EQ(nsh_decode(c.bytes, d), c.expected)
        << c.what << ": got " << nsh_error_name(nsh_decode(c.bytes, d));
    covered.insert(c.expected);
  }
  // The only decode error a 4-byte-aligned Length cannot produce is
  // kTruncatedContextHeader (1-3 bytes left): NshTlvReader reports it.
  const Bytes two = {0x00, 0x00};
  NshTlvReader reader(two);
  NshTlv tlv;
  EXPECT_FALSE(reader.next(tlv));
  EXPECT_EQ(reader.error(), NshError::kTruncatedContextHeader);
  EXPECT_FALSE(reader.next(tlv));  // stays failed
  covered.insert(NshError::kTruncatedContextHeader);
  for (NshError e : {NshError::kTruncatedBaseHeader, NshError::kBadVersion, NshError::kBadLength,
                     NshError::kTruncatedHeader, NshError::kReservedMdType, NshError::kExperimentalMdType,
                     NshError::kUnknownMdType, NshError::kBadMd1Length, NshError::kUnknownNextProtocol,
                     NshError::kExperimentalNextProtocol, NshError::kContextHeaderOverrun,
                     NshError::kBadContextHeaderLength, NshError::kDuplicateContextHeader}) {
    EXPECT_TRUE(covered.count(e)) << nsh_error_name(e);
  }
}

TEST(NshDecode, EthernetFramingErrors) {
  const NshOptions options{.framing = NshFraming::kEthernetNsh};
  NshDecoded d;
  const Bytes short_eth(13, 0);
  EXPECT_EQ(nsh_decapsulate(short_eth, d, options), NshError::kTruncatedEthernet);
  Bytes vlan = cat({Bytes(12, 0x02), {0x81, 0x00}, {0x0F, 0xC2, 0x02, 0x03, 0x00, 0x00, 0x01, 0xFF}});
  EXPECT_EQ(nsh_decapsulate(vlan, d, options), NshError::kNotNshEtherType);
  Bytes ok = vlan;
  ok[12] = 0x89;
  ok[13] = 0x4F;
  EXPECT_EQ(nsh_decapsulate(ok, d, options), NshError::kOk);
  Bytes bad_inner = ok;
  bad_inner[14] = 0x4F;  // version 1
  EXPECT_EQ(nsh_decapsulate(bad_inner, d, options), NshError::kBadVersion);
  Bytes only_eth(ok.begin(), ok.begin() + 14);
  EXPECT_EQ(nsh_decapsulate(only_eth, d, options), NshError::kTruncatedBaseHeader);
  EXPECT_EQ(nsh_decapsulate(ok, d, {.framing = static_cast<NshFraming>(9)}), NshError::kBadFraming);
}

// ---- truncation at every length -----------------------------------------------

TEST(NshDecode, TruncationAtEveryLength) {
  for (const Bytes& header : {kFullHeader, kMd1Header}) {
    const Bytes frame = cat({header, kInner});
    for (std::size_t n = 0; n <= frame.size(); ++n) {
      // Decode from a heap copy of exactly n bytes so that ASan catches a
      // read past the end.
      std::vector<std::uint8_t> prefix(frame.begin(), frame.begin() + static_cast<long>(n));
      NshDecoded d;
      const NshError e = nsh_decode(prefix, d);
      if (n < 8) {
        EXPECT_EQ(e, NshError::kTruncatedBaseHeader) << n;
      } else if (n < header.size()) {
        EXPECT_EQ(e, NshError::kTruncatedHeader) << n;
      } else {
        ASSERT_EQ(e, NshError::kOk) << n;
        EXPECT_EQ(d.payload.size(), n - header.size());
      }
    }
  }
}

TEST(NshDecode, EthernetTruncationAtEveryLength) {
  const NshOptions options{.framing = NshFraming::kEthernetNsh};
  std::array<std::uint8_t, 128> buf{};
  NshWriteResult w = nsh_encapsulate(full_context(), kInner, buf, options);
  ASSERT_TRUE(w.ok());
  for (std::size_t n = 0; n <= w.bytes; ++n) {
    std::vector<std::uint8_t> prefix(buf.begin(), buf.begin() + static_cast<long>(n));
    NshDecoded d;
    const NshError e = nsh_decapsulate(prefix, d, options);
    if (n < 14) EXPECT_EQ(e, NshError::kTruncatedEthernet) << n;
    else if (n < 22) EXPECT_EQ(e, NshError::kTruncatedBaseHeader) << n;
    else if (n < 14 + kFullHeader.size()) EXPECT_EQ(e, NshError::kTruncatedHeader) << n;
    else EXPECT_EQ(e, NshError::kOk) << n;
  }
}

// ---- encode errors -----------------------------------------------------------

TEST(NshEncode, EveryError) {
  std::array<std::uint8_t, 512> buf{};
  auto err = [&](const NshContext& ctx, const NshOptions& options = {}) {
    return nsh_encapsulate(ctx, kInner, buf, options).error;
  };
  EXPECT_EQ(err({.spi = 0x1000000}), NshError::kBadSpi);
  EXPECT_EQ(err({.spi = 0xFFFFFF}), NshError::kOk);
  EXPECT_EQ(err({.ttl = 64}), NshError::kBadTtl);
  EXPECT_EQ(err({.ttl = 0}), NshError::kOk);
  EXPECT_EQ(err({.md_type = 0}), NshError::kBadMdType);
  EXPECT_EQ(err({.md_type = 3}), NshError::kBadMdType);
  EXPECT_EQ(err({.md_type = 15}), NshError::kBadMdType);
  EXPECT_EQ(err({.next_protocol = static_cast<NshNextProtocol>(0)}), NshError::kBadNextProtocol);
  EXPECT_EQ(err({.next_protocol = static_cast<NshNextProtocol>(6)}), NshError::kBadNextProtocol);
  EXPECT_EQ(err({.next_protocol = NshNextProtocol::kExperiment1}), NshError::kOk);
  EXPECT_EQ(err({.present = 0x20}), NshError::kBadPresentBits);
  EXPECT_EQ(err({.md_type = kNshMdType1, .present = kNshHasRuleId}), NshError::kBadPresentBits);
  const Bytes big(128, 1), max(127, 1);
  const std::array<NshTlv, 1> too_big{NshTlv{.md_class = 1, .type = 1, .value = big}};
  EXPECT_EQ(err({.extra_tlvs = too_big}), NshError::kBadExtraContextHeader);
  const std::array<NshTlv, 1> one{NshTlv{.md_class = 1, .type = 1, .value = max}};
  EXPECT_EQ(err({.md_type = kNshMdType1, .extra_tlvs = one}), NshError::kBadPresentBits);
  // 8 + 132 = 140 bytes fits; a second 127-byte value (8 + 264) does not.
  EXPECT_EQ(err({.extra_tlvs = one}), NshError::kOk);
  const std::array<NshTlv, 2> two{one[0], one[0]};
  EXPECT_EQ(err({.extra_tlvs = two}), NshError::kHeaderTooLong);
  EXPECT_EQ(err({}, {.framing = static_cast<NshFraming>(3)}), NshError::kBadFraming);
  std::set<std::string> names;
  for (std::size_t i = 0; i < kNshErrorCount; ++i) {
    std::string_view name = nsh_error_name(static_cast<NshError>(i));
    EXPECT_NE(name, "unknown") << i;
    EXPECT_TRUE(names.insert(std::string(name)).second) << name;
  }
  EXPECT_EQ(nsh_error_name(NshError::kCount), "unknown");
}

TEST(NshEncode, LargestHeaderIs63Words) {
  // 8 fixed + 48 (all libfw metadata) + two extra headers of 4 + 88 bytes
  // = 240 bytes; then 4 + 100 for the second = 252 (63 words, the most).
  const Bytes v88(88, 0x5A);
  const std::array<NshTlv, 2> extra{NshTlv{.md_class = 0x0300, .type = 1, .value = v88},
                                    NshTlv{.md_class = 0x0300, .type = 2, .value = v88}};
  NshContext ctx = full_context();
  ctx.extra_tlvs = extra;
  ASSERT_EQ(nsh_header_size(ctx), 8u + 48u + 2u * 92u);  // 240
  std::array<std::uint8_t, 252> buf{};
  NshWriteResult w = nsh_write_header(ctx, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(buf[1] & 0x3F, 60);
  const Bytes v100(100, 0x5A);
  const std::array<NshTlv, 2> longer{extra[0], NshTlv{.md_class = 0x0300, .type = 2, .value = v100}};
  ctx.extra_tlvs = longer;  // 8 + 48 + 92 + 104 = 252
  w = nsh_write_header(ctx, buf);
  ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
  EXPECT_EQ(w.bytes, 252u);
  EXPECT_EQ(buf[1] & 0x3F, 63);
  NshDecoded d = decode_ok(Bytes(buf.begin(), buf.end()));
  EXPECT_EQ(d.context.present, kNshHasAll);
  EXPECT_EQ(d.unknown_header_count, 2);
  const Bytes v101(101, 0x5A);
  const std::array<NshTlv, 2> too_long{extra[0], NshTlv{.md_class = 0x0300, .type = 2, .value = v101}};
  ctx.extra_tlvs = too_long;  // 256
  EXPECT_EQ(nsh_write_header(ctx, buf).error, NshError::kHeaderTooLong);
}

TEST(NshEncode, BufferTooSmallAtEverySize) {
  for (NshFraming framing : {NshFraming::kNone, NshFraming::kNsh, NshFraming::kEthernetNsh}) {
    const NshOptions options{.framing = framing};
    const std::size_t need = nsh_encapsulated_size(full_context(), kInner.size(), options);
    for (std::size_t n = 0; n < need; ++n) {
      std::vector<std::uint8_t> out(n);
      EXPECT_EQ(nsh_encapsulate(full_context(), kInner, out, options).error, NshError::kBufferTooSmall) << n;
    }
    std::vector<std::uint8_t> out(need);
    EXPECT_TRUE(nsh_encapsulate(full_context(), kInner, out, options).ok());
  }
  for (std::size_t n = 0; n < kFullHeader.size(); ++n) {
    std::vector<std::uint8_t> out(n);
    EXPECT_EQ(nsh_write_header(full_context(), out).error, NshError::kBufferTooSmall) << n;
  }
}

// ---- SI / TTL on the way back -----------------------------------------------

TEST(NshUpdate, DecrementServiceIndex) {
  Bytes h = kFullHeader;
  ASSERT_EQ(nsh_decrement_si(h), NshError::kOk);
  EXPECT_EQ(h[7], 0xFE);
  h[7] = 1;
  ASSERT_EQ(nsh_decrement_si(h), NshError::kOk);
  EXPECT_EQ(h[7], 0);
  EXPECT_EQ(nsh_decrement_si(h), NshError::kServiceIndexExhausted);
  EXPECT_EQ(h[7], 0);
  // Nothing else changed.
  Bytes expected = kFullHeader;
  expected[7] = 0;
  EXPECT_EQ(h, expected);
  Bytes short_h(7, 0);
  EXPECT_EQ(nsh_decrement_si(short_h), NshError::kTruncatedBaseHeader);
  Bytes v1 = kFullHeader;
  v1[0] |= 0x40;
  EXPECT_EQ(nsh_decrement_si(v1), NshError::kBadVersion);
}

TEST(NshUpdate, DecrementTtl) {
  // TTL 42 with the O bit and every U bit set: only the TTL bits move.
  //   0x3A = 00 1 1 1010 (Ver, O, U, TTL high), 0x82 = 10 000010 (TTL low, Length 2),
  //   0xF2 = U 1111, MD type 2.
  Bytes h = {0x3A, 0x82, 0xF2, 0x01, 0xAB, 0xCD, 0xEF, 0x03};
  ASSERT_EQ(nsh_decrement_ttl(h), NshError::kOk);
  // TTL 41 = 101001: byte 0 low nibble 1010, byte 1 top bits 01.
  EXPECT_EQ(h, (Bytes{0x3A, 0x42, 0xF2, 0x01, 0xAB, 0xCD, 0xEF, 0x03}));
  NshDecoded d = decode_ok(h);
  EXPECT_EQ(d.context.ttl, 41);
  EXPECT_TRUE(d.context.oam);
  EXPECT_TRUE(d.unassigned_bits_set);

  Bytes one = {0x00, 0x42, 0x02, 0x03, 0, 0, 1, 0xFF};  // TTL 1
  EXPECT_EQ(nsh_decrement_ttl(one), NshError::kTtlExpired);
  EXPECT_EQ(one[0], 0x00);
  EXPECT_EQ(one[1], 0x02);  // TTL 0, Length 2
  // From 0 it wraps to 63 (RFC 8300 §2.2).
  EXPECT_EQ(nsh_decrement_ttl(one), NshError::kOk);
  EXPECT_EQ(one[0], 0x0F);
  EXPECT_EQ(one[1], 0xC2);
  Bytes short_h(3, 0);
  EXPECT_EQ(nsh_decrement_ttl(short_h), NshError::kTruncatedBaseHeader);
}

TEST(NshUpdate, TtlDecrementsThroughEveryValue) {
  Bytes h = {0x0F, 0xC2, 0x02, 0x03, 0, 0, 1, 0xFF};
  for (int ttl = 63; ttl >= 1; --ttl) {
    const NshError e = nsh_decrement_ttl(h);
    EXPECT_EQ(e, ttl == 1 ? NshError::kTtlExpired : NshError::kOk) << ttl;
    EXPECT_EQ(decode_ok(h).context.ttl, ttl - 1);
    EXPECT_EQ(h[1] & 0x3F, 2);  // Length untouched
  }
}

// ---- round trips ---------------------------------------------------------------

TEST(NshRoundTrip, RandomContexts) {
  std::mt19937_64 rng(20240613);
  std::array<std::uint8_t, 300> buf{};
  std::array<std::uint8_t, 64> values{};
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::uint8_t>(i * 7 + 1);
  for (int iter = 0; iter < 5000; ++iter) {
    NshContext ctx;
    ctx.spi = static_cast<std::uint32_t>(rng() & kNshMaxSpi);
    ctx.si = static_cast<std::uint8_t>(rng());
    ctx.ttl = static_cast<std::uint8_t>(rng() % 64);
    ctx.oam = (rng() & 1) != 0;
    static constexpr NshNextProtocol kProtocols[] = {NshNextProtocol::kIpv4, NshNextProtocol::kIpv6,
                                                     NshNextProtocol::kEthernet, NshNextProtocol::kNsh,
                                                     NshNextProtocol::kMpls};
    ctx.next_protocol = kProtocols[rng() % 5];
    std::array<NshTlv, 3> extra{};
    const bool md1 = rng() % 4 == 0;
    if (md1) {
      ctx.md_type = kNshMdType1;
      for (auto& w : ctx.md1_context) w = static_cast<std::uint32_t>(rng());
    } else {
      ctx.present = static_cast<std::uint8_t>(rng() & kNshHasAll);
      ctx.source_group = ctx.present & kNshHasGroups ? static_cast<std::uint32_t>(rng()) : 0;
      ctx.destination_group = ctx.present & kNshHasGroups ? static_cast<std::uint32_t>(rng()) : 0;
      ctx.rule_id = ctx.present & kNshHasRuleId ? static_cast<std::uint32_t>(rng()) : 0;
      ctx.tag_set_id = ctx.present & kNshHasTagSetId ? static_cast<std::uint32_t>(rng()) : 0;
      ctx.vnic_id = ctx.present & kNshHasVnicId ? static_cast<std::uint32_t>(rng()) : 0;
      ctx.flow_id = ctx.present & kNshHasFlowId ? rng() : 0;
      const std::size_t n_extra = rng() % 4;
      for (std::size_t k = 0; k < n_extra; ++k) {
        // Classes that are neither IETF nor libfw's: always skipped.
        extra[k] = NshTlv{.md_class = static_cast<std::uint16_t>(0x0100 + rng() % 0x100),
                          .type = static_cast<std::uint8_t>(rng()),
                          .value = std::span<const std::uint8_t>(values).first(rng() % 40)};
      }
      ctx.extra_tlvs = std::span<const NshTlv>(extra).first(n_extra);
    }
    const Bytes inner(rng() % 20, 0x77);
    NshWriteResult w = nsh_encapsulate(ctx, inner, buf);
    ASSERT_TRUE(w.ok()) << nsh_error_name(w.error);
    ASSERT_EQ(w.bytes, nsh_header_size(ctx) + inner.size());
    NshDecoded d;
    ASSERT_EQ(nsh_decode(std::span(buf).first(w.bytes), d), NshError::kOk);
    const NshContext& c = d.context;
    EXPECT_EQ(c.spi, ctx.spi);
    EXPECT_EQ(c.si, ctx.si);
    EXPECT_EQ(c.ttl, ctx.ttl);
    EXPECT_EQ(c.oam, ctx.oam);
    EXPECT_EQ(c.next_protocol, ctx.next_protocol);
    EXPECT_EQ(c.md_type, ctx.md_type);
    EXPECT_EQ(c.present, ctx.present);
    EXPECT_EQ(c.source_group, ctx.source_group);
    EXPECT_EQ(c.destination_group, ctx.destination_group);
    EXPECT_EQ(c.rule_id, ctx.rule_id);
    EXPECT_EQ(c.tag_set_id, ctx.tag_set_id);
    EXPECT_EQ(c.vnic_id, ctx.vnic_id);
    EXPECT_EQ(c.flow_id, ctx.flow_id);
    if (md1) {
      EXPECT_EQ(c.md1_context, ctx.md1_context);
    }
    EXPECT_EQ(d.header_bytes, nsh_header_size(ctx));
    EXPECT_EQ(d.unknown_header_count, ctx.extra_tlvs.size());
    EXPECT_EQ(Bytes(d.payload.begin(), d.payload.end()), inner);
    // The extra headers come back in order, byte for byte.
    NshTlvReader reader(d.context_headers);
    std::size_t k = 0;
    for (NshTlv tlv; reader.next(tlv);) {
      if (tlv.md_class < 0x0100 || tlv.md_class >= 0x0200) continue;
      ASSERT_LT(k, ctx.extra_tlvs.size());
      EXPECT_EQ(tlv.md_class, ctx.extra_tlvs[k].md_class);
      EXPECT_EQ(tlv.type, ctx.extra_tlvs[k].type);
      EXPECT_EQ(Bytes(tlv.value.begin(), tlv.value.end()),
                Bytes(ctx.extra_tlvs[k].value.begin(), ctx.extra_tlvs[k].value.end()));
      ++k;
    }
    EXPECT_EQ(reader.error(), NshError::kOk);
    EXPECT_EQ(k, ctx.extra_tlvs.size());
  }
}

TEST(NshRoundTrip, DecodedHeaderReencodesToTheSameBytes) {
  // A header libfw wrote decodes to a context that writes the same bytes.
  NshDecoded d = decode_ok(kFullHeader);
  std::array<std::uint8_t, 64> buf{};
  NshWriteResult w = nsh_write_header(d.context, buf);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), kFullHeader);
  d = decode_ok(kMd1Header);
  w = nsh_write_header(d.context, buf);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(w.bytes)), kMd1Header);
}

}  // namespace
}  // namespace fw
