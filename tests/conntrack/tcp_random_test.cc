// Random segment sequences against the TCP tracker's contract: whatever
// arrives, an invalid segment leaves the state unchanged, a restart happens
// only for a SYN from the original side on a closed connection, peer states
// never move backwards, and the timeout class is always a TCP one. Runs
// under ASan/UBSan with the rest of the suite. Deterministic (fixed seeds).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "libfw/conntrack/tcp.h"

namespace fw::conntrack {
namespace {

PacketView segment(std::mt19937& rng, std::uint32_t near_seq, std::uint32_t near_ack) {
  PacketView v;
  v.protocol = kIpProtoTcp;
  v.has_l4 = true;
  // Mostly plausible flags, sometimes any byte at all.
  static constexpr std::uint8_t kCommon[] = {kTcpAck, kTcpAck | kTcpPsh, kTcpFin | kTcpAck, kTcpRst,
                                             kTcpRst | kTcpAck, kTcpSyn, kTcpSyn | kTcpAck};
  v.tcp.flags = (rng() % 4 == 0) ? static_cast<std::uint8_t>(rng()) : kCommon[rng() % std::size(kCommon)];
  // Sequence numbers near what the connection uses, or anywhere.
  const auto around = [&](std::uint32_t base) {
    switch (rng() % 4) {
      case 0: return static_cast<std::uint32_t>(rng());
      case 1: return base + static_cast<std::uint32_t>(rng() % 200000) - 100000u;
      default: return base + static_cast<std::uint32_t>(rng() % 3000) - 1000u;
    }
  };
  v.tcp.seq = around(near_seq);
  v.tcp.ack = around(near_ack);
  v.tcp.window = static_cast<std::uint16_t>(rng());
  v.tcp.has_window_scale = rng() % 2;
  v.tcp.window_scale = static_cast<std::uint8_t>(rng() % 16);
  v.payload_length = static_cast<std::uint16_t>(rng() % 3 == 0 ? 0 : rng() % 3000);
  return v;
}

TEST(TcpTrackRandom, ContractHoldsForArbitrarySegments) {
  const L4Tracker& tcp = tcp_tracker();
  int accepted = 0, invalid = 0, restarted = 0;
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const TrackerConfig config{.tcp_strict = seed % 3 != 0, .tcp_liberal = seed % 5 == 0};
    PacketView first = segment(rng, 1000, 0);
    if (seed % 2) first.tcp.flags = kTcpSyn;
    if (!tcp.valid_new(first, config)) continue;
    L4State state{};
    tcp.new_conn(state, first, config);
    for (int i = 0; i < 500; ++i) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " segment " << i);
      const Dir dir = rng() % 2 ? Dir::kOriginal : Dir::kReply;
      const TcpConnectionView before_view = tcp_view(state);
      const TcpPeerView& sender = before_view.peer[static_cast<int>(dir)];
      const TcpPeerView& receiver = before_view.peer[1 - static_cast<int>(dir)];
      const PacketView v = segment(rng, sender.seqlo, receiver.seqlo);
      const L4State before = state;
      const TrackResult r = tcp.update(state, dir, v, config);
      if (r == TrackResult::kInvalid) {
        ++invalid;
        ASSERT_EQ(0, std::memcmp(before.bytes, state.bytes, sizeof state.bytes));
      } else if (r == TrackResult::kRestart) {
        ++restarted;
        ASSERT_EQ(dir, Dir::kOriginal);
        ASSERT_EQ(v.tcp.flags & (kTcpSyn | kTcpAck), kTcpSyn);
        ASSERT_GE(before_view.peer[0].state, TcpPeerState::kFinWait2);
        ASSERT_GE(before_view.peer[1].state, TcpPeerState::kFinWait2);
        ASSERT_TRUE(tcp.valid_new(v, config));
        tcp.new_conn(state, v, config);
      } else {
        ++accepted;
        ASSERT_EQ(r, TrackResult::kAccept);
        ASSERT_TRUE(tcp_flags_valid(v.tcp.flags));
        const TcpConnectionView after = tcp_view(state);
        // A SYN re-attempt before any answer re-initialises the entry;
        // otherwise states only move forward.
        const bool reinit = dir == Dir::kOriginal && (v.tcp.flags & (kTcpSyn | kTcpAck)) == kTcpSyn &&
                            before_view.peer[1].state == TcpPeerState::kClosed;
        if (!reinit) {
          for (int p = 0; p < 2; ++p) ASSERT_GE(after.peer[p].state, before_view.peer[p].state);
          ASSERT_GE(after.handshake_completed, before_view.handshake_completed);
        }
      }
      const TimeoutClass c = tcp.timeout_class(state);
      ASSERT_LE(static_cast<int>(c), static_cast<int>(TimeoutClass::kTcpClosed));
      for (const TcpPeerView& p : tcp_view(state).peer) ASSERT_LE(p.state, TcpPeerState::kReset);
    }
  }
  // The generator must exercise all three outcomes, or it tests little.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(invalid, 1000);
  EXPECT_GT(restarted, 0);
}

}  // namespace
}  // namespace fw::conntrack
