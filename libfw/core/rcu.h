// Internal: the one place libfw touches liburcu (memb flavour).
//
// Why memb rather than QSBR: a read-side critical section spans exactly one
// burst (Engine::process), so leaving it *is* the worker's quiescent report,
// and an idle worker thread that never calls back cannot stall the control
// plane's grace periods, which QSBR would require every embedder to manage.
// With sys_membarrier the read side costs a thread-local increment and a
// compiler barrier.
#pragma once

namespace fw::rcu {

// Reader threads must be registered; registration is reference-counted per
// thread so several Workers (of one or several engines) may share a thread.
void register_reader_thread() noexcept;
void unregister_reader_thread() noexcept;

void read_lock() noexcept;
void read_unlock() noexcept;

// Waits until every read-side critical section that started before the call
// has ended. Must not be called inside a read-side critical section.
void synchronize() noexcept;

class ReadGuard {
 public:
  ReadGuard() noexcept { read_lock(); }
  ~ReadGuard() { read_unlock(); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
};

}  // namespace fw::rcu
