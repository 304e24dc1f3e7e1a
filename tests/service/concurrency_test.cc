// Service insertion under concurrency (also run under ThreadSanitizer by
// scripts/test): two workers open the same flows at once and must pin each
// to one instance; a control thread flips instance health, sets flow
// verdicts and re-applies the redirect policy meanwhile.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/service.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::PacketBuilder;

constexpr std::uint32_t kVnic = 1;
constexpr int kFlows = 256;

Bytes flow_packet(int flow) {
  return PacketBuilder()
      .eth("02:00:00:00:00:01", "02:00:00:00:00:09")
      .ipv4("10.0.0.1", "10.0.1.5")
      .udp(static_cast<std::uint16_t>(20000 + flow), 53)
      .payload(8)
      .build();
}

RedirectPolicy policy(std::size_t instances) {
  RedirectPolicy rp;
  ServiceProfile p;
  p.id = "ids";
  for (std::size_t i = 0; i < instances; ++i) p.instances.push_back({.endpoint = static_cast<std::uint32_t>(100 + i)});
  rp.profiles = {p};
  RedirectRule r;
  r.id = 1;
  r.target = "ids";
  rp.rules = {r};
  return rp;
}

TEST(ServiceInsertionConcurrency, TwoWorkersPinEachFlowOnce) {
  auto engine = Engine::create({.max_workers = 3}).value();
  ASSERT_TRUE(engine->attach_vnic({.id = kVnic, .mac = parse_mac("02:00:00:00:00:01").value()}).ok());
  auto dfw = Dfw::create(*engine).value();
  Policy allow_all;
  ASSERT_TRUE(dfw->apply(allow_all, {kVnic}).ok());
  auto service = ServiceInsertion::create(*engine, {.connections = dfw->shared_connections()}).value();
  ASSERT_TRUE(service->apply(policy(4), {kVnic}).ok());

  std::vector<Bytes> packets;
  for (int f = 0; f < kFlows; ++f) packets.push_back(flow_packet(f));
  std::vector<Frame> frames(packets.begin(), packets.end());

  // endpoint seen per flow per worker per round
  std::vector<std::vector<std::uint32_t>> seen(2, std::vector<std::uint32_t>(kFlows * 20, 0));
  std::atomic<bool> go{false};
  auto run = [&](int w) {
    auto worker = engine->create_worker().value();
    while (!go.load()) std::this_thread::yield();
    std::vector<Verdict> v(kFlows);
    for (int round = 0; round < 20; ++round) {
      engine->process(*worker, kVnic, Direction::kFromVm, frames, v, {.now_ns = 1'000'000'000});
      for (int f = 0; f < kFlows; ++f) {
        if (v[f].action == Action::kRedirect) seen[w][round * kFlows + f] = v[f].service;
        Verdict back = v[f];
        if (back.action == Action::kRedirect) {
          Frame one = frames[f];
          engine->resume(*worker, kVnic, Direction::kFromVm, std::span(&one, 1), std::span(&back, 1),
                         {.now_ns = 1'000'000'000});
        }
      }
    }
  };
  std::atomic<bool> stop{false};
  std::thread control([&] {
    while (!go.load()) std::this_thread::yield();
    int i = 0;
    while (!stop.load()) {
      ASSERT_TRUE(service->set_instance_health("ids", 3, (i & 1) == 0).ok());
      if (i % 8 == 0) {
        ASSERT_TRUE(service->apply(policy(4), {kVnic}).ok());
      }
      (void)service->stats();
      ++i;
      std::this_thread::yield();
    }
    ASSERT_TRUE(service->set_instance_health("ids", 3, true).ok());
  });
  std::thread a(run, 0), b(run, 1);
  go = true;
  a.join();
  b.join();
  stop = true;
  control.join();

  // Each flow: one instance for every packet either worker redirected (the
  // flapping instance's packets pass uninspected while it is down: 0).
  for (int f = 0; f < kFlows; ++f) {
    std::uint32_t pinned = 0;
    for (int w = 0; w < 2; ++w) {
      for (int round = 0; round < 20; ++round) {
        const std::uint32_t e = seen[w][round * kFlows + f];
        if (e == 0) continue;
        if (pinned == 0) pinned = e;
        EXPECT_EQ(e, pinned) << "flow " << f;
      }
    }
  }
  std::uint64_t pins = 0;
  const ServiceStats stats = service->stats();
  for (const auto& i : stats.profiles.at(0).instances) pins += i.flows_pinned;
  EXPECT_EQ(pins, static_cast<std::uint64_t>(kFlows)) << "a flow was pinned twice";
}

}  // namespace
}  // namespace fw
