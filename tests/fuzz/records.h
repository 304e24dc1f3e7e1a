// The record format of the packet-sequence fuzz targets (fuzz_conntrack,
// fuzz_chain): after the input's first byte (the target's set-up), records
//   [flags][length: 2 bytes, big endian][frame: length bytes]
// where a record that runs past the end of the input takes what is left.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fw::fuzz {

// Calls fn(flags, frame) for each record of data[1..size).
template <typename Fn>
void for_each_record(const std::uint8_t* data, std::size_t size, Fn&& fn) {
  std::size_t at = 1;
  while (at + 3 <= size) {
    const std::uint8_t flags = data[at];
    const std::size_t length = (std::size_t{data[at + 1]} << 8) | data[at + 2];
    at += 3;
    const std::size_t take = std::min(length, size - at);
    fn(flags, std::span<const std::uint8_t>(data + at, take));
    at += take;
  }
}

}  // namespace fw::fuzz
