// libFuzzer target for the NSH codec (fw/nsh.h). The input's first byte
// chooses the options — bits 0-1 the framing (3: an invalid framing value),
// bit 2 accept experimental next protocols, bit 3 libfw's MD class 0x0200
// instead of the default; the rest is what a service handed back.
// ASan/UBSan catch reads outside the input; the checks below catch a
// decoded header that points outside the input or contradicts itself, and
// a round trip that does not hold: a decoded header re-encodes (its unknown
// context headers passed through as extra ones) to a header of the same
// length that decodes to the same fields and unknown headers, and whose
// re-encoding is the same bytes again. MD type 1 headers without U bits
// re-encode to the very bytes they came from. The in-place SI/TTL updates
// run on a copy and are checked against a second decode.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fw/nsh.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_nsh: invariant violated: %s\n", what);
    std::abort();
  }
}

bool inside(std::span<const std::uint8_t> part, std::span<const std::uint8_t> whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// At most (252 - 8) / 4 = 61 context headers fit in one NSH.
constexpr std::size_t kMaxTlvs = 61;

struct Tlvs {
  std::array<fw::NshTlv, kMaxTlvs> all{};
  std::size_t count = 0;
};

Tlvs read_tlvs(std::span<const std::uint8_t> context_headers) {
  Tlvs out;
  fw::NshTlvReader reader(context_headers);
  for (fw::NshTlv tlv; reader.next(tlv);) {
    require(out.count < kMaxTlvs, "at most 61 context headers");
    require(inside(tlv.value, context_headers), "a context header's value is inside the header");
    require(tlv.value.size() <= fw::kNshMaxTlvValueBytes, "a value is at most 127 bytes");
    out.all[out.count++] = tlv;
  }
  require(reader.error() == fw::NshError::kOk, "a decoded header's context headers walk cleanly");
  return out;
}

bool same_tlv(const fw::NshTlv& a, const fw::NshTlv& b) {
  return a.md_class == b.md_class && a.type == b.type && a.value.size() == b.value.size() &&
         (a.value.empty() || std::memcmp(a.value.data(), b.value.data(), a.value.size()) == 0);
}

bool same_fields(const fw::NshContext& a, const fw::NshContext& b) {
  return a.spi == b.spi && a.si == b.si && a.ttl == b.ttl && a.oam == b.oam &&
         a.next_protocol == b.next_protocol && a.md_type == b.md_type && a.present == b.present &&
         a.source_group == b.source_group && a.destination_group == b.destination_group &&
         a.rule_id == b.rule_id && a.tag_set_id == b.tag_set_id && a.vnic_id == b.vnic_id &&
         a.flow_id == b.flow_id && (a.md_type != fw::kNshMdType1 || a.md1_context == b.md1_context);
}

void check_decoded(const fw::NshDecoded& d, std::span<const std::uint8_t> input, const fw::NshOptions& options) {
  if (options.framing == fw::NshFraming::kNone) {
    require(d.payload.data() == input.data() && d.payload.size() == input.size(), "kNone: payload is the input");
    require(d.header_bytes == 0, "kNone: no header");
    return;
  }
  const std::size_t offset = options.framing == fw::NshFraming::kEthernetNsh ? fw::kNshEthernetHeaderBytes : 0;
  require(d.header_offset == offset, "header_offset follows the framing");
  require(d.header_bytes >= fw::kNshFixedHeaderBytes && d.header_bytes <= fw::kNshMaxHeaderBytes &&
              d.header_bytes % 4 == 0,
          "header_bytes is 2-63 words");
  require(offset + d.header_bytes <= input.size(), "the header is inside the input");
  require(d.payload.data() == input.data() + offset + d.header_bytes &&
              offset + d.header_bytes + d.payload.size() == input.size(),
          "the payload is the rest of the input");
  const fw::NshContext& c = d.context;
  require(c.spi <= fw::kNshMaxSpi && c.ttl <= fw::kNshMaxTtl, "fields in range");
  require(c.md_type == fw::kNshMdType1 || c.md_type == fw::kNshMdType2, "only MD types 1 and 2 decode");
  require((c.present & ~fw::kNshHasAll) == 0, "present bits in range");
  if (c.md_type == fw::kNshMdType1) {
    require(d.header_bytes == fw::kNshMd1HeaderBytes && d.context_headers.empty() && c.present == 0,
            "MD type 1 is 24 bytes without context headers");
  } else {
    require(d.context_headers.size() == d.header_bytes - fw::kNshFixedHeaderBytes &&
                inside(d.context_headers, input),
            "context headers fill the rest of the header");
  }
  const std::uint8_t np = static_cast<std::uint8_t>(c.next_protocol);
  require((np >= 1 && np <= 5) || (options.accept_experimental_next_protocol && np >= 0xfe),
          "only known next protocols decode");
  volatile std::uint8_t sink = 0;
  for (std::uint8_t b : d.payload) sink = sink ^ b;
}

void check_round_trip(const fw::NshDecoded& d, std::span<const std::uint8_t> nsh, const fw::NshOptions& options) {
  const Tlvs tlvs = read_tlvs(d.context_headers);
  require(tlvs.count == d.context_header_count, "context_header_count counts every header");
  require(d.unknown_header_count <= d.context_header_count, "unknown headers are among all");

  // Pass the headers libfw did not read through as extra ones: decode
  // them from a fresh decode of each header alone to know which they are.
  std::array<fw::NshTlv, kMaxTlvs> unknown{};
  std::size_t n_unknown = 0;
  for (std::size_t i = 0; i < tlvs.count; ++i) {
    // A one-header NSH around this TLV tells whether libfw reads it.
    std::array<std::uint8_t, fw::kNshMaxHeaderBytes> one{};
    fw::NshContext probe{.extra_tlvs = std::span<const fw::NshTlv>(&tlvs.all[i], 1)};
    fw::NshWriteResult w = fw::nsh_write_header(probe, one, options);
    require(w.ok(), "one decoded context header re-encodes alone");
    fw::NshDecoded alone;
    require(fw::nsh_decode(std::span(one).first(w.bytes), alone, options) == fw::NshError::kOk,
            "one decoded context header decodes alone");
    if (alone.unknown_header_count == 1) unknown[n_unknown++] = tlvs.all[i];
  }
  require(n_unknown == d.unknown_header_count, "unknown_header_count counts the headers libfw skips");

  fw::NshContext again = d.context;
  again.extra_tlvs = std::span<const fw::NshTlv>(unknown).first(n_unknown);
  std::array<std::uint8_t, fw::kNshMaxHeaderBytes> first{};
  fw::NshWriteResult w1 = fw::nsh_write_header(again, first, options);
  require(w1.ok(), "a decoded header re-encodes");
  require(w1.bytes == d.header_bytes, "the re-encoded header has the same length");
  require(fw::nsh_header_size(again) == w1.bytes, "nsh_header_size agrees with the writer");
  if (d.context.md_type == fw::kNshMdType1 && !d.unassigned_bits_set) {
    require(std::memcmp(first.data(), nsh.data(), w1.bytes) == 0, "MD type 1 re-encodes to the same bytes");
  }

  fw::NshDecoded d2;
  require(fw::nsh_decode(std::span(first).first(w1.bytes), d2, options) == fw::NshError::kOk,
          "the re-encoded header decodes");
  require(same_fields(d.context, d2.context), "the re-encoded header decodes to the same fields");
  require(!d2.unassigned_bits_set, "the encoder writes no U bit");
  require(d2.unknown_header_count == n_unknown, "the unknown headers come back");
  const Tlvs tlvs2 = read_tlvs(d2.context_headers);
  std::size_t k = 0;
  for (std::size_t i = 0; i < tlvs2.count; ++i) {
    if (k < n_unknown && same_tlv(tlvs2.all[i], unknown[k])) ++k;
  }
  require(k == n_unknown, "the unknown headers come back in order, byte for byte");

  fw::NshContext third = d2.context;
  third.extra_tlvs = again.extra_tlvs;
  std::array<std::uint8_t, fw::kNshMaxHeaderBytes> second{};
  fw::NshWriteResult w2 = fw::nsh_write_header(third, second, options);
  require(w2.ok() && w2.bytes == w1.bytes && std::memcmp(first.data(), second.data(), w1.bytes) == 0,
          "re-encoding is idempotent");
}

void check_updates(const fw::NshDecoded& d, std::span<const std::uint8_t> nsh, const fw::NshOptions& options) {
  std::vector<std::uint8_t> copy(nsh.begin(), nsh.end());
  const fw::NshError si = fw::nsh_decrement_si(copy);
  require(si == (d.context.si == 0 ? fw::NshError::kServiceIndexExhausted : fw::NshError::kOk),
          "SI decrement fails only at 0");
  const fw::NshError ttl = fw::nsh_decrement_ttl(copy);
  const std::uint8_t want_ttl = d.context.ttl == 0 ? 63 : static_cast<std::uint8_t>(d.context.ttl - 1);
  require(ttl == (want_ttl == 0 ? fw::NshError::kTtlExpired : fw::NshError::kOk), "TTL expires only at 0");
  fw::NshDecoded after;
  require(fw::nsh_decode(copy, after, options) == fw::NshError::kOk, "an updated header still decodes");
  require(after.context.si == (d.context.si == 0 ? 0 : d.context.si - 1), "SI went down by one");
  require(after.context.ttl == want_ttl, "TTL went down by one");
  fw::NshContext expect = d.context;
  expect.si = after.context.si;
  expect.ttl = after.context.ttl;
  require(same_fields(expect, after.context), "nothing else changed");
  require(after.unassigned_bits_set == d.unassigned_bits_set, "U bits preserved");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  fw::NshOptions options{.framing = static_cast<fw::NshFraming>(selector & 0x3),
                         .libfw_md_class = (selector & 0x8) ? std::uint16_t{0x0200} : fw::kNshMdClassLibfwDefault,
                         .accept_experimental_next_protocol = (selector & 0x4) != 0};

  fw::NshDecoded d;
  const fw::NshError e = fw::nsh_decapsulate(input, d, options);
  require(static_cast<std::size_t>(e) < fw::kNshErrorCount, "error value in range");
  require(fw::nsh_error_name(e) != "unknown", "error has a name");
  if ((selector & 0x3) == 3) {
    require(e == fw::NshError::kBadFraming, "an invalid framing is refused");
    return 0;
  }
  if (e != fw::NshError::kOk) return 0;
  check_decoded(d, input, options);
  if (options.framing == fw::NshFraming::kNone) return 0;

  const std::span<const std::uint8_t> nsh = input.subspan(d.header_offset);
  check_round_trip(d, nsh, options);
  check_updates(d, nsh, options);

  // Encapsulating the payload again with the same framing gives back the
  // same payload.
  fw::NshContext again = d.context;
  std::vector<std::uint8_t> out(fw::nsh_encapsulated_size(again, d.payload.size(), options));
  fw::NshWriteResult w = fw::nsh_encapsulate(again, d.payload, out, options);
  require(w.ok() && w.bytes == out.size(), "the payload re-encapsulates");
  fw::NshDecoded back;
  require(fw::nsh_decapsulate(out, back, options) == fw::NshError::kOk, "the re-encapsulation decodes");
  require(back.payload.size() == d.payload.size() &&
              (d.payload.empty() || std::memcmp(back.payload.data(), d.payload.data(), d.payload.size()) == 0),
          "the payload survives re-encapsulation");
  return 0;
}
