#!/usr/bin/python3
"""Write NAME.expected.json for one pair of the join lab (NAME-client.pcap, NAME-broker.pcap).

The cause of each connection comes from the scenario (what the lab injected), given as rules;
tshark only tells which connections each capture holds.  The same connection is recognised in
both captures by its server address and the client's absolute initial sequence number, or,
for a capture started mid-flow, overlapping client sequence numbers (Linux NAT rewrites
addresses and ports, never sequence numbers), which gives the true NAT mapping:
the client's address at the client-side probe (private) and at the broker-side probe (public).

  --rule 'KEY|cause|layer|side|note'
KEY: id=X, idprefix=X, port=N (the client's port at the client side) or *, optionally followed by &first or &last (the first/last
connection of those, in time order).  layer/side: null for JSON null.  The first rule that
matches wins; a connection no rule matches is an error.
"""
import argparse
import json
import os
import subprocess
import sys

FIELDS = ["frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
          "tcp.flags.syn", "tcp.flags.ack", "tcp.seq_raw", "mqtt.clientid"]


def connections(path):
    """The connections of one capture: a dict per TCP stream with the client's address (the
    SYN's sender, else the end that is not port 1883), the server's, the client's ISN (None
    without a SYN), the range of the client's raw sequence numbers and the client id."""
    cmd = ["tshark", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    conns = {}
    for line in out.splitlines():
        r = dict(zip(FIELDS, line.split("\t")))
        src = "%s:%s" % (r["ip.src"], r["tcp.srcport"])
        dst = "%s:%s" % (r["ip.dst"], r["tcp.dstport"])
        syn = r["tcp.flags.syn"] in ("1", "True") and r["tcp.flags.ack"] in ("0", "False")
        c = conns.get(r["tcp.stream"])
        if c is None:
            from_client = syn or r["tcp.dstport"] == "1883"
            client, server = (src, dst) if from_client else (dst, src)
            c = conns[r["tcp.stream"]] = {"client": client, "server": server, "isn": None,
                                          "seq": [], "t": float(r["frame.time_epoch"]),
                                          "client_id": None}
        if src == c["client"]:
            c["seq"].append(int(r["tcp.seq_raw"]))
            if syn:
                c["isn"] = int(r["tcp.seq_raw"])
        if r["mqtt.clientid"] and c["client_id"] is None:
            c["client_id"] = r["mqtt.clientid"]
    return list(conns.values())


def same(c, b):
    """Whether two records are one connection: the same server and client ISN, or (no SYN)
    client sequence numbers that overlap."""
    if c["server"] != b["server"]:
        return False
    if c["isn"] is not None and b["isn"] is not None:
        return c["isn"] == b["isn"]
    if not c["seq"] or not b["seq"]:
        return False
    return min(c["seq"]) <= max(b["seq"]) and min(b["seq"]) <= max(c["seq"])


def select(key, conns):
    key, _, pick = key.partition("&")
    if key == "*":
        hits = conns
    elif key.startswith("id="):
        hits = [c for c in conns if c["client_id"] == key[3:]]
    elif key.startswith("port="):
        hits = [c for c in conns if c["client"] and c["client"].endswith(":" + key[5:])]
    elif key.startswith("idprefix="):
        hits = [c for c in conns if (c["client_id"] or "").startswith(key[9:])]
    else:
        sys.exit("bad rule key " + key)
    if pick == "first":
        hits = hits[:1]
    elif pick == "last":
        hits = hits[-1:]
    return hits


def nul(s):
    return None if s == "null" else s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--shift", type=float, required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--how", required=True)
    p.add_argument("--rule", action="append", default=[])
    a = p.parse_args()
    client_cap, broker_cap = a.name + "-client.pcap", a.name + "-broker.pcap"
    at_client = connections(os.path.join(a.dir, client_cap))
    at_broker = connections(os.path.join(a.dir, broker_cap))
    real = []
    for b in at_broker:
        b["t"] -= a.shift
        twin = [c for c in at_client if same(c, b)]
        c = twin[0] if twin else None
        real.append({"client_id": b["client_id"] or (c and c["client_id"]), "t": b["t"],
                     "client": c["client"] if c else None, "public": b["client"],
                     "server": b["server"], "seen_at": ["client", "broker"] if c else ["broker"]})
    matched = {r["client"] for r in real if r["client"]}
    for c in at_client:
        if c["client"] not in matched:
            real.append({"client_id": c["client_id"], "t": c["t"], "client": c["client"],
                         "public": None, "server": c["server"], "seen_at": ["client"]})
    real.sort(key=lambda r: r["t"])
    done = set()
    for rule in a.rule:
        key, cause, layer, side, note = rule.split("|", 4)
        for r in select(key, [r for r in real if id(r) not in done]):
            r.update(cause=cause, layer=nul(layer), side=nul(side), note=note)
            done.add(id(r))
    for r in real:
        if id(r) not in done:
            sys.exit("no rule for connection %r" % r)
        del r["t"]
    out = {"scenario": a.scenario, "how": a.how, "client_capture": client_cap,
           "broker_capture": broker_cap, "clock_shift_seconds": a.shift,
           "connections": real}
    path = os.path.join(a.dir, a.name + ".expected.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print("  %s: %d connections, %d seen at both probes" % (
        a.name, len(real), sum(len(r["seen_at"]) == 2 for r in real)))


if __name__ == "__main__":
    main()
