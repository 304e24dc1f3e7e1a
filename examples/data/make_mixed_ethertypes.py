#!/usr/bin/python3
"""Writes mixed-ethertypes.pcap: a small capture crafted for the fwctl demo.

A VM behind vNIC 02:00:00:00:00:01 (10.0.0.1, fe80::1) talks to a peer
02:00:00:00:00:02 (10.0.0.2). Besides ARP, IPv4 and IPv6 (what the sample
l2-acl.conf allows) the capture holds frames with other EtherTypes (LLDP,
IPX, Ethernet loopback, an IEEE local experimental EtherType, VLAN-tagged
and not) which the sample ACL drops, and one 10-byte runt the parser rejects.

Standard library only; deterministic (fixed timestamps), so running it again
reproduces the committed file byte for byte:

    /usr/bin/python3 examples/data/make_mixed_ethertypes.py examples/data/mixed-ethertypes.pcap

Expected with `fwctl replay --vnic-mac 02:00:00:00:00:01 --config l2-acl.conf`
(frame: direction, verdict):
   1 from-vm ARP request            pass (rule 12)
   2 to-vm   ARP reply              pass (rule 12)
   3 from-vm IPv4 ICMP echo request pass (rule 10)
   4 to-vm   IPv4 ICMP echo reply   pass (rule 10)
   5 from-vm IPv6 UDP               pass (rule 11)
   6 to-vm   LLDP 0x88cc            drop (default rule)
   7 from-vm 802.1Q 100 IPv4 UDP    pass (rule 10)
   8 to-vm   802.1Q 100 0x88b5      drop (default rule)
   9 from-vm IPX 0x8137             drop (default rule)
  10 to-vm   10-byte runt           drop (malformed, truncated-ethernet)
  11 to-vm   IPv4 UDP               pass (rule 10)
  12 from-vm loopback 0x9000        drop (default rule)
"""

import struct
import sys

VM_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
LLDP_MULTICAST = bytes.fromhex("0180c200000e")
VM_IP = bytes([10, 0, 0, 1])
PEER_IP = bytes([10, 0, 0, 2])
VM_IP6 = bytes.fromhex("fe800000000000000000000000000001")
ALL_NODES_IP6 = bytes.fromhex("ff020000000000000000000000000001")
ALL_NODES_MAC6 = bytes.fromhex("333300000001")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst, src, ethertype, payload, vlan=None):
    header = dst + src
    if vlan is not None:
        header += struct.pack("!HH", 0x8100, vlan)
    frame = header + struct.pack("!H", ethertype) + payload
    # Pad to the 60-byte Ethernet minimum as a NIC would on the wire.
    return frame + b"\0" * max(0, 60 - len(frame))


def ipv4(src, dst, protocol, payload, ident):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64,
                         protocol, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def icmp_echo(icmp_type, ident, sequence, data):
    message = struct.pack("!BBHHH", icmp_type, 0, 0, ident, sequence) + data
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


def udp4(src, dst, sport, dport, data):
    length = 8 + len(data)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, length)
    segment = struct.pack("!HHHH", sport, dport, length, 0) + data
    return segment[:6] + struct.pack("!H", checksum(pseudo + segment) or 0xFFFF) + segment[8:]


def ipv6_udp(src, dst, sport, dport, data):
    length = 8 + len(data)
    pseudo = src + dst + struct.pack("!I3xB", length, 17)
    segment = struct.pack("!HHHH", sport, dport, length, 0) + data
    segment = segment[:6] + struct.pack("!H", checksum(pseudo + segment) or 0xFFFF) + segment[8:]
    header = struct.pack("!IHBB16s16s", 6 << 28, length, 17, 64, src, dst)
    return header + segment


def arp(operation, sender_mac, sender_ip, target_mac, target_ip):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, operation, sender_mac, sender_ip,
                       target_mac, target_ip)


def lldp():
    def tlv(kind, value):
        return struct.pack("!H", (kind << 9) | len(value)) + value
    return (tlv(1, b"\x04" + PEER_MAC) + tlv(2, b"\x05eth0") + tlv(3, struct.pack("!H", 120))
            + tlv(0, b""))


def frames():
    ping = bytes(range(32))
    return [
        ethernet(BROADCAST, VM_MAC, 0x0806, arp(1, VM_MAC, VM_IP, b"\0" * 6, PEER_IP)),
        ethernet(VM_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, VM_MAC, VM_IP)),
        ethernet(PEER_MAC, VM_MAC, 0x0800,
                 ipv4(VM_IP, PEER_IP, 1, icmp_echo(8, 0x1234, 1, ping), 1)),
        ethernet(VM_MAC, PEER_MAC, 0x0800,
                 ipv4(PEER_IP, VM_IP, 1, icmp_echo(0, 0x1234, 1, ping), 101)),
        ethernet(ALL_NODES_MAC6, VM_MAC, 0x86DD,
                 ipv6_udp(VM_IP6, ALL_NODES_IP6, 5353, 5353, b"fwctl demo")),
        ethernet(LLDP_MULTICAST, PEER_MAC, 0x88CC, lldp()),
        ethernet(PEER_MAC, VM_MAC, 0x0800,
                 ipv4(VM_IP, PEER_IP, 17, udp4(VM_IP, PEER_IP, 40000, 53, b"tagged"), 2),
                 vlan=100),
        ethernet(VM_MAC, PEER_MAC, 0x88B5, b"local experimental ethertype", vlan=100),
        ethernet(PEER_MAC, VM_MAC, 0x8137, b"\xff\xff" + b"\0" * 28),  # IPX, checksum 0xffff
        (VM_MAC + PEER_MAC)[:10],  # a runt: not even a whole Ethernet header
        ethernet(VM_MAC, PEER_MAC, 0x0800,
                 ipv4(PEER_IP, VM_IP, 17, udp4(PEER_IP, VM_IP, 53, 40000, b"answer"), 102)),
        ethernet(VM_MAC, VM_MAC, 0x9000, struct.pack("<H", 0) + b"loopback"),  # skipCount 0
    ]


def pcap(all_frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # DLT_EN10MB
    for index, frame in enumerate(all_frames):
        seconds, micros = 1700000000 + index // 4, (index % 4) * 250000
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_mixed_ethertypes.py OUT.pcap")
    with open(sys.argv[1], "wb") as f:
        f.write(pcap(frames()))


if __name__ == "__main__":
    main()
