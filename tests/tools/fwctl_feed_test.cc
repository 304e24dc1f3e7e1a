// End-to-end tests of `fwctl feed`: the built binary follows a feed file
// (the committed three-vms.feed, and feeds the test frames itself with
// fw::encode_feed_frame) or a real etcd (tests/feed/etcd_fixture.h; skipped
// when Debian's etcd-server is not installed) and its stdout, stderr and
// exit code are checked.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../feed/etcd_fixture.h"
#include "fw/feed.h"
#include "fw/v1/feed.pb.h"
#include "support/scratch_dir.h"
#include "support/subprocess.h"

extern char** environ;

namespace {

using fw::test::RunResult;
namespace fs = std::filesystem;

const std::string kFwctl = FWCTL_PATH;
const std::string kPolicy = (fs::path(FWCTL_DATA_DIR) / "policy" / "three-tier.textpb").string();
const std::string kThreeVms = (fs::path(FW_TEST_DATA_DIR) / "feed" / "three-vms.feed").string();

fw::IpAddress ip(const char* text) { return fw::parse_ip(text).value(); }

fw::VmSpec vm(std::string id, std::uint32_t vnic, const char* address, std::vector<fw::Tag> tags) {
  return fw::VmSpec{.id = std::move(id), .tags = std::move(tags),
                    .vnics = {fw::VnicSpec{.id = vnic, .addresses = {ip(address)}}}};
}
std::string frame(fw::FeedEvent e) { return fw::encode_feed_frame(e); }
std::string begin(std::uint64_t r) { return frame({.revision = r, .kind = fw::FeedEventKind::kSnapshotBegin}); }
std::string end(std::uint64_t r) { return frame({.revision = r, .kind = fw::FeedEventKind::kSnapshotEnd}); }
std::string upsert(std::uint64_t r, fw::VmSpec v) {
  return frame({.revision = r, .kind = fw::FeedEventKind::kVmUpsert, .vm = std::move(v)});
}
std::string tag_add(std::uint64_t r, std::string id, fw::Tag t) {
  return frame({.revision = r, .kind = fw::FeedEventKind::kTagAdd, .vm_id = std::move(id), .tag = std::move(t)});
}

// The VM as its etcd value: a binary fw.v1.FeedVm (docs/feed-etcd.md).
std::string etcd_value(const fw::VmSpec& v) {
  fw::v1::FeedVm out;
  out.set_id(v.id);
  for (const fw::Tag& t : v.tags) {
    fw::v1::FeedTag* tag = out.add_tags();
    tag->set_scope(t.scope);
    tag->set_value(t.value);
  }
  for (const fw::VnicSpec& n : v.vnics) {
    fw::v1::FeedVnic* vnic = out.add_vnics();
    vnic->set_id(n.id);
    for (const fw::IpAddress& a : n.addresses)
      vnic->add_addresses(std::string(reinterpret_cast<const char*>(a.bytes.data()), a.is_v4() ? 4 : 16));
  }
  return out.SerializeAsString();
}

const fw::Tag kWeb{.scope = "tier", .value = "web"};
const fw::Tag kDb{.scope = "tier", .value = "db"};

class FwctlFeedTest : public ::testing::Test {
 protected:
  RunResult run(const std::vector<std::string>& args) const {
    RunResult result = fw::test::run_program(kFwctl, args, scratch_.path());
    if (!result.started) ADD_FAILURE() << result.err;
    EXPECT_EQ(result.signal, 0) << "fwctl crashed; stderr: " << result.err;
    return result;
  }
  RunResult run_file(const std::string& path, std::vector<std::string> more = {}) const {
    std::vector<std::string> args = {"feed", "--from", path, "--policy", kPolicy};
    args.insert(args.end(), more.begin(), more.end());
    return run(args);
  }
  void expect_usage_error(const std::vector<std::string>& args, const std::string& message) const {
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "fwctl feed: " + message + " (see 'fwctl feed --help')\n");
  }

  fw::test::ScratchDir scratch_{"fwctl-feed"};
};

TEST_F(FwctlFeedTest, FollowsTheSampleFeedFileToItsEnd) {
  RunResult r = run_file(kThreeVms);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "state in_snapshot rev 0\n"
            // The snapshot's upserts are reported together at its end.
            "group web rev 10 members 1: vm-web-1/1=10.0.0.1\n"
            "group db rev 10 members 1: vm-db-1/2=10.0.0.2,2001:db8::2\n"
            "group three-tier rev 10 members 2: vm-web-1/1=10.0.0.1 vm-db-1/2=10.0.0.2,2001:db8::2\n"
            "group production rev 10 members 1: vm-web-1/1=10.0.0.1\n"
            "state in_sync rev 10\n"
            // 11: tier=web on vm-app-1 (nested into three-tier).
            "group web rev 11 members 2: vm-web-1/1=10.0.0.1 vm-app-1/3=10.0.0.3\n"
            "group three-tier rev 11 members 3: vm-web-1/1=10.0.0.1 vm-db-1/2=10.0.0.2,2001:db8::2 "
            "vm-app-1/3=10.0.0.3\n"
            // 12: an address of a member.
            "group web rev 12 members 2: vm-web-1/1=10.0.0.1 vm-app-1/3=10.0.0.3,10.0.0.19\n"
            "group three-tier rev 12 members 3: vm-web-1/1=10.0.0.1 vm-db-1/2=10.0.0.2,2001:db8::2 "
            "vm-app-1/3=10.0.0.3,10.0.0.19\n"
            // 13: env=prod removed: production is empty.
            "group production rev 13 members 0\n"
            "group db rev 14 members 1: vm-db-1/2=2001:db8::2\n"
            "group three-tier rev 14 members 3: vm-web-1/1=10.0.0.1 vm-db-1/2=2001:db8::2 "
            "vm-app-1/3=10.0.0.3,10.0.0.19\n"
            // 15: vm-db-1 deleted.
            "group db rev 15 members 0\n"
            "group three-tier rev 15 members 2: vm-web-1/1=10.0.0.1 vm-app-1/3=10.0.0.3,10.0.0.19\n"
            "summary: file " + kThreeVms +
                ": 10 messages, 10 applied, 0 rejected, 0 duplicates, 0 ignored, 0 gaps, 1 snapshots, "
                "0 swept VMs; state in_sync rev 15; 2 VMs\n");
}

TEST_F(FwctlFeedTest, ExitAfterSyncStopsAtTheSnapshotsEnd) {
  RunResult r = run_file(kThreeVms, {"--exit-after-sync"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = fw::test::split_lines(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  EXPECT_EQ(lines[5], "state in_sync rev 10");
  EXPECT_NE(lines[6].find(": 5 messages, 5 applied"), std::string::npos) << lines[6];
}

TEST_F(FwctlFeedTest, MaxMembersCountsTheRest) {
  RunResult r = run_file(kThreeVms, {"--max-members", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("group three-tier rev 11 members 3: vm-web-1/1=10.0.0.1 +2 more\n"), std::string::npos)
      << r.out;
}

// A message that does not decode is reported and counted; the consumer
// waits for a snapshot (the delta after it is ignored) and the next
// snapshot brings it back in sync. The run still fails: the input was bad.
TEST_F(FwctlFeedTest, KeepsGoingPastARejectedMessageAndFails) {
  std::string bytes = begin(1) + upsert(1, vm("a", 1, "10.0.0.1", {kWeb})) + end(1);
  bytes += std::string("\x03\xff\xff\xff", 4);  // a framed message that is not protobuf
  bytes += tag_add(2, "a", kDb);                // ignored: waiting for a snapshot
  bytes += begin(3) + upsert(3, vm("a", 1, "10.0.0.1", {kDb})) + end(3);
  const std::string path = scratch_.write("rejected.feed", bytes);
  RunResult r = run_file(path);
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> err = fw::test::split_lines(r.err);
  ASSERT_EQ(err.size(), 2u) << r.err;
  const std::string prefix = "fwctl feed: a message was rejected: ";
  ASSERT_TRUE(err[0].starts_with(prefix + "INVALID_ARGUMENT")) << err[0];
  const std::string reason = err[0].substr(prefix.size());  // the consumer's last_error
  EXPECT_EQ(err[1], "fwctl feed: the feed '" + path + "': 1 of 8 messages rejected");
  EXPECT_EQ(r.out,
            "state in_snapshot rev 0\n"
            "group web rev 1 members 1: a/1=10.0.0.1\n"
            "group three-tier rev 1 members 1: a/1=10.0.0.1\n"
            "state in_sync rev 1\n"
            "state waiting_for_snapshot rev 1: " + reason +
                "\n"
                "state in_snapshot rev 1\n"
                "group web rev 3 members 0\n"
                "group db rev 3 members 1: a/1=10.0.0.1\n"
                "state in_sync rev 3\n"
                "summary: file " + path +
                ": 8 messages, 6 applied, 1 rejected, 0 duplicates, 1 ignored, 0 gaps, 2 snapshots, 0 swept VMs; "
                "state in_sync rev 3; 1 VMs\n");
}

TEST_F(FwctlFeedTest, BrokenFramingIsAnError) {
  const std::string path =
      scratch_.write("broken.feed", begin(1) + std::string(11, '\xff'));  // a length prefix over 10 bytes
  RunResult r = run_file(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fwctl feed: the feed '" + path + "' has broken framing after message 1: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("summary: file " + path + ": 1 messages"), std::string::npos) << r.out;
}

TEST_F(FwctlFeedTest, ATruncatedLastMessageIsAnError) {
  std::string bytes = begin(1) + end(1) + upsert(2, vm("a", 1, "10.0.0.1", {}));
  bytes.resize(bytes.size() - 3);
  const std::string path = scratch_.write("truncated.feed", bytes);
  RunResult r = run_file(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fwctl feed: the feed '" + path + "' ends inside a message: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" bytes after message 2\n"), std::string::npos) << r.err;
}

TEST_F(FwctlFeedTest, AFeedWithoutASnapshotIsAnError) {
  const std::string path = scratch_.write("deltas.feed", tag_add(5, "a", kWeb) + tag_add(6, "a", kDb));
  RunResult r = run_file(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "fwctl feed: the feed '" + path + "' ended without a complete snapshot\n");
  EXPECT_NE(r.out.find(": 2 messages, 0 applied, 0 rejected, 0 duplicates, 2 ignored"), std::string::npos) << r.out;
}

TEST_F(FwctlFeedTest, UnreadableInputs) {
  RunResult r = run_file((scratch_.path() / "missing.feed").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "fwctl feed: cannot open the feed '" + (scratch_.path() / "missing.feed").string() +
                       "': No such file or directory\n");
  r = run({"feed", "--from", kThreeVms, "--policy", (scratch_.path() / "none.textpb").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.starts_with("fwctl feed: bad policy: ")) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(FwctlFeedTest, UsageErrors) {
  expect_usage_error({"feed", "--policy", kPolicy}, "missing --from");
  expect_usage_error({"feed", "--from", kThreeVms}, "missing --policy");
  expect_usage_error({"feed", "--from", kThreeVms, "--policy", kPolicy, "--duration", "0"},
                     "--duration: '0' is not a whole number in 1..604800");
  expect_usage_error({"feed", "--from", kThreeVms, "--policy", kPolicy, "extra"},
                     "unexpected argument 'extra'; inputs are given as --option VALUE");
  RunResult r = run({"feed", "--from", "etcd://", "--policy", kPolicy});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.err.starts_with("fwctl feed: --from: ")) << r.err;
  r = run({"feed", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Usage: fwctl feed --from FILE|etcd://HOST:PORT/PREFIX --policy FILE"), std::string::npos);
}

// ---- etcd ------------------------------------------------------------------

constexpr const char* kPrefix = "/libfw/feed/";
std::string key(const std::string& id) { return std::string(kPrefix) + "vms/" + id; }

// fwctl running in the background, stdout and stderr to files.
class Background {
 public:
  Background(const std::vector<std::string>& args, const fs::path& dir)
      : out_(dir / "bg.out"), err_(dir / "bg.err") {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> storage = {kFwctl};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, kFwctl.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Background() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  std::string out() const { return fw::test::read_file(out_); }
  std::string err() const { return fw::test::read_file(err_); }
  // Waits until stdout contains `text`.
  bool wait_for(const std::string& text, std::chrono::seconds timeout = std::chrono::seconds(20)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Sends `signal` and returns the exit code (-1 if it did not exit normally).
  int stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
};

#define START_ETCD(var)                                                  \
  std::string why_skipped;                                               \
  auto var = fw::test::EtcdServer::start(&why_skipped);                  \
  if (!var && !why_skipped.empty()) GTEST_SKIP() << why_skipped;         \
  ASSERT_TRUE(var)

TEST_F(FwctlFeedTest, EtcdListingThenExitAfterSync) {
  START_ETCD(etcd);
  etcd->put(key("a"), etcd_value(vm("a", 1, "10.0.0.1", {kWeb})));
  etcd->put(key("b"), etcd_value(vm("b", 2, "10.0.0.2", {kDb})));
  const std::int64_t revision = etcd->revision();
  const std::string url = "etcd://" + etcd->endpoint() + kPrefix;
  RunResult r = run({"feed", "--from", url, "--policy", kPolicy, "--exit-after-sync", "--duration", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string rev = std::to_string(revision);
  EXPECT_NE(r.out.find("group web rev " + rev + " members 1: a/1=10.0.0.1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("group db rev " + rev + " members 1: b/2=10.0.0.2\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("group three-tier rev " + rev + " members 2: a/1=10.0.0.1 b/2=10.0.0.2\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("state in_sync rev " + rev + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("summary: etcd " + etcd->endpoint()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("state in_sync rev " + rev + "; 2 VMs\n"), std::string::npos) << r.out;
}

// Follows the watch: a tag written to etcd moves a VM between groups while
// fwctl runs; SIGTERM stops it with exit 0 and a summary.
TEST_F(FwctlFeedTest, EtcdFollowsChangesUntilSigterm) {
  START_ETCD(etcd);
  etcd->put(key("a"), etcd_value(vm("a", 1, "10.0.0.1", {kWeb})));
  const std::string url = "etcd://" + etcd->endpoint() + kPrefix;
  Background fwctl({"feed", "--from", url, "--policy", kPolicy, "--duration", "60"}, scratch_.path());
  ASSERT_TRUE(fwctl.started());
  ASSERT_TRUE(fwctl.wait_for("state in_sync rev ")) << fwctl.out() << fwctl.err();
  const std::int64_t moved = etcd->put(key("a"), etcd_value(vm("a", 1, "10.0.0.1", {kDb})));
  const std::string rev = std::to_string(moved);
  ASSERT_TRUE(fwctl.wait_for("group db rev " + rev + " members 1: a/1=10.0.0.1\n")) << fwctl.out() << fwctl.err();
  EXPECT_NE(fwctl.out().find("group web rev " + rev + " members 0\n"), std::string::npos) << fwctl.out();
  const std::int64_t deleted = etcd->del(key("a"));
  ASSERT_TRUE(fwctl.wait_for("group db rev " + std::to_string(deleted) + " members 0\n")) << fwctl.out();
  EXPECT_EQ(fwctl.stop(SIGTERM), 0) << fwctl.err();
  EXPECT_NE(fwctl.out().find("state in_sync rev " + std::to_string(deleted) + "; 0 VMs\n"), std::string::npos)
      << fwctl.out();
}

TEST_F(FwctlFeedTest, EtcdUnreachableIsReportedAndTimesOut) {
  // Port 1 on loopback: nothing listens (connection refused).
  RunResult r = run({"feed", "--from", "etcd://127.0.0.1:1/libfw/feed/", "--policy", kPolicy, "--exit-after-sync",
                     "--duration", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fwctl feed: etcd 127.0.0.1:1 /libfw/feed/: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(retrying)\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fwctl feed: not in sync after 1 s\n"), std::string::npos) << r.err;
}

}  // namespace
