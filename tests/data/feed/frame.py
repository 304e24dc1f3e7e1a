#!/usr/bin/python3
"""Frames text-format fw.v1.FeedMessages into a length-delimited stream.

Usage: tests/data/feed/frame.py IN.txtpb OUT.feed   (run from the repository root)
Each blank-line-separated paragraph of IN (lines starting with # ignored)
is one message, encoded with protoc --encode and prefixed by its length as
a base-128 varint.
"""
import subprocess
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    text = "\n".join(l for l in open(src, encoding="utf-8").read().splitlines() if not l.lstrip().startswith("#"))
    stream = bytearray()
    for para in [p for p in text.split("\n\n") if p.strip()]:
        body = subprocess.run(["protoc", "--encode=fw.v1.FeedMessage", "-Ilibfw/proto", "fw/v1/feed.proto"],
                              input=para.encode(), capture_output=True, check=True).stdout
        stream += varint(len(body)) + body
    open(dst, "wb").write(bytes(stream))


if __name__ == "__main__":
    main()
