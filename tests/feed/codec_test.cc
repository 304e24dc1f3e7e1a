// The feed's wire format: every message kind round-trips, malformed
// messages are refused naming the field, framing survives any split of the
// stream and refuses oversized or endless length prefixes.
#include <gtest/gtest.h>

#include "feed_helpers.h"
#include "fw/feed.h"

namespace fw {
namespace {

using namespace fw::test;

std::vector<FeedEvent> one_of_each() {
  VmSpec full{.id = "vm-1", .name = "Web-01", .os_name = "Ubuntu", .computer_name = "web01",
              .tags = {{"tier", "web"}, {"", "unscoped"}},
              .vnics = {VnicSpec{.id = 7, .mac = parse_mac("02:00:00:00:00:07").value(),
                                 .addresses = {ip("10.0.0.7"), ip("2001:db8::7")}},
                        VnicSpec{.id = 8}}};
  return {begin(5), upsert(5, full), end(5), remove(6, "vm-1"), tag_add(7, "vm-1", {"s", "v"}),
          tag_remove(8, "vm-1", {"", "v"}), address_add(9, 7, ip("10.0.0.9")), address_remove(10, 7, ip("::1"))};
}

void expect_same(const FeedEvent& a, const FeedEvent& b) {
  EXPECT_EQ(a.revision, b.revision);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.vm, b.vm);
  EXPECT_EQ(a.vm_id, b.vm_id);
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.vnic_id, b.vnic_id);
  EXPECT_EQ(a.address, b.address);
}

TEST(FeedCodec, EveryKindRoundTrips) {
  for (const FeedEvent& e : one_of_each()) {
    SCOPED_TRACE(feed_event_kind_name(e.kind));
    auto decoded = decode_feed_message(encode_feed_message(e));
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    expect_same(*decoded, e);
  }
}

TEST(FeedCodec, MalformedMessagesAreRefusedNamingTheField) {
  auto refused = [](std::string_view bytes, std::string_view mention) {
    auto d = decode_feed_message(bytes);
    ASSERT_FALSE(d.ok()) << "accepted: " << mention;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(mention), std::string::npos) << d.status().message();
  };
  refused(std::string("\xff\xff\xff", 3), "not a fw.v1.FeedMessage");
  refused(encode_feed_message(begin(0)), "revision");
  refused(std::string("\x08\x05", 2), "body");  // revision 5, nothing else
  // An address of 5 bytes: field 7 (address_add) { 1: vnic 3, 2: 5 bytes }.
  refused(std::string("\x08\x05\x3a\x09\x08\x03\x12\x05\x01\x02\x03\x04\x05", 13), "address_add.address");
  // A MAC of 3 bytes: field 3 (vm_upsert) { 1: "a", 6: vnic { 1: 1, 2: 3 bytes } }.
  refused(std::string("\x08\x05\x1a\x0c\x0a\x01\x61\x32\x07\x08\x01\x12\x03\x01\x02\x03", 16), "mac");
}

TEST(FeedCodec, FramesSurviveEverySplitOfTheStream) {
  std::string stream;
  for (const FeedEvent& e : one_of_each()) stream += encode_feed_frame(e);
  for (std::size_t chunk = 1; chunk <= 17; ++chunk) {
    FeedFrameReader reader;
    std::vector<FeedEvent> out;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      reader.append(std::string_view(stream).substr(off, chunk));
      reader.append("");  // an empty read changes nothing
      for (;;) {
        auto body = reader.next();
        ASSERT_TRUE(body.ok()) << body.status().to_string();
        if (!body->has_value()) break;
        out.push_back(decode_feed_message(**body).value());
      }
    }
    ASSERT_EQ(out.size(), one_of_each().size()) << "chunk " << chunk;
    EXPECT_EQ(reader.buffered(), 0u);
    for (std::size_t i = 0; i < out.size(); ++i) expect_same(out[i], one_of_each()[i]);
  }
}

TEST(FeedCodec, OversizedAndEndlessLengthPrefixesBreakTheStream) {
  {
    FeedFrameReader reader;
    reader.append("\x81\x80\x40");  // 1 + (0x40 << 14) = 1 MiB + 1
    auto body = reader.next();
    ASSERT_FALSE(body.ok());
    EXPECT_NE(body.status().message().find("limit"), std::string::npos);
  }
  {
    FeedFrameReader reader;
    reader.append(std::string(11, '\x80'));
    EXPECT_FALSE(reader.next().ok());
  }
  {  // Exactly the limit is fine (it waits for the bytes).
    FeedFrameReader reader;
    reader.append("\x80\x80\x40");
    auto body = reader.next();
    ASSERT_TRUE(body.ok());
    EXPECT_FALSE(body->has_value());
  }
  EXPECT_FALSE(decode_feed_message(std::string(kMaxFeedMessageBytes + 1, '\0')).ok());
}

}  // namespace
}  // namespace fw
