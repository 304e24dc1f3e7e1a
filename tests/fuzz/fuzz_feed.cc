// libFuzzer target for the membership feed: any byte string is a stream of
// length-delimited fw.v1.FeedMessages, cut into reads at places the input
// chooses, decoded and applied by a FeedConsumer to an Inventory holding a
// policy with every criterion operator, nesting and exclusions. Checked on
// every input: nothing throws, crashes or hangs; each decoded message
// re-encodes to a message that decodes to the same event; the decoder's
// plain path, whenever it takes a message, gives what protobuf's parser
// gives; the sink, told only deltas, always holds exactly the inventory's
// group addresses (no delta lost, none contradictory); every change is
// realized. A second consumer gets the same messages as batches, one per
// read (FeedConsumer::apply_messages), and must end exactly as the first:
// the same status per message, stats, state, revision and groups, its sink
// called at most once per batch.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fw/feed.h"
#include "fw/inventory.h"
#include "libfw/feed/codec.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_feed: invariant violated: %s\n", what);
    std::abort();
  }
}

class MirrorSink : public fw::GroupSink {
 public:
  fw::Status apply(std::span<const fw::GroupDelta> deltas) override {
    ++calls;
    for (const fw::GroupDelta& d : deltas) {
      auto& set = sets[d.group_id];
      for (const fw::Cidr& c : d.removed) require(set.erase(c.address.to_string()) == 1, "removed a non-member");
      for (const fw::Cidr& c : d.added) require(set.insert(c.address.to_string()).second, "added a member twice");
    }
    return fw::Status::Ok();
  }
  std::map<std::string, std::set<std::string>> sets;
  std::size_t calls = 0;
};

bool same_event(const fw::FeedEvent& a, const fw::FeedEvent& b) {
  return a.revision == b.revision && a.kind == b.kind && a.vm == b.vm && a.vm_id == b.vm_id && a.tag == b.tag &&
         a.vnic_id == b.vnic_id && a.address == b.address;
}

fw::Criterion crit(fw::CriterionKey key, fw::CriterionOperator op, std::vector<std::string> values,
                   std::string scope = "") {
  return fw::Criterion{.key = key, .op = op, .scope = std::move(scope), .values = std::move(values)};
}

fw::Policy make_policy() {
  using K = fw::CriterionKey;
  using O = fw::CriterionOperator;
  fw::Policy p;
  auto add = [&](std::string id, std::vector<fw::Criterion> all_of) {
    fw::Group g;
    g.id = std::move(id);
    g.criteria = {fw::CriteriaExpression{.all_of = std::move(all_of)}};
    p.groups.push_back(g);
  };
  add("eq", {crit(K::kTag, O::kEquals, {"web"}, "tier")});
  add("ne", {crit(K::kTag, O::kNotEquals, {"prod"})});
  add("contains", {crit(K::kTag, O::kContains, {"a"})});
  add("starts", {crit(K::kVmName, O::kStartsWith, {"w"})});
  add("ends", {crit(K::kOsName, O::kEndsWith, {"x"})});
  add("in", {crit(K::kTag, O::kIn, {"a", "b", "web"})});
  add("notin", {crit(K::kComputerName, O::kNotIn, {"a", "b"})});
  add("matches", {crit(K::kTag, O::kMatches, {"^(a|w).*[0-9]$"}), crit(K::kVmName, O::kMatches, {"."})});
  fw::Group nested;
  nested.id = "nested";
  nested.groups = {"eq", "matches"};
  nested.vm_ids = {"a"};
  nested.vnic_ids = {1};
  nested.exclude_vm_ids = {"b"};
  p.groups.push_back(nested);
  return p;
}

void check_round_trip(std::string_view body) {
  // The plain path agrees with protobuf's whenever it takes a message.
  fw::FeedEvent plain, parsed;
  const bool taken = fw::feed_internal::decode_plain_change(body, plain);
  const fw::Status by_protobuf = fw::feed_internal::decode_with_protobuf(body, parsed);
  if (taken) {
    require(by_protobuf.ok(), "a message the plain path takes is valid protobuf");
    require(same_event(plain, parsed), "the plain path decodes as protobuf does");
  }
  fw::StatusOr<fw::FeedEvent> e = fw::decode_feed_message(body);
  require(e.ok() == by_protobuf.ok(), "decode_feed_message succeeds exactly when protobuf's path does");
  if (e.ok()) require(same_event(*e, parsed), "decode_feed_message gives protobuf's event");
  if (!e.ok()) {
    require(e.status().code() == fw::StatusCode::kInvalidArgument, "decode errors are kInvalidArgument");
    return;
  }
  fw::StatusOr<fw::FeedEvent> again = fw::decode_feed_message(fw::encode_feed_message(*e));
  require(again.ok(), "a decoded message re-encodes to a decodable one");
  require(same_event(*again, *e), "re-encoding preserves the event");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fw::Policy policy = make_policy();
  const fw::InventoryOptions limits{.max_vms = 64, .max_vnics_per_vm = 4, .max_tags_per_vm = 8,
                                    .max_addresses_per_vnic = 8};
  MirrorSink sink, batched_sink;
  fw::InventoryOptions options = limits;
  options.sink = &sink;
  auto inventory = fw::Inventory::create(options).value();
  require(inventory->set_groups(policy).ok(), "the fuzz policy is valid");
  auto consumer = fw::FeedConsumer::create(*inventory).value();
  options.sink = &batched_sink;
  auto batched_inventory = fw::Inventory::create(options).value();
  require(batched_inventory->set_groups(policy).ok(), "the fuzz policy is valid");
  auto batched = fw::FeedConsumer::create(*batched_inventory).value();
  std::size_t batches = 0;
  fw::FeedFrameReader reader;
  // The first byte chooses the read size (1-256 bytes): framing must not
  // depend on where reads end.
  if (size == 0) return 0;
  const std::size_t chunk = std::size_t{data[0]} + 1;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  bool broken = false;
  for (std::size_t off = 0; off < stream.size() && !broken; off += chunk) {
    reader.append(stream.substr(off, chunk));
    std::vector<std::string> bodies;
    std::vector<fw::Status> statuses;
    fw::Status framing;
    for (;;) {
      fw::StatusOr<std::optional<std::string>> body = reader.next();
      if (!body.ok()) {
        broken = true;
        framing = body.status();
        break;
      }
      if (!body->has_value()) break;
      check_round_trip(**body);
      const fw::FeedStats before = consumer->stats();
      fw::Status s = consumer->apply_message(**body);
      const fw::FeedStats after = consumer->stats();
      require(after.messages == before.messages + 1, "every message is counted");
      require(s.ok() || after.rejected == before.rejected + 1, "every refusal is counted");
      statuses.push_back(std::move(s));
      bodies.push_back(std::move(**body));
    }
    if (broken) consumer->restart(framing.message());
    // The same messages of this read as one batch.
    const std::vector<std::string_view> views(bodies.begin(), bodies.end());
    std::vector<fw::Status> results(views.size());
    const std::size_t calls_before = batched_sink.calls;
    const fw::Status first = batched->apply_messages(views, results);
    batches += views.empty() ? 0 : 1;
    require(batched_sink.calls <= calls_before + 1, "a batch calls the sink at most once");
    fw::Status want_first;
    for (std::size_t i = 0; i < views.size(); ++i) {
      require(results[i].to_string() == statuses[i].to_string(), "a batched message fares as alone");
      if (want_first.ok() && !statuses[i].ok()) want_first = statuses[i];
    }
    require(first.to_string() == want_first.to_string(), "a batch returns its first refusal");
    if (broken) batched->restart(framing.message());
  }
  for (const std::string& g : inventory->group_ids()) {
    std::set<std::string> want;
    const std::vector<fw::Cidr> cidrs = inventory->group_addresses(g).value();
    for (const fw::Cidr& c : cidrs) want.insert(c.address.to_string());
    require(sink.sets[g] == want, "the sink holds the inventory's group addresses");
    require(batched_sink.sets[g] == want, "batches leave the sink as messages one by one do");
  }
  const fw::Realization r = inventory->realization();
  require(r.realized == r.sequence, "every change is realized");
  const fw::Realization rb = batched_inventory->realization();
  require(rb.realized == rb.sequence, "every batch is realized");
  require(batched_inventory->vm_ids() == inventory->vm_ids(), "batches leave the same VMs");
  for (const std::string& id : inventory->vm_ids())
    require(batched_inventory->vm(id) == inventory->vm(id), "batches leave each VM the same");
  for (const std::string& g : inventory->group_ids())
    require(batched_inventory->group_vnics(g).value() == inventory->group_vnics(g).value(),
            "batches leave the same group members");
  const fw::FeedStats a = consumer->stats(), b = batched->stats();
  require(a.messages == b.messages && a.applied == b.applied && a.duplicates == b.duplicates &&
              a.rejected == b.rejected && a.ignored == b.ignored && a.gaps == b.gaps &&
              a.restarts == b.restarts && a.snapshots == b.snapshots && a.swept_vms == b.swept_vms,
          "batches count as messages one by one do");
  require(batched->state() == consumer->state() && batched->revision() == consumer->revision(),
          "batches leave the consumer in the same state");
  require(batched_inventory->stats().sink_calls <= batches, "at most one sink call per batch");
  require(consumer->revision() == 0 || consumer->stats().snapshots > 0, "a revision needs a snapshot");
  return 0;
}
