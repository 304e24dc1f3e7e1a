// Inventory batches (fw/inventory.h, InventoryBatch): several mutations, one
// sequence and one sink call at commit(); changes undone inside the batch
// never reach the sink; a refused call changes nothing and the others stand;
// a failing sink keeps the batch's deltas and hands them again merged.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "fw/inventory.h"
#include "group_helpers.h"

namespace fw {
namespace {

using namespace fw::test;

class InventoryBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inv_ = Inventory::create({.sink = &sink_}).value();
    ASSERT_TRUE(inv_->set_groups(policy_of({group("web", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"web"})}}),
                                            group("db", {{crit(CriterionKey::kTag, CriterionOperator::kEquals, {"db"})}})}))
                    .ok());
    for (int i = 1; i <= 3; ++i) {
      const std::string address = "10.0.0." + std::to_string(i);
      ASSERT_TRUE(inv_->upsert_vm({.id = "vm-" + std::to_string(i),
                                   .vnics = {{.id = static_cast<std::uint32_t>(i), .addresses = {ip(address.c_str())}}}})
                      .ok());
    }
    sink_.calls = 0;
    sink_.log.clear();
  }

  RecordingSink sink_;
  std::unique_ptr<Inventory> inv_;
};

TEST_F(InventoryBatchTest, ABatchIsOneSequenceAndOneSinkCall) {
  const std::uint64_t before = inv_->realization().sequence;
  InventoryBatch batch = inv_->batch();
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
  ASSERT_TRUE(batch.add_tag("vm-2", {"", "web"}).ok());
  ASSERT_TRUE(batch.add_tag("vm-3", {"", "db"}).ok());
  ASSERT_TRUE(batch.add_address(1, ip("10.0.1.1"), AddressSource::kLearned).ok());
  EXPECT_EQ(batch.pending(), 4u);
  // The inventory is changed already; the sink has seen nothing yet.
  EXPECT_EQ(inv_->group_vnics("web").value(), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(sink_.calls, 0);
  EXPECT_EQ(inv_->realization().sequence, before);

  const StatusOr<std::uint64_t> sequence = batch.commit();
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(*sequence, before + 1);
  EXPECT_EQ(batch.pending(), 0u);
  EXPECT_EQ(sink_.calls, 1);
  EXPECT_EQ(inv_->stats().sink_calls, 1u);
  EXPECT_TRUE(inv_->wait_realized(*sequence, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1", "10.0.1.1", "10.0.0.2"}));
  EXPECT_EQ(sink_.members("db"), (std::set<std::string>{"10.0.0.3"}));
  // One delta per group, its lists sorted.
  ASSERT_EQ(sink_.log.size(), 2u);
  const GroupDelta& web = sink_.log[0].group_id == "web" ? sink_.log[0] : sink_.log[1];
  ASSERT_EQ(web.added.size(), 3u);
  EXPECT_EQ(web.added[0], host("10.0.0.1/32"));
  EXPECT_EQ(web.added[1], host("10.0.0.2/32"));
  EXPECT_EQ(web.added[2], host("10.0.1.1/32"));
  EXPECT_EQ(web.vnics_joined, (std::vector<std::uint32_t>{1, 2}));

  // A commit with nothing accepted hands out nothing.
  EXPECT_EQ(batch.commit().value(), before + 1);
  EXPECT_EQ(inv_->realization().sequence, before + 1);
  EXPECT_EQ(sink_.calls, 1);
}

TEST_F(InventoryBatchTest, ChangesUndoneInsideTheBatchNeverReachTheSink) {
  ASSERT_TRUE(inv_->add_tag("vm-3", {"", "db"}).ok());
  sink_.log.clear();
  sink_.calls = 0;
  InventoryBatch batch = inv_->batch();
  // vm-1 joins web and leaves it again; an address of vm-3 (in db) goes and
  // comes back; vm-2 joins web and stays.
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
  ASSERT_TRUE(batch.add_address(1, ip("10.0.1.1"), AddressSource::kDeclared).ok());
  ASSERT_TRUE(batch.remove_tag("vm-1", {"", "web"}).ok());
  ASSERT_TRUE(batch.remove_address(3, ip("10.0.0.3"), AddressSource::kDeclared).ok());
  ASSERT_TRUE(batch.add_address(3, ip("10.0.0.3"), AddressSource::kDeclared).ok());
  ASSERT_TRUE(batch.add_tag("vm-2", {"", "web"}).ok());
  ASSERT_TRUE(batch.commit().ok());
  ASSERT_EQ(sink_.calls, 1);
  ASSERT_EQ(sink_.log.size(), 1u) << "db's address came back: no delta for db";
  const GroupDelta& d = sink_.log[0];
  EXPECT_EQ(d.group_id, "web");
  EXPECT_EQ(d.added, (std::vector<Cidr>{host("10.0.0.2/32")}));
  EXPECT_TRUE(d.removed.empty());
  EXPECT_EQ(d.vnics_joined, (std::vector<std::uint32_t>{2}));
  EXPECT_TRUE(d.vnics_left.empty());

  // A batch that undoes all it does calls the sink not at all, and is
  // realized at once.
  sink_.calls = 0;
  InventoryBatch undo = inv_->batch();
  ASSERT_TRUE(undo.remove_tag("vm-2", {"", "web"}).ok());
  ASSERT_TRUE(undo.add_tag("vm-2", {"", "web"}).ok());
  const std::uint64_t sequence = undo.commit().value();
  EXPECT_EQ(sink_.calls, 0);
  EXPECT_EQ(inv_->realization().realized, sequence);
}

TEST_F(InventoryBatchTest, ARefusedCallChangesNothingAndTheOthersStand) {
  InventoryBatch batch = inv_->batch();
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
  EXPECT_EQ(batch.add_tag("vm-9", {"", "web"}).code(), StatusCode::kNotFound);
  EXPECT_EQ(batch.add_tag("vm-2", {"", ""}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(batch.upsert_vm({.id = "vm-4", .vnics = {{.id = 1}}}).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(batch.add_tag("vm-3", {"", "web"}).ok());
  EXPECT_EQ(batch.pending(), 2u);
  ASSERT_TRUE(batch.commit().ok());
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1", "10.0.0.3"}));
  EXPECT_FALSE(inv_->vm("vm-4").has_value());
  EXPECT_TRUE(inv_->vm("vm-2")->tags.empty());
  EXPECT_EQ(inv_->realization().realized, inv_->realization().sequence);
}

TEST_F(InventoryBatchTest, AFailingSinkKeepsTheBatchAndARetryHandsItMerged) {
  sink_.fail_next = 1;
  InventoryBatch batch = inv_->batch();
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
  ASSERT_TRUE(batch.add_tag("vm-2", {"", "web"}).ok());
  const std::uint64_t failed = batch.commit().value();  // the sink fails: the commit does not
  EXPECT_EQ(inv_->realization().realized, failed - 1);
  EXPECT_EQ(inv_->realization().last_error.code(), StatusCode::kIoError);
  EXPECT_EQ(inv_->stats().sink_failures, 1u);
  EXPECT_TRUE(sink_.members("web").empty());

  // The next batch hands its own changes merged with the failed one's:
  // vm-1 left again (never sent), vm-3 joined.
  ASSERT_TRUE(batch.remove_tag("vm-1", {"", "web"}).ok());
  ASSERT_TRUE(batch.add_tag("vm-3", {"", "web"}).ok());
  sink_.log.clear();
  const std::uint64_t next = batch.commit().value();
  EXPECT_EQ(inv_->realization().realized, next);
  EXPECT_TRUE(inv_->realization().last_error.ok());
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.2", "10.0.0.3"}));
  ASSERT_EQ(sink_.log.size(), 1u);
  EXPECT_EQ(sink_.log[0].vnics_joined, (std::vector<std::uint32_t>{2, 3}));

  // retry_sink() also hands a failed batch again.
  sink_.fail_next = 1;
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "db"}).ok());
  const std::uint64_t third = batch.commit().value();
  EXPECT_EQ(inv_->realization().realized, next);
  ASSERT_TRUE(inv_->retry_sink().ok());
  EXPECT_EQ(inv_->realization().realized, third);
  EXPECT_EQ(sink_.members("db"), (std::set<std::string>{"10.0.0.1"}));
}

TEST_F(InventoryBatchTest, ABatchLeftUncommittedCommitsWhenDestroyed) {
  const std::uint64_t before = inv_->realization().sequence;
  {
    InventoryBatch batch = inv_->batch();
    ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
    InventoryBatch moved = std::move(batch);  // the moved-from batch commits nothing
    EXPECT_EQ(batch.commit().status().code(), StatusCode::kFailedPrecondition);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.pending(), 1u);
  }
  EXPECT_EQ(inv_->realization().sequence, before + 1);
  EXPECT_EQ(inv_->realization().realized, before + 1);
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1"}));
}

TEST_F(InventoryBatchTest, AMutationOfAnotherCallerHandsTheBatchSoFar) {
  InventoryBatch batch = inv_->batch();
  ASSERT_TRUE(batch.add_tag("vm-1", {"", "web"}).ok());
  // A mutation outside the batch commits everything pending, the batch's
  // call included, under its own sequence.
  const std::uint64_t other = inv_->add_tag("vm-2", {"", "web"}).value();
  EXPECT_EQ(inv_->realization().realized, other);
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  ASSERT_TRUE(batch.add_tag("vm-3", {"", "web"}).ok());
  const std::uint64_t mine = batch.commit().value();
  EXPECT_EQ(mine, other + 1);
  EXPECT_EQ(inv_->realization().realized, mine);
  EXPECT_EQ(sink_.members("web"), (std::set<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

}  // namespace
}  // namespace fw
