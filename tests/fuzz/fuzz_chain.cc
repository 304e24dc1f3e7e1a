// fuzz_chain: sequences of frames through fw::Engine with a stateful DFW in
// slot 2 (libfw/chain/dfw.cc: first packets classified, later ones decided
// by the connection table, stateless sections, reject answers, policy
// generations and revalidation), the table cleared between inputs.
//
// Input: byte 0 chooses the set-up: bit 0 the table's TCP strict, bit 1 a
// single-thread table, bits 2-3 the policies' revalidation mode (keep,
// revalidate, reset, reset), bit 4 ask for reject answers. Then records of
//   [flags][length: 2 bytes, big endian][frame: length bytes]
// flags: bit 0 the direction (0 from the VM, 1 to it), bit 1 apply the
// other of the two policies before this packet (a new policy generation:
// the table's connections are re-checked lazily), bit 2 the vNIC (two are
// attached, each a zone of the table), bit 3 ends the burst after this
// packet (a burst also ends at 16 packets, and at a change of vNIC or
// direction), bits 4-7 seconds the clock advances before the packet.
// Frames are given to the engine as they are, malformed or not.
//
// Each input is one sequence, run twice: the Dfw (one per table mode,
// built once) gets policy A (unless it has it already), its table is
// cleared, the sequence runs burst by burst; then the same again. Checks,
// besides ASan/UBSan: every verdict's action and reason are in range; a
// kPass or kReject of slot 2 names a rule; a rejected frame's answer, when
// asked for, parses back as a well-formed frame, and an answer is only ever
// given to a rejected frame; live connections never exceed the table's
// capacity; and the second run decides every frame exactly as the first
// (action, slot, reason, rule, ct_state, answered), so clear() and
// re-applying a policy really reset what decides a packet.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "fw/chain.h"
#include "fw/conntrack.h"
#include "fw/dfw.h"
#include "fw/engine.h"
#include "fw/packet.h"
#include "fw/policy.h"
#include "fw/verdict.h"
#include "tests/fuzz/records.h"

namespace {

constexpr std::size_t kBurst = 16;
constexpr std::uint32_t kCapacity = 64;
constexpr std::uint32_t kVnics[2] = {3, 4};
constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpV6 = 58;

void check(bool ok) {
  if (!ok) std::abort();
}

fw::Rule rule(std::uint32_t id, fw::RuleDirection direction, std::optional<std::uint8_t> protocol,
              std::optional<std::uint16_t> port, fw::RuleAction action) {
  fw::Rule r;
  r.id = id;
  r.direction = direction;
  fw::ServiceEntry e{.protocol = protocol};
  if (port) e.dst_ports = {fw::PortRange{*port, *port}};
  r.inline_services = {e};
  r.action = action;
  return r;
}

// Policy A: the VMs' own outbound web, DNS and ping connections allowed,
// telnet and UDP echo rejected, NTP in a stateless section, SSH in; the
// default rule drops. Policy B: TCP allowed both ways, DNS dropped, ICMP
// and ICMPv6 rejected, the default rule allows. Addresses are any: the
// frames are whatever the fuzzer made.
fw::Policy policy(bool b, fw::RevalidationMode mode) {
  using D = fw::RuleDirection;
  using A = fw::RuleAction;
  fw::Policy p;
  fw::Section stateless{.id = "ntp", .stateless = true};
  fw::Section app{.id = "app"};
  if (!b) {
    stateless.rules = {rule(1, D::kInOut, kUdp, 123, A::kAllow)};
    app.rules = {rule(10, D::kOut, kTcp, 80, A::kAllow),  rule(11, D::kOut, kTcp, 443, A::kAllow),
                 rule(12, D::kOut, kUdp, 53, A::kAllow),  rule(13, D::kOut, kIcmp, std::nullopt, A::kAllow),
                 rule(14, D::kOut, kIcmpV6, std::nullopt, A::kAllow), rule(15, D::kIn, kTcp, 22, A::kAllow),
                 rule(20, D::kInOut, kTcp, 23, A::kReject), rule(21, D::kOut, kUdp, 7, A::kReject)};
    p.default_action = A::kDrop;
  } else {
    stateless.rules = {rule(2, D::kInOut, kUdp, 5353, A::kDrop)};
    app.rules = {rule(30, D::kInOut, kTcp, std::nullopt, A::kAllow), rule(31, D::kInOut, kUdp, 53, A::kDrop),
                 rule(32, D::kInOut, kIcmp, std::nullopt, A::kReject),
                 rule(33, D::kInOut, kIcmpV6, std::nullopt, A::kReject)};
    p.default_action = A::kAllow;
  }
  p.categories[static_cast<int>(fw::Category::kEnvironment)] = {stateless};
  p.categories[static_cast<int>(fw::Category::kApplication)] = {app};
  p.default_rule_id = 9999;
  p.revalidation = mode;
  return p;
}

// An engine with two vNICs and a stateful Dfw on both, in one table mode.
struct Chain {
  explicit Chain(std::uint8_t mode) {
    auto e = fw::Engine::create({.max_workers = 1});
    check(e.ok());
    engine = std::move(*e);
    for (const std::uint32_t id : kVnics)
      check(engine->attach_vnic({.id = id, .mac = fw::MacAddress::from_u64(0x020000000000 | id)}).ok());
    auto w = engine->create_worker();
    check(w.ok());
    worker = std::move(*w);
    fw::ConnTableOptions ct;
    ct.capacity = kCapacity;
    ct.max_half_open = kCapacity / 2;
    ct.zones = 8;
    ct.zone_limit = kCapacity / 2 + 8;
    ct.shards = 4;
    ct.concurrency = (mode & 2) ? fw::CtConcurrency::kSingleThread : fw::CtConcurrency::kShared;
    ct.expiry_per_burst = 4;
    ct.tcp_strict = (mode & 1) != 0;
    ct.fragment_capacity = 8;
    ct.hash_seed = 0x5eed;  // deterministic runs
    auto d = fw::Dfw::create(*engine, {.conntrack = ct});
    check(d.ok());
    dfw = std::move(*d);
  }
  // apply() waits for an RCU grace period: skipped when it would change
  // nothing.
  void apply(bool b, fw::RevalidationMode mode) {
    if (applied && applied_b == b && applied_mode == mode) return;
    check(dfw->apply(policy(b, mode), {kVnics[0], kVnics[1]}).ok());
    applied = true;
    applied_b = b;
    applied_mode = mode;
  }

  std::unique_ptr<fw::Engine> engine;
  std::unique_ptr<fw::Worker> worker;
  std::unique_ptr<fw::Dfw> dfw;
  bool applied = false, applied_b = false;
  fw::RevalidationMode applied_mode = fw::RevalidationMode::kKeep;
};

// What one frame got, compared between the two runs of an input.
struct Decision {
  fw::Action action;
  std::uint8_t slot;
  fw::DropReason reason;
  std::uint32_t rule_id;
  std::uint8_t ct_state;
  bool answered;
  friend bool operator==(const Decision&, const Decision&) = default;
};

void run_sequence(Chain& chain, std::uint8_t setup, const std::uint8_t* data, std::size_t size,
                  std::vector<Decision>& decisions) {
  const auto mode = static_cast<fw::RevalidationMode>(std::min((setup >> 2) & 3, 2));
  const bool answers_wanted = (setup & 16) != 0;
  chain.apply(false, mode);
  chain.dfw->connections()->clear();
  check(chain.dfw->connections()->stats().connections == 0);

  std::array<fw::Frame, kBurst> frames{};
  std::array<fw::Verdict, kBurst> verdicts{};
  std::array<fw::RejectAnswer, kBurst> answer_slots{};
  std::vector<std::uint8_t> answer_bytes(kBurst * fw::kMaxRejectAnswerBytes);
  std::uint64_t now_ns = 1'000'000'000;
  std::size_t n = 0;
  std::uint8_t burst_flags = 0;  // direction and vNIC of the burst being gathered

  auto run_burst = [&] {
    if (n == 0) return;
    fw::RejectAnswers answers{.buffer = answer_bytes, .answers = std::span(answer_slots.data(), n)};
    const fw::Direction dir = (burst_flags & 1) ? fw::Direction::kToVm : fw::Direction::kFromVm;
    chain.engine->process(*chain.worker, kVnics[(burst_flags >> 2) & 1], dir, std::span(frames.data(), n),
                          std::span(verdicts.data(), n),
                          {.now_ns = now_ns, .answers = answers_wanted ? &answers : nullptr});
    for (std::size_t i = 0; i < n; ++i) {
      const fw::Verdict& v = verdicts[i];
      check(static_cast<std::size_t>(v.action) < fw::kActionCount);
      check(static_cast<std::size_t>(v.reason) < fw::kDropReasonCount);
      const bool from_rule = v.reason == fw::DropReason::kNone || v.reason == fw::DropReason::kRule ||
                             v.reason == fw::DropReason::kDefaultRule;
      if (v.slot == fw::kSlotDfw && (v.action == fw::Action::kReject || (v.action == fw::Action::kPass && from_rule)))
        check(v.rule_id != fw::kNoRule);
      bool answered = false;
      if (answers_wanted) {
        const std::span<const std::uint8_t> a = answers.answer(i);
        answered = !a.empty();
        if (answered) {
          check(v.action == fw::Action::kReject);
          fw::PacketView back;
          check(fw::parse_frame(a, back) == fw::ParseError::kOk);
        }
      }
      decisions.push_back({v.action, v.slot, v.reason, v.rule_id, v.ct_state, answered});
    }
    check(chain.dfw->connections()->stats().connections <= kCapacity);
    n = 0;
  };

  fw::fuzz::for_each_record(data, size, [&](std::uint8_t f, std::span<const std::uint8_t> frame) {
    if (n > 0 && ((f ^ burst_flags) & 5) != 0) run_burst();  // a burst is one vNIC's, one direction's
    if (f & 2) {
      run_burst();
      chain.apply(!chain.applied_b, mode);
    }
    burst_flags = f;
    now_ns += static_cast<std::uint64_t>(f >> 4) * 1'000'000'000;
    frames[n++] = frame;
    if (n == kBurst || (f & 8)) run_burst();
  });
  run_burst();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // One chain per table mode, built once; each run applies policy A and
  // clears the table first.
  static std::array<std::unique_ptr<Chain>, 4> chains;
  const std::uint8_t table_mode = data[0] & 3;
  if (!chains[table_mode]) chains[table_mode] = std::make_unique<Chain>(table_mode);
  Chain& chain = *chains[table_mode];
  std::vector<Decision> first, second;
  run_sequence(chain, data[0], data, size, first);
  run_sequence(chain, data[0], data, size, second);
  check(first == second);
  return 0;
}
