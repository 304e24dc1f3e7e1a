// Order-independence, as Calico tests its calculation graph: the same
// sequence of inventory states, reached through the feed forward and
// reversed, as squashed upserts or split into tag / address deltas, with
// every message duplicated, with the stream cut into arbitrary chunks and
// interleaved with empty reads, or by a full resync, must after each state
// give exactly the groups a fresh inventory loaded with that state gives —
// and the sink, told only deltas, must hold the same sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "feed_helpers.h"
#include "fw/feed.h"

namespace fw {
namespace {

using namespace fw::test;
using State = std::map<std::string, VmSpec>;
using K = CriterionKey;
using O = CriterionOperator;

Group group(std::string id, std::vector<std::vector<Criterion>> criteria) {
  Group g;
  g.id = std::move(id);
  for (auto& all_of : criteria) g.criteria.push_back(CriteriaExpression{.all_of = std::move(all_of)});
  return g;
}
Criterion c(K key, O op, std::vector<std::string> values, std::string scope = "") {
  return Criterion{.key = key, .op = op, .scope = std::move(scope), .values = std::move(values)};
}

Policy policy() {
  Policy p;
  p.groups = {
      group("web", {{c(K::kTag, O::kEquals, {"web"}, "tier")}}),
      group("not-prod", {{c(K::kTag, O::kNotEquals, {"prod"}, "env")}}),
      group("db-or-app", {{c(K::kTag, O::kIn, {"db", "app"})}}),
      group("web-prod", {{c(K::kTag, O::kEquals, {"web"}, "tier"), c(K::kTag, O::kEquals, {"prod"}, "env")}}),
      group("dev-ish", {{c(K::kTag, O::kStartsWith, {"de"})}, {c(K::kVmName, O::kContains, {"admin"})}}),
      group("named", {{c(K::kVmName, O::kMatches, {"^(web|db)-[0-9]+$"})}}),
      group("not-in", {{c(K::kTag, O::kNotIn, {"web", "db"}, "tier")}}),
      group("windows", {{c(K::kOsName, O::kStartsWith, {"win"})}, {c(K::kComputerName, O::kEndsWith, {".corp"})}}),
  };
  Group nested;
  nested.id = "nested";
  nested.groups = {"web", "db-or-app"};
  nested.vm_ids = {"vm3"};
  nested.vnic_ids = {14};
  nested.exclude_vm_ids = {"vm5"};
  Group outer;
  outer.id = "outer";
  outer.groups = {"nested", "named"};
  outer.exclude_vm_ids = {"vm6"};
  p.groups.insert(p.groups.begin(), outer);  // before what it nests: ranks decide order
  p.groups.push_back(nested);
  return p;
}

State random_state(std::mt19937& rng) {
  const std::vector<std::string> scopes = {"", "tier", "env"};
  const std::vector<std::string> values = {"web", "db", "app", "prod", "dev", "Web", "PROD"};
  const std::vector<std::string> names = {"web-01", "DB-22", "app-x", "admin-1", ""};
  const std::vector<std::string> oses = {"Windows Server", "Ubuntu", ""};
  const std::vector<std::string> computers = {"a.corp", "b.CORP", "c.local"};
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  State s;
  for (int i = 0; i < 16; ++i) {
    if (pick(10) < 3) continue;
    VmSpec vm{.id = "vm" + std::to_string(i), .name = names[pick(names.size())], .os_name = oses[pick(oses.size())],
              .computer_name = computers[pick(computers.size())]};
    for (std::size_t t = pick(4); t > 0; --t) {
      Tag tag{scopes[pick(scopes.size())], values[pick(values.size())]};
      if (std::find(vm.tags.begin(), vm.tags.end(), tag) == vm.tags.end()) vm.tags.push_back(tag);
    }
    for (std::uint32_t n = 0; n < 1 + pick(2); ++n) {
      VnicSpec vnic{.id = static_cast<std::uint32_t>(i * 2 + n + 1)};
      // A small pool: VMs share addresses, exercising reference counts.
      for (std::size_t a = 0; a < 1 + pick(2); ++a) {
        IpAddress address = IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>(pick(40)));
        if (std::find(vnic.addresses.begin(), vnic.addresses.end(), address) == vnic.addresses.end())
          vnic.addresses.push_back(address);
      }
      vm.vnics.push_back(vnic);
    }
    s.emplace(vm.id, vm);
  }
  return s;
}

using Groups = std::map<std::string, std::pair<std::vector<std::uint32_t>, std::vector<std::string>>>;

Groups groups_of(const Inventory& inv) {
  Groups out;
  for (const std::string& g : inv.group_ids()) {
    std::vector<std::string> addresses;
    const std::vector<Cidr> cidrs = inv.group_addresses(g).value();
    for (const Cidr& cidr : cidrs) addresses.push_back(cidr.address.to_string());
    out[g] = {inv.group_vnics(g).value(), addresses};
  }
  return out;
}

Groups reference(const State& s) {
  auto inv = Inventory::create().value();
  EXPECT_TRUE(inv->set_groups(policy()).ok());
  for (const auto& [id, vm] : s) EXPECT_TRUE(inv->upsert_vm(vm).ok());
  return groups_of(*inv);
}

bool same_shape(const VmSpec& a, const VmSpec& b) {
  if (a.name != b.name || a.os_name != b.os_name || a.computer_name != b.computer_name) return false;
  if (a.vnics.size() != b.vnics.size()) return false;
  for (std::size_t i = 0; i < a.vnics.size(); ++i)
    if (a.vnics[i].id != b.vnics[i].id || a.vnics[i].mac != b.vnics[i].mac) return false;
  return true;
}

enum class Style { kSquashed, kSplit, kResync };

// The messages that take the feed from `from` to `to`, starting at `*rev`.
std::vector<FeedEvent> transition(const State& from, const State& to, Style style, bool reverse_vms,
                                  std::uint64_t* rev) {
  std::vector<FeedEvent> out;
  if (style == Style::kResync) {
    const std::uint64_t r = ++*rev;
    out.push_back(begin(r));
    for (const auto& [id, vm] : to) out.push_back(upsert(r, vm));
    out.push_back(end(r));
    if (reverse_vms) std::reverse(out.begin() + 1, out.end() - 1);
    return out;
  }
  std::vector<std::string> ids;
  for (const auto& [id, vm] : from) ids.push_back(id);
  for (const auto& [id, vm] : to)
    if (!from.contains(id)) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  if (reverse_vms) std::reverse(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    auto f = from.find(id);
    auto t = to.find(id);
    if (t == to.end()) {
      out.push_back(remove(++*rev, id));
    } else if (f == from.end() || style == Style::kSquashed || !same_shape(f->second, t->second)) {
      if (f == from.end() || !(f->second == t->second)) out.push_back(upsert(++*rev, t->second));
    } else {
      const VmSpec& a = f->second;
      const VmSpec& b = t->second;
      for (const Tag& tag : a.tags)
        if (std::find(b.tags.begin(), b.tags.end(), tag) == b.tags.end()) out.push_back(tag_remove(++*rev, id, tag));
      for (const Tag& tag : b.tags)
        if (std::find(a.tags.begin(), a.tags.end(), tag) == a.tags.end()) out.push_back(tag_add(++*rev, id, tag));
      for (std::size_t n = 0; n < a.vnics.size(); ++n) {
        const auto& old_a = a.vnics[n].addresses;
        const auto& new_a = b.vnics[n].addresses;
        for (const IpAddress& x : new_a)
          if (std::find(old_a.begin(), old_a.end(), x) == old_a.end())
            out.push_back(address_add(++*rev, a.vnics[n].id, x));
        for (const IpAddress& x : old_a)
          if (std::find(new_a.begin(), new_a.end(), x) == new_a.end())
            out.push_back(address_remove(++*rev, a.vnics[n].id, x));
      }
    }
  }
  return out;
}

struct Variant {
  const char* name;
  Style style;
  bool reverse_states;
  bool reverse_vms;
  bool duplicate;
  bool chunked;  // through the frame reader, random chunks, empty reads between
};

class Convergence : public ::testing::TestWithParam<Variant> {};

TEST_P(Convergence, EveryPathToAStateGivesTheSameGroups) {
  const Variant& v = GetParam();
  std::mt19937 rng(20240605);
  std::vector<State> states;
  for (int i = 0; i < 12; ++i) states.push_back(random_state(rng));
  states.push_back(State{});  // and everything gone
  if (v.reverse_states) std::reverse(states.begin(), states.end());

  MirrorSink sink;
  auto inv = Inventory::create({.sink = &sink}).value();
  ASSERT_TRUE(inv->set_groups(policy()).ok());
  auto consumer = FeedConsumer::create(*inv).value();
  FeedFrameReader reader;
  std::mt19937 chunk_rng(7);

  auto deliver = [&](const std::vector<FeedEvent>& events) {
    std::vector<FeedEvent> stream;
    for (const FeedEvent& e : events) {
      stream.push_back(e);
      if (v.duplicate) stream.push_back(e);
    }
    if (!v.chunked) {
      for (const FeedEvent& e : stream) {
        ASSERT_TRUE(consumer->apply(e).ok()) << consumer->last_error().to_string();
      }
      return;
    }
    std::string bytes;
    for (const FeedEvent& e : stream) bytes += encode_feed_frame(e);
    for (std::size_t off = 0; off < bytes.size();) {
      const std::size_t n = std::min<std::size_t>(1 + chunk_rng() % 40, bytes.size() - off);
      reader.append(std::string_view(bytes).substr(off, n));
      off += n;
      for (;;) {
        reader.append("");  // an empty batch between messages
        auto body = reader.next();
        ASSERT_TRUE(body.ok());
        if (!body->has_value()) break;
        ASSERT_TRUE(consumer->apply_message(**body).ok()) << consumer->last_error().to_string();
      }
    }
  };

  std::uint64_t rev = 0;
  State current;
  deliver(transition(current, states[0], Style::kResync, v.reverse_vms, &rev));
  for (std::size_t i = 0; i < states.size(); ++i) {
    SCOPED_TRACE("state " + std::to_string(i));
    if (i > 0) deliver(transition(current, states[i], v.style, v.reverse_vms, &rev));
    current = states[i];
    ASSERT_TRUE(consumer->in_sync());
    ASSERT_EQ(consumer->revision(), rev);
    const Groups got = groups_of(*inv);
    ASSERT_EQ(got, reference(current));
    for (const auto& [g, members] : got) {
      const std::set<std::string> want(members.second.begin(), members.second.end());
      ASSERT_EQ(sink.sets[g], want) << "the sink's view of " << g;
    }
  }
  EXPECT_EQ(consumer->stats().rejected, 0u);
  EXPECT_EQ(consumer->stats().gaps, 0u);
  if (v.duplicate) {
    EXPECT_GT(consumer->stats().duplicates, 0u);
  }
  const Realization r = inv->realization();
  EXPECT_EQ(r.realized, r.sequence);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, Convergence,
    ::testing::Values(Variant{"squashed", Style::kSquashed, false, false, false, false},
                      Variant{"split", Style::kSplit, false, false, false, false},
                      Variant{"reversed", Style::kSplit, true, true, false, false},
                      Variant{"squashed_reversed", Style::kSquashed, true, false, false, false},
                      Variant{"duplicated", Style::kSplit, false, false, true, false},
                      Variant{"chunked_with_empty_batches", Style::kSplit, false, true, false, true},
                      Variant{"resync", Style::kResync, false, false, false, false},
                      Variant{"resync_reversed_duplicated_chunked", Style::kResync, true, true, true, true}),
    [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace fw
