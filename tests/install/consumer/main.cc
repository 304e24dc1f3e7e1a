// A program embedding libfw from an installed tree: one vNIC, an L2 ACL that
// drops non-IP traffic, one burst of two frames.
#include <fw/config.h>
#include <fw/engine.h>

#include <cstdio>
#include <vector>

int main() {
  auto engine = fw::Engine::create({.max_workers = 1});
  if (!engine.ok()) return 1;
  auto& e = **engine;
  if (!e.attach_vnic({.id = 1, .mac = fw::MacAddress::from_u64(0x020000000001)}).ok()) return 2;
  auto cfg = fw::parse_chain_config(
      "l2_acl { rules { id: 1 ethertype: 0x0800 } default_action: DROP }");
  if (!cfg.ok() || !fw::apply_chain_config(e, 1, *cfg).ok()) return 3;
  auto worker = e.create_worker();
  if (!worker.ok()) return 4;

  std::vector<std::uint8_t> ipv4 = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                                    0x45, 0, 0, 20, 0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  std::vector<std::uint8_t> lldp = {1, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc, 0, 0};
  ipv4.resize(60);
  lldp.resize(60);
  fw::Frame frames[] = {ipv4, lldp};
  fw::Verdict verdicts[2];
  e.process(**worker, 1, fw::Direction::kFromVm, frames, verdicts);
  std::printf("ipv4: %s, lldp: %s\n", std::string(fw::action_name(verdicts[0].action)).c_str(),
              std::string(fw::action_name(verdicts[1].action)).c_str());
  return verdicts[0].action == fw::Action::kPass && verdicts[1].action == fw::Action::kDrop ? 0 : 5;
}
