// Helpers shared by the connection-table tests: frames built with the test
// packet builder, parsed, and pushed through a ConnTable one burst at a time.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "fw/conntrack.h"
#include "support/packet_builder.h"

namespace fw::test {

inline constexpr std::uint64_t kSecond = 1'000'000'000ULL;

inline PacketBuilder v4(std::string_view src, std::string_view dst, Ipv4Fields fields = {}) {
  PacketBuilder b;
  b.eth().ipv4(src, dst, fields);
  return b;
}
inline PacketBuilder v6(std::string_view src, std::string_view dst) {
  PacketBuilder b;
  b.eth().ipv6(src, dst);
  return b;
}
inline Bytes udp4(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport) {
  return v4(src, dst).udp(sport, dport).payload(16).build();
}
inline Bytes udp6(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport) {
  return v6(src, dst).udp(sport, dport).payload(16).build();
}

// Owns frames and their parsed views (a view points into its frame).
class Frames {
 public:
  const PacketView& add(Bytes bytes) {
    frames_.push_back(std::move(bytes));
    views_.emplace_back();
    const ParseError e = parse_frame(frames_.back(), views_.back());
    EXPECT_EQ(e, ParseError::kOk) << parse_error_name(e);
    return views_.back();
  }
  std::vector<PacketView> views() const { return {views_.begin(), views_.end()}; }

 private:
  std::deque<Bytes> frames_;
  std::deque<PacketView> views_;
};

// One packet through the table the way the DFW slot will drive it: lookup,
// and if it may open a connection and `admit` is set, create it.
struct Stepper {
  ConnTable& table;
  std::uint16_t zone = 1;
  Frames frames;

  CtResult step(Bytes bytes, std::uint64_t now_ns, bool admit = true,
                CtAdmission admission = {.rule_id = 7, .generation = 1}) {
    const PacketView& v = frames.add(std::move(bytes));
    CtResult r;
    table.lookup(zone, std::span(&v, 1), now_ns, std::span(&r, 1));
    if (r.outcome == CtOutcome::kNew && admit) table.create(zone, v, admission, now_ns, r);
    return r;
  }
  std::string flags(Bytes bytes, std::uint64_t now_ns, bool admit = true) {
    return format_ct_state(step(std::move(bytes), now_ns, admit).ct_state);
  }
};

inline std::unique_ptr<ConnTable> make_table(ConnTableOptions o = {}) {
  if (o.capacity == 65536) o.capacity = 1024;  // small unless the test says otherwise
  auto t = ConnTable::create(o);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : nullptr;
}

}  // namespace fw::test
