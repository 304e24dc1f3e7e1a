#!/usr/bin/python3
"""Writes service-vm-sample.pcap: redirected traffic for the service-vm example.

Standard library only; deterministic (fixed timestamps, sequence numbers and
ports), so running it again reproduces the committed file byte for byte:

    /usr/bin/python3 examples/data/service-vm-make-sample.py examples/data/service-vm-sample.pcap

The flows, and their verdicts under examples/service-vm/signatures.sample
(flow numbers are the order in which service-vm first sees each flow):

  1 tcp 10.1.0.5:40001 -> 10.1.0.80:80   a page fetched by curl; Apache answers:
                                          allow, alerts 2001 (to-server), 2003 (to-client); end=fin
  2 tcp 10.1.0.5:40002 -> 10.1.0.80:80   "GET /cgi-bin/../../etc/passwd" split across two
                                          segments between "/et" and "c/passwd": block 1001
  3 tcp 10.1.0.5:40003 -> 10.1.0.80:80   the response "root:x:0:0:..." arrives out of order
                                          (second segment first), split inside "root:x:0:0:":
                                          block 1003 (to-client) once reordered
  4 udp 10.1.0.5:5353 -> 10.1.0.53:53    a DNS query: allow; end=end-of-input
  5 udp 10.1.0.5:7001 -> 10.1.0.9:7000   a datagram carrying de ad be ef: block 1002
  6 tcp 10.1.0.5:40006 -> 10.1.0.80:80   a request sent twice (retransmission, overlapping)
                                          with "union select" in it, then RST:
                                          allow, alert 2002 once; end=rst
  7 tcp [fd00::5]:40007 -> [fd00::80]:445 IPv6, "cmd.exe" in the request: block 1004
plus one ARP request (not a flow: not inspected).
"""

import struct
import sys

CLIENT_MAC = bytes.fromhex("020000000005")
SERVER_MAC = bytes.fromhex("020000000080")

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def ip6(text):
    head, _, tail = text.partition("::")
    h = [int(x, 16) for x in head.split(":") if x]
    t = [int(x, 16) for x in tail.split(":") if x]
    words = h + [0] * (8 - len(h) - len(t)) + t
    return struct.pack("!8H", *words)


def ethernet(src_mac, dst_mac, ethertype, payload):
    frame = dst_mac + src_mac + struct.pack("!H", ethertype) + payload
    return frame + b"\0" * max(0, 60 - len(frame))


def ipv4_packet(src, dst, protocol, l4, ident):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, 64, protocol, 0,
                         src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + l4


def ipv6_packet(src, dst, protocol, l4):
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), protocol, 64, src, dst) + l4


def pseudo_header(src, dst, protocol, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, protocol, length)
    return src + dst + struct.pack("!IxxxB", length, protocol)


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload):
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    segment = header + payload
    c = checksum(pseudo_header(src, dst, 6, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", c) + segment[18:]


def udp_datagram(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = checksum(pseudo_header(src, dst, 17, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", c) + datagram[8:]


class Capture:
    def __init__(self):
        self.frames = []
        self.time_us = 1_700_000_000 * 1_000_000
        self.ident = 1

    def add(self, frame):
        self.time_us += 1000
        self.frames.append((self.time_us, frame))

    def ip(self, src, dst, protocol, l4, from_client):
        macs = (CLIENT_MAC, SERVER_MAC) if from_client else (SERVER_MAC, CLIENT_MAC)
        if len(src) == 4:
            self.ident += 1
            self.add(ethernet(macs[0], macs[1], 0x0800, ipv4_packet(src, dst, protocol, l4, self.ident)))
        else:
            self.add(ethernet(macs[0], macs[1], 0x86DD, ipv6_packet(src, dst, protocol, l4)))

    def write(self, path):
        with open(path, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for time_us, frame in self.frames:
                out.write(struct.pack("<IIII", time_us // 1_000_000, time_us % 1_000_000,
                                      len(frame), len(frame)))
                out.write(frame)


class TcpFlow:
    """A TCP conversation; send() advances the sender's sequence number."""

    def __init__(self, capture, client, server, cport, sport, client_isn, server_isn):
        self.capture = capture
        self.ends = {True: [client, cport, client_isn], False: [server, sport, server_isn]}

    def segment(self, from_client, flags, payload=b"", seq=None, advance=True):
        me, peer = self.ends[from_client], self.ends[not from_client]
        seq = me[2] if seq is None else seq
        ack = peer[2] if flags & ACK else 0
        self.capture.ip(me[0], peer[0], 6,
                        tcp_segment(me[0], peer[0], me[1], peer[1], seq, ack, flags, payload),
                        from_client)
        if advance:
            me[2] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def handshake(self):
        self.segment(True, SYN)
        self.segment(False, SYN | ACK)
        self.segment(True, ACK)

    def close(self):
        self.segment(True, FIN | ACK)
        self.segment(False, FIN | ACK)
        self.segment(True, ACK)


def main(path):
    cap = Capture()
    client, server = ip4("10.1.0.5"), ip4("10.1.0.80")

    # 1: an ordinary page fetch.
    f = TcpFlow(cap, client, server, 40001, 80, 1000, 5000)
    f.handshake()
    f.segment(True, PSH | ACK, b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\n"
                               b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n")
    f.segment(False, ACK | PSH, b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.57\r\n"
                                b"Content-Type: text/html\r\nContent-Length: 44\r\n\r\n"
                                b"<html><body><p>Welcome</p></body></html>\r\n\r\n")
    f.close()

    # 2: the pattern split across two in-order segments.
    f = TcpFlow(cap, client, server, 40002, 80, 2000, 6000)
    f.handshake()
    f.segment(True, ACK, b"GET /cgi-bin/../../et")
    f.segment(True, PSH | ACK, b"c/passwd HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    f.segment(False, ACK)

    # 3: the response pattern split across an out-of-order boundary.
    f = TcpFlow(cap, client, server, 40003, 80, 3000, 7000)
    f.handshake()
    f.segment(True, PSH | ACK, b"GET /backup.txt HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\nroot:x:"
    second = b"0:0:root:/root:/bin/bash\r\ndaemon:x:1:1::/usr/sbin:/bin/sh\r\n"
    isn = f.ends[False][2]
    f.segment(False, PSH | ACK, second, seq=isn + len(first), advance=False)
    f.segment(False, ACK, first, seq=isn)
    f.ends[False][2] = isn + len(first) + len(second)
    f.segment(True, ACK)

    # 4: a DNS query (allowed).
    dns = ip4("10.1.0.53")
    query = (struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) +
             b"\x04shop\x07example\x00" + struct.pack("!HH", 1, 1))
    cap.ip(client, dns, 17, udp_datagram(client, dns, 5353, 53, query), True)

    # An ARP request: not a flow, not inspected.
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, CLIENT_MAC, client, b"\0" * 6, server)
    cap.add(ethernet(CLIENT_MAC, b"\xff" * 6, 0x0806, arp))

    # 5: a datagram with the marker bytes.
    peer = ip4("10.1.0.9")
    cap.ip(client, peer, 17, udp_datagram(client, peer, 7001, 7000, b"hello"), True)
    cap.ip(client, peer, 17,
           udp_datagram(client, peer, 7001, 7000, b"payload:" + bytes.fromhex("deadbeef") + b";"),
           True)

    # 6: a retransmitted (and overlapping) request, then a reset.
    f = TcpFlow(cap, client, server, 40006, 80, 4000, 8000)
    f.handshake()
    request = b"GET /item?id=1 UNION SELECT name FROM users HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    isn = f.ends[True][2]
    f.segment(True, PSH | ACK, request)
    f.segment(True, PSH | ACK, request, seq=isn, advance=False)       # retransmission
    f.segment(True, PSH | ACK, request[10:40], seq=isn + 10, advance=False)  # overlap
    f.segment(False, RST | ACK)

    # 7: IPv6.
    c6, s6 = ip6("fd00::5"), ip6("fd00::80")
    f = TcpFlow(cap, c6, s6, 40007, 445, 9000, 9900)
    f.handshake()
    f.segment(True, PSH | ACK, b"\\\\fileserver\\c$\\windows\\system32\\cmd.exe /c whoami")
    f.segment(False, ACK)

    cap.write(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: service-vm-make-sample.py OUT.pcap")
    main(sys.argv[1])
