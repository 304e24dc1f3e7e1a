// fw/verdict.h — what the chain decided for one packet, and why.
//
// Every verdict explains itself: the slot that decided it, the rule id (or a
// default-rule id), and the configuration generation the packet saw.
//
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fw/packet.h"

namespace fw {

enum class Direction : std::uint8_t {
  kFromVm = 0,  // egress from the VM: the vNIC is the source
  kToVm = 1,    // ingress to the VM
};
inline constexpr std::size_t kDirectionCount = 2;
std::string_view direction_name(Direction d) noexcept;  // "from-vm" / "to-vm"

enum class Action : std::uint8_t {
  kPass = 0,   // forward the packet
  kDrop,       // discard; `reason` says why
  kReject,     // discard and answer the sender (RST / ICMP unreachable)
  kRedirect,   // hand to service `service`; reinject after `slot` on return
  kPunt,       // hand to the host's slow path / control plane
};
inline constexpr std::size_t kActionCount = 5;
std::string_view action_name(Action a) noexcept;  // "pass", "drop", ...

// Stable reasons for kDrop/kReject. Values never change meaning; new reasons
// are appended before kCount.
enum class DropReason : std::uint8_t {
  kNone = 0,
  kMalformed,        // the frame did not parse; Verdict::parse_error says how
  kRule,             // a rule of the deciding slot said drop/reject
  kDefaultRule,      // the deciding slot's default rule said drop/reject
  kUnknownVnic,      // the burst named a vNIC that is not attached
  kFilterError,      // a filter could not decide (internal limit); fail closed
  kServiceDrop,      // a service VM dropped the packet (service insertion)
  kConntrackInvalid, // the DFW's connection table refused it: invalid for its
                     // connection (TCP window, flags, mid-stream under TCP
                     // strict), an ICMP error related to no connection, a
                     // fragment whose first fragment was not admitted
  kConntrackFull,    // the DFW's policy allowed a new connection but the
                     // connection table refused it at a limit (global, zone,
                     // half-open) with nothing evictable
  kSpoofGuard,       // switch security (slot 1): the source MAC/IP is not bound
                     // to the vNIC, or an ARP/ND claims an address it does not own
  kServiceDown,      // a redirect chose a service whose instance is down and
                     // whose failure policy is fail-closed (fw/service.h)
  kServiceFlowBlock, // the service returned "block" for the whole connection;
                     // its later packets are dropped without visiting it
  kNotRedirected,    // Engine::resume() got a frame whose verdict was not a
                     // redirect of a slot of this vNIC's chain
  kCount
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);
std::string_view drop_reason_name(DropReason r) noexcept;  // "malformed", "rule", ...

inline constexpr std::uint8_t kNumSlots = 16;
// Verdict::slot when no slot decided (empty chain, parse error, unknown vNIC).
inline constexpr std::uint8_t kNoSlot = 0xff;
// Verdict::rule_id when no rule decided.
inline constexpr std::uint32_t kNoRule = 0;

// Verdict::flags bits.
//
// kVerdictLogged: the rule that decided this packet is a logged rule (the
// policy's Rule::logged, or Policy::default_logged for its default rule),
// and this packet is one the rule decided: a connection's first packet
// (allowed, dropped or rejected), every packet of a stateless section's
// rule, a packet dropped when its connection was revalidated. Packets of an
// established connection are decided by the connection table and are not
// flagged (one record per connection, as NSX's DFW logs). The host logs
// flagged packets off the datapath: fw/flow_log.h collects them into a
// bounded buffer per worker and formats records with the rule's name and tag.
inline constexpr std::uint8_t kVerdictLogged = 0x01;

// 24 bytes; bursts of 256 verdicts fit in 6 KB.
//
// ct_state is the packet's connection state as the stateful DFW (slot 2)
// saw it, in Open vSwitch's ct_state bits (kCtNew, kCtEstablished,
// kCtRelated, kCtReply, kCtInvalid, kCtTracked in fw/conntrack.h; print
// with fw::format_ct_state): "new|trk" for a first packet, "est|trk" /
// "est|rpl|trk" for later ones, "rel|trk" for an ICMP error about a
// connection, "inv|trk" for what the table refused. 0 when no connection
// tracking looked at the packet: no stateful DFW in the chain, a frame that
// is not IP, or a packet decided before slot 2. A packet matched by a rule
// of a stateless section still reports what the table said about it.
struct Verdict {
  Action action = Action::kPass;
  std::uint8_t slot = kNoSlot;          // slot that decided (or redirected)
  DropReason reason = DropReason::kNone;
  ParseError parse_error = ParseError::kOk;  // set when reason == kMalformed
  std::uint32_t rule_id = kNoRule;      // rule (or default rule) that decided
  std::uint32_t service = 0;            // kRedirect: the service endpoint handle
  std::uint8_t ct_state = 0;            // kCt* bits (fw/conntrack.h), see above
  std::uint8_t service_hop = 0;         // kRedirect: position of `service` in its
                                        // chain's path for this packet (fw/service.h)
  std::uint8_t flags = 0;               // kVerdict* bits, below
  std::uint8_t reserved8 = 0;
  std::uint64_t generation = 0;         // configuration generation the packet saw
};
static_assert(sizeof(Verdict) == 24, "Verdict layout is part of the API");

// ---- reject answers -----------------------------------------------------------
//
// A kReject verdict of the DFW comes with the frame the host should send
// back (TCP RST, ICMP / ICMPv6 administratively prohibited) when the caller
// gives Engine::process() a RejectAnswers (fw/engine.h). The caller owns
// the memory, so the datapath allocates nothing and the answers live as
// long as the caller wants them.

// The longest answer frame: Ethernet, two VLAN tags, 1280 bytes of IP (the
// IPv6 minimum MTU bounds every answer). A buffer of kMaxBurst (256) times
// this (~330 KB) never runs out; a smaller one simply records overflows.
inline constexpr std::size_t kMaxRejectAnswerBytes = 14 + 4 * 2 + 1280;

// Where frames[i]'s answer is: buffer[offset, offset + length). length 0:
// no answer (not rejected, or a packet that must not be answered: an ICMP
// error, a TCP RST, a non-first fragment, a broadcast or multicast source
// or destination, a decapsulated tunnel frame; or the buffer was full).
struct RejectAnswer {
  std::uint32_t offset = 0;
  std::uint16_t length = 0;
};

// Filled by one Engine::process()/reinject() call. Inputs: `buffer` and
// `answers` (answers.size() >= the number of frames, or the answers of later
// frames are not recorded). Outputs: answers[i] for every frame of the call
// (reset to {} first), `bytes_used`, `overflowed`.
struct RejectAnswers {
  std::span<std::uint8_t> buffer;
  std::span<RejectAnswer> answers;
  std::size_t bytes_used = 0;  // answers are written back to back from buffer[0]
  std::uint32_t overflowed = 0;  // answers not written: buffer (or answers) too small

  // The answer frame for frames[i] (empty: none).
  std::span<const std::uint8_t> answer(std::size_t i) const noexcept {
    if (i >= answers.size() || answers[i].length == 0) return {};
    return std::span<const std::uint8_t>(buffer).subspan(answers[i].offset, answers[i].length);
  }
};

}  // namespace fw
