// format_ct_state(): the flags as OVS's `ovstest test-conntrack pcap` prints
// them (lib/flow.c format_flags with ct_state_to_string: lowest bit first,
// '|' between, "0" for none).
#include <gtest/gtest.h>

#include <set>
#include <string_view>

#include "fw/conntrack.h"

namespace fw {
namespace {

TEST(CtState, FormatsLikeOvs) {
  struct Case {
    std::uint8_t flags;
    const char* text;
  };
  const Case cases[] = {
      {0, "0"},
      {kCtNew | kCtTracked, "new|trk"},
      {kCtEstablished | kCtTracked, "est|trk"},
      {kCtEstablished | kCtReply | kCtTracked, "est|rpl|trk"},
      {kCtRelated | kCtTracked, "rel|trk"},
      {kCtRelated | kCtReply | kCtTracked, "rel|rpl|trk"},
      {kCtInvalid | kCtTracked, "inv|trk"},
      {kCtNew | kCtEstablished | kCtRelated | kCtReply | kCtInvalid | kCtTracked,
       "new|est|rel|rpl|inv|trk"},
      {0x40 | kCtTracked, "trk|snat"},
  };
  for (const Case& c : cases) EXPECT_EQ(format_ct_state(c.flags), c.text) << int(c.flags);
}

TEST(CtState, BitsAreOvsBits) {
  // lib/packets.h: CS_NEW 1, CS_ESTABLISHED 2, CS_RELATED 4, CS_REPLY_DIR 8,
  // CS_INVALID 0x10, CS_TRACKED 0x20.
  EXPECT_EQ(kCtNew, 0x01);
  EXPECT_EQ(kCtEstablished, 0x02);
  EXPECT_EQ(kCtRelated, 0x04);
  EXPECT_EQ(kCtReply, 0x08);
  EXPECT_EQ(kCtInvalid, 0x10);
  EXPECT_EQ(kCtTracked, 0x20);
}

TEST(CtState, ReasonNamesAreDistinct) {
  std::set<std::string_view> names;
  for (std::size_t r = 0; r < kCtReasonCount; ++r) {
    const auto name = ct_reason_name(static_cast<CtReason>(r));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(ct_reason_name(CtReason::kCount), "unknown");
}

}  // namespace
}  // namespace fw
