#include "bench/classbench/libfw_classifier.h"

#include <fmt/format.h>

#include <map>
#include <vector>

#include "bench/classbench/heap.h"
#include "libfw/classify/address_class_map.h"
#include "libfw/classify/rule_index.h"

namespace classbench {
namespace {

using fw::classify::AtomId;

class LibfwClassifier final : public Classifier {
 public:
  std::string_view name() const noexcept override { return "classifier"; }

  fw::Status build(std::span<const Rule> rules) override {
    index_.reset();
    map_.reset();
    const std::size_t heap_before = heap_in_use();
    build_index(rules);
    // After build_index() returned, its temporaries are freed: what is left
    // is what the map and the index hold.
    heap_bytes_ = heap_in_use() - heap_before;
    keys_.reserve(256);
    positions_.reserve(256);
    return fw::Status::Ok();
  }

  // The heap the map and index hold (as rte_acl's memory is its heap growth)
  // plus the map's node chunks (mapped outside the heap); their own
  // accounting (memory_bytes(), stats()) is in details(). Under a sanitizer,
  // where the heap cannot be read: that accounting.
  std::size_t memory_bytes() const noexcept override {
    if (heap_readable()) return heap_bytes_ + map_->off_heap_bytes();
    return map_->memory_bytes() + index_->stats().memory_bytes;
  }

  void classify(std::span<const Header> burst, std::span<std::int32_t> out) override {
    keys_.resize(burst.size());
    positions_.resize(burst.size());
    for (std::size_t i = 0; i < burst.size(); ++i) {
      fw::classify::LookupKey& k = keys_[i];
      k.src.set_v4(burst[i].src);
      k.dst.set_v4(burst[i].dst);
      k.protocol = burst[i].proto;
      k.src_port = burst[i].sport;
      k.dst_port = burst[i].dport;
    }
    index_->classify(*map_, keys_, positions_);
    for (std::size_t i = 0; i < burst.size(); ++i)
      out[i] = positions_[i] == fw::classify::kNoMatch ? kNoMatch : static_cast<std::int32_t>(positions_[i]);
  }

  std::string details() const override {
    const auto& s = index_->stats();
    std::string text =
        fmt::format("classes={} src-indexed={} dst-indexed={} wide={} longest-list={} blocks={} map={:.1f}MiB index={:.1f}MiB",
                    map_->class_count(), s.indexed_src, s.indexed_dst, s.wide, s.longest_list, s.blocks,
                    map_->memory_bytes() / 1048576.0, s.memory_bytes / 1048576.0);
    if (heap_readable()) text += fmt::format(" (their own accounting; the heap they hold: {:.1f}MiB)", heap_bytes_ / 1048576.0);
    return text;
  }

 private:
  // ClassBench prefixes as atoms, rules as RuleSpecs, then the index.
  void build_index(std::span<const Rule> rules) {
    map_ = std::make_unique<fw::classify::AddressClassMap>();
    // Every distinct (address, length) on either side is one atom; /0 is
    // "any" and needs none.
    std::map<std::pair<std::uint32_t, std::uint8_t>, AtomId> atom_of;
    std::vector<fw::classify::AtomInfo> infos;
    std::vector<fw::classify::AddressClassMap::AtomBlock> blocks;
    auto atom = [&](const Prefix& p) {
      auto [it, added] = atom_of.try_emplace({p.addr, p.len}, static_cast<AtomId>(infos.size()));
      if (added) {
        infos.push_back({fw::IpFamily::kIpv4, static_cast<std::uint8_t>(32 - p.len)});
        // Added below in one add_all(): widest first, as the policy compiler does.
        const std::uint32_t host = p.len == 0 ? ~0u : (p.len >= 32 ? 0u : (~0u >> p.len));
        blocks.push_back({it->second, fw::IpRange{fw::IpAddress::v4(p.addr & ~host), fw::IpAddress::v4(p.addr | host)}});
      }
      return it->second;
    };
    auto side = [&](const Prefix& p) {
      fw::classify::SideSpec s;
      if (p.len == 0) return s;
      s.atoms = {atom(p)};
      s.single_v4_cidr = fw::Cidr{fw::IpAddress::v4(p.addr), p.len};
      return s;
    };
    std::vector<fw::classify::RuleSpec> specs(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const Rule& r = rules[i];
      specs[i].src = side(r.src);
      specs[i].dst = side(r.dst);
      const bool any_ports = r.sport == PortRange{} && r.dport == PortRange{};
      if (r.proto_mask != 0 || !any_ports) {
        fw::classify::ServiceSpec s;
        if (r.proto_mask != 0) s.protocol = r.proto;
        s.src_first = r.sport.lo;
        s.src_last = r.sport.hi;
        s.dst_first = r.dport.lo;
        s.dst_last = r.dport.hi;
        specs[i].services = {s};
      }
    }
    map_->add_all(blocks);
    index_ = std::make_unique<fw::classify::RuleIndex>(specs, infos, *map_);
  }

  std::unique_ptr<fw::classify::AddressClassMap> map_;
  std::unique_ptr<fw::classify::RuleIndex> index_;
  std::size_t heap_bytes_ = 0;
  std::vector<fw::classify::LookupKey> keys_;
  std::vector<std::uint32_t> positions_;
};

}  // namespace

std::unique_ptr<Classifier> make_libfw_classifier() { return std::make_unique<LibfwClassifier>(); }

}  // namespace classbench
