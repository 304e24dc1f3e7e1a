// libFuzzer target for the DFW's rule engine, differential: the input is
// decoded into a small structured policy (groups with CIDR, range, vNIC and
// nested members of both families and exclusions; services with protocols,
// port ranges and ICMP type/code; rules in sections of every category with
// group/CIDR/range/vNIC sides, negation, applied-to, directions, disabled
// rules, jumps to the application category; a default rule) plus packets
// and a sequence of changes: group addresses set, added and removed through
// the API, and edited policies compiled as successors (recompile(): rules
// re-ordered, removed, disabled, re-targeted; groups edited). The policy is
// compiled by fw::policy_compile::compile(); every packet's decision, single
// and in bursts, is compared with a straightforward evaluator of the policy
// written here from docs/policy.md ("Evaluation order"), before and after
// each change. Any mismatch aborts.
//
// Invalid policies are part of the input space: compile() must refuse
// exactly the policies check_policy() finds a problem in, with
// kInvalidArgument, and nothing else happens then.
//
// What the reference deliberately follows from compile.h (documented there,
// not a guess): dynamic membership (criteria, vm_ids) contributes no
// addresses (the inventory resolves it and sends addresses through the
// group address calls); a group applies to the vNICs among its static
// vnic_ids, nested groups included; API-set addresses have set semantics
// over addresses (removing a /32 from an added /24 keeps the rest) and are
// carried to a recompiled successor for the groups it still has.
//
// Input layout: a FuzzedDataProvider stream. Every choice reads a few
// bytes; when the input runs out every choice reads 0, which always picks
// the plain, valid option, so short inputs give small valid policies.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fw/policy.h"
#include "fw/verdict.h"
#include "libfw/classify/rule_index.h"
#include "libfw/policy/compile.h"

namespace {

using fw::Cidr;
using fw::IpAddress;
using fw::IpFamily;
using fw::policy_compile::CompiledPolicy;
using fw::policy_compile::Decision;
using Key = unsigned __int128;

// ---- addresses as integers ------------------------------------------------------

int width(IpFamily f) { return f == IpFamily::kIpv4 ? 32 : 128; }

Key key_of(const IpAddress& a) {
  Key k = 0;
  const int bytes = a.is_v4() ? 4 : 16;
  for (int i = 0; i < bytes; ++i) k = (k << 8) | a.bytes[static_cast<std::size_t>(i)];
  return k;
}

IpAddress address_of(IpFamily f, Key k) {
  if (f == IpFamily::kIpv4) return IpAddress::v4(static_cast<std::uint32_t>(k));
  std::uint8_t b[16];
  for (int i = 15; i >= 0; --i) {
    b[i] = static_cast<std::uint8_t>(k);
    k >>= 8;
  }
  return IpAddress::v6(b);
}

// Mask of the first `len` bits of a `w`-bit address, in the low w bits.
Key prefix_mask(int w, int len) {
  if (len <= 0) return 0;
  const Key all = w == 128 ? ~Key{0} : (Key{1} << w) - 1;
  return len >= w ? all : all & ~((Key{1} << (w - len)) - 1);
}

bool cidr_contains(const Cidr& c, const IpAddress& a) {
  if (c.address.family != a.family) return false;
  const Key m = prefix_mask(width(a.family), c.prefix_length);
  return (key_of(c.address) & m) == (key_of(a) & m);
}

bool range_contains(const fw::IpRange& r, const IpAddress& a) {
  if (r.first.family != a.family || r.last.family != a.family) return false;
  const Key k = key_of(a);
  return key_of(r.first) <= k && k <= key_of(r.last);
}

// What set_group_addresses() must accept: a family, a prefix length within
// it, no host bits.
bool cidr_well_formed(const Cidr& c) {
  if (c.address.family != IpFamily::kIpv4 && c.address.family != IpFamily::kIpv6) return false;
  const int w = width(c.address.family);
  if (c.prefix_length > w) return false;
  return (key_of(c.address) & ~prefix_mask(w, c.prefix_length) & prefix_mask(w, w)) == 0;
}

// ---- the generator ---------------------------------------------------------------

class Gen {
 public:
  explicit Gen(FuzzedDataProvider& fdp) : fdp_(fdp) {}

  // True with about `percent`% probability; false when the input is spent.
  bool rarely(unsigned percent) { return fdp_.ConsumeIntegralInRange<unsigned>(0, 99) >= 100 - percent; }
  unsigned upto(unsigned n) { return fdp_.ConsumeIntegralInRange<unsigned>(0, n); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[upto(static_cast<unsigned>(v.size() - 1))]; }

  IpFamily family() { return rarely(35) ? IpFamily::kIpv6 : IpFamily::kIpv4; }

  // Addresses cluster in a few blocks so that literals overlap and nest.
  IpAddress address(IpFamily f) {
    if (f == IpFamily::kIpv4) {
      static constexpr std::array<std::uint32_t, 6> kBases = {0x0A000000, 0x0A000100, 0x0A010000,
                                                              0xC0A80000, 0x00000000, 0xFFFFFF00};
      std::uint32_t a = kBases[upto(kBases.size() - 1)] | fdp_.ConsumeIntegral<std::uint8_t>();
      if (rarely(10)) a = fdp_.ConsumeIntegral<std::uint32_t>();
      return IpAddress::v4(a);
    }
    Key k = base6(upto(4));
    k |= fdp_.ConsumeIntegral<std::uint16_t>();
    if (rarely(10)) k = (Key{fdp_.ConsumeIntegral<std::uint64_t>()} << 64) | fdp_.ConsumeIntegral<std::uint64_t>();
    return address_of(IpFamily::kIpv6, k);
  }

  Cidr cidr(IpFamily f, bool allow_invalid) {
    const int w = width(f);
    static constexpr std::array<int, 8> kV4 = {32, 24, 16, 8, 28, 31, 30, 0};
    static constexpr std::array<int, 8> kV6 = {128, 64, 48, 120, 32, 127, 126, 0};
    int len = (f == IpFamily::kIpv4 ? kV4 : kV6)[upto(7)];
    if (rarely(10)) len = static_cast<int>(upto(static_cast<unsigned>(w)));
    IpAddress a = address(f);
    Key k = key_of(a);
    // Host bits cleared, unless this one is meant to be invalid.
    if (!(allow_invalid && rarely(3))) k &= prefix_mask(w, len);
    if (allow_invalid && rarely(2)) len = w + 1 + static_cast<int>(upto(3));
    return Cidr{address_of(f, k), static_cast<std::uint8_t>(len)};
  }

  fw::IpRange range(IpFamily f, bool allow_invalid) {
    Key a = key_of(address(f)), b = key_of(address(f));
    if (a > b) std::swap(a, b);
    if (allow_invalid && rarely(3)) std::swap(a, b);
    if (allow_invalid && rarely(2)) return {address_of(f, a), address_of(f == IpFamily::kIpv4 ? IpFamily::kIpv6 : IpFamily::kIpv4, b)};
    return {address_of(f, a), address_of(f, b)};
  }

  std::uint16_t port() {
    static constexpr std::array<std::uint16_t, 10> kPorts = {80, 443, 22, 53, 0, 1023, 1024, 65535, 8080, 1};
    return rarely(30) ? fdp_.ConsumeIntegral<std::uint16_t>() : kPorts[upto(kPorts.size() - 1)];
  }

  fw::PortRange port_range(bool allow_invalid) {
    std::uint16_t a = port(), b = rarely(50) ? a : port();
    if (a > b) std::swap(a, b);
    if (allow_invalid && rarely(3) && a != b) std::swap(a, b);
    return {a, b};
  }

  std::uint8_t protocol() {
    static constexpr std::array<std::uint8_t, 8> kProtocols = {6, 17, 1, 58, 132, 47, 0, 255};
    return rarely(10) ? fdp_.ConsumeIntegral<std::uint8_t>() : kProtocols[upto(kProtocols.size() - 1)];
  }

  std::uint8_t byte() { return fdp_.ConsumeIntegral<std::uint8_t>(); }

 private:
  static Key base6(unsigned i) {
    switch (i) {
      case 0: return Key{0x20010db800000000ull} << 64;  // 2001:db8::/64
      case 1: return Key{0x20010db800000001ull} << 64;  // 2001:db8:0:1::/64
      case 2: return Key{0xfe80000000000000ull} << 64;  // fe80::/64
      case 3: return 0;                                 // ::/112
      default: return ~Key{0} << 16;                    // ffff:...:0/112
    }
  }
  FuzzedDataProvider& fdp_;
};

// ---- the input: a policy, the compile input, changes and packets -------------------

constexpr std::uint32_t kVnics = 6;  // vNIC ids 1..6; 6 is never given addresses

struct Packet {
  std::uint32_t vnic = 1;
  fw::Direction direction = fw::Direction::kFromVm;
  fw::classify::LookupKey key;
};

struct Change {
  enum Kind { kSet, kAdd, kRemove, kRecompile } kind = kSet;
  // kSet/kAdd/kRemove: {set,add,remove}_group_addresses(group, addresses).
  std::string group;
  std::vector<Cidr> addresses;
  // kRecompile: recompile(current, policy).
  fw::Policy policy;
};

struct Case {
  fw::Policy policy;
  std::vector<std::uint32_t> vnics;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  std::map<std::string, std::vector<Cidr>> group_addresses;
  std::vector<Change> changes;
  std::vector<Packet> packets;
};

bool has_ports(std::uint8_t p) { return p == 6 || p == 17 || p == 132; }
bool is_icmp(std::uint8_t p) { return p == 1 || p == 58; }

class CaseBuilder {
 public:
  explicit CaseBuilder(FuzzedDataProvider& fdp) : g_(fdp) {}

  Case build() {
    invalid_ok_ = g_.rarely(15);
    for (std::uint32_t v = 1; v < kVnics; ++v) {
      if (g_.rarely(60)) c_.vnics.push_back(v);
      std::vector<Cidr>& addresses = c_.vnic_addresses[v];
      for (unsigned n = g_.upto(2); n > 0; --n) addresses.push_back(note(host_or_net(g_.family())));
    }
    const unsigned groups = g_.upto(4);
    for (unsigned i = 0; i < groups; ++i) c_.policy.groups.push_back(group(i));
    const unsigned services = g_.upto(2);
    for (unsigned i = 0; i < services; ++i) c_.policy.services.push_back(service(i));
    for (std::size_t cat = 0; cat < fw::kCategoryCount; ++cat) {
      for (unsigned n = g_.rarely(50) ? 1 + g_.upto(1) : 0; n > 0; --n) {
        fw::Section section;
        section.id = "c" + std::to_string(cat) + "s" + std::to_string(c_.policy.categories[cat].size());
        section.stateless = g_.rarely(30);
        for (unsigned r = g_.upto(4); r > 0 && rules_ < 16; --r) {
          section.rules.push_back(rule(static_cast<fw::Category>(cat)));
          ++rules_;
        }
        c_.policy.categories[cat].push_back(std::move(section));
      }
    }
    c_.policy.default_action = g_.rarely(50) ? fw::RuleAction::kDrop : fw::RuleAction::kAllow;
    if (g_.rarely(50)) c_.policy.default_rule_id = 9999;
    // Derived rather than drawn, so that the regression inputs keep their
    // meaning: a default drop is logged (the usual audit log).
    c_.policy.default_logged = c_.policy.default_action == fw::RuleAction::kDrop;
    c_.policy.default_tag = c_.policy.default_logged ? "default drop" : "";
    for (const fw::Group& group : c_.policy.groups) {
      if (!g_.rarely(20)) continue;
      std::vector<Cidr>& addresses = c_.group_addresses[group.id];
      for (unsigned n = 1 + g_.upto(1); n > 0; --n) addresses.push_back(note(host_or_net(g_.family())));
    }
    for (unsigned n = g_.upto(3); n > 0; --n) c_.changes.push_back(change());
    for (unsigned n = 1 + g_.upto(150); n > 0; --n) c_.packets.push_back(packet());
    return std::move(c_);
  }

 private:
  // Remembers a literal's bounds and their neighbours: packets are drawn
  // on them, where an off-by-one would show.
  Cidr note(const Cidr& c) {
    const IpFamily f = c.address.family;
    if (f == IpFamily::kIpv4 || f == IpFamily::kIpv6) {
      const int w = width(f);
      const int len = std::min<int>(c.prefix_length, w);
      const Key lo = key_of(c.address) & prefix_mask(w, len);
      const Key hi = lo | (~prefix_mask(w, len) & prefix_mask(w, w));
      note_bounds(f, lo, hi);
    }
    return c;
  }
  fw::IpRange note(const fw::IpRange& r) {
    if (r.first.family == r.last.family && r.first.family != IpFamily::kNone)
      note_bounds(r.first.family, key_of(r.first), key_of(r.last));
    return r;
  }
  void note_bounds(IpFamily f, Key lo, Key hi) {
    const Key top = prefix_mask(width(f), width(f));
    for (Key k : {lo, hi, lo - 1, hi + 1}) interesting_[f == IpFamily::kIpv4 ? 0 : 1].push_back(k & top);
  }

  Cidr host_or_net(IpFamily f) {
    if (g_.rarely(70)) return Cidr{g_.address(f), static_cast<std::uint8_t>(width(f))};
    return g_.cidr(f, false);
  }

  std::string group_ref(bool nested_in = false, unsigned below = 0) {
    const unsigned n = nested_in ? below : static_cast<unsigned>(c_.policy.groups.size());
    if (invalid_ok_ && g_.rarely(5)) return "nope";
    // A nested reference points to an earlier group (no cycles) unless
    // invalid input is allowed, when it may point anywhere.
    if (nested_in && invalid_ok_ && g_.rarely(20)) return "g" + std::to_string(g_.upto(3));
    if (n == 0) return "";
    return "g" + std::to_string(g_.upto(n - 1));
  }

  fw::Group group(unsigned i) {
    fw::Group group;
    group.id = "g" + std::to_string(i);
    for (unsigned n = g_.upto(2); n > 0; --n) group.cidrs.push_back(note(g_.cidr(g_.family(), invalid_ok_)));
    if (g_.rarely(30)) group.ranges.push_back(note(g_.range(g_.family(), invalid_ok_)));
    if (g_.rarely(30)) group.vnic_ids.push_back(1 + g_.upto(kVnics - 1));
    if (g_.rarely(40)) {
      std::string child = group_ref(true, i);
      if (!child.empty()) group.groups.push_back(child);
    }
    if (g_.rarely(25)) group.exclude_cidrs.push_back(note(g_.cidr(g_.family(), invalid_ok_)));
    // Dynamic membership: no addresses here (compile.h), whatever it says.
    if (g_.rarely(5)) group.vm_ids.push_back("vm-1");
    if (g_.rarely(5)) group.criteria.push_back({.all_of = {{.key = fw::CriterionKey::kTag, .values = {"web"}}}});
    return group;
  }

  fw::ServiceEntry entry() {
    fw::ServiceEntry e;
    if (g_.rarely(15)) {
      if (invalid_ok_ && g_.rarely(10)) e.dst_ports.push_back(g_.port_range(false));
      return e;
    }
    const std::uint8_t p = g_.protocol();
    e.protocol = p;
    if (has_ports(p) || (invalid_ok_ && g_.rarely(5))) {
      if (g_.rarely(30)) e.src_ports.push_back(g_.port_range(invalid_ok_));
      for (unsigned n = g_.upto(2); n > 0; --n) e.dst_ports.push_back(g_.port_range(invalid_ok_));
    }
    if (is_icmp(p) || (invalid_ok_ && g_.rarely(5))) {
      if (g_.rarely(60)) e.icmp_type = icmp_type();
      if ((e.icmp_type || (invalid_ok_ && g_.rarely(5))) && g_.rarely(40)) e.icmp_code = icmp_code();
    }
    return e;
  }
  std::uint8_t icmp_type() {
    static constexpr std::array<std::uint8_t, 6> kTypes = {8, 0, 3, 128, 129, 11};
    return g_.rarely(20) ? g_.byte() : kTypes[g_.upto(kTypes.size() - 1)];
  }
  std::uint8_t icmp_code() { return g_.rarely(30) ? g_.byte() : static_cast<std::uint8_t>(g_.upto(3)); }

  fw::Service service(unsigned i) {
    fw::Service s;
    s.id = "s" + std::to_string(i);
    const unsigned n = invalid_ok_ && g_.rarely(5) ? 0 : 1 + g_.upto(1);
    for (unsigned k = 0; k < n; ++k) s.entries.push_back(entry());
    return s;
  }

  // One side; literals mostly of the rule's family `f`, so that most
  // rules can match something (validation refuses IPv4-only sources with
  // IPv6-only destinations).
  fw::AddressSide side(IpFamily f) {
    fw::AddressSide s;
    if (g_.rarely(40)) {
      if (invalid_ok_ && g_.rarely(5)) s.negate = true;
      return s;
    }
    if (g_.rarely(50)) {
      std::string ref = group_ref();
      if (!ref.empty()) s.groups.push_back(ref);
    }
    for (unsigned n = g_.upto(2); n > 0; --n)
      s.cidrs.push_back(note(g_.cidr(g_.rarely(10) ? g_.family() : f, invalid_ok_)));
    if (g_.rarely(20)) s.ranges.push_back(note(g_.range(f, invalid_ok_)));
    if (g_.rarely(15)) s.vnic_ids.push_back(1 + g_.upto(kVnics - 1));
    if (!s.is_any() && g_.rarely(20)) s.negate = true;
    return s;
  }

  fw::Rule rule(fw::Category category) {
    fw::Rule r;
    r.id = next_id_++;
    if (invalid_ok_ && g_.rarely(5)) r.id = g_.rarely(50) ? 0 : 1;
    const IpFamily f = g_.family();
    r.sources = side(f);
    r.destinations = side(f);
    if (g_.rarely(30)) {
      std::string ref = c_.policy.services.empty() || (invalid_ok_ && g_.rarely(10))
                            ? std::string("nope")
                            : "s" + std::to_string(g_.upto(static_cast<unsigned>(c_.policy.services.size() - 1)));
      if (ref != "nope" || invalid_ok_) r.services.push_back(ref);
    }
    if (g_.rarely(50))
      for (unsigned n = 1 + g_.upto(1); n > 0; --n) r.inline_services.push_back(entry());
    if (g_.rarely(20)) r.applied_to_vnics.push_back(1 + g_.upto(kVnics - 1));
    if (g_.rarely(15)) {
      std::string ref = group_ref();
      if (!ref.empty()) r.applied_to_groups.push_back(ref);
    }
    r.direction = static_cast<fw::RuleDirection>(g_.upto(2));
    static constexpr std::array<fw::RuleAction, 3> kActions = {fw::RuleAction::kAllow, fw::RuleAction::kDrop,
                                                               fw::RuleAction::kReject};
    r.action = kActions[g_.upto(2)];
    if (g_.rarely(15) && (category != fw::Category::kApplication || invalid_ok_))
      r.action = fw::RuleAction::kJumpToApplication;
    r.logged = g_.rarely(30);
    if (g_.rarely(30)) r.tag = "t" + std::to_string(r.id);
    r.disabled = g_.rarely(10);
    return r;
  }

  Change change() {
    Change ch;
    if (g_.rarely(25)) return successor();
    ch.kind = static_cast<Change::Kind>(g_.upto(2));
    const std::size_t groups = c_.policy.groups.size();
    const bool unknown = groups == 0 || g_.rarely(10);
    ch.group = unknown ? "nope" : "g" + std::to_string(g_.upto(static_cast<unsigned>(groups - 1)));
    for (unsigned n = g_.upto(3); n > 0; --n) ch.addresses.push_back(note(host_or_net(g_.family())));
    // A malformed CIDR (only with a known group: which of the two errors
    // wins when both apply is not specified).
    if (!unknown && g_.rarely(10)) ch.addresses.push_back(g_.rarely(50) ? Cidr{IpAddress::v4(0x0A000001), 24}
                                                                        : Cidr{IpAddress::v4(0x0A000000), 33});
    return ch;
  }

  // An edited copy of the policy, for recompile(): most edits keep the
  // groups (recompile() then continues the lineage and reuses unchanged rule
  // lists), some change a group (a fresh lineage).
  Change successor() {
    Change ch;
    ch.kind = Change::kRecompile;
    ch.policy = c_.policy;
    fw::Policy& p = ch.policy;
    std::vector<std::pair<std::size_t, std::size_t>> sections;  // (category, section)
    for (std::size_t cat = 0; cat < fw::kCategoryCount; ++cat)
      for (std::size_t s = 0; s < p.categories[cat].size(); ++s) sections.emplace_back(cat, s);
    for (unsigned edits = 1 + g_.upto(2); edits > 0; --edits) {
      const unsigned what = g_.upto(7);
      if (what == 6 && !p.groups.empty()) {
        p.groups[g_.upto(static_cast<unsigned>(p.groups.size() - 1))].cidrs.push_back(note(host_or_net(g_.family())));
        continue;
      }
      if (what == 5 || sections.empty()) {
        p.default_action = p.default_action == fw::RuleAction::kAllow ? fw::RuleAction::kDrop : fw::RuleAction::kAllow;
        continue;
      }
      const auto [cat, si] = sections[g_.upto(static_cast<unsigned>(sections.size() - 1))];
      std::vector<fw::Rule>& rules = p.categories[cat][si].rules;
      if (rules.empty()) continue;
      fw::Rule& r = rules[g_.upto(static_cast<unsigned>(rules.size() - 1))];
      switch (what) {
        case 0:  // another verdict (a jump stays a jump: it is not allowed everywhere)
          if (r.action != fw::RuleAction::kJumpToApplication)
            r.action = static_cast<fw::RuleAction>((static_cast<unsigned>(r.action) + 1 + g_.upto(1)) % 3);
          break;
        case 1: r.disabled = !r.disabled; break;
        case 2: r.direction = static_cast<fw::RuleDirection>(g_.upto(2)); break;
        case 3: rules.erase(rules.begin() + (&r - rules.data())); break;
        case 4: std::swap(r, rules[g_.upto(static_cast<unsigned>(rules.size() - 1))]); break;
        default:  // a new literal on a side: the incremental path adds an atom
          (g_.rarely(50) ? r.sources : r.destinations).cidrs.push_back(note(g_.cidr(g_.family(), false)));
          break;
      }
    }
    return ch;
  }

  IpAddress packet_address(IpFamily f) {
    const std::vector<Key>& keys = interesting_[f == IpFamily::kIpv4 ? 0 : 1];
    if (!keys.empty() && !g_.rarely(30)) return address_of(f, g_.pick(keys));
    return g_.address(f);
  }

  Packet packet() {
    Packet p;
    p.vnic = 1 + g_.upto(kVnics - 1);
    p.direction = g_.rarely(50) ? fw::Direction::kToVm : fw::Direction::kFromVm;
    const IpFamily f = g_.family();
    p.key.src = packet_address(f);
    p.key.dst = packet_address(f);
    p.key.protocol = g_.protocol();
    p.key.src_port = g_.port();
    p.key.dst_port = g_.port();
    // ICMP: the parser reports type << 8 | code as the destination port.
    if (is_icmp(p.key.protocol) && !g_.rarely(30))
      p.key.dst_port = static_cast<std::uint16_t>(icmp_type() << 8 | icmp_code());
    return p;
  }

  Gen g_;
  Case c_;
  bool invalid_ok_ = false;
  std::uint32_t next_id_ = 1;
  unsigned rules_ = 0;
  std::vector<Key> interesting_[2];  // IPv4, IPv6
};

// ---- the reference: docs/policy.md "Evaluation order", literally ------------------

class Reference {
 public:
  // API-set addresses of a group as the calls that made them, in order:
  // (true, block) added, (false, block) removed. An address is in the set
  // when the last call whose block contains it added it.
  using ApiLog = std::map<std::string, std::vector<std::pair<bool, Cidr>>>;

  Reference(const fw::Policy& policy, const Case& c, ApiLog api) : policy_(&policy), c_(&c), api_(std::move(api)) {
    for (std::size_t g = 0; g < policy.groups.size(); ++g) group_index_[policy.groups[g].id] = g;
  }
  static ApiLog log_of(const std::map<std::string, std::vector<Cidr>>& addresses) {
    ApiLog log;
    for (const auto& [group, cidrs] : addresses)
      for (const Cidr& a : cidrs) log[group].emplace_back(true, a);
    return log;
  }
  // The reference of a recompiled successor: its policy, with the API-set
  // addresses of the groups it still has.
  Reference successor(const fw::Policy& next) const {
    ApiLog kept;
    for (const auto& [group, log] : api_)
      for (const fw::Group& g : next.groups)
        if (g.id == group) kept[group] = log;
    return Reference(next, *c_, std::move(kept));
  }

  void set_group_addresses(const std::string& group, const std::vector<Cidr>& addresses) {
    api_[group].clear();
    add_group_addresses(group, addresses, true);
  }
  void add_group_addresses(const std::string& group, const std::vector<Cidr>& addresses, bool add) {
    for (const Cidr& a : addresses) api_[group].emplace_back(add, a);
  }
  bool has_group(const std::string& group) const { return group_index_.count(group) != 0; }
  const fw::Policy& policy() const { return *policy_; }
  const ApiLog& api_log() const { return api_; }

  // The decision and the tag of its rule (CompiledPolicy::tag_of()).
  struct Expected {
    Decision decision;
    std::string_view tag;
  };
  Expected decide(std::uint32_t vnic, fw::Direction direction, const fw::classify::LookupKey& key) const {
    const fw::Policy& p = *policy_;
    for (std::size_t cat = 0; cat < fw::kCategoryCount; ++cat) {
      bool jumped = false;
      for (const fw::Section& section : p.categories[cat]) {
        for (const fw::Rule& rule : section.rules) {
          if (rule.disabled || !applies(rule, vnic, direction) || !matches(rule, key)) continue;
          if (rule.action == fw::RuleAction::kJumpToApplication) {
            jumped = true;
            break;
          }
          Decision d;
          d.rule_id = rule.id;
          d.action = rule.action;
          d.stateless = section.stateless;
          d.logged = rule.logged;
          d.category = static_cast<fw::Category>(cat);
          return {d, rule.tag};
        }
        if (jumped) break;
      }
      // A jump skips what is left of the categories before application.
      if (jumped) cat = static_cast<std::size_t>(fw::Category::kApplication) - 1;
    }
    Decision d;
    d.rule_id = p.default_rule_id;
    d.action = p.default_action;
    d.is_default = true;
    d.logged = p.default_logged;
    d.category = fw::Category::kApplication;
    return {d, p.default_tag};
  }

 private:
  bool applies(const fw::Rule& rule, std::uint32_t vnic, fw::Direction direction) const {
    if (rule.direction == fw::RuleDirection::kIn && direction != fw::Direction::kToVm) return false;
    if (rule.direction == fw::RuleDirection::kOut && direction != fw::Direction::kFromVm) return false;
    if (rule.applied_to_groups.empty() && rule.applied_to_vnics.empty()) return true;
    for (std::uint32_t v : rule.applied_to_vnics)
      if (v == vnic) return true;
    for (const std::string& g : rule.applied_to_groups)
      if (group_has_vnic(group_index_.at(g), vnic)) return true;
    return false;
  }

  // A group's static vNIC members, nested groups included.
  bool group_has_vnic(std::size_t g, std::uint32_t vnic) const {
    const fw::Group& group = policy_->groups[g];
    for (std::uint32_t v : group.vnic_ids)
      if (v == vnic) return true;
    for (const std::string& child : group.groups)
      if (group_has_vnic(group_index_.at(child), vnic)) return true;
    return false;
  }

  bool vnic_has(std::uint32_t vnic, const IpAddress& a) const {
    auto it = c_->vnic_addresses.find(vnic);
    if (it == c_->vnic_addresses.end()) return false;
    for (const Cidr& c : it->second)
      if (cidr_contains(c, a)) return true;
    return false;
  }

  // (own members ∪ API-set addresses ∪ nested groups) − exclusions.
  bool group_has(std::size_t g, const IpAddress& a) const {
    const fw::Group& group = policy_->groups[g];
    for (const Cidr& c : group.exclude_cidrs)
      if (cidr_contains(c, a)) return false;
    for (const Cidr& c : group.cidrs)
      if (cidr_contains(c, a)) return true;
    for (const fw::IpRange& r : group.ranges)
      if (range_contains(r, a)) return true;
    for (std::uint32_t v : group.vnic_ids)
      if (vnic_has(v, a)) return true;
    if (auto it = api_.find(group.id); it != api_.end()) {
      bool in = false;
      for (const auto& [added, c] : it->second)
        if (cidr_contains(c, a)) in = added;
      if (in) return true;
    }
    for (const std::string& child : group.groups)
      if (group_has(group_index_.at(child), a)) return true;
    return false;
  }

  bool side_has(const fw::AddressSide& side, const IpAddress& a) const {
    if (side.is_any()) return true;
    bool in = false;
    for (const std::string& g : side.groups) in = in || group_has(group_index_.at(g), a);
    for (const Cidr& c : side.cidrs) in = in || cidr_contains(c, a);
    for (const fw::IpRange& r : side.ranges) in = in || range_contains(r, a);
    for (std::uint32_t v : side.vnic_ids) in = in || vnic_has(v, a);
    return in != side.negate;
  }

  static bool in_ranges(const std::vector<fw::PortRange>& ranges, std::uint16_t port) {
    if (ranges.empty()) return true;
    for (const fw::PortRange& r : ranges)
      if (r.first <= port && port <= r.last) return true;
    return false;
  }

  static bool entry_matches(const fw::ServiceEntry& e, const fw::classify::LookupKey& key) {
    if (!e.protocol) return true;
    if (*e.protocol != key.protocol) return false;
    if (has_ports(key.protocol)) return in_ranges(e.src_ports, key.src_port) && in_ranges(e.dst_ports, key.dst_port);
    if (is_icmp(key.protocol)) {
      const auto type = static_cast<std::uint8_t>(key.dst_port >> 8);
      const auto code = static_cast<std::uint8_t>(key.dst_port & 0xff);
      return (!e.icmp_type || *e.icmp_type == type) && (!e.icmp_code || *e.icmp_code == code);
    }
    return true;
  }

  bool matches(const fw::Rule& rule, const fw::classify::LookupKey& key) const {
    if (!side_has(rule.sources, key.src) || !side_has(rule.destinations, key.dst)) return false;
    if (rule.services.empty() && rule.inline_services.empty()) return true;
    for (const fw::ServiceEntry& e : rule.inline_services)
      if (entry_matches(e, key)) return true;
    for (const std::string& id : rule.services)
      for (const fw::Service& s : policy_->services)
        if (s.id == id)
          for (const fw::ServiceEntry& e : s.entries)
            if (entry_matches(e, key)) return true;
    return false;
  }

  const fw::Policy* policy_;
  const Case* c_;  // vNIC addresses
  ApiLog api_;
  std::map<std::string, std::size_t> group_index_;
};

// With FUZZ_DFW_STATS set, how the inputs ran is printed at exit: what share
// of them compiled, and how much each checked (to judge the generator).
struct Stats {
  std::size_t inputs = 0, refused = 0, compiled = 0, rules = 0, packets = 0, changes = 0, decisions = 0;
  std::size_t default_decisions = 0;
} stats;

void print_stats() {
  std::fprintf(stderr,
               "fuzz_dfw: %zu inputs: %zu refused by validation, %zu compiled (%.1f rules, %.1f packets, %.1f "
               "changes each); %zu decisions compared, %.0f%% of them the default rule\n",
               stats.inputs, stats.refused, stats.compiled, stats.compiled ? double(stats.rules) / stats.compiled : 0.0,
               stats.compiled ? double(stats.packets) / stats.compiled : 0.0,
               stats.compiled ? double(stats.changes) / stats.compiled : 0.0, stats.decisions,
               stats.decisions ? 100.0 * double(stats.default_decisions) / double(stats.decisions) : 0.0);
}

// ---- checks -----------------------------------------------------------------------

std::string describe(const Decision& d, std::string_view tag) {
  return "rule " + std::to_string(d.rule_id) + " action " + std::to_string(static_cast<int>(d.action)) +
         (d.is_default ? " default" : "") + (d.stateless ? " stateless" : "") + (d.logged ? " logged" : "") +
         " tag '" + std::string(tag) + "' category " + std::string(fw::category_name(d.category));
}

std::string describe(const Packet& p, std::uint32_t vnic, fw::Direction direction) {
  return "vnic " + std::to_string(vnic) + (direction == fw::Direction::kToVm ? " to-vm " : " from-vm ") +
         p.key.src.to_string() + " -> " + p.key.dst.to_string() + " proto " + std::to_string(p.key.protocol) +
         " ports " + std::to_string(p.key.src_port) + " -> " + std::to_string(p.key.dst_port);
}

std::string describe(const Cidr& c) { return c.address.to_string() + "/" + std::to_string(c.prefix_length); }

std::string describe(const fw::ServiceEntry& e) {
  std::string out = "{proto " + (e.protocol ? std::to_string(*e.protocol) : std::string("any"));
  for (const fw::PortRange& r : e.src_ports) out += " sport " + std::to_string(r.first) + "-" + std::to_string(r.last);
  for (const fw::PortRange& r : e.dst_ports) out += " dport " + std::to_string(r.first) + "-" + std::to_string(r.last);
  if (e.icmp_type) out += " type " + std::to_string(*e.icmp_type);
  if (e.icmp_code) out += " code " + std::to_string(*e.icmp_code);
  return out + "}";
}

std::string describe(const fw::AddressSide& s) {
  if (s.is_any()) return "any";
  std::string out = s.negate ? "NOT[" : "[";
  for (const std::string& g : s.groups) out += " group " + g;
  for (const Cidr& c : s.cidrs) out += " " + describe(c);
  for (const fw::IpRange& r : s.ranges) out += " " + r.first.to_string() + "-" + r.last.to_string();
  for (std::uint32_t v : s.vnic_ids) out += " vnic " + std::to_string(v);
  return out + " ]";
}

// The case in a compact text form, for a mismatch report.
std::string describe(const Case& c, const fw::Policy& policy, const Reference::ApiLog& api) {
  std::string out = "policy:\n";
  for (const auto& [vnic, addresses] : c.vnic_addresses) {
    out += "  vnic " + std::to_string(vnic) + ":";
    for (const Cidr& a : addresses) out += " " + describe(a);
    out += "\n";
  }
  out += "  compiled for vnics:";
  for (std::uint32_t v : c.vnics) out += " " + std::to_string(v);
  out += "\n";
  for (const fw::Group& g : policy.groups) {
    out += "  group " + g.id + ":";
    for (const Cidr& a : g.cidrs) out += " " + describe(a);
    for (const fw::IpRange& r : g.ranges) out += " " + r.first.to_string() + "-" + r.last.to_string();
    for (std::uint32_t v : g.vnic_ids) out += " vnic " + std::to_string(v);
    for (const std::string& n : g.groups) out += " group " + n;
    for (const Cidr& a : g.exclude_cidrs) out += " except " + describe(a);
    if (auto it = api.find(g.id); it != api.end())
      for (const auto& [added, a] : it->second) out += (added ? " api+ " : " api- ") + describe(a);
    if (!g.vm_ids.empty() || !g.criteria.empty()) out += " (+dynamic)";
    out += "\n";
  }
  for (const fw::Service& sv : policy.services) {
    out += "  service " + sv.id + ":";
    for (const fw::ServiceEntry& e : sv.entries) out += " " + describe(e);
    out += "\n";
  }
  for (std::size_t cat = 0; cat < fw::kCategoryCount; ++cat) {
    for (const fw::Section& section : policy.categories[cat]) {
      out += "  " + std::string(fw::category_name(static_cast<fw::Category>(cat))) + " section " + section.id +
             (section.stateless ? " (stateless)" : "") + "\n";
      for (const fw::Rule& r : section.rules) {
        out += "    rule " + std::to_string(r.id) + " src " + describe(r.sources) + " dst " + describe(r.destinations);
        for (const std::string& sv : r.services) out += " service " + sv;
        for (const fw::ServiceEntry& e : r.inline_services) out += " " + describe(e);
        for (std::uint32_t v : r.applied_to_vnics) out += " applied-to vnic " + std::to_string(v);
        for (const std::string& g : r.applied_to_groups) out += " applied-to group " + g;
        out += " dir " + std::to_string(static_cast<int>(r.direction)) + " action " +
               std::to_string(static_cast<int>(r.action)) + (r.disabled ? " DISABLED" : "") + "\n";
      }
    }
  }
  out += "  default rule " + std::to_string(policy.default_rule_id) + " action " +
         std::to_string(static_cast<int>(policy.default_action)) + "\n";
  return out;
}

// The fields a user depends on; Decision may grow (position, ...) without
// the reference having to know.
bool same(const Decision& a, const Decision& b) {
  return a.rule_id == b.rule_id && a.action == b.action && a.is_default == b.is_default &&
         a.stateless == b.stateless && a.logged == b.logged && a.category == b.category;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_dfw: %s\n", what.c_str());
  std::abort();
}

void expect(const CompiledPolicy& compiled, const Decision& got, const Reference::Expected& want, const Packet& p,
            std::uint32_t vnic, fw::Direction d, const char* how, std::size_t round, const Case& c,
            const Reference& reference) {
  ++stats.decisions;
  stats.default_decisions += want.decision.is_default;
  const std::string_view got_tag = compiled.tag_of(got);
  if (same(got, want.decision) && got_tag == want.tag) return;
  fail(std::string(how) + " after " + std::to_string(round) + " change(s): " + describe(p, vnic, d) +
       "\n  expected " + describe(want.decision, want.tag) + "\n  got      " + describe(got, got_tag) + "\n" +
       describe(c, reference.policy(), reference.api_log()));
}

void check_all(const CompiledPolicy& compiled, const Reference& reference, const Case& c, std::size_t round) {
  for (const Packet& p : c.packets) {
    expect(compiled, compiled.decide(p.vnic, p.direction, p.key), reference.decide(p.vnic, p.direction, p.key), p,
           p.vnic, p.direction, "decide", round, c, reference);
  }
  std::vector<fw::classify::LookupKey> keys;
  for (const Packet& p : c.packets) keys.push_back(p.key);
  std::vector<Decision> out(keys.size());
  for (std::uint32_t vnic = 1; vnic <= kVnics; ++vnic) {
    for (fw::Direction d : {fw::Direction::kFromVm, fw::Direction::kToVm}) {
      compiled.decide_burst(vnic, d, keys, out);
      for (std::size_t i = 0; i < keys.size(); ++i)
        expect(compiled, out[i], reference.decide(vnic, d, keys[i]), c.packets[i], vnic, d, "decide_burst", round,
               c, reference);
    }
  }
  // The IPv4 packets again as LookupKeyV4s.
  std::vector<fw::classify::LookupKeyV4> keys_v4;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const fw::classify::LookupKey& k = keys[i];
    if (k.src.family != fw::IpFamily::kIpv4 || k.dst.family != fw::IpFamily::kIpv4) continue;
    keys_v4.push_back({k.src.v4_host_order(), k.dst.v4_host_order(), k.src_port, k.dst_port, k.protocol});
    which.push_back(i);
  }
  for (std::uint32_t vnic = 1; vnic <= kVnics; ++vnic) {
    for (fw::Direction d : {fw::Direction::kFromVm, fw::Direction::kToVm}) {
      compiled.decide_burst(vnic, d, std::span<const fw::classify::LookupKeyV4>(keys_v4), out);
      for (std::size_t j = 0; j < keys_v4.size(); ++j)
        expect(compiled, out[j], reference.decide(vnic, d, keys[which[j]]), c.packets[which[j]], vnic, d,
               "decide_burst (LookupKeyV4)", round, c, reference);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (std::getenv("FUZZ_DFW_STATS") != nullptr) std::atexit(print_stats);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const Case c = CaseBuilder(fdp).build();
  ++stats.inputs;
  fw::policy_compile::CompileInput input{.policy = &c.policy,
                                         .vnics = c.vnics,
                                         .vnic_addresses = c.vnic_addresses,
                                         .group_addresses = c.group_addresses};
  auto compiled = fw::policy_compile::compile(input);
  const std::vector<fw::PolicyError> problems = fw::check_policy(c.policy);
  if (!problems.empty()) {
    if (compiled.ok()) fail("compile() accepted a policy check_policy() refuses: " + problems.front().to_string());
    if (compiled.status().code() != fw::StatusCode::kInvalidArgument)
      fail("compile() refused an invalid policy with a code other than kInvalidArgument: " +
           compiled.status().to_string());
    ++stats.refused;
    return 0;
  }
  if (!compiled.ok()) fail("compile() refused a valid policy: " + compiled.status().to_string());
  std::unique_ptr<CompiledPolicy> current = std::move(*compiled);
  ++stats.compiled;
  for (const auto& sections : c.policy.categories)
    for (const fw::Section& section : sections) stats.rules += section.rules.size();
  stats.packets += c.packets.size();
  stats.changes += c.changes.size();
  Reference reference(c.policy, c, Reference::log_of(c.group_addresses));
  check_all(*current, reference, c, 0);
  for (std::size_t k = 0; k < c.changes.size(); ++k) {
    const Change& ch = c.changes[k];
    if (ch.kind == Change::kRecompile) {
      auto next = fw::policy_compile::recompile(
          *current, {.policy = &ch.policy, .vnics = c.vnics, .vnic_addresses = c.vnic_addresses});
      const std::vector<fw::PolicyError> next_problems = fw::check_policy(ch.policy);
      if (!next_problems.empty()) {
        if (next.ok())
          fail("recompile() accepted a policy check_policy() refuses: " + next_problems.front().to_string());
        if (next.status().code() != fw::StatusCode::kInvalidArgument)
          fail("recompile() refused an invalid policy with a code other than kInvalidArgument: " +
               next.status().to_string());
      } else {
        if (!next.ok()) fail("recompile() refused a valid policy: " + next.status().to_string());
        // The successor answers from now on; the previous one is dropped
        // (membership changes are made through the newest, compile.h).
        current = std::move(*next);
        reference = reference.successor(ch.policy);
      }
    } else {
      static constexpr const char* kCalls[] = {"set_group_addresses", "add_group_addresses", "remove_group_addresses"};
      const fw::Status s = ch.kind == Change::kSet ? current->set_group_addresses(ch.group, ch.addresses)
                           : ch.kind == Change::kAdd ? current->add_group_addresses(ch.group, ch.addresses)
                                                     : current->remove_group_addresses(ch.group, ch.addresses);
      bool well_formed = true;
      for (const Cidr& a : ch.addresses) well_formed = well_formed && cidr_well_formed(a);
      const fw::StatusCode want = !reference.has_group(ch.group) ? fw::StatusCode::kNotFound
                                  : !well_formed                 ? fw::StatusCode::kInvalidArgument
                                                                 : fw::StatusCode::kOk;
      if (s.code() != want)
        fail(std::string(kCalls[ch.kind]) + "(" + ch.group + ") returned " + s.to_string() + ", expected code " +
             std::to_string(static_cast<int>(want)));
      // A refused change changes nothing.
      if (s.ok()) {
        if (ch.kind == Change::kSet) reference.set_group_addresses(ch.group, ch.addresses);
        else reference.add_group_addresses(ch.group, ch.addresses, ch.kind == Change::kAdd);
      }
    }
    check_all(*current, reference, c, k + 1);
  }
  return 0;
}
