// etcd v3's JSON gateway: messages, key layout, unary calls (etcd_gateway.h).
#include "libfw/feed/etcd_gateway.h"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include "fw/v1/feed.pb.h"

namespace fw::etcd {
namespace {

std::string printable(std::string_view s, std::size_t max = 120) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::optional<std::string_view> vm_id_from_key(std::string_view prefix, std::string_view key) {
  if (!key.starts_with(prefix)) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (!key.starts_with(kVmKeyInfix)) return std::nullopt;
  key.remove_prefix(kVmKeyInfix.size());
  if (key.empty()) return std::nullopt;
  return key;
}

std::string vm_key(std::string_view prefix, std::string_view vm_id) {
  std::string key(prefix);
  key += kVmKeyInfix;
  key += vm_id;
  return key;
}

StatusOr<FeedEvent> decode_vm_value(std::string_view vm_id, std::uint64_t revision, std::string_view value) {
  if (value.size() > kMaxFeedMessageBytes)
    return invalid_argument(fmt::format("vms/{}: a value of {} bytes; the limit is {}", printable(vm_id), value.size(),
                                        kMaxFeedMessageBytes));
  v1::FeedMessage message;
  message.set_revision(revision);
  if (!message.mutable_vm_upsert()->ParseFromArray(value.data(), static_cast<int>(value.size())))
    return invalid_argument(fmt::format("vms/{}: the value is not a fw.v1.FeedVm (binary protobuf)", printable(vm_id)));
  if (message.vm_upsert().id() != vm_id)
    return invalid_argument(fmt::format("vms/{}: the value's id '{}' is not the key's", printable(vm_id),
                                        printable(message.vm_upsert().id())));
  StatusOr<FeedEvent> event = decode_feed_message(message.SerializeAsString());
  if (!event.ok()) return invalid_argument(fmt::format("vms/{}: {}", printable(vm_id), event.status().message()));
  return event;
}

Status parse_gateway_json(std::string_view json, google::protobuf::Message* out, std::string_view what) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), out, options);
  if (!status.ok())
    return invalid_argument(fmt::format("{}: not a {} in JSON ({}): '{}'", what, out->GetDescriptor()->full_name(),
                                        std::string(status.message()), printable(json)));
  return Status::Ok();
}

std::string to_gateway_json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Serialising a message we built cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

StatusOr<v1::etcd::WatchResponse> decode_watch_line(std::string_view line) {
  v1::etcd::WatchStreamItem item;
  if (Status s = parse_gateway_json(line, &item, "watch stream"); !s.ok()) return s;
  if (item.has_error())
    return io_error(fmt::format("watch stream: etcd error (gRPC code {}): {}", item.error().grpc_code(),
                                printable(item.error().message())));
  if (!item.has_result()) return invalid_argument(fmt::format("watch stream: neither result nor error: '{}'", printable(line)));
  return std::move(*item.mutable_result());
}

std::optional<std::string> JsonLines::next(std::string& body) {
  for (;;) {
    const std::size_t nl = body.find('\n', scanned_);
    if (nl == std::string::npos) {
      scanned_ = body.size();
      return std::nullopt;
    }
    std::string line = body.substr(0, nl);
    body.erase(0, nl + 1);
    scanned_ = 0;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) return line;
  }
}

Status decode_unary_reply(std::string_view path, int http_status, std::string_view body,
                          google::protobuf::Message* response, int* grpc_code) {
  *grpc_code = 0;
  if (http_status == 200) return parse_gateway_json(body, response, path);
  v1::etcd::GatewayError error;
  if (parse_gateway_json(body, &error, path).ok() && (error.code() != 0 || !error.message().empty())) {
    *grpc_code = error.code();
    return io_error(fmt::format("{}: etcd answered HTTP {} (gRPC code {}): {}", path, http_status, error.code(),
                                printable(error.message().empty() ? error.error() : error.message())));
  }
  return io_error(fmt::format("{}: etcd answered HTTP {}: '{}'", path, http_status, printable(body)));
}

Status EtcdClient::call_once(std::string_view path, const std::string& json, google::protobuf::Message* response,
                             bool* retryable) {
  *retryable = false;
  const Clock::time_point deadline = Clock::now() + timeout_;
  const bool reused = connection_.has_value() && connection_->reusable();
  if (!reused) {
    connection_.reset();
    StatusOr<HttpConnection> c = HttpConnection::connect(endpoint_, deadline);
    if (!c.ok()) return c.status();
    connection_.emplace(std::move(*c));
  }
  Status s = connection_->send_post(path, json, deadline);
  StatusOr<HttpResponse> reply = s.ok() ? connection_->read_response(deadline) : StatusOr<HttpResponse>(s);
  if (!reply.ok()) {
    // A kept-alive connection the server closed while idle fails before
    // any byte of a response: worth one retry on a fresh connection.
    *retryable = reused && !connection_->decoder().headers_done();
    connection_.reset();
    return reply.status();
  }
  if (!connection_->reusable()) connection_.reset();
  return decode_unary_reply(path, reply->status_code, reply->body, response, &last_grpc_code_);
}

Status EtcdClient::call(std::string_view path, const google::protobuf::Message& request,
                        google::protobuf::Message* response) {
  last_grpc_code_ = 0;
  const std::string json = to_gateway_json(request);
  bool retryable = false;
  Status s = call_once(path, json, response, &retryable);
  if (!s.ok() && retryable) s = call_once(path, json, response, &retryable);
  return s;
}

StatusOr<v1::etcd::RangeResponse> EtcdClient::range(const v1::etcd::RangeRequest& request) {
  v1::etcd::RangeResponse response;
  if (Status s = call("/v3/kv/range", request, &response); !s.ok()) return s;
  return response;
}

StatusOr<v1::etcd::PutResponse> EtcdClient::put(std::string_view key, std::string_view value) {
  v1::etcd::PutRequest request;
  request.set_key(std::string(key));
  request.set_value(std::string(value));
  v1::etcd::PutResponse response;
  if (Status s = call("/v3/kv/put", request, &response); !s.ok()) return s;
  return response;
}

StatusOr<v1::etcd::DeleteRangeResponse> EtcdClient::delete_range(std::string_view key, std::string_view range_end) {
  v1::etcd::DeleteRangeRequest request;
  request.set_key(std::string(key));
  request.set_range_end(std::string(range_end));
  v1::etcd::DeleteRangeResponse response;
  if (Status s = call("/v3/kv/deleterange", request, &response); !s.ok()) return s;
  return response;
}

StatusOr<v1::etcd::CompactionResponse> EtcdClient::compact(std::int64_t revision) {
  v1::etcd::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(true);
  v1::etcd::CompactionResponse response;
  if (Status s = call("/v3/kv/compaction", request, &response); !s.ok()) return s;
  return response;
}

StatusOr<v1::etcd::TxnResponse> EtcdClient::txn(const v1::etcd::TxnRequest& request) {
  v1::etcd::TxnResponse response;
  if (Status s = call("/v3/kv/txn", request, &response); !s.ok()) return s;
  return response;
}

}  // namespace fw::etcd
