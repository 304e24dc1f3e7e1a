// Slot 2, the stateful DFW: the compiled policy and the connection table
// behind the Filter interface, and the Dfw control object that compiles,
// publishes and counts (docs/stateful-dfw.md).
//
// What the datapath reads, per installed filter (immutable once installed):
//
//   DfwFilter {CompiledPolicy (shared with later filters of the lineage),
//              slot_of_position[] (rule position -> counter slot),
//              default_slot, RuleCounterStore (shared by every filter of the Dfw),
//              StatefulState {ConnTable (shared by every filter of the Dfw),
//                             RuleSlotMap (rule id -> counter slot), policy
//                             generation, revalidation mode}}
//
// Per burst (stateful): look every IP packet up in the table; packets of
// known connections are decided there (those that need no epoch check, the
// usual packet, in one tight pass; the others after the lazy epoch check),
// the rest are classified in one burst, and allows of stateful rules create
// their connection. Reset connections are looked up again before the
// classification, so their packet is a first packet like any other.
//
// Counters are per rule id, not per filter: RuleCounterStore hands each
// rule id one slot for the Dfw's lifetime, so a re-apply that keeps a rule
// keeps its counts without copying anything, and an old filter still
// installed somewhere counts into the same slots.
#include "fw/dfw.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "fw/chain.h"
#include "fw/conntrack.h"
#include "fw/engine.h"
#include "fw/filter.h"
#include "libfw/conntrack/reject.h"
#include "libfw/core/counter.h"
#include "libfw/policy/compile.h"
#include "libfw/policy/dynamic_applied_to.h"

namespace fw {
namespace {

using internal::SingleWriterCounter;

static_assert(kMaxRejectAnswerBytes == conntrack::kRejectMaxFrameBytes,
              "fw/verdict.h promises the longest reject answer");
using policy_compile::CompiledPolicy;

// Per-rule counter cells, per worker. Slots are handed out by rule id and
// never move: storage grows by chunks of kSlotsPerChunk slots, each chunk
// holding one contiguous row of cells per worker (so two workers only share
// a cache line at a row boundary, which the alignment rules out). The chunk
// table is sized once, so growing never moves what a worker may be reading;
// a chunk pointer is written before the filter that uses it is published
// (Engine::set_filters, release), and workers reach it only through that
// filter (acquire).
class RuleCounterStore {
 public:
  // By direction first: a count writes one direction's two adjacent
  // counters, addressed from one offset.
  struct alignas(32) Cell {
    struct Direction {
      SingleWriterCounter packets;
      SingleWriterCounter bytes;
    } direction[kDirectionCount];
  };
  static_assert(sizeof(Cell) == 32);
  static constexpr std::uint32_t kSlotsPerChunk = 1024;
  static constexpr std::uint32_t kMaxChunks = 16384;  // 16 Mi rule ids

  explicit RuleCounterStore(std::uint32_t workers)
      : workers_(workers), chunks_(std::make_unique<Cell*[]>(kMaxChunks)) {}

  std::uint32_t workers() const noexcept { return workers_; }

  // Control thread: makes sure slots [0, count) have storage.
  Status reserve(std::size_t count) {
    const std::size_t needed = (count + kSlotsPerChunk - 1) / kSlotsPerChunk;
    if (needed > kMaxChunks)
      return resource_exhausted("dfw: more than " + std::to_string(std::size_t{kMaxChunks} * kSlotsPerChunk) +
                                " distinct rule ids over the Dfw's lifetime");
    while (storage_.size() < needed) {
      storage_.push_back(std::make_unique<Cell[]>(std::size_t{kSlotsPerChunk} * workers_));
      chunks_[storage_.size() - 1] = storage_.back().get();
    }
    return Status::Ok();
  }

  Cell& cell(std::uint32_t worker, std::uint32_t slot) const noexcept {
    return row(worker).cell(slot);
  }

  // One worker's cells, for a loop that counts many packets: the chunk
  // table and the row offset are kept in locals (the stores into verdicts,
  // byte-typed, would otherwise make the compiler reload them every time).
  struct Row {
    Cell* const* chunks;
    std::size_t offset;  // worker * kSlotsPerChunk
    Cell& cell(std::uint32_t slot) const noexcept {
      return chunks[slot / kSlotsPerChunk][offset + slot % kSlotsPerChunk];
    }
  };
  Row row(std::uint32_t worker) const noexcept {
    return Row{.chunks = chunks_.get(), .offset = std::size_t{worker} * kSlotsPerChunk};
  }

  void sum(std::uint32_t slot, DfwRuleStats& out) const noexcept {
    for (std::uint32_t w = 0; w < workers_; ++w) {
      const Cell& c = cell(w, slot);
      for (std::size_t d = 0; d < kDirectionCount; ++d) {
        out.packets[d] += c.direction[d].packets.get();
        out.bytes[d] += c.direction[d].bytes.get();
      }
    }
  }

 private:
  const std::uint32_t workers_;
  std::unique_ptr<Cell*[]> chunks_;                  // kMaxChunks entries, read by the datapath
  std::vector<std::unique_ptr<Cell[]>> storage_;     // control thread only
};

// Rule id -> counter slot, read on the datapath for packets the connection
// table decides (they carry the admitting rule's id, not its position).
// Ids below a bound (the ids are dense enough there: policies number their
// rules mostly 1..n) are looked up in a plain array of slots (kNotFound
// for an id without one; slots stay below 16 Mi), 4 bytes per id: for a
// 10k-rule policy 40 KB, which stays in cache where a hash table of 8-byte
// cells at most half full did not. Every other id (the default rule is often
// 0xffffffff) is in an open-addressing table with linear probing over a
// power-of-two array at most half full. Built on the control thread,
// immutable once a filter holds it. An empty cell is marked by
// slot_plus_one == 0, not by a reserved id.
class RuleSlotMap {
 public:
  static constexpr std::uint32_t kNotFound = 0xffffffffu;

  explicit RuleSlotMap(const std::unordered_map<std::uint32_t, std::uint32_t>& slots) {
    const std::size_t dense_limit = slots.size() * 4 + 4096;
    std::size_t dense_size = 0;
    for (const auto& [id, slot] : slots)
      if (id < dense_limit) dense_size = std::max<std::size_t>(dense_size, std::size_t{id} + 1);
    dense_.assign(dense_size, kNotFound);
    std::size_t capacity = 16;
    while (capacity < slots.size() * 2) capacity *= 2;
    mask_ = capacity - 1;
    cells_.assign(capacity, Cell{});
    for (const auto& [id, slot] : slots) {
      if (id < dense_size) {
        dense_[id] = slot;
        continue;
      }
      std::size_t at = hash(id) & mask_;
      while (cells_[at].slot_plus_one != 0) at = (at + 1) & mask_;
      cells_[at] = Cell{.rule_id = id, .slot_plus_one = slot + 1};
    }
  }

  // find() for a loop over many ids, the dense array's bounds in locals
  // (as RuleCounterStore::Row).
  struct Finder {
    const RuleSlotMap* map;
    const std::uint32_t* dense;
    std::size_t dense_size;
    std::uint32_t operator()(std::uint32_t rule_id) const noexcept {
      if (rule_id < dense_size) return dense[rule_id];
      return map->find_sparse(rule_id);
    }
  };
  Finder finder() const noexcept { return Finder{.map = this, .dense = dense_.data(), .dense_size = dense_.size()}; }

  std::uint32_t find(std::uint32_t rule_id) const noexcept { return finder()(rule_id); }

 private:
  std::uint32_t find_sparse(std::uint32_t rule_id) const noexcept {
    for (std::size_t at = hash(rule_id) & mask_;; at = (at + 1) & mask_) {
      const Cell& c = cells_[at];
      if (c.slot_plus_one == 0) return kNotFound;
      if (c.rule_id == rule_id) return c.slot_plus_one - 1;
    }
  }

  struct Cell {
    std::uint32_t rule_id = 0;
    std::uint32_t slot_plus_one = 0;
  };
  static std::size_t hash(std::uint32_t id) noexcept {
    return static_cast<std::size_t>((std::uint64_t{id} * 0x9E3779B97F4A7C15ull) >> 32);
  }
  std::vector<std::uint32_t> dense_;  // slot by id (or kNotFound), ids < dense_.size()
  std::vector<Cell> cells_;
  std::size_t mask_ = 0;
};

// What the stateful path (and the flow log) needs besides the policy; one
// per apply().
struct StatefulState {
  std::shared_ptr<ConnTable> table;  // nullptr: a stateless Dfw
  std::shared_ptr<const RuleSlotMap> rule_slots;
  std::uint64_t generation = 0;  // the Dfw's policy generation of this filter
  // Where packets of logged rules are recorded (nullptr: flagged only).
  std::shared_ptr<FlowLog> flow_log;
  RevalidationMode revalidation = RevalidationMode::kRevalidate;
  // The policy asks for TCP strict while the table picks up mid-stream:
  // the slot refuses what the table would accept as a first packet.
  bool strict_over_table = false;
};

// Decisions and CtResults are kept in uninitialised stack arrays (see
// process()); these make one element's lifetime explicit before use.
template <typename T>
T* raw_array(unsigned char* bytes) noexcept {
  return reinterpret_cast<T*>(bytes);
}

class DfwFilter final : public Filter {
 public:
  DfwFilter(std::shared_ptr<const CompiledPolicy> compiled, std::vector<std::uint32_t> slot_of_position,
            std::uint32_t default_slot, std::shared_ptr<const RuleCounterStore> counters,
            StatefulState stateful)
      : compiled_(std::move(compiled)),
        slot_of_position_owner_(std::make_shared<const std::vector<std::uint32_t>>(std::move(slot_of_position))),
        slot_of_position_(slot_of_position_owner_->data()),
        default_slot_(default_slot),
        counters_(std::move(counters)),
        stateful_(std::move(stateful)) {}
  // `base`'s policy, counters and state, deciding with `pinned` lists
  // whatever vNIC it is installed on (dynamic applied-to: one vNIC's lists
  // changed; Dfw::update_group_vnics). Shares everything with `base`.
  DfwFilter(const DfwFilter& base, const CompiledPolicy::VnicLists& pinned)
      : compiled_(base.compiled_),
        slot_of_position_owner_(base.slot_of_position_owner_),
        slot_of_position_(base.slot_of_position_),
        default_slot_(base.default_slot_),
        counters_(base.counters_),
        stateful_(base.stateful_),
        pinned_(pinned),
        has_pinned_(true) {}

  std::string_view kind() const noexcept override { return "dfw"; }

  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    // Gather the IP packets; the rest are not the DFW's.
    std::uint16_t index[kMaxBurst];
    std::size_t n = 0;
    for (const std::uint16_t i : active) {
      const L3Kind l3 = ctx.packets[i].l3;
      if (l3 == L3Kind::kIpv4 || l3 == L3Kind::kIpv6) index[n++] = i;
    }
    if (n == 0) return;
    if (stateful_.table) {
      process_stateful(ctx, std::span(index, n), verdicts);
    } else {
      // Stateless: every packet is a "first" packet with nothing to track.
      classify_and_decide(ctx, std::span(index, n), nullptr, nullptr, verdicts);
    }
  }

 private:
  // How a packet reached classification in the stateful path.
  enum class Route : std::uint8_t {
    kFirst,       // the table says kNew: an allow (stateful rule) creates
    kCannotOpen,  // the table has no connection and the packet may not open
                  // one: only a stateless rule (or a drop/reject) decides it
    kUntracked,   // the table has no opinion (ND, MLD...): decide statelessly
  };

  std::uint32_t counter_worker(const BurstContext& ctx) const noexcept {
    return std::min(ctx.worker_index, counters_->workers() - 1);
  }
  void count(const BurstContext& ctx, std::uint32_t slot, std::uint32_t length) const noexcept {
    RuleCounterStore::Cell::Direction& counters =
        counters_->cell(counter_worker(ctx), slot).direction[static_cast<std::size_t>(ctx.direction) & 1];
    counters.packets.add(1);
    counters.bytes.add(length);
  }
  void count_rule_id(const BurstContext& ctx, std::uint32_t rule_id, std::uint32_t length) const noexcept {
    const std::uint32_t slot = stateful_.rule_slots->find(rule_id);
    // Every id that ever admitted a connection has a slot for the Dfw's
    // lifetime; kNotFound would mean an entry from another Dfw's table.
    if (slot != RuleSlotMap::kNotFound) count(ctx, slot, length);
  }
  std::uint32_t slot_of(const policy_compile::Decision& d) const noexcept {
    return d.is_default ? default_slot_ : slot_of_position_[d.position];
  }

  // Writes the reject answer for packets[i] into the caller's buffer.
  static void answer(const BurstContext& ctx, std::uint16_t i) noexcept {
    RejectAnswers* answers = ctx.answers;
    if (answers == nullptr) return;
    const std::size_t at = ctx.answer_base + i;
    if (at >= answers->answers.size()) {
      ++answers->overflowed;
      return;
    }
    const std::size_t used = std::min(answers->bytes_used, answers->buffer.size());
    const conntrack::RejectResult r = conntrack::build_reject(ctx.packets[i], answers->buffer.subspan(used));
    if (r.status == conntrack::RejectStatus::kBuilt) {
      answers->answers[at] = RejectAnswer{.offset = static_cast<std::uint32_t>(used), .length = r.length};
      answers->bytes_used = used + r.length;
    } else if (r.status == conntrack::RejectStatus::kBufferTooSmall) {
      ++answers->overflowed;
    }
  }

  // Applies a policy decision to packets[i] and counts it for its rule.
  void apply_decision(const BurstContext& ctx, std::uint16_t i, const policy_compile::Decision& d,
                      Verdict& v) const noexcept {
    const DropReason reason = d.is_default ? DropReason::kDefaultRule : DropReason::kRule;
    switch (d.action) {
      case RuleAction::kDrop: decide(v, ctx, Action::kDrop, d.rule_id, reason); break;
      case RuleAction::kReject:
        decide(v, ctx, Action::kReject, d.rule_id, reason);
        answer(ctx, i);
        break;
      default: decide(v, ctx, Action::kPass, d.rule_id); break;
    }
    count(ctx, slot_of(d), ctx.packets[i].length);
  }

  // packets[i] was decided by `d`, a logged rule, and `v` is final: flag
  // the verdict and record the packet in the flow log (fw/flow_log.h).
  void log_packet(const BurstContext& ctx, std::uint16_t i, const policy_compile::Decision& d,
                  Verdict& v) const noexcept {
    v.flags |= kVerdictLogged;
    FlowLog* log = stateful_.flow_log.get();
    if (log == nullptr) return;
    const PacketView& p = ctx.packets[i];
    FlowLogRecord r;
    r.time_ns = ctx.now_ns;
    r.generation = ctx.generation;
    r.policy_generation = stateful_.generation;
    r.src = p.src_ip;
    r.dst = p.dst_ip;
    r.vnic_id = ctx.vnic_id;
    r.rule_id = d.rule_id;
    r.length = p.length;
    r.protocol = p.protocol;
    if (p.has_l4) {
      if (p.protocol == 1 || p.protocol == 58) {
        r.icmp_type = p.icmp.type;
        r.icmp_code = p.icmp.code;
      } else {
        r.src_port = p.src_port;
        r.dst_port = p.dst_port;
        if (p.protocol == 6) r.tcp_flags = p.tcp.flags;
      }
    }
    r.direction = ctx.direction;
    r.action = v.action;
    r.reason = v.reason;
    r.ct_state = v.ct_state;
    r.is_default = d.is_default;
    log->write(ctx.worker_index, r);
  }

  // Packets of a burst that found no connection after a first packet of
  // the burst (process_stateful), ascending: looked up again in packet
  // order between the creates, so that each sees the table as it would
  // have alone (a deferred echo reply marks its connection replied before
  // a later request of the burst attaches to it).
  struct Deferred {
    const std::uint16_t* index = nullptr;
    std::size_t count = 0;
    std::size_t done = 0;  // looked up again so far
  };
  void relook_deferred(const BurstContext& ctx, Deferred& d, std::size_t before, CtResult* results) const noexcept {
    std::size_t end = d.done;
    while (end < d.count && d.index[end] < before) ++end;
    if (end == d.done) return;
    stateful_.table->lookup(static_cast<std::uint16_t>(ctx.vnic_id), ctx.packets,
                            std::span<const std::uint16_t>(d.index + d.done, end - d.done), ctx.now_ns,
                            std::span<CtResult>(results, ctx.packets.size()));
    d.done = end;
  }

  // A first packet whose connection an earlier packet of the burst may have
  // created (same symmetric hash): looked up again. True when the table
  // decided it (a packet of that connection, or refused by its tracker),
  // as it would have alone; false when it is still a first packet.
  bool decided_by_burst_connection(const BurstContext& ctx, std::uint16_t i, CtResult* results,
                                   Verdict& v) const noexcept {
    CtResult& r = results[i];
    stateful_.table->lookup(static_cast<std::uint16_t>(ctx.vnic_id), ctx.packets, std::span(&i, 1), ctx.now_ns,
                            std::span<CtResult>(results, ctx.packets.size()));
    switch (r.outcome) {
      case CtOutcome::kEstablished:
      case CtOutcome::kRelated:
        decide(v, ctx, Action::kPass, r.rule_id);
        v.ct_state = r.ct_state;
        count_rule_id(ctx, r.rule_id, ctx.packets[i].length);
        return true;
      case CtOutcome::kInvalid:
        decide(v, ctx, Action::kDrop, kNoRule, DropReason::kConntrackInvalid);
        v.ct_state = r.ct_state;
        return true;
      default:
        return false;
    }
  }

  static bool refused_at_limit(CtReason reason) noexcept {
    return reason == CtReason::kTableFull || reason == CtReason::kZoneLimit || reason == CtReason::kHalfOpenLimit;
  }

  // Classifies packets[index[k]] in one burst and decides them. With
  // `results`, the stateful rules: routes[k] says how each got here, and
  // `deferred` (if any) the packets to look up again between the creates.
  void classify_and_decide(const BurstContext& ctx, std::span<const std::uint16_t> index,
                           const Route* routes, CtResult* results,
                           std::span<Verdict> verdicts, Deferred* deferred = nullptr) const noexcept {
    // Scratch is on the stack (at most kMaxBurst packets reach a filter per
    // call) and deliberately uninitialised: LookupKey and Decision have
    // member initialisers, and value-initialising 256 of each zeroed ~24 KB
    // per call, which cost a one-packet burst ~250 ns. Only the first n
    // entries are written and read (both are implicit-lifetime types).
    // A burst of IPv4 packets (the usual case) goes as 16-byte LookupKeyV4s,
    // filled until a packet of another family turns up; then the burst goes
    // as LookupKeys, written over them. The same decisions either way.
    alignas(classify::LookupKey) unsigned char key_bytes[sizeof(classify::LookupKey) * kMaxBurst];
    alignas(policy_compile::Decision) unsigned char decision_bytes[sizeof(policy_compile::Decision) * kMaxBurst];
    auto* decisions = raw_array<policy_compile::Decision>(decision_bytes);
    const std::size_t n = index.size();
    auto decide_keys = [&](auto* keys) {
      if (has_pinned_)
        compiled_->decide_burst(pinned_, ctx.direction, std::span(keys, n), std::span(decisions, n));
      else
        compiled_->decide_burst(ctx.vnic_id, ctx.direction, std::span(keys, n), std::span(decisions, n));
    };
    static_assert(sizeof(classify::LookupKeyV4) <= sizeof(classify::LookupKey));
    auto* keys_v4 = raw_array<classify::LookupKeyV4>(key_bytes);
    std::size_t filled = 0;
    while (filled < n &&
           policy_compile::fill_lookup_key(ctx.packets[index[filled]], *::new (&keys_v4[filled]) classify::LookupKeyV4))
      ++filled;
    if (filled == n) {
      decide_keys(static_cast<const classify::LookupKeyV4*>(keys_v4));
    } else {
      auto* keys = raw_array<classify::LookupKey>(key_bytes);
      for (std::size_t k = 0; k < n; ++k)
        policy_compile::fill_lookup_key(ctx.packets[index[k]], *::new (&keys[k]) classify::LookupKey);
      decide_keys(static_cast<const classify::LookupKey*>(keys));
    }
    // Symmetric hashes of the connections this call created (1024 bits):
    // a later first packet with one of them may belong to such a connection.
    std::uint64_t created[16] = {};
    bool any_created = false;
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint16_t i = index[k];
      const policy_compile::Decision& d = decisions[k];
      Verdict& v = verdicts[i];
      if (results == nullptr) {
        apply_decision(ctx, i, d, v);
        if (d.logged) log_packet(ctx, i, d, v);
        continue;
      }
      CtResult& r = results[i];
      const bool stateful_allow = d.action == RuleAction::kAllow && !d.stateless;
      if (routes[k] == Route::kFirst) {
        if (deferred != nullptr) relook_deferred(ctx, *deferred, i, results);
        // A drop or a stateless rule would decide it as a first packet;
        // alone it may have been a packet of a connection created by an
        // earlier packet of the burst (a reply, say). (A stateful allow
        // finds out in create().)
        if (!stateful_allow && any_created && (created[(r.hash >> 6) & 15] >> (r.hash & 63) & 1) &&
            decided_by_burst_connection(ctx, i, results, v))
          continue;
      }
      bool by_rule = false;  // d decided the packet (not its connection)
      if (routes[k] == Route::kFirst && stateful_allow) {
        const std::uint16_t zone = static_cast<std::uint16_t>(ctx.vnic_id);
        if (stateful_.table->create(zone, ctx.packets[i], {.rule_id = d.rule_id, .generation = stateful_.generation},
                                    ctx.now_ns, r)) {
          created[(r.hash >> 6) & 15] |= std::uint64_t{1} << (r.hash & 63);
          any_created = true;
          if (r.outcome == CtOutcome::kEstablished) {
            // Attached to the connection an earlier packet of the burst
            // created: decided by it, as alone.
            decide(v, ctx, Action::kPass, r.rule_id);
            count_rule_id(ctx, r.rule_id, ctx.packets[i].length);
          } else {
            decide(v, ctx, Action::kPass, d.rule_id);
            count(ctx, slot_of(d), ctx.packets[i].length);
            by_rule = true;
          }
        } else if (refused_at_limit(r.reason)) {
          decide(v, ctx, Action::kDrop, d.rule_id, DropReason::kConntrackFull);
          count(ctx, slot_of(d), ctx.packets[i].length);
          by_rule = true;
        } else {
          // The connection an earlier packet of the burst created refused
          // this one (its tracker): what the packet would have got alone.
          decide(v, ctx, Action::kDrop, kNoRule, DropReason::kConntrackInvalid);
        }
      } else if (routes[k] == Route::kCannotOpen && stateful_allow) {
        // A stateful rule would admit it, but not as a first packet (a TCP
        // segment without SYN under TCP strict, an echo reply without a
        // request): the table's refusal stands. No rule decided it.
        decide(v, ctx, Action::kDrop, kNoRule, DropReason::kConntrackInvalid);
      } else {
        // Drop/reject, a stateless rule, or an untracked packet.
        apply_decision(ctx, i, d, v);
        by_rule = true;
      }
      v.ct_state = r.ct_state;
      if (by_rule && d.logged) log_packet(ctx, i, d, v);
    }
  }

  static bool is_pure_syn(const PacketView& p) noexcept {
    return (p.tcp.flags & (kTcpSyn | kTcpAck | kTcpRst | kTcpFin)) == kTcpSyn;
  }

  // The epoch check of a known connection's packet: true when the packet
  // was decided here or must be looked up again (appended to `relook`).
  //
  // An entry stamped by a newer filter (a burst still on this filter while
  // another worker already runs the next policy) is checked against this
  // filter's policy without touching the entry, so that every verdict of a
  // generation carries that generation's rule (fw/dfw.h): the newer filter
  // owns the entry now.
  bool stale_connection(const BurstContext& ctx, std::uint16_t i, CtResult& r, Verdict& v,
                        std::uint16_t* relook, std::size_t& relooks) const noexcept {
    if (r.generation == stateful_.generation || stateful_.revalidation == RevalidationMode::kKeep) return false;
    const bool newer = r.generation > stateful_.generation;
    ConnTable& table = *stateful_.table;
    ConnInfo info;
    if ((newer || stateful_.revalidation == RevalidationMode::kRevalidate) && table.info(r.conn, info)) {
      // Classify the connection as its first packet was: original direction,
      // original 5-tuple (ICMP queries: id and request type, code 0).
      classify::LookupKey key;
      key.src = info.src;
      key.dst = info.dst;
      key.protocol = info.protocol;
      const bool icmp = info.protocol == 1 || info.protocol == 58;
      key.src_port = info.src_port;
      key.dst_port = icmp ? static_cast<std::uint16_t>(info.dst_port << 8) : info.dst_port;
      const Direction original = r.direction == CtDirection::kOriginal
                                     ? ctx.direction
                                     : (ctx.direction == Direction::kFromVm ? Direction::kToVm : Direction::kFromVm);
      const policy_compile::Decision d =
          has_pinned_ ? compiled_->decide(pinned_, original, key) : compiled_->decide(ctx.vnic_id, original, key);
      if (d.action == RuleAction::kAllow) {
        if (!newer) table.update_admission(r.conn, {.rule_id = d.rule_id, .generation = stateful_.generation});
        r.rule_id = d.rule_id;
        r.generation = stateful_.generation;
        return false;
      }
      if (!newer) table.remove(r.conn);
      decide(v, ctx, Action::kDrop, d.rule_id, d.is_default ? DropReason::kDefaultRule : DropReason::kRule);
      v.ct_state = r.ct_state;
      count(ctx, slot_of(d), ctx.packets[i].length);
      if (d.logged) log_packet(ctx, i, d, v);
      return true;
    }
    // kReset, or a connection another thread removed meanwhile: the packet
    // is looked up again as if the connection had never been.
    table.remove(r.conn);
    relook[relooks++] = i;
    return true;
  }

  // Decides the packets of `index` that their connection passes without
  // an epoch check (established or related, admitted by this filter's
  // generation, or any under kKeep) exactly as route() would, and lists the
  // others in `others` in order (returns how many). Nothing about such a
  // packet depends on the rest of the burst (only first, refused and stale
  // packets interact), so the order does not matter. Out of line so that
  // its loop gets registers of its own (inlined into process_stateful, it
  // spilled most of what it reads); tests/chain/dfw_stateful_test.cc
  // compares it with route().
  [[gnu::noinline]] std::size_t pass_by_state(const BurstContext& ctx, std::span<const std::uint16_t> index,
                                              const CtResult* results, std::span<Verdict> verdicts,
                                              std::uint16_t* others) const noexcept {
    // Everything the loop reads besides the packet's own data is in locals
    // (the stores into verdicts, byte-typed, would otherwise make the
    // compiler reload it per packet), and the loop is instantiated per
    // direction and for kKeep, so that neither costs a register or a test.
    const RuleCounterStore::Row row = counters_->row(counter_worker(ctx));
    const RuleSlotMap::Finder slot_of_rule = stateful_.rule_slots->finder();
    const std::uint64_t generation = stateful_.generation;
    const BurstContext local_ctx = ctx;  // decide() reads its slot
    const PacketView* const packets = ctx.packets.data();
    Verdict* const out = verdicts.data();
    std::uint16_t* other = others;
    auto pass_all = [&](auto dir, auto any_generation) {
      for (const std::uint16_t i : index) {
        const CtResult& r = results[i];
        const bool by_state = r.outcome == CtOutcome::kEstablished || r.outcome == CtOutcome::kRelated;
        if (!by_state || (!any_generation && r.generation != generation)) {
          *other++ = i;
          continue;
        }
        const std::uint32_t rule_id = r.rule_id;
        Verdict& v = out[i];
        decide(v, local_ctx, Action::kPass, rule_id);
        v.ct_state = r.ct_state;
        // Every id that ever admitted a connection has a slot for the Dfw's
        // lifetime; kNotFound would mean an entry from another Dfw's table.
        const std::uint32_t counter_slot = slot_of_rule(rule_id);
        if (counter_slot == RuleSlotMap::kNotFound) continue;
        RuleCounterStore::Cell::Direction& counters = row.cell(counter_slot).direction[dir];
        counters.packets.add(1);
        counters.bytes.add(packets[i].length);
      }
    };
    using FromVm = std::integral_constant<std::size_t, static_cast<std::size_t>(Direction::kFromVm)>;
    using ToVm = std::integral_constant<std::size_t, static_cast<std::size_t>(Direction::kToVm)>;
    const bool keep = stateful_.revalidation == RevalidationMode::kKeep;
    const bool from_vm = ctx.direction == Direction::kFromVm;
    if (keep && from_vm) pass_all(FromVm{}, std::true_type{});
    else if (keep) pass_all(ToVm{}, std::true_type{});
    else if (from_vm) pass_all(FromVm{}, std::false_type{});
    else pass_all(ToVm{}, std::false_type{});
    return static_cast<std::size_t>(other - others);
  }

  void process_stateful(const BurstContext& ctx, std::span<const std::uint16_t> index,
                        std::span<Verdict> verdicts) const noexcept {
    ConnTable& table = *stateful_.table;
    if (ctx.vnic_id >= table.options().zones) {
      // apply() refuses such vNICs; fail closed should one get here.
      for (const std::uint16_t i : index) decide(verdicts[i], ctx, Action::kDrop, kNoRule, DropReason::kFilterError);
      return;
    }
    const auto zone = static_cast<std::uint16_t>(ctx.vnic_id);
    // Uninitialised for the same reason as the classification scratch:
    // lookup() writes results[i] for every i it is given before any read.
    alignas(CtResult) unsigned char result_bytes[sizeof(CtResult) * kMaxBurst];
    CtResult* results = raw_array<CtResult>(result_bytes);
    const std::span<CtResult> result_span(results, ctx.packets.size());
    table.lookup(zone, ctx.packets, index, ctx.now_ns, result_span);

    std::uint16_t classify_index[kMaxBurst];
    Route routes[kMaxBurst];
    std::size_t to_classify = 0;
    std::uint16_t relook[kMaxBurst];
    std::size_t relooks = 0;
    std::uint16_t deferred[kMaxBurst];
    std::size_t defers = 0;
    bool any_new = false;
    bool may_defer = true;

    // Route one looked-up packet: decided by the table, or on to the policy.
    auto route = [&](std::uint16_t i, bool check_epoch) {
      CtResult& r = results[i];
      Verdict& v = verdicts[i];
      const PacketView& p = ctx.packets[i];
      if (stateful_.strict_over_table && r.outcome == CtOutcome::kNew && p.protocol == 6 && p.has_l4 &&
          !is_pure_syn(p)) {
        r.outcome = CtOutcome::kInvalid;
        r.reason = CtReason::kCannotOpen;
        r.ct_state = kCtInvalid | kCtTracked;
      }
      // Every packet was looked up before any first packet of the burst
      // created its connection. A packet that found "no connection" after a
      // first packet may belong to it (an ICMP error about it, a fragment of
      // it, a segment of it): it waits and is looked up again after the
      // creates, so the burst decides as its packets one by one would.
      if (may_defer && any_new && r.outcome == CtOutcome::kInvalid &&
          (r.reason == CtReason::kCannotOpen || r.reason == CtReason::kIcmpErrorNoConnection ||
           r.reason == CtReason::kFragmentBeforeFirst || r.reason == CtReason::kFragmentNotAdmitted)) {
        deferred[defers++] = i;
        return;
      }
      switch (r.outcome) {
        case CtOutcome::kEstablished:
        case CtOutcome::kRelated:
          if (check_epoch && stale_connection(ctx, i, r, v, relook, relooks)) return;
          decide(v, ctx, Action::kPass, r.rule_id);
          v.ct_state = r.ct_state;
          count_rule_id(ctx, r.rule_id, p.length);
          return;
        case CtOutcome::kNew:
          any_new = true;
          routes[to_classify] = Route::kFirst;
          classify_index[to_classify++] = i;
          return;
        case CtOutcome::kInvalid:
          if (r.reason == CtReason::kCannotOpen) {
            routes[to_classify] = Route::kCannotOpen;
            classify_index[to_classify++] = i;
            return;
          }
          decide(v, ctx, Action::kDrop, kNoRule, DropReason::kConntrackInvalid);
          v.ct_state = r.ct_state;
          return;
        case CtOutcome::kUntracked:
          routes[to_classify] = Route::kUntracked;
          classify_index[to_classify++] = i;
          return;
      }
    };
    // The usual packet first: one of a known connection (or an ICMP error
    // related to one) whose admission needs no epoch check, decided in one
    // tight pass (pass_by_state); the others go through route() in packet
    // order as before.
    std::uint16_t others[kMaxBurst];
    const std::size_t other_count = pass_by_state(ctx, index, results, verdicts, others);
    for (std::size_t k = 0; k < other_count; ++k) route(others[k], true);
    if (relooks > 0) {
      // Reset connections: their packets are first packets now (or refused).
      table.lookup(zone, ctx.packets, std::span<const std::uint16_t>(relook, relooks), ctx.now_ns, result_span);
      for (std::size_t k = 0; k < relooks; ++k) route(relook[k], false);
      // Classification goes in packet order, so that of two first packets
      // of one connection the earlier one creates it.
      sort_by_index(classify_index, routes, to_classify);
    }
    // The packets that waited are looked up again in packet order between
    // the creates (ascending already, but relooks may have interleaved
    // them), the rest after the last one.
    std::sort(deferred, deferred + defers);
    Deferred pending{.index = deferred, .count = defers};
    if (to_classify > 0)
      classify_and_decide(ctx, std::span<const std::uint16_t>(classify_index, to_classify), routes, results,
                          verdicts, defers > 0 ? &pending : nullptr);
    if (defers > 0) {
      relook_deferred(ctx, pending, kMaxBurst, results);
      // One more round to decide them.
      to_classify = 0;
      relooks = 0;
      may_defer = false;
      for (std::size_t k = 0; k < defers; ++k) route(deferred[k], false);
      if (to_classify > 0)
        classify_and_decide(ctx, std::span<const std::uint16_t>(classify_index, to_classify), routes, results,
                            verdicts);
    }
  }

  static void sort_by_index(std::uint16_t* index, Route* routes, std::size_t n) noexcept {
    // Insertion sort: two ascending runs, at most kMaxBurst elements, no allocation.
    for (std::size_t k = 1; k < n; ++k) {
      const std::uint16_t i = index[k];
      const Route r = routes[k];
      std::size_t j = k;
      for (; j > 0 && index[j - 1] > i; --j) {
        index[j] = index[j - 1];
        routes[j] = routes[j - 1];
      }
      index[j] = i;
      routes[j] = r;
    }
  }

  std::shared_ptr<const CompiledPolicy> compiled_;
  // Shared with the pinned filters made from this one (O(rules) each otherwise).
  std::shared_ptr<const std::vector<std::uint32_t>> slot_of_position_owner_;
  const std::uint32_t* slot_of_position_;
  std::uint32_t default_slot_;
  std::shared_ptr<const RuleCounterStore> counters_;
  StatefulState stateful_;
  CompiledPolicy::VnicLists pinned_;  // valid when has_pinned_
  bool has_pinned_ = false;
};

}  // namespace

struct Dfw::Impl {
  Impl(Engine& e, std::uint32_t workers, const DfwOptions& o)
      : engine(e), options(o), counters(std::make_shared<RuleCounterStore>(workers)) {}
  Engine& engine;
  const DfwOptions options;
  std::shared_ptr<ConnTable> table;  // nullptr when not stateful; shared with installed filters
  std::uint64_t policy_generation = 0;  // +1 per successful apply()
  mutable std::mutex mutex;  // control calls
  std::shared_ptr<CompiledPolicy> current;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  std::shared_ptr<RuleCounterStore> counters;
  std::unordered_map<std::uint32_t, std::uint32_t> counter_slot;  // rule id -> slot, never forgotten
  DfwApplyStats last;
  // Where each enabled rule of `current` is, by id (rule_stats(id),
  // rule_info()): built by the first such call after an apply(), so that
  // applies of a Dfw nobody asks about cost nothing more.
  struct RulePlace {
    std::uint32_t category;
    std::uint32_t section;
    std::uint32_t rule;
  };
  std::unordered_map<std::uint32_t, RulePlace> rule_places;
  bool rule_places_built = false;

  // The place of an enabled rule of `current` (nullptr: none; `current`
  // must be set). Call with the mutex held.
  const RulePlace* place_of(std::uint32_t rule_id) {
    if (!rule_places_built) {
      const Policy& policy = current->policy();
      for (std::uint32_t c = 0; c < kCategoryCount; ++c)
        for (std::uint32_t s = 0; s < policy.categories[c].size(); ++s)
          for (std::uint32_t r = 0; r < policy.categories[c][s].rules.size(); ++r)
            if (!policy.categories[c][s].rules[r].disabled)
              rule_places.emplace(policy.categories[c][s].rules[r].id, RulePlace{c, s, r});
      rule_places_built = true;
    }
    const auto it = rule_places.find(rule_id);
    return it == rule_places.end() ? nullptr : &it->second;
  }
  static Status not_a_rule(std::uint32_t rule_id) {
    return not_found("dfw: rule " + std::to_string(rule_id) + " is not an enabled rule of the applied policy");
  }

  // Dynamic applied-to (update_group_vnics): the vNICs' dynamic groups,
  // for the groups of the applied policy, and the filters installed for them.
  policy_compile::DynamicAppliedTo<DfwFilter> applied_to;
  DfwAppliedToStats last_applied_to;

  // The slot of `rule_id`, handing out the next one for a new id.
  std::uint32_t slot_for(std::uint32_t rule_id) {
    auto [it, fresh] = counter_slot.try_emplace(rule_id, static_cast<std::uint32_t>(counter_slot.size()));
    return it->second;
  }
  DfwRuleStats stats_of(std::uint32_t rule_id, bool is_default) const {
    DfwRuleStats out;
    out.rule_id = rule_id;
    out.is_default = is_default;
    if (auto it = counter_slot.find(rule_id); it != counter_slot.end()) counters->sum(it->second, out);
    return out;
  }
};

Dfw::Dfw(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Dfw::~Dfw() = default;

StatusOr<std::unique_ptr<Dfw>> Dfw::create(Engine& engine, const DfwOptions& options) {
  if (options.flow_log && options.flow_log->options().workers < engine.options().max_workers)
    return invalid_argument("dfw: flow_log has " + std::to_string(options.flow_log->options().workers) +
                            " worker rings and the engine up to " + std::to_string(engine.options().max_workers) +
                            " workers; create it with FlowLogOptions::workers = EngineOptions::max_workers");
  auto impl = std::make_unique<Impl>(engine, engine.options().max_workers, options);
  if (options.stateful) {
    auto table = ConnTable::create(options.conntrack);
    if (!table.ok()) return Status(table.status().code(), "dfw: conntrack: " + table.status().message());
    impl->table = std::shared_ptr<ConnTable>(std::move(*table));
  }
  return std::unique_ptr<Dfw>(new Dfw(std::move(impl)));
}

ConnTable* Dfw::connections() const noexcept { return impl_->table.get(); }
std::shared_ptr<ConnTable> Dfw::shared_connections() const noexcept { return impl_->table; }

std::uint64_t Dfw::policy_generation() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->policy_generation;
}

void Dfw::set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  impl_->vnic_addresses[vnic_id] = std::move(addresses);
}

Status Dfw::apply(const Policy& policy, const std::vector<std::uint32_t>& vnic_ids) {
  std::lock_guard lock(impl_->mutex);
  // Checked first so that a typo costs no compile; Engine::set_filters
  // checks again, atomically with publishing.
  for (std::uint32_t vnic : vnic_ids) {
    if (auto chain = impl_->engine.describe_chain(vnic); !chain.ok()) return chain.status();
    // The vNIC id is its conntrack zone.
    if (impl_->table && vnic >= impl_->table->options().zones)
      return invalid_argument("vnic " + std::to_string(vnic) + ": the stateful DFW's connection table has zones 0-" +
                              std::to_string(impl_->table->options().zones - 1) +
                              " (one per vNIC id); raise DfwOptions::conntrack.zones");
  }
  // Dynamic applied-to members of the groups the new policy keeps (the
  // others are forgotten once it is applied).
  std::set<std::string_view> kept_groups;
  for (const Group& g : policy.groups) kept_groups.insert(g.id);
  std::map<std::string, std::vector<std::uint32_t>> group_vnics = impl_->applied_to.members_by_group();
  std::erase_if(group_vnics, [&](const auto& entry) { return !kept_groups.contains(entry.first); });
  policy_compile::CompileInput input{.policy = &policy,
                                     .vnics = vnic_ids,
                                     .vnic_addresses = impl_->vnic_addresses,
                                     .group_vnics = std::move(group_vnics)};
  auto compiled = impl_->current ? policy_compile::recompile(*impl_->current, input) : policy_compile::compile(input);
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<CompiledPolicy> shared(std::move(*compiled));

  // Counter slots by rule id; storage for new ids exists before any filter
  // that counts into it is published.
  const std::size_t slots_before = impl_->counter_slot.size();
  std::vector<std::uint32_t> slot_of_position(shared->rule_count());
  for (std::uint32_t p = 0; p < slot_of_position.size(); ++p) slot_of_position[p] = impl_->slot_for(shared->rule_id_at(p));
  const std::uint32_t default_slot = impl_->slot_for(shared->default_rule_id());
  if (Status s = impl_->counters->reserve(impl_->counter_slot.size()); !s.ok()) {
    // Forget the ids this apply introduced: they were never published.
    for (auto it = impl_->counter_slot.begin(); it != impl_->counter_slot.end();)
      it = it->second >= slots_before ? impl_->counter_slot.erase(it) : std::next(it);
    return s;
  }

  StatefulState stateful;
  stateful.generation = impl_->policy_generation + 1;
  stateful.flow_log = impl_->options.flow_log;
  if (impl_->table) {
    stateful.table = impl_->table;
    stateful.rule_slots = std::make_shared<const RuleSlotMap>(impl_->counter_slot);
    stateful.revalidation = impl_->options.revalidation.value_or(policy.revalidation);
    stateful.strict_over_table = policy.tcp_strict && !impl_->table->options().tcp_strict;
  }
  auto filter = std::make_shared<DfwFilter>(shared, std::move(slot_of_position), default_slot, impl_->counters,
                                            std::move(stateful));
  std::vector<FilterChange> changes;
  changes.reserve(vnic_ids.size());
  for (std::uint32_t vnic : vnic_ids) changes.push_back({.vnic_id = vnic, .slot = kSlotDfw, .filter = filter});
  if (Status s = impl_->engine.set_filters(changes); !s.ok()) return s;
  const policy_compile::CompileStats& st = shared->compile_stats();
  impl_->last = DfwApplyStats{.incremental = st.incremental,
                              .rule_lists = shared->rule_lists(),
                              .lists_built = st.lists_built,
                              .lists_reused = st.lists_reused,
                              .atoms_added = st.atoms_added,
                              .generation = impl_->engine.generation()};
  impl_->applied_to.applied(*shared, vnic_ids, std::move(filter), &kept_groups);
  impl_->current = std::move(shared);
  impl_->rule_places.clear();
  impl_->rule_places_built = false;
  ++impl_->policy_generation;
  return Status::Ok();
}

Status Dfw::update_group_vnics(const std::vector<GroupVnicChange>& changes) {
  std::lock_guard lock(impl_->mutex);
  Impl& m = *impl_;
  if (!m.current) return failed_precondition("no policy applied yet");
  CompiledPolicy& cp = *m.current;
  for (const GroupVnicChange& c : changes)
    if (!cp.has_group(c.group_id)) return not_found("update_group_vnics: unknown group " + c.group_id);
  const CompiledPolicy::DynamicListStats lists_before = cp.dynamic_list_stats();
  auto result = m.applied_to.update(cp, m.engine, kSlotDfw, changes);
  if (!result.ok()) return result.status();
  DfwAppliedToStats stats;
  stats.vnics_reinstalled = result->reinstalled;
  stats.vnics_unchanged = result->unchanged;
  stats.vnics_skipped = result->skipped;
  stats.generation = result->generation;
  stats.lists_built = cp.dynamic_list_stats().lists_built - lists_before.lists_built;
  stats.lists_found = cp.dynamic_list_stats().lists_found - lists_before.lists_found;
  m.last_applied_to = stats;
  return Status::Ok();
}

std::map<std::string, std::vector<std::uint32_t>> Dfw::group_vnics() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->applied_to.members_by_group();
}

DfwAppliedToStats Dfw::last_applied_to_update() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_applied_to;
}

DfwApplyStats Dfw::last_apply() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last;
}

Status Dfw::set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->set_group_addresses(group_id, std::move(addresses));
}

Status Dfw::add_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->add_group_addresses(group_id, cidrs);
}

Status Dfw::remove_group_addresses(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->remove_group_addresses(group_id, cidrs);
}

Status Dfw::add_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->add_group_exclusions(group_id, cidrs);
}

Status Dfw::remove_group_exclusions(const std::string& group_id, const std::vector<Cidr>& cidrs) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  return impl_->current->remove_group_exclusions(group_id, cidrs);
}

std::map<std::string, std::vector<Cidr>> Dfw::group_exclusions() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return {};
  return impl_->current->group_exclusions();
}

std::map<std::string, std::vector<Cidr>> Dfw::group_addresses() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return {};
  return impl_->current->group_addresses();
}

std::vector<DfwRuleStats> Dfw::rule_stats() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<DfwRuleStats> out;
  if (!impl_->current) return out;
  const CompiledPolicy& cp = *impl_->current;
  out.reserve(cp.rule_count() + 1);
  for (std::uint32_t p = 0; p < cp.rule_count(); ++p) out.push_back(impl_->stats_of(cp.rule_id_at(p), false));
  out.push_back(impl_->stats_of(cp.default_rule_id(), true));
  return out;
}

StatusOr<DfwRuleStats> Dfw::rule_stats(std::uint32_t rule_id) const {
  std::lock_guard lock(impl_->mutex);
  if (impl_->current) {
    if (rule_id == impl_->current->default_rule_id()) return impl_->stats_of(rule_id, true);
    if (impl_->place_of(rule_id) != nullptr) return impl_->stats_of(rule_id, false);
  }
  return Impl::not_a_rule(rule_id);
}

StatusOr<DfwRuleInfo> Dfw::rule_info(std::uint32_t rule_id) const {
  std::lock_guard lock(impl_->mutex);
  Impl& m = *impl_;
  if (!m.current) return not_found("dfw: no policy applied yet");
  const Policy& policy = m.current->policy();
  DfwRuleInfo out;
  out.rule_id = rule_id;
  if (rule_id == policy.default_rule_id) {
    out.is_default = true;
    out.tag = policy.default_tag;
    out.action = policy.default_action;
    out.logged = policy.default_logged;
    return out;
  }
  const Impl::RulePlace* place = m.place_of(rule_id);
  if (place == nullptr) return Impl::not_a_rule(rule_id);
  const Section& section = policy.categories[place->category][place->section];
  const Rule& rule = section.rules[place->rule];
  out.name = rule.name;
  out.tag = rule.tag;
  out.section_id = section.id;
  out.category = static_cast<Category>(place->category);
  out.action = rule.action;
  out.logged = rule.logged;
  out.stateless = section.stateless;
  return out;
}

}  // namespace fw
