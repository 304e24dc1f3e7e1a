// The feed consumer's contract (fw/feed.h): in sync only after a whole
// snapshot, deltas in revision order, duplicates and replays idempotent,
// gaps and refused messages make it wait for a snapshot without clearing
// anything, a resync is mark-and-sweep with no hole in enforcement.
#include <gtest/gtest.h>

#include "feed_helpers.h"
#include "fw/feed.h"

namespace fw {
namespace {

using namespace fw::test;

class FeedConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inventory_ = Inventory::create({.sink = &sink_}).value();
    ASSERT_TRUE(inventory_->set_groups(web_policy()).ok());
    consumer_ = FeedConsumer::create(*inventory_).value();
  }
  void ok(const FeedEvent& e) {
    Status s = consumer_->apply(e);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  // A snapshot at revision r of VMs a (web), b (web), c (untagged).
  void snapshot(std::uint64_t r) {
    ok(begin(r));
    ok(upsert(r, vm("a", 1, "10.0.0.1", {{"", "web"}})));
    ok(upsert(r, vm("b", 2, "10.0.0.2", {{"", "web"}})));
    ok(upsert(r, vm("c", 3, "10.0.0.3")));
    ok(end(r));
  }
  std::set<std::string> web() { return sink_.sets["web"]; }

  MirrorSink sink_;
  std::unique_ptr<Inventory> inventory_;
  std::unique_ptr<FeedConsumer> consumer_;
};

TEST_F(FeedConsumerTest, NotInSyncUntilTheSnapshotEndsAndDeltasBeforeItAreIgnored) {
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  ok(tag_add(3, "a", {"", "web"}));  // no snapshot yet
  EXPECT_EQ(consumer_->stats().ignored, 1u);
  ok(begin(10));
  EXPECT_EQ(consumer_->state(), FeedState::kInSnapshot);
  EXPECT_FALSE(consumer_->in_sync());
  ok(upsert(10, vm("a", 1, "10.0.0.1", {{"", "web"}})));
  EXPECT_FALSE(consumer_->in_sync());
  ok(end(10));
  EXPECT_TRUE(consumer_->in_sync());
  EXPECT_EQ(consumer_->revision(), 10u);
  EXPECT_EQ(web(), std::set<std::string>{"10.0.0.1"});
  EXPECT_TRUE(inventory_->wait_realized(consumer_->inventory_sequence(), std::chrono::milliseconds(0)).ok());
}

TEST_F(FeedConsumerTest, DeltasApplyInOrderAndDuplicatesAndReplaysAreIdempotent) {
  snapshot(10);
  const std::vector<FeedEvent> deltas = {tag_remove(11, "a", {"", "web"}), tag_add(12, "c", {"", "web"}),
                                         address_add(13, 3, ip("10.0.0.33")), remove(14, "b")};
  for (const FeedEvent& e : deltas) ok(e);
  const std::set<std::string> expected = {"10.0.0.3", "10.0.0.33"};
  EXPECT_EQ(web(), expected);
  // Every delta again, twice, and the whole stream replayed from the start.
  for (int k = 0; k < 2; ++k)
    for (const FeedEvent& e : deltas) ok(e);
  EXPECT_EQ(consumer_->stats().duplicates, 8u);
  EXPECT_EQ(consumer_->revision(), 14u);
  EXPECT_EQ(web(), expected);
  EXPECT_EQ(inventory_->vm_ids(), (std::vector<std::string>{"a", "c"}));
  EXPECT_TRUE(consumer_->in_sync());
}

TEST_F(FeedConsumerTest, AGapWaitsForASnapshotAndTheResyncIsMarkAndSweep) {
  snapshot(10);
  ok(tag_add(11, "c", {"", "web"}));
  ok(tag_add(13, "c", {"", "other"}));  // 12 is missing
  EXPECT_EQ(consumer_->stats().gaps, 1u);
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  EXPECT_EQ(consumer_->last_error().code(), StatusCode::kFailedPrecondition);
  // Deltas are not applied while waiting; the last known state stays in force.
  ok(tag_remove(14, "a", {"", "web"}));
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(inventory_->vm_count(), 3u);

  // The re-list at 20: a is gone, b stays web, c lost its tag, d is new.
  sink_.removed.clear();
  ok(begin(20));
  ok(upsert(20, vm("b", 2, "10.0.0.2", {{"", "web"}})));
  ok(upsert(20, vm("c", 3, "10.0.0.3")));
  ok(upsert(20, vm("d", 4, "10.0.0.4", {{"", "web"}})));
  // Mid-resync, a VM not yet re-listed is still enforced: no hole.
  EXPECT_TRUE(web().contains("10.0.0.1"));
  ok(end(20));
  EXPECT_TRUE(consumer_->in_sync());
  EXPECT_EQ(consumer_->stats().swept_vms, 1u);
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.2", "10.0.0.4"}));
  EXPECT_EQ(inventory_->vm_ids(), (std::vector<std::string>{"b", "c", "d"}));
  // Only what really left was ever removed: b's address never blinked.
  EXPECT_EQ(sink_.removed, (std::vector<std::string>{"web 10.0.0.3", "web 10.0.0.1"}));
  ok(tag_add(21, "c", {"", "web"}));
  EXPECT_TRUE(web().contains("10.0.0.3"));
}

TEST_F(FeedConsumerTest, RefusedMessagesAreCountedAndLeaveTheStateAsItWas) {
  snapshot(10);
  const auto before = web();
  // Undecodable bytes.
  EXPECT_FALSE(consumer_->apply_message("\xff\x01garbage").ok());
  EXPECT_EQ(consumer_->stats().rejected, 1u);
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot) << "a lost message may have been a change";
  snapshot(11);
  // Decodable but not applicable: a tag on an unknown VM, a VM over the
  // inventory's limits.
  Status s = consumer_->apply(tag_add(12, "nope", {"", "web"}));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("revision 12 tag_add"), std::string::npos) << s.message();
  snapshot(12);
  VmSpec too_many_tags = vm("a", 1, "10.0.0.1");
  for (int i = 0; i < 200; ++i) too_many_tags.tags.push_back({"", "t" + std::to_string(i)});
  EXPECT_EQ(consumer_->apply(upsert(13, too_many_tags)).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(consumer_->stats().rejected, 3u);
  EXPECT_EQ(web(), before);
  EXPECT_EQ(inventory_->vm_count(), 3u);
  EXPECT_EQ(consumer_->revision(), 12u) << "a refused delta does not move the revision";
}

TEST_F(FeedConsumerTest, SnapshotsOutOfPlaceAreRefused) {
  snapshot(10);
  // Older than what is applied.
  EXPECT_EQ(consumer_->apply(begin(9)).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(consumer_->in_sync()) << "a stale snapshot changes nothing";
  // An end without a begin.
  EXPECT_FALSE(consumer_->apply(end(11)).ok());
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  // Inside a snapshot: another revision, or a delta, abandon it without a sweep.
  ok(begin(30));
  EXPECT_FALSE(consumer_->apply(upsert(31, vm("x", 9, "10.0.0.9"))).ok());
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  ok(begin(30));
  EXPECT_FALSE(consumer_->apply(tag_add(30, "a", {"", "x"})).ok());
  EXPECT_EQ(inventory_->vm_count(), 3u);
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  // A restarted listing (begin again) starts the marks again.
  ok(begin(30));
  ok(upsert(30, vm("a", 1, "10.0.0.1")));
  ok(begin(31));
  ok(upsert(31, vm("b", 2, "10.0.0.2", {{"", "web"}})));
  ok(end(31));
  EXPECT_EQ(inventory_->vm_ids(), std::vector<std::string>{"b"});
}

TEST_F(FeedConsumerTest, AvNicListedUnderAnotherVmMovesToIt) {
  snapshot(10);
  // The re-list names vNIC 1's new owner before its old one: no deadlock.
  ok(begin(11));
  ok(upsert(11, vm("d", 1, "10.0.0.1")));
  ok(upsert(11, VmSpec{.id = "a", .tags = {{"", "web"}}}));
  ok(upsert(11, vm("b", 2, "10.0.0.2", {{"", "web"}})));
  ok(upsert(11, vm("c", 3, "10.0.0.3")));
  ok(end(11));
  EXPECT_TRUE(consumer_->in_sync());
  EXPECT_EQ(inventory_->vm("d")->vnics.size(), 1u);
  EXPECT_TRUE(inventory_->vm("a")->vnics.empty());
  EXPECT_EQ(web(), std::set<std::string>{"10.0.0.2"}) << "vNIC 1 left web with its old VM";
  // As a delta too.
  ok(upsert(12, vm("a", 1, "10.0.0.1", {{"", "web"}})));
  EXPECT_TRUE(inventory_->vm("d")->vnics.empty());
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST_F(FeedConsumerTest, RestartKeepsStateAndWaitsForASnapshot) {
  snapshot(10);
  consumer_->restart("reconnected");
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  EXPECT_EQ(consumer_->stats().restarts, 1u);
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  ok(tag_add(11, "c", {"", "web"}));
  EXPECT_FALSE(web().contains("10.0.0.3"));
  snapshot(11);
  EXPECT_TRUE(consumer_->in_sync());
}

TEST_F(FeedConsumerTest, RevisionsThatOnlyIncreaseAreAcceptedWhenNotConsecutive) {
  auto etcd_like = FeedConsumer::create(*inventory_, {.consecutive_revisions = false}).value();
  ASSERT_TRUE(etcd_like->apply(begin(100)).ok());
  ASSERT_TRUE(etcd_like->apply(upsert(100, vm("a", 1, "10.0.0.1"))).ok());
  ASSERT_TRUE(etcd_like->apply(end(100)).ok());
  ASSERT_TRUE(etcd_like->apply(tag_add(105, "a", {"", "web"})).ok());
  ASSERT_TRUE(etcd_like->apply(tag_add(103, "a", {"", "x"})).ok());  // older: a duplicate
  EXPECT_TRUE(etcd_like->in_sync());
  EXPECT_EQ(etcd_like->stats().gaps, 0u);
  EXPECT_EQ(etcd_like->stats().duplicates, 1u);
  const std::vector<Tag> only_web = {{"", "web"}};
  EXPECT_EQ(inventory_->vm("a")->tags, only_web);
}

}  // namespace
}  // namespace fw
