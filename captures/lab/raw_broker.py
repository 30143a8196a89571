#!/usr/bin/python3
"""A minimal MQTT 3.1.1 server for the field-shape lab: it writes its CONNACK in two
TCP segments (the first byte 0x20 alone, the rest --split-gap seconds later, TCP_NODELAY so
the kernel sends each write at once), which no real broker does but which a capture cut
mid-stream must still read.  Then it answers PINGREQ with PINGRESP and closes on DISCONNECT
or EOF.  Connections are served one at a time; the server exits after --lifetime seconds.
"""
import argparse
import socket
import time


def read_packet(s):
    """One MQTT packet (first byte, body), or None at EOF."""
    head = s.recv(1)
    if not head:
        return None
    length, mult = 0, 1
    for _ in range(4):
        b = s.recv(1)
        if not b:
            return None
        length += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return head[0], body


def serve(conn, gap):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = read_packet(conn)
    if first is None or first[0] >> 4 != 1:
        return
    conn.sendall(b"\x20")
    time.sleep(gap)
    conn.sendall(b"\x02\x00\x00")
    while True:
        p = read_packet(conn)
        if p is None or p[0] >> 4 == 14:
            return
        if p[0] >> 4 == 12:
            conn.sendall(b"\xd0\x00")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--split-gap", type=float, default=0.2)
    p.add_argument("--lifetime", type=float, default=30)
    a = p.parse_args()
    end = time.time() + a.lifetime
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", a.port))
    srv.listen(8)
    while time.time() < end:
        srv.settimeout(max(0.1, end - time.time()))
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            break
        conn.settimeout(max(0.1, end - time.time()))
        with conn:
            try:
                serve(conn, a.split_gap)
            except OSError:
                pass


if __name__ == "__main__":
    main()
