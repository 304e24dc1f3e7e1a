// The ClassBench loader: every field of good lines, and for every kind of bad
// line an INVALID_ARGUMENT that names source:line and the field.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <string>

#include "bench/classbench/classbench.h"

namespace classbench {
namespace {

constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

Rule parse_one_rule(std::string_view line) {
  fw::StatusOr<std::vector<Rule>> rules = parse_rules(line, "t");
  EXPECT_TRUE(rules.ok()) << rules.status().to_string();
  if (!rules.ok() || rules->size() != 1) {
    ADD_FAILURE() << "expected exactly one rule from: " << line;
    return {};
  }
  return (*rules)[0];
}

// ---- rules: good lines ---------------------------------------------------------

TEST(ClassbenchRules, ParsesEveryFieldOfACanonicalLine) {
  Rule r = parse_one_rule("@237.73.3.4/32\t67.236.63.210/30\t0 : 65535\t1711 : 1712\t0x06/0xFF\t"
                          "0x0000/0x0200\t\n");
  EXPECT_EQ(r.src.addr, ip(237, 73, 3, 4));
  EXPECT_EQ(r.src.len, 32);
  EXPECT_EQ(r.dst.addr, ip(67, 236, 63, 208));  // /30: the two low bits are cleared
  EXPECT_EQ(r.dst.len, 30);
  EXPECT_EQ(r.sport.lo, 0);
  EXPECT_EQ(r.sport.hi, 65535);
  EXPECT_EQ(r.dport.lo, 1711);
  EXPECT_EQ(r.dport.hi, 1712);
  EXPECT_EQ(r.proto, 6);
  EXPECT_EQ(r.proto_mask, kProtoExact);
}

TEST(ClassbenchRules, FlagsColumnIsOptional) {
  Rule with = parse_one_rule("@1.2.3.4/32\t5.6.7.8/32\t1 : 2\t3 : 4\t0x11/0xFF\t0x1000/0x1000");
  Rule without = parse_one_rule("@1.2.3.4/32\t5.6.7.8/32\t1 : 2\t3 : 4\t0x11/0xFF");
  EXPECT_EQ(with, without);
}

TEST(ClassbenchRules, WildcardsAndNormalisation) {
  Rule r = parse_one_rule("@0.0.0.0/0\t10.1.2.3/8\t0 : 65535\t0 : 65535\t0x11/0x00\t0x0000/0x0000");
  EXPECT_EQ(r.src.len, 0);
  EXPECT_EQ(r.src.addr, 0u);
  EXPECT_EQ(r.dst.addr, ip(10, 0, 0, 0)) << "host bits past /8 are cleared";
  EXPECT_EQ(r.proto_mask, kProtoAny);
  EXPECT_EQ(r.proto, 0) << "a wildcard protocol's value is normalised to 0";
}

TEST(ClassbenchRules, HexDigitsInEitherCaseAndCrlf) {
  Rule upper = parse_one_rule("@1.1.1.1/32 2.2.2.2/32 0 : 1 0 : 1 0x2F/0xFF 0xABCD/0xFFFF\r\n");
  Rule lower = parse_one_rule("@1.1.1.1/32 2.2.2.2/32 0 : 1 0 : 1 0x2f/0xff 0xabcd/0xffff\n");
  EXPECT_EQ(upper, lower);
  EXPECT_EQ(upper.proto, 0x2F);
}

TEST(ClassbenchRules, BlankLinesAreSkippedAndDoNotCountAsRules) {
  fw::StatusOr<std::vector<Rule>> rules = parse_rules(
      "\n@1.1.1.1/32\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n"
      "   \t\n"
      "@2.2.2.2/32\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n\n",
      "t");
  ASSERT_TRUE(rules.ok()) << rules.status().to_string();
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[1].src.addr, ip(2, 2, 2, 2));
}

TEST(ClassbenchRules, EmptyTextIsAnEmptyRuleSet) {
  fw::StatusOr<std::vector<Rule>> rules = parse_rules("", "t");
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(rules->empty());
}

TEST(ClassbenchRules, FormatRuleRoundTrips) {
  Rule r = parse_one_rule("@10.0.0.0/8\t192.168.1.0/24\t1024 : 65535\t80 : 80\t0x06/0xFF");
  EXPECT_EQ(format_rule(r), "@10.0.0.0/8\t192.168.1.0/24\t1024 : 65535\t80 : 80\t0x06/0xFF");
  EXPECT_EQ(parse_one_rule(format_rule(r)), r);
}

// ---- rules: bad lines ----------------------------------------------------------

struct BadRule {
  std::string_view description;
  std::string_view line;
  std::string_view field;  // the field the message must name
};

class ClassbenchBadRule : public ::testing::TestWithParam<BadRule> {};

TEST_P(ClassbenchBadRule, IsRejectedNamingLineAndField) {
  const BadRule& bad = GetParam();
  // The bad line is line 3, after a good rule and a blank line.
  std::string text = "@1.1.1.1/32\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n\n";
  text += bad.line;
  text += "\n@2.2.2.2/32\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n";
  fw::StatusOr<std::vector<Rule>> rules = parse_rules(text, "rules.txt");
  ASSERT_FALSE(rules.ok()) << bad.description;
  EXPECT_EQ(rules.status().code(), fw::StatusCode::kInvalidArgument);
  const std::string& message = rules.status().message();
  EXPECT_TRUE(message.starts_with("rules.txt:3: ")) << message;
  EXPECT_NE(message.find(bad.field), std::string::npos)
      << bad.description << ": message does not name '" << bad.field << "': " << message;
}

constexpr std::string_view kTail = "\t0 : 65535\t0 : 65535\t0x06/0xFF";

INSTANTIATE_TEST_SUITE_P(
    EveryKind, ClassbenchBadRule,
    ::testing::Values(
        BadRule{"no leading @", "1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF", "rule"},
        BadRule{"too few fields", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1", "rule"},
        BadRule{"text after flags", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF\t"
                                    "0x0000/0x0000\textra", "rule"},
        BadRule{"octet > 255", "@256.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF",
                "source prefix"},
        BadRule{"three octets", "@1.2.3/24\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF", "source prefix"},
        BadRule{"five octets", "@1.2.3.4.5/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF",
                "source prefix"},
        BadRule{"empty octet", "@1..3.4/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF", "source prefix"},
        BadRule{"letters", "@a.b.c.d/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF", "source prefix"},
        BadRule{"no length", "@1.1.1.1\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF", "source prefix"},
        BadRule{"length 33", "@1.1.1.1/32\t2.2.2.2/33\t0 : 1\t0 : 1\t0x06/0xFF",
                "destination prefix"},
        BadRule{"negative length", "@1.1.1.1/32\t2.2.2.2/-1\t0 : 1\t0 : 1\t0x06/0xFF",
                "destination prefix"},
        BadRule{"port 65536", "@1.1.1.1/32\t2.2.2.2/32\t0 : 65536\t0 : 1\t0x06/0xFF",
                "source port range"},
        BadRule{"negative port", "@1.1.1.1/32\t2.2.2.2/32\t-1 : 5\t0 : 1\t0x06/0xFF",
                "source port range"},
        BadRule{"no colon", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 - 1\t0x06/0xFF",
                "destination port range"},
        BadRule{"low > high", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t80 : 79\t0x06/0xFF",
                "destination port range"},
        BadRule{"protocol without 0x", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t6/0xFF",
                "protocol"},
        BadRule{"protocol 3 digits", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x106/0xFF",
                "protocol"},
        BadRule{"protocol without mask", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06",
                "protocol"},
        BadRule{"partial protocol mask", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0x0F",
                "protocol"},
        BadRule{"bad flags", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0000",
                "flags"},
        BadRule{"flags not hex", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF\t0xZZ/0x00",
                "flags"}),
    [](const ::testing::TestParamInfo<BadRule>& info) {
      std::string name;
      for (char c : info.param.description) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// ---- traces --------------------------------------------------------------------

TEST(ClassbenchTrace, ParsesEveryColumn) {
  fw::StatusOr<Trace> trace =
      parse_trace("1923697128\t2273746465\t0\t1221\t6\t4294967295\t261\n"
                  "4294967295 0 65535 65535 255 0 0\r\n",
                  "t");
  ASSERT_TRUE(trace.ok()) << trace.status().to_string();
  ASSERT_EQ(trace->size(), 2u);
  const Header& h = trace->headers[0];
  EXPECT_EQ(h.src, 1923697128u);
  EXPECT_EQ(h.dst, 2273746465u);
  EXPECT_EQ(h.sport, 0);
  EXPECT_EQ(h.dport, 1221);
  EXPECT_EQ(h.proto, 6);
  EXPECT_EQ(trace->flags[0], 4294967295u);
  EXPECT_EQ(trace->generated_from[0], 261u);
  EXPECT_EQ(trace->headers[1].src, 4294967295u);
  EXPECT_EQ(trace->headers[1].sport, 65535);
  EXPECT_EQ(trace->headers[1].proto, 255);
}

struct BadTrace {
  std::string_view description;
  std::string_view line;
  std::string_view field;
};

class ClassbenchBadTrace : public ::testing::TestWithParam<BadTrace> {};

TEST_P(ClassbenchBadTrace, IsRejectedNamingLineAndField) {
  const BadTrace& bad = GetParam();
  std::string text = "1 2 3 4 6 0 0\n";
  text += bad.line;
  text += "\n";
  fw::StatusOr<Trace> trace = parse_trace(text, "trace.txt");
  ASSERT_FALSE(trace.ok()) << bad.description;
  EXPECT_EQ(trace.status().code(), fw::StatusCode::kInvalidArgument);
  const std::string& message = trace.status().message();
  EXPECT_TRUE(message.starts_with("trace.txt:2: ")) << message;
  EXPECT_NE(message.find(bad.field), std::string::npos)
      << bad.description << ": message does not name '" << bad.field << "': " << message;
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, ClassbenchBadTrace,
    ::testing::Values(BadTrace{"six columns", "1 2 3 4 6 0", "7 columns"},
                      BadTrace{"eight columns", "1 2 3 4 6 0 0 9", "7 columns"},
                      BadTrace{"address too big", "4294967296 2 3 4 6 0 0", "source address"},
                      BadTrace{"dotted address", "1.2.3.4 2 3 4 6 0 0", "source address"},
                      BadTrace{"negative", "1 -2 3 4 6 0 0", "destination address"},
                      BadTrace{"port 65536", "1 2 65536 4 6 0 0", "source port"},
                      BadTrace{"hex port", "1 2 3 0x50 6 0 0", "destination port"},
                      BadTrace{"protocol 256", "1 2 3 4 256 0 0", "protocol"},
                      BadTrace{"flags text", "1 2 3 4 6 SYN 0", "flags"},
                      BadTrace{"rule column", "1 2 3 4 6 0 x", "rule"},
                      BadTrace{"a rule line", "@1.1.1.1/32\t2.2.2.2/32\t0 : 1\t0 : 1\t0x06/0xFF",
                               "rule file"}),
    [](const ::testing::TestParamInfo<BadTrace>& info) {
      std::string name;
      for (char c : info.param.description) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// ---- files ---------------------------------------------------------------------

const std::filesystem::path kData = std::filesystem::path(FW_TEST_DATA_DIR) / "classbench";

TEST(ClassbenchFiles, MissingFileIsAnIoErrorNamingThePath) {
  fw::StatusOr<std::vector<Rule>> rules = load_rules(kData / "no_such_file");
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().code(), fw::StatusCode::kIoError);
  EXPECT_NE(rules.status().message().find("no_such_file"), std::string::npos);
  fw::StatusOr<Trace> trace = load_trace(kData);  // a directory
  ASSERT_FALSE(trace.ok());
  EXPECT_EQ(trace.status().code(), fw::StatusCode::kIoError);
  EXPECT_NE(trace.status().message().find("directory"), std::string::npos);
}

TEST(ClassbenchFiles, CommittedSetsLoadCompletely) {
  struct Expected {
    std::string_view name;
    std::size_t rules;
    std::size_t trace;
  };
  for (Expected e : {Expected{"acl1_1k", 878, 8780}, Expected{"fw1_1k", 761, 7610},
                     Expected{"ipc1_1k", 923, 9325}}) {
    fw::StatusOr<std::vector<Rule>> rules = load_rules(kData / e.name);
    ASSERT_TRUE(rules.ok()) << rules.status().to_string();
    EXPECT_EQ(rules->size(), e.rules) << e.name;
    fw::StatusOr<Trace> trace = load_trace(kData / (std::string(e.name) + "_trace"));
    ASSERT_TRUE(trace.ok()) << trace.status().to_string();
    EXPECT_EQ(trace->size(), e.trace) << e.name;
  }
  // The first line of acl1_1k, field by field.
  fw::StatusOr<std::vector<Rule>> acl = load_rules(kData / "acl1_1k");
  ASSERT_TRUE(acl.ok());
  EXPECT_EQ(format_rule((*acl)[0]), "@237.73.3.4/32\t67.236.63.210/32\t0 : 65535\t1711 : 1711\t0x06/0xFF");
}

TEST(ClassbenchFiles, EverySharedSetLoads) {
  const std::filesystem::path dir = std::filesystem::path(FW_SHARED_DATA_DIR) / "classbench";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "shared data not present at " << dir << " (only on development machines)";
  }
  int loaded = 0;
  for (std::string_view set : {"acl1", "fw1", "ipc1"}) {
    for (std::string_view size : {"1k", "10k", "100k"}) {
      std::string name = std::string(set) + "_" + std::string(size);
      if (!std::filesystem::exists(dir / name)) continue;
      fw::StatusOr<std::vector<Rule>> rules = load_rules(dir / name);
      ASSERT_TRUE(rules.ok()) << rules.status().to_string();
      EXPECT_FALSE(rules->empty()) << name;
      fw::StatusOr<Trace> trace = load_trace(dir / (name + "_trace"));
      ASSERT_TRUE(trace.ok()) << trace.status().to_string();
      EXPECT_FALSE(trace->headers.empty()) << name;
      ++loaded;
    }
  }
  EXPECT_GT(loaded, 0) << "no ClassBench set found in " << dir;
}

}  // namespace
}  // namespace classbench
