// Chain configuration files: Protobuf text format -> ChainConfig -> filters.
#include "fw/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "fw/engine.h"
#include "fw/v1/chain.pb.h"

namespace fw {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = fmt::format("line {}, column {}: {}", line + 1, column + 1, message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// "aa:bb:cc:dd:ee:ff" or "aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00".
StatusOr<std::optional<MacMatch>> parse_mac_match(const std::string& text, std::uint32_t rule_id,
                                                  const char* field) {
  if (text.empty()) return std::optional<MacMatch>();
  MacMatch m;
  const auto slash = text.find('/');
  auto addr = parse_mac(std::string_view(text).substr(0, slash));
  if (!addr.ok()) return invalid_argument(fmt::format("rule {}: {}: {}", rule_id, field, addr.status().message()));
  m.address = *addr;
  if (slash != std::string::npos) {
    auto mask = parse_mac(std::string_view(text).substr(slash + 1));
    if (!mask.ok())
      return invalid_argument(fmt::format("rule {}: {}: mask: {}", rule_id, field, mask.status().message()));
    m.mask = *mask;
  }
  return std::optional<MacMatch>(m);
}

StatusOr<L2AclConfig> from_proto(const v1::L2AclConfig& pb) {
  L2AclConfig out;
  out.default_action = pb.default_action() == v1::DROP ? L2Action::kDrop : L2Action::kAllow;
  if (pb.has_default_rule_id()) out.default_rule_id = pb.default_rule_id();
  for (const v1::L2AclRule& r : pb.rules()) {
    L2AclRule rule;
    rule.id = r.id();
    rule.name = r.name();
    auto src = parse_mac_match(r.src_mac(), r.id(), "src_mac");
    if (!src.ok()) return src.status();
    rule.src_mac = *src;
    auto dst = parse_mac_match(r.dst_mac(), r.id(), "dst_mac");
    if (!dst.ok()) return dst.status();
    rule.dst_mac = *dst;
    if (r.has_ethertype()) {
      if (r.ethertype() > 0xffff)
        return invalid_argument(fmt::format("rule {}: ethertype: {:#x} is wider than 16 bits", r.id(), r.ethertype()));
      rule.ethertype = static_cast<std::uint16_t>(r.ethertype());
    }
    if (r.has_vlan()) {
      if (r.vlan() > 4094)
        return invalid_argument(fmt::format("rule {}: vlan: {} is not a VLAN id (0 = untagged, 1-4094)", r.id(), r.vlan()));
      rule.vlan = static_cast<std::uint16_t>(r.vlan());
    }
    switch (r.direction()) {
      case v1::FROM_VM: rule.direction = DirectionMatch::kFromVm; break;
      case v1::TO_VM: rule.direction = DirectionMatch::kToVm; break;
      default: rule.direction = DirectionMatch::kAny; break;
    }
    rule.action = r.action() == v1::DROP ? L2Action::kDrop : L2Action::kAllow;
    out.rules.push_back(std::move(rule));
  }
  // Validate now so a file error is reported at load time, not at apply.
  auto compiled = make_l2_acl(out, 1);
  if (!compiled.ok()) return compiled.status();
  return out;
}

template <typename Message>
Status parse_text(std::string_view text, Message& msg) {
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &msg))
    return invalid_argument(errors.first().empty() ? "unparseable text" : errors.first());
  return Status::Ok();
}

StatusOr<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return io_error(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path + ": read error");
  return ss.str();
}

}  // namespace

StatusOr<L2AclConfig> parse_l2_acl_config(std::string_view text) {
  v1::L2AclConfig pb;
  if (Status s = parse_text(text, pb); !s.ok()) return s;
  return from_proto(pb);
}

StatusOr<L2AclConfig> load_l2_acl_config(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto cfg = parse_l2_acl_config(*text);
  if (!cfg.ok()) return Status(cfg.status().code(), path + ": " + cfg.status().message());
  return cfg;
}

StatusOr<ChainConfig> parse_chain_config(std::string_view text) {
  v1::ChainConfig pb;
  if (Status s = parse_text(text, pb); !s.ok()) return s;
  ChainConfig out;
  if (pb.has_l2_acl()) {
    auto acl = from_proto(pb.l2_acl());
    if (!acl.ok()) return Status(acl.status().code(), "l2_acl: " + acl.status().message());
    out.l2_acl = std::move(*acl);
  }
  return out;
}

StatusOr<ChainConfig> load_chain_config(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto cfg = parse_chain_config(*text);
  if (!cfg.ok()) return Status(cfg.status().code(), path + ": " + cfg.status().message());
  return cfg;
}

Status apply_chain_config(Engine& engine, std::uint32_t vnic_id, const ChainConfig& config) {
  // Build everything first so a failure installs nothing.
  std::shared_ptr<const L2AclFilter> acl;
  if (config.l2_acl) {
    auto built = make_l2_acl(*config.l2_acl, engine);
    if (!built.ok()) return built.status();
    acl = std::move(*built);
  }
  // Declarative: a slot the configuration manages but leaves out is cleared.
  return engine.set_filter(vnic_id, kSlotL2Acl, std::move(acl));
}

}  // namespace fw
