// tests/feed/etcd_fixture.h — a real etcd for the etcd feed source's tests:
// Debian's `etcd` binary (package etcd-server, installed by scripts/setup)
// on 127.0.0.1 with free ports and a temporary data dir, started and
// stopped (and restarted on the same ports and data) by the test.
//
// Usage:
//   std::string why;
//   auto etcd = fw::test::EtcdServer::start(&why);
//   if (!etcd) GTEST_SKIP() << why;  // only when the binary is missing
//   std::int64_t revision = etcd->put("/libfw/feed/vms/a", bytes);
//
// Writes go through etcd's JSON gateway (the source's own client) or, for
// compaction and text values, through `etcdctl` (package etcd-client), so
// the source is also checked against etcd's own client.
//
// Thread-safety: one test thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libfw/feed/etcd_gateway.h"
#include "support/scratch_dir.h"

namespace fw::test {

class EtcdServer {
 public:
  // nullptr with `why` set when the etcd binary is not installed; a failed
  // start is a test failure (ADD_FAILURE) and also returns nullptr.
  static std::unique_ptr<EtcdServer> start(std::string* why);
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // SIGTERM, wait for exit (SIGKILL after 10 s).
  void stop();
  // Starts again on the same ports and data dir; true once it answers.
  bool restart();
  bool running() const { return pid_ > 0; }

  std::string endpoint() const;  // "127.0.0.1:PORT"
  // Each returns the store revision after the write; fails the test (and
  // returns 0) if etcd refuses.
  std::int64_t put(const std::string& key, const std::string& value);
  std::int64_t del(const std::string& key);
  // Puts every (key, value) in one transaction: one revision for all.
  std::int64_t put_all(const std::vector<std::pair<std::string, std::string>>& writes);
  std::int64_t revision();
  // Runs `etcdctl --endpoints=... args...` (ETCDCTL_API=3); true when it
  // exits 0. Its output is in *out when given.
  bool etcdctl(const std::vector<std::string>& args, std::string* out = nullptr);

 private:
  EtcdServer() : dir_("fw-etcd") {}
  bool launch();
  bool wait_ready();

  ScratchDir dir_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
  std::optional<etcd::EtcdClient> client_;
};

}  // namespace fw::test
