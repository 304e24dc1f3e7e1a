# Fuzz target "packet" (fuzz_packet: parse_frame(); seeds: every frame of
# tests/data/pcap, one file per frame), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=2048
fuzz_timeout=1200

fuzz_seed() {  # fuzz_seed DIR
  echo "== packet: seed corpus from tests/data/pcap"
  # A pcap is a 24-byte file header and 16-byte record headers; raw-IP and BSD
  # loopback captures get the same synthetic Ethernet header as the tests'
  # pcap reader (tests/support/packet_builder.cc), so every seed is a frame.
  /usr/bin/python3 - "$root/tests/data/pcap" "$1" <<'PY'
import os, struct, sys

src, dst = sys.argv[1], sys.argv[2]
ETHERNET, NULL, LOOP, RAW, IPV4, IPV6 = 1, 0, 108, 101, 228, 229
total = 0
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
        sys.exit(f"{name}: not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    offset, index = 24, 0
    while offset + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[offset + 8:offset + 12])[0]
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        if linktype in (NULL, LOOP):
            frame = frame[4:]
        if linktype != ETHERNET:
            if linktype not in (NULL, LOOP, RAW, IPV4, IPV6) or not frame:
                sys.exit(f"{name}: unsupported link type {linktype}")
            ethertype = b"\x08\x00" if frame[0] >> 4 == 4 else b"\x86\xdd"
            frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + ethertype + frame
        with open(os.path.join(dst, f"{name[:-5]}-{index:04d}"), "wb") as out:
            out.write(frame)
        index += 1
        total += 1
print(f"{total} seed frames")
PY
}
