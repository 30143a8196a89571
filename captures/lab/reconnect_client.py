#!/usr/bin/python3
"""Clients that reconnect: each of --count raw MQTT 3.1.1 clients (lab/mqttc.py's
connection) connects, pings, and whenever the connection ends or its SYN is refused tries
again --retry seconds later, until --duration seconds have passed; then it sends DISCONNECT.
One line of JSON per event goes to stdout, as mqttc.py writes them.
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqttc  # noqa: E402  (the sibling module in lab/)


def run_client(a, cid, end):
    while time.time() < end:
        try:
            c = mqttc.Conn(a, cid, 4, 0)
        except OSError as e:
            mqttc.log(id=cid, event="connect_error", error=str(e))
            time.sleep(a.retry)
            continue
        if c.step_connect() and c.step_ping(max(0.0, end - time.time())):
            c.step_disconnect()
            return
        if c.s.fileno() != -1:
            c.step_close()
        time.sleep(a.retry)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--id", default="storm")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--stagger", type=float, default=0.05)
    p.add_argument("--ka", type=int, default=5)
    p.add_argument("--retry", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=10)
    a = p.parse_args()
    a.persistent, a.user, a.password = False, None, None
    end = time.time() + a.duration
    threads = []
    for i in range(a.count):
        t = threading.Thread(target=run_client, args=(a, "%s-%03d" % (a.id, i), end))
        t.start()
        threads.append(t)
        time.sleep(a.stagger)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
