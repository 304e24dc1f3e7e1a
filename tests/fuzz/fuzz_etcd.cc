// libFuzzer target for what the etcd feed source decodes from the network:
// any byte string is an HTTP/1.1 response from etcd's JSON gateway, cut
// into reads at places the input chooses, decoded by HttpResponseDecoder;
// its body is split into lines as a /v3/watch stream (each line decoded as
// a WatchStreamItem, each event's key and value as the source would) and,
// whole, decoded as a unary reply (a RangeResponse: every VM key's value).
// Checked on every input: nothing crashes, throws or hangs; the decoder's
// verdict, status code and body do not depend on where reads end; errors
// have the documented codes; the limits hold.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libfw/feed/etcd_gateway.h"
#include "libfw/feed/etcd_http.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_etcd: invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr std::string_view kPrefix = "/libfw/feed/";

void check_kv(const fw::v1::etcd::KeyValue& kv) {
  std::optional<std::string_view> id = fw::etcd::vm_id_from_key(kPrefix, kv.key());
  if (!id) return;
  require(!id->empty(), "a VM key has an id");
  const std::uint64_t revision = kv.mod_revision() > 0 ? static_cast<std::uint64_t>(kv.mod_revision()) : 1;
  fw::StatusOr<fw::FeedEvent> e = fw::etcd::decode_vm_value(*id, revision, kv.value());
  if (!e.ok()) {
    require(e.status().code() == fw::StatusCode::kInvalidArgument, "value errors are kInvalidArgument");
    return;
  }
  require(e->kind == fw::FeedEventKind::kVmUpsert && e->vm.id == *id && e->revision == revision,
          "a decoded value is an upsert of the key's VM at the revision");
}

struct Outcome {
  bool failed = false;
  bool complete = false;
  int status_code = 0;
  std::string body;  // everything the decoder produced, lines included
  std::size_t lines = 0;
};

Outcome run(std::string_view response, std::size_t chunk, bool close_at_end) {
  fw::etcd::HttpLimits limits{.max_header_bytes = 1024, .max_body_bytes = 8192};
  fw::etcd::HttpResponseDecoder decoder(limits);
  fw::etcd::JsonLines lines;
  Outcome out;
  for (std::size_t off = 0; off < response.size() && !out.failed; off += chunk) {
    fw::Status s = decoder.append(response.substr(off, chunk));
    if (!s.ok()) {
      require(s.code() == fw::StatusCode::kInvalidArgument, "HTTP errors are kInvalidArgument");
      out.failed = true;
      break;
    }
    require(decoder.body().size() <= limits.max_body_bytes, "the body limit holds");
    // Consume the stream as the source does, line by line.
    std::string& body = decoder.body();
    while (std::optional<std::string> line = lines.next(body)) {
      out.body += *line;
      out.body += '\n';
      ++out.lines;
      fw::StatusOr<fw::v1::etcd::WatchResponse> r = fw::etcd::decode_watch_line(*line);
      if (!r.ok()) {
        require(r.status().code() == fw::StatusCode::kInvalidArgument || r.status().code() == fw::StatusCode::kIoError,
                "watch line errors are kInvalidArgument or kIoError");
        continue;
      }
      for (const fw::v1::etcd::Event& e : r->events()) check_kv(e.kv());
    }
  }
  if (!out.failed && close_at_end) {
    fw::Status s = decoder.finish();
    if (!s.ok()) {
      require(s.code() == fw::StatusCode::kInvalidArgument, "HTTP errors are kInvalidArgument");
      out.failed = true;
    }
  }
  out.complete = decoder.complete();
  out.status_code = decoder.status_code();
  out.body += decoder.body();  // the unterminated last line
  if (out.complete) {
    // The whole body as a unary reply.
    fw::v1::etcd::RangeResponse range;
    int grpc = 0;
    fw::Status s = fw::etcd::decode_unary_reply("/v3/kv/range", out.status_code, decoder.body(), &range, &grpc);
    if (s.ok()) {
      for (const fw::v1::etcd::KeyValue& kv : range.kvs()) check_kv(kv);
    } else {
      require(s.code() == fw::StatusCode::kInvalidArgument || s.code() == fw::StatusCode::kIoError,
              "reply errors are kInvalidArgument or kIoError");
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte: bits 0-6 choose the read size (1-128 bytes), bit 7
  // whether the peer closes the connection after the last byte.
  const std::size_t chunk = std::size_t{data[0] & 0x7fu} + 1;
  const bool close_at_end = (data[0] & 0x80u) != 0;
  const std::string_view response(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome split = run(response, chunk, close_at_end);
  const Outcome whole = run(response, response.size() + 1, close_at_end);
  require(split.failed == whole.failed, "failure does not depend on where reads end");
  if (!split.failed) {
    require(split.complete == whole.complete, "completion does not depend on where reads end");
    require(split.status_code == whole.status_code, "the status does not depend on where reads end");
    require(split.body == whole.body, "the body does not depend on where reads end");
  }
  return 0;
}
