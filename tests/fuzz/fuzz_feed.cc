// libFuzzer target for the membership feed: any byte string is a stream of
// length-delimited fw.v1.FeedMessages, cut into reads at places the input
// chooses, decoded and applied by a FeedConsumer to an Inventory holding a
// policy with every criterion operator, nesting and exclusions. Checked on
// every input: nothing throws, crashes or hangs; each decoded message
// re-encodes to a message that decodes to the same event; the sink, told
// only deltas, always holds exactly the inventory's group addresses (no
// delta lost, none contradictory); every change is realized.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "fw/feed.h"
#include "fw/inventory.h"

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
    for (const fw::GroupDelta& d : deltas) {
      auto& set = sets[d.group_id];
      for (const fw::Cidr& c : d.removed) require(set.erase(c.address.to_string()) == 1, "removed a non-member");
      for (const fw::Cidr& c : d.added) require(set.insert(c.address.to_string()).second, "added a member twice");
    }
    return fw::Status::Ok();
  }
  std::map<std::string, std::set<std::string>> sets;
};

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
  fw::StatusOr<fw::FeedEvent> e = fw::decode_feed_message(body);
  if (!e.ok()) {
    require(e.status().code() == fw::StatusCode::kInvalidArgument, "decode errors are kInvalidArgument");
    return;
  }
  fw::StatusOr<fw::FeedEvent> again = fw::decode_feed_message(fw::encode_feed_message(*e));
  require(again.ok(), "a decoded message re-encodes to a decodable one");
  require(again->revision == e->revision && again->kind == e->kind && again->vm == e->vm &&
              again->vm_id == e->vm_id && again->tag == e->tag && again->vnic_id == e->vnic_id &&
              again->address == e->address,
          "re-encoding preserves the event");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fw::Policy policy = make_policy();
  MirrorSink sink;
  auto inventory = fw::Inventory::create({.sink = &sink, .max_vms = 64, .max_vnics_per_vm = 4,
                                          .max_tags_per_vm = 8, .max_addresses_per_vnic = 8})
                       .value();
  require(inventory->set_groups(policy).ok(), "the fuzz policy is valid");
  auto consumer = fw::FeedConsumer::create(*inventory).value();
  fw::FeedFrameReader reader;
  // The first byte chooses the read size (1-256 bytes): framing must not
  // depend on where reads end.
  if (size == 0) return 0;
  const std::size_t chunk = std::size_t{data[0]} + 1;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  bool broken = false;
  for (std::size_t off = 0; off < stream.size() && !broken; off += chunk) {
    reader.append(stream.substr(off, chunk));
    for (;;) {
      fw::StatusOr<std::optional<std::string>> body = reader.next();
      if (!body.ok()) {
        broken = true;
        consumer->restart(body.status().message());
        break;
      }
      if (!body->has_value()) break;
      check_round_trip(**body);
      const fw::FeedStats before = consumer->stats();
      fw::Status s = consumer->apply_message(**body);
      const fw::FeedStats after = consumer->stats();
      require(after.messages == before.messages + 1, "every message is counted");
      require(s.ok() || after.rejected == before.rejected + 1, "every refusal is counted");
    }
  }
  for (const std::string& g : inventory->group_ids()) {
    std::set<std::string> want;
    const std::vector<fw::Cidr> cidrs = inventory->group_addresses(g).value();
    for (const fw::Cidr& c : cidrs) want.insert(c.address.to_string());
    require(sink.sets[g] == want, "the sink holds the inventory's group addresses");
  }
  const fw::Realization r = inventory->realization();
  require(r.realized == r.sequence, "every change is realized");
  require(consumer->revision() == 0 || consumer->stats().snapshots > 0, "a revision needs a snapshot");
  return 0;
}
