// AddressClassMap::walk_avx512: the IPv4 burst walk, eight addresses at once
// (AVX-512F/BW/DQ/VL, enabled for this function only; it runs where
// AddressClassMap::walk_supported(kAvx512) says so).
//
// Each address sits in a 64-bit lane (a lane holds its node's address:
// nodes_ plus the entry's offset bits, up to 4 GiB). The root entries are
// one gather; then per level, for the lanes whose entry is a child node:
// one or two gathers of leaf bounds (8 bytes, or 16 for a 12-run leaf),
// then one of the next entry. A leaf's run is found as the scalar
// leaf_value() finds it, counted instead of scanned: the number of bounds
// below the address byte (unused bounds are 255, never below), by one byte
// compare of the eight lanes' bounds and a sum of each lane's bytes
// (vpsadbw). A table's entry is its byte's word. Lanes that hold a class
// stay as they are (masked gathers). At most two levels below the 16-bit
// root. Groups of eight go level by level together (up to 16 groups): a
// group's gathers depend on each other, the groups' do not, so their
// latencies overlap (walking each group to the end first cost ~15 % more
// time on ClassBench acl1_10k).
//
// The gathers are plain (not atomic) loads: x86 keeps loads in order, and
// every node address depends on the entry that named it (published with
// release after the node was filled), as in the scalar walk.
#include "libfw/classify/address_class_map.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// GCC 12's AVX-512 headers set the undefined source of some intrinsics from
// itself, which -Wmaybe-uninitialized reports at every use (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

namespace fw::classify {

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void AddressClassMap::walk_avx512(
    const AddressClassMap& m, const std::uint32_t* in, ClassId* out, std::size_t n) noexcept {
  const void* const root = m.v4_root_;
  const __m512i nodes = _mm512_set1_epi64(reinterpret_cast<std::int64_t>(m.nodes_));
  const __m512i child_bit = _mm512_set1_epi64(kChildBit);
  const __m512i leaf_bit = _mm512_set1_epi64(kLeafBit);
  const __m512i wide_leaf_bit = _mm512_set1_epi64(std::int64_t{1} << 29);  // size 2: 16 bytes of bounds
  const __m512i offset_mask = _mm512_set1_epi64(kNodeOffsetMask);
  const __m512i byte_mask = _mm512_set1_epi64(0xff);
  const __m512i eight = _mm512_set1_epi64(8);
  const __m512i no_bounds = _mm512_set1_epi64(-1);
  const __m512i one_bytes = _mm512_set1_epi8(1);
  const __m512i zero = _mm512_setzero_si512();
  // Byte 0 of each 64-bit lane copied to its eight bytes (vpshufb indexes
  // within 128-bit lanes: bytes 0-7 take byte 0, bytes 8-15 byte 8).
  const __m512i splat = _mm512_set4_epi32(0x08080808, 0x08080808, 0, 0);
  // Level by level over up to kGroups groups of eight: a group's next
  // gathers depend on its previous ones, so each level's gathers of all the
  // groups are issued together and their latencies overlap.
  constexpr std::size_t kGroups = 16;
  __m512i addresses[kGroups], entries[kGroups];
  for (std::size_t at = 0; at < n; at += 8 * kGroups) {
    const std::size_t groups = std::min(kGroups, (n - at + 7) / 8);
    __mmask8 any_child = 0;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t i = at + 8 * g;
      const __mmask8 live = n - i >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (n - i)) - 1);
      const __m512i a = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(live, in + i));
      const __m512i e = _mm512_cvtepu32_epi64(
          _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), live, _mm512_srli_epi64(a, 16), root, 4));
      addresses[g] = a;
      entries[g] = e;
      any_child |= _mm512_test_epi64_mask(e, child_bit);
    }
    for (int shift = 8; shift >= 0 && any_child != 0; shift -= 8) {  // bytes 2 and 3 of the address
      const __m128i count = _mm_cvtsi32_si128(shift);
      any_child = 0;
      for (std::size_t g = 0; g < groups; ++g) {
        __m512i e = entries[g];
        const __mmask8 child = _mm512_test_epi64_mask(e, child_bit);
        if (child == 0) continue;
        const __m512i byte = _mm512_and_si512(_mm512_srl_epi64(addresses[g], count), byte_mask);
        const __m512i node = _mm512_add_epi64(nodes, _mm512_slli_epi64(_mm512_and_si512(e, offset_mask), 4));
        const __mmask8 leaf = _mm512_mask_test_epi64_mask(child, e, leaf_bit);
        const __mmask8 wide_leaf = _mm512_mask_test_epi64_mask(leaf, e, wide_leaf_bit);
        const __m512i bounds0 = _mm512_mask_i64gather_epi64(no_bounds, leaf, node, nullptr, 1);
        const __m512i bounds1 =
            _mm512_mask_i64gather_epi64(no_bounds, wide_leaf, _mm512_add_epi64(node, eight), nullptr, 1);
        const __m512i x = _mm512_shuffle_epi8(byte, splat);
        const __m512i below = _mm512_add_epi8(_mm512_maskz_mov_epi8(_mm512_cmplt_epu8_mask(bounds0, x), one_bytes),
                                              _mm512_maskz_mov_epi8(_mm512_cmplt_epu8_mask(bounds1, x), one_bytes));
        const __m512i run = _mm512_sad_epu8(below, zero);
        // A leaf's entries follow its 8 or 16 bytes of bounds (8 << size
        // bit 1, entry bit 29); a table's entry is word `byte`.
        const __m512i leaf_offset = _mm512_add_epi64(
            _mm512_add_epi64(_mm512_and_si512(_mm512_srli_epi64(e, 26), eight), eight), _mm512_slli_epi64(run, 2));
        const __m512i offset = _mm512_mask_blend_epi64(leaf, _mm512_slli_epi64(byte, 2), leaf_offset);
        const __m256i next =
            _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), child, _mm512_add_epi64(node, offset), nullptr, 1);
        e = _mm512_mask_mov_epi64(e, child, _mm512_cvtepu32_epi64(next));
        entries[g] = e;
        any_child |= _mm512_test_epi64_mask(e, child_bit);
      }
    }
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t i = at + 8 * g;
      const __mmask8 live = n - i >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (n - i)) - 1);
      _mm256_mask_storeu_epi32(out + i, live, _mm512_cvtepi64_epi32(entries[g]));
    }
  }
}

}  // namespace fw::classify
#endif
