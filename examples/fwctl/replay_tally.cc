#include "examples/fwctl/replay_tally.h"

#include <fmt/core.h>

namespace fwctl {

void ReplayTally::add(fw::Direction direction, std::size_t frame_bytes,
                      const fw::Verdict& verdict, bool reinjected) {
  DirectionTally& tally = directions_[static_cast<std::size_t>(direction)];
  ++tally.packets;
  if (reinjected) ++tally.reinjected;
  tally.bytes += frame_bytes;
  auto action = static_cast<std::size_t>(verdict.action);
  if (action < fw::kActionCount) ++tally.actions[action];
  if (verdict.action == fw::Action::kDrop || verdict.action == fw::Action::kReject) {
    auto reason = static_cast<std::size_t>(verdict.reason);
    if (reason < fw::kDropReasonCount) ++tally.drops[reason];
  }
  if (verdict.reason == fw::DropReason::kMalformed) {
    auto error = static_cast<std::size_t>(verdict.parse_error);
    if (error < fw::kParseErrorCount) ++tally.parse_errors[error];
  }
  if (verdict.slot < fw::kNumSlots && action < fw::kActionCount) {
    ++tally.slot_actions[verdict.slot][action];
  }
  ++deciders_[Decider{verdict.slot, verdict.rule_id}][static_cast<std::size_t>(direction)];
}

std::vector<std::string> ReplayTally::compare(const fw::VnicStats& stats,
                                              bool single_slot_chain) const {
  std::vector<std::string> differences;
  auto check = [&](fw::Direction d, std::string_view what, std::uint64_t from_verdicts,
                   std::uint64_t from_engine) {
    if (from_verdicts != from_engine) {
      differences.push_back(fmt::format("{} {}: verdicts say {}, engine counters say {}",
                                        fw::direction_name(d), what, from_verdicts,
                                        from_engine));
    }
  };
  for (fw::Direction d : {fw::Direction::kFromVm, fw::Direction::kToVm}) {
    const DirectionTally& mine = (*this)[d];
    const fw::DirectionStats& engine = stats[d];
    check(d, "packets", mine.packets, engine.packets);
    check(d, "bytes", mine.bytes, engine.bytes);
    check(d, "reinjected", mine.reinjected, engine.reinjected);
    for (std::size_t a = 0; a < fw::kActionCount; ++a) {
      check(d, fw::action_name(static_cast<fw::Action>(a)), mine.actions[a], engine.verdicts[a]);
    }
    for (std::size_t r = 0; r < fw::kDropReasonCount; ++r) {
      check(d, fmt::format("drops[{}]", fw::drop_reason_name(static_cast<fw::DropReason>(r))),
            mine.drops[r], engine.drops[r]);
    }
    for (std::size_t e = 0; e < fw::kParseErrorCount; ++e) {
      check(d,
            fmt::format("parse-errors[{}]", fw::parse_error_name(static_cast<fw::ParseError>(e))),
            mine.parse_errors[e], engine.parse_errors[e]);
    }
    for (std::size_t s = 0; s < fw::kNumSlots; ++s) {
      for (std::size_t a = 0; a < fw::kActionCount; ++a) {
        std::uint64_t from_verdicts = mine.slot_actions[s][a];
        std::uint64_t from_engine = engine.slots[s].decided[a];
        bool pass = static_cast<fw::Action>(a) == fw::Action::kPass;
        std::string what =
            fmt::format("slot {} {}", s, fw::action_name(static_cast<fw::Action>(a)));
        if (pass && !single_slot_chain) {
          if (from_verdicts > from_engine) {
            differences.push_back(fmt::format(
                "{} {}: verdicts say {}, more than the engine counted ({})",
                fw::direction_name(d), what, from_verdicts, from_engine));
          }
        } else {
          check(d, what, from_verdicts, from_engine);
        }
      }
    }
  }
  return differences;
}

}  // namespace fwctl
