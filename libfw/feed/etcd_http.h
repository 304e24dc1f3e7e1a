// libfw/feed/etcd_http.h — the small HTTP/1.1 client the etcd feed source
// uses to talk to etcd's JSON gateway (internal; not a public header).
//
// Only what the gateway needs: POST with a JSON body, a response delimited
// by Content-Length, chunked transfer encoding or the connection's close,
// one request at a time per connection (no pipelining), plain TCP (etcd's
// client URL over http; TLS is not supported — docs/feed-etcd.md).
//
// Usage:
//   auto conn = fw::etcd::HttpConnection::connect({"127.0.0.1", 2379}, deadline).value();
//   fw::Status s = conn.send_post("/v3/kv/range", json, deadline);
//   fw::StatusOr<fw::etcd::HttpResponse> r = conn.read_response(deadline);
//   // or, for a stream: conn.read_some(deadline) then conn.decoder().body()
//
// Thread-safety: one thread at a time per object; HttpResponseDecoder is
// reentrant (no shared state).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fw/status.h"

namespace fw::etcd {

using Clock = std::chrono::steady_clock;

struct HttpLimits {
  std::size_t max_header_bytes = 16 * 1024;  // status line and headers together
  // Body bytes buffered and not yet consumed by the caller. A range page of
  // 1,000 VMs of a few hundred bytes each is well under it; the largest
  // value etcd stores by default is 1.5 MiB.
  std::size_t max_body_bytes = 64u << 20;
};

// Decodes one HTTP/1.1 response from bytes as they arrive, in any pieces.
// Errors are kInvalidArgument naming what is malformed; after one, the
// decoder stays failed (the connection must be dropped).
class HttpResponseDecoder {
 public:
  explicit HttpResponseDecoder(HttpLimits limits = {}) : limits_(limits) {}

  [[nodiscard]] Status append(std::string_view bytes);
  // The peer closed the connection: completes a body delimited by the
  // close; an error when the response was cut short.
  [[nodiscard]] Status finish();

  bool headers_done() const noexcept { return phase_ > Phase::kHeaders; }
  bool complete() const noexcept { return phase_ == Phase::kDone; }
  int status_code() const noexcept { return status_code_; }
  const std::string& reason() const noexcept { return reason_; }
  // The value of a header (name compared case-insensitively), the first
  // one if repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  // Decoded body bytes received so far; the caller may erase what it has
  // consumed (the limit counts what is left here).
  std::string& body() noexcept { return body_; }

 private:
  enum class Phase : std::uint8_t { kStatusLine, kHeaders, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd,
                                    kTrailers, kUntilClose, kDone, kFailed };
  Status fail(std::string what);
  Status parse_status_line(std::string_view line);
  Status parse_header_line(std::string_view line);
  Status start_body();
  Status add_body(std::string_view bytes);
  // Takes one CRLF- (or LF-) terminated line from pending_; nullopt when
  // incomplete.
  std::optional<std::string> take_line();

  HttpLimits limits_;
  Phase phase_ = Phase::kStatusLine;
  std::string pending_;  // raw bytes not yet decoded
  std::size_t header_bytes_ = 0;
  int status_code_ = 0;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;  // names lower-cased
  std::uint64_t remaining_ = 0;  // of a fixed body or the current chunk
  std::string body_;
};

struct HttpEndpoint {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  std::uint16_t port = 0;
};
// "host:port" or "[v6]:port". kInvalidArgument naming what is wrong.
[[nodiscard]] StatusOr<HttpEndpoint> parse_http_endpoint(std::string_view text);

struct HttpResponse {
  int status_code = 0;
  std::string body;
};

// One TCP connection to one endpoint. Every call takes a deadline and
// fails with kIoError (naming the endpoint and what failed) past it.
class HttpConnection {
 public:
  [[nodiscard]] static StatusOr<HttpConnection> connect(const HttpEndpoint& endpoint, Clock::time_point deadline,
                                                        HttpLimits limits = {});
  HttpConnection(HttpConnection&& other) noexcept;
  HttpConnection& operator=(HttpConnection&& other) noexcept;
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  ~HttpConnection();

  // Sends a POST with a JSON body; resets the response decoder.
  [[nodiscard]] Status send_post(std::string_view path, std::string_view json, Clock::time_point deadline);
  // Reads until the whole response is in.
  [[nodiscard]] StatusOr<HttpResponse> read_response(Clock::time_point deadline);
  // Waits up to the deadline for bytes and decodes them: true when some
  // arrived, false on timeout; kIoError when the connection failed or was
  // closed before the response completed.
  [[nodiscard]] StatusOr<bool> read_some(Clock::time_point deadline);
  HttpResponseDecoder& decoder() noexcept { return decoder_; }
  // A complete response left the connection reusable.
  bool reusable() const noexcept { return fd_ >= 0 && !closed_by_peer_; }
  std::string describe() const;

 private:
  HttpConnection(int fd, HttpEndpoint endpoint, HttpLimits limits);
  void close();

  int fd_ = -1;
  HttpEndpoint endpoint_;
  HttpLimits limits_;
  HttpResponseDecoder decoder_;
  bool closed_by_peer_ = false;
};

}  // namespace fw::etcd
