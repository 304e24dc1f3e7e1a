// AddressClassMap::walk_avx2: the IPv4 burst walk, four addresses at once
// (AVX2, enabled for this function only; it runs where
// AddressClassMap::walk_supported(kAvx2) says so). The same steps as
// trie_walk_avx512.cc (read its comment), with vector masks (the sign bit
// of each 64-bit lane) instead of mask registers, and the leaf bound
// compare as an unsigned saturating subtract: bound < byte exactly when
// byte - bound (saturated) is not zero.
#include "libfw/classify/address_class_map.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>

namespace fw::classify {

__attribute__((target("avx2"))) void AddressClassMap::walk_avx2(const AddressClassMap& m, const std::uint32_t* in,
                                                                ClassId* out, std::size_t n) noexcept {
  const int* const root = reinterpret_cast<const int*>(m.v4_root_);
  const __m256i nodes = _mm256_set1_epi64x(reinterpret_cast<long long>(m.nodes_));
  const auto* const flat = static_cast<const long long*>(nullptr);  // gathers of absolute addresses
  const __m256i offset_mask = _mm256_set1_epi64x(kNodeOffsetMask);
  const __m256i byte_mask = _mm256_set1_epi64x(0xff);
  const __m256i eight = _mm256_set1_epi64x(8);
  const __m256i no_bounds = _mm256_set1_epi64x(-1);
  const __m256i one_bytes = _mm256_set1_epi8(1);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i splat = _mm256_setr_epi32(0, 0, 0x08080808, 0x08080808, 0, 0, 0x08080808, 0x08080808);
  const __m256i high_words = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);  // the sign of each 64-bit lane
  const __m256i low_words = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  // Level by level over up to kGroups groups of four (as in
  // trie_walk_avx512.cc: the gathers of all the groups overlap).
  constexpr std::size_t kGroups = 32;
  __m256i addresses[kGroups], entries[kGroups];
  const std::size_t whole = n & ~std::size_t{3};
  for (std::size_t at = 0; at < whole; at += 4 * kGroups) {
    const std::size_t groups = std::min(kGroups, (whole - at) / 4);
    int any_child = 0;
    for (std::size_t g = 0; g < groups; ++g) {
      const __m256i a = _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + at + 4 * g)));
      const __m256i e = _mm256_cvtepu32_epi64(_mm256_i64gather_epi32(root, _mm256_srli_epi64(a, 16), 4));
      addresses[g] = a;
      entries[g] = e;
      any_child |= _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_slli_epi64(e, 32)));
    }
    for (int shift = 8; shift >= 0 && any_child != 0; shift -= 8) {
      const __m128i count = _mm_cvtsi32_si128(shift);
      any_child = 0;
      for (std::size_t g = 0; g < groups; ++g) {
        __m256i e = entries[g];
        const __m256i child = _mm256_slli_epi64(e, 32);  // sign: the child bit (31)
        if (_mm256_movemask_pd(_mm256_castsi256_pd(child)) == 0) continue;
        const __m256i byte = _mm256_and_si256(_mm256_srl_epi64(addresses[g], count), byte_mask);
        const __m256i node = _mm256_add_epi64(nodes, _mm256_slli_epi64(_mm256_and_si256(e, offset_mask), 4));
        const __m256i leaf = _mm256_and_si256(child, _mm256_slli_epi64(e, 33));      // sign: bit 30
        const __m256i wide_leaf = _mm256_and_si256(leaf, _mm256_slli_epi64(e, 34));  // sign: bit 29
        const __m256i bounds0 = _mm256_mask_i64gather_epi64(no_bounds, flat, node, leaf, 1);
        const __m256i bounds1 =
            _mm256_mask_i64gather_epi64(no_bounds, flat, _mm256_add_epi64(node, eight), wide_leaf, 1);
        const __m256i x = _mm256_shuffle_epi8(byte, splat);
        const __m256i below0 = _mm256_andnot_si256(_mm256_cmpeq_epi8(_mm256_subs_epu8(x, bounds0), zero), one_bytes);
        const __m256i below1 = _mm256_andnot_si256(_mm256_cmpeq_epi8(_mm256_subs_epu8(x, bounds1), zero), one_bytes);
        const __m256i run = _mm256_sad_epu8(_mm256_add_epi8(below0, below1), zero);
        const __m256i leaf_offset = _mm256_add_epi64(
            _mm256_add_epi64(_mm256_and_si256(_mm256_srli_epi64(e, 26), eight), eight), _mm256_slli_epi64(run, 2));
        const __m256i offset = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(_mm256_slli_epi64(byte, 2)),
                                                                    _mm256_castsi256_pd(leaf_offset),
                                                                    _mm256_castsi256_pd(leaf)));
        const __m128i child32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(child, high_words));
        const __m128i next = _mm256_mask_i64gather_epi32(_mm_setzero_si128(), reinterpret_cast<const int*>(flat),
                                                         _mm256_add_epi64(node, offset), child32, 1);
        e = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(e),
                                                 _mm256_castsi256_pd(_mm256_cvtepu32_epi64(next)),
                                                 _mm256_castsi256_pd(child)));
        entries[g] = e;
        any_child |= _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_slli_epi64(e, 32)));
      }
    }
    for (std::size_t g = 0; g < groups; ++g)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + at + 4 * g),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(entries[g], low_words)));
  }
  for (std::size_t i = whole; i < n; ++i) out[i] = m.lookup_v4(in[i]);
}

}  // namespace fw::classify
#endif
