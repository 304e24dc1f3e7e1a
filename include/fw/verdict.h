// fw/verdict.h — what the chain decided for one packet, and why.
//
// Every verdict explains itself: the slot that decided it, the rule id (or a
// default-rule id), and the configuration generation the packet saw.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
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
  kCount
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);
std::string_view drop_reason_name(DropReason r) noexcept;  // "malformed", "rule", ...

inline constexpr std::uint8_t kNumSlots = 16;
// Verdict::slot when no slot decided (empty chain, parse error, unknown vNIC).
inline constexpr std::uint8_t kNoSlot = 0xff;
// Verdict::rule_id when no rule decided.
inline constexpr std::uint32_t kNoRule = 0;

// 24 bytes; bursts of 256 verdicts fit in 6 KB.
struct Verdict {
  Action action = Action::kPass;
  std::uint8_t slot = kNoSlot;          // slot that decided (or redirected)
  DropReason reason = DropReason::kNone;
  ParseError parse_error = ParseError::kOk;  // set when reason == kMalformed
  std::uint32_t rule_id = kNoRule;      // rule (or default rule) that decided
  std::uint32_t service = 0;            // kRedirect: the service endpoint handle
  std::uint32_t reserved = 0;           // keeps the layout stable for later fields
  std::uint64_t generation = 0;         // configuration generation the packet saw
};
static_assert(sizeof(Verdict) == 24, "Verdict layout is part of the API");

}  // namespace fw
