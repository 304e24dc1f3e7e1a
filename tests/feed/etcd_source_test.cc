// The etcd v3 feed source against a real etcd (etcd_fixture.h): the initial
// listing becomes a snapshot, puts and deletes apply in order at their mod
// revisions, the source resumes after etcd restarts, re-lists with
// mark-and-sweep after a compaction (nothing that stays ever leaves a
// group), skips and counts corrupt values, and a tag written to etcd
// reaches the groups.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "etcd_fixture.h"
#include "feed_helpers.h"
#include "fw/feed.h"
#include "fw/policy.h"
#include "fw/v1/feed.pb.h"

namespace fw {
namespace {

using namespace fw::test;

constexpr const char* kPrefix = "/libfw/feed/";

std::string key(const std::string& id) { return std::string(kPrefix) + "vms/" + id; }

// The VM as its etcd value: a binary fw.v1.FeedVm (docs/feed-etcd.md),
// built with the generated code as a producer would.
std::string value(const VmSpec& vm) {
  v1::FeedVm out;
  out.set_id(vm.id);
  out.set_name(vm.name);
  for (const Tag& t : vm.tags) {
    v1::FeedTag* tag = out.add_tags();
    tag->set_scope(t.scope);
    tag->set_value(t.value);
  }
  for (const VnicSpec& n : vm.vnics) {
    v1::FeedVnic* vnic = out.add_vnics();
    vnic->set_id(n.id);
    for (const IpAddress& a : n.addresses)
      vnic->add_addresses(std::string(reinterpret_cast<const char*>(a.bytes.data()), a.is_v4() ? 4 : 16));
  }
  return out.SerializeAsString();
}

Policy web_policy() {
  Policy p;
  Group web;
  web.id = "web";
  web.criteria = {CriteriaExpression{
      .all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .scope = "tier", .values = {"web"}}}}};
  Group all;
  all.id = "all";
  all.criteria = {CriteriaExpression{
      .all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kNotEquals, .values = {"nothing-has-this"}}}}};
  p.groups = {web, all};
  return p;
}

const Tag kWeb{.scope = "tier", .value = "web"};

struct Harness {
  MirrorSink sink;
  std::unique_ptr<Inventory> inventory;
  std::unique_ptr<FeedConsumer> consumer;
  std::unique_ptr<EtcdSource> source;

  explicit Harness(const EtcdServer& etcd, std::uint32_t page_size = 500) {
    inventory = Inventory::create({.sink = &sink}).value();
    EXPECT_TRUE(inventory->set_groups(web_policy()).ok());
    consumer = FeedConsumer::create(*inventory, {.consecutive_revisions = false}).value();
    auto s = open_etcd_source({.endpoint = etcd.endpoint(),
                               .prefix = kPrefix,
                               .request_timeout = std::chrono::milliseconds(2000),
                               .initial_backoff = std::chrono::milliseconds(20),
                               .max_backoff = std::chrono::milliseconds(200),
                               .page_size = page_size});
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    source = std::move(*s);
  }

  // Polls until `done` holds (or 15 s pass); poll errors are allowed (etcd
  // may be away) but recorded.
  template <typename Done>
  bool poll_until(Done done, std::vector<std::string>* errors = nullptr) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < give_up) {
      auto r = source->poll(*consumer, std::chrono::milliseconds(50));
      if (!r.ok() && errors != nullptr) errors->push_back(r.status().to_string());
      if (done()) return true;
    }
    return false;
  }
  bool has(const std::string& id) const { return inventory->vm(id).has_value(); }
  std::vector<std::string> group(const std::string& id) const {
    std::vector<std::string> out;
    const std::vector<Cidr> cidrs = inventory->group_addresses(id).value();
    for (const Cidr& c : cidrs) out.push_back(c.address.to_string());
    return out;
  }
};

#define START_ETCD(var)                          \
  std::string why_skipped;                       \
  auto var = EtcdServer::start(&why_skipped);    \
  if (!var && !why_skipped.empty()) GTEST_SKIP() << why_skipped; \
  ASSERT_TRUE(var)

TEST(EtcdSource, OptionsAndUrls) {
  EXPECT_EQ(open_etcd_source({.endpoint = "nohost"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_etcd_source({.endpoint = "h:0"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_etcd_source({.page_size = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_etcd_source({.initial_backoff = std::chrono::milliseconds(100), .max_backoff = std::chrono::milliseconds(10)})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  auto o = parse_etcd_url("etcd://10.0.0.1:2379/libfw/feed/");
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->endpoint, "10.0.0.1:2379");
  EXPECT_EQ(o->prefix, "/libfw/feed/");
  auto v6 = parse_etcd_url("etcd://[::1]:2379/p/");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->endpoint, "[::1]:2379");
  EXPECT_FALSE(parse_etcd_url("http://h:1/p").ok());
  EXPECT_FALSE(parse_etcd_url("etcd://h/p").ok());
  auto source = open_etcd_source({.endpoint = "127.0.0.1:2379", .prefix = "/p/"});
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->describe(), "etcd 127.0.0.1:2379 /p/");
}

TEST(EtcdSource, UnreachableEtcdBacksOffAndKeepsState) {
  // A port nobody listens on: connect is refused at once.
  auto inventory = Inventory::create().value();
  auto consumer = FeedConsumer::create(*inventory, {.consecutive_revisions = false}).value();
  auto source = open_etcd_source({.endpoint = "127.0.0.1:1",
                                  .initial_backoff = std::chrono::milliseconds(50),
                                  .max_backoff = std::chrono::milliseconds(400)})
                    .value();
  const auto start = std::chrono::steady_clock::now();
  int errors = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
    auto r = source->poll(*consumer, std::chrono::milliseconds(100));
    if (!r.ok()) {
      ++errors;
      EXPECT_EQ(r.status().code(), StatusCode::kIoError);
      EXPECT_NE(r.status().message().find("127.0.0.1:1"), std::string::npos) << r.status().message();
    }
  }
  // 50, 100, 200, 400, 400 ... ms (+-20%): about 6 attempts in 1.5 s, not
  // one per poll (15) and not one only.
  EXPECT_GE(errors, 3);
  EXPECT_LE(errors, 9);
  EXPECT_EQ(source->stats().failures, static_cast<std::uint64_t>(errors));
  EXPECT_FALSE(consumer->in_sync());
}

TEST(EtcdSource, TheListingIsASnapshot) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1", {kWeb})));
  etcd->put(key("b"), value(vm("b", 2, "10.0.0.2")));
  etcd->put(key("c"), value(vm("c", 3, "10.0.0.3", {kWeb})));
  etcd->put(std::string(kPrefix) + "config/other", "not a VM key: ignored");
  etcd->put("/elsewhere/vms/z", "outside the prefix");
  const std::int64_t revision = etcd->revision();
  Harness h(*etcd, /*page_size=*/2);  // three VM keys and one other over pages of 2
  EXPECT_FALSE(h.consumer->in_sync());
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->in_sync(); }));
  EXPECT_EQ(h.consumer->revision(), static_cast<std::uint64_t>(revision));
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1", "10.0.0.3"}));
  const EtcdSourceStats stats = h.source->stats();
  EXPECT_EQ(stats.lists, 1u);
  EXPECT_EQ(stats.list_pages, 2u);
  EXPECT_EQ(stats.ignored_keys, 1u);
  EXPECT_EQ(stats.corrupt_values, 0u);
  EXPECT_EQ(h.consumer->stats().snapshots, 1u);
}

TEST(EtcdSource, PutsAndDeletesApplyInOrderAtTheirRevisions) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1")));
  etcd->put(key("b"), value(vm("b", 2, "10.0.0.2", {kWeb})));
  Harness h(*etcd);
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->in_sync(); }));
  // A VM created, changed twice and deleted, another tagged, one deleted.
  etcd->put(key("d"), value(vm("d", 4, "10.0.0.4")));
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1", {kWeb})));
  etcd->put(key("d"), value(vm("d", 4, "10.0.0.44", {kWeb})));
  etcd->del(key("b"));
  const std::int64_t last = etcd->put(key("d"), value(vm("d", 4, "10.0.0.45")));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(last); }));
  EXPECT_TRUE(h.consumer->in_sync());
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1"}));
  EXPECT_EQ(h.group("all"), (std::vector<std::string>{"10.0.0.1", "10.0.0.45"}));
  EXPECT_EQ(h.consumer->stats().rejected, 0u);
  EXPECT_EQ(h.source->stats().events, 5u);
  EXPECT_EQ(h.source->stats().lists, 1u);
  // Deleting a key nobody wrote a VM for changes nothing.
  const std::int64_t after = etcd->del(key("never-there"));
  etcd->put(key("e"), value(vm("e", 5, "10.0.0.5")));
  ASSERT_TRUE(h.poll_until([&] { return h.has("e"); }));
  EXPECT_GT(h.consumer->revision(), static_cast<std::uint64_t>(after));
}

TEST(EtcdSource, ResumesAfterEtcdRestarts) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1", {kWeb})));
  etcd->put(key("b"), value(vm("b", 2, "10.0.0.2", {kWeb})));
  Harness h(*etcd);
  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().watching; }));
  ASSERT_TRUE(h.consumer->in_sync());

  etcd->stop();
  // While etcd is down: errors, backoff, and the last known state stays.
  std::vector<std::string> errors;
  h.poll_until([&] { return h.source->stats().failures >= 3; }, &errors);
  EXPECT_GE(h.source->stats().failures, 3u);
  EXPECT_FALSE(errors.empty());
  EXPECT_FALSE(h.source->stats().watching);
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));

  ASSERT_TRUE(etcd->restart());
  etcd->del(key("a"));
  const std::int64_t last = etcd->put(key("c"), value(vm("c", 3, "10.0.0.3", {kWeb})));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(last); }));
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  // Resumed the watch where it stopped: no second listing was needed.
  EXPECT_EQ(h.source->stats().lists, 1u);
  EXPECT_GE(h.source->stats().watches, 2u);
  EXPECT_TRUE(h.consumer->in_sync());
  // b stayed throughout: it never left a group.
  for (const std::string& r : h.sink.removed) EXPECT_EQ(r.find("10.0.0.2"), std::string::npos) << r;
}

TEST(EtcdSource, CompactionPastTheWatchReListsWithMarkAndSweep) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1", {kWeb})));
  etcd->put(key("b"), value(vm("b", 2, "10.0.0.2", {kWeb})));
  etcd->put(key("c"), value(vm("c", 3, "10.0.0.3")));
  Harness h(*etcd);
  // One poll lists (a snapshot) and returns; the watch opens on the next.
  ASSERT_TRUE(h.source->poll(*h.consumer, std::chrono::milliseconds(50)).ok());
  ASSERT_TRUE(h.consumer->in_sync());
  ASSERT_EQ(h.source->stats().watches, 0u);

  // Behind the source's back: b is deleted, c tagged, d created, and the
  // history compacted past the revision the watch will ask for.
  etcd->del(key("b"));
  etcd->put(key("c"), value(vm("c", 3, "10.0.0.3", {kWeb})));
  etcd->put(key("d"), value(vm("d", 4, "10.0.0.4", {kWeb})));
  const std::int64_t now = etcd->revision();
  ASSERT_TRUE(etcd->etcdctl({"compact", std::to_string(now), "--physical"}));
  h.sink.removed.clear();

  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().lists == 2 && h.consumer->in_sync(); }));
  EXPECT_EQ(h.source->stats().compactions, 1u);
  EXPECT_EQ(h.consumer->stats().restarts, 1u);
  EXPECT_EQ(h.consumer->revision(), static_cast<std::uint64_t>(now));
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1", "10.0.0.3", "10.0.0.4"}));
  EXPECT_EQ(h.consumer->stats().swept_vms, 1u);
  // Only b's address left any group: a, c and d never flickered out.
  for (const std::string& r : h.sink.removed) EXPECT_NE(r.find("10.0.0.2"), std::string::npos) << r;
  EXPECT_FALSE(h.sink.removed.empty());

  // And the watch goes on from the new listing.
  const std::int64_t last = etcd->put(key("e"), value(vm("e", 5, "10.0.0.5")));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(last); }));
  EXPECT_TRUE(h.has("e"));
}

TEST(EtcdSource, CorruptValuesAreSkippedAndCounted) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1", {kWeb})));
  // Written by etcdctl, as an operator would by mistake.
  ASSERT_TRUE(etcd->etcdctl({"put", key("b"), "this is not a protobuf {{"}));
  etcd->put(key("c"), value(vm("x", 3, "10.0.0.3")));  // the value names another VM
  etcd->put(key("d"), value(vm("d", 4, "10.0.0.4", {kWeb})));
  Harness h(*etcd);
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->in_sync(); }));
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(h.source->stats().corrupt_values, 2u);
  EXPECT_NE(h.source->stats().last_error.message().find("vms/"), std::string::npos);

  // In the watch: a corrupt put leaves the VM as it was; the rest applies.
  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().watching; }));
  ASSERT_TRUE(etcd->etcdctl({"put", key("a"), "\x08garbage"}));
  etcd->del(key("b"));  // b never made it into the inventory
  const std::int64_t last = etcd->put(key("e"), value(vm("e", 5, "10.0.0.5", {kWeb})));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(last); }));
  EXPECT_EQ(h.source->stats().corrupt_values, 3u);
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "d", "e"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1", "10.0.0.4", "10.0.0.5"}));
  EXPECT_TRUE(h.consumer->in_sync());
  EXPECT_EQ(h.source->stats().lists, 1u);  // nothing forced a re-listing
}

TEST(EtcdSource, ATagWrittenToEtcdReachesTheGroups) {
  START_ETCD(etcd);
  etcd->put(key("web-01"), value(vm("web-01", 7, "192.0.2.7")));
  Harness h(*etcd);
  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().watching; }));
  EXPECT_TRUE(h.group("web").empty());

  const std::int64_t tagged = etcd->put(key("web-01"), value(vm("web-01", 7, "192.0.2.7", {kWeb})));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(tagged); }));
  ASSERT_TRUE(h.inventory->wait_realized(h.consumer->inventory_sequence(), std::chrono::seconds(1)).ok());
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"192.0.2.7"}));
  EXPECT_EQ(h.sink.sets["web"], (std::set<std::string>{"192.0.2.7"}));

  const std::int64_t untagged = etcd->put(key("web-01"), value(vm("web-01", 7, "192.0.2.7")));
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(untagged); }));
  EXPECT_TRUE(h.group("web").empty());
  EXPECT_TRUE(h.sink.sets["web"].empty());
}

TEST(EtcdSource, ATransactionChangingSeveralVmsIsReListed) {
  START_ETCD(etcd);
  etcd->put(key("a"), value(vm("a", 1, "10.0.0.1")));
  Harness h(*etcd);
  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().watching; }));
  // One revision, three VM keys: the consumer would skip the second and
  // third as replays of the first, so the source lists instead.
  const std::int64_t txn = etcd->put_all({{key("a"), value(vm("a", 1, "10.0.0.1", {kWeb}))},
                                          {key("b"), value(vm("b", 2, "10.0.0.2", {kWeb}))},
                                          {key("c"), value(vm("c", 3, "10.0.0.3", {kWeb}))}});
  ASSERT_TRUE(h.poll_until([&] { return h.source->stats().lists == 2 && h.consumer->in_sync(); }));
  EXPECT_EQ(h.consumer->revision(), static_cast<std::uint64_t>(txn));
  EXPECT_EQ(h.source->stats().shared_revisions, 1u);
  EXPECT_EQ(h.inventory->vm_ids(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(h.group("web"), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_TRUE(h.sink.removed.empty());
  // A transaction touching one VM is an ordinary delta.
  const std::int64_t single = etcd->put_all({{key("d"), value(vm("d", 4, "10.0.0.4"))},
                                             {std::string(kPrefix) + "meta/last-writer", "host-7"}});
  ASSERT_TRUE(h.poll_until([&] { return h.consumer->revision() == static_cast<std::uint64_t>(single); }));
  EXPECT_TRUE(h.has("d"));
  EXPECT_EQ(h.source->stats().lists, 2u);
}

}  // namespace
}  // namespace fw
