// TcpReassembler: in-order delivery exactly once, retransmissions and
// overlaps, out-of-order segments and the queue's limits, FIN, SYN data,
// sequence-number wrap-around; FlowTable and flow keys.
#include "examples/service-vm/stream_table.h"

#include <string>

#include <gtest/gtest.h>

#include "fw/packet.h"

namespace svm {
namespace {

class Reassembly : public ::testing::Test {
 protected:
  TcpReassembler::Result seg(std::uint32_t seq, std::string_view data, std::uint8_t flags = fw::kTcpAck) {
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    return r.on_segment(seq, flags, bytes, [this](std::span<const std::uint8_t> b) {
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      ++deliveries;
    });
  }
  TcpReassembler r;
  std::string out;
  int deliveries = 0;
};

TEST_F(Reassembly, InOrderFromTheSyn) {
  EXPECT_EQ(seg(1000, "", fw::kTcpSyn), TcpReassembler::Result::kOk);
  EXPECT_EQ(r.next_seq(), 1001u);
  seg(1001, "hello ");
  seg(1007, "world");
  EXPECT_EQ(out, "hello world");
  EXPECT_EQ(r.delivered_bytes(), 11u);
  EXPECT_FALSE(r.finished());
}

TEST_F(Reassembly, SynCarryingData) {
  seg(50, "fast", fw::kTcpSyn);
  seg(55, "open");
  EXPECT_EQ(out, "fastopen");
}

TEST_F(Reassembly, MidStreamPickupStartsAtTheFirstSegment) {
  seg(777, "abc");
  seg(780, "def");
  EXPECT_EQ(out, "abcdef");
  EXPECT_TRUE(r.started());
}

TEST_F(Reassembly, RetransmissionsAreDroppedOverlapsDeliverOnlyTheNewTail) {
  seg(0, "", fw::kTcpSyn);
  seg(1, "abcdef");
  seg(1, "abcdef");          // exact retransmission
  seg(3, "XY");              // inside what was delivered
  seg(4, "XYZghi");          // overlaps: "XYZ" old (already "def"), "ghi" new
  EXPECT_EQ(out, "abcdefghi");
  EXPECT_EQ(r.duplicate_bytes(), 6u + 2u + 3u);
  EXPECT_EQ(r.next_seq(), 10u);
}

TEST_F(Reassembly, OutOfOrderIsHeldUntilTheGapFills) {
  seg(0, "", fw::kTcpSyn);
  seg(7, "world");
  seg(12, "!");
  EXPECT_EQ(out, "");
  EXPECT_EQ(r.queued_segments(), 2u);
  EXPECT_EQ(r.queued_bytes(), 6u);
  seg(1, "hello ");
  EXPECT_EQ(out, "hello world!");
  EXPECT_EQ(r.queued_segments(), 0u);
  EXPECT_EQ(r.queued_bytes(), 0u);
}

TEST_F(Reassembly, OverlappingQueuedSegmentsDeliverEachByteOnce) {
  seg(0, "", fw::kTcpSyn);
  seg(5, "EFGH");   // bytes 5..8
  seg(3, "CDEF");   // bytes 3..6, overlaps the first queued one
  seg(7, "GHIJ");   // bytes 7..10
  seg(5, "EF");     // fully inside a queued segment: dropped as duplicate
  EXPECT_EQ(r.queued_segments(), 3u);
  seg(1, "AB");
  EXPECT_EQ(out, "ABCDEFGHIJ");
  EXPECT_EQ(r.next_seq(), 11u);
}

TEST_F(Reassembly, QueueSegmentLimitOverflows) {
  r.set_limits({.max_out_of_order_segments = 2, .max_out_of_order_bytes = 1000, .max_gap = 1000});
  seg(0, "", fw::kTcpSyn);
  EXPECT_EQ(seg(10, "a"), TcpReassembler::Result::kOk);
  EXPECT_EQ(seg(20, "b"), TcpReassembler::Result::kOk);
  EXPECT_EQ(seg(30, "c"), TcpReassembler::Result::kOverflow);
  // In-order data is never an overflow.
  EXPECT_EQ(seg(1, "x"), TcpReassembler::Result::kOk);
}

TEST_F(Reassembly, QueueByteLimitOverflows) {
  r.set_limits({.max_out_of_order_segments = 10, .max_out_of_order_bytes = 8, .max_gap = 1000});
  seg(0, "", fw::kTcpSyn);
  EXPECT_EQ(seg(10, "12345"), TcpReassembler::Result::kOk);
  EXPECT_EQ(seg(20, "123"), TcpReassembler::Result::kOk);
  EXPECT_EQ(seg(30, "1"), TcpReassembler::Result::kOverflow);
}

TEST_F(Reassembly, SegmentTooFarAheadOverflows) {
  r.set_limits({.max_out_of_order_segments = 10, .max_out_of_order_bytes = 1000, .max_gap = 100});
  seg(0, "", fw::kTcpSyn);
  EXPECT_EQ(seg(101, "ok"), TcpReassembler::Result::kOk);
  EXPECT_EQ(seg(102, "far"), TcpReassembler::Result::kOverflow);
}

TEST_F(Reassembly, FinEndsTheStreamOnceEverythingBeforeItArrived) {
  seg(0, "", fw::kTcpSyn);
  seg(4, "def", fw::kTcpFin | fw::kTcpAck);  // FIN out of order
  EXPECT_FALSE(r.finished());
  seg(1, "abc");
  EXPECT_EQ(out, "abcdef");
  EXPECT_TRUE(r.finished());
  seg(7, "after the fin");  // nothing after the FIN is delivered
  EXPECT_EQ(out, "abcdef");
}

TEST_F(Reassembly, EmptyFinFinishes) {
  seg(0, "", fw::kTcpSyn);
  seg(1, "ab");
  seg(3, "", fw::kTcpFin | fw::kTcpAck);
  EXPECT_TRUE(r.finished());
}

TEST_F(Reassembly, SequenceNumbersWrapAround) {
  seg(0xfffffffdu, "", fw::kTcpSyn);
  seg(0xfffffffeu, "ab");
  seg(0x00000001u, "de");  // out of order across the wrap
  seg(0x00000000u, "c");
  EXPECT_EQ(out, "abcde");
  EXPECT_EQ(r.next_seq(), 3u);
}

TEST_F(Reassembly, ClearDropsTheQueue) {
  seg(0, "", fw::kTcpSyn);
  seg(10, "queued");
  r.clear();
  EXPECT_EQ(r.queued_segments(), 0u);
  EXPECT_EQ(r.queued_bytes(), 0u);
}

TEST(FlowKey, BothDirectionsGiveTheSameKey) {
  auto a = fw::IpAddress::v4(0x0a000001), b = fw::IpAddress::v4(0x0a000002);
  bool low1 = false, low2 = false;
  FlowKey k1 = make_flow_key(a, 40000, b, 80, 6, low1);
  FlowKey k2 = make_flow_key(b, 80, a, 40000, 6, low2);
  EXPECT_EQ(k1, k2);
  EXPECT_NE(low1, low2);
  EXPECT_EQ(FlowKeyHash{}(k1), FlowKeyHash{}(k2));
  bool low3 = false;
  EXPECT_FALSE(make_flow_key(a, 40000, b, 80, 17, low3) == k1);  // protocol is in the key
  // Same address, ports decide the order.
  FlowKey k3 = make_flow_key(a, 9, a, 8, 6, low3);
  EXPECT_FALSE(low3);
  EXPECT_EQ(k3.low_port, 8);
}

TEST(FlowTable, LruOrderAndRemoval) {
  FlowTable table(3);
  auto key = [](std::uint16_t port) {
    bool low = false;
    return make_flow_key(fw::IpAddress::v4(1), port, fw::IpAddress::v4(2), 80, 6, low);
  };
  Flow* f1 = table.insert(key(1), 10);
  Flow* f2 = table.insert(key(2), 20);
  Flow* f3 = table.insert(key(3), 30);
  EXPECT_EQ(table.oldest(), f1);
  table.touch(*f1, 40);
  EXPECT_EQ(table.oldest(), f2);
  EXPECT_EQ(table.find(key(3)), f3);
  table.remove(*f2);
  EXPECT_EQ(table.find(key(2)), nullptr);
  EXPECT_EQ(table.oldest(), f3);
  EXPECT_EQ(table.size(), 2u);
  auto flows = table.flows_by_sequence();
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0], f1);
  EXPECT_EQ(flows[1], f3);
  EXPECT_LT(f1->sequence, f3->sequence);
}

}  // namespace
}  // namespace svm
