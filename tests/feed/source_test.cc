// The stream source over a file, a FIFO-like pipe and a Unix socket, and the
// feed end to end: a tag arriving on the feed decides the next packet
// through an fw::Engine with an fw::Dfw policy; its removal undoes it.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "feed_helpers.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/feed.h"
#include "fw/v1/feed.pb.h"
#include "support/packet_builder.h"
#include "support/scratch_dir.h"

namespace fw {
namespace {

using namespace fw::test;

std::string frames(const std::vector<FeedEvent>& events) {
  std::string out;
  for (const FeedEvent& e : events) out += encode_feed_frame(e);
  return out;
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    ASSERT_GT(n, 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads one length-delimited FeedRequest from `fd`.
v1::FeedRequest read_request(int fd) {
  std::string bytes;
  char b;
  while (::read(fd, &b, 1) == 1) {
    bytes.push_back(b);
    FeedFrameReader reader;
    reader.append(bytes);
    auto body = reader.next();
    if (body.ok() && body->has_value()) {
      v1::FeedRequest r;
      EXPECT_TRUE(r.ParseFromString(**body));
      return r;
    }
  }
  ADD_FAILURE() << "no request";
  return {};
}

// Polls until the source has nothing more (end of stream or a quiet poll).
void drain(FeedSource& source, FeedConsumer& consumer) {
  for (int i = 0; i < 100; ++i) {
    auto r = source.poll(consumer, std::chrono::milliseconds(50));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    if (r->end_of_stream || r->messages == 0) return;
  }
}

TEST(StreamSource, AFileIsReadToTheEnd) {
  ScratchDir dir("fw-feed");
  const std::string path = dir.write(
      "inventory.feed", frames({begin(3), upsert(3, vm("a", 1, "10.0.0.1", {{"", "web"}})), end(3),
                                tag_add(4, "a", {"env", "prod"}), address_add(5, 1, ip("10.0.0.11"))}));
  auto inventory = Inventory::create().value();
  auto consumer = FeedConsumer::create(*inventory).value();
  auto source = open_stream_source(path);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  EXPECT_EQ((*source)->describe(), "file " + path);
  drain(**source, *consumer);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(consumer->revision(), 5u);
  EXPECT_EQ(inventory->vm("a")->tags.size(), 2u);
  EXPECT_EQ(inventory->vm("a")->vnics[0].addresses.size(), 2u);
}

// tests/data/feed/three-vms.feed, framed from three-vms.txtpb by frame.py.
TEST(StreamSource, TheFixtureStreamConverges) {
  Policy p;
  Group web;
  web.id = "web";
  web.criteria = {CriteriaExpression{
      .all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .scope = "tier", .values = {"web"}}}}};
  p.groups = {web};
  MirrorSink sink;
  auto inventory = Inventory::create({.sink = &sink}).value();
  ASSERT_TRUE(inventory->set_groups(p).ok());
  auto consumer = FeedConsumer::create(*inventory).value();
  auto source = open_stream_source(FW_TEST_DATA_DIR "/feed/three-vms.feed");
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  drain(**source, *consumer);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(consumer->revision(), 15u);
  EXPECT_EQ(consumer->stats().rejected, 0u);
  EXPECT_EQ(inventory->vm_ids(), (std::vector<std::string>{"vm-app-1", "vm-web-1"}));
  EXPECT_EQ(inventory->vm("vm-web-1")->tags, (std::vector<Tag>{{"tier", "web"}}));
  EXPECT_EQ(inventory->vm("vm-web-1")->vnics[0].mac, parse_mac("02:00:00:00:00:01").value());
  EXPECT_EQ(sink.sets["web"], (std::set<std::string>{"10.0.0.1", "10.0.0.3", "10.0.0.19"}));
}

TEST(StreamSource, PathsThatAreNotStreamsAreRefused) {
  ScratchDir dir("fw-feed");
  EXPECT_EQ(open_stream_source((dir / "missing").string()).status().code(), StatusCode::kIoError);
  auto r = open_stream_source(dir.path().string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a regular file, FIFO or Unix socket"), std::string::npos);
}

TEST(StreamSource, BrokenFramingRestartsTheConsumerAndKeepsTheState) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto inventory = Inventory::create().value();
  auto consumer = FeedConsumer::create(*inventory).value();
  auto source = stream_source_from_fd(p[0], false, "pipe").value();
  write_all(p[1], frames({begin(1), upsert(1, vm("a", 1, "10.0.0.1")), end(1)}));
  // A message announcing 2 MiB.
  write_all(p[1], "\x80\x80\x80\x01");
  auto r = source->poll(*consumer, std::chrono::milliseconds(1000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_EQ(consumer->state(), FeedState::kWaitingForSnapshot);
  EXPECT_EQ(consumer->stats().restarts, 1u);
  EXPECT_EQ(inventory->vm_count(), 1u) << "the last known state stays in force";
  EXPECT_FALSE(source->poll(*consumer, std::chrono::milliseconds(0)).ok()) << "a broken stream stays broken";
  ::close(p[1]);
}

TEST(StreamSource, ACorruptMessageIsSkippedAndTheStreamGoesOn) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto inventory = Inventory::create().value();
  auto consumer = FeedConsumer::create(*inventory).value();
  auto source = stream_source_from_fd(p[0], false, "pipe").value();
  write_all(p[1], frames({begin(1), upsert(1, vm("a", 1, "10.0.0.1")), end(1)}));
  write_all(p[1], std::string("\x03\xff\xff\xff", 4));  // well framed, not a message
  write_all(p[1], frames({begin(2), upsert(2, vm("b", 2, "10.0.0.2")), end(2)}));
  ::close(p[1]);
  drain(*source, *consumer);
  EXPECT_EQ(consumer->stats().rejected, 1u);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(inventory->vm_ids(), std::vector<std::string>{"b"});
}

TEST(StreamSource, AUnixSocketAsksForASnapshotOnConnectAndAfterAGap) {
  ScratchDir dir("fw-feed");
  const std::string path = (dir / "feed.sock").string();
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);

  auto inventory = Inventory::create().value();
  auto consumer = FeedConsumer::create(*inventory).value();
  auto source = open_stream_source(path);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  EXPECT_EQ((*source)->describe(), "unix socket " + path);
  const int producer = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(producer, 0);

  ASSERT_TRUE((*source)->poll(*consumer, std::chrono::milliseconds(0)).ok());
  v1::FeedRequest first = read_request(producer);
  EXPECT_TRUE(first.snapshot());
  EXPECT_EQ(first.after_revision(), 0u);

  write_all(producer, frames({begin(7), upsert(7, vm("a", 1, "10.0.0.1")), end(7), tag_add(8, "a", {"", "x"})}));
  drain(**source, *consumer);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(consumer->revision(), 8u);

  write_all(producer, frames({tag_add(10, "a", {"", "y"})}));  // 9 is lost
  drain(**source, *consumer);
  v1::FeedRequest again = read_request(producer);
  EXPECT_TRUE(again.snapshot());
  EXPECT_EQ(again.after_revision(), 8u);
  write_all(producer, frames({begin(10), upsert(10, vm("a", 1, "10.0.0.1", {{"", "y"}})), end(10)}));
  drain(**source, *consumer);
  EXPECT_TRUE(consumer->in_sync());
  EXPECT_EQ(inventory->vm("a")->tags, (std::vector<Tag>{{"", "y"}}));
  ::close(producer);
  ::close(listener);
}

TEST(FeedEndToEnd, ATagOnTheFeedDecidesTheNextPacket) {
  constexpr std::uint32_t kVnic = 3;
  const char* vm_mac = "02:00:00:00:00:03";
  auto engine = Engine::create({.max_workers = 1}).value();
  ASSERT_TRUE(engine->attach_vnic({.id = kVnic, .mac = parse_mac(vm_mac).value()}).ok());
  auto worker = engine->create_worker().value();
  auto dfw = Dfw::create(*engine).value();
  // Only web VMs may be reached on port 80; everything else is dropped.
  Policy p;
  Group web;
  web.id = "web";
  web.criteria = {CriteriaExpression{
      .all_of = {Criterion{.key = CriterionKey::kTag, .op = CriterionOperator::kEquals, .scope = "tier", .values = {"web"}}}}};
  p.groups = {web};
  Section s;
  s.id = "app";
  Rule allow;
  allow.id = 10;
  allow.destinations.groups = {"web"};
  allow.inline_services = {ServiceEntry{.protocol = kIpProtoTcp, .dst_ports = {PortRange{80, 80}}}};
  s.rules = {allow};
  p.categories[static_cast<int>(Category::kApplication)] = {s};
  p.default_action = RuleAction::kDrop;
  p.default_rule_id = 9999;
  ASSERT_TRUE(dfw->apply(p, {kVnic}).ok());
  auto sink = make_dfw_group_sink(*dfw);
  auto inventory = Inventory::create({.sink = sink.get()}).value();
  ASSERT_TRUE(inventory->set_groups(p).ok());
  auto consumer = FeedConsumer::create(*inventory).value();

  std::uint16_t port = 40000;  // a new connection per packet
  auto to_vm = [&] {
    Bytes frame =
        PacketBuilder().eth("02:00:00:00:00:09", vm_mac).ipv4("192.0.2.9", "10.0.0.3").tcp(port++, 80, kTcpSyn).build();
    Frame f(frame);
    Verdict v;
    engine->process(*worker, kVnic, Direction::kToVm, std::span(&f, 1), std::span(&v, 1));
    return v;
  };
  auto feed = [&](const FeedEvent& e) {
    ASSERT_TRUE(consumer->apply_message(encode_feed_message(e)).ok()) << consumer->last_error().to_string();
    ASSERT_TRUE(inventory->wait_realized(consumer->inventory_sequence(), std::chrono::seconds(5)).ok());
  };
  feed(begin(1));
  feed(upsert(1, VmSpec{.id = "vm-3", .vnics = {{.id = kVnic, .addresses = {ip("10.0.0.3")}}}}));
  feed(end(1));
  EXPECT_EQ(to_vm().rule_id, 9999u);
  EXPECT_EQ(to_vm().action, Action::kDrop);

  feed(tag_add(2, "vm-3", {"TIER", "Web"}));
  Verdict v = to_vm();
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_id, 10u);

  feed(tag_remove(3, "vm-3", {"TIER", "Web"}));
  v = to_vm();
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_id, 9999u);
}

}  // namespace
}  // namespace fw
