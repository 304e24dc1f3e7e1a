// The HTTP/1.1 client of the etcd feed source (etcd_http.h).
#include "libfw/feed/etcd_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace fw::etcd {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Printable excerpt of peer bytes for an error message.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

}  // namespace

// ---- HttpResponseDecoder -------------------------------------------------

Status HttpResponseDecoder::fail(std::string what) {
  phase_ = Phase::kFailed;
  return invalid_argument("HTTP response: " + std::move(what));
}

std::optional<std::string> HttpResponseDecoder::take_line() {
  const std::size_t nl = pending_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Status HttpResponseDecoder::parse_status_line(std::string_view line) {
  // HTTP/1.1 200 OK
  if (!line.starts_with("HTTP/1.")) return fail(fmt::format("status line '{}' is not HTTP/1.x", excerpt(line)));
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4)
    return fail(fmt::format("status line '{}' has no status code", excerpt(line)));
  const std::string_view code = line.substr(sp + 1, 3);
  int value = 0;
  const auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
  if (ec != std::errc() || ptr != code.data() + code.size() || value < 100 || value > 599)
    return fail(fmt::format("status line '{}' has no status code", excerpt(line)));
  status_code_ = value;
  reason_ = std::string(trim(line.substr(sp + 4)));
  return Status::Ok();
}

Status HttpResponseDecoder::parse_header_line(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail(fmt::format("header line '{}' has no name", excerpt(line)));
  const std::string_view name = line.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos)
    return fail(fmt::format("header name '{}' contains white space", excerpt(name)));
  headers_.emplace_back(lower(name), std::string(trim(line.substr(colon + 1))));
  return Status::Ok();
}

std::optional<std::string_view> HttpResponseDecoder::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [n, v] : headers_)
    if (n == key) return std::string_view(v);
  return std::nullopt;
}

Status HttpResponseDecoder::start_body() {
  // 1xx, 204 and 304 have no body (RFC 9112 section 6.3).
  if ((status_code_ >= 100 && status_code_ < 200) || status_code_ == 204 || status_code_ == 304) {
    if (status_code_ < 200) return fail("interim 1xx responses are not expected from etcd");
    phase_ = Phase::kDone;
    return Status::Ok();
  }
  if (auto te = header("transfer-encoding")) {
    // Only "chunked" (possibly after other codings we would not understand).
    if (lower(*te) != "chunked") return fail(fmt::format("transfer-encoding '{}' is not supported", excerpt(*te)));
    phase_ = Phase::kChunkSize;
    return Status::Ok();
  }
  if (auto cl = header("content-length")) {
    std::uint64_t length = 0;
    const auto [ptr, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
    if (cl->empty() || ec != std::errc() || ptr != cl->data() + cl->size())
      return fail(fmt::format("content-length '{}' is not a number", excerpt(*cl)));
    // A repeated Content-Length must agree (RFC 9112 section 6.3).
    for (const auto& [n, v] : headers_)
      if (n == "content-length" && v != *cl) return fail("conflicting content-length headers");
    if (length > limits_.max_body_bytes)
      return fail(fmt::format("content-length {} is over the limit of {} bytes", length, limits_.max_body_bytes));
    remaining_ = length;
    phase_ = length == 0 ? Phase::kDone : Phase::kFixedBody;
    return Status::Ok();
  }
  phase_ = Phase::kUntilClose;
  return Status::Ok();
}

Status HttpResponseDecoder::add_body(std::string_view bytes) {
  if (body_.size() + bytes.size() > limits_.max_body_bytes)
    return fail(fmt::format("more than {} body bytes buffered", limits_.max_body_bytes));
  body_.append(bytes);
  return Status::Ok();
}

Status HttpResponseDecoder::append(std::string_view bytes) {
  if (phase_ == Phase::kFailed) return invalid_argument("HTTP response: the decoder failed earlier");
  if (phase_ == Phase::kDone) {
    if (bytes.empty()) return Status::Ok();
    return fail(fmt::format("{} bytes after the end of the response", bytes.size()));
  }
  pending_.append(bytes);
  for (;;) {
    switch (phase_) {
      case Phase::kStatusLine:
      case Phase::kHeaders: {
        std::optional<std::string> line = take_line();
        if (!line) {
          if (header_bytes_ + pending_.size() > limits_.max_header_bytes)
            return fail(fmt::format("headers longer than {} bytes", limits_.max_header_bytes));
          return Status::Ok();
        }
        header_bytes_ += line->size() + 1;
        if (header_bytes_ > limits_.max_header_bytes)
          return fail(fmt::format("headers longer than {} bytes", limits_.max_header_bytes));
        Status s = phase_ == Phase::kStatusLine ? parse_status_line(*line)
                   : line->empty()              ? start_body()
                                                : parse_header_line(*line);
        if (!s.ok()) return s;
        if (phase_ == Phase::kStatusLine) phase_ = Phase::kHeaders;
        break;
      }
      case Phase::kFixedBody:
      case Phase::kChunkData: {
        if (pending_.empty()) return Status::Ok();
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, pending_.size()));
        if (Status s = add_body(std::string_view(pending_).substr(0, n)); !s.ok()) return s;
        pending_.erase(0, n);
        remaining_ -= n;
        if (remaining_ == 0) phase_ = phase_ == Phase::kFixedBody ? Phase::kDone : Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkSize: {
        std::optional<std::string> line = take_line();
        if (!line) {
          if (pending_.size() > 1024) return fail("a chunk-size line longer than 1024 bytes");
          return Status::Ok();
        }
        // size [; extensions] — extensions are ignored.
        std::string_view size = trim(std::string_view(*line).substr(0, line->find(';')));
        std::uint64_t value = 0;
        const auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), value, 16);
        if (size.empty() || ec != std::errc() || ptr != size.data() + size.size())
          return fail(fmt::format("chunk size '{}' is not hexadecimal", excerpt(*line)));
        if (value > limits_.max_body_bytes)
          return fail(fmt::format("a chunk of {} bytes is over the limit of {}", value, limits_.max_body_bytes));
        remaining_ = value;
        phase_ = value == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkDataEnd: {
        std::optional<std::string> line = take_line();
        if (!line) {
          if (!pending_.empty() && pending_ != "\r") return fail("chunk data not followed by CRLF");
          return Status::Ok();
        }
        if (!line->empty()) return fail("chunk data not followed by CRLF");
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailers: {
        std::optional<std::string> line = take_line();
        if (!line) {
          if (header_bytes_ + pending_.size() > limits_.max_header_bytes)
            return fail(fmt::format("trailers longer than {} bytes", limits_.max_header_bytes));
          return Status::Ok();
        }
        header_bytes_ += line->size() + 1;
        if (header_bytes_ > limits_.max_header_bytes)
          return fail(fmt::format("trailers longer than {} bytes", limits_.max_header_bytes));
        if (line->empty()) phase_ = Phase::kDone;  // trailer fields themselves are ignored
        break;
      }
      case Phase::kUntilClose: {
        if (Status s = add_body(pending_); !s.ok()) return s;
        pending_.clear();
        return Status::Ok();
      }
      case Phase::kDone:
        if (!pending_.empty()) return fail(fmt::format("{} bytes after the end of the response", pending_.size()));
        return Status::Ok();
      case Phase::kFailed: return invalid_argument("HTTP response: the decoder failed earlier");
    }
  }
}

Status HttpResponseDecoder::finish() {
  if (phase_ == Phase::kUntilClose) {
    phase_ = Phase::kDone;
    return Status::Ok();
  }
  if (phase_ == Phase::kDone) return Status::Ok();
  if (phase_ == Phase::kFailed) return invalid_argument("HTTP response: the decoder failed earlier");
  const bool started = phase_ != Phase::kStatusLine || !pending_.empty();
  phase_ = Phase::kFailed;
  return invalid_argument(started ? "HTTP response: the connection closed inside the response"
                                  : "HTTP response: the connection closed before a response");
}

// ---- endpoints -------------------------------------------------------------

StatusOr<HttpEndpoint> parse_http_endpoint(std::string_view text) {
  HttpEndpoint e;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return invalid_argument(fmt::format("endpoint '{}': expected [IPv6]:PORT", text));
    e.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return invalid_argument(fmt::format("endpoint '{}': expected HOST:PORT", text));
    e.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (e.host.empty()) return invalid_argument(fmt::format("endpoint '{}': no host", text));
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535)
    return invalid_argument(fmt::format("endpoint '{}': port '{}' is not 1-65535", text, port));
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

// ---- HttpConnection --------------------------------------------------------

HttpConnection::HttpConnection(int fd, HttpEndpoint endpoint, HttpLimits limits)
    : fd_(fd), endpoint_(std::move(endpoint)), limits_(limits), decoder_(limits) {}

HttpConnection::HttpConnection(HttpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      endpoint_(std::move(other.endpoint_)),
      limits_(other.limits_),
      decoder_(std::move(other.decoder_)),
      closed_by_peer_(other.closed_by_peer_) {}

HttpConnection& HttpConnection::operator=(HttpConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    endpoint_ = std::move(other.endpoint_);
    limits_ = other.limits_;
    decoder_ = std::move(other.decoder_);
    closed_by_peer_ = other.closed_by_peer_;
  }
  return *this;
}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string HttpConnection::describe() const {
  return endpoint_.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", endpoint_.host, endpoint_.port)
                                                       : fmt::format("{}:{}", endpoint_.host, endpoint_.port);
}

StatusOr<HttpConnection> HttpConnection::connect(const HttpEndpoint& endpoint, Clock::time_point deadline,
                                                 HttpLimits limits) {
  const std::string where = endpoint.host.find(':') != std::string::npos
                                ? fmt::format("[{}]:{}", endpoint.host, endpoint.port)
                                : fmt::format("{}:{}", endpoint.host, endpoint.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  // getaddrinfo blocks without a deadline of its own; give numeric
  // addresses for a source that must never wait on DNS.
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return io_error(fmt::format("etcd {}: resolving the host: {}", where, ::gai_strerror(rc)));
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = fmt::format("socket: {}", std::strerror(errno));
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
      int ready;
      do {
        ready = ::poll(&p, 1, remaining_ms(deadline));
      } while (ready < 0 && errno == EINTR);
      int err = 0;
      socklen_t len = sizeof err;
      if (ready == 0) {
        err = ETIMEDOUT;
      } else if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      last_error = fmt::format("connect: {}", std::strerror(errno));
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A watch may be silent for a long time; keepalive probes notice a
    // peer that vanished without closing (about 10 + 3 x 5 seconds).
    const int idle = 10, interval = 5, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    ::freeaddrinfo(found);
    return HttpConnection(fd, endpoint, limits);
  }
  ::freeaddrinfo(found);
  return io_error(fmt::format("etcd {}: {}", where, last_error));
}

Status HttpConnection::send_post(std::string_view path, std::string_view json, Clock::time_point deadline) {
  if (fd_ < 0 || closed_by_peer_) return io_error(fmt::format("etcd {}: the connection is closed", describe()));
  decoder_ = HttpResponseDecoder(limits_);
  const std::string request = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
      "Content-Length: {}\r\n\r\n{}",
      path, describe(), json.size(), json);
  std::size_t off = 0;
  while (off < request.size()) {
    const ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n >= 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return io_error(fmt::format("etcd {}: sending {}: {}", describe(), path, std::strerror(errno)));
    pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
    int ready;
    do {
      ready = ::poll(&p, 1, remaining_ms(deadline));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) return io_error(fmt::format("etcd {}: sending {}: timed out", describe(), path));
    if (ready < 0) return io_error(fmt::format("etcd {}: poll: {}", describe(), std::strerror(errno)));
  }
  return Status::Ok();
}

StatusOr<bool> HttpConnection::read_some(Clock::time_point deadline) {
  if (fd_ < 0) return io_error(fmt::format("etcd {}: the connection is closed", describe()));
  if (closed_by_peer_) return io_error(fmt::format("etcd {}: the connection was closed", describe()));
  pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
  int ready;
  do {
    ready = ::poll(&p, 1, remaining_ms(deadline));
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return io_error(fmt::format("etcd {}: poll: {}", describe(), std::strerror(errno)));
  if (ready == 0) return false;
  char buffer[64 * 1024];
  ssize_t n;
  do {
    n = ::recv(fd_, buffer, sizeof buffer, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (n < 0) return io_error(fmt::format("etcd {}: read: {}", describe(), std::strerror(errno)));
  if (n == 0) {
    closed_by_peer_ = true;
    if (Status s = decoder_.finish(); !s.ok()) return io_error(fmt::format("etcd {}: {}", describe(), s.message()));
    return true;
  }
  if (Status s = decoder_.append(std::string_view(buffer, static_cast<std::size_t>(n))); !s.ok())
    return io_error(fmt::format("etcd {}: {}", describe(), s.message()));
  return true;
}

StatusOr<HttpResponse> HttpConnection::read_response(Clock::time_point deadline) {
  while (!decoder_.complete()) {
    StatusOr<bool> got = read_some(deadline);
    if (!got.ok()) return got.status();
    if (!*got && Clock::now() >= deadline)
      return io_error(fmt::format("etcd {}: no complete response before the timeout", describe()));
  }
  if (auto c = decoder_.header("connection"); c && lower(*c) == "close") closed_by_peer_ = true;
  return HttpResponse{.status_code = decoder_.status_code(), .body = std::move(decoder_.body())};
}

}  // namespace fw::etcd
