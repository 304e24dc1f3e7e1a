// Internal: the shard lock of the connection and fragment tables.
//
// A test-and-test-and-set spinlock: critical sections are a bucket compare
// and a few pointer updates (tens of nanoseconds), so a futex round trip
// would cost more than the wait. After 64 spins it yields the CPU, so a
// holder preempted on an oversubscribed host does not make waiters burn a
// whole time slice. ThreadSanitizer sees the acquire/release atomics.
//
// Thread-safety: that is its purpose.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fw::conntrack {

class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          _mm_pause();
#endif
        } else {
          spins = 0;
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// Locks `lock` unless `enabled` is false (the table's single-thread mode).
class MaybeLocked {
 public:
  MaybeLocked(SpinLock& lock, bool enabled) noexcept : lock_(enabled ? &lock : nullptr) {
    if (lock_) lock_->lock();
  }
  ~MaybeLocked() {
    if (lock_) lock_->unlock();
  }
  MaybeLocked(const MaybeLocked&) = delete;
  MaybeLocked& operator=(const MaybeLocked&) = delete;

 private:
  SpinLock* lock_;
};

}  // namespace fw::conntrack
