// Engine and chain behaviour: vNIC lifecycle, slot order, verdict
// attribution, redirect/reinject, generations, counters, burst sizes.
#include "fw/engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "chain/frames.h"

namespace fw {
namespace {

using test::l2_frame;
using test::mac;

const MacAddress kVmMac = mac(0x020000000001);
const MacAddress kPeerMac = mac(0x020000000002);

// A filter whose decision per packet is a function of the packet index; it
// records which indices it saw (tests are single-threaded here).
class ScriptedFilter final : public Filter {
 public:
  using Decide = std::function<void(const BurstContext&, std::uint16_t, Verdict&)>;
  explicit ScriptedFilter(Decide decide) : decide_(std::move(decide)) {}
  std::string_view kind() const noexcept override { return "scripted"; }
  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    ++calls;
    last_slot = ctx.slot;
    for (std::uint16_t i : active) {
      seen.push_back(i);
      decide_(ctx, i, verdicts[i]);
    }
  }
  mutable std::vector<std::uint16_t> seen;
  mutable int calls = 0;
  mutable std::uint8_t last_slot = kNoSlot;

 private:
  Decide decide_;
};

std::shared_ptr<ScriptedFilter> no_opinion() {
  return std::make_shared<ScriptedFilter>([](const BurstContext&, std::uint16_t, Verdict&) {});
}
std::shared_ptr<ScriptedFilter> always(Action a, std::uint32_t rule,
                                       DropReason r = DropReason::kNone) {
  return std::make_shared<ScriptedFilter>(
      [=](const BurstContext& ctx, std::uint16_t, Verdict& v) { decide(v, ctx, a, rule, r); });
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Engine::create({.max_workers = 2}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = 7, .mac = kVmMac}).ok());
    worker_ = engine_->create_worker().value();
  }

  std::vector<Verdict> run(const std::vector<std::vector<std::uint8_t>>& packets,
                           Direction dir = Direction::kFromVm, std::uint32_t vnic = 7) {
    std::vector<Frame> frames(packets.begin(), packets.end());
    std::vector<Verdict> verdicts(frames.size());
    engine_->process(*worker_, vnic, dir, frames, verdicts);
    return verdicts;
  }

  std::vector<std::vector<std::uint8_t>> ipv4_frames(std::size_t n) {
    return std::vector<std::vector<std::uint8_t>>(n, l2_frame(kVmMac, kPeerMac, kEtherTypeIpv4));
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
};

TEST(EngineCreate, RejectsBadOptions) {
  EXPECT_EQ(Engine::create({.max_workers = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Engine::create({.max_vnics = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Engine::create({}).ok());
}

TEST_F(EngineTest, AttachDetachErrorsNameTheProblem) {
  Status s = engine_->attach_vnic({.id = 7, .mac = kVmMac});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("vnic 7"), std::string::npos) << s.to_string();
  EXPECT_EQ(engine_->attach_vnic({.id = 0}).code(), StatusCode::kInvalidArgument);
  s = engine_->attach_vnic({.id = 8, .vlan = 4095});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("vlan"), std::string::npos);
  EXPECT_EQ(engine_->detach_vnic(99).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->set_filter(99, 0, no_opinion()).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->set_filter(7, 16, no_opinion()).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(engine_->detach_vnic(7).ok());
  EXPECT_EQ(engine_->vnic_stats(7).status().code(), StatusCode::kNotFound);
}

TEST(EngineLimits, MaxVnicsAndMaxWorkersAreEnforced) {
  auto engine = Engine::create({.max_workers = 1, .max_vnics = 2}).value();
  ASSERT_TRUE(engine->attach_vnic({.id = 1}).ok());
  ASSERT_TRUE(engine->attach_vnic({.id = 2}).ok());
  EXPECT_EQ(engine->attach_vnic({.id = 3}).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(engine->detach_vnic(1).ok());
  EXPECT_TRUE(engine->attach_vnic({.id = 3}).ok());

  auto w1 = engine->create_worker();
  ASSERT_TRUE(w1.ok());
  EXPECT_EQ(engine->create_worker().status().code(), StatusCode::kResourceExhausted);
  w1->reset();  // destroying a worker frees its index
  EXPECT_TRUE(engine->create_worker().ok());
}

TEST_F(EngineTest, EmptyChainPassesWithNoSlotAndCurrentGeneration) {
  auto v = run(ipv4_frames(3));
  ASSERT_EQ(v.size(), 3u);
  for (const Verdict& x : v) {
    EXPECT_EQ(x.action, Action::kPass);
    EXPECT_EQ(x.slot, kNoSlot);
    EXPECT_EQ(x.rule_id, kNoRule);
    EXPECT_EQ(x.generation, engine_->generation());
  }
}

TEST_F(EngineTest, UnknownVnicIsDroppedAndCounted) {
  auto v = run(ipv4_frames(4), Direction::kToVm, 12345);
  for (const Verdict& x : v) {
    EXPECT_EQ(x.action, Action::kDrop);
    EXPECT_EQ(x.reason, DropReason::kUnknownVnic);
  }
  EXPECT_EQ(engine_->unknown_vnic_packets(), 4u);
}

TEST_F(EngineTest, MalformedFrameIsDroppedBeforeAnySlotWithItsParseError) {
  auto slot0 = no_opinion();
  ASSERT_TRUE(engine_->set_filter(7, 0, slot0).ok());
  std::vector<std::vector<std::uint8_t>> pk = {std::vector<std::uint8_t>(5, 0xaa),
                                               l2_frame(kVmMac, kPeerMac, kEtherTypeIpv4)};
  auto v = run(pk);
  EXPECT_EQ(v[0].action, Action::kDrop);
  EXPECT_EQ(v[0].reason, DropReason::kMalformed);
  EXPECT_EQ(v[0].parse_error, ParseError::kTruncatedEthernet);
  EXPECT_EQ(v[0].slot, kNoSlot);
  EXPECT_EQ(v[1].action, Action::kPass);
  EXPECT_EQ(slot0->seen, std::vector<std::uint16_t>{1});  // never shown the bad frame

  auto stats = engine_->vnic_stats(7).value();
  const DirectionStats& d = stats[Direction::kFromVm];
  EXPECT_EQ(d.packets, 2u);
  EXPECT_EQ(d.drops[static_cast<int>(DropReason::kMalformed)], 1u);
  EXPECT_EQ(d.parse_errors[static_cast<int>(ParseError::kTruncatedEthernet)], 1u);
}

TEST_F(EngineTest, SlotsRunInAscendingOrderAndTerminalDecisionsStopTheChain) {
  // Slot 9 installed before slot 3: order is by slot number, not install order.
  auto late = always(Action::kPass, 900);
  auto early = std::make_shared<ScriptedFilter>([](const BurstContext& ctx, std::uint16_t i, Verdict& v) {
    if (i % 2 == 0) decide(v, ctx, Action::kDrop, 300, DropReason::kRule);
  });
  ASSERT_TRUE(engine_->set_filter(7, 9, late).ok());
  ASSERT_TRUE(engine_->set_filter(7, 3, early).ok());
  auto v = run(ipv4_frames(6));
  EXPECT_EQ(early->seen, (std::vector<std::uint16_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(late->seen, (std::vector<std::uint16_t>{1, 3, 5}));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(v[i].action, Action::kDrop);
      EXPECT_EQ(v[i].slot, 3);
      EXPECT_EQ(v[i].rule_id, 300u);
      EXPECT_EQ(v[i].reason, DropReason::kRule);
    } else {
      EXPECT_EQ(v[i].action, Action::kPass);
      EXPECT_EQ(v[i].slot, 9);
      EXPECT_EQ(v[i].rule_id, 900u);
    }
  }
  EXPECT_EQ(late->last_slot, 9);
}

TEST_F(EngineTest, AnAllowIsAttributedToTheLastSlotThatAllowed) {
  ASSERT_TRUE(engine_->set_filter(7, 0, always(Action::kPass, 10)).ok());
  ASSERT_TRUE(engine_->set_filter(7, 2, no_opinion()).ok());
  auto v = run(ipv4_frames(1));
  EXPECT_EQ(v[0].slot, 0);
  EXPECT_EQ(v[0].rule_id, 10u);
  ASSERT_TRUE(engine_->set_filter(7, 5, always(Action::kPass, 50)).ok());
  v = run(ipv4_frames(1));
  EXPECT_EQ(v[0].slot, 5);
  EXPECT_EQ(v[0].rule_id, 50u);
}

TEST_F(EngineTest, RedirectStopsTheChainAndReinjectResumesAfterTheSlot) {
  auto before = always(Action::kPass, 1);
  auto redirect = std::make_shared<ScriptedFilter>([](const BurstContext& ctx, std::uint16_t, Verdict& v) {
    decide(v, ctx, Action::kRedirect, 44);
    v.service = 1234;
  });
  auto after = always(Action::kDrop, 77, DropReason::kRule);
  ASSERT_TRUE(engine_->set_filter(7, 0, before).ok());
  ASSERT_TRUE(engine_->set_filter(7, kSlotServiceInsertion, redirect).ok());
  ASSERT_TRUE(engine_->set_filter(7, 6, after).ok());

  auto pk = ipv4_frames(2);
  auto v = run(pk);
  for (const Verdict& x : v) {
    EXPECT_EQ(x.action, Action::kRedirect);
    EXPECT_EQ(x.slot, kSlotServiceInsertion);
    EXPECT_EQ(x.service, 1234u);
  }
  EXPECT_TRUE(after->seen.empty());

  // The service hands the packets back: only slots after 4 run.
  before->seen.clear();
  redirect->seen.clear();
  std::vector<Frame> frames(pk.begin(), pk.end());
  std::vector<Verdict> back(frames.size());
  engine_->reinject(*worker_, 7, Direction::kFromVm, v[0].slot, frames, back);
  EXPECT_TRUE(before->seen.empty());
  EXPECT_TRUE(redirect->seen.empty());
  EXPECT_EQ(after->seen.size(), 2u);
  EXPECT_EQ(back[0].action, Action::kDrop);
  EXPECT_EQ(back[0].slot, 6);
  auto stats = engine_->vnic_stats(7).value();
  EXPECT_EQ(stats[Direction::kFromVm].reinjected, 2u);
  EXPECT_EQ(stats[Direction::kFromVm].packets, 4u);
  EXPECT_EQ(stats[Direction::kFromVm].verdicts[static_cast<int>(Action::kRedirect)], 2u);

  // Reinjecting after the last slot passes without running any filter.
  after->seen.clear();
  engine_->reinject(*worker_, 7, Direction::kFromVm, kNumSlots - 1, frames, back);
  EXPECT_TRUE(after->seen.empty());
  EXPECT_EQ(back[0].action, Action::kPass);
}

TEST_F(EngineTest, EveryChangeIsANewGenerationAndVerdictsCarryIt) {
  const std::uint64_t g0 = engine_->generation();
  ASSERT_TRUE(engine_->set_filter(7, 0, always(Action::kPass, 1)).ok());
  EXPECT_EQ(engine_->generation(), g0 + 1);
  EXPECT_EQ(run(ipv4_frames(1))[0].generation, g0 + 1);
  ASSERT_TRUE(engine_->clear_filter(7, 0).ok());
  EXPECT_EQ(engine_->generation(), g0 + 2);
  auto v = run(ipv4_frames(1));
  EXPECT_EQ(v[0].generation, g0 + 2);
  EXPECT_EQ(v[0].slot, kNoSlot);  // slot really cleared
  // A failed change publishes nothing.
  EXPECT_FALSE(engine_->set_filter(99, 0, nullptr).ok());
  EXPECT_EQ(engine_->generation(), g0 + 2);
}

TEST_F(EngineTest, SetFiltersPublishesEveryChangeInOneGeneration) {
  for (std::uint32_t v = 8; v <= 11; ++v) ASSERT_TRUE(engine_->attach_vnic({.id = v, .mac = kVmMac}).ok());
  const std::uint64_t g0 = engine_->generation();
  std::vector<FilterChange> changes;
  for (std::uint32_t v = 7; v <= 11; ++v) changes.push_back({.vnic_id = v, .slot = 2, .filter = always(Action::kDrop, v)});
  changes.push_back({.vnic_id = 9, .slot = 5, .filter = always(Action::kPass, 55)});
  ASSERT_TRUE(engine_->set_filters(changes).ok());
  EXPECT_EQ(engine_->generation(), g0 + 1);
  for (std::uint32_t v = 7; v <= 11; ++v) {
    auto d = engine_->describe_chain(v).value();
    EXPECT_EQ(d.generation, g0 + 1);
    EXPECT_EQ(d.slots[2], "scripted") << "vnic " << v;
    const Verdict verdict = run(ipv4_frames(1), Direction::kFromVm, v)[0];
    EXPECT_EQ(verdict.generation, g0 + 1);
    EXPECT_EQ(verdict.rule_id, v);
  }
  EXPECT_EQ(engine_->describe_chain(9)->slots[5], "scripted");

  // Later changes of the same slot win; nullptr clears.
  std::vector<FilterChange> twice{{.vnic_id = 8, .slot = 2, .filter = always(Action::kDrop, 1)},
                                  {.vnic_id = 8, .slot = 2, .filter = always(Action::kDrop, 2)},
                                  {.vnic_id = 9, .slot = 5, .filter = nullptr}};
  ASSERT_TRUE(engine_->set_filters(twice).ok());
  EXPECT_EQ(engine_->generation(), g0 + 2);
  EXPECT_EQ(run(ipv4_frames(1), Direction::kFromVm, 8)[0].rule_id, 2u);
  EXPECT_EQ(engine_->describe_chain(9)->slots[5], "");
  // Nothing to change: nothing published.
  ASSERT_TRUE(engine_->set_filters({}).ok());
  EXPECT_EQ(engine_->generation(), g0 + 2);
}

TEST_F(EngineTest, AFailingSetFiltersChangesNothing) {
  ASSERT_TRUE(engine_->attach_vnic({.id = 8, .mac = kVmMac}).ok());
  const std::uint64_t g0 = engine_->generation();
  std::vector<FilterChange> unknown{{.vnic_id = 7, .slot = 2, .filter = always(Action::kDrop, 1)},
                                    {.vnic_id = 99, .slot = 2, .filter = always(Action::kDrop, 1)},
                                    {.vnic_id = 8, .slot = 2, .filter = always(Action::kDrop, 1)}};
  Status s = engine_->set_filters(unknown);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("changes[1]: vnic 99"), std::string::npos) << s.to_string();
  std::vector<FilterChange> bad_slot{{.vnic_id = 7, .slot = 2, .filter = always(Action::kDrop, 1)},
                                     {.vnic_id = 8, .slot = 16, .filter = always(Action::kDrop, 1)}};
  s = engine_->set_filters(bad_slot);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("changes[1]: slot: 16"), std::string::npos) << s.to_string();
  EXPECT_EQ(engine_->generation(), g0);
  for (std::uint32_t v : {7u, 8u}) {
    EXPECT_EQ(engine_->describe_chain(v)->slots[2], "") << "vnic " << v;
    EXPECT_EQ(run(ipv4_frames(1), Direction::kFromVm, v)[0].slot, kNoSlot);
  }
}

TEST_F(EngineTest, DescribeChainListsInstalledFilters) {
  ASSERT_TRUE(engine_->set_filter(7, 2, no_opinion()).ok());
  auto d = engine_->describe_chain(7).value();
  EXPECT_EQ(d.vnic_id, 7u);
  EXPECT_EQ(d.slots[2], "scripted");
  EXPECT_EQ(d.slots[0], "");
  EXPECT_EQ(d.generation, engine_->generation());
}

TEST_F(EngineTest, CountersPerDirectionSlotActionAndReason) {
  auto f = std::make_shared<ScriptedFilter>([](const BurstContext& ctx, std::uint16_t i, Verdict& v) {
    if (ctx.direction == Direction::kToVm && i == 0) decide(v, ctx, Action::kDrop, 5, DropReason::kRule);
    else if (ctx.direction == Direction::kToVm && i == 1) decide(v, ctx, Action::kReject, 6, DropReason::kRule);
    else if (i == 2) decide(v, ctx, Action::kPunt, 7);
  });
  ASSERT_TRUE(engine_->set_filter(7, 1, f).ok());
  auto from = run(ipv4_frames(3), Direction::kFromVm);
  auto to = run(ipv4_frames(4), Direction::kToVm);
  auto s = engine_->vnic_stats(7).value();
  const DirectionStats& out = s[Direction::kFromVm];
  const DirectionStats& in = s[Direction::kToVm];
  EXPECT_EQ(out.packets, 3u);
  EXPECT_EQ(out.bytes, 3u * 60);
  EXPECT_EQ(out.verdicts[static_cast<int>(Action::kPass)], 2u);
  EXPECT_EQ(out.verdicts[static_cast<int>(Action::kPunt)], 1u);
  EXPECT_EQ(out.slots[1].decided[static_cast<int>(Action::kPunt)], 1u);
  EXPECT_EQ(in.packets, 4u);
  EXPECT_EQ(in.verdicts[static_cast<int>(Action::kDrop)], 1u);
  EXPECT_EQ(in.verdicts[static_cast<int>(Action::kReject)], 1u);
  EXPECT_EQ(in.drops[static_cast<int>(DropReason::kRule)], 2u);  // drop + reject
  EXPECT_EQ(in.slots[1].decided[static_cast<int>(Action::kDrop)], 1u);
  EXPECT_EQ(in.slots[1].decided[static_cast<int>(Action::kReject)], 1u);
  // Packets with no decision at all are not attributed to any slot.
  EXPECT_EQ(in.slots[1].decided[static_cast<int>(Action::kPass)], 0u);
}

TEST_F(EngineTest, SlotCountersCountEveryDecisionOfTheSlot) {
  // Slot 0 allows everything, slot 5 then drops odd packets: slot 0 is
  // credited with all its allows, slot 5 with its drops.
  ASSERT_TRUE(engine_->set_filter(7, 0, always(Action::kPass, 1)).ok());
  ASSERT_TRUE(engine_->set_filter(7, 5, std::make_shared<ScriptedFilter>(
      [](const BurstContext& ctx, std::uint16_t i, Verdict& v) {
        if (i % 2) decide(v, ctx, Action::kDrop, 2, DropReason::kRule);
      })).ok());
  run(ipv4_frames(4));
  const DirectionStats d = engine_->vnic_stats(7).value()[Direction::kFromVm];
  EXPECT_EQ(d.slots[0].decided[static_cast<int>(Action::kPass)], 4u);
  EXPECT_EQ(d.slots[5].decided[static_cast<int>(Action::kDrop)], 2u);
  EXPECT_EQ(d.slots[5].decided[static_cast<int>(Action::kPass)], 0u);
  EXPECT_EQ(d.verdicts[static_cast<int>(Action::kPass)], 2u);
}

TEST_F(EngineTest, CountersSurviveReconfiguration) {
  run(ipv4_frames(5));
  ASSERT_TRUE(engine_->set_filter(7, 0, always(Action::kPass, 1)).ok());
  run(ipv4_frames(2));
  EXPECT_EQ(engine_->vnic_stats(7).value()[Direction::kFromVm].packets, 7u);
}

// Every burst size from 0 to past the internal chunk size gets exactly one
// verdict per frame, and filters see each packet once.
TEST_F(EngineTest, EveryBurstSizeGetsOneVerdictPerFrame) {
  auto counting = std::make_shared<ScriptedFilter>([](const BurstContext& ctx, std::uint16_t i, Verdict& v) {
    decide(v, ctx, (i % 3 == 0) ? Action::kDrop : Action::kPass, 100 + i % 3, DropReason::kRule);
  });
  ASSERT_TRUE(engine_->set_filter(7, 0, counting).ok());
  std::uint64_t expected_packets = 0;
  for (std::size_t n : {0, 1, 2, 7, 8, 9, 31, 32, 33, 64, 255, 256, 257, 300, 513}) {
    auto pk = ipv4_frames(n);
    std::vector<Frame> frames(pk.begin(), pk.end());
    std::vector<Verdict> verdicts(n + 1);
    verdicts[n].rule_id = 0xdead;  // sentinel past the end must stay untouched
    counting->seen.clear();
    engine_->process(*worker_, 7, Direction::kFromVm, frames, std::span(verdicts).first(n + 1));
    EXPECT_EQ(counting->seen.size(), n) << "burst " << n;
    for (std::size_t i = 0; i < n; ++i) {
      // Index within the internal chunk of 256 decides the rule.
      const std::size_t k = i % kMaxBurst;
      EXPECT_EQ(verdicts[i].rule_id, 100 + k % 3) << "burst " << n << " packet " << i;
    }
    EXPECT_EQ(verdicts[n].rule_id, 0xdeadu);
    expected_packets += n;
  }
  EXPECT_EQ(engine_->vnic_stats(7).value()[Direction::kFromVm].packets, expected_packets);
}

// The engine counts passes per burst and other verdicts as their packets
// leave the chain; checked against a recount: the filters tally what they
// decide, the test the final verdicts it gets back. Bursts of many sizes
// mix explicit passes, no opinion, drops and rejects with several reasons,
// punts, redirects and malformed frames, in both directions, through
// process(), reinject() and resume() (with returned frames that were
// redirected and some that were not).
TEST_F(EngineTest, CountersEqualARecountOfDecisionsAndVerdicts) {
  DirectionStats expected[kDirectionCount];
  std::uint32_t round = 0;
  auto scripted = [&](std::uint32_t salt) {
    return std::make_shared<ScriptedFilter>([&, salt](const BurstContext& ctx, std::uint16_t i, Verdict& v) {
      const std::uint32_t h = (i * 2654435761u) ^ (round * 40503u) ^ (salt * 2246822519u);
      Action action = Action::kPass;
      DropReason reason = DropReason::kNone;
      switch ((h >> 9) % 16) {
        case 0: case 1: case 2: case 3: case 4: return;  // no opinion
        case 10: action = Action::kDrop; reason = DropReason::kRule; break;
        case 11: action = Action::kDrop; reason = DropReason::kDefaultRule; break;
        case 12: action = Action::kReject; reason = DropReason::kRule; break;
        case 13: action = Action::kPunt; break;
        case 14: action = Action::kRedirect; break;
        case 15: action = Action::kDrop; reason = DropReason::kFilterError; break;
        default: break;  // an explicit pass
      }
      decide(v, ctx, action, 1000 + salt, reason);
      ++expected[static_cast<std::size_t>(ctx.direction)].slots[ctx.slot].decided[static_cast<std::size_t>(action)];
    });
  };
  ASSERT_TRUE(engine_->set_filter(7, 0, scripted(0)).ok());
  ASSERT_TRUE(engine_->set_filter(7, 3, scripted(3)).ok());
  ASSERT_TRUE(engine_->set_filter(7, 5, scripted(5)).ok());

  auto tally = [&](Direction dir, const std::vector<std::vector<std::uint8_t>>& frames,
                   const std::vector<Verdict>& verdicts, bool reinjected) {
    DirectionStats& e = expected[static_cast<std::size_t>(dir)];
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Verdict& v = verdicts[i];
      ++e.packets;
      e.bytes += frames[i].size();
      if (reinjected) ++e.reinjected;
      ++e.verdicts[static_cast<std::size_t>(v.action)];
      if (v.action == Action::kDrop || v.action == Action::kReject) ++e.drops[static_cast<std::size_t>(v.reason)];
      if (v.reason == DropReason::kMalformed) ++e.parse_errors[static_cast<std::size_t>(v.parse_error)];
    }
  };
  std::size_t redirected = 0, not_redirected = 0;
  for (std::size_t n : {1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 255, 256, 257, 300}) {
    for (const Direction dir : {Direction::kFromVm, Direction::kToVm}) {
      ++round;
      std::vector<std::vector<std::uint8_t>> frames = ipv4_frames(n);
      for (std::size_t i = 3; i < n; i += 7) frames[i].resize(10);  // malformed: truncated
      std::vector<Frame> spans(frames.begin(), frames.end());
      std::vector<Verdict> verdicts(n);
      engine_->process(*worker_, 7, dir, spans, verdicts);
      tally(dir, frames, verdicts, false);

      std::vector<Verdict> again(n);
      engine_->reinject(*worker_, 7, dir, 3, spans, again);
      tally(dir, frames, again, true);

      // resume(): what process() redirected starts at its slot; the rest is
      // not a redirect and is dropped (kNotRedirected).
      for (const Verdict& v : verdicts) (v.action == Action::kRedirect ? redirected : not_redirected) += 1;
      ++round;
      engine_->resume(*worker_, 7, dir, spans, verdicts);
      tally(dir, frames, verdicts, true);
    }
  }
  ASSERT_GT(redirected, 50u);
  ASSERT_GT(not_redirected, 50u);

  const VnicStats got = engine_->vnic_stats(7).value();
  for (std::size_t d = 0; d < kDirectionCount; ++d) {
    SCOPED_TRACE(testing::Message() << "direction " << d);
    const DirectionStats& g = got.direction[d];
    const DirectionStats& e = expected[d];
    EXPECT_EQ(g.packets, e.packets);
    EXPECT_EQ(g.bytes, e.bytes);
    EXPECT_EQ(g.reinjected, e.reinjected);
    for (std::size_t a = 0; a < kActionCount; ++a) EXPECT_EQ(g.verdicts[a], e.verdicts[a]) << "action " << a;
    for (std::size_t r = 0; r < kDropReasonCount; ++r) EXPECT_EQ(g.drops[r], e.drops[r]) << "reason " << r;
    for (std::size_t p = 0; p < kParseErrorCount; ++p) EXPECT_EQ(g.parse_errors[p], e.parse_errors[p]) << "error " << p;
    for (std::size_t s = 0; s < kNumSlots; ++s)
      for (std::size_t a = 0; a < kActionCount; ++a)
        EXPECT_EQ(g.slots[s].decided[a], e.slots[s].decided[a]) << "slot " << s << " action " << a;
  }
  EXPECT_GT(expected[0].verdicts[static_cast<std::size_t>(Action::kPass)], 0u);
  EXPECT_GT(expected[0].drops[static_cast<std::size_t>(DropReason::kNotRedirected)], 0u);
  EXPECT_GT(expected[1].parse_errors[static_cast<std::size_t>(ParseError::kTruncatedEthernet)], 0u);
}

TEST_F(EngineTest, FewerVerdictSlotsThanFramesProcessesOnlyThatMany) {
  auto pk = ipv4_frames(5);
  std::vector<Frame> frames(pk.begin(), pk.end());
  std::vector<Verdict> verdicts(3);
  engine_->process(*worker_, 7, Direction::kFromVm, frames, verdicts);
  EXPECT_EQ(engine_->vnic_stats(7).value()[Direction::kFromVm].packets, 3u);
}

TEST_F(EngineTest, FiltersSeeTheVnicAndBurstContext) {
  ASSERT_TRUE(engine_->attach_vnic({.id = 9, .mac = kPeerMac, .vlan = 30}).ok());
  BurstContext seen;
  auto f = std::make_shared<ScriptedFilter>([&](const BurstContext& ctx, std::uint16_t, Verdict&) { seen = ctx; });
  ASSERT_TRUE(engine_->set_filter(9, 11, f).ok());
  run(ipv4_frames(2), Direction::kToVm, 9);
  EXPECT_EQ(seen.vnic_id, 9u);
  EXPECT_EQ(seen.vnic_mac, kPeerMac);
  EXPECT_EQ(seen.vnic_vlan, 30);
  EXPECT_EQ(seen.direction, Direction::kToVm);
  EXPECT_EQ(seen.slot, 11);
  EXPECT_EQ(seen.worker_index, worker_->index());
  EXPECT_EQ(seen.packets.size(), 2u);
  EXPECT_EQ(seen.generation, engine_->generation());
}

TEST(Names, AreStableAndDistinct) {
  EXPECT_EQ(action_name(Action::kRedirect), "redirect");
  EXPECT_EQ(direction_name(Direction::kFromVm), "from-vm");
  EXPECT_EQ(drop_reason_name(DropReason::kMalformed), "malformed");
  std::set<std::string_view> names;
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    auto n = drop_reason_name(static_cast<DropReason>(r));
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
}

}  // namespace
}  // namespace fw

namespace fw {
namespace {

TEST(Addresses, ParseIpRefusesEmbeddedNul) {
  using namespace std::string_view_literals;
  EXPECT_TRUE(parse_ip("10.0.0.1"sv).ok());
  EXPECT_FALSE(parse_ip("10.0.0.1\0junk"sv).ok());
  EXPECT_FALSE(parse_ip("10.0.0.1 "sv).ok());
  EXPECT_EQ(parse_ip("::ffff:10.0.0.1"sv)->family, IpFamily::kIpv6);
  EXPECT_EQ(parse_mac("02:00:00:00:00:0g").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fw
