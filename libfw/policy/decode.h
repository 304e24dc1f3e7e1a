// libfw/policy/decode.h — fw.v1.Policy (protobuf) -> fw::Policy.
//
// Decoding turns the schema's strings and open enums into the model's typed
// values. It never stops at the first problem: a value it cannot decode is
// reported (LocatedError with `covers`) and replaced by a placeholder, so
// check_located() can still look at everything else and fwctl check lists
// every problem in one run.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fw/policy.h"
#include "fw/v1/policy.pb.h"
#include "libfw/policy/internal.h"

namespace fw::policy_internal {

struct DecodedPolicy {
  Policy policy;                      // placeholders where errors says so
  std::vector<LocatedError> errors;   // numbered like check_located()
};

DecodedPolicy decode_policy(const v1::Policy& message);

// The first field that this libfw's schema does not know ("services[0]:
// field number 9 of fw.v1.Service is unknown ..."), or nullopt. Binary input
// keeps such fields silently; a policy written for a newer schema must not
// be half-understood, so they are refused.
std::optional<std::string> find_unknown_field(const google::protobuf::Message& message);

// The first string field that is not valid UTF-8 ("groups[0].id: ..."), or
// nullopt. protobuf's binary and JSON parsers refuse such strings; its
// text-format parser takes them, so text input is checked here.
std::optional<std::string> find_invalid_utf8(const google::protobuf::Message& message);

}  // namespace fw::policy_internal
