#!/usr/bin/python3
"""Write <scenario>.expected.json for one capture.

The verdict of each connection comes from the scenario (what the lab injected), given as
rules; tshark only tells which connections are in the capture (every SYN-initiated TCP
4-tuple), their ports and client ids, and the frame numbers quoted as evidence.

  --rule 'KEY|cause|layer|side|code|note'
KEY selects connections: id=X, idprefix=X, port=N (client port), noid (no CONNECT seen),
or * ; append &first or &last to pick the first/last connection of those.
code: null, a number, connack (the CONNACK code in this connection), sdisc (reason of a
DISCONNECT sent by the server), cdisc (reason of the client's DISCONNECT).
layer/side: null for JSON null.  The first rule that matches wins; a connection that no
rule matches is an error.
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile

FIELDS = ["frame.number", "frame.time_relative", "tcp.stream", "ip.src", "ipv6.src",
          "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags.syn",
          "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "mqtt.msgtype",
          "mqtt.clientid", "mqtt.ver", "mqtt.conack.val", "mqtt.connack.reason_code",
          "mqtt.disconnect.reason_code", "tcp.analysis.retransmission", "ip.ttl",
          "ipv6.hlim", "mqtt.kalive", "tcp.len"]
MSG = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 8: "SUBSCRIBE", 9: "SUBACK",
       12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}


def endpoint(ip, port):
    return "[%s]:%s" % (ip, port) if ":" in ip else "%s:%s" % (ip, port)


def tshark_rows(path, ports):
    cmd = ["tshark", "-r", path, "-o", "tcp.analyze_sequence_numbers:TRUE", "-Y", "tcp",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for p in ports:
        if p != 1883:
            cmd += ["-d", "tcp.port==%d,mqtt" % p]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        yield dict(zip(FIELDS, line.split("\t")))


def first_int(s):
    return int(s.split(",")[0]) if s else None


def analyse(path, ports):
    conns = collections.OrderedDict()
    for r in tshark_rows(path, ports):
        st = int(r["tcp.stream"])
        src = endpoint(r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
        dst = endpoint(r["ip.dst"] or r["ipv6.dst"], r["tcp.dstport"])
        fr = int(r["frame.number"])
        t = float(r["frame.time_relative"])
        if st not in conns:
            conns[st] = {"stream": st, "syn": None, "client": None, "server": None,
                         "client_id": None, "ver": None, "ka": None, "connack": None,
                         "sdisc": None, "cdisc": None, "first_close": None,
                         "events": [], "retrans": collections.Counter(), "first": fr,
                         "last": fr, "t_first": t, "t_last": t}
        c = conns[st]
        c["last"], c["t_last"] = fr, t
        if r["tcp.flags.syn"] in ("1", "True") and r["tcp.flags.ack"] in ("0", "False") and c["syn"] is None:
            c["syn"], c["client"], c["server"], c["t_syn"] = fr, src, dst, t
        side = "client" if src == c["client"] else "server"
        if r["tcp.analysis.retransmission"]:
            c["retrans"][side] += 1
        ttl = r["ip.ttl"] or r["ipv6.hlim"]
        if side == "client" and r["tcp.len"] not in ("", "0"):
            c.setdefault("client_data", []).append((fr, t))
        for flag, name in (("tcp.flags.fin", "FIN"), ("tcp.flags.reset", "RST")):
            if r[flag] in ("1", "True"):
                c["events"].append((fr, t, side, name, ttl))
                if c["first_close"] is None:
                    c["first_close"] = (fr, t, side, name, ttl)
        types = [int(x) for x in r["mqtt.msgtype"].split(",") if x]
        for mt in types:
            if mt == 1 and c["client_id"] is None:
                c["client_id"] = r["mqtt.clientid"].split(",")[0] if r["mqtt.clientid"] else ""
                c["ver"] = first_int(r["mqtt.ver"])
                c["ka"] = first_int(r["mqtt.kalive"])
                c["connect_frame"] = fr
            if mt == 2 and c["connack"] is None:
                code = first_int(r["mqtt.connack.reason_code"])
                if code is None:
                    code = first_int(r["mqtt.conack.val"])
                c["connack"], c["connack_frame"] = code, fr
            if mt == 14:
                rc = first_int(r["mqtt.disconnect.reason_code"])
                c["sdisc" if side == "server" else "cdisc"] = (fr, 0 if rc is None else rc)
            if mt in (1, 2, 12, 13, 14):
                c["events"].append((fr, t, side, MSG[mt], ttl))
    result = []
    for c in conns.values():
        if c["syn"] is None:
            # every connection in the lab starts inside its capture; a missing SYN means the
            # capture lost packets, so the run is not usable
            raise SystemExit("%s: TCP stream %d (frames %d-%d) has no SYN: packets lost in capture" % (
                path, c["stream"], c["first"], c["last"]))
        result.append(c)
    return result


def facts(c):
    """A short, frame-numbered account of one connection, for the note."""
    out = ["SYN f%d" % c["syn"]]
    if c.get("connect_frame"):
        out.append("CONNECT f%d (v%s, ka %ss)" % (c["connect_frame"], {4: "3.1.1", 5: "5.0", 3: "3.1"}.get(c["ver"], c["ver"]), c["ka"]))
    if c["connack"] is not None:
        out.append("CONNACK %d f%d" % (c["connack"], c["connack_frame"]))
    if c["cdisc"]:
        out.append("client DISCONNECT 0x%02X f%d" % (c["cdisc"][1], c["cdisc"][0]))
    if c["sdisc"]:
        out.append("server DISCONNECT 0x%02X f%d" % (c["sdisc"][1], c["sdisc"][0]))
    if c["first_close"]:
        fr, t, side, name, ttl = c["first_close"]
        # the last MQTT/TCP event from each side before the close, to show the silence
        last_client = [e for e in c.get("client_data", []) if e[0] < fr]
        s = "first %s by %s f%d at %.2fs (ttl %s)" % (name, side, fr, t, ttl)
        if last_client:
            gap = t - last_client[-1][1]
            s += ", %.2fs after the client's last data segment f%d" % (gap, last_client[-1][0])
            if c["ka"] and name == "FIN" and side == "server" and gap > c["ka"]:
                s += " (%.1f x keepalive)" % (gap / c["ka"])
        out.append(s)
    else:
        out.append("no FIN/RST; last frame f%d" % c["last"])
    rt = ", ".join("%d by %s" % (n, s) for s, n in sorted(c["retrans"].items()))
    if rt:
        out.append("retransmissions: " + rt)
    return "; ".join(out)


def select(key, conns):
    pick = None
    if "&" in key:
        key, pick = key.split("&", 1)
    if key == "*":
        sel = list(conns)
    elif key == "noid":
        sel = [c for c in conns if c["client_id"] is None]
    elif key.startswith("id="):
        sel = [c for c in conns if c["client_id"] == key[3:]]
    elif key.startswith("idprefix="):
        sel = [c for c in conns if (c["client_id"] or "").startswith(key[9:])]
    elif key.startswith("port="):
        sel = [c for c in conns if c["client"].rsplit(":", 1)[1] == key[5:]]
    else:
        raise SystemExit("bad rule key " + key)
    if pick == "first":
        sel = sel[:1]
    elif pick == "last":
        sel = sel[-1:]
    elif pick == "notlast":
        sel = sel[:-1]
    return {c["stream"] for c in sel}


def check(capture, c, cause):
    """The wire must agree with what the scenario meant to do; if it does not (a race, a
    lost packet), the scenario failed and must be run again rather than mislabelled."""
    problems = {
        "client_disconnect": c["cdisc"] is None,
        "connect_refused": not c["connack"],
        "server_disconnect": c["sdisc"] is None,
        "open_at_end": c["first_close"] is not None,
        "client_close": c["first_close"] is None or c["first_close"][2:4] != ("client", "FIN") or c["cdisc"] is not None,
        "reset": c["first_close"] is None or c["first_close"][3] != "RST",
    }
    if problems.get(cause):
        raise SystemExit("%s: connection %s (%s) does not look like %s on the wire: %s" % (
            capture, c["client"], c["client_id"], cause, facts(c)))


def nul(s):
    return None if s in ("null", "") else s


def code_of(spec, c):
    if spec in ("null", ""):
        return None
    if spec == "connack":
        return c["connack"]
    if spec in ("sdisc", "cdisc"):  # a reason code exists only in MQTT 5
        return c[spec][1] if c[spec] and c["ver"] == 5 else None
    return int(spec, 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--capture", required=True, help="file or directory, relative to --dir")
    p.add_argument("--dir", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--vantage", required=True)
    p.add_argument("--how", required=True)
    p.add_argument("--ports", default="1883")
    p.add_argument("--findings", default="")
    p.add_argument("--rule", action="append", default=[])
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ports = [int(x) for x in a.ports.split(",")]
    path = os.path.join(a.dir, a.capture)
    tmp = None
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*")))
        tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
        subprocess.run(["mergecap", "-F", "pcap", "-w", tmp.name] + files, check=True)
        path = tmp.name
    conns = analyse(path, ports)
    if tmp:
        os.unlink(tmp.name)
    seen = collections.Counter(c["client"] for c in conns)
    reused = [k for k, n in seen.items() if n > 1]
    if reused:  # tests key connections by client endpoint; a reused 4-tuple would be ambiguous
        raise SystemExit("%s: client endpoint reused: %s" % (a.capture, ", ".join(reused)))
    rules = [r.split("|", 5) for r in a.rule]
    out = []
    for c in conns:
        for key, cause, layer, side, code, note in rules:
            if c["stream"] in select(key, conns):
                break
        else:
            raise SystemExit("%s: no rule for connection %s id=%s" % (a.capture, c["client"], c["client_id"]))
        check(a.capture, c, cause)
        out.append({"client": c["client"], "server": c["server"], "client_id": c["client_id"],
                    "cause": cause, "layer": nul(layer), "side": nul(side), "code": code_of(code, c),
                    "note": (note + " | " if note else "") + "tshark: " + facts(c)})
        print("  %-24s %-22s %-22s %-14s %-9s %-9s %-5s %s" % (
            a.capture[:24], c["client"], c["client_id"], cause, layer, side, out[-1]["code"], facts(c)),
            file=sys.stderr)
    doc = collections.OrderedDict([
        ("capture", a.capture), ("scenario", a.scenario), ("vantage", a.vantage),
        ("how", a.how + " tshark shows %d TCP connection(s), SYNs at frames %s; each note quotes its frames (fN = frame N)." % (
            len(conns), ", ".join(str(c["syn"]) for c in conns[:12]) + (" ..." if len(conns) > 12 else ""))),
        ("mqtt_ports", ports), ("connections", out),
        ("findings", [f for f in a.findings.split(",") if f])])
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
