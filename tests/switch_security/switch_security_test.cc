// Switch security in slot 1 (fw/switch_security.h), frames through a real
// fw::Engine: every drop reason and every allowed case (table-driven), TOFU
// learning from ARP, DAD and DHCP then enforcement, declared-only refusing to
// learn, the address bound (on the datapath and in poll()), the learn ring's
// bound, expiry by caller time (lifetime, refresh, DHCP lease, release),
// exclusivity across vNICs, learned bindings reaching a listener and an
// Inventory's groups, mode changes and bad input.
#include "fw/switch_security.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fw/engine.h"
#include "fw/inventory.h"
#include "fw/policy.h"
#include "tests/support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::NdOptions;
using test::PacketBuilder;
using R = SwitchSecurityReason;
using Clock = std::chrono::steady_clock;

constexpr const char* kVmMac = "02:00:00:00:00:01";
constexpr const char* kOtherMac = "02:00:00:00:00:66";
constexpr const char* kRouterMac = "02:00:00:00:00:fe";
constexpr const char* kBroadcast = "ff:ff:ff:ff:ff:ff";
constexpr std::uint32_t kVnic = 1;
constexpr std::uint32_t kVnic2 = 2;

IpAddress ip(const char* text) { return parse_ip(text).value(); }
const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(100);

// ---- frames ------------------------------------------------------------------

Bytes tcp_from(const char* src_ip, const char* src_mac = kVmMac) {
  return PacketBuilder().eth(src_mac, kRouterMac).ipv4(src_ip, "10.0.0.9").tcp(40000, 80, kTcpSyn).build();
}
Bytes tcp6_from(const char* src_ip) {
  return PacketBuilder().eth(kVmMac, kRouterMac).ipv6(src_ip, "2001:db8::9").tcp(40000, 80, kTcpSyn).build();
}
Bytes arp(const char* sender_ip, const char* sender_mac = kVmMac, std::uint16_t op = 1,
          const char* target_ip = "10.0.0.1") {
  return PacketBuilder()
      .eth(kVmMac, kBroadcast)
      .arp({.operation = op, .sender_mac = sender_mac, .sender_ip = sender_ip, .target_ip = target_ip})
      .build();
}
Bytes neighbor_advertisement(const char* src, const char* target, const char* tlla = kVmMac) {
  return PacketBuilder()
      .eth(kVmMac, "33:33:00:00:00:01")
      .ipv6(src, "ff02::1", {.hop_limit = 255})
      .nd_neighbor_advertisement(target, 0x20000000, NdOptions().target_link_address(tlla))
      .build();
}
Bytes neighbor_solicitation(const char* src, const char* target, const char* slla = nullptr) {
  NdOptions options;
  if (slla != nullptr) options.source_link_address(slla);
  return PacketBuilder()
      .eth(kVmMac, "33:33:ff:00:00:07")
      .ipv6(src, "ff02::1:ff00:7", {.hop_limit = 255})
      .nd_neighbor_solicitation(target, options)
      .build();
}
Bytes dhcp_from_vm(std::uint8_t message_type, const char* src_ip = "0.0.0.0", const char* ciaddr = "0.0.0.0") {
  return PacketBuilder()
      .eth(kVmMac, kBroadcast)
      .ipv4(src_ip, "255.255.255.255")
      .udp(kUdpPortDhcpClient, kUdpPortDhcpServer)
      .dhcp({.op = 1, .client_mac = kVmMac, .client_ip = ciaddr, .message_type = message_type})
      .build();
}
// A server's reply towards the VM (or, sent from the VM, a rogue one).
Bytes dhcp_reply(std::uint8_t message_type, const char* yiaddr, std::optional<std::uint32_t> lease,
                 const char* src_mac = kRouterMac, const char* src_ip = "10.0.0.1",
                 const char* chaddr = kVmMac) {
  return PacketBuilder()
      .eth(src_mac, kVmMac)
      .ipv4(src_ip, yiaddr)
      .udp(kUdpPortDhcpServer, kUdpPortDhcpClient)
      .dhcp({.op = 2, .client_mac = chaddr, .your_ip = yiaddr, .message_type = message_type,
             .lease_seconds = lease, .server_id = std::string(src_ip)})
      .build();
}

// ---- fixture -------------------------------------------------------------------

class SwitchSecurityTest : public ::testing::Test {
 protected:
  void start(SwitchSecurityOptions options = {}, VnicSecurityConfig config = {}) {
    engine_ = Engine::create({.max_workers = 2}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic2, .mac = parse_mac(kOtherMac).value()}).ok());
    auto ss = SwitchSecurity::create(*engine_, options);
    ASSERT_TRUE(ss.ok()) << ss.status().message();
    ss_ = std::move(*ss);
    config.vnic_id = kVnic;
    Status s = ss_->protect(config);
    ASSERT_TRUE(s.ok()) << s.message();
    worker_ = engine_->create_worker().value();
  }
  void TearDown() override {
    worker_.reset();
    ss_.reset();
    engine_.reset();
  }

  Verdict send(const Bytes& frame, Direction dir = Direction::kFromVm, std::uint32_t vnic = kVnic) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, vnic, dir, std::span<const Frame>(&f, 1), std::span<Verdict>(&v, 1));
    return v;
  }
  PollReport poll(Clock::time_point now = t0) {
    auto r = ss_->poll(now);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : PollReport{};
  }
  SwitchSecurityCounters counters(std::uint32_t vnic = kVnic) { return ss_->counters(vnic).value(); }
  bool bound(const char* address, std::uint32_t vnic = kVnic) {
    const std::vector<Binding> all = ss_->bindings(vnic).value();
    for (const Binding& b : all)
      if (b.address == ip(address)) return true;
    return false;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SwitchSecurity> ss_;
  std::unique_ptr<Worker> worker_;
};

::testing::AssertionResult dropped(const Verdict& v, R reason) {
  // Spoofing drops say so (DropReason::kSpoofGuard, "spoof-guard"); rogue
  // servers and routers are policy (kRule).
  const bool spoof = reason != R::kRogueDhcpServer && reason != R::kRogueRouter && reason != R::kWrongVnic;
  if (v.action == Action::kDrop && v.slot == kSlotSwitchSecurity &&
      v.reason == (spoof ? DropReason::kSpoofGuard : DropReason::kRule) && v.rule_id == static_cast<std::uint32_t>(reason))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "verdict " << action_name(v.action) << " slot " << int(v.slot) << " rule " << v.rule_id << " reason "
         << drop_reason_name(v.reason) << ", expected drop by switch security for " << switch_security_reason_name(reason);
}
::testing::AssertionResult passed(const Verdict& v) {
  if (v.action == Action::kPass) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "dropped: slot " << int(v.slot) << " rule " << v.rule_id << " ("
                                       << switch_security_reason_name(static_cast<R>(v.rule_id)) << ")";
}

// ---- enforcement, table-driven ---------------------------------------------------------

struct Case {
  const char* description;
  Bytes frame;
  Direction direction;
  R expected;  // kNone: passes
};

std::vector<Case> enforcement_cases() {
  using D = Direction;
  std::vector<Case> cases = {
      {"IPv4 TCP from the bound address", tcp_from("10.0.0.5"), D::kFromVm, R::kNone},
      {"IPv6 TCP from the bound address", tcp6_from("2001:db8::5"), D::kFromVm, R::kNone},
      {"IPv6 from a link-local address (kAllow)", tcp6_from("fe80::1234"), D::kFromVm, R::kNone},
      {"IPv4 from 169.254/16 (kAllow)", tcp_from("169.254.1.1"), D::kFromVm, R::kNone},
      {"ARP request from the bound address", arp("10.0.0.5"), D::kFromVm, R::kNone},
      {"ARP reply from the bound address", arp("10.0.0.5", kVmMac, 2), D::kFromVm, R::kNone},
      {"ARP probe from 0.0.0.0", arp("0.0.0.0", kVmMac, 1, "10.0.0.5"), D::kFromVm, R::kNone},
      {"DHCP discover from 0.0.0.0", dhcp_from_vm(1), D::kFromVm, R::kNone},
      {"DHCP request from 0.0.0.0", dhcp_from_vm(3), D::kFromVm, R::kNone},
      {"DHCP renewal from the bound address", dhcp_from_vm(3, "10.0.0.5", "10.0.0.5"), D::kFromVm, R::kNone},
      {"DAD neighbour solicitation from ::", neighbor_solicitation("::", "2001:db8::77"), D::kFromVm, R::kNone},
      {"MLDv2 report from :: (precedes DAD)",
       PacketBuilder().eth(kVmMac, "33:33:00:00:00:16").ipv6("::", "ff02::16", {.hop_limit = 1})
           .ipv6_hop_by_hop({.options = {0x05, 0x02, 0x00, 0x00}}).icmpv6(143, 0).build(),
       D::kFromVm, R::kNone},
      {"NS from the bound address, own source link-layer option",
       neighbor_solicitation("2001:db8::5", "2001:db8::1", kVmMac), D::kFromVm, R::kNone},
      {"NA for the bound address", neighbor_advertisement("2001:db8::5", "2001:db8::5"), D::kFromVm, R::kNone},
      {"NA from link-local for the bound global address",
       neighbor_advertisement("fe80::1", "2001:db8::5"), D::kFromVm, R::kNone},
      {"LLDP (not IP) from the vNIC's MAC",
       PacketBuilder().eth(kVmMac, "01:80:c2:00:00:0e", 0x88cc).payload(46).build(), D::kFromVm, R::kNone},
      {"anything towards the VM", tcp_from("192.0.2.1", kOtherMac), D::kToVm, R::kNone},
      {"a DHCP ACK towards the VM", dhcp_reply(5, "10.0.0.5", 3600), D::kToVm, R::kNone},

      {"IPv4 from a foreign source MAC", tcp_from("10.0.0.5", kOtherMac), D::kFromVm, R::kSourceMac},
      {"ARP from a foreign source MAC",
       PacketBuilder().eth(kOtherMac, kBroadcast).arp({.sender_mac = kVmMac, .sender_ip = "10.0.0.5"}).build(),
       D::kFromVm, R::kSourceMac},
      {"IPv4 from an unbound address", tcp_from("10.0.0.6"), D::kFromVm, R::kSourceIp},
      {"IPv6 from an unbound address", tcp6_from("2001:db8::6"), D::kFromVm, R::kSourceIp},
      {"UDP from 0.0.0.0 that is not DHCP",
       PacketBuilder().eth(kVmMac, kBroadcast).ipv4("0.0.0.0", "255.255.255.255").udp(5000, 5001).build(),
       D::kFromVm, R::kSourceIp},
      {"ICMPv6 echo from ::",
       PacketBuilder().eth(kVmMac, kRouterMac).ipv6("::", "2001:db8::9").icmpv6_echo(1, 1).build(),
       D::kFromVm, R::kSourceIp},
      {"ARP whose sender MAC is not the vNIC's", arp("10.0.0.5", kOtherMac), D::kFromVm, R::kArpSenderMac},
      {"ARP claiming an unbound address (declared-only)", arp("10.0.0.6"), D::kFromVm, R::kArpSenderIp},
      {"gratuitous ARP reply for an unbound address", arp("10.0.0.1", kVmMac, 2, "10.0.0.1"), D::kFromVm,
       R::kArpSenderIp},
      {"NA for an unbound target", neighbor_advertisement("fe80::1", "2001:db8::1"), D::kFromVm, R::kNdTarget},
      {"NA whose target link-layer option is not the vNIC's",
       neighbor_advertisement("2001:db8::5", "2001:db8::5", kOtherMac), D::kFromVm, R::kNdLinkAddress},
      {"NS whose source link-layer option is not the vNIC's",
       neighbor_solicitation("2001:db8::5", "2001:db8::1", kOtherMac), D::kFromVm, R::kNdLinkAddress},
      {"DHCP OFFER from the VM", dhcp_reply(2, "10.0.0.50", 3600, kVmMac, "10.0.0.5", kOtherMac), D::kFromVm,
       R::kRogueDhcpServer},
      {"DHCP ACK from the VM", dhcp_reply(5, "10.0.0.50", 3600, kVmMac, "10.0.0.5", kOtherMac), D::kFromVm,
       R::kRogueDhcpServer},
      {"router advertisement from the VM",
       PacketBuilder().eth(kVmMac, "33:33:00:00:00:01").ipv6("fe80::5", "ff02::1", {.hop_limit = 255})
           .nd_router_advertisement(NdOptions().source_link_address(kVmMac)).build(),
       D::kFromVm, R::kRogueRouter},
      {"ICMPv6 redirect from the VM",
       PacketBuilder().eth(kVmMac, kRouterMac).ipv6("fe80::5", "2001:db8::9", {.hop_limit = 255})
           .nd_redirect("2001:db8::1", "2001:db8::77").build(),
       D::kFromVm, R::kRogueRouter},
  };
  return cases;
}

TEST_F(SwitchSecurityTest, EveryDropReasonAndEveryAllowedCase) {
  start({}, {.mode = BindingMode::kDeclaredOnly, .declared = {ip("10.0.0.5"), ip("2001:db8::5")}});
  std::array<std::uint64_t, kSwitchSecurityReasonCount> expected_drops{};
  std::uint64_t from_vm = 0;
  for (const Case& c : enforcement_cases()) {
    SCOPED_TRACE(c.description);
    PacketView view;
    ASSERT_EQ(parse_frame(c.frame, view), ParseError::kOk);
    const Verdict v = send(c.frame, c.direction);
    if (c.expected == R::kNone) {
      EXPECT_TRUE(passed(v));
    } else {
      EXPECT_TRUE(dropped(v, c.expected));
      ++expected_drops[static_cast<std::size_t>(c.expected)];
    }
    if (c.direction == Direction::kFromVm) ++from_vm;
  }
  const SwitchSecurityCounters n = counters();
  EXPECT_EQ(n.drops, expected_drops);
  EXPECT_EQ(n.checked, from_vm);
  EXPECT_EQ(n.learn_queued, 0u) << "declared-only must not queue anything";
  EXPECT_EQ(poll().learned, 0u);
  EXPECT_EQ(ss_->bindings(kVnic).value().size(), 2u);
}

TEST_F(SwitchSecurityTest, EveryReasonHasAStableDistinctName) {
  std::set<std::string_view> names;
  for (std::size_t r = 0; r < kSwitchSecurityReasonCount; ++r) {
    const std::string_view name = switch_security_reason_name(static_cast<R>(r));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(switch_security_reason_name(R::kSourceIp), "source-ip");
  EXPECT_EQ(switch_security_reason_name(R::kRogueDhcpServer), "rogue-dhcp-server");
}

TEST_F(SwitchSecurityTest, TrustedServerAndRouterMaySendTheirMessages) {
  start({}, {.mode = BindingMode::kDeclaredOnly, .trusted_dhcp_server = true, .trusted_router = true,
             .declared = {ip("10.0.0.5")}});
  EXPECT_TRUE(passed(send(dhcp_reply(5, "10.0.0.50", 3600, kVmMac, "10.0.0.5", kOtherMac))));
  EXPECT_TRUE(passed(send(PacketBuilder().eth(kVmMac, "33:33:00:00:00:01").ipv6("fe80::5", "ff02::1")
                              .nd_router_advertisement().build())));
  // Trust covers the role, not the address: a reply from an unbound source is still forged.
  EXPECT_TRUE(dropped(send(dhcp_reply(5, "10.0.0.50", 3600, kVmMac, "10.0.0.6", kOtherMac)), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, LinkLocalBindPolicyTreatsLinkLocalAsAnyAddress) {
  start({}, {.mode = BindingMode::kDeclaredOnly, .link_local = LinkLocalPolicy::kBind,
             .declared = {ip("fe80::5")}});
  EXPECT_TRUE(passed(send(tcp6_from("fe80::5"))));
  EXPECT_TRUE(dropped(send(tcp6_from("fe80::6")), R::kSourceIp));
  EXPECT_TRUE(dropped(send(tcp_from("169.254.1.1")), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, DropsInOneBurstAreDecidedPerPacket) {
  start({}, {.mode = BindingMode::kDeclaredOnly, .declared = {ip("10.0.0.5")}});
  std::vector<Bytes> storage;
  for (int i = 0; i < 40; ++i)
    storage.push_back(i % 3 == 0 ? tcp_from("10.0.0.6") : i % 3 == 1 ? tcp_from("10.0.0.5") : arp("10.0.0.5", kOtherMac));
  std::vector<Frame> frames(storage.begin(), storage.end());
  std::vector<Verdict> verdicts(frames.size());
  engine_->process(*worker_, kVnic, Direction::kFromVm, frames, verdicts);
  for (int i = 0; i < 40; ++i) {
    SCOPED_TRACE(i);
    if (i % 3 == 0) {
      EXPECT_TRUE(dropped(verdicts[i], R::kSourceIp));
    } else if (i % 3 == 1) {
      EXPECT_TRUE(passed(verdicts[i]));
    } else {
      EXPECT_TRUE(dropped(verdicts[i], R::kArpSenderMac));
    }
  }
  EXPECT_EQ(engine_->describe_chain(kVnic).value().slots[kSlotSwitchSecurity], "switch-security");
}

// ---- learning -------------------------------------------------------------------------

class RecordingListener : public BindingListener {
 public:
  Status on_bindings(std::span<const BindingChange> changes) override {
    ++calls;
    for (const BindingChange& c : changes) {
      const std::string key = std::to_string(c.vnic_id) + " " + c.address.to_string();
      log.push_back((c.kind == BindingChangeKind::kLearned ? "+" : "-") + key);
    }
    return fail ? io_error("listener down") : Status::Ok();
  }
  int calls = 0;
  bool fail = false;
  std::vector<std::string> log;
};

TEST_F(SwitchSecurityTest, TofuLearnsFromArpAndTheClaimPassesAfterPoll) {
  RecordingListener listener;
  start({.listener = &listener});
  // The claim itself is held back until the control plane has checked it.
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.7")), R::kSourceIp)) << "not live before poll()";
  EXPECT_FALSE(bound("10.0.0.7"));
  EXPECT_EQ(counters().learn_queued, 1u);

  const PollReport r = poll();
  EXPECT_EQ(r.candidates, 1u);
  EXPECT_EQ(r.learned, 1u);
  EXPECT_EQ(r.published, 1u);
  EXPECT_TRUE(r.listener_status.ok());
  EXPECT_EQ(listener.log, std::vector<std::string>{"+1 10.0.0.7"});
  const auto b = ss_->bindings(kVnic).value();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(b[0].learned);
  EXPECT_FALSE(b[0].declared);
  EXPECT_EQ(b[0].expires, t0 + std::chrono::hours(1));

  EXPECT_TRUE(passed(send(arp("10.0.0.7"))));
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.7"))));
  // Still enforced for everything else.
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.8")), R::kSourceIp));
  EXPECT_TRUE(dropped(send(arp("10.0.0.7", kOtherMac)), R::kArpSenderMac));
  EXPECT_EQ(counters().learned, 1u);
}

TEST_F(SwitchSecurityTest, TofuLearnsFromNeighbourAdvertisementAndDad) {
  start();
  EXPECT_TRUE(dropped(send(neighbor_advertisement("2001:db8::7", "2001:db8::7")), R::kLearning));
  EXPECT_TRUE(passed(send(neighbor_solicitation("::", "2001:db8::8"))));  // DAD passes, queues its target
  EXPECT_TRUE(passed(send(arp("0.0.0.0", kVmMac, 1, "10.0.0.8"))));     // so does an ARP probe
  EXPECT_EQ(poll().learned, 3u);
  EXPECT_TRUE(passed(send(tcp6_from("2001:db8::7"))));
  EXPECT_TRUE(passed(send(tcp6_from("2001:db8::8"))));
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.8"))));
  EXPECT_TRUE(passed(send(neighbor_advertisement("2001:db8::8", "2001:db8::8"))));
  // Link-local addresses pass without a binding and are not learned.
  EXPECT_TRUE(passed(send(neighbor_solicitation("::", "fe80::8"))));
  EXPECT_TRUE(passed(send(neighbor_advertisement("fe80::8", "fe80::8"))));
  EXPECT_EQ(poll().learned, 0u);
}

TEST_F(SwitchSecurityTest, TofuLearnsFromDhcpAckWithTheLeaseAsLifetime) {
  RecordingListener listener;
  start({.listener = &listener});
  EXPECT_TRUE(passed(send(dhcp_from_vm(1))));
  EXPECT_TRUE(passed(send(dhcp_reply(5, "10.0.0.20", 60), Direction::kToVm)));
  // An ACK for another client's MAC, a NAK, and an OFFER teach nothing.
  EXPECT_TRUE(passed(send(dhcp_reply(5, "10.0.0.21", 60, kRouterMac, "10.0.0.1", kOtherMac), Direction::kToVm)));
  EXPECT_TRUE(passed(send(dhcp_reply(6, "10.0.0.22", 60), Direction::kToVm)));
  EXPECT_TRUE(passed(send(dhcp_reply(2, "10.0.0.23", 60), Direction::kToVm)));
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.20")), R::kSourceIp));
  EXPECT_EQ(poll(t0).learned, 1u);
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.20"))));
  EXPECT_FALSE(bound("10.0.0.21"));
  EXPECT_EQ(ss_->bindings(kVnic).value()[0].expires, t0 + std::chrono::seconds(60));

  // Renewal at t0+50 moves the end of the lease.
  EXPECT_TRUE(passed(send(dhcp_reply(5, "10.0.0.20", 60), Direction::kToVm)));
  EXPECT_EQ(poll(t0 + std::chrono::seconds(50)).refreshed, 1u);
  EXPECT_EQ(poll(t0 + std::chrono::seconds(100)).expired, 0u);
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.20"))));
  const PollReport r = poll(t0 + std::chrono::seconds(110));
  EXPECT_EQ(r.expired, 1u);
  EXPECT_EQ(r.published, 1u);
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.20")), R::kSourceIp));
  EXPECT_EQ(listener.log, (std::vector<std::string>{"+1 10.0.0.20", "-1 10.0.0.20"}));
  EXPECT_EQ(counters().expired, 1u);
}

TEST_F(SwitchSecurityTest, DhcpReleaseUnlearnsTheAddress) {
  start();
  ASSERT_TRUE(passed(send(dhcp_reply(5, "10.0.0.20", 3600), Direction::kToVm)));
  ASSERT_EQ(poll().learned, 1u);
  EXPECT_TRUE(passed(send(dhcp_from_vm(7, "10.0.0.20", "10.0.0.20"))));
  EXPECT_EQ(poll().released, 1u);
  EXPECT_FALSE(bound("10.0.0.20"));
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.20")), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, LearnedLifetimeIsExtendedOnlyByUse) {
  start({.learned_lifetime = std::chrono::seconds(10)});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  ASSERT_EQ(poll(t0).learned, 1u);
  // Used in ARP at t0+5: lives until t0+15. Many ARPs queue one refresh.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(passed(send(arp("10.0.0.7"))));
  EXPECT_EQ(counters().learn_queued, 2u);
  EXPECT_EQ(poll(t0 + std::chrono::seconds(5)).refreshed, 1u);
  EXPECT_EQ(poll(t0 + std::chrono::seconds(12)).expired, 0u);
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.7"))));  // data traffic does not refresh
  EXPECT_EQ(poll(t0 + std::chrono::seconds(15)).expired, 1u);
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.7")), R::kSourceIp));
  // And it can be learned again.
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  EXPECT_EQ(poll(t0 + std::chrono::seconds(16)).learned, 1u);
}

TEST_F(SwitchSecurityTest, ZeroLifetimeNeverExpires) {
  start({.learned_lifetime = std::chrono::seconds(0)});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  ASSERT_EQ(poll(t0).learned, 1u);
  EXPECT_EQ(poll(t0 + std::chrono::hours(24 * 365)).expired, 0u);
  EXPECT_TRUE(bound("10.0.0.7"));
}

TEST_F(SwitchSecurityTest, DeclaredOnlyRefusesToLearn) {
  start({}, {.mode = BindingMode::kDeclaredOnly, .declared = {ip("10.0.0.5")}});
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kArpSenderIp));
  EXPECT_TRUE(dropped(send(neighbor_advertisement("2001:db8::7", "2001:db8::7")), R::kNdTarget));
  EXPECT_TRUE(passed(send(neighbor_solicitation("::", "2001:db8::8"))));
  EXPECT_TRUE(passed(send(dhcp_reply(5, "10.0.0.20", 60), Direction::kToVm)));
  EXPECT_EQ(poll().candidates, 0u);
  EXPECT_EQ(ss_->bindings(kVnic).value().size(), 1u);
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.20")), R::kSourceIp));
  EXPECT_TRUE(dropped(send(tcp6_from("2001:db8::8")), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, SwitchingToDeclaredOnlyForgetsLearnedBindings) {
  RecordingListener listener;
  start({.listener = &listener}, {.declared = {ip("10.0.0.5")}});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  ASSERT_EQ(poll().learned, 1u);
  ASSERT_TRUE(ss_->protect({.vnic_id = kVnic, .mode = BindingMode::kDeclaredOnly, .declared = {ip("10.0.0.5")}}).ok());
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.7")), R::kSourceIp)) << "live when protect() returns";
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.5"))));
  EXPECT_TRUE(dropped(send(arp("10.0.0.9")), R::kArpSenderIp));
  poll();  // hands over the change made by protect()
  EXPECT_EQ(listener.log, (std::vector<std::string>{"+1 10.0.0.7", "-1 10.0.0.7"}));
  EXPECT_EQ(counters().learned, 1u) << "counters survive reconfiguration";
}

TEST_F(SwitchSecurityTest, AddressBoundOnTheDatapathAndInPoll) {
  start({.max_addresses_per_vnic = 3}, {.declared = {ip("10.0.0.5")}});
  // Two places left, three claims queued before the poll: the third is refused there.
  EXPECT_TRUE(dropped(send(arp("10.0.0.6")), R::kLearning));
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  EXPECT_TRUE(dropped(send(arp("10.0.0.8")), R::kLearning));
  PollReport r = poll();
  EXPECT_EQ(r.learned, 2u);
  EXPECT_EQ(r.refused_limit, 1u);
  EXPECT_TRUE(bound("10.0.0.6"));
  EXPECT_TRUE(bound("10.0.0.7"));
  EXPECT_FALSE(bound("10.0.0.8"));
  // Now full: the datapath refuses without queueing.
  EXPECT_TRUE(dropped(send(arp("10.0.0.8")), R::kAddressLimit));
  EXPECT_TRUE(dropped(send(neighbor_advertisement("2001:db8::8", "2001:db8::8")), R::kAddressLimit));
  EXPECT_TRUE(passed(send(neighbor_solicitation("::", "2001:db8::9"))));  // probe passes, not queued
  EXPECT_EQ(poll().candidates, 0u);
  const SwitchSecurityCounters n = counters();
  EXPECT_EQ(n.refused_limit, 1u);
  EXPECT_EQ(n.drop(R::kAddressLimit), 2u);
  // Declaring over the bound fails and changes nothing.
  Status s = ss_->add_declared(kVnic, ip("10.0.0.9"));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();
  EXPECT_EQ(ss_->bindings(kVnic).value().size(), 3u);
  // An address that is bound already can still be declared (no new place).
  EXPECT_TRUE(ss_->add_declared(kVnic, ip("10.0.0.6")).ok());
}

TEST_F(SwitchSecurityTest, FullLearnRingLosesCandidatesNotPackets) {
  start({.learn_queue_capacity = 2});
  for (const char* a : {"10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"})
    EXPECT_TRUE(dropped(send(arp(a)), R::kLearning));
  SwitchSecurityCounters n = counters();
  EXPECT_EQ(n.learn_queued, 2u);
  EXPECT_EQ(n.learn_queue_full, 2u);
  EXPECT_EQ(poll().learned, 2u);
  // The VM's retry gets through once the ring has room.
  EXPECT_TRUE(dropped(send(arp("10.0.0.8")), R::kLearning));
  EXPECT_EQ(poll().learned, 1u);
  EXPECT_TRUE(bound("10.0.0.8"));
}

TEST_F(SwitchSecurityTest, AnAddressBoundToAnotherVnicIsNotLearned) {
  start();
  ASSERT_TRUE(ss_->protect({.vnic_id = kVnic2, .mode = BindingMode::kDeclaredOnly, .declared = {ip("10.0.0.7")}}).ok());
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  PollReport r = poll();
  EXPECT_EQ(r.learned, 0u);
  EXPECT_EQ(r.refused_conflict, 1u);
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.7")), R::kSourceIp));
  EXPECT_EQ(counters().refused_conflict, 1u);
  // Once the other vNIC lets go, the address can be learned.
  ASSERT_TRUE(ss_->remove_declared(kVnic2, ip("10.0.0.7")).ok());
  EXPECT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  EXPECT_EQ(poll().learned, 1u);
}

TEST_F(SwitchSecurityTest, DeclaredChangesAreLiveWhenTheCallReturns) {
  start({}, {.mode = BindingMode::kDeclaredOnly});
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.5")), R::kSourceIp));
  ASSERT_TRUE(ss_->add_declared(kVnic, ip("10.0.0.5")).ok());
  ASSERT_TRUE(ss_->add_declared(kVnic, ip("10.0.0.5")).ok());  // idempotent
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.5"))));
  ASSERT_TRUE(ss_->remove_declared(kVnic, ip("10.0.0.5")).ok());
  ASSERT_TRUE(ss_->remove_declared(kVnic, ip("10.0.0.5")).ok());
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.5")), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, AnAddressBothDeclaredAndLearnedStaysUntilBothGo) {
  start({.learned_lifetime = std::chrono::seconds(10)}, {.declared = {ip("10.0.0.5")}});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  ASSERT_EQ(poll(t0).learned, 1u);
  ASSERT_TRUE(ss_->add_declared(kVnic, ip("10.0.0.7")).ok());
  EXPECT_EQ(poll(t0 + std::chrono::seconds(20)).expired, 1u);
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.7")))) << "still declared";
  ASSERT_TRUE(ss_->remove_declared(kVnic, ip("10.0.0.7")).ok());
  EXPECT_TRUE(dropped(send(tcp_from("10.0.0.7")), R::kSourceIp));
}

TEST_F(SwitchSecurityTest, UnprotectClearsTheSlotAndReportsLearnedBindingsGone) {
  RecordingListener listener;
  start({.listener = &listener});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  ASSERT_EQ(poll().learned, 1u);
  ASSERT_TRUE(ss_->unprotect(kVnic).ok());
  EXPECT_EQ(engine_->describe_chain(kVnic).value().slots[kSlotSwitchSecurity], "");
  EXPECT_TRUE(passed(send(tcp_from("192.0.2.1", kOtherMac))));  // nothing enforces any more
  poll();
  EXPECT_EQ(listener.log, (std::vector<std::string>{"+1 10.0.0.7", "-1 10.0.0.7"}));
  EXPECT_EQ(ss_->unprotect(kVnic).code(), StatusCode::kNotFound);
  EXPECT_EQ(ss_->counters(kVnic).status().code(), StatusCode::kNotFound);
}

TEST_F(SwitchSecurityTest, AListenerFailureIsReportedAndBindingsStayLive) {
  RecordingListener listener;
  listener.fail = true;
  start({.listener = &listener});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  PollReport r = poll();
  EXPECT_EQ(r.learned, 1u);
  EXPECT_EQ(r.listener_status.code(), StatusCode::kIoError);
  EXPECT_TRUE(passed(send(tcp_from("10.0.0.7"))));
}

TEST_F(SwitchSecurityTest, BadInputIsRejectedWithClearErrors) {
  start();
  auto e = Engine::create({.max_workers = 1}).value();
  EXPECT_EQ(SwitchSecurity::create(*e, {.max_addresses_per_vnic = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SwitchSecurity::create(*e, {.max_addresses_per_vnic = kMaxAddressesPerVnic + 1}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SwitchSecurity::create(*e, {.learn_queue_capacity = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SwitchSecurity::create(*e, {.learned_lifetime = std::chrono::seconds(-1)}).status().code(),
            StatusCode::kInvalidArgument);

  EXPECT_EQ(ss_->protect({.vnic_id = 99}).code(), StatusCode::kNotFound);
  EXPECT_EQ(ss_->protect({.vnic_id = 0}).code(), StatusCode::kInvalidArgument);
  Status s = ss_->protect({.vnic_id = kVnic2, .declared = {IpAddress{}}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("declared[0]"), std::string::npos) << s.message();
  EXPECT_EQ(ss_->protect({.vnic_id = kVnic2, .declared = {ip("0.0.0.0")}}).code(), StatusCode::kInvalidArgument);
  std::vector<IpAddress> many;
  for (std::uint32_t i = 0; i < 17; ++i) many.push_back(IpAddress::v4(0x0a000100 + i));
  EXPECT_EQ(ss_->protect({.vnic_id = kVnic2, .declared = many}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ss_->add_declared(99, ip("10.0.0.1")).code(), StatusCode::kNotFound);
  EXPECT_EQ(ss_->add_declared(kVnic, IpAddress{}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ss_->bindings(99).status().code(), StatusCode::kNotFound);
  // A failed protect installed nothing.
  EXPECT_EQ(engine_->describe_chain(kVnic2).value().slots[kSlotSwitchSecurity], "");
}

// ---- into the inventory and its groups ---------------------------------------------------

TEST_F(SwitchSecurityTest, LearnedAddressReachesTheInventoryAndTheGroupThatSelectsTheVm) {
  auto inventory = Inventory::create({}).value();
  Policy policy;
  Group web;
  web.id = "web";
  web.criteria.push_back(CriteriaExpression{.all_of = {Criterion{
      .key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .scope = "tier", .values = {"web"}}}});
  policy.groups = {web};
  ASSERT_TRUE(inventory->set_groups(policy).ok());
  ASSERT_TRUE(inventory
                  ->upsert_vm({.id = "vm-1", .name = "web-01", .tags = {{.scope = "tier", .value = "web"}},
                               .vnics = {{.id = kVnic, .mac = parse_mac(kVmMac).value(),
                                          .addresses = {ip("10.0.0.5")}}}})
                  .ok());
  auto listener = make_inventory_binding_listener(*inventory);
  start({.learned_lifetime = std::chrono::seconds(30), .listener = listener.get()},
        {.declared = {ip("10.0.0.5")}});

  ASSERT_TRUE(passed(send(dhcp_reply(5, "10.0.0.20", 0), Direction::kToVm)));  // no lease: lifetime
  ASSERT_TRUE(dropped(send(neighbor_advertisement("2001:db8::7", "2001:db8::7")), R::kLearning));
  PollReport r = poll(t0);
  ASSERT_EQ(r.learned, 2u);
  ASSERT_TRUE(r.listener_status.ok()) << r.listener_status.message();
  auto members = inventory->group_addresses("web").value();
  std::vector<std::string> texts;
  for (const Cidr& c : members) texts.push_back(c.address.to_string());
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"10.0.0.20", "10.0.0.5", "2001:db8::7"}));
  const VmInfo vm = inventory->vm("vm-1").value();
  ASSERT_EQ(vm.vnics.size(), 1u);
  for (const VnicAddress& a : vm.vnics[0].addresses)
    EXPECT_EQ(a.learned, a.address != ip("10.0.0.5")) << a.address.to_string();

  // Expiry takes them out of the group again; the declared one stays.
  r = poll(t0 + std::chrono::seconds(31));
  EXPECT_EQ(r.expired, 2u);
  EXPECT_TRUE(r.listener_status.ok());
  members = inventory->group_addresses("web").value();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].address, ip("10.0.0.5"));
}

TEST_F(SwitchSecurityTest, InventoryListenerReportsAVnicItDoesNotKnow) {
  auto inventory = Inventory::create({}).value();
  auto listener = make_inventory_binding_listener(*inventory);
  start({.listener = listener.get()});
  ASSERT_TRUE(dropped(send(arp("10.0.0.7")), R::kLearning));
  PollReport r = poll();
  EXPECT_EQ(r.learned, 1u);
  EXPECT_EQ(r.listener_status.code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fw
