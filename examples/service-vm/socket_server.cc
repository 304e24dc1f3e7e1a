#include "examples/service-vm/socket_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>

#include <fmt/core.h>

#include "examples/service-vm/verdict_output.h"

namespace svm {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// How often a quiet connection looks for idle flows.
constexpr int kIdlePollMilliseconds = 1000;

}  // namespace

fw::StatusOr<std::unique_ptr<SocketServer>> SocketServer::create(
    std::shared_ptr<const SignatureDatabase> database, const SocketServerOptions& options,
    FlowSink sink) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (options.path.empty() || options.path.size() >= sizeof(address.sun_path))
    return fw::invalid_argument(fmt::format("socket path '{}' must have 1 to {} bytes",
                                            options.path, sizeof(address.sun_path) - 1));
  if (options.max_connections == 0)
    return fw::invalid_argument("max_connections must be at least 1");
  std::memcpy(address.sun_path, options.path.c_str(), options.path.size());
  struct stat st {};
  if (lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fw::failed_precondition(
          fmt::format("'{}' exists and is not a socket; not replacing it", options.path));
    unlink(options.path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return fw::io_error(fmt::format("socket: {}", std::strerror(errno)));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, 16) != 0) {
    int saved = errno;
    close(fd);
    return fw::io_error(fmt::format("cannot listen on '{}': {}", options.path, std::strerror(saved)));
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int saved = errno;
    close(fd);
    unlink(options.path.c_str());
    return fw::io_error(fmt::format("eventfd: {}", std::strerror(saved)));
  }
  return std::unique_ptr<SocketServer>(
      new SocketServer(std::move(database), options, std::move(sink), fd, stop_fd));
}

SocketServer::SocketServer(std::shared_ptr<const SignatureDatabase> database,
                           const SocketServerOptions& options, FlowSink sink, int listen_fd,
                           int stop_fd)
    : database_(std::move(database)),
      options_(options),
      sink_(std::move(sink)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd) {}

SocketServer::~SocketServer() {
  close(listen_fd_);
  close(stop_fd_);
  unlink(options_.path.c_str());
}

void SocketServer::stop() noexcept {
  std::uint64_t one = 1;
  ssize_t written = write(stop_fd_, &one, sizeof one);
  (void)written;  // EAGAIN only if already signalled many times: still readable
}

ScannerStats SocketServer::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

fw::Status SocketServer::run() {
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Connection> connections;
  auto reap = [&connections](bool all) {
    for (auto it = connections.begin(); it != connections.end();) {
      if (all || it->done->load()) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  };
  fw::Status status;
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      status = fw::io_error(fmt::format("poll: {}", std::strerror(errno)));
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: wait for a connection to end rather than spin.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        reap(false);
        continue;
      }
      status = fw::io_error(fmt::format("accept: {}", std::strerror(errno)));
      break;
    }
    reap(false);
    if (active_.load() >= options_.max_connections) {
      close(fd);
      ++connections_refused_;
      continue;
    }
    ++active_;
    ++connections_served_;
    auto done = std::make_shared<std::atomic<bool>>(false);
    connections.push_back({std::thread([this, fd, done] {
                             serve_connection(fd);
                             --active_;
                             done->store(true);
                           }),
                           done});
  }
  stop();  // connection threads see the eventfd too
  reap(true);
  return status;
}

void SocketServer::serve_connection(int fd) {
  FlowSink locked_sink = [this](const Flow& flow, FlowEnd end) {
    std::lock_guard<std::mutex> lock(sink_mutex_);
    if (sink_) sink_(flow, end);
  };
  auto scanner = Scanner::create(database_, options_.scanner, locked_sink);
  if (!scanner.ok()) {  // out of memory for a scratch: the client sees the close
    ++connections_refused_;
    close(fd);
    return;
  }
  std::vector<std::uint8_t> buffer(kMaxMessageBytes);
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, kIdlePollMilliseconds);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) break;
    std::uint64_t now = steady_ns();
    if (rc == 0) {
      (*scanner)->expire(now);
      continue;
    }
    ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
    if (n == 0) break;  // the client closed (an empty message is not a frame)
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    FrameVerdict verdict;
    if (static_cast<std::size_t>(n) > buffer.size()) {
      verdict.action = Action::kBlock;  // longer than any frame: not scanned, not passed
      verdict.reason = VerdictReason::kMalformed;
    } else {
      verdict = (*scanner)->process({buffer.data(), static_cast<std::size_t>(n)}, now);
    }
    VerdictRecord record = encode_verdict(verdict);
    if (send(fd, record.data(), record.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(record.size()))
      break;
  }
  (*scanner)->finish();
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    add_stats(stats_, (*scanner)->stats());
  }
  close(fd);
}

}  // namespace svm
