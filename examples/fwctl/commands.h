// examples/fwctl/commands.h — entry points of fwctl's subcommands, one per
// source file, listed in the subcommand table of main.cc.
#pragma once

#include <span>
#include <string_view>

namespace fwctl {

// fwctl replay: replays a pcap through one vNIC's chain (replay.cc).
int run_replay(std::span<const std::string_view> args);
// fwctl check: validates a policy file, lists every problem (check.cc).
int run_check(std::span<const std::string_view> args);
// fwctl feed: follows a membership feed, prints groups as they change (feed.cc).
int run_feed(std::span<const std::string_view> args);

}  // namespace fwctl
