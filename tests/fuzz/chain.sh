# Fuzz target "chain" (fuzz_chain: frame sequences through the Engine and
# the stateful DFW slot; seeds: each capture of tests/data/pcap as three
# sequences (as captured; a policy switch half-way; policy switches, a
# second vNIC and a moving clock) in the input format fuzz_chain.cc
# describes, frames from the capture's first sender from the VM, the others
# to it), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=8192
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== chain: seed sequences from tests/data/pcap"
  /usr/bin/python3 "$root/tests/fuzz/pcap_frames.py" chain "$root/tests/data/pcap" "$1"
}
