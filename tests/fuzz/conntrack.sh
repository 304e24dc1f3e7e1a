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
  /usr/bin/python3 - "$root/tests/data/pcap" "$1" <<'PY'
import os, struct, sys

src, dst = sys.argv[1], sys.argv[2]
count = 0
for name in sorted(os.listdir(src)):
    if not name.endswith(".pcap"):
        continue
    data = open(os.path.join(src, name), "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        continue
    if struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF != 1:
        continue  # Ethernet captures only
    out = bytearray([1])  # TCP strict
    offset = 24
    while offset + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[offset + 8:offset + 12])[0]
        frame = data[offset + 16:offset + 16 + caplen][:0xffff]
        offset += 16 + caplen
        out += bytes([0x01]) + struct.pack(">H", len(frame)) + frame  # commit, zone 0
    if len(out) > 1:
        with open(os.path.join(dst, name[:-5]), "wb") as f:
            f.write(out[:8192])
        count += 1
print(f"{count} seed sequences")
PY
}
