#!/usr/bin/env python3
"""Repeats a base capture until it passes a size, each copy with new flows.

    python3 benches/replicate.py BASE.pcap OUT.pcap --port PORT (--min-bytes N | --copies N)

Copy k (k = 0, 1, ...) rewrites the client address of every packet (the end that is not on
PORT) from 127.0.0.1 to 127.<1 + k // 250>.<k % 250 + 1>.1, so each copy's four-tuples are
new, and shifts timestamps by k × (base duration + GAP), so every connection of copy k has
closed (and lingered past dropscope's 30 s) before copy k + 1 starts: open connections stay
constant while the file grows. IPv4 and TCP checksums are adjusted (RFC 1624). Classic pcap
with Ethernet link type (tcpdump on lo) only.
"""
import argparse
import os
import struct
import sys

GAP_NS = 60 * 10**9


def csum_fix(old_sum, old_words, new_words):
    """RFC 1624 incremental update: HC' = ~(~HC + ~m + m')."""
    s = (~old_sum) & 0xFFFF
    for w in old_words:
        s += (~w) & 0xFFFF
    for w in new_words:
        s += w
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("out")
    ap.add_argument("--port", type=int, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--min-bytes", type=int)
    g.add_argument("--copies", type=int)
    a = ap.parse_args()

    data = open(a.base, "rb").read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    else:
        sys.exit("replicate: base must be a little-endian classic pcap")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype != 1:
        sys.exit("replicate: base must be Ethernet (linktype 1)")
    unit = 1 if nano else 1000
    rec = struct.Struct(endian + "IIII")
    port = struct.pack(">H", a.port)

    # Parse once: (ts_ns, record header tail, frame bytes, offset of the client address or -1)
    records = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = rec.unpack_from(data, off)
        frame = data[off + 16: off + 16 + caplen]
        off += 16 + caplen
        client_at = -1
        if len(frame) >= 34 + 4 and frame[12:14] == b"\x08\x00" and frame[23] == 6:
            ihl = (frame[14] & 0x0F) * 4
            tcp = 14 + ihl
            if frame[tcp + 2: tcp + 4] == port:      # to the broker: client is the source
                client_at = 26
            elif frame[tcp: tcp + 2] == port:        # from the broker: client is the destination
                client_at = 30
        records.append((sec * 10**9 + frac * unit, caplen, wirelen, frame, client_at))
    if not records:
        sys.exit("replicate: empty base")
    t0, t1 = records[0][0], records[-1][0]
    period = (t1 - t0) + GAP_NS
    base_bytes = len(data) - 24
    copies = a.copies or max(1, -(-(a.min_bytes - 24) // base_bytes))

    tmp = a.out + ".part"
    with open(tmp, "wb", buffering=1 << 22) as out:
        out.write(data[:24])
        for k in range(copies):
            new_ip = bytes((127, 1 + k // 250, k % 250 + 1, 1))
            new_words = struct.unpack(">HH", new_ip)
            shift = k * period
            chunks = []
            for ts, caplen, wirelen, frame, client_at in records:
                ts += shift
                hdr = rec.pack(ts // 10**9, (ts % 10**9) // unit, caplen, wirelen)
                if client_at < 0:
                    chunks.append(hdr + frame)
                    continue
                old_words = struct.unpack_from(">HH", frame, client_at)
                f = bytearray(frame)
                f[client_at: client_at + 4] = new_ip
                ip_sum = struct.unpack_from(">H", f, 24)[0]
                struct.pack_into(">H", f, 24, csum_fix(ip_sum, old_words, new_words))
                tcp = 14 + (f[14] & 0x0F) * 4
                if len(f) >= tcp + 18:
                    tcp_sum = struct.unpack_from(">H", f, tcp + 16)[0]
                    struct.pack_into(">H", f, tcp + 16, csum_fix(tcp_sum, old_words, new_words))
                chunks.append(hdr + bytes(f))
            out.write(b"".join(chunks))
    os.replace(tmp, a.out)
    size = os.path.getsize(a.out)
    print(f"replicate: {a.out}: {copies} copies of {len(records)} frames, "
          f"{size / 1e6:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
