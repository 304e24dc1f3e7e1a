// bench/fwbench/commands.h — entry points of fwbench's subcommands, one per
// source file, listed in the subcommand table of main.cc.
#pragma once

#include <span>
#include <string_view>

namespace fwbench {

// fwbench classbench: libfw's classifier vs rte_acl on ClassBench (classbench_cmd.cc).
int run_classbench(std::span<const std::string_view> args);
// fwbench membership: tag change to enforcement at scale (membership_cmd.cc).
int run_membership(std::span<const std::string_view> args);
// fwbench conntrack: connection table and stateful DFW at scale (conntrack_cmd.cc).
int run_conntrack(std::span<const std::string_view> args);

}  // namespace fwbench
