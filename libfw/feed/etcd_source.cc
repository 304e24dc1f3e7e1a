// The etcd v3 feed source (fw/feed.h, docs/feed-etcd.md): list a prefix as
// a snapshot, watch from the next revision, re-list on compaction, back off
// and resume when etcd is away.
#include <algorithm>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "fw/feed.h"
#include "libfw/feed/etcd_gateway.h"
#include "libfw/feed/etcd_http.h"

namespace fw {
namespace {

using etcd::Clock;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

class EtcdSourceImpl final : public EtcdSource {
 public:
  EtcdSourceImpl(EtcdSourceOptions options, etcd::HttpEndpoint endpoint)
      : options_(std::move(options)),
        endpoint_(endpoint),
        client_(endpoint, options_.request_timeout),
        range_end_(etcd::prefix_range_end(options_.prefix)),
        rng_(std::random_device{}()) {}

  std::string describe() const override {
    return fmt::format("etcd {} {}", options_.endpoint, printable(options_.prefix));
  }

  EtcdSourceStats stats() const override {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  StatusOr<PollResult> poll(FeedConsumer& consumer, std::chrono::milliseconds timeout) override {
    const Clock::time_point deadline = Clock::now() + timeout;
    PollResult result;
    for (;;) {
      if (phase_ != Phase::kList && consumer.state() == FeedState::kWaitingForSnapshot) {
        // The consumer refused a change (or its owner restarted it): only a
        // fresh listing can put it back in sync.
        drop_watch();
        phase_ = Phase::kList;
      }
      if (Clock::now() < retry_at_) {
        if (result.messages > 0) return result;
        std::this_thread::sleep_until(std::min(deadline, retry_at_));
        if (Clock::now() < retry_at_) return result;
      }
      switch (phase_) {
        case Phase::kList: {
          if (Status s = list(consumer, result); !s.ok()) return fail(s);
          if (!consumer.in_sync()) {
            // The consumer refused a VM of the listing; it keeps its state.
            // List again, after a backoff so a VM the inventory cannot take
            // does not make us hammer etcd.
            record_failure(failed_precondition(
                fmt::format("{}: the consumer refused the listing: {}", describe(), consumer.last_error().message())));
            return result;
          }
          phase_ = Phase::kOpenWatch;
          return result;  // a listing is a poll's worth of work
        }
        case Phase::kOpenWatch:
          if (Status s = open_watch(); !s.ok()) return fail(s);
          phase_ = Phase::kWatching;
          break;
        case Phase::kWatching: {
          StatusOr<bool> got = read_watch(consumer, result, deadline);
          if (!got.ok()) return fail(got.status());
          if (phase_ != Phase::kWatching) break;  // compacted: list now
          if (result.messages > 0 || Clock::now() >= deadline) return result;
          break;
        }
      }
    }
  }

 private:
  enum class Phase : std::uint8_t { kList, kOpenWatch, kWatching };

  template <typename F>
  void update_stats(F f) {
    std::lock_guard lock(stats_mutex_);
    f(stats_);
  }

  void drop_watch() {
    watch_.reset();
    lines_ = etcd::JsonLines();
    watch_confirmed_ = false;
    update_stats([](EtcdSourceStats& s) { s.watching = false; });
  }

  // Schedules the next attempt: exponential backoff with +-20% jitter.
  void record_failure(const Status& why) {
    backoff_ = backoff_.count() == 0 ? options_.initial_backoff : std::min(backoff_ * 2, options_.max_backoff);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    retry_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(backoff_ * jitter(rng_));
    update_stats([&](EtcdSourceStats& s) {
      ++s.failures;
      s.last_error = why;
    });
  }

  Status fail(const Status& why) {
    drop_watch();
    // A broken watch resumes from the revision it reached; a broken
    // listing starts again.
    if (phase_ == Phase::kWatching) phase_ = Phase::kOpenWatch;
    record_failure(why);
    return why;
  }

  void succeeded() { backoff_ = std::chrono::milliseconds(0); }

  void set_revision(std::uint64_t revision) {
    revision_ = revision;
    update_stats([&](EtcdSourceStats& s) { s.revision = revision; });
  }

  void corrupt(const Status& why) {
    update_stats([&](EtcdSourceStats& s) {
      ++s.corrupt_values;
      s.last_error = why;
    });
  }

  // Lists the prefix, page by page at one revision, handing it over as a
  // snapshot as it arrives (the consumer applies upserts at once and
  // sweeps at the end).
  Status list(FeedConsumer& consumer, PollResult& result) {
    v1::etcd::RangeRequest request;
    request.set_key(options_.prefix);
    request.set_range_end(range_end_);
    request.set_limit(options_.page_size);
    std::uint64_t snapshot_revision = 0;
    std::unordered_set<std::string> listed;
    for (;;) {
      StatusOr<v1::etcd::RangeResponse> page = client_.range(request);
      if (!page.ok()) {
        if (snapshot_revision != 0) consumer.restart(fmt::format("{}: the listing broke off", describe()));
        if (client_.last_grpc_code() == etcd::kGrpcOutOfRange)
          return io_error(fmt::format("{}: the listing's revision {} was compacted while listing; listing again",
                                      describe(), snapshot_revision));
        return io_error(fmt::format("{}: listing: {}", describe(), page.status().message()));
      }
      update_stats([](EtcdSourceStats& s) { ++s.list_pages; });
      if (snapshot_revision == 0) {
        if (page->header().revision() <= 0)
          return io_error(fmt::format("{}: listing: etcd's response has no revision", describe()));
        snapshot_revision = static_cast<std::uint64_t>(page->header().revision());
        // Later pages read the same revision, so the listing is one
        // consistent cut of the keyspace.
        request.set_revision(page->header().revision());
        Status s = consumer.apply(FeedEvent{.revision = snapshot_revision, .kind = FeedEventKind::kSnapshotBegin});
        ++result.messages;
        if (!s.ok()) {
          return failed_precondition(fmt::format(
              "{}: etcd's revision {} is older than the consumer's {} (etcd restored from a backup or replaced?); "
              "the consumer keeps its state: {}",
              describe(), snapshot_revision, consumer.revision(), s.message()));
        }
      }
      // A page's VMs (and, on the last page, the snapshot's end) go to the
      // consumer as one batch: one inventory change, one sink call.
      const bool last_page = !page->more() || page->kvs_size() == 0;
      events_.clear();
      for (const v1::etcd::KeyValue& kv : page->kvs()) {
        std::optional<std::string_view> id = etcd::vm_id_from_key(options_.prefix, kv.key());
        if (!id) {
          update_stats([](EtcdSourceStats& s) { ++s.ignored_keys; });
          continue;
        }
        StatusOr<FeedEvent> event = etcd::decode_vm_value(*id, snapshot_revision, kv.value());
        if (!event.ok()) {
          corrupt(event.status());
          continue;
        }
        events_.push_back(std::move(*event));
      }
      if (last_page) events_.push_back(FeedEvent{.revision = snapshot_revision, .kind = FeedEventKind::kSnapshotEnd});
      results_.assign(events_.size(), Status::Ok());
      consumer.apply_events(events_, results_).ignore_error();  // refusals: counted by the consumer
      result.messages += events_.size();
      for (std::size_t i = 0; i < events_.size(); ++i)
        if (events_[i].kind == FeedEventKind::kVmUpsert && results_[i].ok()) listed.insert(events_[i].vm.id);
      // A refused VM abandons the snapshot (the upserts after it in the
      // batch were ignored): the caller backs off and lists again.
      if (consumer.state() != FeedState::kInSnapshot && !consumer.in_sync()) return Status::Ok();
      if (last_page) break;
      // The next page starts just after the last key.
      request.set_key(page->kvs(page->kvs_size() - 1).key() + '\0');
    }
    if (!consumer.in_sync() || consumer.revision() != snapshot_revision)
      return Status::Ok();  // the end was refused (counted by the consumer); the caller backs off
    live_ids_ = std::move(listed);
    set_revision(snapshot_revision);
    last_vm_event_revision_ = 0;
    succeeded();
    update_stats([](EtcdSourceStats& s) { ++s.lists; });
    return Status::Ok();
  }

  Status open_watch() {
    const Clock::time_point deadline = Clock::now() + options_.request_timeout;
    StatusOr<etcd::HttpConnection> c = etcd::HttpConnection::connect(endpoint_, deadline);
    if (!c.ok()) return io_error(fmt::format("{}: opening the watch: {}", describe(), c.status().message()));
    v1::etcd::WatchRequest request;
    v1::etcd::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(options_.prefix);
    create->set_range_end(range_end_);
    watch_start_ = revision_ + 1;
    create->set_start_revision(static_cast<std::int64_t>(watch_start_));
    // While the prefix is quiet, progress notifications move our revision
    // on, so a resumed watch starts past what others compacted meanwhile.
    create->set_progress_notify(true);
    if (Status s = c->send_post("/v3/watch", etcd::to_gateway_json(request), deadline); !s.ok())
      return io_error(fmt::format("{}: opening the watch: {}", describe(), s.message()));
    watch_.emplace(std::move(*c));
    lines_ = etcd::JsonLines();
    watch_opened_at_ = Clock::now();
    update_stats([](EtcdSourceStats& s) { ++s.watches; });
    return Status::Ok();
  }

  // Reads the watch stream until `deadline` or until messages were handed
  // over: true if something arrived, false on a quiet timeout.
  StatusOr<bool> read_watch(FeedConsumer& consumer, PollResult& result, Clock::time_point deadline) {
    bool any = false;
    for (;;) {
      etcd::HttpResponseDecoder& decoder = watch_->decoder();
      if (decoder.headers_done() && decoder.status_code() != 200) {
        if (decoder.complete() || Clock::now() >= deadline) {
          int grpc_code = 0;
          v1::etcd::WatchResponse unused;
          Status s = etcd::decode_unary_reply("/v3/watch", decoder.status_code(), decoder.body(), &unused, &grpc_code);
          return io_error(fmt::format("{}: {}", describe(), s.message()));
        }
      } else {
        while (std::optional<std::string> line = lines_.next(decoder.body())) {
          if (Status s = handle_line(*line, consumer, result); !s.ok()) return s;
          if (phase_ != Phase::kWatching) return true;
        }
        if (decoder.complete()) return io_error(fmt::format("{}: etcd ended the watch stream", describe()));
      }
      if (result.messages > 0) return true;
      // A watch etcd does not even confirm within the request timeout is
      // as good as a failed request.
      if (!watch_confirmed_ && Clock::now() - watch_opened_at_ > options_.request_timeout)
        return io_error(fmt::format("{}: etcd did not confirm the watch within {} ms", describe(),
                                    options_.request_timeout.count()));
      const Clock::time_point until =
          watch_confirmed_ ? deadline : std::min(deadline, watch_opened_at_ + options_.request_timeout);
      StatusOr<bool> got = watch_->read_some(until);
      if (!got.ok()) return io_error(fmt::format("{}: watching: {}", describe(), got.status().message()));
      if (!*got && Clock::now() >= deadline) return any;
      any = any || *got;
    }
  }

  Status handle_line(const std::string& line, FeedConsumer& consumer, PollResult& result) {
    StatusOr<v1::etcd::WatchResponse> response = etcd::decode_watch_line(line);
    if (!response.ok()) return io_error(fmt::format("{}: {}", describe(), response.status().message()));
    if (response->canceled()) {
      if (response->compact_revision() > 0) {
        // Our position is gone: the events between it and the compaction
        // cannot be had. List again — a mark-and-sweep resync.
        update_stats([](EtcdSourceStats& s) { ++s.compactions; });
        consumer.restart(fmt::format("{}: etcd compacted up to revision {}, past the watch's revision {}", describe(),
                                     response->compact_revision(), revision_ + 1));
        drop_watch();
        phase_ = Phase::kList;
        return Status::Ok();
      }
      return io_error(fmt::format("{}: etcd cancelled the watch: {}", describe(),
                                  printable(response->cancel_reason().empty() ? "no reason given"
                                                                              : response->cancel_reason())));
    }
    if (response->created()) {
      watch_confirmed_ = true;
      succeeded();
      update_stats([](EtcdSourceStats& s) { s.watching = true; });
      return Status::Ok();
    }
    if (response->events_size() == 0) {
      // A progress notification: every event up to this revision has been
      // sent.
      const std::int64_t r = response->header().revision();
      if (r > 0 && static_cast<std::uint64_t>(r) > revision_) set_revision(static_cast<std::uint64_t>(r));
      return Status::Ok();
    }
    for (const v1::etcd::Event& event : response->events()) {
      const std::int64_t mod = event.kv().mod_revision();
      if (mod <= 0) {
        hand_over(consumer, result);  // the events before it stand
        return io_error(fmt::format("{}: a watch event without a revision", describe()));
      }
      const auto revision = static_cast<std::uint64_t>(mod);
      if (revision < watch_start_) continue;  // before what we asked for: already handed over
      std::optional<std::string_view> id = etcd::vm_id_from_key(options_.prefix, event.kv().key());
      if (!id) {
        update_stats([](EtcdSourceStats& s) { ++s.ignored_keys; });
        set_revision(std::max(revision_, revision));
        continue;
      }
      update_stats([](EtcdSourceStats& s) { ++s.events; });
      if (revision == last_vm_event_revision_) {
        // One transaction changed several VMs at one revision; the consumer
        // would take the second as a replay. A listing gets them all.
        hand_over(consumer, result);
        update_stats([](EtcdSourceStats& s) { ++s.shared_revisions; });
        consumer.restart(fmt::format("{}: etcd revision {} changed several VM keys", describe(), revision));
        drop_watch();
        phase_ = Phase::kList;
        return Status::Ok();
      }
      last_vm_event_revision_ = revision;
      set_revision(revision);
      const std::string vm_id(*id);
      if (event.type() == v1::etcd::Event::DELETE) {
        if (!is_live(vm_id)) {
          // Its value never decoded, so the inventory never had it.
          update_stats([](EtcdSourceStats& s) { ++s.ignored_keys; });
          continue;
        }
        queued_live_[vm_id] = false;
        events_.push_back(FeedEvent{.revision = revision, .kind = FeedEventKind::kVmDelete, .vm_id = vm_id});
        continue;
      }
      StatusOr<FeedEvent> upsert = etcd::decode_vm_value(vm_id, revision, event.kv().value());
      if (!upsert.ok()) {
        // The VM keeps its last good state (docs/feed-etcd.md).
        corrupt(upsert.status());
        continue;
      }
      queued_live_[vm_id] = true;
      events_.push_back(std::move(*upsert));
    }
    hand_over(consumer, result);
    return Status::Ok();
  }

  // Whether the inventory has (or, once the queued events are handed over,
  // will have) VM `id`.
  bool is_live(const std::string& id) const {
    if (auto it = queued_live_.find(id); it != queued_live_.end()) return it->second;
    return live_ids_.contains(id);
  }

  // Hands the watch events queued by handle_line() to the consumer as one
  // batch (one inventory change, one sink call), then records which VMs
  // the inventory has, in order. A refused event makes the consumer want a
  // listing, so the events after it in the batch are ignored and the
  // source lists again, which replaces live_ids_.
  void hand_over(FeedConsumer& consumer, PollResult& result) {
    queued_live_.clear();
    if (events_.empty()) return;
    results_.assign(events_.size(), Status::Ok());
    consumer.apply_events(events_, results_).ignore_error();  // refusals: counted by the consumer
    result.messages += events_.size();
    for (std::size_t i = 0; i < events_.size(); ++i) {
      if (events_[i].kind == FeedEventKind::kVmDelete) live_ids_.erase(events_[i].vm_id);
      else if (results_[i].ok()) live_ids_.insert(events_[i].vm.id);
    }
    events_.clear();
  }

  const EtcdSourceOptions options_;
  const etcd::HttpEndpoint endpoint_;
  etcd::EtcdClient client_;
  const std::string range_end_;
  Phase phase_ = Phase::kList;
  std::optional<etcd::HttpConnection> watch_;
  etcd::JsonLines lines_;
  Clock::time_point watch_opened_at_{};
  bool watch_confirmed_ = false;
  // Everything up to this etcd revision has been handed over; a watch
  // resumes at the next one.
  std::uint64_t revision_ = 0;
  std::uint64_t watch_start_ = 0;
  std::uint64_t last_vm_event_revision_ = 0;
  // VM ids whose value the consumer applied: a delete of any other id (its
  // value never decoded) is not handed over, since the consumer would
  // refuse it as unknown and re-list for nothing.
  std::unordered_set<std::string> live_ids_;
  // Events of one watch response (or one listing page), handed over as a
  // batch; queued_live_ says what the queued ones do to live_ids_.
  std::vector<FeedEvent> events_;
  std::vector<Status> results_;
  std::unordered_map<std::string, bool> queued_live_;
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand rng_;
  mutable std::mutex stats_mutex_;
  EtcdSourceStats stats_;
};

}  // namespace

StatusOr<std::unique_ptr<EtcdSource>> open_etcd_source(EtcdSourceOptions options) {
  StatusOr<etcd::HttpEndpoint> endpoint = etcd::parse_http_endpoint(options.endpoint);
  if (!endpoint.ok()) return invalid_argument("EtcdSourceOptions.endpoint: " + endpoint.status().message());
  if (options.page_size < 1 || options.page_size > 100000)
    return invalid_argument(fmt::format("EtcdSourceOptions.page_size: {}; expected 1-100000", options.page_size));
  if (options.request_timeout.count() <= 0)
    return invalid_argument("EtcdSourceOptions.request_timeout: must be positive");
  if (options.initial_backoff.count() <= 0)
    return invalid_argument("EtcdSourceOptions.initial_backoff: must be positive");
  if (options.max_backoff < options.initial_backoff)
    return invalid_argument("EtcdSourceOptions.max_backoff: must be at least initial_backoff");
  return std::unique_ptr<EtcdSource>(new EtcdSourceImpl(std::move(options), std::move(*endpoint)));
}

StatusOr<EtcdSourceOptions> parse_etcd_url(std::string_view url) {
  constexpr std::string_view kScheme = "etcd://";
  if (!url.starts_with(kScheme)) return invalid_argument(fmt::format("'{}': expected etcd://HOST:PORT/PREFIX", url));
  url.remove_prefix(kScheme.size());
  const std::size_t slash = url.find('/');
  EtcdSourceOptions options;
  options.endpoint = std::string(url.substr(0, slash));
  options.prefix = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (StatusOr<etcd::HttpEndpoint> e = etcd::parse_http_endpoint(options.endpoint); !e.ok())
    return invalid_argument(fmt::format("etcd://{}: {}", url, e.status().message()));
  return options;
}

}  // namespace fw
