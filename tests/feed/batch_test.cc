// Batches of feed messages (FeedConsumer::apply_messages / apply_events):
// the consumer's contract message by message, one inventory change and one
// sink call per batch. A bad message in the middle, duplicates and gaps
// inside a batch, a failing sink, and the stream source handing each read
// over as one batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "feed_helpers.h"
#include "fw/feed.h"

namespace fw {
namespace {

using namespace fw::test;

// MirrorSink that counts its calls and can be made to fail.
class CountingSink : public MirrorSink {
 public:
  Status apply(std::span<const GroupDelta> deltas) override {
    ++calls;
    if (fail) return io_error("sink is down");
    return MirrorSink::apply(deltas);
  }
  int calls = 0;
  bool fail = false;
};

class FeedBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inventory_ = Inventory::create({.sink = &sink_}).value();
    ASSERT_TRUE(inventory_->set_groups(web_policy()).ok());
    consumer_ = FeedConsumer::create(*inventory_).value();
    // A snapshot at revision 10 of VMs a, b, c (untagged), as one batch.
    const std::vector<FeedEvent> listing = {begin(10), upsert(10, vm("a", 1, "10.0.0.1")),
                                            upsert(10, vm("b", 2, "10.0.0.2")), upsert(10, vm("c", 3, "10.0.0.3")),
                                            end(10)};
    ASSERT_TRUE(consumer_->apply_events(listing).ok());
    ASSERT_TRUE(consumer_->in_sync());
    sink_.calls = 0;
  }
  // Applies encoded messages as one batch; the per-message statuses.
  std::vector<Status> batch(const std::vector<std::string>& bodies, Status* returned = nullptr) {
    const std::vector<std::string_view> views(bodies.begin(), bodies.end());
    std::vector<Status> results(bodies.size());
    Status s = consumer_->apply_messages(views, results);
    if (returned != nullptr) *returned = s;
    return results;
  }
  std::set<std::string> web() { return sink_.sets["web"]; }
  bool realized() {
    return inventory_->wait_realized(consumer_->inventory_sequence(), std::chrono::milliseconds(0)).ok();
  }

  CountingSink sink_;
  std::unique_ptr<Inventory> inventory_;
  std::unique_ptr<FeedConsumer> consumer_;
};

TEST_F(FeedBatchTest, ABatchIsOneInventoryChangeAndOneSinkCall) {
  const std::uint64_t sequence_before = inventory_->realization().sequence;
  const std::vector<Status> results =
      batch({encode_feed_message(tag_add(11, "a", {"", "web"})), encode_feed_message(tag_add(12, "b", {"", "web"})),
             encode_feed_message(address_add(13, 2, ip("10.0.0.22"))), encode_feed_message(tag_add(14, "c", {"", "web"})),
             encode_feed_message(tag_remove(15, "c", {"", "web"}))});
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_EQ(inventory_->realization().sequence, sequence_before + 1);
  EXPECT_EQ(consumer_->inventory_sequence(), sequence_before + 1);
  EXPECT_TRUE(realized());
  EXPECT_EQ(consumer_->revision(), 15u);
  EXPECT_EQ(consumer_->stats().applied, 5u + 5u);  // + the listing's
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.22"}));
  EXPECT_TRUE(sink_.removed.empty()) << "c joined and left inside the batch: never sent";
}

TEST_F(FeedBatchTest, ABadMessageInTheMiddleIsRejectedAndTheStateBeforeItStays) {
  const std::uint64_t sequence_before = inventory_->realization().sequence;
  Status returned;
  const std::vector<Status> results = batch({encode_feed_message(tag_add(11, "a", {"", "web"})),
                                             "\x08\x0c garbage",  // revision 12, then junk
                                             encode_feed_message(tag_add(12, "b", {"", "web"})),
                                             encode_feed_message(tag_add(13, "c", {"", "web"}))},
                                            &returned);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[2].ok()) << "ignored while waiting for a snapshot, as alone";
  EXPECT_TRUE(results[3].ok());
  EXPECT_EQ(returned.to_string(), results[1].to_string()) << "the first refusal";
  EXPECT_EQ(consumer_->last_error().to_string(), results[1].to_string());
  // The message before it is applied and realized, in one sink call; the
  // deltas after it wait for a snapshot.
  EXPECT_EQ(web(), std::set<std::string>{"10.0.0.1"});
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_EQ(inventory_->realization().sequence, sequence_before + 1);
  EXPECT_TRUE(realized());
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  EXPECT_EQ(consumer_->revision(), 11u);
  EXPECT_EQ(consumer_->stats().rejected, 1u);
  EXPECT_EQ(consumer_->stats().ignored, 2u);
  EXPECT_TRUE(inventory_->vm("b")->tags.empty());

  // A snapshot later in a batch resyncs, and what follows it applies.
  sink_.calls = 0;
  const std::vector<Status> resync =
      batch({encode_feed_message(tag_add(14, "b", {"", "web"})),  // still waiting: ignored
             encode_feed_message(begin(20)), encode_feed_message(upsert(20, vm("a", 1, "10.0.0.1", {{"", "web"}}))),
             encode_feed_message(upsert(20, vm("b", 2, "10.0.0.2"))), encode_feed_message(end(20)),
             encode_feed_message(tag_add(21, "b", {"", "web"}))});
  for (const Status& s : resync) EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(consumer_->in_sync());
  EXPECT_EQ(consumer_->revision(), 21u);
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_FALSE(inventory_->vm("c").has_value()) << "swept: the listing did not name it";
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_TRUE(sink_.removed.empty()) << "a resync never removes what stays";
  EXPECT_TRUE(realized());
}

TEST_F(FeedBatchTest, ARefusedChangeInTheMiddleLeavesTheInventoryAsBeforeIt) {
  Status returned;
  const std::vector<Status> results = batch({encode_feed_message(tag_add(11, "a", {"", "web"})),
                                             encode_feed_message(tag_add(12, "nobody", {"", "web"})),
                                             encode_feed_message(tag_add(13, "b", {"", "web"}))},
                                            &returned);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].code(), StatusCode::kNotFound);
  EXPECT_EQ(returned.code(), StatusCode::kNotFound);
  EXPECT_EQ(web(), std::set<std::string>{"10.0.0.1"});
  EXPECT_FALSE(inventory_->vm("nobody").has_value());
  EXPECT_EQ(consumer_->revision(), 11u);
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  EXPECT_TRUE(realized());
}

TEST_F(FeedBatchTest, DuplicatesAndGapsInsideABatch) {
  const std::vector<Status> results = batch({encode_feed_message(tag_add(11, "a", {"", "web"})),
                                             encode_feed_message(tag_add(11, "a", {"", "web"})),       // duplicate
                                             encode_feed_message(tag_remove(9, "a", {"", "web"})),     // replay
                                             encode_feed_message(tag_add(12, "b", {"", "web"})),
                                             encode_feed_message(tag_add(14, "c", {"", "web"})),       // gap
                                             encode_feed_message(tag_remove(15, "a", {"", "web"}))});  // ignored
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.to_string();
  const FeedStats stats = consumer_->stats();
  EXPECT_EQ(stats.duplicates, 2u);
  EXPECT_EQ(stats.gaps, 1u);
  EXPECT_EQ(stats.ignored, 1u);
  EXPECT_EQ(consumer_->revision(), 12u);
  EXPECT_EQ(consumer_->state(), FeedState::kWaitingForSnapshot);
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_TRUE(realized());

  // A batch of nothing but duplicates changes nothing and numbers nothing.
  const std::uint64_t sequence = inventory_->realization().sequence;
  ASSERT_TRUE(consumer_->apply_events(std::vector<FeedEvent>{begin(30), upsert(30, vm("a", 1, "10.0.0.1",
                                                                                        {{"", "web"}})),
                                                             upsert(30, vm("b", 2, "10.0.0.2", {{"", "web"}})),
                                                             upsert(30, vm("c", 3, "10.0.0.3")), end(30)})
                  .ok());
  EXPECT_EQ(inventory_->realization().sequence, sequence + 1) << "the resync's upserts are one change";
  sink_.calls = 0;
  ASSERT_TRUE(consumer_->apply_events(std::vector<FeedEvent>{tag_add(29, "c", {"", "web"}), tag_add(30, "c", {"", "web"})})
                  .ok());
  EXPECT_EQ(inventory_->realization().sequence, sequence + 1);
  EXPECT_EQ(sink_.calls, 0);
}

TEST_F(FeedBatchTest, ABatchWhoseSinkCallFailsIsHandedAgainMerged) {
  sink_.fail = true;
  ASSERT_TRUE(consumer_->apply_events(std::vector<FeedEvent>{tag_add(11, "a", {"", "web"}),
                                                             tag_add(12, "b", {"", "web"})})
                  .ok())
      << "the inventory changed: the messages are applied";
  EXPECT_EQ(consumer_->revision(), 12u);
  EXPECT_FALSE(realized());
  EXPECT_EQ(inventory_->realization().last_error.code(), StatusCode::kIoError);
  EXPECT_TRUE(web().empty());
  // The next batch hands both batches' changes in one call, merged: b left
  // again (never sent), c joined.
  sink_.fail = false;
  sink_.calls = 0;
  ASSERT_TRUE(consumer_->apply_events(std::vector<FeedEvent>{tag_remove(13, "b", {"", "web"}),
                                                             tag_add(14, "c", {"", "web"})})
                  .ok());
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_TRUE(realized());
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.1", "10.0.0.3"}));
  EXPECT_TRUE(sink_.removed.empty());
  // Or retry_sink() alone.
  sink_.fail = true;
  ASSERT_TRUE(consumer_->apply_events(std::vector<FeedEvent>{tag_remove(15, "a", {"", "web"})}).ok());
  EXPECT_FALSE(realized());
  sink_.fail = false;
  ASSERT_TRUE(inventory_->retry_sink().ok());
  EXPECT_TRUE(realized());
  EXPECT_EQ(web(), (std::set<std::string>{"10.0.0.3"}));
}

TEST_F(FeedBatchTest, ResultsOfTheWrongSizeApplyNothing) {
  const std::vector<FeedEvent> events = {tag_add(11, "a", {"", "web"}), tag_add(12, "b", {"", "web"})};
  std::vector<Status> results(1);
  EXPECT_EQ(consumer_->apply_events(events, results).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(consumer_->revision(), 10u);
  EXPECT_EQ(consumer_->stats().messages, 5u);
  // An empty batch does nothing either.
  EXPECT_TRUE(consumer_->apply_messages({}).ok());
  EXPECT_EQ(sink_.calls, 0);
}

TEST(StreamSourceBatches, EachReadIsHandedOverAsOneBatch) {
  CountingSink sink;
  auto inventory = Inventory::create({.sink = &sink}).value();
  ASSERT_TRUE(inventory->set_groups(web_policy()).ok());
  auto consumer = FeedConsumer::create(*inventory).value();
  // A file: a snapshot of 50 VMs and 200 tag changes, all in one read.
  char path[] = "/tmp/fw_feed_batch_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string bytes = encode_feed_frame(begin(1));
  for (int i = 0; i < 50; ++i)
    bytes += encode_feed_frame(upsert(1, vm("vm" + std::to_string(i), static_cast<std::uint32_t>(i + 1),
                                           ("10.0.0." + std::to_string(i + 1)).c_str())));
  bytes += encode_feed_frame(end(1));
  for (int r = 2; r < 202; ++r)
    bytes += encode_feed_frame(r % 2 == 0 ? tag_add(r, "vm" + std::to_string(r % 50), {"", "web"})
                                          : tag_remove(r, "vm" + std::to_string((r - 1) % 50), {"", "web"}));
  bytes += encode_feed_frame(tag_add(202, "vm7", {"", "web"}));
  ASSERT_LT(bytes.size(), 64u * 1024u) << "one read of the source";
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  auto source = open_stream_source(path).value();
  StatusOr<PollResult> polled = source->poll(*consumer, std::chrono::milliseconds(1000));
  ASSERT_TRUE(polled.ok()) << polled.status().to_string();
  EXPECT_EQ(polled->messages, 253u);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(consumer->revision(), 202u);
  EXPECT_EQ(sink.calls, 1) << "one read, one batch, one sink call";
  EXPECT_EQ(sink.sets["web"], std::set<std::string>{"10.0.0.8"});
  EXPECT_TRUE(sink.removed.empty());
  EXPECT_TRUE(inventory->wait_realized(consumer->inventory_sequence(), std::chrono::milliseconds(0)).ok());
  ::unlink(path);
}

}  // namespace
}  // namespace fw
