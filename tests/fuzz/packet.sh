# Fuzz target "packet" (fuzz_packet: parse_frame(); seeds: every frame of
# tests/data/pcap, one file per frame), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=2048
fuzz_timeout=1200

fuzz_seed() {  # fuzz_seed DIR
  echo "== packet: seed corpus from tests/data/pcap"
  /usr/bin/python3 "$root/tests/fuzz/pcap_frames.py" frames "$root/tests/data/pcap" "$1"
}
