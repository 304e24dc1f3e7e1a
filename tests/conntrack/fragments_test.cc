// Fragments: non-first fragments are decided like their first fragment,
// never on ports of their own; overlapping and oversize fragments are
// dropped and counted; the fragment table is bounded. Cases follow OVS's
// userspace fragment tests in tests/system-traffic.at ("conntrack - IPv4
// fragmentation ..." and "IPv6 fragmentation ...") and the netfilter
// selftests (nft_fragments / ip_defrag), with libfw's documented
// differences (no reassembly, no holding of packets).
#include <gtest/gtest.h>

#include "conntrack/ct_support.h"

namespace fw {
namespace {

using test::Bytes;
using test::kSecond;
using test::Stepper;
using test::v4;

// Datagram `id` from A:1000 to B:53 in 16-byte pieces: the first fragment
// is the 8-byte UDP header + 16 bytes ([0, 24)).
Bytes first4(std::uint16_t id, const char* src = "10.1.1.1", const char* dst = "10.1.1.2") {
  return v4(src, dst, {.id = id, .more_fragments = true}).udp(1000, 53).payload(16).build();
}
Bytes next4(std::uint16_t id, std::uint16_t offset, bool more, std::uint16_t length = 16,
            const char* src = "10.1.1.1", const char* dst = "10.1.1.2") {
  return v4(src, dst, {.id = id, .more_fragments = more, .fragment_offset = offset, .protocol = kIpProtoUdp})
      .payload(length)
      .build();
}

// OVS system-traffic.at "conntrack - IPv4 fragmentation": the fragments of
// an admitted first packet pass with it, in both directions.
TEST(Fragments, FollowTheirFirstFragment) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult first = s.step(first4(7), 1);
  ASSERT_EQ(first.outcome, CtOutcome::kNew);
  ASSERT_TRUE(first.conn.valid());
  const CtResult middle = s.step(next4(7, 24, true), 2);
  EXPECT_EQ(middle.outcome, CtOutcome::kEstablished);
  EXPECT_EQ(middle.conn, first.conn);
  EXPECT_EQ(middle.rule_id, 7u);
  EXPECT_EQ(format_ct_state(middle.ct_state), "new|trk");
  const CtResult last = s.step(next4(7, 40, false), 3);
  EXPECT_EQ(last.conn, first.conn);
  EXPECT_EQ(table->stats().fragments_tracked, 2u);

  // The reply, fragmented too.
  const CtResult rfirst = s.step(v4("10.1.1.2", "10.1.1.1", {.id = 9, .more_fragments = true})
                                     .udp(53, 1000).payload(16).build(), 4);
  EXPECT_EQ(format_ct_state(rfirst.ct_state), "est|rpl|trk");
  const CtResult rlast = s.step(next4(9, 24, false, 16, "10.1.1.2", "10.1.1.1"), 5);
  EXPECT_EQ(format_ct_state(rlast.ct_state), "est|rpl|trk");
  EXPECT_EQ(rlast.direction, CtDirection::kReply);
}

// A complete datagram frees its record: a stray copy afterwards has no first.
TEST(Fragments, CompleteDatagramIsForgotten) {
  auto table = test::make_table();
  Stepper s{*table};
  s.step(first4(7), 1);
  EXPECT_EQ(s.step(next4(7, 24, false), 2).outcome, CtOutcome::kEstablished);
  EXPECT_EQ(s.step(next4(7, 24, false), 3).reason, CtReason::kFragmentBeforeFirst);
}

// OVS "conntrack - IPv4 fragmentation out of order" reassembles; libfw holds
// no packets, so a fragment before its first is dropped (documented).
TEST(Fragments, BeforeTheFirstIsDropped) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult early = s.step(next4(7, 24, false), 1);
  EXPECT_EQ(early.outcome, CtOutcome::kInvalid);
  EXPECT_EQ(early.reason, CtReason::kFragmentBeforeFirst);
  EXPECT_EQ(table->stats().invalid[static_cast<std::size_t>(CtReason::kFragmentBeforeFirst)], 1u);
}

// Issue 4: never passed on ports they do not carry. With an established
// A:1000 -> B:53, a non-first fragment from A to B of an unknown datagram is
// not matched to it.
TEST(Fragments, NeverMatchedByPorts) {
  auto table = test::make_table();
  Stepper s{*table};
  s.step(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 1);
  s.step(test::udp4("10.1.1.2", "10.1.1.1", 53, 1000), 2);
  const CtResult r = s.step(next4(99, 24, false), 3);
  EXPECT_EQ(r.outcome, CtOutcome::kInvalid);
  EXPECT_FALSE(r.conn.valid());
}

// The first fragment was new and the policy did not admit it.
TEST(Fragments, FirstNotAdmitted) {
  auto table = test::make_table();
  Stepper s{*table};
  EXPECT_EQ(s.step(first4(7), 1, /*admit=*/false).outcome, CtOutcome::kNew);
  const CtResult r = s.step(next4(7, 24, false), 2);
  EXPECT_EQ(r.reason, CtReason::kFragmentNotAdmitted);
}

struct BadCase {
  const char* name;
  const char* source;
  std::vector<Bytes> fragments;  // after first4(7)
  CtReason reason;               // of the last one
};

TEST(Fragments, BadFragmentsTableDriven) {
  std::vector<BadCase> cases;
  cases.push_back({"OverlapByOneBlock",
                   "OVS 'conntrack - IPv4 fragmentation overlapping fragments by 1 octet' (8 here: the unit)",
                   {next4(7, 16, true)}, CtReason::kFragmentOverlap});
  cases.push_back({"OverlapAtTheBeginning",
                   "OVS 'conntrack - IPv4 fragmentation overlapping fragments at the beginning'",
                   {next4(7, 0, true)}, CtReason::kFragmentOverlap});
  cases.push_back({"DuplicateMiddle", "RFC 5722; Linux ip_frag_queue drops the queue on overlap",
                   {next4(7, 24, true), next4(7, 24, true)}, CtReason::kFragmentOverlap});
  cases.push_back({"OverlapPoisonsTheDatagram", "RFC 5722: the whole datagram is discarded",
                   {next4(7, 16, true), next4(7, 24, false)}, CtReason::kFragmentOverlap});
  cases.push_back({"BeyondTheLastFragment", "netfilter ip_defrag: data past the end set by MF=0",
                   {next4(7, 40, false), next4(7, 56, true)}, CtReason::kFragmentOversize});
  cases.push_back({"LastEndsBeforeData", "netfilter ip_defrag: a last fragment inside received data",
                   {next4(7, 48, true), next4(7, 24, false)}, CtReason::kFragmentOversize});
  cases.push_back({"OverMaxDatagram", "libfw max_datagram_bytes (1000 in this case)",
                   {next4(7, 992, true)}, CtReason::kFragmentOversize});
  std::vector<Bytes> many;
  for (std::uint16_t k = 0; k < kMaxFragmentPieces; ++k)
    many.push_back(next4(7, static_cast<std::uint16_t>(40 + 32 * k), true));
  cases.push_back({"TooManyPieces", "libfw kMaxFragmentPieces disjoint pieces",
                   std::move(many), CtReason::kFragmentTooManyPieces});

  for (BadCase& c : cases) {
    auto table = test::make_table({.max_datagram_bytes = 1000});
    Stepper s{*table};
    ASSERT_TRUE(s.step(first4(7), 1).conn.valid());
    CtResult r;
    for (Bytes& f : c.fragments) r = s.step(std::move(f), 2);
    EXPECT_EQ(r.outcome, CtOutcome::kInvalid) << c.name << " (" << c.source << ")";
    EXPECT_EQ(r.reason, c.reason) << c.name << ": " << ct_reason_name(r.reason);
    EXPECT_GE(table->stats().invalid[static_cast<std::size_t>(c.reason)], 1u) << c.name;
  }
}

// OVS "conntrack - IPv4 fragmentation expiry": a datagram idle for
// fragment_timeout is forgotten.
TEST(Fragments, RecordTimesOut) {
  auto table = test::make_table({.fragment_timeout = 30});
  Stepper s{*table};
  s.step(first4(7), 0);
  EXPECT_EQ(s.step(next4(7, 24, true), 29 * kSecond).outcome, CtOutcome::kEstablished);
  EXPECT_EQ(s.step(next4(7, 40, false), 59 * kSecond).reason, CtReason::kFragmentBeforeFirst);
}

// The table is bounded: when full, the datagram waiting longest gives way
// (counted).
TEST(Fragments, BoundedTableEvictsOldest) {
  auto table = test::make_table({.fragment_capacity = 1});
  Stepper s{*table};
  s.step(first4(7), 1);
  s.step(first4(8, "10.1.1.1", "10.1.1.2"), 2);
  EXPECT_EQ(table->stats().fragment_datagrams_evicted, 1u);
  EXPECT_EQ(s.step(next4(7, 24, false), 3).reason, CtReason::kFragmentBeforeFirst);
  EXPECT_EQ(s.step(next4(8, 24, false), 4).outcome, CtOutcome::kEstablished);
}

// OVS "conntrack - IPv6 fragmentation": the same through the IPv6 fragment
// header.
TEST(Fragments, Ipv6) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult first = s.step(test::v6("2001:db8::1", "2001:db8::2")
                                    .ipv6_fragment({.more_fragments = true, .id = 0x12345})
                                    .udp(1000, 53).payload(16).build(), 1);
  ASSERT_TRUE(first.conn.valid());
  const CtResult last = s.step(test::v6("2001:db8::1", "2001:db8::2")
                                   .ipv6_fragment({.offset = 24, .id = 0x12345, .next_header = kIpProtoUdp})
                                   .payload(16).build(), 2);
  EXPECT_EQ(last.outcome, CtOutcome::kEstablished);
  EXPECT_EQ(last.conn, first.conn);
  // Another id, same addresses: not this datagram.
  const CtResult other = s.step(test::v6("2001:db8::1", "2001:db8::2")
                                    .ipv6_fragment({.offset = 24, .id = 0x12346, .next_header = kIpProtoUdp})
                                    .payload(16).build(), 3);
  EXPECT_EQ(other.reason, CtReason::kFragmentBeforeFirst);
}

// Fragments are per zone, like connections.
TEST(Fragments, PerZone) {
  auto table = test::make_table();
  Stepper z1{*table, 1};
  Stepper z2{*table, 2};
  z1.step(first4(7), 1);
  EXPECT_EQ(z2.step(next4(7, 24, false), 2).reason, CtReason::kFragmentBeforeFirst);
  EXPECT_EQ(z1.step(next4(7, 24, false), 3).outcome, CtOutcome::kEstablished);
}

}  // namespace
}  // namespace fw
