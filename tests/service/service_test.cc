// Slot 4, service insertion, through fw::Engine with a stateful DFW in slot
// 2: redirect and do-not-redirect rules, chains in order both ways,
// resume after each hop, pinning of both directions, instance failure with
// both failure policies and re-pinning, new instances, flow verdicts
// (offload and block), the DFW deciding first, packets without connection
// tracking, validation keeping the previous policy, counters, metadata and
// the health probe.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "fw/chain.h"
#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/inventory.h"
#include "fw/nsh.h"
#include "fw/service.h"
#include "support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::PacketBuilder;

constexpr std::uint32_t kVnic = 1, kOtherVnic = 2;
const char* kVmMac = "02:00:00:00:00:01";
const char* kPeerMac = "02:00:00:00:00:09";
const char* kVmIp = "10.0.0.1";
const char* kPeerIp = "10.0.1.5";
constexpr std::uint8_t kTcp = 6, kUdp = 17;
constexpr std::uint32_t kRedirectWeb = 10, kNoRedirectMgmt = 5, kRedirectDns = 11;
constexpr std::uint32_t kIdsA = 101, kIdsB = 102, kNgfw = 201;

Cidr cidr(const char* text) { return parse_cidr(text).value(); }

Bytes vm_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq = 1000,
             std::uint32_t ack = 0, const char* dst = kPeerIp) {
  return PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, dst).tcp(sport, dport, flags, {.seq = seq, .ack = ack}).build();
}
Bytes peer_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq = 5000,
               std::uint32_t ack = 1001, const char* src = kPeerIp) {
  return PacketBuilder().eth(kPeerMac, kVmMac).ipv4(src, kVmIp).tcp(sport, dport, flags, {.seq = seq, .ack = ack}).build();
}
Bytes vm_udp(std::uint16_t sport, std::uint16_t dport, const char* dst = kPeerIp) {
  return PacketBuilder().eth(kVmMac, kPeerMac).ipv4(kVmIp, dst).udp(sport, dport).payload(8).build();
}
Bytes peer_udp(std::uint16_t sport, std::uint16_t dport, const char* src = kPeerIp) {
  return PacketBuilder().eth(kPeerMac, kVmMac).ipv4(src, kVmIp).udp(sport, dport).payload(8).build();
}

RedirectRule redirect(std::uint32_t id, std::uint8_t protocol, std::uint16_t port, std::string target) {
  RedirectRule r;
  r.id = id;
  r.inline_services = {ServiceEntry{.protocol = protocol, .dst_ports = {PortRange{port, port}}}};
  r.target = std::move(target);
  return r;
}

ServiceProfile profile(std::string id, std::vector<std::uint32_t> endpoints, FailurePolicy failure) {
  ServiceProfile p;
  p.id = std::move(id);
  p.service = "test";
  for (std::uint32_t e : endpoints) p.instances.push_back({.endpoint = e});
  p.failure = failure;
  return p;
}

// ids (two instances, fail-open), ngfw (one, fail-closed), chain ids -> ngfw.
// Rules: management CIDR not redirected; HTTP to the chain; DNS to ids.
RedirectPolicy sample_policy() {
  RedirectPolicy rp;
  rp.profiles = {profile("ids", {kIdsA, kIdsB}, FailurePolicy::kFailOpen),
                 profile("ngfw", {kNgfw}, FailurePolicy::kFailClosed)};
  rp.chains = {ServiceChain{.id = "ids-then-ngfw", .profiles = {"ids", "ngfw"}, .path_id = 77}};
  RedirectRule mgmt;
  mgmt.id = kNoRedirectMgmt;
  mgmt.destinations.cidrs = {cidr("10.9.0.0/16")};
  mgmt.action = RedirectAction::kDoNotRedirect;
  rp.rules = {mgmt, redirect(kRedirectWeb, kTcp, 80, "ids-then-ngfw"), redirect(kRedirectDns, kUdp, 53, "ids")};
  return rp;
}

// Where a packet went: the endpoints visited in order and the final verdict.
struct Walk {
  std::vector<std::uint32_t> endpoints;
  std::vector<std::uint8_t> hops;
  Verdict last;
};

class ServiceInsertionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Engine::create({.max_workers = 2}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    ASSERT_TRUE(engine_->attach_vnic({.id = kOtherVnic, .mac = parse_mac("02:00:00:00:00:02").value()}).ok());
    worker_ = engine_->create_worker().value();
    dfw_ = Dfw::create(*engine_).value();
    Policy allow_all;
    allow_all.default_action = RuleAction::kAllow;
    ASSERT_TRUE(dfw_->apply(allow_all, {kVnic, kOtherVnic}).ok());
    service_ = ServiceInsertion::create(*engine_, {.connections = dfw_->shared_connections()}).value();
  }

  Verdict process(Direction dir, const Bytes& frame, std::uint32_t vnic = kVnic) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, vnic, dir, std::span(&f, 1), std::span(&v, 1), {.now_ns = now_});
    return v;
  }
  Verdict resume(Direction dir, const Bytes& frame, Verdict redirected, std::uint32_t vnic = kVnic) {
    Frame f(frame);
    engine_->resume(*worker_, vnic, dir, std::span(&f, 1), std::span(&redirected, 1), {.now_ns = now_});
    return redirected;
  }
  // Follows redirects as a host would, each service handing the packet back.
  Walk walk(Direction dir, const Bytes& frame, std::uint32_t vnic = kVnic) {
    Walk w;
    Verdict v = process(dir, frame, vnic);
    for (int guard = 0; v.action == Action::kRedirect && guard < 8; ++guard) {
      EXPECT_EQ(v.slot, kSlotServiceInsertion);
      w.endpoints.push_back(v.service);
      w.hops.push_back(v.service_hop);
      v = resume(dir, frame, v, vnic);
    }
    w.last = v;
    return w;
  }

  std::uint64_t now_ = 1'000'000'000;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Dfw> dfw_;
  std::unique_ptr<ServiceInsertion> service_;
};

TEST_F(ServiceInsertionTest, RedirectVerdictNamesEndpointHopRuleAndSlot) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  const Verdict v = process(Direction::kFromVm, vm_udp(5000, 53));
  EXPECT_EQ(v.action, Action::kRedirect);
  EXPECT_EQ(v.slot, kSlotServiceInsertion);
  EXPECT_EQ(v.rule_id, kRedirectDns);
  EXPECT_TRUE(v.service == kIdsA || v.service == kIdsB) << v.service;
  EXPECT_EQ(v.service_hop, 0);
  // Back from the service: the slots after it decide (none: pass).
  const Verdict back = resume(Direction::kFromVm, vm_udp(5000, 53), v);
  EXPECT_EQ(back.action, Action::kPass);
  EXPECT_EQ(engine_->vnic_stats(kVnic).value().direction[0].reinjected, 1u);
}

TEST_F(ServiceInsertionTest, UnmatchedAndDoNotRedirectPassUntouched) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  EXPECT_EQ(process(Direction::kFromVm, vm_tcp(40000, 22, kTcpSyn)).action, Action::kPass);
  // HTTP would be redirected, but the management network comes first.
  const Walk w = walk(Direction::kFromVm, vm_tcp(40001, 80, kTcpSyn, 1000, 0, "10.9.1.1"));
  EXPECT_TRUE(w.endpoints.empty());
  EXPECT_EQ(w.last.action, Action::kPass);
}

TEST_F(ServiceInsertionTest, ChainForwardInOrderAndReplyInReverse) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  const Walk out = walk(Direction::kFromVm, vm_tcp(40000, 80, kTcpSyn));
  ASSERT_EQ(out.endpoints.size(), 2u);
  EXPECT_TRUE(out.endpoints[0] == kIdsA || out.endpoints[0] == kIdsB);
  EXPECT_EQ(out.endpoints[1], kNgfw);
  EXPECT_EQ(out.hops, (std::vector<std::uint8_t>{0, 1}));
  EXPECT_EQ(out.last.action, Action::kPass);
  // The reply visits the chain backwards, and the same ids instance.
  const Walk in = walk(Direction::kToVm, peer_tcp(80, 40000, kTcpSyn | kTcpAck));
  ASSERT_EQ(in.endpoints.size(), 2u);
  EXPECT_EQ(in.endpoints[0], kNgfw);
  EXPECT_EQ(in.endpoints[1], out.endpoints[0]);
  EXPECT_EQ(in.last.action, Action::kPass);
}

TEST_F(ServiceInsertionTest, FlowsArePinnedToOneInstanceBothWays) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  std::map<std::uint16_t, std::uint32_t> pinned;
  std::set<std::uint32_t> used;
  for (std::uint16_t port = 20000; port < 20064; ++port) {
    const Walk w = walk(Direction::kFromVm, vm_udp(port, 53));
    ASSERT_EQ(w.endpoints.size(), 1u);
    pinned[port] = w.endpoints[0];
    used.insert(w.endpoints[0]);
  }
  EXPECT_EQ(used.size(), 2u) << "64 flows all on one of two instances";
  for (int round = 0; round < 3; ++round) {
    for (auto [port, endpoint] : pinned) {
      EXPECT_EQ(walk(Direction::kFromVm, vm_udp(port, 53)).endpoints, std::vector<std::uint32_t>{endpoint});
      EXPECT_EQ(walk(Direction::kToVm, peer_udp(53, port)).endpoints, std::vector<std::uint32_t>{endpoint});
    }
  }
  const ServiceStats st = service_->stats();
  ASSERT_EQ(st.profiles.size(), 2u);
  EXPECT_EQ(st.profiles[0].instances[0].flows_pinned + st.profiles[0].instances[1].flows_pinned, 64u);
  EXPECT_EQ(st.profiles[0].instances[0].redirected + st.profiles[0].instances[1].redirected, 64u * 7);
}

TEST_F(ServiceInsertionTest, NewInstanceTakesOnlyNewFlows) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  std::map<std::uint16_t, std::uint32_t> pinned;
  for (std::uint16_t port = 20000; port < 20064; ++port)
    pinned[port] = walk(Direction::kFromVm, vm_udp(port, 53)).endpoints.at(0);
  RedirectPolicy grown = sample_policy();
  grown.profiles[0].instances.push_back({.endpoint = 103});
  ASSERT_TRUE(service_->apply(grown, {kVnic}).ok());
  for (auto [port, endpoint] : pinned)
    EXPECT_EQ(walk(Direction::kFromVm, vm_udp(port, 53)).endpoints.at(0), endpoint);
  std::set<std::uint32_t> used;
  for (std::uint16_t port = 30000; port < 30096; ++port) used.insert(walk(Direction::kFromVm, vm_udp(port, 53)).endpoints.at(0));
  EXPECT_TRUE(used.count(103)) << "new flows never reached the new instance";
}

TEST_F(ServiceInsertionTest, FailOpenSkipsAHopAndFailClosedDrops) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  // Both ids instances down: fail-open, the chain goes straight to ngfw.
  ASSERT_TRUE(service_->set_instance_health("ids", 0, false).ok());
  ASSERT_TRUE(service_->set_instance_health("ids", 1, false).ok());
  Walk w = walk(Direction::kFromVm, vm_tcp(40000, 80, kTcpSyn));
  EXPECT_EQ(w.endpoints, std::vector<std::uint32_t>{kNgfw});
  EXPECT_EQ(w.hops, std::vector<std::uint8_t>{1});
  EXPECT_EQ(w.last.action, Action::kPass);
  // DNS goes only to ids: passes uninspected.
  w = walk(Direction::kFromVm, vm_udp(5000, 53));
  EXPECT_TRUE(w.endpoints.empty());
  EXPECT_EQ(w.last.action, Action::kPass);
  // ngfw down: fail-closed drops, naming the redirect rule.
  ASSERT_TRUE(service_->set_instance_health("ngfw", 0, false).ok());
  w = walk(Direction::kFromVm, vm_tcp(40001, 80, kTcpSyn));
  EXPECT_TRUE(w.endpoints.empty());
  EXPECT_EQ(w.last.action, Action::kDrop);
  EXPECT_EQ(w.last.reason, DropReason::kServiceDown);
  EXPECT_EQ(w.last.rule_id, kRedirectWeb);
  EXPECT_EQ(w.last.slot, kSlotServiceInsertion);
  const ServiceStats st = service_->stats();
  EXPECT_GE(st.profiles[0].instances[0].skipped + st.profiles[0].instances[1].skipped, 3u);
  EXPECT_EQ(st.profiles[1].instances[0].dropped_down, 1u);
  EXPECT_FALSE(st.profiles[1].instances[0].healthy);
  EXPECT_EQ(service_->set_instance_health("ids", 2, true).code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->set_instance_health("nope", 0, true).code(), StatusCode::kNotFound);
}

TEST_F(ServiceInsertionTest, PinnedFlowWaitsForItsInstanceUnlessRepinned) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  const std::uint32_t first = walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.at(0);
  const std::size_t position = first == kIdsA ? 0 : 1;
  ASSERT_TRUE(service_->set_instance_health("ids", position, false).ok());
  // Fail-open, no re-pinning: uninspected while down, back to it after.
  EXPECT_TRUE(walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.empty());
  ASSERT_TRUE(service_->set_instance_health("ids", position, true).ok());
  EXPECT_EQ(walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.at(0), first);

  RedirectPolicy repin = sample_policy();
  repin.profiles[0].repin_on_failure = true;
  ASSERT_TRUE(service_->apply(repin, {kVnic}).ok());
  ASSERT_TRUE(service_->set_instance_health("ids", position, false).ok());
  const std::uint32_t other = first == kIdsA ? kIdsB : kIdsA;
  EXPECT_EQ(walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.at(0), other);
  // It stays on the new instance when the old one recovers.
  ASSERT_TRUE(service_->set_instance_health("ids", position, true).ok());
  EXPECT_EQ(walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.at(0), other);
  EXPECT_EQ(walk(Direction::kToVm, peer_udp(53, 5000)).endpoints.at(0), other);
  EXPECT_EQ(service_->stats().flows_repinned, 1u);
}

TEST_F(ServiceInsertionTest, FlowVerdictAllowOffloadsAndBlockDrops) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  ASSERT_EQ(walk(Direction::kFromVm, vm_udp(5000, 53)).endpoints.size(), 1u);
  ASSERT_TRUE(service_->set_flow_verdict(kVnic, vm_udp(5000, 53), FlowVerdict::kAllow).ok());
  Walk w = walk(Direction::kFromVm, vm_udp(5000, 53));
  EXPECT_TRUE(w.endpoints.empty());
  EXPECT_EQ(w.last.action, Action::kPass);
  EXPECT_TRUE(walk(Direction::kToVm, peer_udp(53, 5000)).endpoints.empty());

  ASSERT_EQ(walk(Direction::kFromVm, vm_udp(5001, 53)).endpoints.size(), 1u);
  // The verdict may come from a packet of either direction.
  ASSERT_TRUE(service_->set_flow_verdict(kVnic, peer_udp(53, 5001), FlowVerdict::kBlock).ok());
  for (const Walk& b : {walk(Direction::kFromVm, vm_udp(5001, 53)), walk(Direction::kToVm, peer_udp(53, 5001))}) {
    EXPECT_TRUE(b.endpoints.empty());
    EXPECT_EQ(b.last.action, Action::kDrop);
    EXPECT_EQ(b.last.reason, DropReason::kServiceFlowBlock);
    EXPECT_EQ(b.last.rule_id, kRedirectDns);
  }
  const ServiceStats st = service_->stats();
  EXPECT_EQ(st.flows_offloaded, 1u);
  EXPECT_EQ(st.flows_blocked, 1u);
  EXPECT_EQ(st.packets_fast_path, 2u);
  EXPECT_EQ(st.packets_flow_blocked, 2u);
  EXPECT_EQ(service_->set_flow_verdict(kVnic, vm_udp(6000, 53), FlowVerdict::kAllow).code(), StatusCode::kNotFound);
  const Bytes junk = {1, 2, 3};
  EXPECT_EQ(service_->set_flow_verdict(kVnic, junk, FlowVerdict::kAllow).code(), StatusCode::kInvalidArgument);
}

TEST_F(ServiceInsertionTest, DfwDropsBeforeRedirect) {
  Policy no_dns;
  Section s;
  s.id = "s";
  Rule r;
  r.id = 1;
  r.inline_services = {ServiceEntry{.protocol = kUdp, .dst_ports = {PortRange{53, 53}}}};
  r.action = RuleAction::kDrop;
  s.rules = {r};
  no_dns.categories[static_cast<int>(Category::kApplication)] = {s};
  ASSERT_TRUE(dfw_->apply(no_dns, {kVnic}).ok());
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  const Walk w = walk(Direction::kFromVm, vm_udp(5000, 53));
  EXPECT_TRUE(w.endpoints.empty());
  EXPECT_EQ(w.last.action, Action::kDrop);
  EXPECT_EQ(w.last.slot, kSlotDfw);
  const ServiceStats st = service_->stats();
  EXPECT_EQ(st.profiles[0].instances[0].redirected + st.profiles[0].instances[1].redirected, 0u);
}

TEST_F(ServiceInsertionTest, ResumeRefusesWhatWasNotRedirected) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  Verdict pass;  // a pass, not a redirect
  EXPECT_EQ(resume(Direction::kFromVm, vm_udp(5000, 53), pass).reason, DropReason::kNotRedirected);
  Verdict other_slot;
  other_slot.action = Action::kRedirect;
  other_slot.slot = 9;  // nothing installed there
  EXPECT_EQ(resume(Direction::kFromVm, vm_udp(5000, 53), other_slot).reason, DropReason::kNotRedirected);
}

TEST_F(ServiceInsertionTest, MixedBurstsResumeEachFrameAtItsHop) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  // Three frames in one burst: HTTP (chain), DNS (ids), SSH (not redirected).
  std::vector<Bytes> bytes = {vm_tcp(40000, 80, kTcpSyn), vm_udp(5000, 53), vm_tcp(40002, 22, kTcpSyn)};
  std::vector<Frame> frames(bytes.begin(), bytes.end());
  std::vector<Verdict> v(3);
  engine_->process(*worker_, kVnic, Direction::kFromVm, frames, v, {.now_ns = now_});
  EXPECT_EQ(v[0].action, Action::kRedirect);
  EXPECT_EQ(v[1].action, Action::kRedirect);
  EXPECT_EQ(v[2].action, Action::kPass);
  // Return the two redirected ones together.
  std::vector<Frame> back = {frames[0], frames[1]};
  std::vector<Verdict> bv = {v[0], v[1]};
  engine_->resume(*worker_, kVnic, Direction::kFromVm, back, bv, {.now_ns = now_});
  EXPECT_EQ(bv[0].action, Action::kRedirect);
  EXPECT_EQ(bv[0].service, kNgfw);
  EXPECT_EQ(bv[0].service_hop, 1);
  EXPECT_EQ(bv[1].action, Action::kPass);
  // Every burst size decides as one by one.
  for (std::size_t n : {0u, 1u, 2u, 3u}) {
    std::vector<Verdict> out(n);
    engine_->process(*worker_, kVnic, Direction::kFromVm, std::span(frames).first(n), out, {.now_ns = now_});
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(out[i].action, v[i].action) << n << " " << i;
  }
}

TEST(ServiceInsertionStateless, WithoutConnectionTrackingAFlowStillSticks) {
  auto engine = Engine::create({.max_workers = 1}).value();
  ASSERT_TRUE(engine->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
  auto worker = engine->create_worker().value();
  auto service = ServiceInsertion::create(*engine).value();
  ASSERT_TRUE(service->apply(sample_policy(), {kVnic}).ok());
  std::set<std::uint32_t> used;
  for (std::uint16_t port = 20000; port < 20032; ++port) {
    std::uint32_t seen = 0;
    for (int i = 0; i < 3; ++i) {
      const Bytes out = vm_udp(port, 53), in = peer_udp(53, port);
      for (const auto& [dir, frame] : {std::pair{Direction::kFromVm, &out}, std::pair{Direction::kToVm, &in}}) {
        Frame f(*frame);
        Verdict v;
        engine->process(*worker, kVnic, dir, std::span(&f, 1), std::span(&v, 1));
        if (dir == Direction::kToVm) continue;  // replies: no connection to say they are replies
        ASSERT_EQ(v.action, Action::kRedirect);
        if (seen == 0) seen = v.service;
        EXPECT_EQ(v.service, seen);
      }
    }
    used.insert(seen);
  }
  EXPECT_EQ(used.size(), 2u);
  Bytes frame = vm_udp(5000, 53);
  EXPECT_EQ(service->set_flow_verdict(kVnic, frame, FlowVerdict::kAllow).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ServiceInsertionTest, InvalidPolicyIsRejectedAndThePreviousStays) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  RedirectPolicy bad = sample_policy();
  bad.rules[1].target = "missing";
  const Status s = service_->apply(bad, {kVnic});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40000, 80, kTcpSyn)).endpoints.size(), 2u);
  EXPECT_EQ(service_->apply(sample_policy(), {99}).code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->policy_generation(), 1u);
}

TEST_F(ServiceInsertionTest, AppliedToAndGroupsThroughTheSinks) {
  RedirectPolicy rp = sample_policy();
  Group web;
  web.id = "web";
  rp.groups = {web};
  RedirectRule to_web;
  to_web.id = 30;
  to_web.destinations.groups = {"web"};
  to_web.target = "ids";
  to_web.applied_to_vnics = {kOtherVnic};
  rp.rules.insert(rp.rules.begin(), to_web);
  ASSERT_TRUE(service_->apply(rp, {kVnic, kOtherVnic}).ok());
  const Bytes tcp = vm_tcp(40000, 8080, kTcpSyn, 1000, 0, "10.0.2.7");
  EXPECT_TRUE(walk(Direction::kFromVm, tcp, kOtherVnic).endpoints.empty());
  // The inventory's deltas reach the redirect table through a fan-out sink
  // (the DFW does not know group "web": its sink's kNotFound is returned,
  // after the service's sink has applied the delta).
  auto dfw_sink = make_dfw_group_sink(*dfw_);
  auto service_sink = make_service_group_sink(*service_);
  auto fanout = make_group_sink_fanout({service_sink.get(), dfw_sink.get()});
  GroupDelta d{.group_id = "web", .added = {cidr("10.0.2.0/24")}, .removed = {}};
  EXPECT_EQ(fanout->apply(std::span(&d, 1)).code(), StatusCode::kNotFound);
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40001, 8080, kTcpSyn, 1000, 0, "10.0.2.7"), kOtherVnic).endpoints.size(), 1u);
  // Applied to the other vNIC only.
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40002, 8080, kTcpSyn, 1000, 0, "10.0.2.7"), kVnic).endpoints.empty());
  ASSERT_TRUE(service_sink->apply(std::span(&d, 1)).ok());
  GroupDelta gone{.group_id = "web", .added = {}, .removed = {cidr("10.0.2.0/24")}};
  ASSERT_TRUE(service_sink->apply(std::span(&gone, 1)).ok());
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40003, 8080, kTcpSyn, 1000, 0, "10.0.2.7"), kOtherVnic).endpoints.empty());
  // An exclusion (exclude_vm_ids, as the inventory sends it) wins over membership.
  GroupDelta excluded{.group_id = "web", .added = {cidr("10.0.2.0/24")}, .removed = {},
                      .excluded_added = {cidr("10.0.2.7/32")}, .excluded_removed = {}};
  ASSERT_TRUE(service_sink->apply(std::span(&excluded, 1)).ok());
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40004, 8080, kTcpSyn, 1000, 0, "10.0.2.7"), kOtherVnic).endpoints.empty());
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40005, 8080, kTcpSyn, 1000, 0, "10.0.2.8"), kOtherVnic).endpoints.size(), 1u);
}

TEST_F(ServiceInsertionTest, DynamicAppliedToFollowsGroupMembership) {
  RedirectPolicy rp = sample_policy();
  Group tagged;
  tagged.id = "inspect-me";  // its members come from the inventory's criteria
  rp.groups = {tagged};
  RedirectRule inspect;
  inspect.id = 40;
  inspect.inline_services = {ServiceEntry{.protocol = kTcp, .dst_ports = {PortRange{22, 22}}}};
  inspect.applied_to_groups = {"inspect-me"};
  inspect.target = "ids";
  rp.rules.insert(rp.rules.begin(), inspect);
  ASSERT_TRUE(service_->apply(rp, {kVnic, kOtherVnic}).ok());
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40000, 22, kTcpSyn)).endpoints.empty());
  // The VM behind vNIC 1 gets the tag: its vNIC joins the group.
  auto sink = make_service_group_sink(*service_);
  GroupDelta joined{.group_id = "inspect-me", .added = {}, .removed = {}, .excluded_added = {}, .excluded_removed = {},
                    .vnics_joined = {kVnic}, .vnics_left = {}};
  const std::uint64_t before = engine_->generation();
  ASSERT_TRUE(sink->apply(std::span(&joined, 1)).ok());
  EXPECT_EQ(engine_->generation(), before + 1);
  Walk w = walk(Direction::kFromVm, vm_tcp(40001, 22, kTcpSyn));
  ASSERT_EQ(w.endpoints.size(), 1u);
  EXPECT_EQ(w.last.action, Action::kPass);
  // The other vNIC's filter was not re-installed, and is not affected.
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40002, 22, kTcpSyn), kOtherVnic).endpoints.empty());
  // The other rules still apply to vNIC 1, in order.
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40003, 80, kTcpSyn)).endpoints.size(), 2u);
  // A re-apply keeps the dynamic member.
  ASSERT_TRUE(service_->apply(rp, {kVnic, kOtherVnic}).ok());
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40004, 22, kTcpSyn)).endpoints.size(), 1u);
  // The tag is removed.
  GroupDelta left{.group_id = "inspect-me", .added = {}, .removed = {}, .excluded_added = {}, .excluded_removed = {},
                  .vnics_joined = {}, .vnics_left = {kVnic}};
  ASSERT_TRUE(sink->apply(std::span(&left, 1)).ok());
  EXPECT_TRUE(walk(Direction::kFromVm, vm_tcp(40005, 22, kTcpSyn)).endpoints.empty());
  // Groups the redirect policy lacks change nothing (and are no error).
  EXPECT_TRUE(service_->update_group_vnics({{.group_id = "elsewhere", .joined = {kVnic}, .left = {}}}).ok());
}

TEST_F(ServiceInsertionTest, MetadataAndServiceDropsAndEncapsulation) {
  RedirectPolicy rp = sample_policy();
  rp.profiles[1].encapsulation = ServiceEncapsulation::kNsh;
  Group web, clients;
  web.id = "web";
  clients.id = "clients";
  rp.groups = {clients, web};
  rp.rules[1].sources.groups = {"clients"};
  rp.rules[1].destinations.groups = {"web"};
  ASSERT_TRUE(service_->apply(rp, {kVnic}).ok());
  ASSERT_TRUE(service_->add_group_addresses("clients", {cidr("10.0.0.0/24")}).ok());
  ASSERT_TRUE(service_->add_group_addresses("web", {cidr("10.0.1.0/24")}).ok());
  service_->set_vnic_tags_id(kVnic, 4242);
  const Bytes syn = vm_tcp(40000, 80, kTcpSyn);
  const Verdict first = process(Direction::kFromVm, syn);
  ASSERT_EQ(first.action, Action::kRedirect);
  EXPECT_EQ(service_->encapsulation(first), ServiceEncapsulation::kNone);
  const ServiceMetadata md = service_->metadata(kVnic, first).value();
  EXPECT_EQ(md.path_id, 77u);
  EXPECT_EQ(md.service_index, 255);
  EXPECT_EQ(md.rule_id, kRedirectWeb);
  EXPECT_EQ(md.vnic_id, kVnic);
  EXPECT_EQ(md.endpoint, first.service);
  EXPECT_EQ(md.source_group, service_->group_numeric_id("clients").value());
  EXPECT_EQ(md.destination_group, service_->group_numeric_id("web").value());
  EXPECT_EQ(service_->group_id_of(md.destination_group).value(), "web");
  EXPECT_EQ(md.vm_tags_id, 4242u);
  const Verdict second = resume(Direction::kFromVm, syn, first);
  ASSERT_EQ(second.service, kNgfw);
  EXPECT_EQ(service_->encapsulation(second), ServiceEncapsulation::kNsh);
  EXPECT_EQ(service_->metadata(kVnic, second).value().service_index, 254);
  // The frame travels to ngfw behind an NSH that says all of it.
  const ServiceMetadata md2 = service_->metadata(kVnic, second).value();
  std::vector<std::uint8_t> wire(nsh_encapsulated_size(nsh_context(md2, 99), syn.size()));
  const NshWriteResult written = nsh_encapsulate(nsh_context(md2, 99), syn, wire);
  ASSERT_TRUE(written.ok()) << nsh_error_name(written.error);
  NshDecoded decoded;
  ASSERT_EQ(nsh_decode(std::span(wire).first(written.bytes), decoded), NshError::kOk);
  EXPECT_EQ(decoded.context.spi, 77u);
  EXPECT_EQ(decoded.context.si, 254);
  EXPECT_EQ(decoded.context.rule_id, kRedirectWeb);
  EXPECT_EQ(decoded.context.source_group, md.source_group);
  EXPECT_EQ(decoded.context.destination_group, md.destination_group);
  EXPECT_EQ(decoded.context.tag_set_id, 4242u);
  EXPECT_EQ(decoded.context.vnic_id, kVnic);
  EXPECT_EQ(decoded.context.flow_id, 99u);
  EXPECT_TRUE(std::equal(decoded.payload.begin(), decoded.payload.end(), syn.begin(), syn.end()));
  service_->count_service_drop(second);
  EXPECT_EQ(service_->stats().profiles[1].instances[0].dropped_by_service, 1u);
  EXPECT_EQ(service_->metadata(kVnic, Verdict{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->group_numeric_id("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceInsertionTest, HealthProbeMarksInstancesDownAndUp) {
  ASSERT_TRUE(service_->apply(sample_policy(), {kVnic}).ok());
  std::atomic<bool> ngfw_up{false};
  ASSERT_TRUE(service_
                  ->start_health_checks([&](const std::string&, std::size_t, std::uint32_t endpoint) {
                    return endpoint != kNgfw || ngfw_up.load();
                  },
                                        std::chrono::milliseconds(5))
                  .ok());
  auto ngfw_healthy = [&] { return service_->stats().profiles[1].instances[0].healthy; };
  for (int i = 0; i < 400 && ngfw_healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(ngfw_healthy());
  EXPECT_EQ(walk(Direction::kFromVm, vm_tcp(40000, 80, kTcpSyn)).last.reason, DropReason::kServiceDown);
  ngfw_up = true;
  for (int i = 0; i < 400 && !ngfw_healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(ngfw_healthy());
  service_->stop_health_checks();
  EXPECT_EQ(service_->start_health_checks(nullptr, std::chrono::milliseconds(5)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->start_health_checks([](const std::string&, std::size_t, std::uint32_t) { return true; },
                                          std::chrono::milliseconds(0))
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fw
