// AddressClassMap: classes are exactly the sets of atoms containing an
// address, for prefixes and ranges, IPv4 and IPv6, through adds and removes.
#include "libfw/classify/address_class_map.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace fw::classify {
namespace {

// Local parsing keeps this suite independent of the policy decoder.
Cidr cidr(const std::string& text) {
  const auto slash = text.find('/');
  return Cidr{parse_ip(text.substr(0, slash)).value(),
              static_cast<std::uint8_t>(std::stoi(text.substr(slash + 1)))};
}
IpAddress ip(const char* text) { return parse_ip(text).value(); }
std::vector<AtomId> atoms_of(const AddressClassMap& m, const char* a) {
  auto s = m.atoms(m.lookup(ip(a)));
  return {s.begin(), s.end()};
}
using V = std::vector<AtomId>;

TEST(AddressClassMap, NestedPrefixesGiveNestedClasses) {
  AddressClassMap m;
  m.add(1, cidr("10.0.0.0/8"));
  m.add(2, cidr("10.1.0.0/16"));
  m.add(3, cidr("10.1.2.3/32"));
  m.add(4, cidr("0.0.0.0/0"));
  EXPECT_EQ(atoms_of(m, "10.1.2.3"), (V{1, 2, 3, 4}));
  EXPECT_EQ(atoms_of(m, "10.1.2.4"), (V{1, 2, 4}));
  EXPECT_EQ(atoms_of(m, "10.2.0.0"), (V{1, 4}));
  EXPECT_EQ(atoms_of(m, "11.0.0.0"), (V{4}));
  EXPECT_EQ(atoms_of(m, "2001:db8::1"), V{});  // families are separate
  EXPECT_EQ(m.lookup(ip("10.2.0.0")), m.lookup(ip("10.200.0.1")));  // interned
}

TEST(AddressClassMap, RangesNeedNoPrefixAlignment) {
  AddressClassMap m;
  m.add(7, IpRange{ip("10.0.0.250"), ip("10.0.1.5")});
  EXPECT_EQ(atoms_of(m, "10.0.0.249"), V{});
  EXPECT_EQ(atoms_of(m, "10.0.0.250"), V{7});
  EXPECT_EQ(atoms_of(m, "10.0.1.5"), V{7});
  EXPECT_EQ(atoms_of(m, "10.0.1.6"), V{});
  m.add(8, IpRange{ip("2001:db8::ff"), ip("2001:db8::1:0")});
  EXPECT_EQ(atoms_of(m, "2001:db8::fe"), V{});
  EXPECT_EQ(atoms_of(m, "2001:db8::100"), V{8});
  EXPECT_EQ(atoms_of(m, "2001:db8::1:0"), V{8});
  EXPECT_EQ(atoms_of(m, "2001:db8::1:1"), V{});
}

TEST(AddressClassMap, RemoveTakesAddressesOutWhateverAddedThem) {
  AddressClassMap m;
  m.add(1, cidr("10.0.0.0/24"));
  m.add(1, cidr("10.0.0.5/32"));  // idempotent: already in
  m.remove(1, cidr("10.0.0.5/32"));
  EXPECT_EQ(atoms_of(m, "10.0.0.5"), V{});
  EXPECT_EQ(atoms_of(m, "10.0.0.4"), V{1});
  m.add(1, cidr("10.0.0.5/32"));
  EXPECT_EQ(atoms_of(m, "10.0.0.5"), V{1});
  m.remove(1, cidr("0.0.0.0/0"));
  EXPECT_EQ(atoms_of(m, "10.0.0.4"), V{});
  EXPECT_EQ(atoms_of(m, "10.0.0.5"), V{});
}

TEST(AddressClassMap, ContainsAndMemoryGrowWithSplits) {
  AddressClassMap m;
  const std::size_t empty = m.memory_bytes();
  m.add(5, cidr("192.0.2.1/32"));
  EXPECT_TRUE(m.contains(m.lookup(ip("192.0.2.1")), 5));
  EXPECT_FALSE(m.contains(m.lookup(ip("192.0.2.2")), 5));
  EXPECT_GT(m.memory_bytes(), empty);  // two tables split below the /16 root entry
  EXPECT_EQ(m.class_count(), 2u);
}

// Random blocks added and removed in random order; an address's class must
// equal the set of atoms whose last block operation covering it was an add.
TEST(AddressClassMap, RandomAddRemoveMatchesASetModel) {
  for (int family : {4, 6}) {
    std::mt19937_64 rng(family * 7919);
    AddressClassMap m;
    struct Op { AtomId atom; Cidr block; bool add; };
    std::vector<Op> ops;
    auto random_cidr = [&] {
      IpAddress a;
      a.family = family == 4 ? IpFamily::kIpv4 : IpFamily::kIpv6;
      const int width = family == 4 ? 32 : 128;
      // Addresses cluster in a few /20s so blocks overlap.
      for (int i = 0; i < width / 8; ++i) a.bytes[i] = static_cast<std::uint8_t>(rng());
      a.bytes[0] = 10;
      a.bytes[1] = static_cast<std::uint8_t>(rng() % 2);
      a.bytes[2] = static_cast<std::uint8_t>(a.bytes[2] & 0x1f);
      const int len = static_cast<int>(width - (rng() % 14));
      Cidr c{a, static_cast<std::uint8_t>(len)};
      for (int bit = len; bit < width; ++bit) c.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
      return c;
    };
    auto contains = [&](const Cidr& c, const IpAddress& a) {
      for (int bit = 0; bit < c.prefix_length; ++bit)
        if (((c.address.bytes[bit / 8] ^ a.bytes[bit / 8]) >> (7 - bit % 8)) & 1) return false;
      return true;
    };
    for (int i = 0; i < 400; ++i) {
      Op op{static_cast<AtomId>(rng() % 12), random_cidr(), rng() % 4 != 0};
      if (op.add) m.add(op.atom, op.block); else m.remove(op.atom, op.block);
      ops.push_back(op);
      if (i % 50 != 49) continue;
      for (int probe = 0; probe < 300; ++probe) {
        IpAddress a = ops[rng() % ops.size()].block.address;
        a.bytes[(family == 4 ? 3 : 15)] ^= static_cast<std::uint8_t>(rng() % 8);
        std::set<AtomId> expected;
        for (AtomId atom = 0; atom < 12; ++atom) {
          bool in = false;
          for (const Op& o : ops) if (o.atom == atom && contains(o.block, a)) in = o.add;
          if (in) expected.insert(atom);
        }
        auto got = m.atoms(m.lookup(a));
        ASSERT_EQ(std::vector<AtomId>(got.begin(), got.end()), std::vector<AtomId>(expected.begin(), expected.end()))
            << a.to_string() << " after " << ops.size() << " operations";
      }
    }
  }
}

// add_all() reorders the adds (widest first) for speed; the classes must be
// exactly those of the adds one by one in the given order.
TEST(AddressClassMap, AddAllEqualsAddsOneByOne) {
  std::mt19937_64 rng(4242);
  for (int family : {4, 6}) {
    AddressClassMap one_by_one, bulk;
    std::vector<AddressClassMap::AtomBlock> blocks;
    const int width = family == 4 ? 32 : 128;
    for (int i = 0; i < 300; ++i) {
      IpAddress first;
      first.family = family == 4 ? IpFamily::kIpv4 : IpFamily::kIpv6;
      for (int b = 0; b < width / 8; ++b) first.bytes[b] = static_cast<std::uint8_t>(rng());
      first.bytes[0] = 10;
      first.bytes[1] = static_cast<std::uint8_t>(rng() % 4);
      IpAddress last = first;
      // Spans from one address to 2^24 addresses, so blocks nest and overlap.
      const int span_bits = static_cast<int>(rng() % 25);
      for (int bit = width - span_bits; bit < width; ++bit) last.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
      const AddressClassMap::AtomBlock block{static_cast<AtomId>(rng() % 40), IpRange{first, last}};
      blocks.push_back(block);
      one_by_one.add(block.atom, block.block);
    }
    bulk.add_all(blocks);
    for (const auto& b : blocks) {
      for (const IpAddress& probe : {b.block.first, b.block.last}) {
        auto x = one_by_one.atoms(one_by_one.lookup(probe));
        auto y = bulk.atoms(bulk.lookup(probe));
        ASSERT_EQ(std::vector<AtomId>(x.begin(), x.end()), std::vector<AtomId>(y.begin(), y.end())) << probe.to_string();
      }
    }
    // One by one, a narrow block added before a wide one that overlaps it
    // creates classes that the wide one then replaces; widest first creates
    // fewer (the IPv4 blocks here overlap a lot, the sparse IPv6 ones little).
    EXPECT_LE(bulk.class_count(), one_by_one.class_count());
    if (family == 4) {
      EXPECT_LT(bulk.class_count(), one_by_one.class_count());
    }
  }
}

}  // namespace
}  // namespace fw::classify
