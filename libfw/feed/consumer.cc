// The feed consumer (fw/feed.h): the snapshot / delta state machine over an
// fw::Inventory.
//
// States and what each message does there:
//
//   waiting_for_snapshot  snapshot_begin(R): R >= revision (or nothing
//                         applied yet) -> in_snapshot; older -> rejected.
//                         Any other message: ignored (counted).
//   in_snapshot(R)        vm_upsert at R: applied, VM marked seen.
//                         snapshot_begin(R'): the listing restarted; the
//                         marks start again. snapshot_end(R): sweep (delete
//                         every VM not seen), revision = R -> in_sync.
//                         Anything else, or a refused upsert: rejected, and
//                         the snapshot is abandoned -> waiting (nothing is
//                         swept: what was upserted stays, nothing is lost).
//   in_sync               revision <= last: duplicate, skipped.
//                         revision == last + 1 (or > last without
//                         consecutive revisions): applied; refused ->
//                         rejected -> waiting. Further on: a gap -> waiting.
//                         snapshot_begin(R >= last): a resync -> in_snapshot.
#include <atomic>
#include <mutex>
#include <span>
#include <unordered_set>

#include <fmt/format.h>

#include "fw/feed.h"
#include "libfw/feed/codec.h"

namespace fw {

struct FeedConsumer::Impl {
  Impl(Inventory& inv, FeedConsumerOptions o) : inventory(inv), options(o) {}

  Inventory& inventory;
  FeedConsumerOptions options;
  std::atomic<FeedState> state{FeedState::kWaitingForSnapshot};
  std::atomic<std::uint64_t> revision{0};
  std::atomic<std::uint64_t> sequence{0};
  bool synced_once = false;
  std::uint64_t snapshot_revision = 0;
  std::unordered_set<std::string> seen;  // VM ids listed by the open snapshot
  InventoryBatch* batch = nullptr;       // set while apply_events / apply_messages run
  FeedEvent decoded;                     // apply_message's, reused: its strings keep their capacity
  // stats and last_error are read by other threads.
  mutable std::mutex stats_mutex;
  FeedStats stats;
  Status last_error;

  void count(std::uint64_t FeedStats::*field, std::uint64_t n = 1) {
    std::lock_guard lock(stats_mutex);
    stats.*field += n;
  }
  Status reject(Status s, const FeedEvent* e) {
    if (e != nullptr)
      s = Status(s.code(), fmt::format("revision {} {}: {}", e->revision, feed_event_kind_name(e->kind), s.message()));
    std::lock_guard lock(stats_mutex);
    ++stats.rejected;
    last_error = s;
    return s;
  }
  // Lost our place: keep everything, wait for a snapshot.
  void want_snapshot(const Status& why) {
    state.store(FeedState::kWaitingForSnapshot);
    seen.clear();
    std::lock_guard lock(stats_mutex);
    last_error = why;
  }

  // The inventory call of a change message, on the inventory (a sequence
  // number) or on the open batch (a Status).
  template <typename Target>
  static auto change(Target& target, const FeedEvent& e) -> decltype(target.remove_vm(e.vm_id)) {
    switch (e.kind) {
      // The latest message is the truth: a vNIC listed under a new VM moves.
      case FeedEventKind::kVmUpsert: return target.upsert_vm(e.vm, {.take_over_vnics = true});
      case FeedEventKind::kVmDelete: return target.remove_vm(e.vm_id);
      case FeedEventKind::kTagAdd: return target.add_tag(e.vm_id, e.tag);
      case FeedEventKind::kTagRemove: return target.remove_tag(e.vm_id, e.tag);
      case FeedEventKind::kAddressAdd: return target.add_address(e.vnic_id, e.address, AddressSource::kDeclared);
      case FeedEventKind::kAddressRemove: return target.remove_address(e.vnic_id, e.address, AddressSource::kDeclared);
      case FeedEventKind::kSnapshotBegin:
      case FeedEventKind::kSnapshotEnd: break;
    }
    return internal_error("not a change");
  }

  Status apply_change(const FeedEvent& e) {
    if (batch != nullptr) return change(*batch, e);
    StatusOr<std::uint64_t> r = change(inventory, e);
    if (!r.ok()) return r.status();
    sequence.store(*r);
    return Status::Ok();
  }
  Status remove_vm(const std::string& id) {
    if (batch != nullptr) return batch->remove_vm(id);
    StatusOr<std::uint64_t> r = inventory.remove_vm(id);
    if (!r.ok()) return r.status();
    sequence.store(*r);
    return Status::Ok();
  }

  // Applies messages 0..n-1 through `one` (the one-by-one path) with the
  // inventory's changes gathered in one batch, committed at the end: one
  // sequence, one sink call.
  template <typename One>
  Status batched(std::size_t n, std::span<Status> results, One one) {
    if (!results.empty() && results.size() != n)
      return invalid_argument(fmt::format("results: {} statuses for {} messages", results.size(), n));
    InventoryBatch open = inventory.batch();
    struct Closing {
      InventoryBatch*& slot;
      ~Closing() { slot = nullptr; }
    } closing{batch};
    batch = &open;
    Status first;
    for (std::size_t i = 0; i < n; ++i) {
      Status s = one(i);
      if (!s.ok() && first.ok()) first = s;
      if (!results.empty()) results[i] = std::move(s);
    }
    batch = nullptr;
    const bool changed = open.pending() > 0;
    StatusOr<std::uint64_t> committed = open.commit();
    if (changed && committed.ok()) sequence.store(*committed);
    return first;
  }

  Status begin_snapshot(const FeedEvent& e) {
    if (synced_once && e.revision < revision.load()) {
      return reject(failed_precondition(fmt::format("a snapshot at revision {} is older than the applied revision {}",
                                                    e.revision, revision.load())),
                    &e);
    }
    snapshot_revision = e.revision;
    seen.clear();
    state.store(FeedState::kInSnapshot);
    count(&FeedStats::applied);
    return Status::Ok();
  }

  Status in_snapshot(const FeedEvent& e) {
    if (e.kind == FeedEventKind::kSnapshotBegin) return begin_snapshot(e);
    if (e.revision != snapshot_revision) {
      Status s = reject(invalid_argument(fmt::format("inside the snapshot at revision {}", snapshot_revision)), &e);
      want_snapshot(s);
      return s;
    }
    if (e.kind == FeedEventKind::kVmUpsert) {
      if (Status s = apply_change(e); !s.ok()) {
        s = reject(s, &e);
        want_snapshot(s);
        return s;
      }
      seen.insert(e.vm.id);
      count(&FeedStats::applied);
      return Status::Ok();
    }
    if (e.kind != FeedEventKind::kSnapshotEnd) {
      Status s = reject(invalid_argument("only vm_upsert messages may appear inside a snapshot"), &e);
      want_snapshot(s);
      return s;
    }
    // Sweep: delete what the listing did not mention.
    std::uint64_t swept = 0;
    for (const std::string& id : inventory.vm_ids()) {
      if (seen.contains(id)) continue;
      if (remove_vm(id).ok()) ++swept;
    }
    seen.clear();
    revision.store(snapshot_revision);
    synced_once = true;
    state.store(FeedState::kInSync);
    {
      std::lock_guard lock(stats_mutex);
      stats.swept_vms += swept;
      ++stats.snapshots;
      ++stats.applied;
      last_error = Status::Ok();
    }
    return Status::Ok();
  }

  Status in_sync(const FeedEvent& e) {
    const std::uint64_t last = revision.load();
    if (e.kind == FeedEventKind::kSnapshotBegin) return begin_snapshot(e);
    if (e.revision <= last) {
      count(&FeedStats::duplicates);
      return Status::Ok();
    }
    if (e.kind == FeedEventKind::kSnapshotEnd) {
      Status s = reject(invalid_argument("snapshot_end without snapshot_begin"), &e);
      want_snapshot(s);
      return s;
    }
    if (options.consecutive_revisions && e.revision != last + 1) {
      count(&FeedStats::gaps);
      want_snapshot(failed_precondition(
          fmt::format("gap: revision {} after {}; waiting for a snapshot", e.revision, last)));
      return Status::Ok();  // the message is fine; we are not
    }
    if (Status s = apply_change(e); !s.ok()) {
      s = reject(s, &e);
      want_snapshot(s);
      return s;
    }
    revision.store(e.revision);
    count(&FeedStats::applied);
    return Status::Ok();
  }
};

FeedConsumer::FeedConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FeedConsumer::~FeedConsumer() = default;

StatusOr<std::unique_ptr<FeedConsumer>> FeedConsumer::create(Inventory& inventory, FeedConsumerOptions options) {
  return std::unique_ptr<FeedConsumer>(new FeedConsumer(std::make_unique<Impl>(inventory, options)));
}

Status FeedConsumer::apply(const FeedEvent& event) {
  Impl& m = *impl_;
  m.count(&FeedStats::messages);
  if (event.revision == 0) {
    Status s = m.reject(invalid_argument("revision: 0; revisions start at 1"), &event);
    if (m.state.load() != FeedState::kWaitingForSnapshot) m.want_snapshot(s);
    return s;
  }
  switch (m.state.load()) {
    case FeedState::kWaitingForSnapshot:
      if (event.kind == FeedEventKind::kSnapshotBegin) return m.begin_snapshot(event);
      m.count(&FeedStats::ignored);
      return Status::Ok();
    case FeedState::kInSnapshot: return m.in_snapshot(event);
    case FeedState::kInSync: return m.in_sync(event);
  }
  return internal_error("unknown feed state");
}

Status FeedConsumer::apply_message(std::string_view body) {
  Impl& m = *impl_;
  Status decoded = feed_internal::decode_feed_message_into(body, m.decoded);
  if (decoded.ok()) return apply(m.decoded);
  m.count(&FeedStats::messages);
  Status s = m.reject(decoded, nullptr);
  // A message we could not read may have been a change we needed.
  if (m.state.load() != FeedState::kWaitingForSnapshot) m.want_snapshot(s);
  return s;
}

Status FeedConsumer::apply_events(std::span<const FeedEvent> events, std::span<Status> results) {
  return impl_->batched(events.size(), results, [&](std::size_t i) { return apply(events[i]); });
}

Status FeedConsumer::apply_messages(std::span<const std::string_view> bodies, std::span<Status> results) {
  return impl_->batched(bodies.size(), results, [&](std::size_t i) { return apply_message(bodies[i]); });
}

void FeedConsumer::restart(std::string_view reason) {
  impl_->count(&FeedStats::restarts);
  impl_->want_snapshot(failed_precondition(fmt::format("restarted: {}", reason)));
}

FeedState FeedConsumer::state() const noexcept { return impl_->state.load(); }
std::uint64_t FeedConsumer::revision() const noexcept { return impl_->revision.load(); }
std::uint64_t FeedConsumer::inventory_sequence() const noexcept { return impl_->sequence.load(); }

FeedStats FeedConsumer::stats() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->stats;
}

Status FeedConsumer::last_error() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->last_error;
}

}  // namespace fw
