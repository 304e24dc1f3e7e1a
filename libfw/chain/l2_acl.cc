// Slot 0 L2 ACL: rules compiled to two 64-bit value/mask words.
//
// Packet key layout (both words built once per packet):
//   word 0: src MAC (48 bits) << 16 | EtherType (16 bits)
//   word 1: dst MAC (48 bits) << 16 | tagged (1) << 15 | to-vm (1) << 14 | VID (12)
// A rule matches when ((key ^ value) & mask) == 0 in both words, so "any" is
// a zero mask and a rule test is branch-free.
#include "fw/l2_acl.h"

#include <fmt/format.h>

#include <set>

#include "fw/engine.h"
#include "libfw/core/counter.h"

namespace fw {
namespace {

constexpr std::uint64_t kTaggedBit = 1ULL << 15;
constexpr std::uint64_t kToVmBit = 1ULL << 14;
constexpr std::uint64_t kVidMask = 0x0fff;

// Eight counters to a cache line, so rows of different workers never share one.
struct alignas(internal::kCacheLine) CounterLine {
  static constexpr std::size_t kPerLine = internal::kCacheLine / sizeof(internal::SingleWriterCounter);
  internal::SingleWriterCounter c[kPerLine];
};

struct PackedRule {
  std::uint64_t value[2];
  std::uint64_t mask[2];
};

// A priority-tagged frame (802.1Q tag with VID 0) belongs to no VLAN, as in
// IEEE 802.1Q, so it matches `vlan: 0` (untagged) rules.
inline void packet_key(const PacketView& p, Direction dir, std::uint64_t key[2]) noexcept {
  const std::uint64_t vid = p.vlan_count > 0 ? p.vlans[0].vid() : 0;
  key[0] = (p.src_mac.to_u64() << 16) | p.ethertype;
  key[1] = (p.dst_mac.to_u64() << 16) | (vid != 0 ? kTaggedBit : 0) |
           (dir == Direction::kToVm ? kToVmBit : 0) | vid;
}

}  // namespace

struct L2AclFilter::Impl {
  L2AclConfig config;
  std::vector<PackedRule> rules;
  std::vector<std::uint32_t> rule_ids;   // parallel to rules
  std::vector<std::uint8_t> rule_drops;  // parallel to rules (bytes, not vector<bool>'s bit proxies)
  bool default_drops = false;
  std::uint32_t max_workers = 1;
  // Per-worker hit counters: one row of `lines_per_worker` cache lines per
  // worker; column rules.size() is the default rule.
  std::size_t lines_per_worker = 0;
  std::unique_ptr<CounterLine[]> hits;

  internal::SingleWriterCounter& hit(std::uint32_t worker, std::size_t rule) const noexcept {
    return hits[worker * lines_per_worker + rule / CounterLine::kPerLine].c[rule % CounterLine::kPerLine];
  }
};

L2AclFilter::L2AclFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
L2AclFilter::~L2AclFilter() = default;

const L2AclConfig& L2AclFilter::config() const noexcept { return impl_->config; }

std::vector<RuleHits> L2AclFilter::rule_hits() const {
  const std::size_t n = impl_->rules.size() + 1;
  std::vector<RuleHits> out(n);
  for (std::size_t r = 0; r < n; ++r) {
    out[r].rule_id = r < impl_->rules.size() ? impl_->rule_ids[r] : impl_->config.default_rule_id;
    for (std::uint32_t w = 0; w < impl_->max_workers; ++w)
      out[r].packets += impl_->hit(w, r).get();
  }
  return out;
}

void L2AclFilter::process(const BurstContext& ctx, std::span<const std::uint16_t> active,
                          std::span<Verdict> verdicts) const noexcept {
  const Impl& im = *impl_;
  const PackedRule* rules = im.rules.data();
  const std::size_t nrules = im.rules.size();
  // A filter built for fewer workers than the engine has shares the last
  // row; counts may then be lost to races but never corrupt memory.
  const std::uint32_t row = std::min(ctx.worker_index, im.max_workers - 1);

  for (const std::uint16_t i : active) {
    std::uint64_t key[2];
    packet_key(ctx.packets[i], ctx.direction, key);
    std::size_t r = 0;
    for (; r < nrules; ++r) {
      const PackedRule& rule = rules[r];
      if ((((key[0] ^ rule.value[0]) & rule.mask[0]) | ((key[1] ^ rule.value[1]) & rule.mask[1])) == 0)
        break;
    }
    im.hit(row, r).add(1);
    if (r < nrules) {
      decide(verdicts[i], ctx, im.rule_drops[r] ? Action::kDrop : Action::kPass, im.rule_ids[r],
             im.rule_drops[r] ? DropReason::kRule : DropReason::kNone);
    } else {
      decide(verdicts[i], ctx, im.default_drops ? Action::kDrop : Action::kPass,
             im.config.default_rule_id, im.default_drops ? DropReason::kDefaultRule : DropReason::kNone);
    }
  }
}

StatusOr<std::shared_ptr<const L2AclFilter>> make_l2_acl(const L2AclConfig& config,
                                                         std::uint32_t max_workers) {
  if (max_workers == 0) return invalid_argument("max_workers: must be at least 1");
  if (config.default_rule_id == kNoRule)
    return invalid_argument("default_rule_id: 0 is reserved (means no rule)");
  auto impl = std::make_unique<L2AclFilter::Impl>();
  std::set<std::uint32_t> ids;
  for (const L2AclRule& rule : config.rules) {
    const std::string where = fmt::format("rule {}", rule.id);
    if (rule.id == kNoRule) return invalid_argument("rule id: 0 is reserved (rule '" + rule.name + "')");
    if (rule.id == config.default_rule_id)
      return invalid_argument(where + ": id: collides with default_rule_id");
    if (!ids.insert(rule.id).second) return invalid_argument(where + ": id: duplicate rule id");
    if (rule.vlan && *rule.vlan > 4094)
      return invalid_argument(
          fmt::format("{}: vlan: {} is not a VLAN id (0 = untagged, 1-4094)", where, *rule.vlan));
    PackedRule packed{};
    auto add_mac = [&](const std::optional<MacMatch>& m, int word, const char* field) -> Status {
      if (!m) return Status::Ok();
      const std::uint64_t addr = m->address.to_u64(), mask = m->mask.to_u64();
      if (addr & ~mask)
        return invalid_argument(fmt::format("{}: {}: address {} has bits outside mask {}", where,
                                            field, m->address.to_string(), m->mask.to_string()));
      packed.value[word] |= addr << 16;
      packed.mask[word] |= mask << 16;
      return Status::Ok();
    };
    if (Status s = add_mac(rule.src_mac, 0, "src_mac"); !s.ok()) return s;
    if (Status s = add_mac(rule.dst_mac, 1, "dst_mac"); !s.ok()) return s;
    if (rule.ethertype) {
      packed.value[0] |= *rule.ethertype;
      packed.mask[0] |= 0xffff;
    }
    if (rule.vlan) {
      packed.mask[1] |= kTaggedBit;
      if (*rule.vlan != 0) {
        packed.value[1] |= kTaggedBit | *rule.vlan;
        packed.mask[1] |= kVidMask;
      }
    }
    if (rule.direction != DirectionMatch::kAny) {
      packed.mask[1] |= kToVmBit;
      if (rule.direction == DirectionMatch::kToVm) packed.value[1] |= kToVmBit;
    }
    impl->rules.push_back(packed);
    impl->rule_ids.push_back(rule.id);
    impl->rule_drops.push_back(rule.action == L2Action::kDrop);
  }
  impl->config = config;
  impl->default_drops = config.default_action == L2Action::kDrop;
  impl->max_workers = max_workers;
  impl->lines_per_worker = (impl->rules.size() + 1 + CounterLine::kPerLine - 1) / CounterLine::kPerLine;
  impl->hits = std::make_unique<CounterLine[]>(impl->lines_per_worker * max_workers);
  return std::shared_ptr<const L2AclFilter>(std::make_shared<L2AclFilter>(std::move(impl)));
}

StatusOr<std::shared_ptr<const L2AclFilter>> make_l2_acl(const L2AclConfig& config,
                                                         const Engine& engine) {
  return make_l2_acl(config, engine.options().max_workers);
}

}  // namespace fw
