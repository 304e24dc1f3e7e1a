// Parse-error names are a stable interface (counters and logs are keyed by
// them): every value has its own kebab-case name.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "fw/packet.h"

namespace fw {
namespace {

TEST(ParseErrorNameTest, EveryValueHasAUniqueKebabCaseName) {
  const std::regex kebab("[a-z0-9]+(-[a-z0-9]+)*");
  std::set<std::string> seen;
  for (std::size_t e = 0; e < kParseErrorCount; ++e) {
    const std::string name(parse_error_name(static_cast<ParseError>(e)));
    SCOPED_TRACE("value " + std::to_string(e) + " '" + name + "'");
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(std::regex_match(name, kebab));
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name";
  }
}

TEST(ParseErrorNameTest, StableNamesOfEarlyValues) {
  EXPECT_EQ(parse_error_name(ParseError::kOk), "ok");
  EXPECT_EQ(parse_error_name(ParseError::kTruncatedEthernet), "truncated-ethernet");
  EXPECT_EQ(parse_error_name(ParseError::kTinyFirstFragment), "tiny-first-fragment");
  EXPECT_EQ(parse_error_name(ParseError::kTruncatedAh), "truncated-ah");
}

TEST(ParseErrorNameTest, OutOfRangeIsUnknown) {
  EXPECT_EQ(parse_error_name(ParseError::kCount), "unknown");
  EXPECT_EQ(parse_error_name(static_cast<ParseError>(250)), "unknown");
}

}  // namespace
}  // namespace fw
