# Fuzz target "conntrack" (fuzz_conntrack: packet sequences through the
# connection table and the reject builder; seeds: each capture of
# tests/data/pcap as one sequence, in the input format fuzz_conntrack.cc
# describes), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=8192
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== conntrack: seed sequences from tests/data/pcap"
  /usr/bin/python3 "$root/tests/fuzz/pcap_frames.py" sequences "$root/tests/data/pcap" "$1"
}
