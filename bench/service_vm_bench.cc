// Hyperscan scan throughput of the service-vm example (examples/service-vm),
// one thread, streaming mode, for 10, 100 and 1000 signatures:
//   fw_bench --benchmark_filter=ServiceVm
//
// BM_ServiceVm_HyperscanStream: hs_scan_stream over 64 interleaved TCP
//   streams (one Hyperscan stream per flow, 1448-byte segments, round-robin
//   across flows as a busy link delivers them), with a per-thread scratch
//   cloned from the database's prototype. bytes_per_second is the scan
//   throughput of one core (x8 for bit/s).
// BM_ServiceVm_ScannerFrames: the same payload as Ethernet/IPv4/TCP frames
//   through svm::Scanner::process (NSH off; parse, flow lookup, reassembly,
//   scan, verdict): the appliance's rate per core. bytes_per_second counts
//   TCP payload bytes.
//
// Payload mix per flow (deterministic, seeded): HTTP requests with
// browser-like headers, HTML and JSON bodies, and 40% incompressible bytes
// (TLS records, compressed files). Signatures: 60% content tokens (8-14
// random characters), 10% 6-byte binary contents, 15% regexes with literal
// parts (`token\d{2,6}[a-z]+token`), 10% header regexes
// (`(cookie|referer):\s*[^\r\n]{0,64}token`), 5% alert regexes on the
// User-Agent header, whose prefix occurs in every request. No block pattern
// occurs in the payload, so every byte is scanned (the "blocked" counter
// must stay 0).
#if FW_HAVE_SERVICE_VM_CORE

#include <benchmark/benchmark.h>
#include <hs/hs.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "examples/service-vm/scanner.h"
#include "examples/service-vm/signatures.h"
#include "support/packet_builder.h"

namespace svm::bench {
namespace {

constexpr std::size_t kFlows = 64;
constexpr std::size_t kBytesPerFlow = 64 * 1024;
constexpr std::size_t kSegment = 1448;

std::string token(std::mt19937_64& rng, std::size_t min, std::size_t max) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<std::size_t> length(min, max), pick(0, kAlphabet.size() - 1);
  std::string t;
  for (std::size_t i = length(rng); i > 0; --i) t += kAlphabet[pick(rng)];
  return t;
}

std::string signature_file(std::size_t count) {
  std::mt19937_64 rng(1234 + count);
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    std::string id = std::to_string(100000 + i);
    std::size_t kind = i % 20;
    if (kind < 12) {
      text += id + " block content \"" + token(rng, 8, 14) + "\" to-server\n";
    } else if (kind < 14) {
      std::string hex;
      for (int b = 0; b < 6; ++b) {
        char byte[4];
        std::snprintf(byte, sizeof byte, "%02x ", static_cast<unsigned>(rng() & 0xff));
        hex += byte;
      }
      hex.pop_back();
      text += id + " block content \"|" + hex + "|\" any\n";
    } else if (kind < 17) {
      text += id + " block regex /" + token(rng, 5, 7) + "\\d{2,6}[a-z]+" + token(rng, 4, 6) +
              "/i any\n";
    } else if (kind < 19) {
      text += id + " block regex /(cookie|referer):\\s*[^\\r\\n]{0,64}" + token(rng, 6, 9) +
              "/i to-server\n";
    } else {
      text += id + " alert regex /user-agent:\\s*[^\\r\\n]*" + token(rng, 6, 8) + "/i to-server\n";
    }
  }
  return text;
}

// One flow's bytes: requests, HTML/JSON bodies and binary records.
std::string flow_payload(std::mt19937_64& rng) {
  static const std::vector<std::string> kWords = {
      "the", "service", "policy", "network", "account", "order", "search", "product", "price",
      "customer", "report", "status", "update", "session", "window", "result", "value", "index",
      "content", "shipping", "delivery", "payment", "message", "security", "profile", "settings"};
  std::uniform_int_distribution<std::size_t> word(0, kWords.size() - 1), kind(0, 9);
  std::string out;
  while (out.size() < kBytesPerFlow) {
    std::size_t k = kind(rng);
    if (k < 2) {
      out += "GET /" + kWords[word(rng)] + "/" + kWords[word(rng)] + "?id=" +
             std::to_string(rng() % 100000) + "&q=" + kWords[word(rng)] +
             " HTTP/1.1\r\nHost: www." + kWords[word(rng)] +
             ".example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: text/html,application/"
             "xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
             "Referer: https://www.example/" + kWords[word(rng)] + "\r\nCookie: session=" +
             std::to_string(rng()) + "; theme=dark\r\nConnection: keep-alive\r\n\r\n";
    } else if (k < 4) {
      out += "<div class=\"" + kWords[word(rng)] + "\"><p>";
      for (int w = 0; w < 60; ++w) out += kWords[word(rng)] + (w % 12 == 11 ? ". " : " ");
      out += "</p><a href=\"/" + kWords[word(rng)] + "\">" + kWords[word(rng)] + "</a></div>\n";
    } else if (k < 6) {
      out += "{\"" + kWords[word(rng)] + "\":" + std::to_string(rng() % 1000000) + ",\"" +
             kWords[word(rng)] + "\":\"" + kWords[word(rng)] + " " + kWords[word(rng)] +
             "\",\"items\":[" + std::to_string(rng() % 100) + "," + std::to_string(rng() % 100) +
             "],\"ok\":true}\n";
    } else {
      for (int b = 0; b < 160; ++b) out += static_cast<char>(rng() & 0xff);
    }
  }
  out.resize(kBytesPerFlow);
  return out;
}

struct Workload {
  std::vector<std::string> flows;
  std::size_t total_bytes = 0;
};

const Workload& workload() {
  static const Workload w = [] {
    Workload w;
    std::mt19937_64 rng(42);
    for (std::size_t f = 0; f < kFlows; ++f) {
      w.flows.push_back(flow_payload(rng));
      w.total_bytes += w.flows.back().size();
    }
    return w;
  }();
  return w;
}

std::shared_ptr<const SignatureDatabase> database(std::size_t count, benchmark::State& state) {
  auto parsed = parse_signatures(signature_file(count), "bench");
  if (!parsed.ok()) {
    state.SkipWithError(parsed.status().to_string().c_str());
    return nullptr;
  }
  auto db = SignatureDatabase::compile(std::move(*parsed));
  if (!db.ok()) {
    state.SkipWithError(db.status().to_string().c_str());
    return nullptr;
  }
  return *db;
}

int count_match(unsigned int, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  ++*static_cast<std::uint64_t*>(ctx);
  return 0;
}

void BM_ServiceVm_HyperscanStream(benchmark::State& state) {
  auto db = database(static_cast<std::size_t>(state.range(0)), state);
  if (db == nullptr) return;
  ScratchPtr scratch = db->make_scratch();
  const Workload& w = workload();
  std::vector<hs_stream_t*> streams(kFlows, nullptr);
  std::uint64_t matches = 0;
  for (auto _ : state) {
    for (auto& s : streams) hs_open_stream(db->database(), 0, &s);
    for (std::size_t offset = 0; offset < kBytesPerFlow; offset += kSegment) {
      std::size_t length = std::min(kSegment, kBytesPerFlow - offset);
      for (std::size_t f = 0; f < kFlows; ++f) {
        hs_scan_stream(streams[f], w.flows[f].data() + offset, static_cast<unsigned>(length), 0,
                       scratch.get(), count_match, &matches);
      }
    }
    for (auto& s : streams) hs_close_stream(s, scratch.get(), count_match, &matches);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * w.total_bytes));
  state.counters["matches_per_pass"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
  state.counters["stream_state_bytes"] = static_cast<double>(db->stream_state_bytes());
}

void BM_ServiceVm_ScannerFrames(benchmark::State& state) {
  auto db = database(static_cast<std::size_t>(state.range(0)), state);
  if (db == nullptr) return;
  const Workload& w = workload();
  // SYN per flow, then the segments round-robin, then FIN from each side.
  std::vector<fw::test::Bytes> frames;
  auto client = [](std::size_t f) { return static_cast<std::uint16_t>(20000 + f); };
  for (std::size_t f = 0; f < kFlows; ++f) {
    frames.push_back(fw::test::PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2")
                         .tcp(client(f), 80, fw::kTcpSyn, {.seq = 0}).build());
  }
  for (std::size_t offset = 0; offset < kBytesPerFlow; offset += kSegment) {
    std::size_t length = std::min(kSegment, kBytesPerFlow - offset);
    for (std::size_t f = 0; f < kFlows; ++f) {
      frames.push_back(fw::test::PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2")
                           .tcp(client(f), 80, fw::kTcpAck,
                                {.seq = static_cast<std::uint32_t>(1 + offset), .ack = 1})
                           .payload(std::string_view(w.flows[f]).substr(offset, length))
                           .build());
    }
  }
  for (std::size_t f = 0; f < kFlows; ++f) {
    frames.push_back(fw::test::PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2")
                         .tcp(client(f), 80, fw::kTcpFin | fw::kTcpAck,
                              {.seq = static_cast<std::uint32_t>(1 + kBytesPerFlow), .ack = 1})
                         .build());
    frames.push_back(fw::test::PacketBuilder().eth().ipv4("10.0.0.2", "10.0.0.1")
                         .tcp(80, client(f), fw::kTcpFin | fw::kTcpAck, {.seq = 0, .ack = 1})
                         .build());
  }
  std::uint64_t flows_ended = 0;
  auto scanner = Scanner::create(db, {.measure_scan_time = false},
                                 [&flows_ended](const Flow&, FlowEnd) { ++flows_ended; });
  if (!scanner.ok()) {
    state.SkipWithError(scanner.status().to_string().c_str());
    return;
  }
  std::uint64_t now = 1;
  for (auto _ : state) {
    for (const auto& frame : frames) {
      FrameVerdict v = (*scanner)->process(frame, ++now);
      benchmark::DoNotOptimize(v);
    }
  }
  (*scanner)->finish();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * w.total_bytes));
  state.counters["blocked"] = static_cast<double>((*scanner)->stats().flows_blocked);
  state.counters["frames_per_pass"] = static_cast<double>(frames.size());
  if ((*scanner)->stats().bytes_scanned != state.iterations() * w.total_bytes)
    state.SkipWithError("not every payload byte was scanned");
}

BENCHMARK(BM_ServiceVm_HyperscanStream)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ServiceVm_ScannerFrames)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace svm::bench

#endif  // FW_HAVE_SERVICE_VM_CORE
