#!/usr/bin/env python3
"""Writes a synthetic SYN flood capture for the memory benchmark (benches/memory.sh).

    python3 benches/synflood.py OUT.pcap [--flows 1000000] [--rst-every 4] [--syn-ack-every 0]

Every flow is one SYN to 10.0.0.1:1883 from a distinct client (10.<a>.<b>.<c>, source port
1024 + n % 60000), 10 µs apart; every RST_EVERY-th SYN is answered by the server's RST-ACK
(a refused connection), and every SYN_ACK_EVERY-th other one by a SYN-ACK that the client
never acknowledges (a listening server flooded). Classic pcap, Ethernet, microsecond timestamps. Checksums are left
zero (dropscope does not check them).
"""
import argparse
import struct

ETH = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
SERVER = bytes([10, 0, 0, 1])
PORT = 1883


def packet(src, sport, dst, dport, seq, ack, flags):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    return ETH + ip + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--rst-every", type=int, default=4)
    ap.add_argument("--syn-ack-every", type=int, default=0)
    a = ap.parse_args()
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t_us = 1_700_000_000 * 10**6
        for n in range(a.flows):
            m = n // 60000 + 1
            client = bytes([10, 1 + (m >> 16) % 250, (m >> 8) & 255, m & 255])
            sport = 1024 + n % 60000
            isn = (n * 2654435761) & 0xFFFFFFFF
            frames = [packet(client, sport, SERVER, PORT, isn, 0, 0x02)]
            if a.rst_every and n % a.rst_every == 0:
                frames.append(packet(SERVER, PORT, client, sport, 0, (isn + 1) & 0xFFFFFFFF, 0x14))
            elif a.syn_ack_every and n % a.syn_ack_every == 0:
                server_isn = (n * 40503) & 0xFFFFFFFF
                frames.append(packet(SERVER, PORT, client, sport, server_isn, (isn + 1) & 0xFFFFFFFF, 0x12))
            for p in frames:
                t_us += 10
                f.write(struct.pack("<IIII", t_us // 10**6, t_us % 10**6, len(p), len(p)))
                f.write(p)


if __name__ == "__main__":
    main()
