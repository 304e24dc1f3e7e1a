// RuleIndex against a brute-force first-match oracle: random IPv4/IPv6
// policies with groups (multi-block atoms), literal CIDRs and ranges,
// negation, services with port ranges and ICMP type/code, then sequences of
// incremental group membership changes.
#include "libfw/classify/rule_index.h"

#include <gtest/gtest.h>

#include <random>

#include "fw/packet.h"

namespace fw::classify {
namespace {

struct Block { bool is_range; Cidr cidr; IpRange range; };

struct Model {
  // Per atom: block operations in order (add/remove); an address is in the
  // atom if the last operation covering it was an add.
  std::vector<std::vector<std::pair<Block, bool>>> atom_ops;
  std::vector<RuleSpec> rules;
};

unsigned __int128 key(const IpAddress& a) {
  unsigned __int128 k = 0;
  const int n = a.family == IpFamily::kIpv4 ? 4 : 16;
  for (int i = 0; i < n; ++i) k = (k << 8) | a.bytes[i];
  return k;
}

bool block_contains(const Block& b, const IpAddress& a) {
  if (b.is_range) {
    return b.range.first.family == a.family && key(b.range.first) <= key(a) && key(a) <= key(b.range.last);
  }
  if (b.cidr.address.family != a.family) return false;
  for (int bit = 0; bit < b.cidr.prefix_length; ++bit)
    if (((b.cidr.address.bytes[bit / 8] ^ a.bytes[bit / 8]) >> (7 - bit % 8)) & 1) return false;
  return true;
}

bool in_atom(const Model& m, AtomId atom, const IpAddress& a) {
  bool in = false;
  for (const auto& [block, add] : m.atom_ops[atom]) if (block_contains(block, a)) in = add;
  return in;
}

bool side_matches(const Model& m, const SideSpec& s, const IpAddress& a) {
  if (s.atoms.empty()) return true;
  bool in = false;
  for (AtomId atom : s.atoms) in = in || in_atom(m, atom, a);
  return in != s.negate;
}

std::uint32_t reference(const Model& m, const LookupKey& k) {
  for (std::uint32_t i = 0; i < m.rules.size(); ++i) {
    const RuleSpec& r = m.rules[i];
    bool svc = r.services.empty();
    for (const ServiceSpec& s : r.services)
      svc = svc || ((!s.protocol || *s.protocol == k.protocol) && k.src_port >= s.src_first &&
                    k.src_port <= s.src_last && k.dst_port >= s.dst_first && k.dst_port <= s.dst_last);
    if (svc && side_matches(m, r.src, k.src) && side_matches(m, r.dst, k.dst)) return i;
  }
  return kNoMatch;
}

class RandomPolicy {
 public:
  explicit RandomPolicy(std::uint64_t seed) : rng_(seed) {}

  IpAddress address(IpFamily f) {
    IpAddress a;
    a.family = f;
    const int n = f == IpFamily::kIpv4 ? 4 : 16;
    for (int i = 0; i < n; ++i) a.bytes[i] = static_cast<std::uint8_t>(rng_());
    // A small address space so that blocks, rules and probes collide.
    a.bytes[0] = f == IpFamily::kIpv4 ? 10 : 0x20;
    a.bytes[1] = static_cast<std::uint8_t>(rng_() % 3);
    if (f == IpFamily::kIpv4) a.bytes[2] = static_cast<std::uint8_t>(rng_() % 4);
    else for (int i = 2; i < 14; ++i) a.bytes[i] = 0;
    return a;
  }
  Block block(IpFamily f) {
    Block b{};
    const int width = f == IpFamily::kIpv4 ? 32 : 128;
    if (rng_() % 5 == 0) {
      b.is_range = true;
      IpAddress x = address(f), y = address(f);
      if (key(y) < key(x)) std::swap(x, y);
      b.range = {x, y};
      return b;
    }
    const int len = rng_() % 10 == 0 ? static_cast<int>(rng_() % 9) : width - static_cast<int>(rng_() % 12);
    b.cidr = {address(f), static_cast<std::uint8_t>(len)};
    for (int bit = len; bit < width; ++bit) b.cidr.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    return b;
  }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

void add_block(AddressClassMap& map, Model& m, AtomId atom, const Block& b, bool add) {
  if (b.is_range) { if (add) map.add(atom, b.range); else map.remove(atom, b.range); }
  else { if (add) map.add(atom, b.cidr); else map.remove(atom, b.cidr); }
  m.atom_ops[atom].push_back({b, add});
}

TEST(RuleIndex, MatchesBruteForceOnRandomPoliciesThroughMembershipChanges) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    RandomPolicy gen(seed);
    auto& rng = gen.rng();
    AddressClassMap map;
    Model m;
    constexpr AtomId kLiterals = 40, kGroups = 30;
    std::vector<AtomInfo> infos(kLiterals + kGroups);
    m.atom_ops.resize(infos.size());
    std::vector<std::optional<Cidr>> literal_v4(infos.size());
    // Literal atoms: one block each, never changed. Groups: a few blocks of
    // both families, changed later.
    for (AtomId a = 0; a < kLiterals; ++a) {
      const IpFamily f = rng() % 4 == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4;
      Block b = gen.block(f);
      add_block(map, m, a, b, true);
      infos[a].family = f;
      infos[a].coverage_log2 = b.is_range ? 8 : static_cast<std::uint8_t>((f == IpFamily::kIpv4 ? 32 : 128) - b.cidr.prefix_length);
      if (!b.is_range && f == IpFamily::kIpv4) literal_v4[a] = b.cidr;
    }
    for (AtomId a = kLiterals; a < kLiterals + kGroups; ++a) {
      for (int i = 0, n = 1 + rng() % 3; i < n; ++i)
        add_block(map, m, a, gen.block(rng() % 3 == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4), true);
      infos[a].family = IpFamily::kNone;
      infos[a].coverage_log2 = 4;
    }
    auto side = [&] {
      SideSpec s;
      if (rng() % 4 == 0) return s;  // any
      for (int i = 0, n = 1 + rng() % 2; i < n; ++i) s.atoms.push_back(static_cast<AtomId>(rng() % infos.size()));
      std::sort(s.atoms.begin(), s.atoms.end());
      s.atoms.erase(std::unique(s.atoms.begin(), s.atoms.end()), s.atoms.end());
      s.negate = rng() % 7 == 0;
      if (s.atoms.size() == 1 && literal_v4[s.atoms[0]]) s.single_v4_cidr = literal_v4[s.atoms[0]];
      return s;
    };
    for (int i = 0; i < 400; ++i) {
      RuleSpec r;
      r.src = side();
      r.dst = side();
      for (int j = 0, n = rng() % 3; j < n; ++j) {
        ServiceSpec s;
        const int kind = rng() % 4;
        if (kind == 0) { s.protocol = kIpProtoIcmp; s.dst_first = static_cast<std::uint16_t>((rng() % 4) << 8); s.dst_last = s.dst_first | (rng() % 2 ? 0xff : 0); }
        else if (kind < 3) {
          s.protocol = kind == 1 ? kIpProtoTcp : kIpProtoUdp;
          s.dst_first = static_cast<std::uint16_t>(rng() % 100);
          s.dst_last = static_cast<std::uint16_t>(s.dst_first + rng() % 40);
          if (rng() % 3 == 0) { s.src_first = 1024; s.src_last = static_cast<std::uint16_t>(1024 + rng() % 50000); }
        }
        r.services.push_back(s);
      }
      m.rules.push_back(r);
    }
    RuleIndex index(m.rules, infos, map);
    EXPECT_GT(index.stats().indexed_src + index.stats().indexed_dst, 0u);
    EXPECT_GT(index.stats().blocks, 0u);  // the SoA block path is exercised too
    // ... and so are classes whose lists are merged into one, and those whose
    // lists are scanned one by one (the merge budget leaves some).
    EXPECT_GT(index.stats().merged_lists, 0u);
    EXPECT_GT(index.stats().unmerged_probes, 0u);

    auto probe = [&](int round) {
      std::vector<LookupKey> keys;
      std::vector<LookupKeyV4> keys_v4;
      std::vector<std::uint32_t> wanted, wanted_v4;
      for (int i = 0; i < 3000; ++i) {
        LookupKey k;
        const IpFamily f = rng() % 4 == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4;
        k.src = gen.address(f);
        k.dst = gen.address(rng() % 10 == 0 ? (f == IpFamily::kIpv4 ? IpFamily::kIpv6 : IpFamily::kIpv4) : f);
        const int p = rng() % 4;
        k.protocol = p == 0 ? kIpProtoIcmp : p == 1 ? kIpProtoTcp : p == 2 ? kIpProtoUdp : 47;
        k.src_port = static_cast<std::uint16_t>(rng() % 2 ? rng() % 1200 : 1024 + rng() % 60000);
        k.dst_port = k.protocol == kIpProtoIcmp ? static_cast<std::uint16_t>(((rng() % 5) << 8) | (rng() % 3))
                                                : static_cast<std::uint16_t>(rng() % 150);
        const std::uint32_t want = reference(m, k);
        ASSERT_EQ(index.classify(map, k), want)
            << "seed " << seed << " round " << round << " " << k.src.to_string() << " -> "
            << k.dst.to_string() << " proto " << int(k.protocol) << " " << k.src_port << " -> " << k.dst_port;
        keys.push_back(k);
        wanted.push_back(want);
        if (k.src.family == IpFamily::kIpv4 && k.dst.family == IpFamily::kIpv4) {
          const LookupKeyV4 k4{k.src.v4_host_order(), k.dst.v4_host_order(), k.src_port, k.dst_port, k.protocol};
          ASSERT_EQ(index.classify(map, k4), want) << "LookupKeyV4, seed " << seed << " round " << round;
          keys_v4.push_back(k4);
          wanted_v4.push_back(want);
        }
      }
      // The same probes in bursts: LookupKeys (mixed families) and the IPv4
      // ones as LookupKeyV4s.
      std::vector<std::uint32_t> got(keys.size()), got_v4(keys_v4.size());
      index.classify(map, std::span<const LookupKey>(keys), got);
      EXPECT_EQ(got, wanted) << "burst, seed " << seed << " round " << round;
      index.classify(map, std::span<const LookupKeyV4>(keys_v4), got_v4);
      EXPECT_EQ(got_v4, wanted_v4) << "LookupKeyV4 burst, seed " << seed << " round " << round;
    };
    probe(0);
    // Membership changes on groups only: the index is not rebuilt.
    for (int round = 1; round <= 5; ++round) {
      for (int c = 0; c < 20; ++c) {
        const AtomId g = kLiterals + static_cast<AtomId>(rng() % kGroups);
        add_block(map, m, g, gen.block(rng() % 3 == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4), rng() % 3 != 0);
      }
      probe(round);
    }
  }
}

// A rule's literal IPv4 CIDR and port ranges are compared as 16-bit lane
// ranges (a CIDR as the product of its halves' ranges): exact at every
// prefix length, on both sides, at the edges of the prefix and of the ports.
TEST(RuleIndex, LiteralCidrAndPortEdgesAtEveryPrefixLength) {
  const std::uint32_t base = 0xa5c3e7f1u;  // bits set on both sides of every boundary
  for (int len = 0; len <= 32; ++len) {
    const std::uint32_t mask = len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
    const std::uint32_t net = base & mask;
    const std::uint32_t last = net | ~mask;
    for (int on_dst = 0; on_dst < 2; ++on_dst) {
      AddressClassMap map;
      const Cidr cidr{IpAddress::v4(net), static_cast<std::uint8_t>(len)};
      map.add(0, cidr);
      std::vector<RuleSpec> rules(1);
      SideSpec side;
      side.atoms = {0};
      side.single_v4_cidr = cidr;
      (on_dst ? rules[0].dst : rules[0].src) = side;
      rules[0].services = {ServiceSpec{.protocol = kIpProtoUdp, .src_first = 0, .src_last = 1023,
                                       .dst_first = 53, .dst_last = 65535}};
      const std::vector<AtomInfo> infos = {{IpFamily::kIpv4, static_cast<std::uint8_t>(32 - len)}};
      RuleIndex index(rules, infos, map);
      auto check = [&](std::uint32_t address, std::uint8_t protocol, std::uint16_t sport, std::uint16_t dport,
                       bool expect) {
        LookupKey k;
        k.src = IpAddress::v4(on_dst ? 0x01020304u : address);
        k.dst = IpAddress::v4(on_dst ? address : 0x01020304u);
        k.protocol = protocol;
        k.src_port = sport;
        k.dst_port = dport;
        EXPECT_EQ(index.classify(map, k), expect ? 0u : kNoMatch)
            << "/" << len << (on_dst ? " dst " : " src ") << IpAddress::v4(address).to_string() << " proto "
            << int(protocol) << " " << sport << " -> " << dport;
        std::uint32_t burst_out = 7;
        index.classify(map, std::span<const LookupKey>(&k, 1), std::span<std::uint32_t>(&burst_out, 1));
        EXPECT_EQ(burst_out, expect ? 0u : kNoMatch);
      };
      check(net, kIpProtoUdp, 0, 53, true);
      check(last, kIpProtoUdp, 1023, 65535, true);
      check(base, kIpProtoUdp, 512, 8080, true);
      if (net != 0) check(net - 1, kIpProtoUdp, 0, 53, false);
      if (last != 0xffffffffu) check(last + 1, kIpProtoUdp, 0, 53, false);
      if (len > 0) check(base ^ (0x80000000u >> (len - 1)), kIpProtoUdp, 0, 53, false);  // last fixed bit flipped
      check(net, kIpProtoTcp, 0, 53, false);
      check(net, kIpProtoUdp, 1024, 53, false);
      check(net, kIpProtoUdp, 0, 52, false);
    }
  }
}

TEST(RuleIndex, BurstAgreesWithSingleLookups) {
  AddressClassMap map;
  map.add(0, Cidr{parse_ip("10.0.0.0").value(), 8});
  std::vector<RuleSpec> rules(2);
  rules[0].src.atoms = {0};
  rules[0].services = {ServiceSpec{.protocol = kIpProtoTcp, .dst_first = 80, .dst_last = 80}};
  std::vector<AtomInfo> infos = {{IpFamily::kIpv4, 24}};
  RuleIndex index(rules, infos, map);
  std::vector<LookupKey> keys(5);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    keys[i].src = IpAddress::v4(0x0a000001u + static_cast<std::uint32_t>(i));
    keys[i].dst = IpAddress::v4(0xc0000201u);
    keys[i].protocol = kIpProtoTcp;
    keys[i].dst_port = i % 2 ? 80 : 443;
  }
  std::vector<std::uint32_t> out(keys.size());
  index.classify(map, keys, out);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(out[i], index.classify(map, keys[i]));
    EXPECT_EQ(out[i], i % 2 ? 0u : 1u);  // rule 1 is any/any/any
  }
}

}  // namespace
}  // namespace fw::classify
