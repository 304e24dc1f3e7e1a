// fuzz_conntrack: sequences of packets through the connection table (and the
// reject builder), the table reset between inputs.
//
// Input: byte 0 chooses the table's TCP mode (bit 0 strict, bit 1 liberal)
// and concurrency (bit 2 single-thread); then records of
//   [flags][length: 2 bytes, big endian][frame: length bytes]
// flags: bit 0 commit (create() when the lookup says kNew), bits 1-2 zone,
// bit 3 ends the burst after this packet (a burst also ends at 16 packets),
// bits 4-7 seconds the clock advances before the packet.
//
// Each input is one sequence: the table (one per mode, built once) is
// cleared, the whole sequence runs burst by burst, the table is cleared
// again and the sequence runs a second time. Checks, besides ASan/UBSan:
// outcomes and reasons are in range; a kNew packet whose create() succeeded
// gets a valid handle and is then found by info(); live connections never
// exceed the capacity; an answer the reject builder writes parses back as a
// well-formed frame; and the second run decides every packet exactly as
// the first (outcome, reason, direction, ct_state, create() result), so
// clear() really resets the table and nothing of one input leaks into the
// next.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "fw/conntrack.h"
#include "fw/packet.h"
#include "libfw/conntrack/reject.h"
#include "tests/fuzz/records.h"

namespace {

constexpr std::size_t kBurst = 16;
constexpr std::uint32_t kCapacity = 64;

void check(bool ok) {
  if (!ok) std::abort();
}

std::unique_ptr<fw::ConnTable> make_table(std::uint8_t mode) {
  fw::ConnTableOptions o;
  o.capacity = kCapacity;
  o.max_half_open = kCapacity / 2;
  o.zones = 4;
  o.zone_limit = kCapacity / 2;
  o.shards = 4;
  o.concurrency = (mode & 4) ? fw::CtConcurrency::kSingleThread : fw::CtConcurrency::kShared;
  o.expiry_per_burst = 4;
  o.tcp_strict = (mode & 1) != 0;
  o.tcp_liberal = (mode & 2) != 0;
  o.fragment_capacity = 8;
  o.hash_seed = 0x5eed;  // deterministic runs
  auto table = fw::ConnTable::create(o);
  check(table.ok());
  return std::move(*table);
}

}  // namespace

namespace {

// What one packet got, compared between the two runs of an input.
struct Decision {
  fw::CtOutcome outcome;
  fw::CtReason reason;
  fw::CtDirection direction;
  std::uint8_t ct_state;
  bool created;
  friend bool operator==(const Decision&, const Decision&) = default;
};

void run_sequence(fw::ConnTable& table, const std::uint8_t* data, std::size_t size,
                  std::vector<Decision>& decisions) {
  std::vector<fw::PacketView> views(kBurst);
  std::array<std::uint8_t, kBurst> flags{};
  std::array<fw::CtResult, kBurst> results{};
  std::vector<std::uint8_t> answer(fw::conntrack::kRejectMaxFrameBytes);
  std::uint64_t now_ns = 1'000'000'000;
  std::size_t n = 0;
  std::uint16_t zone = 0;

  auto run_burst = [&] {
    if (n == 0) return;
    table.lookup(zone, std::span<const fw::PacketView>(views.data(), n), now_ns,
                 std::span<fw::CtResult>(results.data(), n));
    for (std::size_t i = 0; i < n; ++i) {
      fw::CtResult& r = results[i];
      check(static_cast<std::size_t>(r.reason) < fw::kCtReasonCount);
      check(r.outcome <= fw::CtOutcome::kUntracked);
      bool created = false;
      if (r.outcome == fw::CtOutcome::kNew && (flags[i] & 1)) {
        created = table.create(zone, views[i], {.rule_id = static_cast<std::uint32_t>(i + 1), .generation = 1},
                               now_ns, r);
        if (created) {
          check(r.conn.valid());
          fw::ConnInfo info;
          check(table.info(r.conn, info));
        }
      }
      decisions.push_back({r.outcome, r.reason, r.direction, r.ct_state, created});
      const fw::conntrack::RejectResult rej = fw::conntrack::build_reject(views[i], answer);
      if (rej.status == fw::conntrack::RejectStatus::kBuilt) {
        check(rej.length > 0 && rej.length <= answer.size());
        fw::PacketView back;
        check(fw::parse_frame(std::span<const std::uint8_t>(answer.data(), rej.length), back) == fw::ParseError::kOk);
      }
    }
    check(table.stats().connections <= kCapacity);
    n = 0;
  };

  fw::fuzz::for_each_record(data, size, [&](std::uint8_t f, std::span<const std::uint8_t> frame) {
    const std::uint16_t record_zone = static_cast<std::uint16_t>((f >> 1) & 3);
    if (n > 0 && record_zone != zone) run_burst();  // a burst is one zone's
    zone = record_zone;
    now_ns += static_cast<std::uint64_t>(f >> 4) * 1'000'000'000;
    if (fw::parse_frame(frame, views[n]) == fw::ParseError::kOk) {
      flags[n] = f;
      ++n;
    }
    if (n == kBurst || (f & 8)) run_burst();
  });
  run_burst();
  table.expire(now_ns + 100'000'000'000, kCapacity);
  check(table.stats().connections <= kCapacity);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // One table per mode, built once and reset (clear()) before each run.
  static std::array<std::unique_ptr<fw::ConnTable>, 8> tables;
  const std::uint8_t mode = data[0] & 7;
  if (!tables[mode]) tables[mode] = make_table(mode);
  fw::ConnTable& table = *tables[mode];
  std::vector<Decision> first, second;
  table.clear();
  run_sequence(table, data, size, first);
  table.clear();
  check(table.stats().connections == 0);
  run_sequence(table, data, size, second);
  check(first == second);
  return 0;
}
