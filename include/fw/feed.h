// fw/feed.h — the membership feed: decoding the length-delimited Protobuf
// stream (fw.v1.FeedMessage, libfw/proto/fw/v1/feed.proto), the consumer
// that applies it to an fw::Inventory, and the stream source (a file, FIFO
// or Unix socket).
//
// Usage:
//   auto inventory = fw::Inventory::create({.sink = dfw_sink.get()}).value();
//   auto consumer = fw::FeedConsumer::create(*inventory).value();
//   auto source = fw::open_stream_source("/run/fw/feed.sock").value();
//   for (;;) {
//     fw::StatusOr<fw::PollResult> r = source->poll(*consumer, std::chrono::milliseconds(100));
//     if (!r.ok() || r->end_of_stream) break;  // reopen with backoff; state stays in force
//   }
//
// Consumer contract (docs/feed.md):
//   * Not in sync until a whole snapshot (SnapshotBegin(R), VM upserts at
//     R, SnapshotEnd(R)) has been applied. Deltas before the first snapshot
//     are ignored (counted).
//   * Deltas apply in revision order: revision <= the last applied one is a
//     duplicate or replay and is skipped (idempotent); the next revision is
//     applied; anything further is a gap.
//   * A gap, a message that cannot be decoded or applied, or restart()
//     (the source lost its position: reconnect, compaction) make the
//     consumer want a snapshot: it stops applying deltas and waits for the
//     next SnapshotBegin. Nothing is cleared meanwhile — the datapath keeps
//     enforcing the last known state.
//   * A snapshot over existing state is a resync by mark-and-sweep: every
//     upsert is applied as it arrives (an upsert is a diff against the
//     VM's current state, so enforcement never has a hole); at SnapshotEnd,
//     VMs the snapshot did not list are deleted. Never clear-then-rebuild.
//   * A rejected message is counted in FeedStats::rejected and leaves the
//     inventory as it was before it.
//   * apply_messages() / apply_events() apply a burst with the same
//     contract, message by message, but as one inventory change: one
//     sequence number and one sink call for the whole burst.
//
// Limits: a message is at most kMaxFeedMessageBytes; the inventory's
// limits (fw/inventory.h) apply to what a message carries.
//
// Thread-safety: a FeedConsumer and a FeedSource are used by one thread at
// a time (the feed thread); stats(), state() and the other const accessors
// may be called from any thread. The inventory behind the consumer may be
// queried from any thread meanwhile (it has its own lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fw/address.h"
#include "fw/inventory.h"
#include "fw/status.h"

namespace fw {

inline constexpr std::size_t kMaxFeedMessageBytes = 1u << 20;

enum class FeedEventKind : std::uint8_t {
  kSnapshotBegin,
  kVmUpsert,
  kVmDelete,
  kTagAdd,
  kTagRemove,
  kAddressAdd,
  kAddressRemove,
  kSnapshotEnd,
};
std::string_view feed_event_kind_name(FeedEventKind kind) noexcept;  // "snapshot_begin", "vm_upsert", ...

// One decoded FeedMessage. Only the fields of its kind are meaningful.
struct FeedEvent {
  std::uint64_t revision = 0;
  FeedEventKind kind = FeedEventKind::kSnapshotBegin;
  VmSpec vm;                  // kVmUpsert
  std::string vm_id;          // kVmDelete, kTagAdd, kTagRemove
  Tag tag;                    // kTagAdd, kTagRemove
  std::uint32_t vnic_id = 0;  // kAddressAdd, kAddressRemove
  IpAddress address;          // kAddressAdd, kAddressRemove
};

// One message body (no length prefix). kInvalidArgument naming the field
// for anything malformed: not protobuf, no body, revision 0, an address
// not 4 or 16 bytes, a MAC not 6 bytes, over kMaxFeedMessageBytes.
// Thread-safety: reentrant.
[[nodiscard]] StatusOr<FeedEvent> decode_feed_message(std::string_view bytes);
// The body, and the body with its varint length prefix (for producers and
// tests). Thread-safety: reentrant.
std::string encode_feed_message(const FeedEvent& event);
std::string encode_feed_frame(const FeedEvent& event);

// Splits a byte stream into message bodies.
// Thread-safety: one thread at a time.
class FeedFrameReader {
 public:
  void append(std::string_view bytes);
  // The next whole body, nullopt when more bytes are needed, or
  // kInvalidArgument when the framing is broken (a length prefix longer
  // than 10 bytes or over kMaxFeedMessageBytes): the stream cannot be
  // resynchronised past that point and must be reopened.
  [[nodiscard]] StatusOr<std::optional<std::string>> next();
  std::size_t buffered() const noexcept { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
};

enum class FeedState : std::uint8_t {
  kWaitingForSnapshot,  // never synced, or lost its place: deltas are ignored
  kInSnapshot,          // between SnapshotBegin and SnapshotEnd
  kInSync,              // applying deltas
};
std::string_view feed_state_name(FeedState state) noexcept;  // "waiting_for_snapshot", ...

struct FeedStats {
  std::uint64_t messages = 0;          // every message handed to the consumer
  std::uint64_t applied = 0;           // changed (or confirmed) the inventory
  std::uint64_t duplicates = 0;        // revision already applied: skipped
  std::uint64_t rejected = 0;          // undecodable or invalid: not applied
  std::uint64_t ignored = 0;           // deltas while waiting for a snapshot
  std::uint64_t gaps = 0;              // a revision was missing
  std::uint64_t restarts = 0;          // restart() calls (source lost position)
  std::uint64_t snapshots = 0;         // snapshots completed
  std::uint64_t swept_vms = 0;         // VMs deleted at a snapshot's end
};

struct FeedConsumerOptions {
  // Deltas carry consecutive revisions (the stream's contract). A source
  // whose revisions only increase (etcd: store-wide revisions) turns this
  // off; then only a revision <= the last is special (a duplicate).
  bool consecutive_revisions = true;
};

class FeedConsumer {
 public:
  // The inventory must outlive the consumer.
  [[nodiscard]] static StatusOr<std::unique_ptr<FeedConsumer>> create(Inventory& inventory,
                                                                       FeedConsumerOptions options = {});
  ~FeedConsumer();
  FeedConsumer(const FeedConsumer&) = delete;
  FeedConsumer& operator=(const FeedConsumer&) = delete;

  // Applies one event per the contract above. OK when applied, skipped as
  // a duplicate, or ignored while waiting for a snapshot; an error (and
  // FeedStats::rejected) when refused — the inventory is as before.
  [[nodiscard]] Status apply(const FeedEvent& event);
  // Decodes one message body and applies it; an undecodable body counts as
  // rejected.
  [[nodiscard]] Status apply_message(std::string_view body);

  // Batches: a burst of messages applied as ONE inventory change
  // (InventoryBatch, fw/inventory.h). Each message goes through the state
  // machine above exactly as apply() / apply_message() one by one would —
  // same order, same duplicates skipped, same gap handling, same counters,
  // same error for a refused message, same state and revision after — but
  // the inventory hands the sink nothing until the end of the batch, then
  // the batch's net deltas in one GroupSink::apply call, numbered with one
  // sequence (inventory_sequence() afterwards; none when no message changed
  // the inventory). A change undone later in the same batch never reaches
  // the sink.
  //
  // A refused message in the middle (undecodable, or refused by the
  // inventory) changes nothing itself; the messages before it stay applied
  // and are realized with the batch; it makes the consumer wait for a
  // snapshot, as alone, so the deltas after it in the batch are ignored
  // (counted in `ignored`) unless a snapshot_begin after it starts a resync,
  // whose messages then apply. A gap likewise.
  //
  // `results`, when not empty, must have one element per message and gets
  // each message's Status (what apply_message() would have returned).
  // Returns OK when no message was refused, else the first refusal's error;
  // kInvalidArgument (and nothing applied) when `results` has the wrong size.
  [[nodiscard]] Status apply_messages(std::span<const std::string_view> bodies, std::span<Status> results = {});
  [[nodiscard]] Status apply_events(std::span<const FeedEvent> events, std::span<Status> results = {});
  // The source lost its position (reconnected, compacted, could not
  // frame): wait for a new snapshot. Keeps all state.
  void restart(std::string_view reason);

  FeedState state() const noexcept;
  bool in_sync() const noexcept { return state() == FeedState::kInSync; }
  // The last revision applied (a snapshot's R, then each delta's); 0 = none.
  std::uint64_t revision() const noexcept;
  // The inventory sequence of the last change this consumer made: pass it
  // to Inventory::wait_realized() to know the datapath enforces it.
  std::uint64_t inventory_sequence() const noexcept;
  FeedStats stats() const;
  // Why the last message was refused, or why the consumer wants a snapshot.
  Status last_error() const;

 private:
  struct Impl;
  explicit FeedConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct PollResult {
  std::size_t messages = 0;    // handed to the consumer by this call
  bool end_of_stream = false;  // the writer closed; reopen to continue
};

// A source of feed messages. A second kind (etcd v3) implements the same
// interface and drives the same consumer.
class FeedSource {
 public:
  virtual ~FeedSource() = default;
  // Waits up to `timeout` for bytes, then hands every whole message to
  // `consumer`. kIoError when the source failed (read error, broken
  // framing: the consumer has been restart()ed). Never clears state.
  [[nodiscard]] virtual StatusOr<PollResult> poll(FeedConsumer& consumer, std::chrono::milliseconds timeout) = 0;
  virtual std::string describe() const = 0;  // "file /path", "unix socket /path"
};

// Opens `path`: a regular file or FIFO (read until end), or a Unix stream
// socket (connected; FeedRequest{snapshot} is written back whenever the
// consumer wants a snapshot, on connect included).
// kIoError naming the path when it cannot be opened.
// Thread-safety: the returned source is used by one thread at a time.
[[nodiscard]] StatusOr<std::unique_ptr<FeedSource>> open_stream_source(const std::string& path);
// The same over a file descriptor the caller opened (ownership moves to the
// source); `is_socket` enables the FeedRequest write-back.
[[nodiscard]] StatusOr<std::unique_ptr<FeedSource>> stream_source_from_fd(int fd, bool is_socket,
                                                                          std::string description);

// ---- etcd v3 source (docs/feed-etcd.md) ------------------------------------
//
// Lists a key prefix of etcd v3 (through its JSON gateway on the client
// URL, plain HTTP) and hands it to the consumer as a snapshot at the listed
// revision, then watches from the next revision: a put of P/vms/<id> is a
// vm_upsert, a delete a vm_delete, each at the key's mod revision. The
// consumer must be created with {.consecutive_revisions = false} (etcd's
// revisions are store-wide). A watch cancelled by compaction, or a consumer
// that lost its place, makes the source restart() the consumer and list
// again (a mark-and-sweep resync). When etcd cannot be reached the source
// retries with exponential backoff, resuming the watch where it stopped;
// the consumer's state stays in force meanwhile.
//
// Usage:
//   auto consumer = fw::FeedConsumer::create(*inventory, {.consecutive_revisions = false}).value();
//   auto source = fw::open_etcd_source({.endpoint = "127.0.0.1:2379", .prefix = "/libfw/feed/"}).value();
//   for (;;) {
//     fw::StatusOr<fw::PollResult> r = source->poll(*consumer, std::chrono::milliseconds(100));
//     if (!r.ok()) log(r.status());  // etcd down or answering badly: keep polling, it retries
//   }
struct EtcdSourceOptions {
  std::string endpoint = "127.0.0.1:2379";  // HOST:PORT or [IPv6]:PORT of etcd's client URL
  std::string prefix = "/libfw/feed/";      // keys P/vms/<vm id>; may be empty (the whole keyspace)
  // Each HTTP request (connect, one list page, opening the watch) fails
  // past this; a poll may take this long (per list page) beyond its timeout.
  std::chrono::milliseconds request_timeout{5000};
  // After a failure the next attempt waits initial_backoff, doubling on
  // each further failure up to max_backoff, each wait varied by up to
  // +-20% so that many hosts do not retry in step; reset by a success.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  std::uint32_t page_size = 500;  // keys per range request while listing (1-100000)
};

struct EtcdSourceStats {
  std::uint64_t lists = 0;             // complete listings handed over as snapshots
  std::uint64_t list_pages = 0;        // range requests that succeeded
  std::uint64_t watches = 0;           // watches opened
  std::uint64_t events = 0;            // watch events under the prefix
  std::uint64_t compactions = 0;       // watches cancelled by compaction (each then re-lists)
  std::uint64_t failures = 0;          // connects, requests or streams that failed (each then backs off)
  std::uint64_t corrupt_values = 0;    // VM values that did not decode: skipped (docs/feed-etcd.md)
  std::uint64_t ignored_keys = 0;      // keys under the prefix that are not P/vms/<id>, and deletes of
                                       // VMs never applied
  std::uint64_t shared_revisions = 0;  // one etcd revision changing several VM keys (a transaction): re-listed
  bool watching = false;               // a watch is open and etcd answered it
  std::uint64_t revision = 0;          // the etcd revision the source has handed over everything up to
  Status last_error;                   // the last failure or corrupt value, OK if none
};

class EtcdSource : public FeedSource {
 public:
  // Thread-safety: may be called from any thread.
  virtual EtcdSourceStats stats() const = 0;
};

// Validates the options (kInvalidArgument naming the field); connects on the
// first poll. describe() is "etcd HOST:PORT PREFIX".
// Thread-safety: the returned source is used by one thread at a time, except stats().
[[nodiscard]] StatusOr<std::unique_ptr<EtcdSource>> open_etcd_source(EtcdSourceOptions options);
// "etcd://HOST:PORT/PREFIX" -> {.endpoint = "HOST:PORT", .prefix = "/PREFIX"} (the other fields
// at their defaults); kInvalidArgument naming what is wrong. For fwctl's --from.
[[nodiscard]] StatusOr<EtcdSourceOptions> parse_etcd_url(std::string_view url);

}  // namespace fw
