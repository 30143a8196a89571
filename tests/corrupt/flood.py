#!/usr/bin/env python3
"""Writes big hostile captures for memory and time measurements (never committed).

  python3 tests/corrupt/flood.py syn-flood N OUT     N SYN-only frames, each a new flow
  python3 tests/corrupt/flood.py ooo-window N OUT    one MQTT flow: its first byte missing,
                                                     then N one-byte segments, all ahead
  python3 tests/corrupt/flood.py ooo-cut N OUT       the same, but every segment snaplen-cut
                                                     to its headers (payload on the wire only)

Frames are Ethernet/IPv4/TCP, written with `struct` only.
"""

import struct
import sys

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def frame(src, dst, sport, dport, seq, ack, flags, payload_len, captured_payload):
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 40 + payload_len, 0, 0x4000, 64, 6, 0, src, dst
    )
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + captured_payload


def record(usec, data, wire_len):
    return struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(data), wire_len) + data


def syn_flood(n, out):
    dst = bytes([10, 0, 0, 2])
    for i in range(n):
        src = struct.pack(">I", 0x0B000000 + (i >> 14))
        f = frame(src, dst, 1024 + (i & 0x3FFF), 1883, (i * 7919) & 0xFFFFFFFF, 0, 0x02, 0, b"")
        out.write(record(i * 10, f, len(f)))


def ooo_window(n, out, cut):
    c, s = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    isn = 1000
    out.write(record(0, f := frame(c, s, 50000, 1883, isn, 0, 0x02, 0, b""), len(f)))
    out.write(record(10, f := frame(s, c, 1883, 50000, 9000, isn + 1, 0x12, 0, b""), len(f)))
    out.write(record(20, f := frame(c, s, 50000, 1883, isn + 1, 9001, 0x10, 0, b""), len(f)))
    for i in range(n):
        payload = b"" if cut else b"\xc0"
        f = frame(c, s, 50000, 1883, isn + 2 + i, 9001, 0x18, 1, payload)
        out.write(record(100 + i, f, len(f) + (1 if cut else 0)))


def main():
    mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(PCAP_HEADER)
        if mode == "syn-flood":
            syn_flood(n, out)
        elif mode in ("ooo-window", "ooo-cut"):
            ooo_window(n, out, mode == "ooo-cut")
        else:
            sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
