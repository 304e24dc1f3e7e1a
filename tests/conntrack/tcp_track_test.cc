// The TCP tracker, table-driven: each case is a description, its source
// (Linux netfilter selftests, OVS's conntrack tests, pf's behaviour, an
// RFC), a sequence of segments with their direction and the result the
// tracker must give for each, and the connection's final timeout class.
// Segments are real frames built with the packet builder and parsed with
// fw::parse_frame, so options (window scale, SACK) reach the tracker the way
// they do in production.
#include "libfw/conntrack/tcp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/packet_builder.h"

namespace fw::conntrack {
namespace {

using test::PacketBuilder;
using test::TcpOptions;

constexpr std::uint8_t S = kTcpSyn, A = kTcpAck, F = kTcpFin, R = kTcpRst, P = kTcpPsh;
constexpr std::uint8_t SA = S | A, PA = P | A, FA = F | A, RA = R | A;
constexpr Dir O = Dir::kOriginal, Y = Dir::kReply;  // Y: the reply side
constexpr TrackResult kOk = TrackResult::kAccept, kBad = TrackResult::kInvalid,
                      kNew = TrackResult::kRestart;

struct Seg {
  Dir dir;
  std::uint8_t flags;
  std::uint32_t seq;
  std::uint32_t ack;
  std::uint16_t win = 65535;
  std::uint16_t len = 0;
  TrackResult expect = kOk;
  std::optional<std::uint8_t> wscale = {};  // window-scale option (SYNs)
  bool sack_permitted = false;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sack = {};
};

struct Case {
  std::string name;
  std::string source;
  std::vector<Seg> segs;  // segs[0] opens the connection (valid_new must hold)
  TimeoutClass final_class;
  bool established;
  TrackerConfig config = {};
};

test::Bytes frame_of(const Seg& s) {
  // Original: 10.0.0.1:40000 -> 10.0.0.2:80; reply the other way round.
  const bool orig = s.dir == Dir::kOriginal;
  TcpOptions opts;
  if (s.wscale) opts.window_scale(*s.wscale);
  if (s.sack_permitted) opts.sack_permitted();
  if (!s.sack.empty()) {
    // The builder takes an initializer_list; add the blocks one option at a
    // time would be several options, so build at most 3 blocks explicitly.
    switch (s.sack.size()) {
      case 1: opts.sack({s.sack[0]}); break;
      case 2: opts.sack({s.sack[0], s.sack[1]}); break;
      default: opts.sack({s.sack[0], s.sack[1], s.sack[2]}); break;
    }
  }
  PacketBuilder b;
  b.eth(orig ? "02:00:00:00:00:01" : "02:00:00:00:00:02", orig ? "02:00:00:00:00:02" : "02:00:00:00:00:01")
      .ipv4(orig ? "10.0.0.1" : "10.0.0.2", orig ? "10.0.0.2" : "10.0.0.1")
      .tcp(orig ? 40000 : 80, orig ? 80 : 40000, s.flags,
           {.seq = s.seq, .ack = s.ack, .window = s.win, .options = opts});
  if (s.len) b.payload(s.len, 0x5a);
  return b.build();
}

// Parses a segment; the frame must outlive the view, hence the out-param.
PacketView view_of(const Seg& s, test::Bytes& storage) {
  storage = frame_of(s);
  PacketView v;
  EXPECT_EQ(parse_frame(storage, v), ParseError::kOk);
  EXPECT_TRUE(v.has_l4);
  EXPECT_EQ(v.payload_length, s.len);
  return v;
}

// Plays a case the way the connection table does: valid_new + new_conn
// for the first segment, update for the others, and on kRestart a fresh
// new_conn from the same segment.
void play(const Case& c) {
  SCOPED_TRACE(c.name + " [" + c.source + "]");
  const L4Tracker& tcp = tcp_tracker();
  L4State state{};
  test::Bytes storage;
  ASSERT_FALSE(c.segs.empty());
  PacketView first = view_of(c.segs[0], storage);
  ASSERT_TRUE(tcp.valid_new(first, c.config));
  tcp.new_conn(state, first, c.config);
  for (std::size_t i = 1; i < c.segs.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    const Seg& s = c.segs[i];
    PacketView v = view_of(s, storage);
    const L4State before = state;
    const TrackResult r = tcp.update(state, s.dir, v, c.config);
    EXPECT_EQ(static_cast<int>(r), static_cast<int>(s.expect));
    if (r == TrackResult::kInvalid) {
      // The contract: an invalid packet leaves the entry unchanged.
      EXPECT_EQ(0, std::memcmp(before.bytes, state.bytes, sizeof state.bytes));
    }
    if (r == TrackResult::kRestart) {
      ASSERT_TRUE(tcp.valid_new(v, c.config));
      tcp.new_conn(state, v, c.config);
    }
  }
  EXPECT_EQ(static_cast<int>(tcp.timeout_class(state)), static_cast<int>(c.final_class));
  EXPECT_EQ(tcp.established(state), c.established);
}

// Client (original) ISN and server (reply) ISN used by most cases.
constexpr std::uint32_t C = 1000, V = 5000;

// A plain handshake without options, windows in bytes.
std::vector<Seg> handshake(std::uint16_t client_win = 65535, std::uint16_t server_win = 65535) {
  return {{O, S, C, 0, client_win}, {Y, SA, V, C + 1, server_win}, {O, A, C + 1, V + 1, client_win}};
}

std::vector<Seg> concat(std::vector<Seg> a, const std::vector<Seg>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<Case> cases() {
  std::vector<Case> out;

  out.push_back({"three-way handshake then data both ways", "OVS system-traffic 'conntrack - IPv4 HTTP' (a whole connection through ct); pf",
                 concat(handshake(), {{O, PA, C + 1, V + 1, 65535, 100}, {Y, A, V + 1, C + 101},
                                      {Y, PA, V + 1, C + 101, 65535, 1400}, {O, A, C + 101, V + 1401}}),
                 TimeoutClass::kTcpEstablished, true});

  out.push_back({"unanswered SYN stays syn-sent", "issue 4: unreplied SYN times out",
                 {{O, S, C, 0}}, TimeoutClass::kTcpSynSent, false});

  out.push_back({"SYN/ACK seen, final ACK not yet", "pf TCPS_SYN_SENT/ESTABLISHED",
                 {{O, S, C, 0}, {Y, SA, V, C + 1}}, TimeoutClass::kTcpSynRecv, false});

  out.push_back({"SYN retransmitted before the answer", "Linux sSS->sSS; OVS tcp_conn_update",
                 concat({{O, S, C, 0}, {O, S, C, 0}}, {{Y, SA, V, C + 1}, {O, A, C + 1, V + 1}}),
                 TimeoutClass::kTcpEstablished, true});

  out.push_back({"SYN re-attempt with a new ISN: only the new one is answered",
                 "Linux 're-init for syn packets'",
                 {{O, S, C, 0}, {O, S, C + 100000, 0}, {Y, SA, V, C + 1, 65535, 0, kBad},
                  {Y, SA, V, C + 100001}, {O, A, C + 100001, V + 1}},
                 TimeoutClass::kTcpEstablished, true});

  out.push_back({"SYN retransmitted after the SYN/ACK (which was lost downstream)",
                 "RFC 793 §3.4; pf",
                 {{O, S, C, 0}, {Y, SA, V, C + 1}, {O, S, C, 0}, {Y, SA, V, C + 1}, {O, A, C + 1, V + 1}},
                 TimeoutClass::kTcpEstablished, true});

  out.push_back({"simultaneous open", "RFC 793 figure 8; pf",
                 {{O, S, C, 0}, {Y, S, V, 0}, {O, SA, C, V + 1}, {Y, SA, V, C + 1}, {O, A, C + 1, V + 1}},
                 TimeoutClass::kTcpEstablished, true});

  // conntrack_syn_challenge_ack.pkt: the server answers the SYN with a
  // challenge ACK of an old incarnation; the client resets it and
  // retransmits its SYN, which starts a new connection.
  out.push_back({"challenge ACK on connect", "Linux selftest conntrack_syn_challenge_ack.pkt",
                 {{O, S, 0, 0, 65535, 0, kOk, 8},
                  {Y, A, 145824453, 643160523, 240},
                  {O, R, 643160523, 0, 0},
                  {O, S, 0, 0, 65535, 0, kNew, 8},
                  {Y, SA, 0, 1, 250, 0, kOk, 0},
                  {O, A, 1, 1, 256}},
                 TimeoutClass::kTcpEstablished, true});

  // conntrack_synack_old.pkt: a SYN/ACK of a previous incarnation (bad ack)
  // is invalid and must not poison the state; the correct one then passes.
  out.push_back({"old SYN/ACK, then the correct one", "Linux selftest conntrack_synack_old.pkt",
                 {{O, S, 0, 0, 65535, 0, kOk, 8},
                  {Y, SA, 145824453, 643160523, 240, 0, kBad, 0},
                  {O, S, 0, 0, 65535, 0, kOk, 8},
                  {Y, SA, 145758918, 1, 250, 0, kOk, 0},
                  {O, PA, 1, 145758919, 256, 1}},
                 TimeoutClass::kTcpEstablished, true});

  // conntrack_synack_reuse.pkt: a new SYN on an established entry passes
  // unchanged; the challenge ACK and the exact RST pass; the SYN
  // retransmit restarts the entry.
  out.push_back({"new SYN on an established entry", "Linux selftest conntrack_synack_reuse.pkt",
                 {{O, S, 0, 0, 32792, 0, kOk, 7},
                  {Y, SA, 0, 1, 65535, 0, kOk, 8},
                  {O, A, 1, 1, 257},
                  {O, PA, 1, 1, 257, 100},
                  {Y, A, 1, 101, 256},
                  {O, S, 2000, 0, 32792, 0, kOk, 7},
                  {Y, A, 1, 101, 256},
                  {O, RA, 101, 1, 257},
                  {O, S, 2000, 0, 32792, 0, kNew, 0},
                  {Y, SA, 9000, 2001, 65535}},
                 TimeoutClass::kTcpSynRecv, false});

  // conntrack_rst_invalid.pkt: three server data segments, then RSTs:
  // four invalid (two out of window, one in window but inexact, one a
  // byte short of the next sequence number) and the exact one closes.
  {
    auto segs = handshake();
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1000});
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1000});
    segs.push_back({Y, PA, V + 2001, C + 1, 65535, 1000});
    segs.push_back({O, A, C + 1, V + 3001});
    segs.push_back({Y, R, 0, 0, 0, 0, kBad});
    segs.push_back({Y, R, 1000000, 0, 0, 0, kBad});
    segs.push_back({Y, R, V + 42, 0, 0, 0, kBad});
    segs.push_back({O, PA, C + 1, V + 3001, 65535, 1000});
    segs.push_back({Y, A, V + 3001, C + 1001});
    segs.push_back({Y, RA, V + 3000, C + 1001, 0, 0, kBad});
    segs.push_back({Y, RA, V + 3001, C + 1001, 0});
    out.push_back({"out-of-window RSTs are invalid, the exact RST closes",
                   "Linux selftest conntrack_rst_invalid.pkt", segs, TimeoutClass::kTcpClosed, true});
  }

  // conntrack_inexact_rst.pkt: after the server's FIN the client resets;
  // a later spurious, inexact RST from the server is not invalid.
  {
    auto segs = handshake();
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 3000});
    segs.push_back({O, PA, C + 1, V + 3001, 65535, 1000});
    segs.push_back({Y, FA, V + 3001, C + 1001});
    segs.push_back({O, A, C + 1001, V + 3002});
    segs.push_back({O, RA, C + 1001, V + 3002, 65535});
    segs.push_back({Y, R, V + 2001, 0, 0});
    out.push_back({"inexact RST after FIN", "Linux selftest conntrack_inexact_rst.pkt", segs,
                   TimeoutClass::kTcpClosed, true});
  }
  {
    auto segs = handshake();
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 3000});
    segs.push_back({Y, FA, V + 3001, C + 1});
    segs.push_back({O, A, C + 1, V + 3002});
    segs.push_back({Y, R, V + 2001, 0, 0});  // in window, inexact, connection closing
    out.push_back({"inexact in-window RST once the connection is closing closes it",
                   "Linux selftest conntrack_inexact_rst.pkt (CLOSE_WAIT)", segs,
                   TimeoutClass::kTcpClosed, true});
  }
  {
    auto segs = handshake();
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 3000});
    segs.push_back({Y, FA, V + 3001, C + 1});
    segs.push_back({O, A, C + 1, V + 3002});
    segs.push_back({Y, R, V + 3001 - 70000, 0, 0, 0, kBad});  // behind the window
    out.push_back({"RST behind the window is invalid even when closing", "pf; RFC 5961 §3.2", segs,
                   TimeoutClass::kTcpFinWait, true});
  }

  out.push_back({"RST answering the SYN (port closed)", "RFC 793 p. 36 (RST to a SYN on a closed port)",
                 {{O, S, C, 0}, {Y, R, 0, C + 1, 0, 0, kBad}, {Y, RA, 0, C + 2, 0, 0, kBad},
                  {Y, RA, 0, C + 1, 0}},
                 TimeoutClass::kTcpClosed, false});

  // A SYN/ACK or RST acking 0 acknowledges nothing the client sent; a bare
  // ACK is taken as a challenge ACK and passes; the real answer follows.
  {
    constexpr std::uint32_t c = 3000000000u;
    out.push_back({"bad reply segments: seq 0 / ack 0", "OVS ofproto-dpif 'conntrack - disable tcp sequence checking' (seq 0 ack 0); pf ackskew; RFC 793 p. 66",
                   {{O, S, c, 0}, {Y, SA, 0, 0, 65535, 0, kBad}, {Y, RA, 0, 0, 0, 0, kBad},
                    {Y, A, 0, 0, 65535, 0, kOk}, {Y, SA, V, c + 1}, {O, A, c + 1, V + 1}},
                   TimeoutClass::kTcpEstablished, true});
  }

  // conntrack_ack_loss_stall.pkt: 46 segments of 1460 bytes, each acked;
  // then the first one again, 67160 bytes back (more than the 65535-byte
  // window): the receiver must see it to re-send its lost ACK.
  {
    std::vector<Seg> segs = {{O, S, 0, 0, 32792}, {Y, SA, 0, 1, 65535}, {O, A, 1, 1, 65535}};
    std::uint32_t seq = 1;
    for (int i = 0; i < 46; ++i) {
      segs.push_back({O, PA, seq, 1, 257, 1460});
      seq += 1460;
      segs.push_back({Y, A, 1, seq, 65535});
    }
    segs.push_back({O, PA, 1, 1, 257, 1460});                 // stale, passes
    segs.push_back({O, FA, 1, 1, 257, 1460, kBad});           // but not with a FIN
    out.push_back({"stale retransmit after a large ACK", "Linux selftest conntrack_ack_loss_stall.pkt",
                   segs, TimeoutClass::kTcpEstablished, true});
  }

  // Window edges, no scaling: the client advertises 1000 bytes.
  {
    std::vector<Seg> segs = {{O, S, C, 0, 1000}, {Y, SA, V, C + 1, 65535}, {O, A, C + 1, V + 1, 1000}};
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1000});         // ends exactly at the right edge
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1, kBad});   // one byte past it
    segs.push_back({O, A, C + 1, V + 1001, 1000});
    segs.push_back({Y, PA, V + 0, C + 1, 65535, 1002, kBad});   // starts one byte before the left edge
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1001});         // starts exactly on it
    segs.push_back({Y, PA, V + 2001, C + 1, 65535, 1, kBad});   // past the slid right edge
    out.push_back({"data in window / out of window, both edges", "van Rooij checks 1 and 2; pf", segs,
                   TimeoutClass::kTcpEstablished, true});
  }

  // ACK edges (pf MAXACKWINDOW = 65535 + 1500, shifted by the sender's scale).
  {
    auto segs = handshake();
    segs.push_back({Y, A, V + 1, C + 1 + 67035});
    segs.push_back({Y, A, V + 1, C + 1 + 67036, 65535, 0, kBad});
    segs.push_back({Y, A, V + 1, C + 1 - 67035});
    segs.push_back({Y, A, V + 1, C + 1 - 67036, 65535, 0, kBad});
    out.push_back({"ack skew: ahead and behind, both edges", "van Rooij checks 3 and 4; pf", segs,
                   TimeoutClass::kTcpEstablished, true});
  }

  // Sequence numbers wrapping at 2^32 inside a segment and a window.
  {
    constexpr std::uint32_t c = 0xfffffe00u, v = 0xffffff00u;
    std::vector<Seg> segs = {{O, S, c, 0, 4000}, {Y, SA, v, c + 1, 4000}, {O, A, c + 1, v + 1, 4000}};
    segs.push_back({O, PA, c + 1, v + 1, 4000, 1000});           // crosses 2^32
    segs.push_back({Y, PA, v + 1, c + 1001, 4000, 3000});        // crosses 2^32, to the edge
    segs.push_back({Y, PA, v + 3001, c + 1001, 4000, 1001, kBad});  // one byte past the edge
    segs.push_back({O, A, c + 1001, v + 3001, 4000});
    segs.push_back({Y, PA, v + 3001, c + 1001, 4000, 4000});     // the slid window, wholly past 0
    segs.push_back({O, A, c + 1001, v + 7001, 4000});
    out.push_back({"sequence wraparound at 2^32", "RFC 793 §3.3 modular arithmetic; pf SEQ_* macros",
                   segs, TimeoutClass::kTcpEstablished, true});
  }

  // Window scaling on: client shift 10 and window field 100 = 102400 bytes.
  {
    std::vector<Seg> segs = {{O, S, C, 0, 65535, 0, kOk, 10},
                             {Y, SA, V, C + 1, 65535, 0, kOk, 7},
                             {O, A, C + 1, V + 1, 100}};
    segs.push_back({Y, PA, V + 1, C + 1, 512, 50000});
    segs.push_back({Y, PA, V + 50001, C + 1, 512, 50000});
    segs.push_back({Y, PA, V + 100001, C + 1, 512, 2400});        // to 102400: the edge
    segs.push_back({Y, PA, V + 102401, C + 1, 512, 1, kBad});     // one past
    out.push_back({"window scaling on (both SYNs carry the option)", "RFC 7323 §2.2; pf wscale", segs,
                   TimeoutClass::kTcpEstablished, true});
  }
  // One-sided: only the client's SYN has the option, so window fields are
  // bytes: 1024 means 1024, not 1 MiB. The right edge is the largest ever
  // advertised (pf never shrinks it): the SYN's 8192 bytes.
  {
    std::vector<Seg> segs = {{O, S, C, 0, 8192, 0, kOk, 10},
                             {Y, SA, V, C + 1, 65535},
                             {O, A, C + 1, V + 1, 1024}};
    segs.push_back({Y, PA, V + 1, C + 1, 512, 8192});
    segs.push_back({Y, PA, V + 8193, C + 1, 512, 1, kBad});
    out.push_back({"window scaling one-sided (client only): off", "RFC 7323 §2.2; pf 'fixup other window'",
                   segs, TimeoutClass::kTcpEstablished, true});
  }
  {
    std::vector<Seg> segs = {{O, S, C, 0, 65535},
                             {Y, SA, V, C + 1, 2048, 0, kOk, 10},
                             {O, A, C + 1, V + 1, 65535}};
    segs.push_back({Y, A, V + 1, C + 1, 2048});
    segs.push_back({O, PA, C + 1, V + 1, 65535, 2048});
    segs.push_back({O, PA, C + 2049, V + 1, 65535, 1, kBad});
    out.push_back({"window scaling one-sided (server only): off", "RFC 7323 §2.2; pf", segs,
                   TimeoutClass::kTcpEstablished, true});
  }
  {
    std::vector<Seg> segs = {{O, S, C, 0, 1000}, {Y, SA, V, C + 1, 65535}, {O, A, C + 1, V + 1, 1000}};
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1000});
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1, kBad});
    out.push_back({"window scaling off (neither SYN)", "RFC 793", segs, TimeoutClass::kTcpEstablished, true});
  }

  // SACK: a duplicate ACK whose blocks report later data, then the hole
  // is retransmitted. Like pf, the blocks are not validated (a block past
  // anything sent passes too; only the ack field is checked).
  {
    std::vector<Seg> segs = {{O, S, C, 0, 65535, 0, kOk, {}, true},
                             {Y, SA, V, C + 1, 65535, 0, kOk, {}, true},
                             {O, A, C + 1, V + 1}};
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1000});
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1000});   // lost downstream
    segs.push_back({Y, PA, V + 2001, C + 1, 65535, 1000});
    Seg dup{O, A, C + 1, V + 1001};
    dup.sack = {{V + 2001, V + 3001}};
    segs.push_back(dup);
    Seg wild{O, A, C + 1, V + 1001};
    wild.sack = {{V + 900000, V + 901000}};
    segs.push_back(wild);
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1000});   // retransmitted hole
    segs.push_back({O, A, C + 1, V + 3001});
    out.push_back({"SACK recovery", "RFC 2018; pf (SACK blocks not validated)", segs,
                   TimeoutClass::kTcpEstablished, true});
  }

  out.push_back({"FIN from the client, then from the server", "RFC 793 figure 13",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, A, V + 1, C + 2}, {Y, FA, V + 1, C + 2},
                                      {O, A, C + 2, V + 2}}),
                 TimeoutClass::kTcpTimeWait, true});
  out.push_back({"FIN from the server first", "RFC 793 figure 13",
                 concat(handshake(), {{Y, FA, V + 1, C + 1}, {O, A, C + 1, V + 2}, {O, FA, C + 1, V + 2},
                                      {Y, A, V + 2, C + 2}}),
                 TimeoutClass::kTcpTimeWait, true});
  out.push_back({"half close: client FIN acknowledged, server still sending", "RFC 793 §3.5",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, A, V + 1, C + 2},
                                      {Y, PA, V + 1, C + 2, 65535, 500}, {O, A, C + 2, V + 501}}),
                 TimeoutClass::kTcpFinWait, true});
  out.push_back({"both FINs cross, acks outstanding", "RFC 793 figure 14",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, FA, V + 1, C + 1}}),
                 TimeoutClass::kTcpClosing, true});
  out.push_back({"both FINs cross, then both acknowledged", "RFC 793 figure 14",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, FA, V + 1, C + 1}, {O, A, C + 2, V + 2},
                                      {Y, A, V + 2, C + 2}}),
                 TimeoutClass::kTcpTimeWait, true});
  out.push_back({"an ACK that does not cover the FIN does not finish it", "Linux (ack == td_end of FIN)",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, A, V + 1, C + 1}, {Y, FA, V + 1, C + 1},
                                      {O, A, C + 2, V + 2}}),
                 TimeoutClass::kTcpClosing, true});

  out.push_back({"port reuse after TIME_WAIT: two connections", "OVS ofproto-dpif 'conntrack - tcp port reuse' (replayed in tcp_ovs_capture_test.cc); pf",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, FA, V + 1, C + 2}, {O, A, C + 2, V + 2},
                                      {Y, S, 70000, 0, 65535, 0, kBad},  // reversed tuple
                                      {O, S, 90000, 0, 65535, 0, kNew},
                                      {Y, SA, 80000, 90001}, {O, A, 90001, 80001}}),
                 TimeoutClass::kTcpEstablished, true});
  out.push_back({"port reuse after RST", "pf (RST -> closed); Linux sCL + SYN -> sSS",
                 concat(handshake(), {{O, RA, C + 1, V + 1}, {Y, A, V + 1, C + 1}, {O, S, 90000, 0, 65535, 0, kNew}}),
                 TimeoutClass::kTcpSynSent, false});
  out.push_back({"a SYN on a half-closed connection is not a restart", "pf (both sides >= FIN_WAIT_2)",
                 concat(handshake(), {{O, FA, C + 1, V + 1}, {Y, A, V + 1, C + 2}, {O, S, 90000, 0}}),
                 TimeoutClass::kTcpFinWait, true});

  // Zero window: the receiver advertises 0; a one-byte probe fits, more
  // does not, until the window opens.
  {
    auto segs = handshake(1000, 65535);
    segs.push_back({Y, PA, V + 1, C + 1, 65535, 1000});          // fills the 1000-byte window
    segs.push_back({O, A, C + 1, V + 1001, 0});
    segs.push_back({Y, A, V + 1001, C + 1, 65535, 1});           // zero-window probe
    segs.push_back({Y, PA, V + 1002, C + 1, 65535, 2, kBad});    // data into the closed window
    segs.push_back({O, A, C + 1, V + 1001, 0});                  // probe refused, still 0
    segs.push_back({O, A, C + 1, V + 1001, 1000});               // window opens
    segs.push_back({Y, PA, V + 1001, C + 1, 65535, 1000});
    out.push_back({"zero-window probes", "RFC 1122 §4.2.2.17; pf seqhi = ack + max(win, 1)", segs,
                   TimeoutClass::kTcpEstablished, true});
  }

  // Keepalives: seq one below the next, with zero or one garbage byte.
  out.push_back({"keepalives from both sides", "RFC 1122 §4.2.3.6",
                 concat(handshake(), {{O, A, C, V + 1}, {Y, A, V + 1, C + 1}, {O, A, C, V + 1, 65535, 1},
                                      {Y, A, V, C + 1}, {Y, A, V, C + 1, 65535, 1}, {O, A, C + 1, V + 1}}),
                 TimeoutClass::kTcpEstablished, true});

  // Mid-stream pickup (loose): window scales are unknown, so both are
  // assumed at 14 (OVS CT_WSCALE_UNKNOWN); a 60000-byte segment fits a
  // window field of 100.
  {
    TrackerConfig loose{.tcp_strict = false};
    std::vector<Seg> segs = {{O, PA, C, V, 100, 1000}, {Y, A, V, C + 1000, 100},
                             {Y, PA, V, C + 1000, 100, 60000}, {O, A, C + 1000, V + 60000, 100},
                             {O, PA, C + 1000, V + 60000, 100, 60000}};
    out.push_back({"mid-stream pickup with window scaling (loose)", "OVS ofproto-dpif 'conntrack - tcp pick up'; conntrack-tcp.c CT_WSCALE_UNKNOWN",
                   segs, TimeoutClass::kTcpEstablished, true, loose});
    out.push_back({"picked-up stream, reply not seen yet", "OVS CT_TM_TCP_FIRST_PACKET for pickups",
                   {{O, PA, C, V, 100, 1000}}, TimeoutClass::kTcpSynSent, false, loose});
  }

  // Liberal: no sequence checks, state still tracked, flags still checked.
  {
    TrackerConfig liberal{.tcp_liberal = true};
    auto segs = handshake(1000, 1000);
    segs.push_back({Y, PA, V + 500000, C + 1, 1000, 5000});
    segs.push_back({Y, 0, V + 1, C + 1, 1000, 0, kBad});
    segs.push_back({O, FA, C + 1, V + 1});
    out.push_back({"liberal: out-of-window data passes, bad flags do not", "OVS ofproto-dpif 'conntrack - disable tcp sequence checking'; Linux be_liberal",
                   segs, TimeoutClass::kTcpFinWait, true, liberal});
  }
  return out;
}

TEST(TcpTrack, Cases) {
  for (const Case& c : cases()) play(c);
}

// The same pickup is refused in strict mode, and neither a SYN/ACK nor an
// RST ever opens a connection.
TEST(TcpTrack, ValidNew) {
  const L4Tracker& tcp = tcp_tracker();
  const TrackerConfig strict{}, loose{.tcp_strict = false};
  struct { std::uint8_t flags; bool strict_ok; bool loose_ok; } table[] = {
      {S, true, true},     {S | kTcpEce | kTcpCwr, true, true},  // ECN setup SYN
      {SA, false, false},  {R, false, false}, {RA, false, false},
      {A, false, true},    {PA, false, true}, {FA, false, true},
      {S | F, false, false}, {0, false, false},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(static_cast<int>(row.flags));
    test::Bytes storage;
    PacketView v = view_of({O, row.flags, C, (row.flags & A) ? V : 0u}, storage);
    EXPECT_EQ(tcp.valid_new(v, strict), row.strict_ok);
    EXPECT_EQ(tcp.valid_new(v, loose), row.loose_ok);
  }
}

// All 64 combinations of FIN SYN RST PSH ACK URG, listed independently of
// the implementation: the 18 that are valid (RFC 793 segments a stack
// sends; Linux's tcp_valid_flags without the SYN|URG and RST|PSH forms that
// OVS and pf refuse).
TEST(TcpTrack, AllFlagCombinations) {
  const std::uint8_t U = kTcpUrg;
  const std::vector<std::uint8_t> valid = {
      S, SA, SA | P, SA | U, SA | P | U,
      R, RA, RA | P, RA | U, RA | P | U,
      A, A | P, A | U, A | P | U, FA, FA | P, FA | U, FA | P | U,
  };
  int valid_count = 0;
  for (int f = 0; f < 64; ++f) {
    const auto flags = static_cast<std::uint8_t>(f);
    const bool expect = std::find(valid.begin(), valid.end(), flags) != valid.end();
    valid_count += expect;
    SCOPED_TRACE(f);
    EXPECT_EQ(tcp_flags_valid(flags), expect);
    EXPECT_EQ(tcp_flags_valid(flags | kTcpEce | kTcpCwr), expect);  // never matter
    // On an established connection, every invalid combination is refused
    // with the state unchanged, whatever its sequence numbers.
    if (!expect) {
      const L4Tracker& tcp = tcp_tracker();
      L4State state{};
      test::Bytes storage;
      auto hs = handshake();
      tcp.new_conn(state, view_of(hs[0], storage), {});
      ASSERT_EQ(tcp.update(state, Y, view_of(hs[1], storage), {}), kOk);
      ASSERT_EQ(tcp.update(state, O, view_of(hs[2], storage), {}), kOk);
      const L4State before = state;
      EXPECT_EQ(tcp.update(state, O, view_of({O, flags, C + 1, V + 1}, storage), {}), kBad);
      EXPECT_EQ(tcp.update(state, O, view_of({O, flags, C + 1, V + 1}, storage), {.tcp_liberal = true}), kBad);
      EXPECT_EQ(0, std::memcmp(before.bytes, state.bytes, sizeof state.bytes));
    }
  }
  EXPECT_EQ(valid_count, 18);
}

// What the state records, through tcp_view: the stale retransmit changes
// nothing; window scaling is recorded per side; the handshake latch.
TEST(TcpTrack, ViewOfState) {
  const L4Tracker& tcp = tcp_tracker();
  L4State state{};
  test::Bytes storage;
  tcp.new_conn(state, view_of({O, S, C, 0, 65535, 0, kOk, 7}, storage), {});
  TcpConnectionView v = tcp_view(state);
  EXPECT_EQ(v.peer[0].state, TcpPeerState::kSynSent);
  EXPECT_EQ(v.peer[1].state, TcpPeerState::kClosed);
  EXPECT_TRUE(v.peer[0].window_scale_option);
  EXPECT_EQ(v.peer[0].seqlo, C + 1);
  ASSERT_EQ(tcp.update(state, Y, view_of({Y, SA, V, C + 1, 65535, 0, kOk, 9}, storage), {}), kOk);
  ASSERT_EQ(tcp.update(state, O, view_of({O, A, C + 1, V + 1, 500}, storage), {}), kOk);
  v = tcp_view(state);
  EXPECT_TRUE(v.handshake_completed);
  EXPECT_EQ(v.peer[0].state, TcpPeerState::kEstablished);
  EXPECT_EQ(v.peer[1].state, TcpPeerState::kEstablished);
  EXPECT_EQ(v.peer[0].window_scale, 7);
  EXPECT_EQ(v.peer[1].window_scale, 9);
  // What the server may send: up to the client's largest window (its SYN's
  // 65535 bytes, kept as 512 units of 128) past the last ack.
  EXPECT_EQ(v.peer[1].seqhi, V + 1 + (512u << 7));
  EXPECT_EQ(v.peer[0].max_window, 512u << 7);       // its SYN's 65535 bytes, in units of 128
  EXPECT_EQ(tcp_peer_state_name(v.peer[0].state), "established");

  // 100 segments of 1400 bytes from the server, each acked.
  std::uint32_t seq = V + 1;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(tcp.update(state, Y, view_of({Y, PA, seq, C + 1, 500, 1400}, storage), {}), kOk);
    seq += 1400;
    ASSERT_EQ(tcp.update(state, O, view_of({O, A, C + 1, seq, 500}, storage), {}), kOk);
  }
  const L4State before = state;
  // The first segment again, 140000 bytes back (> the 512 << 7 window).
  EXPECT_EQ(tcp.update(state, Y, view_of({Y, PA, V + 1, C + 1, 60000, 1400}, storage), {}), kOk);
  EXPECT_EQ(0, std::memcmp(before.bytes, state.bytes, sizeof state.bytes)) << "stale segment changed state";
}

// A reply-direction challenge ACK is remembered, and only the RST carrying
// its ack value resets the attempt; another RST is judged normally.
TEST(TcpTrack, ChallengeAckRemembered) {
  const L4Tracker& tcp = tcp_tracker();
  L4State state{};
  test::Bytes storage;
  tcp.new_conn(state, view_of({O, S, C, 0}, storage), {});
  ASSERT_EQ(tcp.update(state, Y, view_of({Y, A, 777, 424242}, storage), {}), kOk);
  EXPECT_TRUE(tcp_view(state).challenge_ack_pending);
  EXPECT_EQ(tcp.update(state, O, view_of({O, R, 424243, 0, 0}, storage), {}), kBad);
  EXPECT_EQ(tcp.timeout_class(state), TimeoutClass::kTcpSynSent);
  EXPECT_EQ(tcp.update(state, O, view_of({O, R, 424242, 0, 0}, storage), {}), kOk);
  EXPECT_EQ(tcp.timeout_class(state), TimeoutClass::kTcpClosed);
  EXPECT_FALSE(tcp.established(state));
}

TEST(TcpTrack, NotTcpIsInvalid) {
  const L4Tracker& tcp = tcp_tracker();
  test::Bytes udp = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
  PacketView v;
  ASSERT_EQ(parse_frame(udp, v), ParseError::kOk);
  EXPECT_FALSE(tcp.valid_new(v, {}));
  L4State state{};
  EXPECT_EQ(tcp.update(state, O, v, {}), kBad);
}

}  // namespace
}  // namespace fw::conntrack
