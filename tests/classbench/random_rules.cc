#include "classbench/random_rules.h"

#include "bench/classbench/reference.h"

#include <array>

namespace classbench::test {
namespace {

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  std::uint32_t below(std::uint32_t n) { return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_); }
  bool chance(unsigned percent) { return below(100) < percent; }

  // Addresses cluster in a few /16s so that prefixes overlap and nest.
  std::uint32_t address() {
    static constexpr std::array<std::uint32_t, 4> kRegions = {0x0A000000, 0x0A010000, 0xC0A80000,
                                                              0x80000000};
    if (chance(10)) return static_cast<std::uint32_t>(rng_());
    return kRegions[below(kRegions.size())] | below(1u << 16);
  }

  Prefix prefix() {
    std::uint8_t len;
    unsigned kind = below(10);
    if (kind < 2) len = 0;
    else if (kind < 5) len = 32;
    else if (kind < 7) len = static_cast<std::uint8_t>(16 + below(17));
    else len = static_cast<std::uint8_t>(below(33));
    Prefix p{.addr = 0, .len = len};
    p.addr = address() & p.mask();
    return p;
  }

  PortRange ports() {
    static constexpr std::array<std::uint16_t, 5> kWellKnown = {22, 53, 80, 443, 1024};
    unsigned kind = below(10);
    if (kind < 3) return {0, 0xFFFF};
    if (kind < 5) {
      std::uint16_t p = kWellKnown[below(kWellKnown.size())];
      return {p, p};
    }
    if (kind < 6) return {1024, 0xFFFF};
    std::uint16_t a = static_cast<std::uint16_t>(below(0x10000));
    std::uint16_t b = static_cast<std::uint16_t>(chance(50) ? a + below(200) : below(0x10000));
    if (b < a) std::swap(a, b);
    return {a, b};
  }

  Rule rule(bool policy_expressible) {
    Rule r;
    r.src = prefix();
    r.dst = prefix();
    r.sport = ports();
    r.dport = ports();
    if (chance(30)) {
      r.proto = 0;
      r.proto_mask = kProtoAny;
    } else {
      static constexpr std::array<std::uint8_t, 4> kProtos = {6, 17, 1, 47};
      r.proto = chance(90) ? kProtos[below(kProtos.size())] : static_cast<std::uint8_t>(below(256));
      r.proto_mask = kProtoExact;
    }
    const bool ports = r.sport != PortRange{} || r.dport != PortRange{};
    const bool has_ports = r.proto_mask == kProtoExact && (r.proto == 6 || r.proto == 17 || r.proto == 132);
    if (policy_expressible && ports && !has_ports) {
      if (chance(50)) {
        r.sport = r.dport = PortRange{};
      } else {
        r.proto = chance(50) ? 6 : 17;
        r.proto_mask = kProtoExact;
      }
    }
    if (policy_expressible && r.proto_mask == kProtoExact && r.proto == 58 && (r.src.len != 0 || r.dst.len != 0)) {
      r.proto = 1;
    }
    return r;
  }

  // A point inside the rule, often on one of its edges.
  Header inside(const Rule& r) {
    auto addr_in = [&](const Prefix& p) {
      std::uint32_t host = ~p.mask();
      unsigned kind = below(3);
      return p.addr | (kind == 0 ? 0 : kind == 1 ? host : (static_cast<std::uint32_t>(rng_()) & host));
    };
    auto port_in = [&](const PortRange& range) {
      unsigned kind = below(3);
      if (kind == 0) return range.lo;
      if (kind == 1) return range.hi;
      return static_cast<std::uint16_t>(range.lo + below(range.hi - range.lo + 1u));
    };
    Header h;
    h.src = addr_in(r.src);
    h.dst = addr_in(r.dst);
    h.sport = port_in(r.sport);
    h.dport = port_in(r.dport);
    h.proto = r.proto_mask == kProtoExact ? r.proto : static_cast<std::uint8_t>(below(256));
    return h;
  }

  // Anywhere, often just outside some rule's edge.
  Header anywhere(const std::vector<Rule>& rules) {
    Header h{.src = address(), .dst = address(),
             .sport = static_cast<std::uint16_t>(below(0x10000)),
             .dport = static_cast<std::uint16_t>(below(0x10000)),
             .proto = static_cast<std::uint8_t>(chance(80) ? (chance(50) ? 6 : 17) : below(256))};
    if (!rules.empty() && chance(50)) {
      const Rule& r = rules[below(static_cast<std::uint32_t>(rules.size()))];
      h = inside(r);
      switch (below(3)) {
        case 0: h.sport = static_cast<std::uint16_t>(chance(50) ? r.sport.lo - 1 : r.sport.hi + 1); break;
        case 1: h.dport = static_cast<std::uint16_t>(chance(50) ? r.dport.lo - 1 : r.dport.hi + 1); break;
        default: h.dst = r.dst.addr - 1; break;
      }
    }
    return h;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

RandomSet make_random_set(const RandomSetOptions& options) {
  Generator gen(options.seed);
  RandomSet set;
  for (std::size_t i = 0; i < options.rules; ++i) {
    // Some duplicates, so priority between identical rules is exercised.
    if (i > 0 && gen.chance(3)) {
      set.rules.push_back(set.rules[gen.below(static_cast<std::uint32_t>(i))]);
    } else {
      set.rules.push_back(gen.rule(options.policy_expressible));
    }
  }
  for (std::size_t i = 0; i < options.headers; ++i) {
    if (!set.rules.empty() && gen.chance(50)) {
      set.headers.push_back(gen.inside(set.rules[gen.below(static_cast<std::uint32_t>(set.rules.size()))]));
    } else {
      set.headers.push_back(gen.anywhere(set.rules));
    }
  }
  return set;
}

std::vector<std::int32_t> reference_matches(std::span<const Rule> rules,
                                            std::span<const Header> headers) {
  std::vector<std::int32_t> out(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) out[i] = first_match(rules, headers[i]);
  return out;
}

// Classifies in bursts of `burst`; returns the first disagreement as text, or "".
std::string first_disagreement(Classifier& classifier, std::span<const Rule> rules,
                               std::span<const Header> headers, std::size_t burst) {
  std::vector<std::int32_t> expected = reference_matches(rules, headers);
  std::vector<std::int32_t> got(headers.size(), 12345);
  for (std::size_t i = 0; i < headers.size(); i += burst) {
    std::size_t n = std::min(burst, headers.size() - i);
    classifier.classify(headers.subspan(i, n), std::span(got).subspan(i, n));
  }
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (got[i] != expected[i]) {
      auto rule = [&](std::int32_t r) {
        return r < 0 ? std::string("none") : std::to_string(r) + " " + format_rule(rules[r]);
      };
      return "header " + std::to_string(i) + " " + format_header(headers[i]) + ": expected " +
             rule(expected[i]) + ", got " + rule(got[i]);
    }
  }
  return "";
}

fw::StatusOr<LoadedSet> load_set(const std::filesystem::path& dir, std::string_view name) {
  fw::StatusOr<std::vector<Rule>> rules = load_rules(dir / name);
  if (!rules.ok()) return rules.status();
  fw::StatusOr<Trace> trace = load_trace(dir / (std::string(name) + "_trace"));
  if (!trace.ok()) return trace.status();
  return LoadedSet{std::move(*rules), std::move(*trace)};
}

}  // namespace classbench::test
