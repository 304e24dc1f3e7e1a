// The TCP tracker alone (no table, no lookup): ns per update.
//   fw_bench --benchmark_filter=TcpTrack
//
// BM_TcpTrack_EstablishedData: one established connection (window scaling
// on: SYN windows 65535 bytes, later windows 1024 << 7); each iteration is a
// 1400-byte in-window data segment from the client and the server's ACK of
// it, so sequence numbers keep advancing as in a real transfer. Items are
// updates (two per iteration).
// BM_TcpTrack_HandshakeAndClose: a whole connection per iteration: new_conn
// from the SYN, then SYN/ACK, ACK, FIN/ACK, ACK, FIN/ACK, ACK (six updates).
// Items are connections.
#include <benchmark/benchmark.h>

#include <vector>

#include "libfw/conntrack/tcp.h"
#include "support/packet_builder.h"

namespace fw::bench {
namespace {

using conntrack::Dir;
using conntrack::L4State;
using conntrack::L4Tracker;
using conntrack::TrackResult;
using test::PacketBuilder;

PacketView view_of(const test::Bytes& frame) {
  PacketView v;
  if (parse_frame(frame, v) != ParseError::kOk) v.has_l4 = false;
  return v;
}

test::Bytes segment(bool from_client, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                    std::size_t payload, test::TcpOptions options = {}) {
  PacketBuilder b;
  b.eth(from_client ? "02:00:00:00:00:01" : "02:00:00:00:00:02", from_client ? "02:00:00:00:00:02" : "02:00:00:00:00:01")
      .ipv4(from_client ? "10.0.0.1" : "10.0.0.2", from_client ? "10.0.0.2" : "10.0.0.1")
      .tcp(from_client ? 43210 : 443, from_client ? 443 : 43210, flags,
           {.seq = seq, .ack = ack, .window = static_cast<std::uint16_t>((flags & kTcpSyn) ? 65535 : 1024),
            .options = options});
  if (payload) b.payload(payload);
  return b.build();
}

void BM_TcpTrack_EstablishedData(benchmark::State& state) {
  const L4Tracker& tcp = conntrack::tcp_tracker();
  constexpr std::uint32_t kClient = 1000, kServer = 9000;
  // Frames live as long as their views.
  const test::Bytes syn = segment(true, kTcpSyn, kClient, 0, 0, test::TcpOptions().window_scale(7));
  const test::Bytes synack = segment(false, kTcpSyn | kTcpAck, kServer, kClient + 1, 0, test::TcpOptions().window_scale(7));
  const test::Bytes ack = segment(true, kTcpAck, kClient + 1, kServer + 1, 0);
  const test::Bytes data = segment(true, kTcpAck | kTcpPsh, kClient + 1, kServer + 1, 1400);
  const test::Bytes data_ack = segment(false, kTcpAck, kServer + 1, kClient + 1401, 0);
  L4State s{};
  tcp.new_conn(s, view_of(syn), {});
  bool ok = tcp.update(s, Dir::kReply, view_of(synack), {}) == TrackResult::kAccept &&
            tcp.update(s, Dir::kOriginal, view_of(ack), {}) == TrackResult::kAccept;
  PacketView data_view = view_of(data);
  PacketView ack_view = view_of(data_ack);
  std::uint32_t next = kClient + 1;
  for (auto _ : state) {
    data_view.tcp.seq = next;
    next += 1400;
    ack_view.tcp.ack = next;
    TrackResult r1 = tcp.update(s, Dir::kOriginal, data_view, {});
    TrackResult r2 = tcp.update(s, Dir::kReply, ack_view, {});
    ok &= (r1 == TrackResult::kAccept) & (r2 == TrackResult::kAccept);
    benchmark::DoNotOptimize(s);
  }
  if (!ok) state.SkipWithError("a segment was not accepted");
  state.SetItemsProcessed(2 * state.iterations());
}

void BM_TcpTrack_HandshakeAndClose(benchmark::State& state) {
  const L4Tracker& tcp = conntrack::tcp_tracker();
  constexpr std::uint32_t c = 1000, v = 9000;
  const std::vector<test::Bytes> frames = {
      segment(true, kTcpSyn, c, 0, 0, test::TcpOptions().mss(1460).sack_permitted().window_scale(7)),
      segment(false, kTcpSyn | kTcpAck, v, c + 1, 0, test::TcpOptions().mss(1460).sack_permitted().window_scale(7)),
      segment(true, kTcpAck, c + 1, v + 1, 0),
      segment(true, kTcpFin | kTcpAck, c + 1, v + 1, 0),
      segment(false, kTcpAck, v + 1, c + 2, 0),
      segment(false, kTcpFin | kTcpAck, v + 1, c + 2, 0),
      segment(true, kTcpAck, c + 2, v + 2, 0),
  };
  std::vector<PacketView> views;
  for (const auto& f : frames) views.push_back(view_of(f));
  static constexpr Dir kDirs[] = {Dir::kOriginal, Dir::kReply, Dir::kOriginal, Dir::kOriginal,
                                  Dir::kReply, Dir::kReply, Dir::kOriginal};
  bool ok = true;
  for (auto _ : state) {
    L4State s;
    tcp.new_conn(s, views[0], {});
    for (std::size_t i = 1; i < views.size(); ++i) ok &= tcp.update(s, kDirs[i], views[i], {}) == TrackResult::kAccept;
    ok &= tcp.timeout_class(s) == conntrack::TimeoutClass::kTcpTimeWait;
    benchmark::DoNotOptimize(s);
  }
  if (!ok) state.SkipWithError("the connection did not close cleanly");
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_TcpTrack_EstablishedData);
BENCHMARK(BM_TcpTrack_HandshakeAndClose);

}  // namespace
}  // namespace fw::bench
