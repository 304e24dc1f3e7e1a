// libfw/policy/json_check.h — a strict, schema-directed reading of JSON
// before protobuf's parser converts it; see json_check.cc for why.
//
// Thread-safety: pure function, reentrant.
#pragma once

#include <string_view>

#include <google/protobuf/descriptor.h>

#include "fw/status.h"

namespace fw::policy_internal {

// OK, or kInvalidArgument "line L, column C: services[0].entries[1].protocol:
// want a whole number 0-4294967295, got the string \"tcp\"" for the first of:
// a syntax error (RFC 8259), an unknown field, a field given twice (by
// either of its names), a value of the wrong JSON type or out of range, an
// unknown enum name, null inside a list, nesting deeper than kMaxJsonDepth.
Status check_json(std::string_view json, const google::protobuf::Descriptor& root);

}  // namespace fw::policy_internal
