#include "bench/classbench/classbench.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>

namespace classbench {
namespace {

// Splits on spaces, tabs and carriage returns (CRLF files parse like LF ones).
// At most kMaxTokens are kept; `count` says how many there were in total.
struct Tokens {
  static constexpr std::size_t kMaxTokens = 12;
  std::array<std::string_view, kMaxTokens> token{};
  std::size_t count = 0;
};

Tokens tokenize(std::string_view line) {
  Tokens out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size()) break;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (out.count < Tokens::kMaxTokens) out.token[out.count] = line.substr(start, i - start);
    ++out.count;
  }
  return out;
}

// Error context: the source name and the 1-based line number.
struct Where {
  std::string_view source;
  std::size_t line = 0;

  fw::Status error(std::string_view field, std::string_view problem) const {
    std::ostringstream s;
    s << source << ':' << line << ": " << field << ": " << problem;
    return fw::invalid_argument(s.str());
  }
};

std::string quoted(std::string_view text) {
  // Long garbage is cut: the message must stay one readable line.
  constexpr std::size_t kMaxShown = 40;
  std::string s = "'";
  for (char c : text.substr(0, kMaxShown)) {
    if (c == '\t') {
      s += "\\t";  // a tab shown as a tab reads as spaces
    } else {
      s += c;
    }
  }
  if (text.size() > kMaxShown) s += "...";
  s += "'";
  return s;
}

// An unsigned number in `base` that uses the whole of `text` and is <= max.
// from_chars refuses signs and whitespace, which is what we want.
std::optional<std::uint64_t> parse_unsigned(std::string_view text, int base, std::uint64_t max) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// "0x" followed by 1..`digits` hex digits.
std::optional<std::uint64_t> parse_hex(std::string_view text, std::size_t digits) {
  if (text.size() < 3 || text.size() > 2 + digits || text[0] != '0' ||
      (text[1] != 'x' && text[1] != 'X')) {
    return std::nullopt;
  }
  return parse_unsigned(text.substr(2), 16, std::numeric_limits<std::uint64_t>::max());
}

std::optional<std::uint32_t> parse_dotted_quad(std::string_view text) {
  std::uint32_t addr = 0;
  for (int octet = 0; octet < 4; ++octet) {
    std::size_t dot = text.find('.');
    std::string_view part = octet < 3 ? text.substr(0, dot) : text;
    if (octet < 3 && dot == std::string_view::npos) return std::nullopt;
    std::optional<std::uint64_t> v = parse_unsigned(part, 10, 255);
    if (!v || part.size() > 3) return std::nullopt;
    addr = (addr << 8) | static_cast<std::uint32_t>(*v);
    if (octet < 3) text.remove_prefix(dot + 1);
  }
  return addr;
}

fw::Status parse_prefix(std::string_view text, std::string_view field, const Where& where,
                        Prefix& out) {
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return where.error(field, "expected a.b.c.d/len, got " + quoted(text));
  }
  std::optional<std::uint32_t> addr = parse_dotted_quad(text.substr(0, slash));
  if (!addr) return where.error(field, "bad IPv4 address " + quoted(text.substr(0, slash)));
  std::string_view len_text = text.substr(slash + 1);
  std::optional<std::uint64_t> len = parse_unsigned(len_text, 10, 32);
  if (!len) return where.error(field, "prefix length " + quoted(len_text) + " is not 0..32");
  out.len = static_cast<std::uint8_t>(*len);
  out.addr = *addr & out.mask();
  return fw::Status::Ok();
}

fw::Status parse_port_range(const Tokens& t, std::size_t first, std::string_view field,
                            const Where& where, PortRange& out) {
  std::string_view lo_text = t.token[first];
  std::string_view colon = t.token[first + 1];
  std::string_view hi_text = t.token[first + 2];
  if (colon != ":") {
    return where.error(field, "expected 'lo : hi', got " + quoted(colon) + " after " +
                                  quoted(lo_text));
  }
  std::optional<std::uint64_t> lo = parse_unsigned(lo_text, 10, 0xFFFF);
  if (!lo) return where.error(field, "port " + quoted(lo_text) + " is not 0..65535");
  std::optional<std::uint64_t> hi = parse_unsigned(hi_text, 10, 0xFFFF);
  if (!hi) return where.error(field, "port " + quoted(hi_text) + " is not 0..65535");
  if (*lo > *hi) {
    return where.error(field, "empty range " + std::string(lo_text) + " : " + std::string(hi_text) +
                                  " (low > high)");
  }
  out.lo = static_cast<std::uint16_t>(*lo);
  out.hi = static_cast<std::uint16_t>(*hi);
  return fw::Status::Ok();
}

// "0x<value>/0x<mask>", each at most `digits` hex digits.
fw::Status parse_value_mask(std::string_view text, std::size_t digits, std::string_view field,
                            const Where& where, std::uint32_t& value, std::uint32_t& mask) {
  std::size_t slash = text.find('/');
  std::optional<std::uint64_t> v, m;
  if (slash != std::string_view::npos) {
    v = parse_hex(text.substr(0, slash), digits);
    m = parse_hex(text.substr(slash + 1), digits);
  }
  if (!v || !m) {
    std::string form = "0x" + std::string(digits, 'H') + "/0x" + std::string(digits, 'H');
    return where.error(field, "expected " + form + ", got " + quoted(text));
  }
  value = static_cast<std::uint32_t>(*v);
  mask = static_cast<std::uint32_t>(*m);
  return fw::Status::Ok();
}

// Token positions of a rule line.
enum RuleToken : std::size_t {
  kSrc = 0, kDst = 1, kSportLo = 2, kDportLo = 5, kProto = 8, kFlags = 9,
  kRuleTokensWithoutFlags = 9, kRuleTokensWithFlags = 10,
};

fw::Status parse_rule_line(std::string_view line, const Where& where, Rule& rule) {
  if (line.empty() || line.front() != '@') {
    return where.error("rule", "a rule line starts with '@', got " + quoted(line));
  }
  Tokens t = tokenize(line.substr(1));
  if (t.count < kRuleTokensWithoutFlags) {
    return where.error("rule", "expected 'src/len dst/len lo : hi lo : hi proto/mask "
                               "[flags/mask]' (9 or 10 items), got " + std::to_string(t.count) +
                               " items");
  }
  if (t.count > kRuleTokensWithFlags) {
    return where.error("rule", "unexpected text after the flags field: " +
                                   quoted(t.token[kRuleTokensWithFlags]));
  }
  if (fw::Status s = parse_prefix(t.token[kSrc], "source prefix", where, rule.src); !s.ok()) return s;
  if (fw::Status s = parse_prefix(t.token[kDst], "destination prefix", where, rule.dst); !s.ok()) {
    return s;
  }
  if (fw::Status s = parse_port_range(t, kSportLo, "source port range", where, rule.sport);
      !s.ok()) {
    return s;
  }
  if (fw::Status s = parse_port_range(t, kDportLo, "destination port range", where, rule.dport);
      !s.ok()) {
    return s;
  }
  std::uint32_t proto = 0, proto_mask = 0;
  if (fw::Status s = parse_value_mask(t.token[kProto], 2, "protocol", where, proto, proto_mask);
      !s.ok()) {
    return s;
  }
  if (proto_mask != kProtoAny && proto_mask != kProtoExact) {
    return where.error("protocol", "mask " + quoted(t.token[kProto]) +
                                       " is neither 0x00 (any) nor 0xFF (exact)");
  }
  rule.proto_mask = static_cast<std::uint8_t>(proto_mask);
  rule.proto = static_cast<std::uint8_t>(proto & proto_mask);
  if (t.count == kRuleTokensWithFlags) {
    std::uint32_t flags = 0, flags_mask = 0;  // syntax only: classifiers ignore flags
    if (fw::Status s = parse_value_mask(t.token[kFlags], 4, "flags", where, flags, flags_mask);
        !s.ok()) {
      return s;
    }
  }
  return fw::Status::Ok();
}

enum TraceToken : std::size_t {
  kTraceSrc, kTraceDst, kTraceSport, kTraceDport, kTraceProto, kTraceFlags, kTraceRule,
  kTraceTokens,
};

fw::Status parse_trace_line(std::string_view line, const Where& where, Header& header,
                            std::uint32_t& flags, std::uint32_t& generated_from) {
  if (line.front() == '@') {
    return where.error("trace", "the line starts with '@': is this a rule file?");
  }
  Tokens t = tokenize(line);
  if (t.count != kTraceTokens) {
    return where.error("trace", "expected 7 columns (src dst sport dport proto flags rule), got " +
                                    std::to_string(t.count));
  }
  struct Column {
    std::string_view name;
    std::uint64_t max;
  };
  static constexpr std::array<Column, kTraceTokens> kColumns = {{
      {"source address", 0xFFFFFFFF}, {"destination address", 0xFFFFFFFF},
      {"source port", 0xFFFF},         {"destination port", 0xFFFF},
      {"protocol", 0xFF},              {"flags", 0xFFFFFFFF},
      {"rule", 0xFFFFFFFF},
  }};
  std::array<std::uint64_t, kTraceTokens> v{};
  for (std::size_t i = 0; i < kTraceTokens; ++i) {
    std::optional<std::uint64_t> parsed = parse_unsigned(t.token[i], 10, kColumns[i].max);
    if (!parsed) {
      return where.error(kColumns[i].name, quoted(t.token[i]) + " is not an unsigned decimal 0.." +
                                               std::to_string(kColumns[i].max));
    }
    v[i] = *parsed;
  }
  header.src = static_cast<std::uint32_t>(v[kTraceSrc]);
  header.dst = static_cast<std::uint32_t>(v[kTraceDst]);
  header.sport = static_cast<std::uint16_t>(v[kTraceSport]);
  header.dport = static_cast<std::uint16_t>(v[kTraceDport]);
  header.proto = static_cast<std::uint8_t>(v[kTraceProto]);
  flags = static_cast<std::uint32_t>(v[kTraceFlags]);
  generated_from = static_cast<std::uint32_t>(v[kTraceRule]);
  return fw::Status::Ok();
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Calls fn(line, where) for every non-blank line; stops at the first error.
template <typename Fn>
fw::Status for_each_line(std::string_view text, std::string_view source, Fn&& fn) {
  Where where{.source = source};
  while (!text.empty()) {
    ++where.line;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (is_blank(line)) continue;
    if (fw::Status s = fn(line, where); !s.ok()) return s;
  }
  return fw::Status::Ok();
}

fw::StatusOr<std::string> read_file(const std::filesystem::path& path, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fw::io_error(path.string() + ": is a directory, expected a ClassBench " +
                        std::string(what) + " file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fw::io_error(path.string() + ": cannot open " + std::string(what) + " file: " +
                        std::generic_category().message(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return fw::io_error(path.string() + ": read error");
  return content.str();
}

std::string dotted(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xFF) + "." +
         std::to_string((a >> 8) & 0xFF) + "." + std::to_string(a & 0xFF);
}

}  // namespace

fw::StatusOr<std::vector<Rule>> parse_rules(std::string_view text, std::string_view source) {
  std::vector<Rule> rules;
  fw::Status s = for_each_line(text, source, [&](std::string_view line, const Where& where) {
    Rule rule;
    fw::Status parsed = parse_rule_line(line, where, rule);
    if (parsed.ok()) rules.push_back(rule);
    return parsed;
  });
  if (!s.ok()) return s;
  return rules;
}

fw::StatusOr<Trace> parse_trace(std::string_view text, std::string_view source) {
  Trace trace;
  fw::Status s = for_each_line(text, source, [&](std::string_view line, const Where& where) {
    Header header;
    std::uint32_t flags = 0, generated_from = 0;
    fw::Status parsed = parse_trace_line(line, where, header, flags, generated_from);
    if (parsed.ok()) {
      trace.headers.push_back(header);
      trace.flags.push_back(flags);
      trace.generated_from.push_back(generated_from);
    }
    return parsed;
  });
  if (!s.ok()) return s;
  return trace;
}

fw::StatusOr<std::vector<Rule>> load_rules(const std::filesystem::path& path) {
  fw::StatusOr<std::string> text = read_file(path, "rule");
  if (!text.ok()) return text.status();
  return parse_rules(*text, path.string());
}

fw::StatusOr<Trace> load_trace(const std::filesystem::path& path) {
  fw::StatusOr<std::string> text = read_file(path, "trace");
  if (!text.ok()) return text.status();
  return parse_trace(*text, path.string());
}

std::string format_rule(const Rule& rule) {
  char proto[16];
  std::snprintf(proto, sizeof proto, "0x%02X/0x%02X", rule.proto, rule.proto_mask);
  return "@" + dotted(rule.src.addr) + "/" + std::to_string(rule.src.len) + "\t" +
         dotted(rule.dst.addr) + "/" + std::to_string(rule.dst.len) + "\t" +
         std::to_string(rule.sport.lo) + " : " + std::to_string(rule.sport.hi) + "\t" +
         std::to_string(rule.dport.lo) + " : " + std::to_string(rule.dport.hi) + "\t" + proto;
}

std::string format_header(const Header& h) {
  return "src=" + dotted(h.src) + " dst=" + dotted(h.dst) + " sport=" + std::to_string(h.sport) +
         " dport=" + std::to_string(h.dport) + " proto=" + std::to_string(h.proto);
}

}  // namespace classbench
