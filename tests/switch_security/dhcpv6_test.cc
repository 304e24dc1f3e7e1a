// DHCPv6 snooping in switch security (slot 1): the reader of DHCPv6 messages
// on hand-built bytes (every error, truncation at every length), learning
// from a server's REPLY towards the VM (IA_NA and IA_TA addresses, the valid
// lifetime as the binding's), RELEASE / DECLINE from the VM and a lifetime
// of 0 unlearning, and rogue DHCPv6 servers in a VM dropped.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fw/engine.h"
#include "fw/switch_security.h"
#include "libfw/chain/switch_security_dhcpv6.h"
#include "tests/support/packet_builder.h"

namespace fw {
namespace {

using test::Bytes;
using test::dhcpv6_client_id_ll;
using test::dhcpv6_ia_address;
using test::dhcpv6_ia_na;
using test::dhcpv6_ia_ta;
using test::dhcpv6_message;
using test::dhcpv6_option;
using test::dhcpv6_status;
using test::PacketBuilder;
using R = SwitchSecurityReason;
using Clock = std::chrono::steady_clock;
namespace ssi = switch_security_internal;

constexpr const char* kVmMac = "02:00:00:00:00:01";
constexpr const char* kOtherMac = "02:00:00:00:00:66";
constexpr const char* kServerMac = "02:00:00:00:00:fe";
constexpr std::uint32_t kVnic = 1;
constexpr std::uint8_t kSolicit = 1, kAdvertise = 2, kRequest = 3, kReply = 7, kRelease = 8, kDecline = 9,
                       kRelayForward = 12;
const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(100);

IpAddress ip(const char* text) { return parse_ip(text).value(); }

// ---- the reader ------------------------------------------------------------------

Bytes full_reply() {
  return dhcpv6_message(kReply, 0xabcdef,
                        {dhcpv6_client_id_ll(kVmMac), dhcpv6_option(2, Bytes{0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe}),
                         dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::20", 1800, 3600)}, 900, 1440),
                         dhcpv6_ia_ta(2, {dhcpv6_ia_address("2001:db8::21", 600, 700, {dhcpv6_status(0)})})});
}

TEST(Dhcpv6Reader, ReadsTypeClientAndTheAddressesOfEveryIa) {
  ssi::Dhcpv6Message m;
  const Bytes bytes = full_reply();
  ASSERT_EQ(ssi::parse_dhcpv6(bytes, m), ssi::Dhcpv6Result::kOk);
  EXPECT_EQ(m.type, kReply);
  EXPECT_EQ(m.transaction_id, 0xabcdefu);
  ASSERT_TRUE(m.has_client_link_address);
  EXPECT_EQ(m.client_link_address, parse_mac(kVmMac).value());
  EXPECT_EQ(m.status, 0);
  ASSERT_EQ(m.lease_count, 2u);
  EXPECT_EQ(m.leases[0].address, ip("2001:db8::20"));
  EXPECT_EQ(m.leases[0].valid_lifetime, 3600u);
  EXPECT_EQ(m.leases[1].address, ip("2001:db8::21"));
  EXPECT_EQ(m.leases[1].valid_lifetime, 700u);
}

TEST(Dhcpv6Reader, DuidLltCarriesTheLinkAddressOtherDuidsDoNot) {
  ssi::Dhcpv6Message m;
  // DUID-LLT: type 1, hardware 1, time, MAC.
  Bytes llt = dhcpv6_message(kReply, 1, {dhcpv6_option(1, Bytes{0, 1, 0, 1, 0x2a, 0, 0, 1, 2, 0, 0, 0, 0, 1})});
  ASSERT_EQ(ssi::parse_dhcpv6(llt, m), ssi::Dhcpv6Result::kOk);
  EXPECT_TRUE(m.has_client_link_address);
  EXPECT_EQ(m.client_link_address, parse_mac(kVmMac).value());
  // DUID-EN (type 2) and a DUID-LL of another hardware type: none.
  for (const Bytes& duid : {Bytes{0, 2, 0, 0, 0, 9, 1, 2, 3}, Bytes{0, 3, 0, 6, 2, 0, 0, 0, 0, 1}}) {
    Bytes msg = dhcpv6_message(kReply, 1, {dhcpv6_option(1, duid)});
    ASSERT_EQ(ssi::parse_dhcpv6(msg, m), ssi::Dhcpv6Result::kOk);
    EXPECT_FALSE(m.has_client_link_address);
  }
}

TEST(Dhcpv6Reader, AFailedIaOrAddressStatusLeavesItsAddressesOut) {
  ssi::Dhcpv6Message m;
  // IA status NoAddrsAvail (2) after its address; an address with its own
  // failure; a good one.
  Bytes msg = dhcpv6_message(
      kReply, 1,
      {dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::1", 1, 2), dhcpv6_status(2)}),
       dhcpv6_ia_na(2, {dhcpv6_ia_address("2001:db8::2", 1, 2, {dhcpv6_status(3)}),
                        dhcpv6_ia_address("2001:db8::3", 1, 2)}),
       dhcpv6_status(0)});
  ASSERT_EQ(ssi::parse_dhcpv6(msg, m), ssi::Dhcpv6Result::kOk);
  ASSERT_EQ(m.lease_count, 1u);
  EXPECT_EQ(m.leases[0].address, ip("2001:db8::3"));
  Bytes failed = dhcpv6_message(kReply, 1, {dhcpv6_status(1), dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::1", 1, 2)})});
  ASSERT_EQ(ssi::parse_dhcpv6(failed, m), ssi::Dhcpv6Result::kOk);
  EXPECT_EQ(m.status, 1);
}

TEST(Dhcpv6Reader, EveryMalformedShapeIsRefused) {
  ssi::Dhcpv6Message m;
  EXPECT_EQ(ssi::parse_dhcpv6(Bytes{}, m), ssi::Dhcpv6Result::kTruncatedHeader);
  EXPECT_EQ(ssi::parse_dhcpv6(Bytes{7, 0, 0}, m), ssi::Dhcpv6Result::kTruncatedHeader);
  EXPECT_EQ(ssi::parse_dhcpv6(Bytes{7, 0, 0, 1}, m), ssi::Dhcpv6Result::kOk) << "no options is a message";
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kRelayForward, 0, {}), m), ssi::Dhcpv6Result::kRelayMessage);
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(13, 0, {}), m), ssi::Dhcpv6Result::kRelayMessage);
  // An option header cut short, an option longer than the message.
  EXPECT_EQ(ssi::parse_dhcpv6(Bytes{7, 0, 0, 1, 0, 3, 0}, m), ssi::Dhcpv6Result::kTruncatedOption);
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_option(3, Bytes(12, 0), 13)}), m),
            ssi::Dhcpv6Result::kTruncatedOption);
  // Fixed parts too short: IA_NA < 12, IA_TA < 4, IAADDR < 24, status < 2.
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_option(3, Bytes(11, 0))}), m),
            ssi::Dhcpv6Result::kBadOption);
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_option(4, Bytes(3, 0))}), m),
            ssi::Dhcpv6Result::kBadOption);
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_ia_ta(1, {dhcpv6_option(5, Bytes(23, 0))})}), m),
            ssi::Dhcpv6Result::kBadOption);
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_option(13, Bytes{0})}), m),
            ssi::Dhcpv6Result::kBadOption);
  // An IAADDR option whose own options overrun it, inside an IA that does not.
  Bytes inner = dhcpv6_ia_address("2001:db8::1", 1, 2, {dhcpv6_status(0)});
  inner[3] = static_cast<std::uint8_t>(inner[3] - 1);  // IAADDR length one short: its status option overruns
  inner.pop_back();
  EXPECT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_ia_ta(1, {inner})}), m),
            ssi::Dhcpv6Result::kTruncatedOption);
}

TEST(Dhcpv6Reader, TruncationAtEveryLengthNeverReadsPastTheEnd) {
  const Bytes bytes = full_reply();
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    // A copy of exactly n bytes, so ASan sees any read past it.
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    ssi::Dhcpv6Message m;
    const ssi::Dhcpv6Result r = ssi::parse_dhcpv6(cut, m);
    if (n == bytes.size()) {
      EXPECT_EQ(r, ssi::Dhcpv6Result::kOk);
    }
    if (r == ssi::Dhcpv6Result::kOk) {
      EXPECT_LE(m.lease_count, 2u) << n;
    }
  }
}

TEST(Dhcpv6Reader, AddressesBeyondTheBoundAreCounted) {
  std::vector<Bytes> addresses;
  Bytes ia_body(12, 0);
  for (int i = 0; i < 20; ++i) {
    const Bytes a = dhcpv6_ia_address(("2001:db8::" + std::to_string(i + 1)).c_str(), 1, 2);
    ia_body.insert(ia_body.end(), a.begin(), a.end());
  }
  ssi::Dhcpv6Message m;
  ASSERT_EQ(ssi::parse_dhcpv6(dhcpv6_message(kReply, 1, {dhcpv6_option(3, ia_body)}), m), ssi::Dhcpv6Result::kOk);
  EXPECT_EQ(m.lease_count, ssi::kMaxDhcpv6Leases);
  EXPECT_EQ(m.leases_dropped, 20 - ssi::kMaxDhcpv6Leases);
}

// ---- snooping through the engine -----------------------------------------------

// A server's message towards the VM (or, sent from the VM, a rogue one).
Bytes server_message(const Bytes& message, const char* src_mac = kServerMac, const char* dst_mac = kVmMac,
                     const char* src_ip = "fe80::fe", const char* dst_ip = "fe80::1") {
  return PacketBuilder()
      .eth(src_mac, dst_mac)
      .ipv6(src_ip, dst_ip)
      .udp(ssi::kDhcpv6ServerPort, ssi::kDhcpv6ClientPort)
      .payload(message)
      .build();
}
Bytes client_message(const Bytes& message, const char* src_ip = "fe80::1") {
  return PacketBuilder()
      .eth(kVmMac, "33:33:00:01:00:02")
      .ipv6(src_ip, "ff02::1:2")
      .udp(ssi::kDhcpv6ClientPort, ssi::kDhcpv6ServerPort)
      .payload(message)
      .build();
}
Bytes reply_for(const char* address, std::uint32_t valid, const char* client_mac = kVmMac) {
  return dhcpv6_message(kReply, 7,
                        {dhcpv6_client_id_ll(client_mac), dhcpv6_ia_na(1, {dhcpv6_ia_address(address, valid, valid)})});
}
Bytes tcp6_from(const char* src_ip) {
  return PacketBuilder().eth(kVmMac, kServerMac).ipv6(src_ip, "2001:db8::9").tcp(40000, 80, kTcpSyn).build();
}

class Dhcpv6SnoopTest : public ::testing::Test {
 protected:
  void start(SwitchSecurityOptions options = {}, VnicSecurityConfig config = {}) {
    engine_ = Engine::create({.max_workers = 1}).value();
    ASSERT_TRUE(engine_->attach_vnic({.id = kVnic, .mac = parse_mac(kVmMac).value()}).ok());
    ss_ = SwitchSecurity::create(*engine_, options).value();
    config.vnic_id = kVnic;
    ASSERT_TRUE(ss_->protect(config).ok());
    worker_ = engine_->create_worker().value();
  }
  void TearDown() override {
    worker_.reset();
    ss_.reset();
    engine_.reset();
  }
  Verdict send(const Bytes& frame, Direction dir = Direction::kFromVm) {
    Frame f(frame);
    Verdict v;
    engine_->process(*worker_, kVnic, dir, std::span<const Frame>(&f, 1), std::span<Verdict>(&v, 1));
    return v;
  }
  PollReport poll(Clock::time_point now = t0) {
    auto r = ss_->poll(now);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : PollReport{};
  }
  std::optional<Binding> binding(const char* address) {
    const std::vector<Binding> all = ss_->bindings(kVnic).value();  // not a range-for over a temporary
    for (const Binding& b : all)
      if (b.address == ip(address)) return b;
    return std::nullopt;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SwitchSecurity> ss_;
  std::unique_ptr<Worker> worker_;
};

bool passes(const Verdict& v) { return v.action == Action::kPass; }
bool dropped(const Verdict& v, R reason) {
  return v.action == Action::kDrop && v.slot == kSlotSwitchSecurity && v.rule_id == static_cast<std::uint32_t>(reason);
}

TEST_F(Dhcpv6SnoopTest, AReplyTeachesItsAddressesWithTheValidLifetime) {
  start();
  EXPECT_TRUE(passes(send(client_message(dhcpv6_message(kSolicit, 7, {dhcpv6_client_id_ll(kVmMac)})))));
  EXPECT_TRUE(passes(send(client_message(dhcpv6_message(kRequest, 7, {dhcpv6_client_id_ll(kVmMac)})))));
  const Bytes reply = dhcpv6_message(
      kReply, 7,
      {dhcpv6_client_id_ll(kVmMac), dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::20", 1800, 3600)}),
       dhcpv6_ia_ta(2, {dhcpv6_ia_address("2001:db8::21", 300, 600)})});
  EXPECT_TRUE(passes(send(server_message(reply), Direction::kToVm)));
  EXPECT_TRUE(dropped(send(tcp6_from("2001:db8::20")), R::kSourceIp)) << "not live before poll()";
  EXPECT_EQ(poll(t0).learned, 2u);
  EXPECT_TRUE(passes(send(tcp6_from("2001:db8::20"))));
  EXPECT_TRUE(passes(send(tcp6_from("2001:db8::21"))));
  ASSERT_TRUE(binding("2001:db8::20").has_value());
  EXPECT_TRUE(binding("2001:db8::20")->learned);
  EXPECT_EQ(binding("2001:db8::20")->expires, t0 + std::chrono::seconds(3600));
  EXPECT_EQ(binding("2001:db8::21")->expires, t0 + std::chrono::seconds(600));
  // Infinite lifetime.
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::22", 0xffffffff)), Direction::kToVm)));
  EXPECT_EQ(poll(t0).learned, 1u);
  EXPECT_EQ(binding("2001:db8::22")->expires, Clock::time_point::max());
  // The short one lapses at its lifetime.
  EXPECT_EQ(poll(t0 + std::chrono::seconds(601)).expired, 1u);
  EXPECT_TRUE(dropped(send(tcp6_from("2001:db8::21")), R::kSourceIp));
}

TEST_F(Dhcpv6SnoopTest, OnlyARepliedSuccessForThisVnicTeaches) {
  start();
  // Sent to another MAC and for another client's DUID.
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::30", 60, kOtherMac), kServerMac, kOtherMac),
                          Direction::kToVm)));
  // An ADVERTISE is an offer, not a lease.
  EXPECT_TRUE(passes(send(server_message(dhcpv6_message(
                              kAdvertise, 7, {dhcpv6_client_id_ll(kVmMac),
                                              dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::31", 60, 60)})})),
                          Direction::kToVm)));
  // A REPLY with a failure status.
  EXPECT_TRUE(passes(send(server_message(dhcpv6_message(
                              kReply, 7, {dhcpv6_status(2), dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::32", 60, 60)})})),
                          Direction::kToVm)));
  // Malformed: an IA_NA that overruns the message.
  Bytes broken = reply_for("2001:db8::33", 60);
  // Header 4 bytes, CLIENTID 14, then the IA_NA: its length's low byte is at 21.
  ASSERT_EQ(broken[18], 0);
  ASSERT_EQ(broken[19], 3);
  broken[21] = 0xff;
  EXPECT_TRUE(passes(send(server_message(broken), Direction::kToVm)));
  // Multicast / unspecified / link-local (free under kAllow) addresses.
  EXPECT_TRUE(passes(send(server_message(reply_for("ff02::1", 60)), Direction::kToVm)));
  EXPECT_TRUE(passes(send(server_message(reply_for("::", 60)), Direction::kToVm)));
  EXPECT_TRUE(passes(send(server_message(reply_for("fe80::33", 60)), Direction::kToVm)));
  const PollReport r = poll();
  EXPECT_EQ(r.candidates, 0u);
  EXPECT_EQ(r.learned, 0u);

  // To a multicast MAC, but the DUID is the vNIC's: for this VM.
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::34", 60), kServerMac, "33:33:00:00:00:01"),
                          Direction::kToVm)));
  // To the vNIC's MAC with a DUID that names another MAC (a VM with several
  // vNICs keeps one DUID): the destination decides.
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::35", 60, kOtherMac)), Direction::kToVm)));
  EXPECT_EQ(poll().learned, 2u);
}

TEST_F(Dhcpv6SnoopTest, ReleaseDeclineAndAZeroLifetimeUnlearn) {
  start({}, {.declared = {ip("2001:db8::99")}});
  for (const char* a : {"2001:db8::40", "2001:db8::41", "2001:db8::42"})
    ASSERT_TRUE(passes(send(server_message(reply_for(a, 3600)), Direction::kToVm)));
  ASSERT_EQ(poll().learned, 3u);

  const Bytes release = dhcpv6_message(
      kRelease, 8, {dhcpv6_client_id_ll(kVmMac), dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::40", 0, 0),
                                                                 dhcpv6_ia_address("2001:db8::99", 0, 0)})});
  EXPECT_TRUE(passes(send(client_message(release))));
  const Bytes decline =
      dhcpv6_message(kDecline, 9, {dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::41", 0, 0)})});
  EXPECT_TRUE(passes(send(client_message(decline))));
  // The server takes one back: valid lifetime 0 in a REPLY (RFC 8415 18.2.10.1).
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::42", 0)), Direction::kToVm)));
  const PollReport r = poll();
  EXPECT_EQ(r.released, 3u);
  EXPECT_FALSE(binding("2001:db8::40").has_value());
  EXPECT_FALSE(binding("2001:db8::41").has_value());
  EXPECT_FALSE(binding("2001:db8::42").has_value());
  EXPECT_TRUE(binding("2001:db8::99").has_value()) << "a declared address is not the client's to release";
  EXPECT_TRUE(dropped(send(tcp6_from("2001:db8::40")), R::kSourceIp));
  EXPECT_EQ(ss_->counters(kVnic).value().released, 3u);
}

TEST_F(Dhcpv6SnoopTest, DeclaredOnlyLearnsNothingAndTheBoundIsKept) {
  start({.max_addresses_per_vnic = 1});
  ASSERT_TRUE(passes(send(server_message(reply_for("2001:db8::50", 60)), Direction::kToVm)));
  ASSERT_EQ(poll().learned, 1u);
  ASSERT_TRUE(passes(send(server_message(reply_for("2001:db8::51", 60)), Direction::kToVm)));
  EXPECT_EQ(poll().candidates, 0u);
  EXPECT_EQ(ss_->counters(kVnic).value().drop(R::kAddressLimit), 1u);

  ASSERT_TRUE(ss_->protect({.vnic_id = kVnic, .mode = BindingMode::kDeclaredOnly}).ok());
  poll();
  ASSERT_TRUE(passes(send(server_message(reply_for("2001:db8::52", 60)), Direction::kToVm)));
  EXPECT_EQ(poll().candidates, 0u);
  EXPECT_FALSE(binding("2001:db8::52").has_value());
}

TEST_F(Dhcpv6SnoopTest, ARogueDhcpv6ServerInAVmIsDropped) {
  start();
  const Bytes advertise = dhcpv6_message(kAdvertise, 7, {dhcpv6_ia_na(1, {dhcpv6_ia_address("2001:db8::60", 60, 60)})});
  // ADVERTISE / REPLY from the VM, to another client.
  EXPECT_TRUE(dropped(send(server_message(advertise, kVmMac, kOtherMac, "fe80::1", "fe80::2")), R::kRogueDhcpServer));
  EXPECT_TRUE(dropped(send(server_message(reply_for("2001:db8::60", 60, kOtherMac), kVmMac, kOtherMac, "fe80::1",
                                          "fe80::2")),
                      R::kRogueDhcpServer));
  // A relay in the VM (from port 547), and anything to the client port.
  EXPECT_TRUE(dropped(send(PacketBuilder().eth(kVmMac, kServerMac).ipv6("fe80::1", "ff05::1:3")
                               .udp(ssi::kDhcpv6ServerPort, ssi::kDhcpv6ServerPort)
                               .payload(dhcpv6_message(kRelayForward, 0, {})).build()),
                      R::kRogueDhcpServer));
  EXPECT_TRUE(dropped(send(PacketBuilder().eth(kVmMac, kOtherMac).ipv6("fe80::1", "fe80::2")
                               .udp(4000, ssi::kDhcpv6ClientPort).payload(Bytes{7}).build()),
                      R::kRogueDhcpServer));
  EXPECT_EQ(ss_->counters(kVnic).value().drop(R::kRogueDhcpServer), 4u);
  EXPECT_EQ(drop_reason_name(send(server_message(advertise, kVmMac, kOtherMac, "fe80::1", "fe80::2")).reason),
            drop_reason_name(DropReason::kRule));
  // Nothing the rogue said was learned.
  EXPECT_EQ(poll().candidates, 0u);
}

TEST_F(Dhcpv6SnoopTest, ATrustedServerMaySendReplies) {
  start({}, {.trusted_dhcp_server = true});
  EXPECT_TRUE(passes(send(server_message(reply_for("2001:db8::70", 60, kOtherMac), kVmMac, kOtherMac, "fe80::1",
                                         "fe80::2"))));
  // Trust covers the role, not the address.
  EXPECT_TRUE(dropped(send(server_message(reply_for("2001:db8::70", 60, kOtherMac), kVmMac, kOtherMac,
                                          "2001:db8::7", "fe80::2")),
                      R::kSourceIp));
}

}  // namespace
}  // namespace fw
