#!/usr/bin/env python3
"""Drives a fleet-like MQTT workload at two local brokers for benches/make-workload.sh.

Uses only mosquitto_pub / mosquitto_sub (no Python MQTT library). Broker A (anonymous) and
broker B (user name and password) listen on the same port at two loopback addresses. Over
--seconds, with the counts below the defaults:

- PUBS long-lived publishers (mosquitto_pub -l) fed paced lines: small IoT payloads
  (two thirds of 20-400 B, the rest up to 2 KB), QoS 0/1/2 mixed, a tenth of them ten times as
  chatty as the rest and three forty times (~90 messages/s at 1500/s); together --rate
  messages/s;
- SUBS subscribers (QoS 0/1/2) on topic groups such that each message reaches 1-2 of them;
- IDLE devices (mosquitto_sub on a topic nobody publishes to, keepalive 5-30 s) that only
  ping, started staggered;
- reconnects: SHORT short-lived publishers (connect, publish one, disconnect) drawn from a
  small pool of client ids, and KILLS long-lived clients SIGKILLed (no DISCONNECT) and
  started again a moment later with the same client id;
- TAKEOVERS: a live idle device is frozen (SIGSTOP) and a second one with its client id
  connects; the broker closes the first, which is then SIGKILLed (so no ping-pong);
- STALLS: idle devices with keepalive 5 frozen for 12-13 s (the broker closes them after
  1.5 x keepalive, 7.5-9 s), then SIGKILLed and started again;
- REFUSED logins at broker B with a wrong password, a wrong user or none (CONNACK refused);
- a restart of broker B half way: SIGTERM, 2 s down, started again from its config; its
  clients reconnect by themselves (those that exit are started again by the driver).

At the end the publishers get end of input (DISCONNECT) and the subscribers SIGTERM
(DISCONNECT), so every connection in the capture is closed before the script returns. The
pid of broker B is read from, and after the restart written to, --broker-b-pidfile.
"""
import argparse
import heapq
import os
import random
import signal
import subprocess
import sys
import time

DEVNULL = subprocess.DEVNULL
# Publishers' QoS by index: with the chatty ones, 45 % of the messages QoS 0, 45 % QoS 1,
# 10 % QoS 2.
PUB_QOS = (0, 1, 0, 2, 1, 0, 1, 0, 2, 1)


class Client:
    """A long-lived client process that can be killed and started again with the same id."""

    def __init__(self, kind, cid, cmd, stdin=False):
        self.kind = kind
        self.cid = cid
        self.cmd = cmd
        self.stdin = stdin
        self.proc = None
        self.restart_at = None  # when to start it again after it exited
        self.busy = False       # frozen by a takeover or a stall: leave it alone
        self.starts = 0

    def start(self):
        self.close_pipe()  # the previous process's, if any
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE if self.stdin else DEVNULL,
            stdout=DEVNULL, stderr=DEVNULL)
        if self.stdin:
            os.set_blocking(self.proc.stdin.fileno(), False)
        self.restart_at = None
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def write(self, line):
        """Non-blocking: a client that does not read (reconnecting, killed) loses the line."""
        if not self.alive():
            return False
        try:
            os.write(self.proc.stdin.fileno(), line)
            return True
        except (BlockingIOError, BrokenPipeError, OSError):
            return False

    def close_pipe(self):
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--broker-a", default="127.0.0.2")
    ap.add_argument("--broker-b", default="127.0.0.3")
    ap.add_argument("--broker-b-conf", required=True)
    ap.add_argument("--broker-b-pidfile", required=True)
    ap.add_argument("--user", default="fleet")
    ap.add_argument("--password-file", required=True, help="broker B's password, plain text")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=1800, help="published messages per second")
    ap.add_argument("--pubs", type=int, default=300)
    ap.add_argument("--subs", type=int, default=150)
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--b-share", type=float, default=0.2, help="share of clients on broker B")
    ap.add_argument("--short", type=int, default=180)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--takeovers", type=int, default=10)
    ap.add_argument("--stalls", type=int, default=10)
    ap.add_argument("--refused", type=int, default=20)
    ap.add_argument("--big-share", type=float, default=0.33,
                    help="share of messages of 400 B - 2 KB (the rest 20-400 B)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--log", help="write the staged events here (time, event, client id)")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    T = a.seconds
    with open(a.password_file) as f:
        password = f.read().strip()
    port = str(a.port)
    brokers = {"a": a.broker_a, "b": a.broker_b}

    def conn(site, version5=False):
        args = ["-h", brokers[site], "-p", port]
        if site == "b":
            args += ["-u", a.user, "-P", password]
        if version5:
            args += ["-V", "mqttv5"]
        return args

    def site_of(i, n):
        # The first b_share of each population goes to broker B, spread over the indices.
        return "b" if (i * 7919) % n < round(n * a.b_share) else "a"

    clients = []

    # Subscribers: per broker, groups = subscribers / 1.5, so a group has one or two of them.
    subs_by_site = {"a": [], "b": []}
    for i in range(a.subs):
        subs_by_site[site_of(i, a.subs)].append(i)
    groups = {s: max(1, round(len(v) / 1.5)) for s, v in subs_by_site.items()}
    for site, idx in subs_by_site.items():
        for j, i in enumerate(idx):
            cid = f"app-{site}-{i:03d}"
            cmd = ["mosquitto_sub", *conn(site, i % 5 == 0), "-i", cid, "-q", str(i % 3),
                   "-k", str(rnd.choice((30, 45, 60))), "-t", f"fleet/{site}/g{j % groups[site]}/#"]
            clients.append(Client("sub", cid, cmd))

    pubs = []
    for i in range(a.pubs):
        site = site_of(i, a.pubs)
        cid = f"sensor-{site}-{i:04d}"
        g = rnd.randrange(groups[site])
        cmd = ["mosquitto_pub", *conn(site, i % 4 == 0), "-i", cid, "-q", str(PUB_QOS[i % 10]),
               "-k", str(rnd.choice((20, 30, 60))), "-t", f"fleet/{site}/g{g}/{cid}/telemetry", "-l"]
        c = Client("pub", cid, cmd, stdin=True)
        pubs.append(c)
        clients.append(c)

    idle = []
    keepalives = (5, 10, 15, 20, 25, 30)
    for i in range(a.idle):
        site = site_of(i, a.idle)
        cid = f"dev-{site}-{i:04d}"
        # Every sixth idle device has keepalive 5: the stalls are chosen among them.
        cmd = ["mosquitto_sub", *conn(site, i % 3 == 0), "-i", cid, "-q", str(i % 2),
               "-k", str(keepalives[i % len(keepalives)]), "-t", f"cmd/{site}/{cid}"]
        c = Client("idle", cid, cmd)
        idle.append(c)
        clients.append(c)

    # Payloads: JSON-ish, no newline (mosquitto_pub -l sends a message per line).
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    blob = bytes(rnd.choice(alphabet) for _ in range(8192))

    def payload(cid, seq):
        if rnd.random() < a.big_share:
            size = rnd.randint(400, 2000)
        else:
            size = rnd.randint(20, 400)
        head = b'{"id":"%s","seq":%d,"v":"' % (cid.encode(), seq)
        body = max(0, size - len(head) - 2)
        off = rnd.randrange(0, len(blob) - body)
        return (head + blob[off:off + body] + b'"}')[:max(size, 20)]

    # Publishing weights: a tenth of the publishers (QoS 0 and 1) ten times as chatty as the
    # rest, three of them forty times (~90 messages/s at 1500/s).
    weights = [40 if i < 3 else 10 if i % 20 in (0, 1) else 1 for i in range(a.pubs)]
    cum = []
    acc = 0
    for w in weights:
        acc += w
        cum.append(acc)

    # --- the schedule -------------------------------------------------------------------
    events = []  # (time, seq, name, arg)
    seq = 0

    def at(t, name, arg=None):
        nonlocal seq
        heapq.heappush(events, (t, seq, name, arg))
        seq += 1

    restart_t = T * 0.5
    quiet = (restart_t - 2, restart_t + 8)  # no staged failures around broker B's restart

    def spread(n, lo, hi, avoid=quiet):
        """n times spread over [lo, hi], none inside the window `avoid` (if any)."""
        out = []
        for k in range(n):
            t = lo + (hi - lo) * (k + rnd.random()) / max(n, 1)
            if avoid and avoid[0] <= t <= avoid[1]:
                t = avoid[1] + (t - avoid[0])
                if t > hi:
                    t = lo + rnd.random() * max(0.0, avoid[0] - lo)
            out.append(t)
        return out

    stagger = min(10.0, T * 0.15)
    for k, c in enumerate(idle):
        at(stagger * k / max(len(idle), 1), "start", c)
    for k, t in enumerate(spread(a.short, T * 0.05, T * 0.95, None)):
        at(t, "short", k)
    for t in spread(a.kills, T * 0.12, T * 0.9):
        at(t, "kill")
    for t in spread(a.takeovers, T * 0.2, T * 0.85):
        at(t, "takeover")
    stall_end = max(T * 0.3, T - 17)
    # A stall lasts 12-13 s: it must not span broker B's restart (which would close it first).
    for t in spread(a.stalls, T * 0.2, stall_end, (restart_t - 14, restart_t + 8)):
        at(t, "stall")
    for k, t in enumerate(spread(a.refused, T * 0.1, T * 0.9)):
        at(t, "refused", k)
    if T >= 20:
        at(restart_t, "restart_b")

    # --- start ------------------------------------------------------------------------
    for c in clients:
        if c.kind == "sub":
            c.start()
            time.sleep(0.005)
    time.sleep(0.5)
    for c in pubs:
        c.start()
        time.sleep(0.005)
    time.sleep(0.5)

    shorts = []
    counts = {"short": 0, "kill": 0, "takeover": 0, "stall": 0, "refused": 0, "restart": 0,
              "respawn": 0, "lost_lines": 0}
    b_down_until = -1.0

    log = open(a.log, "w") if a.log else None

    def note(now, what, cid):
        if log:
            log.write(f"{now:8.3f} {what} {cid}\n")

    def pick(pool, pred):
        cand = [c for c in pool if not c.busy and c.alive() and pred(c)]
        return rnd.choice(cand) if cand else None

    def restart_broker_b(now):
        with open(a.broker_b_pidfile) as f:
            pid = int(f.read().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        # It is the shell's child: wait (bounded) until it is gone or a zombie.
        for _ in range(100):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split(") ", 1)[1][0] == "Z":
                        break
            except (FileNotFoundError, IndexError):
                break
            time.sleep(0.05)
        return pid

    sent = 0
    seqno = 0
    start = time.monotonic()
    next_poll = 0.0
    while True:
        now = time.monotonic() - start
        if now >= T:
            break
        due = int(now * a.rate)
        if sent < due:
            n = min(due - sent, int(a.rate))  # catch up at most a second's worth at once
            for i in rnd.choices(range(a.pubs), cum_weights=cum, k=n):
                p = pubs[i]
                seqno += 1
                if not p.write(payload(p.cid, seqno) + b"\n"):
                    counts["lost_lines"] += 1
            sent = due
        while events and events[0][0] <= now:
            _, _, name, arg = heapq.heappop(events)
            if name == "start":
                arg.start()
            elif name == "short":
                site = "b" if arg % 3 == 0 else "a"
                cid = f"batch-{site}-{arg % 40:02d}"
                g = rnd.randrange(groups[site])
                cmd = ["mosquitto_pub", *conn(site, arg % 4 == 1), "-i", cid,
                       "-q", str(arg % 3), "-t", f"fleet/{site}/g{g}/{cid}/report",
                       "-m", payload(cid, arg).decode()]
                shorts.append(subprocess.Popen(cmd, stdout=DEVNULL, stderr=DEVNULL))
                counts["short"] += 1
            elif name == "kill":
                c = pick(clients, lambda c: True)
                if c:
                    c.signal(signal.SIGKILL)   # the kernel closes its socket: no DISCONNECT
                    c.restart_at = now + rnd.uniform(0.5, 3.0)
                    counts["kill"] += 1
                    note(now, "kill", c.cid)
            elif name == "takeover":
                c = pick(idle, lambda c: c.cid.startswith("dev-"))
                if c:
                    c.busy = True
                    c.signal(signal.SIGSTOP)   # the old one must not reconnect
                    old = c.proc
                    c.start()                  # same client id: the broker closes the old one
                    at(now + 1.5, "reap", old)
                    at(now + 1.6, "unbusy", c)
                    counts["takeover"] += 1
                    note(now, "takeover", c.cid)
            elif name == "reap":
                try:
                    arg.kill()
                    arg.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            elif name == "unbusy":
                arg.busy = False
            elif name == "stall":
                c = pick(idle, lambda c: "-k" in c.cmd and c.cmd[c.cmd.index("-k") + 1] == "5")
                if c:
                    c.busy = True
                    # No PINGREQ: mosquitto gives up 1.5 x keepalive after the last packet,
                    # checking once a second or so (seen up to ~9 s after it).
                    c.signal(signal.SIGSTOP)
                    at(now + rnd.uniform(12.0, 13.0), "unstall", c)
                    counts["stall"] += 1
                    note(now, "stall", c.cid)
            elif name == "unstall":
                note(now, "unstall", arg.cid)
                arg.signal(signal.SIGKILL)
                arg.restart_at = now + rnd.uniform(0.5, 2.0)
                arg.busy = False
            elif name == "refused":
                cid = f"dev-b-{9000 + arg:04d}"
                if arg % 5 == 4:
                    auth = []                                  # no credentials at all
                elif arg % 5 == 3:
                    auth = ["-u", "intruder", "-P", password]  # unknown user
                else:
                    auth = ["-u", a.user, "-P", "wrong-" + str(arg)]
                cmd = ["mosquitto_pub", "-h", brokers["b"], "-p", port, *auth, "-i", cid,
                       "-q", "1", "-t", f"fleet/b/g0/{cid}/telemetry", "-m", "{}"]
                if arg % 2:
                    cmd += ["-V", "mqttv5"]
                shorts.append(subprocess.Popen(cmd, stdout=DEVNULL, stderr=DEVNULL))
                counts["refused"] += 1
                note(now, "refused", cid)
            elif name == "restart_b":
                restart_broker_b(now)
                at(now + 2.0, "start_b")
                b_down_until = now + 2.5
                counts["restart"] += 1
                note(now, "restart", "broker-b")
            elif name == "start_b":
                b = subprocess.Popen(["mosquitto", "-c", a.broker_b_conf],
                                     stdout=DEVNULL, stderr=DEVNULL)
                with open(a.broker_b_pidfile, "w") as f:
                    f.write(f"{b.pid}\n")
        if now >= next_poll:
            next_poll = now + 0.25
            for c in clients:
                if c.busy or c.proc is None or c.alive():
                    continue
                if c.restart_at is None:
                    # Exited by itself (its broker went away): start it again soon.
                    c.restart_at = max(now, b_down_until) + rnd.uniform(0.2, 1.5)
                    counts["respawn"] += 1
                    note(now, "exited", c.cid)
                if now >= c.restart_at:
                    c.start()
                    note(now, "start", c.cid)
            shorts = [s for s in shorts if s.poll() is None]
        time.sleep(0.002)

    # --- stop: DISCONNECT everywhere, bounded --------------------------------------------
    for c in clients:
        if c.proc is not None and c.proc.poll() is None and c.busy:
            c.signal(signal.SIGKILL)  # a frozen one cannot say goodbye
    for c in pubs:
        c.close_pipe()  # mosquitto_pub -l sends DISCONNECT at end of input
    deadline = time.monotonic() + 15
    for p in [c.proc for c in pubs if c.proc] + shorts:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    time.sleep(0.5)
    rest = [c for c in clients if c.kind != "pub" and c.proc is not None]
    for c in rest:
        c.signal(signal.SIGTERM)  # mosquitto_sub sends DISCONNECT on SIGTERM
    deadline = time.monotonic() + 15
    for c in rest:
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
    if log:
        log.close()
    print(f"workload: {sent} messages from {a.pubs} publishers ({counts['lost_lines']} lines "
          f"not taken), {a.subs} subscribers, {a.idle} idle devices, {T:.0f} s; "
          f"{counts['short']} short publishers, {counts['kill']} kills, "
          f"{counts['takeover']} takeovers, {counts['stall']} stalls, "
          f"{counts['refused']} refused logins, {counts['restart']} broker restart, "
          f"{counts['respawn']} clients started again after exiting", file=sys.stderr)


if __name__ == "__main__":
    main()
