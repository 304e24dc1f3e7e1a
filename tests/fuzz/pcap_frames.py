#!/usr/bin/python3
"""Seed corpora from the captures of tests/data/pcap, for scripts/fuzz.

  pcap_frames.py frames SRC DST      one file per frame (fuzz_packet)
  pcap_frames.py sequences SRC DST   one file per capture in fuzz_conntrack's
                                     input format (tests/fuzz/fuzz_conntrack.cc)
  pcap_frames.py chain SRC DST       three files per capture in fuzz_chain's
                                     input format (tests/fuzz/fuzz_chain.cc):
                                     frames from the capture's first sender are
                                     from the VM, the others to it

A pcap is a 24-byte file header and 16-byte record headers; raw-IP and BSD
loopback captures get the same synthetic Ethernet header as the tests' pcap
reader (tests/support/packet_builder.cc), so every frame is an Ethernet frame.
"""
import os
import struct
import sys

ETHERNET, NULL, LOOP, RAW, IPV4, IPV6 = 1, 0, 108, 101, 228, 229


def frames(path):
    """The frames of one capture, as Ethernet frames."""
    name = os.path.basename(path)
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit(f"{name}: not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    offset = 24
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
        yield frame


def source_address(frame):
    """The IPv4 or IPv6 source address of an Ethernet frame (one VLAN tag
    skipped), or None."""
    offset, ethertype = 12, frame[12:14]
    if ethertype in (b"\x81\x00", b"\x88\xa8"):
        offset, ethertype = 16, frame[16:18]
    ip = offset + 2
    if ethertype == b"\x08\x00" and len(frame) >= ip + 16:
        return frame[ip + 12:ip + 16]
    if ethertype == b"\x86\xdd" and len(frame) >= ip + 24:
        return frame[ip + 8:ip + 24]
    return None


def write_sequence(path, setup, records):
    """One input of the sequence targets (tests/fuzz/records.h): the set-up
    byte, then [flags][length, 2 bytes big endian][frame] per record, cut to
    8192 bytes (the targets' fuzz_max_len)."""
    out = bytearray([setup])
    for flags, frame in records:
        out += bytes([flags]) + struct.pack(">H", len(frame)) + frame
    with open(path, "wb") as f:
        f.write(out[:8192])


def main():
    mode, src, dst = sys.argv[1:4]
    captures = [n for n in sorted(os.listdir(src)) if n.endswith(".pcap")]
    written = 0
    for name in captures:
        if mode == "frames":
            for index, frame in enumerate(frames(os.path.join(src, name))):
                with open(os.path.join(dst, f"{name[:-5]}-{index:04d}"), "wb") as out:
                    out.write(frame)
                written += 1
        elif mode == "sequences":
            listed = [f[:0xffff] for f in frames(os.path.join(src, name))]
            if listed:  # TCP strict; each frame committed, zone 0
                write_sequence(os.path.join(dst, name[:-5]), 0x01, [(0x01, f) for f in listed])
                written += 1
        elif mode == "chain":
            # Three sequences a capture: as captured (revalidate); the
            # other policy applied half-way (keep); and, on a single-thread
            # table, the policy switched every fifth frame (reset), the
            # second half on the second vNIC, the clock a second a frame.
            listed = [f[:0xffff] for f in frames(os.path.join(src, name))]
            if not listed:
                continue
            vm = source_address(listed[0])
            for variant, setup in (("", 0x15), ("-switch", 0x11), ("-churn", 0x1B)):
                records = []
                for index, frame in enumerate(listed):
                    sender = source_address(frame)
                    flags = 0x01 if sender is not None and sender != vm else 0x00
                    if variant == "-switch" and index == len(listed) // 2:
                        flags |= 0x02
                    if variant == "-churn":
                        flags |= 0x10 | (0x02 if index % 5 == 4 else 0) | (0x04 if index >= len(listed) // 2 else 0)
                    records.append((flags, frame))
                write_sequence(os.path.join(dst, name[:-5] + variant), setup, records)
                written += 1
        else:
            sys.exit(f"unknown mode {mode}")
    print(f"{written} seed {mode}")


if __name__ == "__main__":
    main()
