// bench/classbench/policy_classifier.h — a ClassBench rule set as a libfw
// policy: every rule becomes a fw::Rule, the policy is validated and
// compiled by fw::policy_compile::compile(), and lookups go through the
// compiled policy's burst decide path, as the DFW slot uses it.
//
// The mapping (docs/classbench.md, "The policy path"):
//   - one section "classbench" in the application category holds the rules
//     in file order, so file order is evaluation order;
//   - rule i (0-based) gets id i + 1; the default rule (id 0xffffffff,
//     action DROP) is "no match" (-1); every rule's action is ALLOW, which
//     does not matter: the answer is the deciding rule's id;
//   - a prefix of length 0 is an empty (any) side, any other prefix one
//     IPv4 CIDR;
//   - protocol with mask 0/0 is "any" (no service when the ports are also
//     wildcards); mask 0xFF is an inline service with that protocol and the
//     two port ranges (a wildcard port range is written as none).
//   A rule the policy model cannot express is refused by build() naming it:
//   port ranges on protocol "any" or on a protocol without ports (the model
//   has ports on TCP, UDP and SCTP only), and protocol 58 (ICMPv6) with an
//   IPv4 prefix (validation refuses a rule that can never match a real
//   packet). No ClassBench set in
//   ../shared/data has one; the direct classifier path (--path classifier)
//   takes them.
//
// Lookups: each burst of headers becomes LookupKeys (IPv4, host-order
// header fields) and one decide_burst() call for one vNIC and direction;
// the conversion is inside the timed loop, as rte_acl's is.
//
// memory_bytes(): the heap the compiled policy holds (the growth of
// glibc's in-use heap from before compile() to after it, with compile's
// temporaries freed); details() splits it into the address map (exact) and
// the rest (rule indexes and the compiled policy's own copy of the
// fw::Policy). Under a sanitizer, which replaces malloc, the heap cannot be
// read and memory_bytes() is the address map alone.
//
// Thread-safety: see classifier_iface.h.
#pragma once

#include <memory>
#include <span>

#include "bench/classbench/classifier_iface.h"
#include "fw/policy.h"

namespace classbench {

// The policy a ClassBench rule set stands for (see above); kInvalidArgument
// naming the rule for one the model cannot express.
fw::StatusOr<fw::Policy> policy_from_rules(std::span<const Rule> rules);

// Rule i has id i + 1; this id (the model's default) is the default rule's,
// which answers kNoMatch.
inline constexpr std::uint32_t kClassbenchDefaultRuleId = 0xffffffffu;

std::unique_ptr<Classifier> make_policy_classifier();

}  // namespace classbench
