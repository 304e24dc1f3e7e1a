// tests/policy/policy_text.h — a complete, canonical text dump of an
// fw::Policy, so tests compare whole policies (and print a readable diff)
// without the model needing operator==.
#pragma once

#include <string>

#include "fw/policy.h"

namespace fw::test {

// Every field of every object, one object per line.
std::string describe(const Policy& policy);

}  // namespace fw::test
