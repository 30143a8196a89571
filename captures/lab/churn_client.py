#!/usr/bin/python3
"""A busy broker's steady churn: --slots raw MQTT 3.1.1 clients (lab/mqttc.py's connection),
each living a random time (exponential, mean --mean-life seconds, seeded) and then dying
without DISCONNECT, the way a process that exits or crashes does: half close the socket
(FIN), half abort it (SO_LINGER 0, RST).  A dead client comes back --retry seconds later as
a new connection with the same client id; a refused SYN or a close by the broker is retried
the same way.  After --duration seconds the clients stay connected and the process waits
--linger seconds (the capture ends meanwhile) before exiting.

Each connection's end goes to stdout as one JSON line: {"id", "port", "end"} with end one of
client_close, client_abort, server_closed, refused, open.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqttc  # noqa: E402  (the sibling module in lab/)

def record(cid, port, end):
    with mqttc.LOG_LOCK:  # the lock mqttc's own event lines take, so lines never interleave
        print(json.dumps({"id": cid, "port": port, "end": end}), flush=True)


def abort(c):
    """Close with SO_LINGER 0 (RST).  The reader thread's recv holds the socket open, so it
    is woken first (shutdown of the read side sends nothing); otherwise the RST would only
    leave when the broker closes the socket for the next connection's takeover."""
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.s.shutdown(socket.SHUT_RD)
    c.reader.join(1)
    c.s.close()


def run_slot(a, cid, rng, end):
    while time.time() < end:
        try:
            c = mqttc.Conn(a, cid, 4, 0)
        except OSError:
            record(cid, None, "refused")
            time.sleep(a.retry)
            continue
        life = rng.expovariate(1.0 / a.mean_life)
        if not c.step_connect() or not c.step_ping(min(life, max(0.0, end - time.time()))):
            record(cid, c.port, "server_closed")
            if c.s.fileno() != -1:
                c.step_close()
        elif time.time() >= end:
            record(cid, c.port, "open")
            time.sleep(a.linger)
            return
        elif rng.random() < 0.5:
            record(cid, c.port, "client_close")
            c.step_close()
        else:
            record(cid, c.port, "client_abort")
            abort(c)
        time.sleep(a.retry)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--id", default="churn")
    p.add_argument("--slots", type=int, default=25)
    p.add_argument("--ka", type=int, default=20)
    p.add_argument("--mean-life", type=float, default=8)
    p.add_argument("--retry", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--linger", type=float, default=5)
    p.add_argument("--seed", type=int, default=14)
    a = p.parse_args()
    a.persistent, a.user, a.password = False, None, None
    end = time.time() + a.duration
    threads = []
    for i in range(a.slots):
        rng = random.Random(a.seed * 1000 + i)
        t = threading.Thread(target=run_slot, args=(a, "%s-%03d" % (a.id, i), rng, end))
        t.start()
        threads.append(t)
        time.sleep(0.05)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
