// fw/config.h — a vNIC chain configuration read from a file.
//
// The file is Protobuf text format, message fw.v1.ChainConfig
// (libfw/proto/fw/v1/chain.proto). Example:
//
//   l2_acl {
//     rules { id: 10 ethertype: 0x0800 action: ALLOW name: "ipv4" }
//     rules { id: 11 ethertype: 0x86dd action: ALLOW }
//     rules { id: 12 ethertype: 0x0806 action: ALLOW }
//     default_action: DROP
//   }
//
// Thread-safety: the parse/load functions are reentrant; apply_chain_config
// is a control-plane call (see fw/engine.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fw/l2_acl.h"
#include "fw/status.h"

namespace fw {

class Engine;

struct ChainConfig {
  std::optional<L2AclConfig> l2_acl;  // slot 0
};

// Errors carry the line/column (syntax) or the rule id and field (validation).
StatusOr<ChainConfig> parse_chain_config(std::string_view text);
StatusOr<ChainConfig> load_chain_config(const std::string& path);

// Makes the slots a ChainConfig manages (today: slot 0) match `config`:
// builds the configured filters and installs them on `vnic_id`, and clears a
// managed slot the config leaves out. Slots it does not manage are left
// alone. On error nothing changes and the previous chain stays in force.
Status apply_chain_config(Engine& engine, std::uint32_t vnic_id, const ChainConfig& config);

}  // namespace fw
