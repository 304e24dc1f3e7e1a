// fwctl feed — follows a membership feed (a length-delimited stream file, or
// an etcd v3 prefix) into an inventory holding a policy's groups, and prints
// each group whose membership changed, with its members, and every change of
// the consumer's state. See docs/fwctl.md, docs/feed.md and docs/groups.md.
//
// Output (stdout), one line per event, fields separated by single spaces:
//   group <id> rev <R> members <N>[: <vm>/<vnic>=<addr>[,<addr>...] ...]
//   state <in_sync|in_snapshot|waiting_for_snapshot> rev <R>[: <reason>]
//   summary: <counters>; state <state> rev <R>; <V> VMs
//
// When group lines are printed. A file is read message by message; after
// each message that leaves the consumer outside a snapshot, every group
// whose membership changed since the last report is printed once with its
// current members — so a snapshot's upserts are reported together at its
// end, and each delta after it on its own. The etcd source hands over what
// it has per poll (100 ms), so there a report covers one poll.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "examples/fwctl/cli.h"
#include "examples/fwctl/commands.h"
#include "fw/feed.h"
#include "fw/inventory.h"
#include "fw/policy.h"

namespace fwctl {
namespace {

constexpr std::string_view kCommand = "feed";
constexpr std::string_view kEtcdScheme = "etcd://";
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::chrono::milliseconds kPollTimeout{100};

struct FeedOptions {
  std::string from;         // a stream file / FIFO, or etcd://HOST:PORT/PREFIX
  std::string policy_path;  // the groups
  bool exit_after_sync = false;
  std::optional<std::size_t> duration_seconds;
  std::size_t max_members = 50;  // members printed per group line
  bool progress = false;
};

std::vector<OptionSpec> feed_option_specs(FeedOptions& options) {
  return {
      {.name = "from",
       .value_name = "SOURCE",
       .help = "a length-delimited feed file or FIFO, or etcd://HOST:PORT/PREFIX; required",
       .apply = [&options](std::string_view v) -> OptionError {
         if (v.empty()) return "empty source";
         options.from = v;
         return std::nullopt;
       }},
      {.name = "policy",
       .value_name = "FILE",
       .help = "policy whose groups are followed (text, JSON or binary fw.v1.Policy); required",
       .apply = [&options](std::string_view v) -> OptionError {
         options.policy_path = v;
         return std::nullopt;
       }},
      {.name = "exit-after-sync",
       .value_name = "",
       .help = "stop once the consumer is in sync (a whole snapshot applied)",
       .apply = [&options](std::string_view) -> OptionError {
         options.exit_after_sync = true;
         return std::nullopt;
       }},
      {.name = "duration",
       .value_name = "SECONDS",
       .help = "stop after this many seconds (etcd: default until SIGINT/SIGTERM)",
       .apply = [&options](std::string_view v) -> OptionError {
         std::size_t seconds = 0;
         if (auto e = fw::cli::parse_count(v, 1, 7 * 24 * 3600, seconds)) return e;
         options.duration_seconds = seconds;
         return std::nullopt;
       }},
      {.name = "max-members",
       .value_name = "N",
       .help = "members printed per group line, the rest counted (default 50)",
       .apply = [&options](std::string_view v) -> OptionError {
         return fw::cli::parse_count(v, 0, 1u << 20, options.max_members);
       }},
      {.name = "progress",
       .value_name = "",
       .help = "report progress every second even when stderr is not a terminal",
       .apply = [&options](std::string_view) -> OptionError {
         options.progress = true;
         return std::nullopt;
       }},
  };
}

void print_feed_help(std::FILE* out, std::span<const OptionSpec> specs) {
  fmt::print(out,
             "Usage: fwctl feed --from FILE|etcd://HOST:PORT/PREFIX --policy FILE\n"
             "                  [--exit-after-sync] [--duration SECONDS] [--max-members N] [--progress]\n"
             "\n"
             "Follows a membership feed (docs/feed.md) into an inventory holding the policy's\n"
             "groups and prints every group whose membership changes, with its members, and\n"
             "every change of the consumer's state:\n"
             "  group web rev 11 members 2: vm-web-1/1=10.0.0.1 vm-app-1/3=10.0.0.3\n"
             "  state in_sync rev 10\n"
             "A file is read to its end; etcd is followed until SIGINT or SIGTERM, --duration\n"
             "or --exit-after-sync.\n"
             "\n"
             "Options:\n");
  print_options(out, specs);
  fmt::print(out,
             "\n"
             "Exit codes: 0 ok; 1 bad input (unreadable file, broken framing, rejected\n"
             "messages, no complete snapshot) or no sync within --duration; 2 usage error.\n");
}

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// Installs SIGINT/SIGTERM handlers for the life of the object (without
// SA_RESTART, so a blocked read or poll returns and the loop sees the flag).
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Prints group and state lines, rejected messages and progress.
class Reporter {
 public:
  Reporter(fw::Inventory& inventory, const fw::FeedConsumer& consumer, const FeedOptions& options)
      : inventory_(inventory), consumer_(consumer), options_(options),
        progress_(options.progress || isatty(STDERR_FILENO) == 1), tty_(isatty(STDERR_FILENO) == 1),
        last_progress_(std::chrono::steady_clock::now()) {}

  // After a message (file) or a poll (etcd).
  void report() {
    const fw::FeedStats stats = consumer_.stats();
    if (stats.rejected != rejected_seen_) {
      clear_progress();
      const std::uint64_t n = stats.rejected - rejected_seen_;
      fmt::print(stderr, "fwctl {}: {} rejected: {}\n", kCommand,
                 n == 1 ? std::string("a message was") : fmt::format("{} messages were", n),
                 consumer_.last_error().to_string());
      rejected_seen_ = stats.rejected;
    }
    const fw::FeedState state = consumer_.state();
    if (state != fw::FeedState::kInSnapshot) print_changed_groups();
    if (state != last_state_) {
      clear_progress();
      std::string line = fmt::format("state {} rev {}", fw::feed_state_name(state), consumer_.revision());
      if (state == fw::FeedState::kWaitingForSnapshot && !consumer_.last_error().ok())
        line += ": " + consumer_.last_error().to_string();
      fmt::print("{}\n", line);
      std::fflush(stdout);
      last_state_ = state;
    }
  }

  void progress() {
    if (!progress_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::seconds(1)) return;
    const fw::FeedStats stats = consumer_.stats();
    const double seconds = std::chrono::duration<double>(now - last_progress_).count();
    fmt::print(stderr, "{}fwctl feed: {} messages ({:.0f}/s), state {} rev {}, {} VMs{}", tty_ ? "\r" : "",
               stats.messages, static_cast<double>(stats.messages - last_messages_) / seconds,
               fw::feed_state_name(consumer_.state()), consumer_.revision(), inventory_.vm_count(),
               tty_ ? "   " : "\n");
    std::fflush(stderr);
    progress_shown_ = tty_;
    last_progress_ = now;
    last_messages_ = stats.messages;
  }

  void summary(std::string_view source) {
    clear_progress();
    const fw::FeedStats s = consumer_.stats();
    fmt::print(
        "summary: {}: {} messages, {} applied, {} rejected, {} duplicates, {} ignored, {} gaps, {} snapshots, "
        "{} swept VMs; state {} rev {}; {} VMs\n",
        source, s.messages, s.applied, s.rejected, s.duplicates, s.ignored, s.gaps, s.snapshots, s.swept_vms,
        fw::feed_state_name(consumer_.state()), consumer_.revision(), inventory_.vm_count());
    std::fflush(stdout);
  }

  void clear_progress() {
    if (!progress_shown_) return;
    fmt::print(stderr, "\n");
    progress_shown_ = false;
  }

 private:
  void print_changed_groups() {
    for (const std::string& id : inventory_.take_changed_groups()) {
      fw::StatusOr<std::vector<fw::GroupMember>> members = inventory_.group_members(id);
      if (!members.ok()) continue;  // cannot happen: the id came from the inventory
      clear_progress();
      std::string line = fmt::format("group {} rev {} members {}", id, consumer_.revision(), members->size());
      std::size_t shown = 0;
      for (const fw::GroupMember& m : *members) {
        if (shown == options_.max_members) break;
        line += fmt::format("{} {}/{}=", shown == 0 ? ":" : "", m.vm_id, m.vnic_id);
        if (m.addresses.empty()) line += "-";
        for (std::size_t i = 0; i < m.addresses.size(); ++i) line += (i ? "," : "") + m.addresses[i].to_string();
        ++shown;
      }
      if (shown < members->size()) line += fmt::format(" +{} more", members->size() - shown);
      fmt::print("{}\n", line);
    }
    std::fflush(stdout);
  }

  fw::Inventory& inventory_;
  const fw::FeedConsumer& consumer_;
  const FeedOptions& options_;
  bool progress_;
  bool tty_;
  bool progress_shown_ = false;
  std::chrono::steady_clock::time_point last_progress_;
  std::uint64_t last_messages_ = 0;
  std::uint64_t rejected_seen_ = 0;
  fw::FeedState last_state_ = fw::FeedState::kWaitingForSnapshot;
};

class Follower {
 public:
  explicit Follower(const FeedOptions& options) : options_(options) {}
  int run();

 private:
  int fail(std::string_view message) { return runtime_error(kCommand, message); }
  bool time_is_up() const {
    return options_.duration_seconds &&
           std::chrono::steady_clock::now() - start_ >= std::chrono::seconds(*options_.duration_seconds);
  }
  int follow_file();
  int follow_etcd();

  const FeedOptions& options_;
  std::unique_ptr<fw::Inventory> inventory_;
  std::unique_ptr<fw::FeedConsumer> consumer_;
  std::unique_ptr<Reporter> reporter_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

int Follower::run() {
  fw::StatusOr<fw::Policy> policy = fw::load_policy(options_.policy_path);
  if (!policy.ok()) return fail(fmt::format("bad policy: {}", policy.status().message()));
  fw::StatusOr<std::unique_ptr<fw::Inventory>> inventory = fw::Inventory::create();
  if (!inventory.ok()) return fail(inventory.status().to_string());
  inventory_ = std::move(*inventory);
  if (fw::StatusOr<std::uint64_t> s = inventory_->set_groups(*policy); !s.ok())
    return fail(fmt::format("bad policy '{}': {}", options_.policy_path, s.status().to_string()));
  inventory_->take_changed_groups().clear();  // every group starts empty: nothing to show yet
  const bool etcd = options_.from.starts_with(kEtcdScheme);
  fw::StatusOr<std::unique_ptr<fw::FeedConsumer>> consumer =
      fw::FeedConsumer::create(*inventory_, {.consecutive_revisions = !etcd});
  if (!consumer.ok()) return fail(consumer.status().to_string());
  consumer_ = std::move(*consumer);
  reporter_ = std::make_unique<Reporter>(*inventory_, *consumer_, options_);
  StopSignals signals;
  return etcd ? follow_etcd() : follow_file();
}

int Follower::follow_file() {
  const std::string& path = options_.from;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot open the feed '{}': {}", path, std::strerror(errno)));
  fw::FeedFrameReader reader;
  std::vector<char> buffer(kReadChunk);
  std::uint64_t messages = 0;
  std::string problem;  // why the feed is bad input (exit 1)
  bool stopped = false;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR && g_stop_signal == 0) continue;
    if (n < 0 && errno == EINTR) {
      stopped = true;
      break;
    }
    if (n < 0) {
      problem = fmt::format("cannot read the feed '{}': {}", path, std::strerror(errno));
      break;
    }
    if (n == 0) {
      if (reader.buffered() != 0)
        problem = fmt::format("the feed '{}' ends inside a message: {} bytes after message {}", path,
                              reader.buffered(), messages);
      break;
    }
    reader.append(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    for (;;) {
      fw::StatusOr<std::optional<std::string>> body = reader.next();
      if (!body.ok()) {
        problem = fmt::format("the feed '{}' has broken framing after message {}: {}", path, messages,
                              body.status().message());
        break;
      }
      if (!body->has_value()) break;
      ++messages;
      // A rejected message is counted and reported; the stream goes on
      // (docs/feed.md, consumer contract).
      consumer_->apply_message(**body).ignore_error();
      reporter_->report();
      if (options_.exit_after_sync && consumer_->in_sync()) break;
    }
    reporter_->progress();
    if (!problem.empty() || (options_.exit_after_sync && consumer_->in_sync()) || time_is_up() ||
        g_stop_signal != 0) {
      stopped = problem.empty() && !(options_.exit_after_sync && consumer_->in_sync());
      break;
    }
  }
  ::close(fd);
  reporter_->summary(fmt::format("file {}", path));
  if (!problem.empty()) return fail(problem);
  if (stopped) return kExitOk;  // the user stopped it (signal or --duration) before the end
  const fw::FeedStats stats = consumer_->stats();
  if (stats.rejected != 0)
    return fail(fmt::format("the feed '{}': {} of {} messages rejected", path, stats.rejected, stats.messages));
  if (!consumer_->in_sync())
    return fail(fmt::format("the feed '{}' ended {}", path,
                            stats.snapshots == 0 ? "without a complete snapshot"
                                                 : "out of sync: " + consumer_->last_error().to_string()));
  return kExitOk;
}

int Follower::follow_etcd() {
  fw::StatusOr<fw::EtcdSourceOptions> etcd_options = fw::parse_etcd_url(options_.from);
  if (!etcd_options.ok()) return usage_error(kCommand, fmt::format("--from: {}", etcd_options.status().message()));
  fw::StatusOr<std::unique_ptr<fw::EtcdSource>> source = fw::open_etcd_source(*etcd_options);
  if (!source.ok()) return fail(source.status().to_string());
  std::string last_failure;
  while (g_stop_signal == 0 && !time_is_up()) {
    fw::StatusOr<fw::PollResult> r = (*source)->poll(*consumer_, kPollTimeout);
    if (!r.ok()) {
      // The source retries with backoff; say so once per distinct failure.
      std::string failure = r.status().to_string();
      if (failure != last_failure) {
        reporter_->clear_progress();
        fmt::print(stderr, "fwctl {}: {}: {} (retrying)\n", kCommand, (*source)->describe(), failure);
        last_failure = std::move(failure);
      }
    } else if (r->messages != 0) {
      last_failure.clear();
    }
    reporter_->report();
    reporter_->progress();
    if (options_.exit_after_sync && consumer_->in_sync()) break;
  }
  reporter_->summary((*source)->describe());
  if (options_.exit_after_sync && !consumer_->in_sync()) {
    if (g_stop_signal != 0) return fail("stopped before the consumer was in sync");
    return fail(fmt::format("not in sync after {} s", *options_.duration_seconds));
  }
  return kExitOk;
}

}  // namespace

int run_feed(std::span<const std::string_view> args) {
  FeedOptions options;
  const std::vector<OptionSpec> specs = feed_option_specs(options);
  ParsedCommandLine parsed;
  if (auto error = parse_options(args, specs, parsed)) return usage_error(kCommand, *error);
  if (parsed.help_requested) {
    print_feed_help(stdout, specs);
    return kExitOk;
  }
  if (options.from.empty()) return usage_error(kCommand, "missing --from");
  if (options.policy_path.empty()) return usage_error(kCommand, "missing --policy");
  if (options.from.starts_with(kEtcdScheme)) {
    if (fw::StatusOr<fw::EtcdSourceOptions> e = fw::parse_etcd_url(options.from); !e.ok())
      return usage_error(kCommand, fmt::format("--from: {}", e.status().message()));
  }
  Follower follower(options);
  return follower.run();
}

}  // namespace fwctl
