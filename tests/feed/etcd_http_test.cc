// The etcd source's HTTP/1.1 response decoder and gateway decoding, without
// etcd: Content-Length, chunked (with extensions and trailers), bodies
// delimited by the close, every split of the bytes into reads, and the
// errors for malformed responses; the watch stream's lines and errors; the
// key layout and VM values.
#include <gtest/gtest.h>

#include "feed_helpers.h"
#include "fw/v1/feed.pb.h"
#include "libfw/feed/etcd_gateway.h"
#include "libfw/feed/etcd_http.h"

namespace fw::etcd {
namespace {

struct Decoded {
  Status status;
  bool complete = false;
  int code = 0;
  std::string body;
};

// Decodes `bytes` cut into reads of `chunk` bytes; `close` = the peer
// closes after the last byte.
Decoded decode(std::string_view bytes, std::size_t chunk, bool close = false) {
  HttpResponseDecoder d;
  Decoded out;
  for (std::size_t off = 0; off < bytes.size() && out.status.ok(); off += chunk)
    out.status = d.append(bytes.substr(off, chunk));
  if (out.status.ok() && close) out.status = d.finish();
  out.complete = d.complete();
  out.code = d.status_code();
  out.body = d.body();
  return out;
}

TEST(HttpResponseDecoder, EveryFramingInEverySplit) {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nGrpc-Trailer: x\r\n\r\n";
  const std::string fixed = "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nabc";
  const std::string until_close = "HTTP/1.0 200 OK\r\n\r\nto the end";
  for (std::size_t chunk : {1, 2, 3, 7, 1000}) {
    Decoded c = decode(chunked, chunk);
    EXPECT_TRUE(c.status.ok()) << chunk << " " << c.status.to_string();
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(c.body, "hello, world");
    Decoded f = decode(fixed, chunk);
    EXPECT_TRUE(f.complete);
    EXPECT_EQ(f.code, 404);
    EXPECT_EQ(f.body, "abc");
    Decoded u = decode(until_close, chunk);
    EXPECT_FALSE(u.complete);
    Decoded closed = decode(until_close, chunk, true);
    EXPECT_TRUE(closed.complete);
    EXPECT_EQ(closed.body, "to the end");
  }
}

TEST(HttpResponseDecoder, MalformedResponsesNameWhatIsWrong) {
  const std::pair<std::string, std::string> cases[] = {
      {"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP"},
      {"HTTP/1.1 abc OK\r\n\r\n", "no status code"},
      {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "no name"},
      {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "not a number"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "not supported"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "not followed by CRLF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n", "over the limit"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", "after the end"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a'), "headers longer"},
  };
  for (const auto& [bytes, why] : cases) {
    Decoded d = decode(bytes, 1000);
    EXPECT_EQ(d.status.code(), StatusCode::kInvalidArgument) << bytes;
    EXPECT_NE(d.status.message().find(why), std::string::npos) << d.status.message();
  }
  HttpResponseDecoder cut;
  ASSERT_TRUE(cut.append("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").ok());
  EXPECT_NE(cut.finish().message().find("closed inside the response"), std::string::npos);
}

TEST(EtcdGateway, WatchLinesAndErrors) {
  std::string body =
      "{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}\r\n\n"
      "{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2EvMQ==\","
      "\"mod_revision\":\"3\"}},{\"kv\":{\"key\":\"L2EvMg==\",\"mod_revision\":\"3\",\"value\":\"eHg=\"},"
      "\"future_field\":1}]}}\n{\"result\":{\"canceled\":true,\"compact_revision\":\"9\"}}\n{\"error\":{\"grpc_code\":14,"
      "\"message\":\"etcdserver: no leader\"}}\n{\"resu";
  JsonLines lines;
  std::vector<std::string> got;
  while (auto line = lines.next(body)) got.push_back(*line);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(body, "{\"resu");
  auto created = decode_watch_line(got[0]);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_TRUE(created->created());
  EXPECT_EQ(created->header().revision(), 2);
  auto events = decode_watch_line(got[1]);
  ASSERT_TRUE(events.ok()) << events.status().to_string();
  ASSERT_EQ(events->events_size(), 2);
  EXPECT_EQ(events->events(0).type(), v1::etcd::Event::DELETE);
  EXPECT_EQ(events->events(0).kv().key(), "/a/1");
  EXPECT_EQ(events->events(1).type(), v1::etcd::Event::PUT);
  EXPECT_EQ(events->events(1).kv().value(), "xx");
  auto compacted = decode_watch_line(got[2]);
  ASSERT_TRUE(compacted.ok());
  EXPECT_TRUE(compacted->canceled());
  EXPECT_EQ(compacted->compact_revision(), 9);
  auto error = decode_watch_line(got[3]);
  EXPECT_EQ(error.status().code(), StatusCode::kIoError);
  EXPECT_NE(error.status().message().find("no leader"), std::string::npos);
  EXPECT_EQ(decode_watch_line("[1,2]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode_watch_line("{}").status().code(), StatusCode::kInvalidArgument);

  int grpc = 0;
  v1::etcd::RangeResponse unused;
  Status s = decode_unary_reply("/v3/kv/range", 400,
                                "{\"error\":\"etcdserver: mvcc: required revision has been compacted\",\"message\":"
                                "\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}",
                                &unused, &grpc);
  EXPECT_EQ(grpc, kGrpcOutOfRange);
  EXPECT_NE(s.message().find("compacted"), std::string::npos);
}

TEST(EtcdGateway, KeyLayoutAndValues) {
  EXPECT_EQ(prefix_range_end("/libfw/feed/"), "/libfw/feed0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
  EXPECT_EQ(vm_id_from_key("/p/", "/p/vms/web-01"), "web-01");
  EXPECT_EQ(vm_id_from_key("/p/", "/p/vms/"), std::nullopt);
  EXPECT_EQ(vm_id_from_key("/p/", "/p/other/x"), std::nullopt);
  EXPECT_EQ(vm_id_from_key("/p/", "/q/vms/x"), std::nullopt);
  EXPECT_EQ(vm_key("/p/", "a"), "/p/vms/a");

  v1::FeedVm vm;
  vm.set_id("a");
  vm.add_vnics()->set_id(3);
  vm.mutable_vnics(0)->add_addresses(std::string("\x0a\x00\x00\x01", 4));
  auto e = decode_vm_value("a", 12, vm.SerializeAsString());
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->kind, FeedEventKind::kVmUpsert);
  EXPECT_EQ(e->revision, 12u);
  EXPECT_EQ(e->vm.vnics.at(0).addresses.at(0), test::ip("10.0.0.1"));
  EXPECT_NE(decode_vm_value("b", 12, vm.SerializeAsString()).status().message().find("not the key's"), std::string::npos);
  EXPECT_FALSE(decode_vm_value("a", 12, "this is not a protobuf {{").ok());
  vm.mutable_vnics(0)->add_addresses("abc");
  EXPECT_NE(decode_vm_value("a", 12, vm.SerializeAsString()).status().message().find("4 (IPv4) or 16"), std::string::npos);
}

TEST(HttpEndpoint, Parsing) {
  auto v4 = parse_http_endpoint("127.0.0.1:2379");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 2379);
  auto v6 = parse_http_endpoint("[::1]:2379");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"", "host", ":1", "h:", "h:0", "h:65536", "h:1x", "::1:2379", "[::1]2379"})
    EXPECT_EQ(parse_http_endpoint(bad).status().code(), StatusCode::kInvalidArgument) << bad;
}

}  // namespace
}  // namespace fw::etcd
