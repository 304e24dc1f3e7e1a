// The TCP tracker (see tcp.h and docs/tcp-tracking.md).
//
// The core is pf's pf_tcp_track_full (van Rooij's four window checks on a
// per-side seqlo / seqhi / max_win / wscale), with these deliberate changes,
// each one a case from the Linux netfilter packetdrill selftests or a pf
// quirk that hurts a vSwitch firewall:
//   - an invalid packet leaves the state untouched (pf initialises the
//     receiving side from the first packet even when it then drops it, so a
//     bogus SYN/ACK poisons the later correct one: conntrack_synack_old);
//   - a SYN on a live connection passes without changing it, so the peer's
//     RFC 5961 challenge ACK and the exact RST that follows work
//     (conntrack_synack_reuse), and a challenge ACK answering a SYN is let
//     through and remembered (conntrack_syn_challenge_ack);
//   - an RST must carry the exact next sequence number, or be in window once
//     the connection is closing (conntrack_rst_invalid, conntrack_inexact_rst);
//   - already-acknowledged data retransmitted from more than a window back
//     passes without changing state (conntrack_ack_loss_stall);
//   - an ACK moves the other side to ESTABLISHED / FIN_WAIT_2 only when it
//     covers that side's SYN / FIN.
#include "libfw/conntrack/tcp.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace fw::conntrack {
namespace {

// --- the 24-byte state ----------------------------------------------------
//
// Two peers of 12 bytes, indexed by Dir (0 original, 1 reply):
//   offset 0 / 12  seqlo    u32  end of the highest segment this side sent
//   offset 4 / 16  seqhi    u32  highest sequence the other side allows
//                                (its ack + its scaled window)
//   offset 8 / 20  max_win  u16  largest window this side advertised, in its
//                                own scaled units (bytes = max_win << shift)
//   offset 10 / 22 wscale   u8   bits 0-3 shift, bit 6 kWscaleUnknown
//                                (picked up mid-stream), bit 7 kWscaleOption
//                                (this side's SYN carried the option)
//   offset 11 / 23 state    u8   bits 0-3 TcpPeerState; bits 4-7 of the
//                                original peer's byte: connection flags
struct Peer {
  std::uint32_t seqlo;
  std::uint32_t seqhi;
  std::uint16_t max_win;
  std::uint8_t wscale;
  std::uint8_t state;
};
struct TcpState {
  Peer peer[2];
};
static_assert(sizeof(Peer) == 12);
static_assert(sizeof(TcpState) == kL4StateBytes, "TCP state must fill the L4State exactly");
static_assert(alignof(TcpState) <= alignof(L4State));
static_assert(std::is_trivially_copyable_v<TcpState>);

constexpr std::uint8_t kWscaleShiftMask = 0x0f;
constexpr std::uint8_t kWscaleUnknown = 0x40;
constexpr std::uint8_t kWscaleOption = 0x80;
// RFC 7323 §2.3: a shift above 14 is treated as 14.
constexpr std::uint8_t kMaxWindowShift = 14;

// Connection flags, in the high nibble of peer[0].state.
constexpr std::uint8_t kFlagHandshakeCompleted = 0x10;
// The reply side answered the original SYN with a bare ACK (a challenge ACK
// or an old duplicate, RFC 5961 §4 / RFC 793 p. 69); its ack value is kept
// in peer[1].seqlo, unused until the reply side's first tracked packet.
constexpr std::uint8_t kFlagChallengeAck = 0x20;
constexpr std::uint8_t kStateMask = 0x0f;

// pf: how far an ACK may point past what the other side has sent, and
// (shifted by the window scale) how far behind it. 1500 is pf's fudge for
// a reassembled fragment.
constexpr std::uint32_t kMaxAckWindow = 0xffff + 1500;

// Sequence-number comparisons modulo 2^32.
constexpr bool seq_lt(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }
constexpr bool seq_leq(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) <= 0; }
constexpr bool seq_gt(std::uint32_t a, std::uint32_t b) { return seq_lt(b, a); }
constexpr bool seq_geq(std::uint32_t a, std::uint32_t b) { return seq_leq(b, a); }

TcpState load(const L4State& s) noexcept {
  TcpState t;
  std::memcpy(&t, s.bytes, sizeof t);
  return t;
}
void store(L4State& s, const TcpState& t) noexcept { std::memcpy(s.bytes, &t, sizeof t); }

TcpPeerState state_of(const Peer& p) noexcept { return static_cast<TcpPeerState>(p.state & kStateMask); }
void set_state(Peer& p, TcpPeerState s) noexcept {
  p.state = static_cast<std::uint8_t>((p.state & ~kStateMask) | static_cast<std::uint8_t>(s));
}

std::uint8_t wscale_option(const TcpInfo& tcp) noexcept {
  if (!tcp.has_window_scale) return 0;
  return static_cast<std::uint8_t>(kWscaleOption | std::min(tcp.window_scale, kMaxWindowShift));
}

// Sequence space the segment occupies: [seq, end), SYN and FIN count one.
// data_end leaves the FIN out (a FIN may sit just past a zero window).
struct Extent {
  std::uint32_t end;
  std::uint32_t data_end;
};
Extent extent_of(const PacketView& p) noexcept {
  std::uint32_t end = p.tcp.seq + p.payload_length + ((p.tcp.flags & kTcpSyn) ? 1u : 0u);
  const std::uint32_t data_end = end;
  if (p.tcp.flags & kTcpFin) ++end;
  return {end, data_end};
}

void init_conn(TcpState& t, const PacketView& p) noexcept {
  t = {};
  Peer& src = t.peer[0];
  Peer& dst = t.peer[1];
  const TcpInfo& tcp = p.tcp;
  const Extent ext = extent_of(p);
  // pf keeps seqlo = seq here; the end makes "the ACK covers the SYN" a
  // plain comparison with seqlo later.
  src.seqlo = ext.end;
  src.seqhi = ext.end + 1;
  std::uint32_t win = std::max<std::uint32_t>(tcp.window, 1);
  if (tcp.flags & kTcpSyn) {
    src.wscale = wscale_option(tcp);
    // A SYN's window is never scaled; keep max_win in scaled units.
    const std::uint8_t shift = src.wscale & kWscaleShiftMask;
    win = (win + (1u << shift) - 1) >> shift;
    set_state(src, TcpPeerState::kSynSent);
  } else {
    // Picked up mid-stream: the shifts were in SYNs we never saw; assume
    // the largest (as OVS does) so windows are not under-estimated.
    src.wscale = kWscaleUnknown;
    dst.wscale = kWscaleUnknown;
    set_state(src, TcpPeerState::kEstablished);
  }
  src.max_win = static_cast<std::uint16_t>(std::max<std::uint32_t>(win, 1));
  // seqhi == 1 marks "not set yet" for the reply side's first packet (pf).
  dst.seqhi = 1;
  dst.max_win = 1;
}

bool tcp_valid_new(const PacketView& p, const TrackerConfig& config) {
  if (!p.has_l4 || p.protocol != kIpProtoTcp) return false;
  const std::uint8_t flags = p.tcp.flags;
  if (!tcp_flags_valid(flags)) return false;
  if ((flags & (kTcpSyn | kTcpAck)) == kTcpSyn) return true;
  if (config.tcp_strict) return false;
  // Loose pickup: never from a SYN/ACK (a half-open handshake is not an
  // established stream) nor from an RST.
  return (flags & (kTcpSyn | kTcpRst)) == 0;
}

void tcp_new_conn(L4State& state, const PacketView& p, const TrackerConfig&) {
  TcpState t;
  init_conn(t, p);
  store(state, t);
}

TrackResult tcp_update(L4State& state, Dir dir, const PacketView& p, const TrackerConfig& config) {
  if (!p.has_l4 || p.protocol != kIpProtoTcp) return TrackResult::kInvalid;
  const TcpInfo& tcp = p.tcp;
  const std::uint8_t flags = tcp.flags;
  if (!tcp_flags_valid(flags)) return TrackResult::kInvalid;
  const bool syn = flags & kTcpSyn, ack_flag = flags & kTcpAck, rst = flags & kTcpRst,
             fin = flags & kTcpFin;

  // Work on a copy: an invalid packet must leave the entry as it was.
  TcpState t = load(state);
  const int s = static_cast<int>(dir);
  Peer& src = t.peer[s];
  Peer& dst = t.peer[1 - s];
  std::uint8_t& conn_flags = t.peer[0].state;
  const TcpPeerState src_state = state_of(src);
  const TcpPeerState dst_state = state_of(dst);

  if (syn && !ack_flag) {
    if (src_state >= TcpPeerState::kFinWait2 && dst_state >= TcpPeerState::kFinWait2) {
      // Port reuse: a new connection from the same side. From the other
      // side the tuple is reversed, which this entry cannot become.
      return dir == Dir::kOriginal ? TrackResult::kRestart : TrackResult::kInvalid;
    }
    if (dir == Dir::kOriginal && src_state == TcpPeerState::kSynSent &&
        dst_state == TcpPeerState::kClosed) {
      // No answer yet: a retransmitted SYN, or a new attempt with another
      // ISN or options. Start over from it.
      init_conn(t, p);
      store(state, t);
      return TrackResult::kAccept;
    }
    if (src_state >= TcpPeerState::kEstablished) {
      // A SYN on a live connection (the sender lost its state). Pass it
      // unchanged: an RFC 5961 peer answers with a challenge ACK, the
      // sender then resets with the exact sequence number, and its next
      // SYN restarts the entry.
      return TrackResult::kAccept;
    }
  }

  if (dir == Dir::kReply && src_state == TcpPeerState::kClosed &&
      dst_state == TcpPeerState::kSynSent && ack_flag && !syn && !rst && !fin) {
    // A bare ACK answering a SYN: the peer still holds an older
    // incarnation and sends a challenge ACK. Let it through so the
    // client can reset that incarnation; remember the ack, which is the
    // sequence number of the client's RST.
    src.seqlo = tcp.ack;
    conn_flags |= kFlagChallengeAck;
    store(state, t);
    return TrackResult::kAccept;
  }
  if (dir == Dir::kOriginal && rst && (conn_flags & kFlagChallengeAck) &&
      dst_state == TcpPeerState::kClosed && tcp.seq == dst.seqlo) {
    // The client resets the incarnation the challenge ACK spoke for.
    set_state(src, TcpPeerState::kReset);
    set_state(dst, TcpPeerState::kReset);
    conn_flags &= static_cast<std::uint8_t>(~kFlagChallengeAck);
    store(state, t);
    return TrackResult::kAccept;
  }

  // RFC 793 p. 66-67: an RST as the first packet of a side (an answer to
  // the SYN) is acceptable only if it acknowledges exactly what was sent.
  if (rst && src_state == TcpPeerState::kClosed && !config.tcp_liberal &&
      (!ack_flag || tcp.ack != dst.seqlo)) {
    return TrackResult::kInvalid;
  }

  std::uint32_t seq = tcp.seq;
  const std::uint32_t orig_seq = seq;
  Extent ext = extent_of(p);
  std::uint32_t end = ext.end;
  std::uint32_t data_end = ext.data_end;

  if (src_state == TcpPeerState::kClosed) {
    // First packet from this side: learn its sequence space.
    if (syn) {
      src.wscale = static_cast<std::uint8_t>((src.wscale & kWscaleUnknown) | wscale_option(tcp));
      if (!(src.wscale & kWscaleOption) && (dst.wscale & kWscaleOption)) {
        // Only the other SYN had the option: scaling is off for both
        // (RFC 7323 §2.2), so the other side's window, stored in units of
        // its shift, goes back to bytes.
        dst.max_win = static_cast<std::uint16_t>(std::min<std::uint32_t>(
            0xffff, static_cast<std::uint32_t>(dst.max_win) << (dst.wscale & kWscaleShiftMask)));
      }
    }
    src.seqlo = seq;
    set_state(src, TcpPeerState::kSynSent);
    conn_flags &= static_cast<std::uint8_t>(~kFlagChallengeAck);
  }

  // Window scaling applies only when both SYNs carried the option (RFC 7323
  // §2.2; this line is the only place the rule is decided). For a stream
  // picked up mid-way it is assumed at its maximum on both sides.
  const bool scaling = (src.wscale & kWscaleOption) && (dst.wscale & kWscaleOption);
  const bool unknown = (src.wscale & kWscaleUnknown) && (dst.wscale & kWscaleUnknown);
  const std::uint8_t sws = scaling ? (src.wscale & kWscaleShiftMask) : unknown ? kMaxWindowShift : 0;
  const std::uint8_t dws = scaling ? (dst.wscale & kWscaleShiftMask) : unknown ? kMaxWindowShift : 0;
  // A SYN's window is in bytes, every other one in the sender's units.
  const std::uint32_t win_bytes = syn ? tcp.window : static_cast<std::uint32_t>(tcp.window) << sws;
  const std::uint32_t win_units = syn ? (tcp.window + (1u << sws) - 1) >> sws : tcp.window;

  if (src_state == TcpPeerState::kClosed) {
    const std::uint32_t reach =
        end + std::max<std::uint32_t>(1, static_cast<std::uint32_t>(dst.max_win) << dws);
    if (src.seqhi == 1 || seq_geq(reach, src.seqhi)) src.seqhi = reach;
    if (win_units > src.max_win) src.max_win = static_cast<std::uint16_t>(win_units);
  }

  std::uint32_t ack = tcp.ack;
  if (!ack_flag || (ack == 0 && rst) || state_of(dst) < TcpPeerState::kSynSent) {
    // No ACK to check (or a stack that sends RST|ACK with ack 0, or an
    // other side we know nothing about): let it pass the ack-skew checks.
    ack = dst.seqlo;
  }
  if (seq == end) {
    // No data, SYN or FIN: only the ack matters.
    seq = src.seqlo;
    data_end = end = seq;
  }

  const std::uint32_t dst_window = static_cast<std::uint32_t>(dst.max_win) << dws;
  const std::int32_t ackskew = static_cast<std::int32_t>(dst.seqlo - ack);
  // The four checks (van Rooij; pf):
  //   1. the last byte is inside the receiver's window;
  const bool last_byte_in_window = seq_geq(src.seqhi, data_end);
  //   2. the first byte is at most one window behind what was sent;
  const bool not_too_old = seq_geq(seq, src.seqlo - dst_window);
  //   3. the ack is at most one fragment's worth past what the receiver sent;
  const bool ack_not_ahead = ackskew >= -static_cast<std::int32_t>(kMaxAckWindow);
  //   4. the ack is at most one (scaled) window behind it.
  const bool ack_not_behind = ackskew <= static_cast<std::int32_t>(kMaxAckWindow << sws);

  const bool closing =
      state_of(src) >= TcpPeerState::kClosing || state_of(dst) >= TcpPeerState::kClosing;
  const bool after_close =
      state_of(src) >= TcpPeerState::kFinWait2 || state_of(dst) >= TcpPeerState::kFinWait2;
  // RST: the exact next sequence number (RFC 5961 §3.2); once the
  // connection is closing, any in-window one (the stacks' view of
  // sequence numbers drifts around FINs: conntrack_inexact_rst).
  auto rst_acceptable = [&](std::uint32_t below, std::uint32_t above) {
    if (orig_seq == src.seqlo) return true;
    return closing && seq_geq(orig_seq, src.seqlo - below) && seq_leq(orig_seq, src.seqhi + above);
  };

  const bool in_window =
      last_byte_in_window && not_too_old && ack_not_ahead && ack_not_behind &&
      (!rst || rst_acceptable(dst_window, 0));
  if (config.tcp_liberal || in_window) {
    if (src.max_win < win_units) src.max_win = static_cast<std::uint16_t>(win_units);
    if (seq_gt(end, src.seqlo)) src.seqlo = end;
    // Slide the window the other side may send into.
    if (seq_geq(ack + win_bytes, dst.seqhi)) dst.seqhi = ack + std::max<std::uint32_t>(win_bytes, 1);

    if (fin && state_of(src) < TcpPeerState::kClosing) set_state(src, TcpPeerState::kClosing);
    if (ack_flag && seq_geq(tcp.ack, dst.seqlo)) {
      // The ack covers everything the other side sent, so its SYN / FIN.
      if (state_of(dst) == TcpPeerState::kSynSent) {
        set_state(dst, TcpPeerState::kEstablished);
      } else if (state_of(dst) == TcpPeerState::kClosing) {
        set_state(dst, TcpPeerState::kFinWait2);
      }
    }
    const auto live = [](TcpPeerState x) {
      return x >= TcpPeerState::kEstablished && x <= TcpPeerState::kFinWait2;
    };
    if (live(state_of(src)) && live(state_of(dst))) conn_flags |= kFlagHandshakeCompleted;
    if (rst) {
      set_state(src, TcpPeerState::kReset);
      set_state(dst, TcpPeerState::kReset);
    }
    store(state, t);
    return TrackResult::kAccept;
  }

  if ((state_of(dst) < TcpPeerState::kSynSent || after_close) &&
      seq_geq(src.seqhi + kMaxAckWindow, data_end) && seq_geq(seq, src.seqlo - kMaxAckWindow) &&
      (!rst || rst_acceptable(kMaxAckWindow, kMaxAckWindow))) {
    // pf's second chance, within a fixed window of the last packet: the
    // other side has not answered yet (a stream picked up mid-way, SYNs
    // shot before the answer), or the connection is already closed
    // (stacks keep sending ACK/FIN/RST around a close). No state
    // transitions but FIN and RST.
    if (src.max_win < win_units) src.max_win = static_cast<std::uint16_t>(win_units);
    if (seq_gt(end, src.seqlo)) src.seqlo = end;
    if (seq_geq(ack + win_bytes, dst.seqhi)) dst.seqhi = ack + std::max<std::uint32_t>(win_bytes, 1);
    if (fin && state_of(src) < TcpPeerState::kClosing) set_state(src, TcpPeerState::kClosing);
    if (rst) {
      set_state(src, TcpPeerState::kReset);
      set_state(dst, TcpPeerState::kReset);
    }
    store(state, t);
    return TrackResult::kAccept;
  }

  if (!syn && !fin && !rst && last_byte_in_window && !not_too_old && ack_not_ahead &&
      ack_not_behind && seq_leq(end, src.seqlo)) {
    // Data the receiver already has, retransmitted (or delayed) from more
    // than a window back: the receiver only re-acknowledges it, and
    // dropping it can stall a sender that lost that ACK
    // (conntrack_ack_loss_stall). Pass it, change nothing.
    return TrackResult::kAccept;
  }
  return TrackResult::kInvalid;
}

TimeoutClass tcp_timeout_class(const L4State& state) {
  const TcpState t = load(state);
  const TcpPeerState a = state_of(t.peer[0]);
  const TcpPeerState b = state_of(t.peer[1]);
  if (a == TcpPeerState::kReset || b == TcpPeerState::kReset) return TimeoutClass::kTcpClosed;
  if (a >= TcpPeerState::kFinWait2 && b >= TcpPeerState::kFinWait2) return TimeoutClass::kTcpTimeWait;
  if (a >= TcpPeerState::kClosing && b >= TcpPeerState::kClosing) return TimeoutClass::kTcpClosing;
  if (a < TcpPeerState::kEstablished || b < TcpPeerState::kEstablished) {
    return b == TcpPeerState::kClosed ? TimeoutClass::kTcpSynSent : TimeoutClass::kTcpSynRecv;
  }
  if (a >= TcpPeerState::kClosing || b >= TcpPeerState::kClosing) return TimeoutClass::kTcpFinWait;
  return TimeoutClass::kTcpEstablished;
}

bool tcp_established(const L4State& state) {
  return (load(state).peer[0].state & kFlagHandshakeCompleted) != 0;
}

constexpr L4Tracker kTcpTracker = {
    .valid_new = tcp_valid_new,
    .new_conn = tcp_new_conn,
    .update = tcp_update,
    .timeout_class = tcp_timeout_class,
    .established = tcp_established,
};

}  // namespace

const L4Tracker& tcp_tracker() noexcept { return kTcpTracker; }

bool tcp_flags_valid(std::uint8_t flags) noexcept {
  const bool syn = flags & kTcpSyn, ack = flags & kTcpAck, rst = flags & kTcpRst,
             fin = flags & kTcpFin, psh = flags & kTcpPsh, urg = flags & kTcpUrg;
  if (syn && (rst || fin)) return false;
  if (!syn && !ack && !rst) return false;  // null, lone FIN/PSH/URG, Xmas
  if (!ack && (fin || psh || urg)) return false;
  if (rst && fin) return false;
  return true;
}

std::string_view tcp_peer_state_name(TcpPeerState state) noexcept {
  switch (state) {
    case TcpPeerState::kClosed: return "closed";
    case TcpPeerState::kSynSent: return "syn-sent";
    case TcpPeerState::kEstablished: return "established";
    case TcpPeerState::kClosing: return "closing";
    case TcpPeerState::kFinWait2: return "fin-wait-2";
    case TcpPeerState::kReset: return "reset";
  }
  return "unknown";
}

TcpConnectionView tcp_view(const L4State& state) noexcept {
  const TcpState t = load(state);
  TcpConnectionView v;
  for (int i = 0; i < 2; ++i) {
    const Peer& p = t.peer[i];
    TcpPeerView& out = v.peer[i];
    out.state = state_of(p);
    out.seqlo = p.seqlo;
    out.seqhi = p.seqhi;
    out.window_scale_option = (p.wscale & kWscaleOption) != 0;
    out.picked_up = (p.wscale & kWscaleUnknown) != 0;
    const bool both_option = (t.peer[0].wscale & kWscaleOption) && (t.peer[1].wscale & kWscaleOption);
    const bool both_unknown = (t.peer[0].wscale & kWscaleUnknown) && (t.peer[1].wscale & kWscaleUnknown);
    out.window_scale = both_option ? (p.wscale & kWscaleShiftMask) : both_unknown ? kMaxWindowShift : 0;
    out.max_window = static_cast<std::uint32_t>(p.max_win) << out.window_scale;
  }
  v.handshake_completed = (t.peer[0].state & kFlagHandshakeCompleted) != 0;
  v.challenge_ack_pending = (t.peer[0].state & kFlagChallengeAck) != 0;
  return v;
}

}  // namespace fw::conntrack
