// tests/classbench/random_rules.h — seeded random rule sets and headers for
// agreement tests between a classifier and the reference.
//
// Rules mix what makes classifiers differ: prefix lengths from /0 to /32
// (weighted to the ends, as in ClassBench), exact ports, wildcards and
// arbitrary ranges, protocol any/exact, and duplicates. Half of the headers
// are drawn inside a random rule (so they match something), half at random,
// with addresses and ports often on the edges of some rule.
//
// Thread-safety: values; a generator per thread.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <filesystem>
#include <span>
#include <string_view>
#include <string>

#include "bench/classbench/classbench.h"
#include "bench/classbench/classifier_iface.h"

namespace classbench::test {

struct RandomSetOptions {
  std::size_t rules = 100;
  std::size_t headers = 1000;
  std::uint32_t seed = 1;
  // Only rules a libfw policy can express (policy_classifier.h): port ranges
  // only on TCP, UDP and SCTP (a rule drawn with ports on another protocol,
  // or on any, gets either wildcard ports or TCP/UDP instead, at random), and
  // no ICMPv6 (58) with an IPv4 prefix (it becomes ICMP, 1).
  bool policy_expressible = false;
};

struct RandomSet {
  std::vector<Rule> rules;
  std::vector<Header> headers;
};

RandomSet make_random_set(const RandomSetOptions& options);

// A rule file and its trace: <dir>/<name> and <dir>/<name>_trace.
struct LoadedSet {
  std::vector<Rule> rules;
  Trace trace;
};
fw::StatusOr<LoadedSet> load_set(const std::filesystem::path& dir, std::string_view name);

// The reference's first match for every header.
std::vector<std::int32_t> reference_matches(std::span<const Rule> rules,
                                            std::span<const Header> headers);

// Classifies in bursts of `burst`; returns the first disagreement with the
// reference as text (header, expected rule, got rule), or "" if none.
std::string first_disagreement(Classifier& classifier, std::span<const Rule> rules,
                               std::span<const Header> headers, std::size_t burst);

}  // namespace classbench::test
