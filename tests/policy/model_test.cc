// The policy model's value parsers: CIDRs, address ranges, ports; names.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "fw/policy.h"
#include "libfw/policy/internal.h"

namespace fw {
namespace {

IpAddress ip(std::string_view text) {
  auto a = parse_ip(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddress{};
}

struct GoodCidr {
  std::string_view text;
  std::string_view address;
  int prefix_length;
};

class ParseCidrGood : public ::testing::TestWithParam<GoodCidr> {};

TEST_P(ParseCidrGood, Parses) {
  const GoodCidr& c = GetParam();
  auto cidr = parse_cidr(c.text);
  ASSERT_TRUE(cidr.ok()) << c.text << ": " << cidr.status().to_string();
  EXPECT_EQ(cidr->address, ip(c.address));
  EXPECT_EQ(cidr->prefix_length, c.prefix_length);
}

INSTANTIATE_TEST_SUITE_P(
    Cidrs, ParseCidrGood,
    ::testing::Values(GoodCidr{"10.0.0.0/8", "10.0.0.0", 8}, GoodCidr{"10.1.2.3", "10.1.2.3", 32},
                      GoodCidr{"10.1.2.3/32", "10.1.2.3", 32}, GoodCidr{"0.0.0.0/0", "0.0.0.0", 0},
                      GoodCidr{"192.168.1.128/25", "192.168.1.128", 25}, GoodCidr{"2001:db8::/32", "2001:db8::", 32},
                      GoodCidr{"2001:db8::1", "2001:db8::1", 128}, GoodCidr{"::/0", "::", 0},
                      GoodCidr{"fe80::/10", "fe80::", 10}, GoodCidr{"2001:db8::/032", "2001:db8::", 32}));

struct BadValue {
  std::string_view text;
  std::string_view message;  // the whole Status message
};

class ParseCidrBad : public ::testing::TestWithParam<BadValue> {};

TEST_P(ParseCidrBad, SaysWhatIsWrong) {
  auto cidr = parse_cidr(GetParam().text);
  ASSERT_FALSE(cidr.ok()) << GetParam().text;
  EXPECT_EQ(cidr.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cidr.status().message(), GetParam().message);
}

using namespace std::string_view_literals;

INSTANTIATE_TEST_SUITE_P(
    Cidrs, ParseCidrBad,
    ::testing::Values(
        BadValue{"10.0.0.0/33", "'10.0.0.0/33': prefix length 33 is out of range 0-32"},
        BadValue{"10.0.0.0/300", "'10.0.0.0/300': prefix length 300 is out of range 0-32"},
        BadValue{"2001:db8::/129", "'2001:db8::/129': prefix length 129 is out of range 0-128"},
        BadValue{"10.0.0.1/8", "'10.0.0.1/8': host bits set; did you mean 10.0.0.0/8?"},
        BadValue{"192.168.1.129/25", "'192.168.1.129/25': host bits set; did you mean 192.168.1.128/25?"},
        BadValue{"2001:db8::1/32", "'2001:db8::1/32': host bits set; did you mean 2001:db8::/32?"},
        BadValue{"10.0.0.0/", "'10.0.0.0/': missing prefix length after '/'"},
        BadValue{"10.0.0.0/x", "'10.0.0.0/x': 'x' is not a prefix length (0-32)"},
        BadValue{"10.0.0.0/-1", "'10.0.0.0/-1': '-1' is not a prefix length (0-32)"},
        BadValue{"/8", "'/8': missing address"},
        BadValue{"web", "'web': not an IPv4 or IPv6 address"},
        BadValue{"10.0.0.256/32", "'10.0.0.256/32': '10.0.0.256' is not an IPv4 or IPv6 address"},
        BadValue{"10.0.0.0/8/9", "'10.0.0.0/8/9': '8/9' is not a prefix length (0-32)"},
        BadValue{"10.0.0.1-10.0.0.9",
                 "'10.0.0.1-10.0.0.9': not an IPv4 or IPv6 address; an address range FIRST-LAST belongs in ranges"},
        BadValue{"", "empty address; write 10.0.0.0/8, 2001:db8::/32 or 10.0.0.1"},
        BadValue{"10.0.0.0/8 ", "'10.0.0.0/8 ': contains whitespace"},
        // inet_pton stops at a NUL; the parser must not accept the prefix.
        BadValue{"10.0.0.1\0/8"sv, "'10.0.0.1\\x00/8': contains the control character \\x00"}));

class ParseIpRangeBad : public ::testing::TestWithParam<BadValue> {};

TEST_P(ParseIpRangeBad, SaysWhatIsWrong) {
  auto range = parse_ip_range(GetParam().text);
  ASSERT_FALSE(range.ok()) << GetParam().text;
  EXPECT_EQ(range.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, ParseIpRangeBad,
    ::testing::Values(
        BadValue{"10.0.0.9-10.0.0.1", "'10.0.0.9-10.0.0.1': first address 10.0.0.9 is greater than last address 10.0.0.1"},
        BadValue{"10.0.0.1-2001:db8::1", "'10.0.0.1-2001:db8::1': mixes IPv4 and IPv6; a range has one family"},
        BadValue{"10.0.0.1", "'10.0.0.1': not an address range; write FIRST-LAST, e.g. 10.0.0.1-10.0.0.9"},
        BadValue{"10.0.0.1-", "'10.0.0.1-': missing address"},
        BadValue{"10.0.0.1-x", "'10.0.0.1-x': 'x' is not an IPv4 or IPv6 address"},
        BadValue{"10.0.0.0/24-10.0.1.0", "'10.0.0.0/24-10.0.1.0': '10.0.0.0/24' is not an IPv4 or IPv6 address"},
        BadValue{"10.0.0.1 - 10.0.0.9", "'10.0.0.1 - 10.0.0.9': contains whitespace"},
        BadValue{"", "empty address range; write 10.0.0.1-10.0.0.9"}));

TEST(IpAddress, SetV4OverwritesAnyAddressWhole) {
  IpAddress a = parse_ip("2001:db8::1").value();
  a.set_v4(0x0a000102u);
  EXPECT_EQ(a, IpAddress::v4(0x0a000102u));
  EXPECT_EQ(a, parse_ip("10.0.1.2").value());
  EXPECT_EQ(a.v4_host_order(), 0x0a000102u);
  EXPECT_EQ(a.to_string(), "10.0.1.2");
}

TEST(ParseIpRange, AcceptsOneFamilyInOrder) {
  auto v4 = parse_ip_range("10.0.0.1-10.0.0.9");
  ASSERT_TRUE(v4.ok()) << v4.status().to_string();
  EXPECT_EQ(v4->first, ip("10.0.0.1"));
  EXPECT_EQ(v4->last, ip("10.0.0.9"));
  auto single = parse_ip_range("10.0.0.5-10.0.0.5");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->first, single->last);
  auto v6 = parse_ip_range("2001:db8::1-2001:db8::1:0");
  ASSERT_TRUE(v6.ok()) << v6.status().to_string();
  EXPECT_EQ(v6->last, ip("2001:db8::1:0"));
}

TEST(PortRange, ParsesOnePortOrARange) {
  using policy_internal::parse_port_range;
  auto one = parse_port_range("443");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (PortRange{443, 443}));
  auto range = parse_port_range("1024-65535");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, (PortRange{1024, 65535}));
  auto zero = parse_port_range("0");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, (PortRange{0, 0}));
  // first > last is syntax-correct; check_policy reports it.
  auto reversed = parse_port_range("90-80");
  ASSERT_TRUE(reversed.ok());
  EXPECT_EQ(policy_internal::port_range_problem(*reversed, "90-80"),
            "'90-80': first port 90 is greater than last port 80");
}

class PortRangeBad : public ::testing::TestWithParam<BadValue> {};

TEST_P(PortRangeBad, SaysWhatIsWrong) {
  auto range = policy_internal::parse_port_range(GetParam().text);
  ASSERT_FALSE(range.ok()) << GetParam().text;
  EXPECT_EQ(range.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Ports, PortRangeBad,
    ::testing::Values(BadValue{"65536", "'65536': port 65536 is out of range 0-65535"},
                      BadValue{"80-70000", "'80-70000': port 70000 is out of range 0-65535"},
                      BadValue{"http", "'http': not a port or port range; write 80 or 1024-65535"},
                      BadValue{"80-", "'80-': not a port or port range; write 80 or 1024-65535"},
                      BadValue{"-80", "'-80': not a port or port range; write 80 or 1024-65535"},
                      BadValue{"1-2-3", "'1-2-3': not a port or port range; write 80 or 1024-65535"},
                      BadValue{" 80", "' 80': not a port or port range; write 80 or 1024-65535"},
                      BadValue{"99999999999999999999",
                               "'99999999999999999999': not a port or port range; write 80 or 1024-65535"},
                      BadValue{"", "empty port; write 80 or 1024-65535"}));

TEST(PolicyNames, CategoriesAndErrors) {
  EXPECT_EQ(category_name(Category::kEthernet), "ethernet");
  EXPECT_EQ(category_name(Category::kEmergency), "emergency");
  EXPECT_EQ(category_name(Category::kInfrastructure), "infrastructure");
  EXPECT_EQ(category_name(Category::kEnvironment), "environment");
  EXPECT_EQ(category_name(Category::kApplication), "application");
  EXPECT_EQ(category_name(static_cast<Category>(9)), "unknown");
  PolicyError e{.where = "rule 12", .field = "sources.cidrs[1]", .message = "bad"};
  EXPECT_EQ(e.to_string(), "rule 12: sources.cidrs[1]: bad");
  e.field.clear();
  EXPECT_EQ(e.to_string(), "rule 12: bad");
}

TEST(PolicyNames, QuotedEscapesAndShortens) {
  using policy_internal::quote;
  EXPECT_EQ(quote("web"), "'web'");
  EXPECT_EQ(quote("a'b\n"), "'a\\x27b\\x0a'");
  EXPECT_EQ(quote(std::string(200, 'x')), "'" + std::string(77, 'x') + "...'");
}

}  // namespace
}  // namespace fw
