// examples/service-vm/socket_server.h — the service VM's Unix socket mode.
//
// Usage:
//   auto server = svm::SocketServer::create(db, {.path = "/run/svm.sock"}, sink);
//   if (!server.ok()) return report(server.status());
//   std::thread t([&] { (*server)->run(); });   // or run() on the main thread
//   ... (*server)->stop();                       // async-signal-safe
//
// Protocol (docs/service-vm.md, "Socket protocol"): a SOCK_SEQPACKET socket
// bound to `path`; a client connects and sends one frame per message
// (Ethernet, or NSH-encapsulated with ScannerOptions::nsh); for every
// message the server answers one 64-byte verdict record (verdict_output.h),
// in order. Each connection is served by its own thread with its own
// Scanner (its own flow table and Hyperscan scratch cloned from the shared
// database): a connection is one queue, and a flow must stay on one
// connection. When a client disconnects, its flows end (kEndOfInput).
//
// Thread-safety: run() once; stop() from any thread or a signal handler;
// the flow sink is called from connection threads, one call at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "examples/service-vm/scanner.h"
#include "fw/status.h"

namespace svm {

// Largest message accepted: a 64 KiB IP packet, Ethernet and a full NSH.
inline constexpr std::size_t kMaxMessageBytes = 65535 + 14 + 256 + 14;

struct SocketServerOptions {
  std::string path;
  ScannerOptions scanner;
  // Connections served at once; more are accepted and closed at once.
  std::size_t max_connections = 16;
};

class SocketServer {
 public:
  // Binds and listens. A stale socket file at `path` is replaced; any other
  // file there is an error.
  static fw::StatusOr<std::unique_ptr<SocketServer>> create(
      std::shared_ptr<const SignatureDatabase> database, const SocketServerOptions& options,
      FlowSink sink);
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  // Serves until stop(); then ends every connection (their flows are
  // reported) and returns. Fails only if accept() fails for good.
  fw::Status run();
  void stop() noexcept;

  // Totals of the connections that have ended (all of them after run()).
  ScannerStats stats() const;
  std::size_t connections_served() const noexcept { return connections_served_.load(); }
  std::size_t connections_refused() const noexcept { return connections_refused_.load(); }

 private:
  SocketServer(std::shared_ptr<const SignatureDatabase> database,
               const SocketServerOptions& options, FlowSink sink, int listen_fd, int stop_fd);
  void serve_connection(int fd);

  std::shared_ptr<const SignatureDatabase> database_;
  SocketServerOptions options_;
  FlowSink sink_;
  int listen_fd_;
  int stop_fd_;  // eventfd: readable once stop() was called
  std::mutex sink_mutex_;
  mutable std::mutex stats_mutex_;
  ScannerStats stats_;
  std::atomic<std::size_t> active_{0};
  std::atomic<std::size_t> connections_served_{0};
  std::atomic<std::size_t> connections_refused_{0};
};

}  // namespace svm
