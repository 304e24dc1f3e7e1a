// The connection table: keys, directions, zones, two-phase create, handles,
// bursts, UDP/ICMP/other pseudo-connections. Cases name their source: OVS
// tests/system-traffic.at ("conntrack - ..."), OVS tests/test-conntrack.c,
// the Linux netfilter selftests (tools/testing/selftests/net/netfilter).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

#include "conntrack/ct_support.h"
#include "libfw/conntrack/entry.h"
#include "libfw/conntrack/key.h"

namespace fw {
namespace {

using test::kSecond;
using test::Stepper;

TEST(ConnTable, EntryLayoutFitsTheBudget) {
  static_assert(sizeof(conntrack::Entry) <= 128);
  EXPECT_EQ(sizeof(conntrack::Entry), 112u);
  EXPECT_EQ(sizeof(CtResult), 32u);
}

// The expiry and free lists' 8-byte links (two 32-bit offsets relative to
// the node, entry.h) against std::list, through random pushes at both ends,
// inserts, erases and splices, with list heads both before and after the
// entries in memory (negative and positive offsets), walked both ways.
TEST(ConnTable, CompactListLinksBehaveAsAList) {
  struct Block {
    conntrack::EntryList before;
    conntrack::Entry entries[64];
    conntrack::EntryList after;
  };
  auto block = std::make_unique<Block>();
  std::mt19937 rng(3);
  std::list<int> ref_before, ref_after;
  auto in_list = [&](int i) {
    return std::find(ref_before.begin(), ref_before.end(), i) != ref_before.end() ||
           std::find(ref_after.begin(), ref_after.end(), i) != ref_after.end();
  };
  auto check = [&](conntrack::EntryList& list, const std::list<int>& ref) {
    std::vector<int> got, got_back, want(ref.begin(), ref.end());
    for (const conntrack::Entry& e : list) got.push_back(static_cast<int>(&e - block->entries));
    for (auto it = list.rbegin(); it != list.rend(); ++it) got_back.push_back(static_cast<int>(&*it - block->entries));
    std::reverse(got_back.begin(), got_back.end());
    EXPECT_EQ(got, want);
    EXPECT_EQ(got_back, want);
  };
  for (int step = 0; step < 4000; ++step) {
    const int i = static_cast<int>(rng() % 64);
    const bool first = (rng() & 1) != 0;
    conntrack::EntryList& list = first ? block->before : block->after;
    std::list<int>& ref = first ? ref_before : ref_after;
    conntrack::Entry& e = block->entries[i];
    switch (rng() % 4) {
      case 0:
        if (!in_list(i)) {
          list.push_back(e);
          ref.push_back(i);
        }
        break;
      case 1:
        if (!in_list(i)) {
          list.push_front(e);
          ref.push_front(i);
        }
        break;
      case 2:
        if (std::find(ref.begin(), ref.end(), i) != ref.end()) {
          list.erase(conntrack::EntryList::s_iterator_to(e));
          ref.remove(i);
        }
        break;
      case 3:  // move to the back of the other list, as an expiry list change does
        if (std::find(ref.begin(), ref.end(), i) != ref.end()) {
          conntrack::EntryList& other = first ? block->after : block->before;
          std::list<int>& other_ref = first ? ref_after : ref_before;
          list.erase(conntrack::EntryList::s_iterator_to(e));
          ref.remove(i);
          other.push_back(e);
          other_ref.push_back(i);
        }
        break;
    }
    if (step % 97 == 0) {
      check(block->before, ref_before);
      check(block->after, ref_after);
    }
  }
  check(block->before, ref_before);
  check(block->after, ref_after);
  EXPECT_FALSE(ref_before.empty() && ref_after.empty());
  block->before.clear();
  block->after.clear();
}

// The key compare the lookup uses (one pass, both directions) against the
// definition: equal to the key, else equal to its reverse. Every single-byte
// change of a stored key, and keys that are their own reverse, on random
// IPv4-like and IPv6-like keys; the hash is the same both ways.
TEST(ConnTable, KeyMatchAndHashFollowTheirDefinitions) {
  std::mt19937_64 rng(7);
  auto reference = [](const conntrack::ConnKey& stored, const conntrack::ConnKey& k) {
    if (stored == k) return conntrack::kMatchOriginal;
    return stored == k.reversed() ? conntrack::kMatchReply : conntrack::kNoMatch;
  };
  std::size_t originals = 0, replies = 0, misses = 0;
  for (int round = 0; round < 400; ++round) {
    conntrack::ConnKey k{};
    const bool v6 = (round & 1) != 0;
    k.src[0] = v6 ? rng() : rng() & 0xffffffff;
    k.src[1] = v6 ? rng() : 0;
    k.dst[0] = v6 ? rng() : rng() & 0xffffffff;
    k.dst[1] = v6 ? rng() : 0;
    k.src_port = static_cast<std::uint16_t>(rng());
    k.dst_port = static_cast<std::uint16_t>(rng());
    k.zone = static_cast<std::uint16_t>(rng() & 3);
    k.protocol = (round & 2) != 0 ? 6 : 17;
    k.family = v6 ? 6 : 4;
    if (round % 10 == 0) {  // its own reverse: matches as original
      k.dst[0] = k.src[0];
      k.dst[1] = k.src[1];
      k.dst_port = k.src_port;
    }
    const std::uint64_t seed = rng() | 1;
    EXPECT_EQ(conntrack::symmetric_hash(k, seed), conntrack::symmetric_hash(k.reversed(), seed));
    for (const conntrack::ConnKey& probe : {k, k.reversed()}) {
      const int same = conntrack::match(k, probe);
      EXPECT_EQ(same, reference(k, probe));
      originals += same == conntrack::kMatchOriginal;
      replies += same == conntrack::kMatchReply;
      for (std::size_t byte = 0; byte < sizeof(conntrack::ConnKey); ++byte) {
        conntrack::ConnKey changed = k;
        unsigned char bytes[sizeof(conntrack::ConnKey)];
        std::memcpy(bytes, &changed, sizeof bytes);
        bytes[byte] ^= static_cast<unsigned char>(1u << (rng() % 8));
        std::memcpy(&changed, bytes, sizeof bytes);
        const int got = conntrack::match(changed, probe);
        EXPECT_EQ(got, reference(changed, probe)) << "byte " << byte;
        misses += got == conntrack::kNoMatch;
        // A changed field changes the hash (with a 64-bit hash, a collision
        // here would be a defect, not chance).
        if (!(changed == k) && !(changed == k.reversed())) {
          EXPECT_NE(conntrack::symmetric_hash(changed, seed), conntrack::symmetric_hash(k, seed));
        }
      }
    }
  }
  // Every outcome occurs: keys match as original (and self-reverse keys'
  // reverses too), other reverses as reply, changed keys not at all.
  EXPECT_EQ(originals, 400u + 40u);
  EXPECT_EQ(replies, 400u - 40u);
  EXPECT_EQ(misses, 2u * 400u * sizeof(conntrack::ConnKey));
}

// OVS system-traffic.at "conntrack - UDP": the first packet is new, the
// reply established and in the reply direction, later packets established.
TEST(ConnTable, UdpBothDirectionsFindOneEntry) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult first = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 1 * kSecond);
  EXPECT_EQ(first.outcome, CtOutcome::kNew);
  EXPECT_EQ(format_ct_state(first.ct_state), "new|trk");
  ASSERT_TRUE(first.conn.valid());
  EXPECT_EQ(first.rule_id, 7u);

  const CtResult reply = s.step(test::udp4("10.1.1.2", "10.1.1.1", 53, 1000), 2 * kSecond);
  EXPECT_EQ(reply.outcome, CtOutcome::kEstablished);
  EXPECT_EQ(reply.direction, CtDirection::kReply);
  EXPECT_EQ(reply.conn, first.conn);
  EXPECT_EQ(format_ct_state(reply.ct_state), "est|rpl|trk");
  EXPECT_EQ(reply.rule_id, 7u);
  EXPECT_EQ(reply.generation, 1u);

  const CtResult again = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 3 * kSecond);
  EXPECT_EQ(again.direction, CtDirection::kOriginal);
  EXPECT_EQ(format_ct_state(again.ct_state), "est|trk");
  EXPECT_EQ(table->stats().connections, 1u);
  EXPECT_EQ(table->stats().created, 1u);
}

// Issue 4 list / netfilter conntrack semantics: packets in one direction
// only stay "new" (OVS other_conn_update: CT_UPDATE_VALID_NEW until BIDIR).
TEST(ConnTable, FirstPacketTwiceInOneDirectionStaysNew) {
  auto table = test::make_table();
  Stepper s{*table};
  EXPECT_EQ(s.flags(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 1), "new|trk");
  const CtResult second = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 2);
  EXPECT_EQ(second.outcome, CtOutcome::kEstablished);  // a packet of the connection
  EXPECT_EQ(format_ct_state(second.ct_state), "new|trk");
  EXPECT_EQ(table->stats().half_open, 1u);
  EXPECT_EQ(s.flags(test::udp4("10.1.1.2", "10.1.1.1", 53, 1000), 3), "est|rpl|trk");
  EXPECT_EQ(table->stats().half_open, 0u);
}

// Without create() nothing is remembered (OVS: ct() without commit).
TEST(ConnTable, LookupNeverCreates) {
  auto table = test::make_table();
  Stepper s{*table};
  EXPECT_EQ(s.flags(test::udp4("10.1.1.1", "10.1.1.2", 1000, 53), 1, /*admit=*/false), "new|trk");
  EXPECT_EQ(s.flags(test::udp4("10.1.1.2", "10.1.1.1", 53, 1000), 2, /*admit=*/false), "new|trk");
  EXPECT_EQ(table->stats().connections, 0u);
}

// Issue 4: IPv4/IPv6 family confusion. 10.0.0.1 and the IPv6 address whose
// first four bytes are 0a00:0001 hold the same bytes; they never match.
TEST(ConnTable, Ipv4AndIpv6NeverCompareEqual) {
  auto table = test::make_table();
  Stepper s{*table};
  ASSERT_EQ(s.step(test::udp4("10.0.0.1", "10.0.0.2", 1000, 2000), 1).outcome, CtOutcome::kNew);
  const CtResult v6 = s.step(test::udp6("a00:1::", "a00:2::", 1000, 2000), 2, false);
  EXPECT_EQ(v6.outcome, CtOutcome::kNew);
  const CtResult v6_reply = s.step(test::udp6("a00:2::", "a00:1::", 2000, 1000), 3, false);
  EXPECT_EQ(v6_reply.outcome, CtOutcome::kNew);
  EXPECT_EQ(s.flags(test::udp4("10.0.0.2", "10.0.0.1", 2000, 1000), 4), "est|rpl|trk");
}

// OVS system-traffic.at "conntrack - zones" / "conntrack - multiple zones":
// the same tuple in two zones is two connections.
TEST(ConnTable, ZonesAreSeparateAddressSpaces) {
  auto table = test::make_table();
  Stepper a{*table, 1};
  Stepper b{*table, 2};
  ASSERT_TRUE(a.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1).conn.valid());
  EXPECT_EQ(b.step(test::udp4("10.1.1.2", "10.1.1.1", 2, 1), 2, false).outcome, CtOutcome::kNew);
  EXPECT_EQ(a.flags(test::udp4("10.1.1.2", "10.1.1.1", 2, 1), 3), "est|rpl|trk");
  EXPECT_EQ(table->zone_connections(1), 1u);
  EXPECT_EQ(table->zone_connections(2), 0u);
}

TEST(ConnTable, ZoneOutOfRangeIsInvalid) {
  auto table = test::make_table({.zones = 16});
  Stepper s{*table, 16};
  const CtResult r = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1);
  EXPECT_EQ(r.outcome, CtOutcome::kInvalid);
  EXPECT_EQ(r.reason, CtReason::kBadZone);
  EXPECT_EQ(table->stats().invalid[static_cast<std::size_t>(CtReason::kBadZone)], 1u);
  EXPECT_FALSE(table->set_zone_limit(16, 1).ok());
}

// OVS system-traffic.at "conntrack - ICMP" / test-conntrack: an echo request
// opens, the reply is established in the reply direction; netfilter's
// nf_conntrack_icmp: a reply with no request cannot open a connection.
TEST(ConnTable, IcmpEcho) {
  auto table = test::make_table();
  Stepper s{*table};
  EXPECT_EQ(s.flags(test::v4("10.1.1.2", "10.1.1.1").icmp_echo(77, 1, true).build(), 1), "inv|trk");
  EXPECT_EQ(s.flags(test::v4("10.1.1.1", "10.1.1.2").icmp_echo(77, 1).build(), 2), "new|trk");
  EXPECT_EQ(s.flags(test::v4("10.1.1.2", "10.1.1.1").icmp_echo(77, 1, true).build(), 3), "est|rpl|trk");
  EXPECT_EQ(s.flags(test::v4("10.1.1.1", "10.1.1.2").icmp_echo(77, 2).build(), 4), "est|trk");
  // Another id is another pseudo-connection.
  EXPECT_EQ(s.flags(test::v4("10.1.1.1", "10.1.1.2").icmp_echo(78, 1).build(), 5, false), "new|trk");
  // A request from the other side with the same id is not a reply.
  const CtResult wrong_side = s.step(test::v4("10.1.1.2", "10.1.1.1").icmp_echo(77, 1).build(), 6, false);
  EXPECT_EQ(wrong_side.outcome, CtOutcome::kNew);
  EXPECT_EQ(table->stats().invalid[static_cast<std::size_t>(CtReason::kCannotOpen)], 1u);
}

TEST(ConnTable, Icmpv6Echo) {
  auto table = test::make_table();
  Stepper s{*table};
  EXPECT_EQ(s.flags(test::v6("2001:db8::1", "2001:db8::2").icmpv6_echo(5, 1).build(), 1), "new|trk");
  EXPECT_EQ(s.flags(test::v6("2001:db8::2", "2001:db8::1").icmpv6_echo(5, 1, true).build(), 2),
            "est|rpl|trk");
}

// ND, MLD and router discovery are not connections (OVS: invalid; netfilter:
// untracked): the DFW decides them statelessly.
TEST(ConnTable, NeighbourDiscoveryAndNonIpAreUntracked) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult ns = s.step(test::v6("fe80::1", "ff02::1:ff00:2").nd_neighbor_solicitation("fe80::2").build(), 1);
  EXPECT_EQ(ns.outcome, CtOutcome::kUntracked);
  EXPECT_EQ(ns.reason, CtReason::kIcmpNotTrackable);
  EXPECT_EQ(format_ct_state(ns.ct_state), "inv|trk");
  test::PacketBuilder arp;
  arp.eth("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").arp();
  const CtResult a = s.step(arp.build(), 2);
  EXPECT_EQ(a.outcome, CtOutcome::kUntracked);
  EXPECT_EQ(a.reason, CtReason::kNotIp);
  EXPECT_EQ(table->stats().connections, 0u);
}

// Protocols without a tracker: keyed by addresses and protocol (GRE 47).
TEST(ConnTable, OtherProtocolByAddresses) {
  auto table = test::make_table();
  Stepper s{*table};
  auto gre = [](const char* src, const char* dst) {
    return test::v4(src, dst, {.protocol = 47}).payload(24).build();
  };
  EXPECT_EQ(s.flags(gre("10.1.1.1", "10.1.1.2"), 1), "new|trk");
  EXPECT_EQ(s.flags(gre("10.1.1.2", "10.1.1.1"), 2), "est|rpl|trk");
  EXPECT_EQ(s.flags(gre("10.1.1.1", "10.1.1.3"), 3, false), "new|trk");
}

TEST(ConnTable, RemoveMakesHandlesStale) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult r = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1);
  ConnInfo info;
  ASSERT_TRUE(table->info(r.conn, info));
  EXPECT_EQ(info.src.to_string(), "10.1.1.1");
  EXPECT_EQ(info.dst_port, 2);
  EXPECT_EQ(info.admission.rule_id, 7u);
  EXPECT_EQ(info.expires_ns, 1 + 60 * kSecond);  // udp_first default
  EXPECT_TRUE(table->remove(r.conn));
  EXPECT_FALSE(table->remove(r.conn));
  EXPECT_FALSE(table->info(r.conn, info));
  EXPECT_FALSE(table->update_admission(r.conn, {}));
  EXPECT_FALSE(table->info(ConnRef{}, info));
  EXPECT_FALSE(table->info(ConnRef{.index = 1u << 30}, info));
  // The slot is reused with a new incarnation: the old handle stays stale.
  const CtResult again = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 2);
  EXPECT_EQ(again.outcome, CtOutcome::kNew);
  EXPECT_FALSE(table->info(r.conn, info));
  EXPECT_EQ(table->stats().removed, 1u);
}

// What the DFW slot's lazy revalidation needs: read back (rule, generation)
// on every packet, re-stamp it.
TEST(ConnTable, AdmissionIsReadBackAndUpdated) {
  auto table = test::make_table();
  Stepper s{*table};
  const CtResult r = s.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1, true, {.rule_id = 1001, .generation = 5});
  EXPECT_EQ(r.rule_id, 1001u);
  EXPECT_EQ(r.generation, 5u);
  ASSERT_TRUE(table->update_admission(r.conn, {.rule_id = 1002, .generation = 6}));
  const CtResult reply = s.step(test::udp4("10.1.1.2", "10.1.1.1", 2, 1), 2);
  EXPECT_EQ(reply.rule_id, 1002u);
  EXPECT_EQ(reply.generation, 6u);
}

// Two first packets of one connection in one burst (both directions): both
// report new; the second create() attaches to the first's entry.
TEST(ConnTable, TwoFirstPacketsInOneBurst) {
  auto table = test::make_table();
  test::Frames f;
  f.add(test::udp4("10.1.1.1", "10.1.1.2", 1, 2));
  f.add(test::udp4("10.1.1.1", "10.1.1.2", 1, 2));
  f.add(test::udp4("10.1.1.2", "10.1.1.1", 2, 1));
  const auto views = f.views();
  std::vector<CtResult> r(3);
  table->lookup(1, views, 1, r);
  for (const CtResult& x : r) EXPECT_EQ(x.outcome, CtOutcome::kNew);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(table->create(1, views[i], {.rule_id = 9}, 1, r[i]));
  EXPECT_EQ(r[1].conn, r[0].conn);
  EXPECT_EQ(r[2].conn, r[0].conn);
  EXPECT_EQ(r[2].direction, CtDirection::kReply);
  EXPECT_EQ(format_ct_state(r[2].ct_state), "est|rpl|trk");
  EXPECT_EQ(table->stats().connections, 1u);
  EXPECT_EQ(table->stats().created, 1u);
}

// STYLE.md #3: every burst size from 0 to beyond 8, and beyond one chunk
// (256): a burst decides each packet as one-by-one lookups would.
TEST(ConnTable, EveryBurstSizeAgreesWithSinglePackets) {
  for (std::size_t n : {0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 255, 256, 257, 600}) {
    auto table = test::make_table({.capacity = 4096});
    test::Frames f;
    // Even i: connections created beforehand (their reply direction); odd
    // i: unknown flows.
    for (std::size_t i = 0; i < n; ++i) {
      const auto port = static_cast<std::uint16_t>(1000 + i);
      if (i % 2 == 0) {
        Stepper pre{*table};
        ASSERT_TRUE(pre.step(test::udp4("10.1.1.1", "10.1.1.2", port, 53), 1).conn.valid());
      }
      f.add(test::udp4("10.1.1.2", "10.1.1.1", 53, port));
    }
    const auto views = f.views();
    std::vector<CtResult> r(n);
    table->lookup(1, views, 2, r);
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        EXPECT_EQ(format_ct_state(r[i].ct_state), "est|rpl|trk") << n << " " << i;
      } else {
        EXPECT_EQ(r[i].outcome, CtOutcome::kNew) << n << " " << i;
      }
    }
  }
}

// The subset form's tests: a table holding one UDP connection (10.1.1.1:1 ->
// 10.1.1.2:2, zone 1; nullptr if it could not be opened), and frames of it
// ('r': a reply) and of another flow ('n': its first packet), in order.
std::unique_ptr<ConnTable> table_with_one_connection() {
  auto table = test::make_table();
  Stepper pre{*table};
  if (!pre.step(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1).conn.valid()) return nullptr;
  return table;
}
test::Frames replies_and_strangers(std::string_view kinds) {
  test::Frames f;
  for (const char c : kinds)
    f.add(c == 'r' ? test::udp4("10.1.1.2", "10.1.1.1", 2, 1) : test::udp4("10.1.1.9", "10.1.1.1", 2, 1));
  return f;
}

// The subset form, as a filter's process() receives `active` indices:
// packets not listed are not looked up and their results are not written.
TEST(ConnTable, ActiveSubsetOnly) {
  auto table = table_with_one_connection();
  ASSERT_TRUE(table);
  const test::Frames f = replies_and_strangers("rrn");
  const auto views = f.views();
  std::vector<CtResult> r(3);
  r[0].rule_id = 12345;
  const std::uint16_t active[] = {2, 1};
  table->lookup(1, views, active, 2, r);
  EXPECT_EQ(r[0].rule_id, 12345u);  // untouched
  EXPECT_EQ(format_ct_state(r[1].ct_state), "est|rpl|trk");
  EXPECT_EQ(r[2].outcome, CtOutcome::kNew);
}

// An index past the packets or the results is skipped (the results of the
// others are as without it), also when the list is longer than one of the
// lookup's 256-packet chunks.
TEST(ConnTable, ActiveIndicesOutOfRangeAreSkipped) {
  auto table = table_with_one_connection();
  ASSERT_TRUE(table);
  const test::Frames f = replies_and_strangers("rnr");
  const auto views = f.views();
  std::vector<CtResult> r(2);  // fewer results than packets: index 2 has none
  std::vector<std::uint16_t> active;
  for (int k = 0; k < 300; ++k) active.push_back(static_cast<std::uint16_t>(3 + k));  // past both
  active.insert(active.begin() + 100, 0);
  active.push_back(2);  // a packet without a result
  active.push_back(1);  // in the second chunk
  table->lookup(1, views, active, 2, r);
  EXPECT_EQ(format_ct_state(r[0].ct_state), "est|rpl|trk");
  EXPECT_EQ(r[1].outcome, CtOutcome::kNew);
  EXPECT_EQ(table->stats().connections, 1u);
}

TEST(ConnTable, OptionsAreValidated) {
  struct Case {
    ConnTableOptions options;
    const char* field;
  };
  const Case cases[] = {
      {{.capacity = 0}, "capacity"},
      {{.capacity = (1u << 27) + 1}, "capacity"},  // checked before anything is allocated
      {{.capacity = 10, .max_connections = 11}, "max_connections"},
      {{.zones = 0}, "zones"},
      {{.zones = 65537}, "zones"},
      {{.shards = 3}, "shards"},
      {{.shards = 96}, "shards"},
      {{.shards = 512}, "shards"},
      {{.timeouts = {.udp_first = 0}}, "timeouts.udp_first"},
      {{.fragment_capacity = 0}, "fragment_capacity"},
      {{.max_datagram_bytes = 70000}, "max_datagram_bytes"},
  };
  for (const Case& c : cases) {
    auto t = ConnTable::create(c.options);
    ASSERT_FALSE(t.ok()) << c.field;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.field), std::string::npos) << t.status().message();
  }
}

// shards = 0 (the default) chooses the stripe count by capacity: 64 for a
// small table (more connections per shard to evict from), 256 from 256k
// connections (two workers meet on one lock less often). Shards are part of
// the preallocated memory, so equal memory means equal shard counts.
TEST(ConnTable, DefaultShardCountFollowsCapacity) {
  auto memory = [](std::uint32_t capacity, std::uint32_t shards) {
    return test::make_table({.capacity = capacity, .shards = shards})->memory_bytes();
  };
  EXPECT_EQ(memory(4096, 0), memory(4096, 64));
  EXPECT_NE(memory(4096, 0), memory(4096, 256));
  EXPECT_EQ(memory(256 * 1024, 0), memory(256 * 1024, 256));
  EXPECT_NE(memory(256 * 1024, 0), memory(256 * 1024, 64));
}

TEST(ConnTable, MemoryPerConnectionAtMost128BytesAtScale) {
  auto table = test::make_table({.capacity = 1 << 20, .zones = 4096});
  const double per_conn = static_cast<double>(table->memory_bytes()) / (1 << 20);
  EXPECT_LE(per_conn, 130.0);  // 120 entry + 8 bucket + fixed parts amortised
  EXPECT_GE(per_conn, 128.0);
}

TEST(ConnTable, ClearForgetsEverything) {
  auto table = test::make_table();
  Stepper s{*table};
  for (std::uint16_t p = 1; p <= 10; ++p) s.step(test::udp4("10.1.1.1", "10.1.1.2", p, 2), 1);
  EXPECT_EQ(table->stats().connections, 10u);
  table->clear();
  EXPECT_EQ(table->stats().connections, 0u);
  EXPECT_EQ(table->zone_connections(1), 0u);
  EXPECT_EQ(s.step(test::udp4("10.1.1.2", "10.1.1.1", 2, 1), 2, false).outcome, CtOutcome::kNew);
}

// One thread mode behaves the same (no locks taken).
TEST(ConnTable, SingleThreadModeSameDecisions) {
  auto table = test::make_table({.shards = 1, .concurrency = CtConcurrency::kSingleThread});
  Stepper s{*table};
  EXPECT_EQ(s.flags(test::udp4("10.1.1.1", "10.1.1.2", 1, 2), 1), "new|trk");
  EXPECT_EQ(s.flags(test::udp4("10.1.1.2", "10.1.1.1", 2, 1), 2), "est|rpl|trk");
}

}  // namespace
}  // namespace fw
