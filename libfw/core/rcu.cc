#define _LGPL_SOURCE 1  // inline the read-side fast path
#include "libfw/core/rcu.h"

#include <urcu/urcu-memb.h>

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
void read_unlock() noexcept { urcu_memb_read_unlock(); }
void synchronize() noexcept { urcu_memb_synchronize_rcu(); }

}  // namespace fw::rcu
