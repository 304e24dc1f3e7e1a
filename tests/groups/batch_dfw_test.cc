// Batched feed messages through the DFW (FeedConsumer::apply_messages ->
// InventoryBatch -> the DFW sink -> an Engine): a batch is live for the next
// packet, and any stream of changes cut into batches of any size leaves the
// same groups and the same verdicts as the same stream applied one message
// at a time.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/feed.h"
#include "fw/inventory.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::PacketBuilder;

constexpr std::uint32_t kObserver = 1;  // the vNIC packets from the VMs arrive on
constexpr int kVms = 8;
constexpr int kTiers = 4;
constexpr std::uint32_t kDefaultRule = 9999;

std::string vm_id(int i) { return "vm-" + std::to_string(i); }
std::string vm_address(int i) { return "10.0.0." + std::to_string(i + 1); }
std::string extra_address(int i) { return "10.0.1." + std::to_string(i + 1); }
Tag tier(int k) { return Tag{.scope = "tier", .value = "t" + std::to_string(k)}; }

// Groups t0..t3 select tier=tK; "front" nests t0 and t1 but excludes vm-5.
// Rule 100+K allows group tK to TCP port 1000+K; rule 200 allows front to
// port 2000; everything else hits the default rule (drop).
Policy tier_policy() {
  Policy p;
  Section s;
  s.id = "app";
  for (int k = 0; k < kTiers; ++k) {
    Group g;
    g.id = "t" + std::to_string(k);
    g.criteria = {CriteriaExpression{.all_of = {Criterion{.key = CriterionKey::kTag,
                                                          .op = CriterionOperator::kEquals,
                                                          .scope = "tier",
                                                          .values = {tier(k).value}}}}};
    p.groups.push_back(g);
    Rule r;
    r.id = static_cast<std::uint32_t>(100 + k);
    r.sources.groups = {g.id};
    r.inline_services = {ServiceEntry{.protocol = kIpProtoTcp,
                                      .dst_ports = {PortRange{static_cast<std::uint16_t>(1000 + k),
                                                              static_cast<std::uint16_t>(1000 + k)}}}};
    s.rules.push_back(r);
  }
  Group front;
  front.id = "front";
  front.groups = {"t0", "t1"};
  front.exclude_vm_ids = {vm_id(5)};
  p.groups.push_back(front);
  Rule r;
  r.id = 200;
  r.sources.groups = {"front"};
  r.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{2000, 2000}}}};
  s.rules.push_back(r);
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = kDefaultRule;
  return p;
}

// One engine, DFW, inventory and consumer.
struct Stack {
  Stack() {
    engine = Engine::create({.max_workers = 1}).value();
    EXPECT_TRUE(engine->attach_vnic({.id = kObserver, .mac = MacAddress::from_u64(0x020000000001)}).ok());
    worker = engine->create_worker().value();
    dfw = Dfw::create(*engine, {.stateful = false}).value();
    const Policy policy = tier_policy();
    EXPECT_TRUE(dfw->apply(policy, {kObserver}).ok());
    sink = make_dfw_group_sink(*dfw);
    inventory = Inventory::create({.sink = sink.get()}).value();
    EXPECT_TRUE(inventory->set_groups(policy).ok());
    consumer = FeedConsumer::create(*inventory).value();
  }
  // The rule deciding a TCP SYN from `src` to `port`.
  std::uint32_t rule_for(const std::string& src, std::uint16_t port) {
    const test::Bytes frame = PacketBuilder()
                                  .eth("02:00:00:00:00:09", "02:00:00:00:00:01")
                                  .ipv4(src, "10.255.0.1")
                                  .tcp(next_port++, port, kTcpSyn)
                                  .build();
    const Frame f(frame);
    Verdict v;
    engine->process(*worker, kObserver, Direction::kToVm, std::span(&f, 1), std::span(&v, 1));
    EXPECT_EQ(v.slot, kSlotDfw);
    return v.rule_id;
  }
  // Every VM address (and extra address) against every rule's port.
  std::vector<std::uint32_t> verdicts() {
    std::vector<std::uint32_t> out;
    for (int i = 0; i < kVms; ++i)
      for (const std::string& a : {vm_address(i), extra_address(i)})
        for (std::uint16_t port : {1000, 1001, 1002, 1003, 2000}) out.push_back(rule_for(a, port));
    return out;
  }

  std::unique_ptr<Engine> engine;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Dfw> dfw;
  std::unique_ptr<GroupSink> sink;
  std::unique_ptr<Inventory> inventory;
  std::unique_ptr<FeedConsumer> consumer;
  std::uint16_t next_port = 40000;
};

std::string message(FeedEvent e) { return encode_feed_message(e); }

// A snapshot at revision 1 of kVms VMs, vm-i with tier t(i mod 4).
std::vector<std::string> snapshot() {
  std::vector<std::string> out = {message({.revision = 1, .kind = FeedEventKind::kSnapshotBegin})};
  for (int i = 0; i < kVms; ++i)
    out.push_back(message({.revision = 1,
                           .kind = FeedEventKind::kVmUpsert,
                           .vm = VmSpec{.id = vm_id(i),
                                        .tags = {tier(i % kTiers)},
                                        .vnics = {VnicSpec{.id = static_cast<std::uint32_t>(10 + i),
                                                           .addresses = {parse_ip(vm_address(i)).value()}}}}}));
  out.push_back(message({.revision = 1, .kind = FeedEventKind::kSnapshotEnd}));
  return out;
}

TEST(BatchThroughTheDfw, ABatchIsLiveForTheNextPacket) {
  Stack stack;
  const std::vector<std::string> listing = snapshot();
  const std::vector<std::string_view> views(listing.begin(), listing.end());
  ASSERT_TRUE(stack.consumer->apply_messages(views).ok()) << stack.consumer->last_error().to_string();
  ASSERT_TRUE(stack.consumer->in_sync());
  EXPECT_EQ(stack.inventory->realization().realized, stack.consumer->inventory_sequence());
  EXPECT_EQ(stack.rule_for(vm_address(2), 1002), 102u);
  EXPECT_EQ(stack.rule_for(vm_address(2), 1003), kDefaultRule);

  // One batch: vm-2 gains t3, gets an extra address, and vm-0 leaves t0 and
  // comes back (never sent to the DFW); vm-1 moves from t1 to t2.
  const std::vector<std::string> burst = {
      message({.revision = 2, .kind = FeedEventKind::kTagAdd, .vm_id = vm_id(2), .tag = tier(3)}),
      message({.revision = 3, .kind = FeedEventKind::kAddressAdd, .vnic_id = 12,
               .address = parse_ip(extra_address(2)).value()}),
      message({.revision = 4, .kind = FeedEventKind::kTagRemove, .vm_id = vm_id(0), .tag = tier(0)}),
      message({.revision = 5, .kind = FeedEventKind::kTagAdd, .vm_id = vm_id(0), .tag = tier(0)}),
      message({.revision = 6, .kind = FeedEventKind::kTagRemove, .vm_id = vm_id(1), .tag = tier(1)}),
      message({.revision = 7, .kind = FeedEventKind::kTagAdd, .vm_id = vm_id(1), .tag = tier(2)}),
  };
  const std::vector<std::string_view> burst_views(burst.begin(), burst.end());
  const std::uint64_t calls_before = stack.inventory->stats().sink_calls;
  ASSERT_TRUE(stack.consumer->apply_messages(burst_views).ok()) << stack.consumer->last_error().to_string();
  EXPECT_EQ(stack.inventory->stats().sink_calls, calls_before + 1);
  EXPECT_EQ(stack.consumer->revision(), 7u);
  ASSERT_TRUE(stack.inventory->wait_realized(stack.consumer->inventory_sequence(), std::chrono::milliseconds(0)).ok());
  // The next packets see the whole batch.
  EXPECT_EQ(stack.rule_for(vm_address(2), 1003), 103u);
  EXPECT_EQ(stack.rule_for(extra_address(2), 1003), 103u);
  EXPECT_EQ(stack.rule_for(extra_address(2), 1002), 102u);
  EXPECT_EQ(stack.rule_for(vm_address(0), 1000), 100u);
  EXPECT_EQ(stack.rule_for(vm_address(0), 2000), 200u);
  EXPECT_EQ(stack.rule_for(vm_address(1), 1001), kDefaultRule);
  EXPECT_EQ(stack.rule_for(vm_address(1), 2000), kDefaultRule);
  EXPECT_EQ(stack.rule_for(vm_address(1), 1002), 102u);
}

TEST(BatchThroughTheDfw, AnyCutIntoBatchesGivesTheSameGroupsAndVerdictsAsOneByOne) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 random(seed);
    // A stream of random changes with duplicates, gaps (which need a
    // resync), undecodable messages and refusals (unknown VMs).
    std::vector<std::string> stream = snapshot();
    std::uint64_t revision = 1;
    // A resync: a listing of the VMs again, with other tiers; a VM left out
    // now and then is swept (and refused until a later listing has it).
    auto resync = [&] {
      ++revision;
      stream.push_back(message({.revision = revision, .kind = FeedEventKind::kSnapshotBegin}));
      for (int i = 0; i < kVms; ++i)
        if (random() % 16 != 0)
          stream.push_back(message({.revision = revision,
                                    .kind = FeedEventKind::kVmUpsert,
                                    .vm = VmSpec{.id = vm_id(i),
                                                 .tags = {tier(static_cast<int>(random() % kTiers))},
                                                 .vnics = {VnicSpec{.id = static_cast<std::uint32_t>(10 + i),
                                                                    .addresses = {parse_ip(vm_address(i)).value()}}}}}));
      stream.push_back(message({.revision = revision, .kind = FeedEventKind::kSnapshotEnd}));
    };
    for (int n = 0; n < 300; ++n) {
      const int vm = static_cast<int>(random() % kVms);
      const int what = static_cast<int>(random() % 100);
      FeedEvent e{.revision = revision + 1};
      if (what < 35) {
        e.kind = FeedEventKind::kTagAdd;
        e.vm_id = vm_id(vm);
        e.tag = tier(static_cast<int>(random() % kTiers));
      } else if (what < 70) {
        e.kind = FeedEventKind::kTagRemove;
        e.vm_id = vm_id(vm);
        e.tag = tier(static_cast<int>(random() % kTiers));
      } else if (what < 80) {
        e.kind = FeedEventKind::kAddressAdd;
        e.vnic_id = static_cast<std::uint32_t>(10 + vm);
        e.address = parse_ip(extra_address(vm)).value();
      } else if (what < 90) {
        e.kind = FeedEventKind::kAddressRemove;
        e.vnic_id = static_cast<std::uint32_t>(10 + vm);
        e.address = parse_ip(extra_address(vm)).value();
      } else if (what < 96) {
        e.kind = FeedEventKind::kTagAdd;  // a duplicate: an old revision
        e.revision = revision;
        e.vm_id = vm_id(vm);
        e.tag = tier(0);
        stream.push_back(message(e));
        continue;
      } else if (what < 97) {
        // Undecodable; the deltas after it are ignored until a resync.
        stream.push_back("\xff\xff not protobuf");
        if (random() % 2 == 0) stream.push_back(message({.revision = revision + 1, .kind = FeedEventKind::kTagAdd,
                                                          .vm_id = vm_id(vm), .tag = tier(2)}));
        resync();
        continue;
      } else if (what < 98) {
        // An unknown VM: refused.
        e.kind = FeedEventKind::kTagAdd;
        e.vm_id = "vm-unknown";
        e.tag = tier(1);
        stream.push_back(message(e));
        resync();
        continue;
      } else {
        // A gap, then a resync.
        revision += 3;
        stream.push_back(message({.revision = revision, .kind = FeedEventKind::kTagAdd, .vm_id = vm_id(vm),
                                  .tag = tier(3)}));
        resync();
        continue;
      }
      ++revision;
      stream.push_back(message(e));
    }

    Stack one, batched;
    std::vector<Status> one_results;
    for (const std::string& body : stream) one_results.push_back(one.consumer->apply_message(body));
    std::vector<Status> batch_results(stream.size());
    const std::vector<std::string_view> views(stream.begin(), stream.end());
    std::size_t batches = 0;
    for (std::size_t at = 0; at < views.size(); ++batches) {
      const std::size_t n = std::min<std::size_t>(1 + random() % 40, views.size() - at);
      (void)batched.consumer->apply_messages(std::span(views).subspan(at, n),
                                             std::span(batch_results).subspan(at, n));
      at += n;
    }

    for (std::size_t i = 0; i < stream.size(); ++i)
      ASSERT_EQ(one_results[i].to_string(), batch_results[i].to_string()) << "message " << i;
    const FeedStats a = one.consumer->stats(), b = batched.consumer->stats();
    EXPECT_EQ(a.messages, b.messages);
    EXPECT_EQ(a.applied, b.applied);
    EXPECT_EQ(a.duplicates, b.duplicates);
    EXPECT_EQ(a.rejected, b.rejected);
    EXPECT_EQ(a.ignored, b.ignored);
    EXPECT_EQ(a.gaps, b.gaps);
    EXPECT_EQ(a.snapshots, b.snapshots);
    EXPECT_EQ(a.swept_vms, b.swept_vms);
    EXPECT_EQ(one.consumer->state(), batched.consumer->state());
    EXPECT_EQ(one.consumer->revision(), batched.consumer->revision());
    EXPECT_EQ(one.consumer->last_error().to_string(), batched.consumer->last_error().to_string());
    for (const std::string& id : one.inventory->vm_ids()) EXPECT_EQ(one.inventory->vm(id), batched.inventory->vm(id));
    EXPECT_EQ(one.inventory->vm_ids(), batched.inventory->vm_ids());
    for (const std::string& g : one.inventory->group_ids()) {
      EXPECT_EQ(one.inventory->group_addresses(g).value(), batched.inventory->group_addresses(g).value()) << g;
      EXPECT_EQ(one.inventory->group_vnics(g).value(), batched.inventory->group_vnics(g).value()) << g;
    }
    EXPECT_EQ(one.dfw->group_addresses(), batched.dfw->group_addresses());
    EXPECT_EQ(one.dfw->group_exclusions(), batched.dfw->group_exclusions());
    EXPECT_EQ(one.dfw->group_vnics(), batched.dfw->group_vnics());
    EXPECT_EQ(one.verdicts(), batched.verdicts());
    // Both are realized; the batched one with one sink call per batch at most.
    EXPECT_EQ(batched.inventory->realization().realized, batched.inventory->realization().sequence);
    EXPECT_LE(batched.inventory->stats().sink_calls, batches + 2);  // + set_groups, + the empty start
    EXPECT_LT(batched.inventory->stats().sink_calls, one.inventory->stats().sink_calls);
  }
}

}  // namespace
}  // namespace fw
