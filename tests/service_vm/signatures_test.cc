// The signature file parser (good and bad lines, errors naming file:line)
// and the compiled database (Hyperscan errors mapped back to the signature,
// determinism, per-thread scratch).
#include "examples/service-vm/signatures.h"

#include <hs/hs.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace svm {
namespace {

std::vector<Signature> parse_ok(std::string_view text) {
  auto parsed = parse_signatures(text, "t.rules");
  EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
  return parsed.ok() ? *parsed : std::vector<Signature>{};
}

TEST(SignatureParser, ReadsEveryFieldAndSkipsCommentsAndBlankLines) {
  auto sigs = parse_ok(
      "# a comment\n"
      "\n"
      "   \t\n"
      "  # an indented comment\n"
      "1001 block content \"/etc/passwd\" to-server\n"
      "2001\talert\tregex\t/user-agent:\\s*curl/i\tto-client\r\n"
      "7 block content \"|de ad|x|BE EF|\"\n"
      "8 alert regex /a.b/smi any\n");
  ASSERT_EQ(sigs.size(), 4u);
  EXPECT_EQ(sigs[0].id, 1001u);
  EXPECT_EQ(sigs[0].action, SignatureAction::kBlock);
  EXPECT_EQ(sigs[0].type, SignatureType::kContent);
  EXPECT_EQ(sigs[0].direction, SignatureDirection::kToServer);
  EXPECT_EQ(sigs[0].pattern, "\"/etc/passwd\"");
  EXPECT_EQ(sigs[0].source, "t.rules:5");
  EXPECT_EQ(sigs[0].expression, "\\x2f\\x65\\x74\\x63\\x2f\\x70\\x61\\x73\\x73\\x77\\x64");
  EXPECT_EQ(sigs[0].hs_flags, unsigned{HS_FLAG_SINGLEMATCH});

  EXPECT_EQ(sigs[1].id, 2001u);
  EXPECT_EQ(sigs[1].action, SignatureAction::kAlert);
  EXPECT_EQ(sigs[1].type, SignatureType::kRegex);
  EXPECT_EQ(sigs[1].direction, SignatureDirection::kToClient);
  EXPECT_EQ(sigs[1].expression, "user-agent:\\s*curl");
  EXPECT_EQ(sigs[1].hs_flags, unsigned{HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH});
  EXPECT_EQ(sigs[1].source, "t.rules:6");

  // Hex blocks give bytes by value, in either case, with optional spaces.
  EXPECT_EQ(sigs[2].expression, "\\xde\\xad\\x78\\xbe\\xef");
  EXPECT_EQ(sigs[2].direction, SignatureDirection::kAny);  // the default

  EXPECT_EQ(sigs[3].hs_flags,
            unsigned{HS_FLAG_DOTALL | HS_FLAG_MULTILINE | HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH});
  EXPECT_EQ(sigs[3].direction, SignatureDirection::kAny);
}

TEST(SignatureParser, ContentEscapesAndSpaces) {
  auto sigs = parse_ok(
      "1 block content \"say \\\"hi\\\" \\\\ \\| ok\"\n"
      "2 block content \"a b\"\n");
  ASSERT_EQ(sigs.size(), 2u);
  // say "hi" \ | ok
  std::string expected;
  for (unsigned char c : std::string("say \"hi\" \\ | ok")) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    expected += buf;
  }
  EXPECT_EQ(sigs[0].expression, expected);
  EXPECT_EQ(sigs[1].expression, "\\x61\\x20\\x62");
}

TEST(SignatureParser, RegexWithEscapedSlash) {
  auto sigs = parse_ok("5 block regex /GET \\/admin\\/[a-z]+/\n");
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_EQ(sigs[0].expression, "GET \\/admin\\/[a-z]+");
  EXPECT_EQ(sigs[0].pattern, "/GET \\/admin\\/[a-z]+/");
}

struct BadLine {
  std::string text;
  std::string expected;  // a substring of the error
};

TEST(SignatureParser, BadLinesNameFileLineAndField) {
  const std::vector<BadLine> cases = {
      {"x block content \"a\"", "t.rules:2: id: 'x' is not a number"},
      {"0 block content \"a\"", "t.rules:2: id: '0' is not a number in 1..4294967295"},
      {"4294967296 block content \"a\"", "id: '4294967296'"},
      {"12abc block content \"a\"", "id: '12abc'"},
      {"1 drop content \"a\"", "t.rules:2: action: 'drop' is not block or alert"},
      {"1", "t.rules:2: action: missing"},
      {"1 block", "t.rules:2: type: missing"},
      {"1 block pcre /a/", "type: 'pcre' is not content or regex"},
      {"1 block content abc", "content: the pattern must be in double quotes"},
      {"1 block content \"abc", "content: missing closing '\"'"},
      {"1 block content \"\"", "content: the pattern is empty"},
      {"1 block content \"||\"", "content: the pattern is empty"},
      {"1 block content \"|4|\"", "content: odd number of hex digits"},
      {"1 block content \"|4 1|\"", "content: hex digits must come in pairs"},
      {"1 block content \"|zz|\"", "content: 'z' is not a hex digit"},
      {"1 block content \"|41\"", "content: missing closing '|' of a hex block"},
      {"1 block content \"a\\n\"", "content: unknown escape '\\n'"},
      {"1 block content \"a\"b", "content: unexpected text right after the closing"},
      {"1 block regex abc", "regex: the pattern must be written /expression/flags"},
      {"1 block regex /abc", "regex: missing closing '/'"},
      {"1 block regex //", "regex: the expression is empty"},
      {"1 block regex /a/x", "regex: unknown flag 'x'"},
      {"1 block content \"a\" inbound", "direction: 'inbound' is not to-server"},
      {"1 block content \"a\" any extra", "unexpected text after the signature: 'extra'"},
  };
  for (const BadLine& c : cases) {
    auto parsed = parse_signatures("# header\n" + c.text + "\n", "t.rules");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), fw::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos)
        << "line: " << c.text << "\nerror: " << parsed.status().message()
        << "\nexpected to contain: " << c.expected;
    EXPECT_EQ(parsed.status().message().rfind("t.rules:2: ", 0), 0u) << parsed.status().message();
  }
}

TEST(SignatureParser, DuplicateIdNamesBothLines) {
  auto parsed = parse_signatures("1 block content \"a\"\n2 block content \"b\"\n1 alert regex /c/\n",
                                 "dup.rules");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "dup.rules:3: id: 1 is already used at dup.rules:1");
}

TEST(SignatureParser, OverlongLineIsRefused) {
  std::string line = "1 block content \"" + std::string(kMaxLineLength, 'a') + "\"\n";
  auto parsed = parse_signatures(line, "long.rules");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("long.rules:1: line longer than"), std::string::npos);
}

TEST(SignatureParser, MissingFileIsAnIoError) {
  auto parsed = load_signature_file("/nonexistent/dir/sigs.rules");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), fw::StatusCode::kIoError);
  EXPECT_NE(parsed.status().message().find("/nonexistent/dir/sigs.rules"), std::string::npos);
}

TEST(SignatureDatabase, CompileErrorNamesTheSignatureAndLine) {
  // The bad signature sorts in the middle: the error must still name it.
  auto parsed = parse_signatures(
      "30 block content \"ok\"\n"
      "# comment\n"
      "20 block regex /a{5,2}/\n"
      "10 alert regex /fine/\n",
      "bad.rules");
  ASSERT_TRUE(parsed.ok());
  auto db = SignatureDatabase::compile(std::move(*parsed));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), fw::StatusCode::kInvalidArgument);
  EXPECT_EQ(db.status().message().rfind("bad.rules:3: signature 20: Hyperscan cannot compile /a{5,2}/: ", 0), 0u)
      << db.status().message();
}

TEST(SignatureDatabase, PatternMatchingEmptyIsRefused) {
  auto parsed = parse_signatures("1 block content \"x\"\n2 block regex /a*/\n", "e.rules");
  ASSERT_TRUE(parsed.ok());
  auto db = SignatureDatabase::compile(std::move(*parsed));
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("e.rules:2: signature 2:"), std::string::npos)
      << db.status().message();
}

TEST(SignatureDatabase, EmptySetIsRefused) {
  auto db = SignatureDatabase::compile({});
  ASSERT_FALSE(db.ok());
}

TEST(SignatureDatabase, SortedByIdAndDeterministicWhateverTheFileOrder) {
  std::vector<std::string> lines;
  for (int i = 1; i <= 40; ++i) {
    lines.push_back(std::to_string(i * 7) + (i % 3 ? " block content \"pattern" : " alert regex /re") +
                    std::to_string(i) + (i % 3 ? "\"" : "[0-9]+x/i"));
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += l + "\n";
    return s;
  };
  auto first = SignatureDatabase::compile(parse_ok(join(lines)));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  std::mt19937 rng(42);
  std::shuffle(lines.begin(), lines.end(), rng);
  auto second = SignatureDatabase::compile(parse_ok(join(lines)));
  ASSERT_TRUE(second.ok());
  const auto& sigs = (*second)->signatures();
  EXPECT_TRUE(std::is_sorted(sigs.begin(), sigs.end(),
                             [](const Signature& a, const Signature& b) { return a.id < b.id; }));
  EXPECT_EQ((*first)->serialize(), (*second)->serialize());
  EXPECT_FALSE((*first)->serialize().empty());
  // A different set gives a different database.
  lines.pop_back();
  auto third = SignatureDatabase::compile(parse_ok(join(lines)));
  ASSERT_TRUE(third.ok());
  EXPECT_NE((*first)->serialize(), (*third)->serialize());
}

TEST(SignatureDatabase, ScratchPerThreadClonedFromThePrototype) {
  auto db = SignatureDatabase::compile(parse_ok("1 block content \"needle\"\n"));
  ASSERT_TRUE(db.ok());
  std::vector<std::thread> threads;
  std::vector<int> matches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ScratchPtr scratch = (*db)->make_scratch();
      ASSERT_NE(scratch, nullptr);
      hs_stream_t* stream = nullptr;
      ASSERT_EQ(hs_open_stream((*db)->database(), 0, &stream), HS_SUCCESS);
      auto on_match = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
        ++*static_cast<int*>(ctx);
        return 0;
      };
      for (int i = 0; i < 100; ++i) {
        hs_scan_stream(stream, "..nee", 5, 0, scratch.get(), on_match, &matches[t]);
        hs_scan_stream(stream, "dle..", 5, 0, scratch.get(), on_match, &matches[t]);
      }
      hs_close_stream(stream, scratch.get(), on_match, &matches[t]);
    });
  }
  for (auto& t : threads) t.join();
  // SINGLEMATCH: once per stream, although the needle occurs 100 times.
  for (int m : matches) EXPECT_EQ(m, 1);
}

}  // namespace
}  // namespace svm
