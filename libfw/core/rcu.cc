#if defined(__SANITIZE_THREAD__)
#define FW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FW_TSAN 1
#endif
#endif

#if !defined(FW_TSAN)
#define _LGPL_SOURCE 1  // inline the read-side fast path
#endif

#include "libfw/core/rcu.h"

#include <urcu/urcu-memb.h>

#if defined(FW_TSAN)
// ThreadSanitizer cannot see liburcu's grace-period synchronisation (it is
// built from futexes and membarrier). Tell it what RCU guarantees: every
// read-side critical section that ended before synchronize() returned
// happens-before the code after it (which frees what readers used).
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
namespace {
char grace_period_token;
}
#endif

namespace fw::rcu {
namespace {
thread_local int registrations = 0;
}

void register_reader_thread() noexcept {
  if (registrations++ == 0) urcu_memb_register_thread();
}

void unregister_reader_thread() noexcept {
  if (registrations > 0 && --registrations == 0) urcu_memb_unregister_thread();
}

void read_lock() noexcept { urcu_memb_read_lock(); }

void read_unlock() noexcept {
#if defined(FW_TSAN)
  __tsan_release(&grace_period_token);
#endif
  urcu_memb_read_unlock();
}

void synchronize() noexcept {
  urcu_memb_synchronize_rcu();
#if defined(FW_TSAN)
  __tsan_acquire(&grace_period_token);
#endif
}

}  // namespace fw::rcu
