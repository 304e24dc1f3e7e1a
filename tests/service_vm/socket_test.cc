// The socket server in a thread: a client sends frames (plain and NSH) on a
// SOCK_SEQPACKET connection and reads one verdict record per frame; flows
// end when the client disconnects; several connections each have their own
// flows; stop() ends run().
#include "examples/service-vm/socket_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "examples/service-vm/verdict_output.h"
#include "support/packet_builder.h"
#include "support/scratch_dir.h"

namespace svm {
namespace {

using fw::test::Bytes;
using fw::test::PacketBuilder;

int connect_to(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// Sends one frame and reads its verdict record.
FrameVerdict round_trip(int fd, const Bytes& frame) {
  EXPECT_EQ(send(fd, frame.data(), frame.size(), MSG_NOSIGNAL), static_cast<ssize_t>(frame.size()));
  std::uint8_t reply[128];
  ssize_t n = recv(fd, reply, sizeof reply, 0);
  EXPECT_EQ(n, static_cast<ssize_t>(kVerdictRecordSize));
  if (n != static_cast<ssize_t>(kVerdictRecordSize)) return {};
  auto decoded = decode_verdict({reply, static_cast<std::size_t>(n)});
  EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
  return decoded.ok() ? *decoded : FrameVerdict{};
}

Bytes tcp(bool from_client, std::uint16_t port, std::uint32_t seq, std::uint8_t flags,
          std::string_view payload = {}) {
  PacketBuilder b;
  if (from_client) {
    b.eth().ipv4("10.0.0.1", "10.0.0.2").tcp(port, 80, flags, {.seq = seq, .ack = 1});
  } else {
    b.eth().ipv4("10.0.0.2", "10.0.0.1").tcp(80, port, flags, {.seq = seq, .ack = 1});
  }
  if (!payload.empty()) b.payload(payload);
  return b.build();
}

class SocketServerTest : public ::testing::Test {
 protected:
  void start(bool nsh = false, std::size_t max_connections = 4) {
    auto parsed = parse_signatures(
        "1001 block content \"/etc/passwd\" to-server\n"
        "2001 alert content \"hello\"\n",
        "socket.rules");
    ASSERT_TRUE(parsed.ok());
    auto db = SignatureDatabase::compile(std::move(*parsed));
    ASSERT_TRUE(db.ok());
    path = (scratch.path() / "svm.sock").string();
    SocketServerOptions options{.path = path, .max_connections = max_connections};
    options.scanner.nsh = nsh;
    auto s = SocketServer::create(*db, options, [this](const Flow& flow, FlowEnd end) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.push_back(format_flow_line(flow, end, false));
    });
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    server = std::move(*s);
    thread = std::thread([this] { run_status = server->run(); });
  }
  void TearDown() override {
    if (server) server->stop();
    if (thread.joinable()) thread.join();
  }
  void stop_and_join() {
    server->stop();
    thread.join();
    EXPECT_TRUE(run_status.ok()) << run_status.to_string();
  }

  fw::test::ScratchDir scratch{"svm-socket"};
  std::string path;
  std::unique_ptr<SocketServer> server;
  std::thread thread;
  fw::Status run_status;
  std::mutex mutex;
  std::vector<std::string> lines;
};

TEST_F(SocketServerTest, VerdictPerFrameAndFlowsEndWithTheConnection) {
  start();
  int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  FrameVerdict v = round_trip(fd, tcp(true, 40000, 100, fw::kTcpSyn));
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_TRUE(v.has_flow);
  EXPECT_EQ(v.client_ip.to_string(), "10.0.0.1");
  EXPECT_EQ(v.server_port, 80);
  v = round_trip(fd, tcp(true, 40000, 101, fw::kTcpAck, "GET /cgi/../../etc/pa"));
  EXPECT_EQ(v.action, Action::kAllow);
  v = round_trip(fd, tcp(true, 40000, 122, fw::kTcpAck, "sswd HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, VerdictReason::kSignature);
  EXPECT_EQ(v.match.signature_id, 1001u);
  EXPECT_EQ(v.match.offset, 25u);
  EXPECT_EQ(v.direction, FlowDirection::kToServer);
  v = round_trip(fd, tcp(false, 40000, 500, fw::kTcpAck, "HTTP/1.0 403\r\n"));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.direction, FlowDirection::kToClient);

  // A second flow on the same connection, allowed; an ARP frame; a runt.
  v = round_trip(fd, tcp(true, 40001, 100, fw::kTcpSyn));
  v = round_trip(fd, tcp(true, 40001, 101, fw::kTcpAck, "hello"));
  EXPECT_EQ(v.action, Action::kAllow);
  v = round_trip(fd, PacketBuilder().eth().arp().build());
  EXPECT_EQ(v.reason, VerdictReason::kNotInspected);
  EXPECT_FALSE(v.has_flow);
  v = round_trip(fd, Bytes{1, 2, 3});
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, VerdictReason::kMalformed);
  close(fd);

  stop_and_join();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("flow=1 verdict=block reason=signature proto=tcp client=10.0.0.1:40000 "
                          "server=10.0.0.2:80 sig=1001 dir=to-server offset=25"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("flow=2 verdict=allow reason=no-match"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("end=end-of-input alerts=2001/to-server/5"), std::string::npos) << lines[1];
  ScannerStats stats = server->stats();
  EXPECT_EQ(stats.frames, 8u);
  EXPECT_EQ(stats.flows, 2u);
  EXPECT_EQ(stats.flows_blocked, 1u);
  EXPECT_EQ(server->connections_served(), 1u);
}

TEST_F(SocketServerTest, ConnectionsHaveTheirOwnFlowsAndScratch) {
  start();
  constexpr int kClients = 3;
  std::vector<std::thread> clients;
  std::vector<int> blocked(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      int fd = connect_to(path);
      ASSERT_GE(fd, 0);
      for (int flow = 0; flow < 20; ++flow) {
        std::uint16_t port = static_cast<std::uint16_t>(1000 * (c + 1) + flow);
        round_trip(fd, tcp(true, port, 100, fw::kTcpSyn));
        // Every other flow carries the pattern, split across two segments.
        std::string a = flow % 2 ? "xx /etc/pa" : "xx /etc/pX";
        round_trip(fd, tcp(true, port, 101, fw::kTcpAck, a));
        FrameVerdict v = round_trip(fd, tcp(true, port, 111, fw::kTcpAck, "sswd"));
        if (v.action == Action::kBlock) ++blocked[c];
      }
      close(fd);
    });
  }
  for (auto& t : clients) t.join();
  stop_and_join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(blocked[c], 10) << "client " << c;
  EXPECT_EQ(lines.size(), 60u);
  EXPECT_EQ(server->stats().flows, 60u);
  EXPECT_EQ(server->stats().flows_blocked, 30u);
  EXPECT_EQ(server->connections_served(), 3u);
}

TEST_F(SocketServerTest, NshEncapsulatedFrames) {
  start(/*nsh=*/true);
  int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  Bytes inner = tcp(true, 40000, 101, fw::kTcpAck, "GET /etc/passwd");
  // Bare NSH (MD type 2, no context headers), next protocol Ethernet.
  Bytes message = {0x0f, 0xc2, 0x02, 0x03, 0x00, 0x00, 0x2a, 0xfe};
  message.insert(message.end(), inner.begin(), inner.end());
  FrameVerdict v = round_trip(fd, message);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.match.signature_id, 1001u);
  EXPECT_TRUE(v.has_nsh);
  EXPECT_EQ(v.nsh.service_path, 0x2afeu);
  // Without NSH the message is not understood: blocked as malformed.
  v = round_trip(fd, inner);
  EXPECT_EQ(v.reason, VerdictReason::kMalformed);
  close(fd);
}

TEST_F(SocketServerTest, ConnectionsBeyondTheLimitAreRefused) {
  start(false, /*max_connections=*/1);
  int first = connect_to(path);
  ASSERT_GE(first, 0);
  round_trip(first, tcp(true, 1, 100, fw::kTcpSyn));  // the first is being served
  int second = connect_to(path);
  ASSERT_GE(second, 0);
  std::uint8_t byte;
  EXPECT_EQ(recv(second, &byte, 1, 0), 0) << "the second connection must be closed";
  close(second);
  FrameVerdict v = round_trip(first, tcp(true, 1, 101, fw::kTcpAck, "/etc/passwd"));
  EXPECT_EQ(v.action, Action::kBlock);
  close(first);
  stop_and_join();
  EXPECT_EQ(server->connections_refused(), 1u);
}

TEST(SocketServerCreate, RefusesToReplaceARegularFile) {
  fw::test::ScratchDir scratch("svm-socket");
  std::string path = scratch.write("not-a-socket", "data");
  auto parsed = parse_signatures("1 block content \"x\"\n", "r");
  ASSERT_TRUE(parsed.ok());
  auto db = SignatureDatabase::compile(std::move(*parsed));
  ASSERT_TRUE(db.ok());
  auto s = SocketServer::create(*db, {.path = path}, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("is not a socket"), std::string::npos);
  auto long_path = SocketServer::create(*db, {.path = std::string(200, 'a')}, nullptr);
  EXPECT_FALSE(long_path.ok());
}

}  // namespace
}  // namespace svm
