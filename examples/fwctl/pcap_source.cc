#include "examples/fwctl/pcap_source.h"

#include <pcap/pcap.h>

#include <fmt/core.h>

namespace fwctl {

fw::StatusOr<std::unique_ptr<PcapSource>> PcapSource::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
  if (handle == nullptr) {
    return fw::io_error(fmt::format("cannot read capture '{}': {}", path, errbuf));
  }
  std::unique_ptr<PcapSource> source(new PcapSource(handle));
  int link_type = pcap_datalink(handle);
  if (link_type != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link_type);
    return fw::invalid_argument(fmt::format(
        "capture '{}': link type {} ({}) is not supported; fwctl replays Ethernet "
        "captures only (DLT_EN10MB)",
        path, link_type, name != nullptr ? name : "unknown"));
  }
  return source;
}

PcapSource::~PcapSource() { pcap_close(handle_); }

PcapSource::Next PcapSource::next(CapturedFrame& frame) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == 1) {
    frame.bytes = {data, header->caplen};
    frame.original_length = header->len;
    frame.timestamp_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                         static_cast<std::uint64_t>(header->ts.tv_usec) * 1'000ull;
    return Next::kFrame;
  }
  if (rc == PCAP_ERROR_BREAK) return Next::kEnd;  // -2: end of the file
  error_ = pcap_geterr(handle_);
  return Next::kError;
}

}  // namespace fwctl
