// bench/classbench/libfw_classifier.h — libfw's rule classifier behind the
// harness interface: ClassBench prefixes become address atoms in an
// AddressClassMap, rules become a RuleIndex.
#pragma once

#include <memory>

#include "bench/classbench/classifier_iface.h"

namespace classbench {

std::unique_ptr<Classifier> make_libfw_classifier();

}  // namespace classbench
