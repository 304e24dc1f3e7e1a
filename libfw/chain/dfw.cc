// Slot 2, stateless: the compiled policy behind the Filter interface.
#include "fw/dfw.h"

#include <mutex>
#include <new>

#include "fw/chain.h"
#include "fw/engine.h"
#include "fw/filter.h"
#include "libfw/policy/compile.h"

namespace fw {
namespace {

using policy_compile::CompiledPolicy;

class DfwFilter final : public Filter {
 public:
  explicit DfwFilter(std::shared_ptr<CompiledPolicy> compiled) : compiled_(std::move(compiled)) {}

  std::string_view kind() const noexcept override { return "dfw"; }

  void process(const BurstContext& ctx, std::span<const std::uint16_t> active,
               std::span<Verdict> verdicts) const noexcept override {
    // Gather the IP packets (the rest are not the DFW's), decide them in one
    // burst for this vNIC and direction, then write their verdicts. Scratch
    // is on the stack (at most kMaxBurst packets reach a filter per call) and
    // deliberately uninitialised: LookupKey and Decision have member
    // initialisers, and value-initialising 256 of each zeroed ~24 KB per
    // call, which cost a one-packet burst ~250 ns. Only the first n entries
    // are written and read (both are implicit-lifetime types).
    alignas(classify::LookupKey) unsigned char key_bytes[sizeof(classify::LookupKey) * kMaxBurst];
    alignas(policy_compile::Decision) unsigned char decision_bytes[sizeof(policy_compile::Decision) * kMaxBurst];
    auto* keys = reinterpret_cast<classify::LookupKey*>(key_bytes);
    auto* decisions = reinterpret_cast<policy_compile::Decision*>(decision_bytes);
    std::uint16_t index[kMaxBurst];
    std::size_t n = 0;
    for (const std::uint16_t i : active) {
      const PacketView& v = ctx.packets[i];
      if (v.l3 != L3Kind::kIpv4 && v.l3 != L3Kind::kIpv6) continue;
      classify::LookupKey& key = *::new (&keys[n]) classify::LookupKey;
      key.src = v.src_ip;
      key.dst = v.dst_ip;
      key.protocol = v.protocol;
      // Without an L4 header (a non-first fragment) no port is known: 0
      // matches only rules that accept every port.
      key.src_port = v.has_l4 ? v.src_port : 0;
      key.dst_port = v.has_l4 ? v.dst_port : 0;
      index[n++] = i;
    }
    compiled_->decide_burst(ctx.vnic_id, ctx.direction, std::span(keys, n), std::span(decisions, n));
    for (std::size_t k = 0; k < n; ++k) {
      const policy_compile::Decision& d = decisions[k];
      Verdict& v = verdicts[index[k]];
      const DropReason reason = d.is_default ? DropReason::kDefaultRule : DropReason::kRule;
      switch (d.action) {
        case RuleAction::kDrop: decide(v, ctx, Action::kDrop, d.rule_id, reason); break;
        case RuleAction::kReject: decide(v, ctx, Action::kReject, d.rule_id, reason); break;
        default: decide(v, ctx, Action::kPass, d.rule_id); break;
      }
    }
  }

 private:
  std::shared_ptr<CompiledPolicy> compiled_;
};

}  // namespace

struct Dfw::Impl {
  explicit Impl(Engine& e) : engine(e) {}
  Engine& engine;
  std::mutex mutex;  // control calls
  std::shared_ptr<CompiledPolicy> current;
  std::map<std::uint32_t, std::vector<Cidr>> vnic_addresses;
  std::map<std::string, std::vector<Cidr>> group_addresses;  // survive re-apply
};

Dfw::Dfw(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Dfw::~Dfw() = default;

StatusOr<std::unique_ptr<Dfw>> Dfw::create(Engine& engine) {
  return std::unique_ptr<Dfw>(new Dfw(std::make_unique<Impl>(engine)));
}

void Dfw::set_vnic_addresses(std::uint32_t vnic_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  impl_->vnic_addresses[vnic_id] = std::move(addresses);
}

Status Dfw::apply(const Policy& policy, const std::vector<std::uint32_t>& vnic_ids) {
  std::lock_guard lock(impl_->mutex);
  for (std::uint32_t vnic : vnic_ids) {
    if (auto chain = impl_->engine.describe_chain(vnic); !chain.ok()) return chain.status();
  }
  // API-set addresses of groups the new policy no longer has are dropped.
  std::map<std::string, std::vector<Cidr>> groups;
  for (const Group& g : policy.groups) {
    if (auto it = impl_->group_addresses.find(g.id); it != impl_->group_addresses.end())
      groups.emplace(g.id, it->second);
  }
  policy_compile::CompileInput input{
      .policy = &policy, .vnics = vnic_ids, .vnic_addresses = impl_->vnic_addresses, .group_addresses = groups};
  auto compiled = policy_compile::compile(input);
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<CompiledPolicy> shared(std::move(*compiled));
  auto filter = std::make_shared<DfwFilter>(shared);
  for (std::uint32_t vnic : vnic_ids) {
    if (Status s = impl_->engine.set_filter(vnic, kSlotDfw, filter); !s.ok()) return s;
  }
  impl_->current = std::move(shared);
  impl_->group_addresses = std::move(groups);
  return Status::Ok();
}

Status Dfw::set_group_addresses(const std::string& group_id, std::vector<Cidr> addresses) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->current) return failed_precondition("no policy applied yet");
  if (Status s = impl_->current->set_group_addresses(group_id, addresses); !s.ok()) return s;
  impl_->group_addresses[group_id] = std::move(addresses);
  return Status::Ok();
}

}  // namespace fw
