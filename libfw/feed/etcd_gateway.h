// libfw/feed/etcd_gateway.h — etcd v3's JSON gateway (internal): the
// messages of libfw/proto/fw/v1/etcd_gateway.proto over etcd_http.h, the key
// layout of the feed under a prefix, and the decoding of a VM value.
//
// Usage:
//   fw::etcd::EtcdClient client({.host = "127.0.0.1", .port = 2379}, std::chrono::seconds(5));
//   fw::v1::etcd::RangeRequest request;
//   request.set_key(prefix);
//   request.set_range_end(fw::etcd::prefix_range_end(prefix));
//   fw::StatusOr<fw::v1::etcd::RangeResponse> page = client.range(request);
//
//   // a watch: POST /v3/watch, then one WatchStreamItem per line
//   fw::etcd::JsonLines lines;  lines.take(connection.decoder().body()) ...
//
// Thread-safety: EtcdClient and JsonLines are used by one thread at a time;
// the free functions are reentrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fw/feed.h"
#include "fw/status.h"
#include "fw/v1/etcd_gateway.pb.h"
#include "libfw/feed/etcd_http.h"

namespace fw::etcd {

// gRPC status codes etcd's gateway reports that the source tells apart.
inline constexpr int kGrpcOutOfRange = 11;  // "mvcc: required revision has been compacted"

// The end of etcd's range for every key starting with `prefix` (clientv3's
// GetPrefixRangeEnd): the prefix with its last byte below 0xff incremented
// and what follows dropped; "\0" (every key) when there is no such byte.
std::string prefix_range_end(std::string_view prefix);

// The feed's key layout under a prefix P (docs/feed-etcd.md):
//   P + "vms/" + <vm id>  ->  a binary fw.v1.FeedVm whose id is <vm id>
inline constexpr std::string_view kVmKeyInfix = "vms/";
// The VM id of a VM key, nullopt for any other key (ignored by the source).
std::optional<std::string_view> vm_id_from_key(std::string_view prefix, std::string_view key);
std::string vm_key(std::string_view prefix, std::string_view vm_id);

// A VM key's value as a vm_upsert at `revision`. kInvalidArgument naming
// the key when the value is not a FeedVm, its id is not the key's, or the
// feed decoder refuses it (an address that is not 4 or 16 bytes, ...).
[[nodiscard]] StatusOr<FeedEvent> decode_vm_value(std::string_view vm_id, std::uint64_t revision,
                                                  std::string_view value);

// Protobuf JSON mapping with unknown fields ignored (a newer etcd may add
// fields). kInvalidArgument with the parser's message, naming `what`.
[[nodiscard]] Status parse_gateway_json(std::string_view json, google::protobuf::Message* out, std::string_view what);
std::string to_gateway_json(const google::protobuf::Message& message);

// One line of the /v3/watch stream: its `result`, or kIoError when the line
// carries the gateway's `error` (the stream is over), kInvalidArgument
// when it is not a WatchStreamItem.
[[nodiscard]] StatusOr<v1::etcd::WatchResponse> decode_watch_line(std::string_view line);

// Splits the body of a streaming response into lines ('\n'; a trailing
// '\r' and empty lines are dropped), consuming them from the body.
class JsonLines {
 public:
  // The next whole line of `body`, nullopt when none is complete yet.
  std::optional<std::string> next(std::string& body);

 private:
  std::size_t scanned_ = 0;  // bytes of body known to hold no '\n'
};

// Unary gateway calls (range, put, delete, compaction) over one kept-alive
// connection, reopened when it breaks.
class EtcdClient {
 public:
  EtcdClient(HttpEndpoint endpoint, std::chrono::milliseconds timeout) : endpoint_(std::move(endpoint)), timeout_(timeout) {}

  [[nodiscard]] StatusOr<v1::etcd::RangeResponse> range(const v1::etcd::RangeRequest& request);
  [[nodiscard]] StatusOr<v1::etcd::PutResponse> put(std::string_view key, std::string_view value);
  [[nodiscard]] StatusOr<v1::etcd::DeleteRangeResponse> delete_range(std::string_view key, std::string_view range_end);
  [[nodiscard]] StatusOr<v1::etcd::CompactionResponse> compact(std::int64_t revision);
  // Every put and delete of `request.success` at one revision.
  [[nodiscard]] StatusOr<v1::etcd::TxnResponse> txn(const v1::etcd::TxnRequest& request);

  // The gRPC code of the last failed call's gateway error, 0 if the call
  // failed before etcd answered (or succeeded).
  int last_grpc_code() const noexcept { return last_grpc_code_; }
  const HttpEndpoint& endpoint() const noexcept { return endpoint_; }

 private:
  Status call(std::string_view path, const google::protobuf::Message& request, google::protobuf::Message* response);
  Status call_once(std::string_view path, const std::string& json, google::protobuf::Message* response, bool* retryable);

  HttpEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::optional<HttpConnection> connection_;
  int last_grpc_code_ = 0;
};

// Decodes a unary reply: 200 -> `response`; otherwise an error naming the
// path with etcd's message, `grpc_code` set from the gateway's body.
[[nodiscard]] Status decode_unary_reply(std::string_view path, int http_status, std::string_view body,
                                        google::protobuf::Message* response, int* grpc_code);

}  // namespace fw::etcd
