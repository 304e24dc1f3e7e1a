// The feed's wire format: FeedMessage <-> FeedEvent, and varint framing.
#include <climits>
#include <cstring>

#include <fmt/format.h>
#include <google/protobuf/arena.h>

#include "fw/feed.h"
#include "fw/v1/feed.pb.h"

namespace fw {
namespace {

StatusOr<IpAddress> decode_address(const std::string& bytes, const std::string& field) {
  if (bytes.size() == 4) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(bytes.data());
    return IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3]);
  }
  if (bytes.size() == 16) return IpAddress::v6(reinterpret_cast<const std::uint8_t*>(bytes.data()));
  return invalid_argument(fmt::format("{}: {} bytes; an address is 4 (IPv4) or 16 (IPv6)", field, bytes.size()));
}

std::string encode_address(const IpAddress& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()), a.is_v4() ? 4 : a.is_v6() ? 16 : 0);
}

Tag decode_tag(const v1::FeedTag& t) { return Tag{.scope = t.scope(), .value = t.value()}; }
void encode_tag(const Tag& t, v1::FeedTag* out) {
  out->set_scope(t.scope);
  out->set_value(t.value);
}

StatusOr<VmSpec> decode_vm(const v1::FeedVm& in) {
  VmSpec vm{.id = in.id(), .name = in.name(), .os_name = in.os_name(), .computer_name = in.computer_name()};
  for (const v1::FeedTag& t : in.tags()) vm.tags.push_back(decode_tag(t));
  for (int i = 0; i < in.vnics_size(); ++i) {
    const v1::FeedVnic& n = in.vnics(i);
    VnicSpec spec{.id = n.id()};
    if (!n.mac().empty()) {
      if (n.mac().size() != 6)
        return invalid_argument(fmt::format("vm_upsert.vnics[{}].mac: {} bytes; a MAC is 6", i, n.mac().size()));
      std::memcpy(spec.mac.bytes.data(), n.mac().data(), 6);
    }
    for (int k = 0; k < n.addresses_size(); ++k) {
      auto a = decode_address(n.addresses(k), fmt::format("vm_upsert.vnics[{}].addresses[{}]", i, k));
      if (!a.ok()) return a.status();
      spec.addresses.push_back(*a);
    }
    vm.vnics.push_back(std::move(spec));
  }
  return vm;
}

}  // namespace

std::string_view feed_event_kind_name(FeedEventKind kind) noexcept {
  switch (kind) {
    case FeedEventKind::kSnapshotBegin: return "snapshot_begin";
    case FeedEventKind::kVmUpsert: return "vm_upsert";
    case FeedEventKind::kVmDelete: return "vm_delete";
    case FeedEventKind::kTagAdd: return "tag_add";
    case FeedEventKind::kTagRemove: return "tag_remove";
    case FeedEventKind::kAddressAdd: return "address_add";
    case FeedEventKind::kAddressRemove: return "address_remove";
    case FeedEventKind::kSnapshotEnd: return "snapshot_end";
  }
  return "unknown";
}

std::string_view feed_state_name(FeedState state) noexcept {
  switch (state) {
    case FeedState::kWaitingForSnapshot: return "waiting_for_snapshot";
    case FeedState::kInSnapshot: return "in_snapshot";
    case FeedState::kInSync: return "in_sync";
  }
  return "unknown";
}

StatusOr<FeedEvent> decode_feed_message(std::string_view bytes) {
  if (bytes.size() > kMaxFeedMessageBytes)
    return invalid_argument(fmt::format("message of {} bytes; the limit is {}", bytes.size(), kMaxFeedMessageBytes));
  // The parsed message, its sub-messages and strings live in an arena whose
  // first block is on the stack: a change message costs no heap allocation
  // to parse (a large upsert spills into blocks the arena frees).
  alignas(16) char first_block[2048];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block;
  arena_options.initial_block_size = sizeof first_block;
  google::protobuf::Arena arena(arena_options);
  v1::FeedMessage& m = *google::protobuf::Arena::CreateMessage<v1::FeedMessage>(&arena);
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalid_argument("not a fw.v1.FeedMessage (protobuf wire format)");
  FeedEvent e;
  e.revision = m.revision();
  if (e.revision == 0) return invalid_argument("revision: 0; revisions start at 1");
  switch (m.body_case()) {
    case v1::FeedMessage::kSnapshotBegin: e.kind = FeedEventKind::kSnapshotBegin; break;
    case v1::FeedMessage::kSnapshotEnd: e.kind = FeedEventKind::kSnapshotEnd; break;
    case v1::FeedMessage::kVmUpsert: {
      e.kind = FeedEventKind::kVmUpsert;
      auto vm = decode_vm(m.vm_upsert());
      if (!vm.ok()) return vm.status();
      e.vm = std::move(*vm);
      break;
    }
    case v1::FeedMessage::kVmDelete:
      e.kind = FeedEventKind::kVmDelete;
      e.vm_id = m.vm_delete().vm_id();
      break;
    case v1::FeedMessage::kTagAdd:
    case v1::FeedMessage::kTagRemove: {
      const bool add = m.body_case() == v1::FeedMessage::kTagAdd;
      const v1::TagChange& t = add ? m.tag_add() : m.tag_remove();
      e.kind = add ? FeedEventKind::kTagAdd : FeedEventKind::kTagRemove;
      e.vm_id = t.vm_id();
      e.tag = decode_tag(t.tag());
      break;
    }
    case v1::FeedMessage::kAddressAdd:
    case v1::FeedMessage::kAddressRemove: {
      const bool add = m.body_case() == v1::FeedMessage::kAddressAdd;
      const v1::AddressChange& a = add ? m.address_add() : m.address_remove();
      e.kind = add ? FeedEventKind::kAddressAdd : FeedEventKind::kAddressRemove;
      e.vnic_id = a.vnic_id();
      auto address = decode_address(a.address(), add ? "address_add.address" : "address_remove.address");
      if (!address.ok()) return address.status();
      e.address = *address;
      break;
    }
    case v1::FeedMessage::BODY_NOT_SET:
      return invalid_argument("body: none of snapshot_begin, vm_upsert, vm_delete, tag_add, tag_remove, "
                              "address_add, address_remove, snapshot_end is set");
  }
  return e;
}

std::string encode_feed_message(const FeedEvent& e) {
  v1::FeedMessage m;
  m.set_revision(e.revision);
  switch (e.kind) {
    case FeedEventKind::kSnapshotBegin: m.mutable_snapshot_begin(); break;
    case FeedEventKind::kSnapshotEnd: m.mutable_snapshot_end(); break;
    case FeedEventKind::kVmUpsert: {
      v1::FeedVm* vm = m.mutable_vm_upsert();
      vm->set_id(e.vm.id);
      vm->set_name(e.vm.name);
      vm->set_os_name(e.vm.os_name);
      vm->set_computer_name(e.vm.computer_name);
      for (const Tag& t : e.vm.tags) encode_tag(t, vm->add_tags());
      for (const VnicSpec& n : e.vm.vnics) {
        v1::FeedVnic* out = vm->add_vnics();
        out->set_id(n.id);
        if (n.mac != MacAddress{}) out->set_mac(std::string(reinterpret_cast<const char*>(n.mac.bytes.data()), 6));
        for (const IpAddress& a : n.addresses) out->add_addresses(encode_address(a));
      }
      break;
    }
    case FeedEventKind::kVmDelete: m.mutable_vm_delete()->set_vm_id(e.vm_id); break;
    case FeedEventKind::kTagAdd:
    case FeedEventKind::kTagRemove: {
      v1::TagChange* t = e.kind == FeedEventKind::kTagAdd ? m.mutable_tag_add() : m.mutable_tag_remove();
      t->set_vm_id(e.vm_id);
      encode_tag(e.tag, t->mutable_tag());
      break;
    }
    case FeedEventKind::kAddressAdd:
    case FeedEventKind::kAddressRemove: {
      v1::AddressChange* a = e.kind == FeedEventKind::kAddressAdd ? m.mutable_address_add() : m.mutable_address_remove();
      a->set_vnic_id(e.vnic_id);
      a->set_address(encode_address(e.address));
      break;
    }
  }
  return m.SerializeAsString();
}

std::string encode_feed_frame(const FeedEvent& event) {
  const std::string body = encode_feed_message(event);
  std::string out;
  std::uint64_t n = body.size();
  do {
    std::uint8_t b = n & 0x7f;
    n >>= 7;
    if (n) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n);
  return out + body;
}

void FeedFrameReader::append(std::string_view bytes) {
  // Drop what was consumed before growing, so the buffer holds at most one
  // partial message plus the new bytes.
  if (start_ > 0 && (start_ == buffer_.size() || start_ > buffer_.size() / 2)) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

StatusOr<std::optional<std::string>> FeedFrameReader::next() {
  std::uint64_t length = 0;
  std::size_t i = start_;
  for (int shift = 0;; shift += 7) {
    if (i == buffer_.size()) return std::optional<std::string>();
    if (shift >= 70) return invalid_argument("framing: a length prefix longer than 10 bytes");
    const auto b = static_cast<std::uint8_t>(buffer_[i++]);
    if (shift == 63 && b > 1) return invalid_argument("framing: a length prefix over 64 bits");
    length |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) break;
  }
  if (length > kMaxFeedMessageBytes)
    return invalid_argument(fmt::format("framing: a message of {} bytes; the limit is {}", length, kMaxFeedMessageBytes));
  if (buffer_.size() - i < length) return std::optional<std::string>();
  std::string body = buffer_.substr(i, static_cast<std::size_t>(length));
  start_ = i + static_cast<std::size_t>(length);
  return std::optional<std::string>(std::move(body));
}

}  // namespace fw
