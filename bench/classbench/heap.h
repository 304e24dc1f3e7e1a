// bench/classbench/heap.h — bytes in use on the heap, to measure what a
// built classifier holds when its own accounting does not say (or to check
// that accounting): the growth of heap_in_use() across a build, taken when
// the build's temporaries are freed.
//
// glibc's mallinfo2(): in-use bytes of every arena plus mmapped chunks
// (chunk headers included). A sanitizer replaces malloc and glibc's counters
// stay at zero; heap_readable() is then false and heap_in_use() 0.
//
// Thread-safety: reentrant; other threads' allocations are counted too.
#pragma once

#include <malloc.h>

#include <cstddef>

namespace classbench {

constexpr bool heap_readable() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

inline std::size_t heap_in_use() {
  if constexpr (!heap_readable()) return 0;
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

}  // namespace classbench
