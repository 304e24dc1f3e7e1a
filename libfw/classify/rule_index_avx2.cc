// RuleIndex's burst lookup compiled for AVX2 (rule_index_scan.inc with the
// AVX2 target on every function of it); RuleIndex::classify() runs it where
// the AddressClassMap walk variant is avx2 or avx512, i.e. where the CPU
// has AVX2.
#include "libfw/classify/rule_index.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#define FW_SCAN_TARGET __attribute__((target("avx2")))
#include "libfw/classify/rule_index_scan.inc"
#undef FW_SCAN_TARGET

namespace fw::classify {
template void RuleIndex::classify_burst<ScanIsa::kAvx2>(const AddressClassMap&, std::span<const LookupKey>,
                                                        std::span<std::uint32_t>) const noexcept;
template void RuleIndex::classify_burst<ScanIsa::kAvx2>(const AddressClassMap&, std::span<const LookupKeyV4>,
                                                        std::span<std::uint32_t>) const noexcept;
}  // namespace fw::classify
#endif
