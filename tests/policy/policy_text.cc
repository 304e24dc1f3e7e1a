#include "policy/policy_text.h"

#include <sstream>
#include <string>
#include <vector>

namespace fw::test {
namespace {

template <typename T, typename F>
std::string list(const std::vector<T>& values, F to_text) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + to_text(values[i]);
  return out + "]";
}

std::string str(const std::string& s) { return "\"" + s + "\""; }
std::string num(std::uint32_t v) { return std::to_string(v); }
std::string cidr(const Cidr& c) { return c.address.to_string() + "/" + std::to_string(c.prefix_length); }
std::string range(const IpRange& r) { return r.first.to_string() + "-" + r.last.to_string(); }
std::string ports(const PortRange& p) { return std::to_string(p.first) + "-" + std::to_string(p.last); }
std::string opt(const std::optional<std::uint8_t>& v) { return v ? std::to_string(*v) : "any"; }

std::string entry(const ServiceEntry& e) {
  return "{protocol=" + opt(e.protocol) + " src=" + list(e.src_ports, ports) + " dst=" + list(e.dst_ports, ports) +
         " icmp_type=" + opt(e.icmp_type) + " icmp_code=" + opt(e.icmp_code) + "}";
}

std::string side(const AddressSide& s) {
  return "{groups=" + list(s.groups, str) + " cidrs=" + list(s.cidrs, cidr) + " ranges=" + list(s.ranges, range) +
         " vnics=" + list(s.vnic_ids, num) + (s.negate ? " negate" : "") + "}";
}

std::string criterion(const Criterion& c) {
  return "{key=" + std::to_string(static_cast<int>(c.key)) + " op=" + std::to_string(static_cast<int>(c.op)) +
         " scope=" + str(c.scope) + " values=" + list(c.values, str) + "}";
}

}  // namespace

std::string describe(const Policy& policy) {
  std::ostringstream out;
  for (const Service& s : policy.services)
    out << "service " << str(s.id) << " name=" << str(s.name) << " entries=" << list(s.entries, entry) << "\n";
  for (const Group& g : policy.groups) {
    out << "group " << str(g.id) << " name=" << str(g.name) << " cidrs=" << list(g.cidrs, cidr)
        << " ranges=" << list(g.ranges, range) << " vnics=" << list(g.vnic_ids, num)
        << " vms=" << list(g.vm_ids, str) << " groups=" << list(g.groups, str) << " criteria=[";
    for (const CriteriaExpression& e : g.criteria) out << "all_of" << list(e.all_of, criterion);
    out << "] exclude_cidrs=" << list(g.exclude_cidrs, cidr) << " exclude_vms=" << list(g.exclude_vm_ids, str)
        << "\n";
  }
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    for (const Section& s : policy.categories[c]) {
      out << category_name(static_cast<Category>(c)) << " section " << str(s.id) << " name=" << str(s.name)
          << (s.stateless ? " stateless" : "") << "\n";
      for (const Rule& r : s.rules) {
        out << "  rule " << r.id << " name=" << str(r.name) << " src=" << side(r.sources)
            << " dst=" << side(r.destinations) << " services=" << list(r.services, str)
            << " inline=" << list(r.inline_services, entry) << " applied_to=" << list(r.applied_to_groups, str)
            << list(r.applied_to_vnics, num) << " direction=" << static_cast<int>(r.direction)
            << " action=" << static_cast<int>(r.action) << (r.logged ? " logged" : "") << " tag=" << str(r.tag)
            << (r.disabled ? " disabled" : "") << "\n";
      }
    }
  }
  out << "default action=" << static_cast<int>(policy.default_action) << " id=" << policy.default_rule_id
      << (policy.default_logged ? " logged" : "") << " tag=" << str(policy.default_tag) << " revalidation=" << static_cast<int>(policy.revalidation) << (policy.tcp_strict ? " tcp_strict" : "")
      << "\n";
  return out.str();
}

}  // namespace fw::test
