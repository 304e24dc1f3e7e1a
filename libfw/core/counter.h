// Internal: a counter written by exactly one thread and read by any.
//
// The writer does a relaxed load and a relaxed store (a plain add on x86, no
// lock prefix, no shared cache-line ping-pong as long as blocks are per
// worker); readers do a relaxed load. Atomics keep this free of data races
// in the C++ memory model (and under ThreadSanitizer) at no datapath cost.
#pragma once

#include <atomic>
#include <cstdint>

namespace fw::internal {

struct SingleWriterCounter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n) noexcept {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

inline constexpr std::size_t kCacheLine = 64;

}  // namespace fw::internal
