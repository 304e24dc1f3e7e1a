// bench/classbench/classbench.h — ClassBench rule sets and header traces.
//
// ClassBench (Taylor & Turner, INFOCOM 2005) is the standard benchmark of
// packet classification; /work/shared/data/README.md describes the files.
//
// Usage:
//   fw::StatusOr<std::vector<classbench::Rule>> rules = classbench::load_rules(path);
//   if (!rules.ok()) die(rules.status().to_string());   // names file:line
//   fw::StatusOr<classbench::Trace> trace = classbench::load_trace(trace_path);
//
// Rule file: one rule per line, file order is priority (line 1 wins), first
// match. Fields separated by whitespace (the files use tabs, and spaces
// around the port-range colon):
//   @<src a.b.c.d>/<len> <dst a.b.c.d>/<len> <lo> : <hi> <lo> : <hi> 0x<proto>/0x<mask> [0x<flags>/0x<mask>]
// The flags column is checked for syntax and otherwise ignored (DPDK test-acl
// and the classification papers classify on the 5-tuple); it may be absent,
// as in some older ClassBench sets.
//
// Trace file: one header per line, seven unsigned decimal columns
//   <src> <dst> <sport> <dport> <proto> <flags> <rule>
// where <rule> is the 0-based index of the rule the header was generated
// *from* — not necessarily the first rule that matches it.
//
// Parsing is strict: every malformed line is an error naming file:line, the
// field and the offending text. Blank lines are skipped (they do not count as
// rules). Two normalisations, so that every classifier sees the same rule:
//   - address bits beyond the prefix length are cleared (10.1.2.3/8 is
//     10.0.0.0/8: only the first <len> bits take part in matching);
//   - a wildcard protocol (mask 0x00) gets value 0.
// A protocol mask other than 0x00 (any) or 0xFF (exact) is refused: ClassBench
// never produces one, and the classifiers under test need not support it.
//
// Thread-safety: free functions are reentrant; values are plain data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fw/status.h"

namespace classbench {

// One packet header of a trace: the IPv4 5-tuple in host byte order.
// 16 bytes so a burst of 64 is 16 cache lines; classifiers that want another
// layout (rte_acl reads network byte order) convert per burst.
struct Header {
  std::uint32_t src = 0;
  std::uint32_t dst = 0;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::uint8_t proto = 0;
};
static_assert(sizeof(Header) == 16, "Header is 16 bytes: 4 per cache-line quarter");

struct Prefix {
  std::uint32_t addr = 0;  // host order, bits past `len` are zero
  std::uint8_t len = 0;    // 0..32; 0 matches every address

  std::uint32_t mask() const noexcept { return len == 0 ? 0 : ~std::uint32_t{0} << (32 - len); }
  bool contains(std::uint32_t a) const noexcept { return ((a ^ addr) & mask()) == 0; }
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

struct PortRange {
  std::uint16_t lo = 0;
  std::uint16_t hi = 0xFFFF;  // inclusive, lo <= hi

  bool contains(std::uint16_t p) const noexcept { return lo <= p && p <= hi; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

inline constexpr std::uint8_t kProtoAny = 0x00;    // proto_mask: any protocol
inline constexpr std::uint8_t kProtoExact = 0xFF;  // proto_mask: exactly `proto`

struct Rule {
  Prefix src;
  Prefix dst;
  PortRange sport;
  PortRange dport;
  std::uint8_t proto = 0;       // 0 when proto_mask == kProtoAny
  std::uint8_t proto_mask = 0;  // kProtoAny or kProtoExact

  // The definition of a match; the reference classifier is a loop over this.
  bool matches(const Header& h) const noexcept {
    return src.contains(h.src) && dst.contains(h.dst) && sport.contains(h.sport) &&
           dport.contains(h.dport) && (h.proto & proto_mask) == proto;
  }
  friend bool operator==(const Rule&, const Rule&) = default;
};

// A trace: headers contiguous (they are what classifiers read), the other
// columns beside them, index for index.
struct Trace {
  std::vector<Header> headers;
  std::vector<std::uint32_t> flags;          // TCP flags column; unused by classifiers
  std::vector<std::uint32_t> generated_from; // the <rule> column

  std::size_t size() const noexcept { return headers.size(); }
};

// Parses rule-file text; `source` names it in errors ("acl1_1k:12: ...").
fw::StatusOr<std::vector<Rule>> parse_rules(std::string_view text, std::string_view source);
// Parses trace-file text.
fw::StatusOr<Trace> parse_trace(std::string_view text, std::string_view source);

// Read a file and parse it; a missing or unreadable file is an io_error
// naming the path, a malformed line an invalid_argument naming path:line.
fw::StatusOr<std::vector<Rule>> load_rules(const std::filesystem::path& path);
fw::StatusOr<Trace> load_trace(const std::filesystem::path& path);

// The rule in ClassBench syntax (without the flags column), for diagnostics:
// "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF".
std::string format_rule(const Rule& rule);
// "src=1.2.3.4 dst=5.6.7.8 sport=1024 dport=80 proto=6".
std::string format_header(const Header& header);

}  // namespace classbench
