// The feed's wire format: FeedMessage <-> FeedEvent, and varint framing.
//
// Decoding has two paths that give the same FeedEvent (libfw/feed/codec.h):
// a plain reader for the change messages as encoders write them (each field
// once, one-byte tags, minimal varints, no unknown fields), which costs no
// allocation beyond the event's own strings, and protobuf's parser for
// everything else — upserts, any other valid encoding, and every error.
// tests/fuzz/fuzz_feed.cc checks that both agree on whatever the plain path
// accepts.
#include <array>
#include <climits>
#include <cstring>

#include <fmt/format.h>
#include <google/protobuf/arena.h>

#include "fw/feed.h"
#include "fw/v1/feed.pb.h"
#include "libfw/feed/codec.h"

namespace fw {
namespace {

StatusOr<IpAddress> decode_address(std::string_view bytes, std::string_view field) {
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

namespace feed_internal {
namespace {

// A reader of the plain encoding; every method returns false for anything
// else (the caller then lets protobuf decide).
class PlainReader {
 public:
  explicit PlainReader(std::string_view bytes) : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool done() const noexcept { return at_ == end_; }
  // A minimal varint of at most 64 bits.
  bool varint(std::uint64_t& value) noexcept {
    value = 0;
    for (int shift = 0; shift < 64 && at_ != end_; shift += 7) {
      const auto b = static_cast<std::uint8_t>(*at_++);
      if (shift == 63 && b > 1) return false;
      value |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return b != 0 || shift == 0;  // a trailing zero byte is not minimal
    }
    return false;
  }
  // A one-byte tag (fields 1-15): field number and wire type.
  bool tag(std::uint32_t& field, std::uint32_t& wire) noexcept {
    if (at_ == end_) return false;
    const auto b = static_cast<std::uint8_t>(*at_++);
    if ((b & 0x80) != 0 || (b >> 3) == 0) return false;
    field = b >> 3;
    wire = b & 7u;
    return true;
  }
  // A length-delimited field's bytes.
  bool bytes(std::string_view& out) noexcept {
    std::uint64_t n;
    if (!varint(n) || n > static_cast<std::uint64_t>(end_ - at_)) return false;
    out = std::string_view(at_, static_cast<std::size_t>(n));
    at_ += n;
    return true;
  }

 private:
  const char* at_;
  const char* end_;
};

constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kLength = 2;

// Reads a message of length-delimited fields numbered 1..N, each at most
// once, into fields[0..N).
template <std::size_t N>
bool plain_bytes_fields(std::string_view message, std::array<std::string_view, N>& fields) {
  PlainReader r(message);
  std::uint32_t seen = 0;
  while (!r.done()) {
    std::uint32_t field, wire;
    if (!r.tag(field, wire) || wire != kLength || field > N || (seen & (1u << field)) != 0) return false;
    seen |= 1u << field;
    if (!r.bytes(fields[field - 1])) return false;
  }
  return true;
}

void reset(FeedEvent& e) {
  e.revision = 0;
  e.kind = FeedEventKind::kSnapshotBegin;
  e.vm.id.clear();
  e.vm.name.clear();
  e.vm.os_name.clear();
  e.vm.computer_name.clear();
  e.vm.tags.clear();
  e.vm.vnics.clear();
  e.vm_id.clear();
  e.tag.scope.clear();
  e.tag.value.clear();
  e.vnic_id = 0;
  e.address = IpAddress{};
}

}  // namespace

bool decode_plain_change(std::string_view bytes, FeedEvent& out) {
  if (bytes.size() > kMaxFeedMessageBytes) return false;
  PlainReader r(bytes);
  std::uint64_t revision = 0;
  std::uint32_t body_field = 0;
  std::string_view body;
  bool have_revision = false;
  while (!r.done()) {
    std::uint32_t field, wire;
    if (!r.tag(field, wire)) return false;
    if (field == 1) {
      if (wire != kVarint || have_revision || !r.varint(revision)) return false;
      have_revision = true;
    } else if (field >= 2 && field <= 9) {
      if (wire != kLength || body_field != 0 || !r.bytes(body)) return false;
      body_field = field;
    } else {
      return false;
    }
  }
  if (revision == 0 || body_field == 0) return false;  // errors: protobuf's path words them
  reset(out);
  out.revision = revision;
  switch (body_field) {
    case 2:  // snapshot_begin
    case 9:  // snapshot_end
      if (!body.empty()) return false;
      out.kind = body_field == 2 ? FeedEventKind::kSnapshotBegin : FeedEventKind::kSnapshotEnd;
      return true;
    case 4: {  // vm_delete
      std::array<std::string_view, 1> f;
      if (!plain_bytes_fields(body, f)) return false;
      out.kind = FeedEventKind::kVmDelete;
      out.vm_id.assign(f[0]);
      return true;
    }
    case 5:    // tag_add
    case 6: {  // tag_remove
      std::array<std::string_view, 2> change;  // vm_id, tag
      std::array<std::string_view, 2> tag;     // scope, value
      if (!plain_bytes_fields(body, change) || !plain_bytes_fields(change[1], tag)) return false;
      out.kind = body_field == 5 ? FeedEventKind::kTagAdd : FeedEventKind::kTagRemove;
      out.vm_id.assign(change[0]);
      out.tag.scope.assign(tag[0]);
      out.tag.value.assign(tag[1]);
      return true;
    }
    case 7:    // address_add
    case 8: {  // address_remove
      PlainReader a(body);
      std::uint64_t vnic = 0;
      std::string_view address;
      std::uint32_t seen = 0;
      while (!a.done()) {
        std::uint32_t field, wire;
        if (!a.tag(field, wire) || field > 2 || (seen & (1u << field)) != 0) return false;
        seen |= 1u << field;
        if (field == 1 ? wire != kVarint || !a.varint(vnic) || vnic > UINT32_MAX
                       : wire != kLength || !a.bytes(address))
          return false;
      }
      if (address.size() != 4 && address.size() != 16) return false;
      out.kind = body_field == 7 ? FeedEventKind::kAddressAdd : FeedEventKind::kAddressRemove;
      out.vnic_id = static_cast<std::uint32_t>(vnic);
      out.address = decode_address(address, {}).value();
      return true;
    }
    default: return false;  // 3, vm_upsert: protobuf's path
  }
}

Status decode_with_protobuf(std::string_view bytes, FeedEvent& e) {
  if (bytes.size() > kMaxFeedMessageBytes)
    return invalid_argument(fmt::format("message of {} bytes; the limit is {}", bytes.size(), kMaxFeedMessageBytes));
  // The parsed message, its sub-messages and strings live in an arena whose
  // first block is on the stack (a large upsert spills into blocks the
  // arena frees).
  alignas(16) char first_block[2048];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block;
  arena_options.initial_block_size = sizeof first_block;
  google::protobuf::Arena arena(arena_options);
  v1::FeedMessage& m = *google::protobuf::Arena::CreateMessage<v1::FeedMessage>(&arena);
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalid_argument("not a fw.v1.FeedMessage (protobuf wire format)");
  reset(e);
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
  return Status::Ok();
}

Status decode_feed_message_into(std::string_view bytes, FeedEvent& out) {
  if (decode_plain_change(bytes, out)) return Status::Ok();
  return decode_with_protobuf(bytes, out);
}

}  // namespace feed_internal

StatusOr<FeedEvent> decode_feed_message(std::string_view bytes) {
  FeedEvent e;
  if (Status s = feed_internal::decode_feed_message_into(bytes, e); !s.ok()) return s;
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
