// ICMP/ICMPv6 errors are RELATED to the connection whose packet they quote,
// only when the quote really matches it. Table-driven; each case names its
// source.
#include <gtest/gtest.h>

#include "conntrack/ct_support.h"

namespace fw {
namespace {

using test::Bytes;
using test::Stepper;
using test::v4;
using test::v6;

struct RelatedCase {
  const char* name;
  const char* source;
  Bytes frame;
  CtOutcome outcome;
  const char* ct_state;
  CtReason reason = CtReason::kNone;
};

// A = 10.1.1.1 (client), B = 10.1.1.2 (server), R = 10.9.9.9 (a router).
// Connections set up before every case: UDP A:1000 -> B:53 (replied), ICMP
// echo A -> B id 42 (replied), UDP A:2000 -> B:53 (unreplied).
std::vector<RelatedCase> ipv4_cases() {
  std::vector<RelatedCase> c;
  c.push_back({"PortUnreachableFromServer",
               "OVS system-traffic.at 'conntrack - ICMP related'; netfilter conntrack_icmp_related.sh",
               v4("10.1.1.2", "10.1.1.1").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").udp(1000, 53).build(),
               CtOutcome::kRelated, "rel|rpl|trk"});
  c.push_back({"FragNeededFromRouter",
               "netfilter conntrack_icmp_related.sh (pmtu: ICMP frag needed from a router)",
               v4("10.9.9.9", "10.1.1.1").icmp(3, 4, 1400).ipv4("10.1.1.1", "10.1.1.2").udp(1000, 53).build(),
               CtOutcome::kRelated, "rel|rpl|trk"});
  c.push_back({"TimeExceededQuotingReplyDirection",
               "netfilter nf_conntrack_proto_icmp.c icmp_error_message (error for the reply tuple)",
               v4("10.9.9.9", "10.1.1.2").icmp(11, 0).ipv4("10.1.1.2", "10.1.1.1").udp(53, 1000).build(),
               CtOutcome::kRelated, "rel|trk"});
  c.push_back({"UnrepliedConnectionStillRelated",
               "OVS system-traffic.at 'conntrack - ICMP related' (error to the first packet)",
               v4("10.1.1.2", "10.1.1.1").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").udp(2000, 53).build(),
               CtOutcome::kRelated, "rel|rpl|trk"});
  c.push_back({"ErrorAboutEchoRequest",
               "netfilter nf_conntrack_proto_icmp.c (inner ICMP echo tuple)",
               v4("10.9.9.9", "10.1.1.1").icmp(11, 0).ipv4("10.1.1.1", "10.1.1.2").icmp_echo(42, 1).build(),
               CtOutcome::kRelated, "rel|rpl|trk"});
  c.push_back({"ErrorAboutEchoReply",
               "netfilter nf_conntrack_proto_icmp.c (inner ICMP echo reply tuple)",
               v4("10.9.9.9", "10.1.1.2").icmp(11, 0).ipv4("10.1.1.2", "10.1.1.1").icmp_echo(42, 1, true).build(),
               CtOutcome::kRelated, "rel|trk"});
  c.push_back({"OuterDestinationIsNotInnerSource",
               "issue 4: outer destination = inner source; OVS conntrack.c check_l3 of the inner key",
               v4("10.1.1.2", "10.1.1.3").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").udp(1000, 53).build(),
               CtOutcome::kInvalid, "inv|trk", CtReason::kIcmpErrorMismatch});
  c.push_back({"QuoteOfUnknownPorts",
               "OVS system-traffic.at 'conntrack - ICMP related' (unrelated ICMP is invalid)",
               v4("10.1.1.2", "10.1.1.1").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").udp(1001, 53).build(),
               CtOutcome::kInvalid, "inv|trk", CtReason::kIcmpErrorNoConnection});
  c.push_back({"QuoteOfOtherProtocol",
               "netfilter conntrack_icmp_related.sh (quote must match the tracked protocol)",
               v4("10.1.1.2", "10.1.1.1").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").tcp(1000, 53, kTcpSyn).build(),
               CtOutcome::kInvalid, "inv|trk", CtReason::kIcmpErrorNoConnection});
  c.push_back({"QuoteWithoutPorts",
               "OVS conntrack.c extract_l4 of a truncated inner header",
               v4("10.1.1.2", "10.1.1.1").icmp(3, 3)
                   .ipv4("10.1.1.1", "10.1.1.2", {.protocol = kIpProtoUdp, .total_length = 60})
                   .payload(2).build(),
               CtOutcome::kInvalid, "inv|trk", CtReason::kIcmpErrorMismatch});
  return c;
}

TEST(Related, Ipv4ErrorsTableDriven) {
  for (RelatedCase& c : ipv4_cases()) {
    auto table = test::make_table();
    Stepper s{*table};
    const CtResult conn = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 1);
    ASSERT_EQ(s.flags(test::udp4("10.1.1.2", "10.1.1.1", 53, 1000), 2), "est|rpl|trk");
    ASSERT_EQ(s.flags(v4("10.1.1.1", "10.1.1.2").icmp_echo(42, 1).build(), 3), "new|trk");
    ASSERT_EQ(s.flags(v4("10.1.1.2", "10.1.1.1").icmp_echo(42, 1, true).build(), 4), "est|rpl|trk");
    ASSERT_EQ(s.flags(test::udp4("10.1.1.1", "10.1.1.2", 2000, 53), 5), "new|trk");

    const CtResult r = s.step(std::move(c.frame), 6);
    EXPECT_EQ(r.outcome, c.outcome) << c.name << " (" << c.source << ")";
    EXPECT_EQ(format_ct_state(r.ct_state), c.ct_state) << c.name;
    EXPECT_EQ(r.reason, c.reason) << c.name << ": " << ct_reason_name(r.reason);
    if (std::string_view(c.name) == "PortUnreachableFromServer") {
      EXPECT_EQ(r.conn, conn.conn);
      EXPECT_EQ(r.rule_id, conn.rule_id);
    }
    // An error never creates or refreshes anything.
    EXPECT_EQ(table->stats().connections, 3u) << c.name;
  }
}

// netfilter conntrack_icmp_related.sh (IPv6 part): ICMPv6 packet too big for
// a UDP connection; and the family must match (an ICMPv6 error never
// relates an IPv4 connection).
TEST(Related, Icmpv6PacketTooBig) {
  auto table = test::make_table();
  Stepper s{*table};
  ASSERT_EQ(s.flags(test::udp6("2001:db8::1", "2001:db8::2", 1000, 53), 1), "new|trk");
  const CtResult r = s.step(
      v6("2001:db8::99", "2001:db8::1").icmpv6(2, 0, 1280).ipv6("2001:db8::1", "2001:db8::2").udp(1000, 53).build(), 2);
  EXPECT_EQ(r.outcome, CtOutcome::kRelated);
  EXPECT_EQ(format_ct_state(r.ct_state), "rel|rpl|trk");
  const CtResult wrong_zone = [&] {
    Stepper other{*table, 2};
    return other.step(v6("2001:db8::99", "2001:db8::1").icmpv6(2, 0, 1280)
                          .ipv6("2001:db8::1", "2001:db8::2").udp(1000, 53).build(), 3);
  }();
  EXPECT_EQ(wrong_zone.reason, CtReason::kIcmpErrorNoConnection);
}

// An expired connection is not related any more.
TEST(Related, ExpiredConnectionIsNotRelated) {
  auto table = test::make_table();
  Stepper s{*table};
  ASSERT_EQ(s.flags(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 0), "new|trk");
  const CtResult r = s.step(
      v4("10.1.1.2", "10.1.1.1").icmp(3, 3).ipv4("10.1.1.1", "10.1.1.2").udp(1000, 53).build(),
      61 * test::kSecond);
  EXPECT_EQ(r.reason, CtReason::kIcmpErrorNoConnection);
}

}  // namespace
}  // namespace fw
