#!/usr/bin/env python3
"""Drives real MQTT traffic at a local broker for benches/make-capture.sh.

Uses only mosquitto_pub / mosquitto_sub (no Python MQTT library):
- SUBS subscribers on bench/<group>/# (QoS 0 or 1), some ending with a clean DISCONNECT
  after a message count (-C), the rest stopped by SIGTERM at the end;
- PUBS long-lived publishers (mosquitto_pub -l) fed paced lines of 100 B – 2 KB (or up to
  --max-size: small frames weigh the per-packet work against the read), QoS 0 or 1,
  so most MQTT packets travel in their own TCP segment as on a real network;
- SHORT short-lived publishers (connect, publish one message, disconnect) spread over the run.

Everything ends before the script returns, so every connection in the capture is closed.
"""
import argparse
import random
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--rate", type=float, default=1500, help="published messages per second")
    ap.add_argument("--pubs", type=int, default=48)
    ap.add_argument("--subs", type=int, default=8)
    ap.add_argument("--short", type=int, default=240)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--max-size", type=int, default=2000, help="largest payload (at least 10)")
    a = ap.parse_args()
    min_size = min(100, max(a.max_size, 10) // 2)
    max_size = max(a.max_size, min_size)
    rnd = random.Random(a.seed)
    host = ["-h", "127.0.0.1", "-p", str(a.port)]
    groups = 8
    subs = []
    for i in range(a.subs):
        qos = str(i % 2)
        cmd = ["mosquitto_sub", *host, "-i", f"bench-sub-{i}", "-q", qos, "-k", "30",
               "-t", f"bench/g{i % groups}/#"]
        if i % 4 == 3:
            cmd += ["-C", "400"]  # a clean DISCONNECT part way through
        subs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
    time.sleep(0.5)
    pubs = []
    for i in range(a.pubs):
        qos = str(i % 2)
        cmd = ["mosquitto_pub", *host, "-i", f"bench-pub-{i}", "-q", qos, "-k", "20",
               "-t", f"bench/g{i % groups}/dev{i}", "-l"]
        pubs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL))
    shorts = []
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    blob = bytes(rnd.choice(alphabet) for _ in range(4096))
    start = time.monotonic()
    sent = 0
    short_every = a.seconds / max(a.short, 1)
    next_short = 0.0
    n_short = 0
    while True:
        now = time.monotonic() - start
        if now >= a.seconds:
            break
        due = int(now * a.rate)
        while sent < due:
            p = pubs[rnd.randrange(len(pubs))]
            size = rnd.randint(min_size, max_size)
            off = rnd.randrange(0, len(blob) - size)
            try:
                p.stdin.write(blob[off:off + size] + b"\n")
                p.stdin.flush()
            except BrokenPipeError:
                pass
            sent += 1
        while n_short < a.short and now >= next_short:
            size = rnd.randint(min_size, max_size)
            cmd = ["mosquitto_pub", *host, "-i", f"bench-short-{n_short}",
                   "-q", str(n_short % 2), "-t", f"bench/g{n_short % groups}/once",
                   "-m", "x" * size]
            if n_short % 5 == 0:
                cmd[1:1] = ["-V", "mqttv5"]
            shorts.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
            n_short += 1
            next_short += short_every
        shorts = [s for s in shorts if s.poll() is None]
        time.sleep(0.002)
    for p in pubs:
        p.stdin.close()  # mosquitto_pub -l sends DISCONNECT at end of input
    for p in pubs + shorts:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    time.sleep(0.5)
    for s in subs:
        if s.poll() is None:
            s.send_signal(signal.SIGTERM)
    for s in subs:
        try:
            s.wait(timeout=5)
        except subprocess.TimeoutExpired:
            s.kill()
    print(f"traffic: {sent} messages from {a.pubs} publishers, {n_short} short publishers, "
          f"{a.subs} subscribers, {a.seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
