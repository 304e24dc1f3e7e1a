// A real etcd for the tests (etcd_fixture.h).
#include "etcd_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace fw::test {
namespace {

// Where Debian installs the binaries; PATH is searched as well.
std::string find_binary(const std::string& name) {
  for (const std::string dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    const std::string path = dir + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// A port the kernel considers free right now. Another process could take
// it before etcd binds it; etcd then fails to start and the test says so.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv with stdout+stderr into `log`; returns the pid (or -1).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool wait_for_it, int* exit_code) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null >= 0) ::dup2(null, 0);
    // Its own process group, so a stray signal to the test's group does
    // not reach it and the test decides when it stops.
    ::setpgid(0, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::setenv("ETCDCTL_API", "3", 1);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (wait_for_it) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return pid;
}

}  // namespace

std::unique_ptr<EtcdServer> EtcdServer::start(std::string* why) {
  if (find_binary("etcd").empty()) {
    *why = "etcd is not installed (Debian package etcd-server; scripts/setup installs it): skipping the etcd tests";
    return nullptr;
  }
  std::unique_ptr<EtcdServer> server(new EtcdServer());
  server->client_port_ = free_port();
  server->peer_port_ = free_port();
  while (server->peer_port_ == server->client_port_) server->peer_port_ = free_port();
  if (server->client_port_ == 0 || server->peer_port_ == 0) {
    ADD_FAILURE() << "no free port on 127.0.0.1";
    return nullptr;
  }
  server->client_.emplace(etcd::HttpEndpoint{.host = "127.0.0.1", .port = server->client_port_},
                          std::chrono::seconds(5));
  if (!server->launch()) return nullptr;
  return server;
}

EtcdServer::~EtcdServer() { stop(); }

std::string EtcdServer::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

bool EtcdServer::launch() {
  const std::string client_url = "http://" + endpoint();
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  const std::vector<std::string> argv = {
      find_binary("etcd"),
      "--name=fw-test",
      "--data-dir=" + (dir_ / "data").string(),
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=fw-test=" + peer_url,
      "--log-level=warn",
  };
  pid_ = spawn(argv, (dir_ / "etcd.log").string(), false, nullptr);
  if (pid_ < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return false;
  }
  if (!wait_ready()) {
    ADD_FAILURE() << "etcd did not answer on " << endpoint() << " within 20 s; its log:\n" << slurp(dir_ / "etcd.log");
    stop();
    return false;
  }
  return true;
}

bool EtcdServer::wait_ready() {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    v1::etcd::RangeRequest request;
    request.set_key("health-check");
    if (client_->range(request).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void EtcdServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

bool EtcdServer::restart() {
  stop();
  return launch();
}

std::int64_t EtcdServer::put(const std::string& key, const std::string& value) {
  StatusOr<v1::etcd::PutResponse> r = client_->put(key, value);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->header().revision() : 0;
}

std::int64_t EtcdServer::del(const std::string& key) {
  StatusOr<v1::etcd::DeleteRangeResponse> r = client_->delete_range(key, "");
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->header().revision() : 0;
}

std::int64_t EtcdServer::put_all(const std::vector<std::pair<std::string, std::string>>& writes) {
  v1::etcd::TxnRequest request;
  for (const auto& [key, value] : writes) {
    v1::etcd::PutRequest* put = request.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
  }
  StatusOr<v1::etcd::TxnResponse> r = client_->txn(request);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r.ok() && r->succeeded());
  return r.ok() ? r->header().revision() : 0;
}

std::int64_t EtcdServer::revision() {
  v1::etcd::RangeRequest request;
  request.set_key("revision-probe");
  StatusOr<v1::etcd::RangeResponse> r = client_->range(request);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->header().revision() : 0;
}

bool EtcdServer::etcdctl(const std::vector<std::string>& args, std::string* out) {
  const std::string binary = find_binary("etcdctl");
  if (binary.empty()) {
    ADD_FAILURE() << "etcdctl is not installed (Debian package etcd-client; scripts/setup installs it)";
    return false;
  }
  std::vector<std::string> argv = {binary, "--endpoints=" + endpoint(), "--command-timeout=10s"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = (dir_ / "etcdctl.out").string();
  std::filesystem::remove(log);
  int exit_code = -1;
  if (spawn(argv, log, true, &exit_code) < 0) return false;
  if (out != nullptr) *out = slurp(log);
  EXPECT_EQ(exit_code, 0) << "etcdctl failed: " << slurp(log);
  return exit_code == 0;
}

}  // namespace fw::test
