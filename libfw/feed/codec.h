// libfw/feed/codec.h — internal: the two paths of the feed decoder
// (libfw/feed/codec.cc), for the consumer and the fuzz target.
//
// decode_feed_message_into() is decode_feed_message() into an event the
// caller reuses (its strings keep their capacity): the plain path when it
// takes the message, else protobuf's. Both give the same event for any
// message the plain path takes; tests/fuzz/fuzz_feed.cc checks it.
//
// Thread-safety: reentrant.
#pragma once

#include <string_view>

#include "fw/feed.h"
#include "fw/status.h"

namespace fw::feed_internal {

// What decode_feed_message() returns, into `out` (unspecified on an error).
[[nodiscard]] Status decode_feed_message_into(std::string_view bytes, FeedEvent& out);

// The plain path alone: true when `bytes` is a valid snapshot_begin,
// snapshot_end, vm_delete, tag_add, tag_remove, address_add or
// address_remove in the encoding protobuf writes (each field at most once,
// one-byte tags, minimal varints, no unknown fields); `out` is then what
// protobuf's path gives. False for anything else (`out` unspecified).
bool decode_plain_change(std::string_view bytes, FeedEvent& out);

// Protobuf's path alone: any message, every error.
[[nodiscard]] Status decode_with_protobuf(std::string_view bytes, FeedEvent& out);

}  // namespace fw::feed_internal
