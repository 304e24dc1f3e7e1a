// The stream source (fw/feed.h): a regular file, FIFO or Unix stream socket
// carrying length-delimited FeedMessages.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "fw/feed.h"
#include "fw/v1/feed.pb.h"

namespace fw {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

class StreamSource final : public FeedSource {
 public:
  StreamSource(int fd, bool is_socket, std::string description)
      : fd_(fd), is_socket_(is_socket), description_(std::move(description)) {}
  ~StreamSource() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::string describe() const override { return description_; }

  StatusOr<PollResult> poll(FeedConsumer& consumer, std::chrono::milliseconds timeout) override {
    PollResult result;
    if (broken_) return io_error(description_ + ": the stream is broken; reopen it");
    if (Status s = request_snapshot_if_needed(consumer); !s.ok()) return s;
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return io_error(fmt::format("{}: poll: {}", description_, errno_text(errno)));
    if (ready == 0) return result;
    char buffer[64 * 1024];
    ssize_t n;
    do {
      n = ::read(fd_, buffer, sizeof buffer);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return io_error(fmt::format("{}: read: {}", description_, errno_text(errno)));
    if (n == 0) {
      result.end_of_stream = true;
      if (reader_.buffered() > 0) {
        // A writer that stops mid-message lost that message.
        consumer.restart(fmt::format("{}: the stream ended inside a message", description_));
      }
      return result;
    }
    reader_.append(std::string_view(buffer, static_cast<std::size_t>(n)));
    // Every whole message of this read goes to the consumer as one batch:
    // one inventory change, one sink call (FeedConsumer::apply_messages).
    bodies_.clear();
    Status framing = Status::Ok();
    for (;;) {
      StatusOr<std::optional<std::string>> body = reader_.next();
      if (!body.ok()) {
        framing = body.status();
        break;
      }
      if (!body->has_value()) break;
      bodies_.push_back(std::move(**body));
    }
    result.messages = bodies_.size();
    views_.assign(bodies_.begin(), bodies_.end());
    // A refused message is counted by the consumer and leaves the state as
    // it was; the stream goes on.
    consumer.apply_messages(views_).ignore_error();
    if (!framing.ok()) {
      // The messages framed before the break are applied; nothing after it
      // can be framed.
      broken_ = true;
      consumer.restart(framing.message());
      return io_error(fmt::format("{}: {}", description_, framing.message()));
    }
    if (Status s = request_snapshot_if_needed(consumer); !s.ok()) return s;
    return result;
  }

 private:
  // On a socket, ask the producer for a snapshot once per time the
  // consumer loses its place (and on connect).
  Status request_snapshot_if_needed(FeedConsumer& consumer) {
    const bool waiting = consumer.state() == FeedState::kWaitingForSnapshot;
    if (!waiting) requested_ = false;
    if (!is_socket_ || !waiting || requested_) return Status::Ok();
    v1::FeedRequest request;
    request.set_after_revision(consumer.revision());
    request.set_snapshot(true);
    const std::string body = request.SerializeAsString();
    std::string frame;
    for (std::uint64_t n = body.size();;) {
      frame.push_back(static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
      n >>= 7;
      if (n == 0) break;
    }
    frame += body;
    std::size_t off = 0;
    while (off < frame.size()) {
      const ssize_t w = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error(fmt::format("{}: writing a snapshot request: {}", description_, errno_text(errno)));
      off += static_cast<std::size_t>(w);
    }
    requested_ = true;
    return Status::Ok();
  }

  int fd_;
  bool is_socket_;
  std::string description_;
  FeedFrameReader reader_;
  std::vector<std::string> bodies_;       // the messages of one read
  std::vector<std::string_view> views_;   // ... as apply_messages takes them
  bool broken_ = false;
  bool requested_ = false;
};

}  // namespace

StatusOr<std::unique_ptr<FeedSource>> stream_source_from_fd(int fd, bool is_socket, std::string description) {
  if (fd < 0) return invalid_argument("stream source: not a file descriptor");
  return std::unique_ptr<FeedSource>(new StreamSource(fd, is_socket, std::move(description)));
}

StatusOr<std::unique_ptr<FeedSource>> open_stream_source(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io_error(fmt::format("{}: {}", path, errno_text(errno)));
  if (S_ISSOCK(st.st_mode)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
      return io_error(fmt::format("{}: a Unix socket path is at most {} bytes", path, sizeof addr.sun_path - 1));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return io_error(fmt::format("{}: socket: {}", path, errno_text(errno)));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int e = errno;
      ::close(fd);
      return io_error(fmt::format("{}: connect: {}", path, errno_text(e)));
    }
    return stream_source_from_fd(fd, true, "unix socket " + path);
  }
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    return io_error(fmt::format("{}: not a regular file, FIFO or Unix socket", path));
  // Opening a FIFO waits for its writer, as FIFOs do.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(fmt::format("{}: {}", path, errno_text(errno)));
  return stream_source_from_fd(fd, false, (S_ISFIFO(st.st_mode) ? "fifo " : "file ") + path);
}

}  // namespace fw
