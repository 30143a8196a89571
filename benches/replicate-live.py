#!/usr/bin/env python3
"""Makes a large capture for the live load figure by repeating a small one with new flows.

    python3 benches/replicate-live.py captures/many-connections.pcap /tmp/live-load.pcap 300

Copy k sets the second octet of every IPv4 source and destination address to k % 256 and the
third octet's top bit from k // 256 (so up to 512 copies have distinct four-tuples), and
shifts timestamps by k x (base duration + 1 s). The IPv4 header checksum is recomputed; TCP
checksums are left as they are (dropscope does not verify them, and a veth does not either).
Classic pcap with Ethernet link type only. The output stays out of git (write it to /tmp).
"""
import struct
import sys


def ip_checksum(header):
    s = sum(struct.unpack("!10H", header[:20]))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def read(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0xA1B2C3D4 or struct.unpack("<I", data[20:24])[0] != 1:
        sys.exit("need a little-endian classic pcap with Ethernet frames")
    packets, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[off : off + 16])
        packets.append((sec * 10**6 + usec, orig, bytearray(data[off + 16 : off + 16 + incl])))
        off += 16 + incl
    return data[:24], packets


def rewrite(frame, k):
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    f = bytearray(frame)
    for addr in (26, 30):
        f[addr + 1] = k % 256
        f[addr + 2] = (f[addr + 2] & 0x7F) | ((k // 256) << 7)
    f[24:26] = b"\x00\x00"
    f[24:26] = struct.pack("!H", ip_checksum(bytes(f[14:34])))
    return f


def main():
    base, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    header, packets = read(base)
    span = packets[-1][0] - packets[0][0] + 10**6
    with open(out, "wb") as w:
        w.write(header)
        for k in range(copies):
            for ts, orig, frame in packets:
                t = ts + k * span
                f = rewrite(frame, k)
                w.write(struct.pack("<IIII", t // 10**6, t % 10**6, len(f), orig))
                w.write(f)


if __name__ == "__main__":
    main()
