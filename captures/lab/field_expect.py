#!/usr/bin/python3
"""Write <scenario>.expected.json for one field-shape capture (captures/field/).

Runs lab/expect.py with the same arguments (rules, ports, --midstream), then adds to each
expected connection what the field shapes are judged on:

  mqtt_packets   MQTT packets per type in that connection, as tshark counts them; with
                 --count-filter FILTER only in the frames FILTER selects (one interface's
                 copy of each packet, when the capture holds several)
  copies         with --copies: frames that repeat an earlier frame of the same sender (same
                 IP id, sequence and acknowledgement numbers, flags and length) within
                 --copy-window seconds, i.e. the same packet recorded on another interface
  retransmissions  with --copies: frames tshark flags as retransmissions that are not copies

A rule whose cause is `not_mqtt` moves its connections out of "connections" into
"not_mqtt": TCP flows that are no MQTT connection at all (a port scan probe); a tool may
leave them out, and if it reports one, its verdict must fit the note (never a middlebox).

  --not-mqtt-note TEXT   what a tool may say of the not_mqtt flows, written beside them
  --findings-note TEXT   which cross-connection findings are real and which would be noise
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expect  # noqa: E402  (the sibling module in lab/)

TYPES = ["Reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
         "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
         "AUTH"]


def take_option(argv, name, flag=False, default=None):
    """Remove --name [value] from argv; return its value (True for a present flag)."""
    if name not in argv:
        return default
    i = argv.index(name)
    if flag:
        del argv[i]
        return True
    value = argv[i + 1]
    del argv[i:i + 2]
    return value


def arg(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def tshark_fields(path, ports, display_filter, fields):
    cmd = ["tshark", "-r", path, "-o", "tcp.analyze_sequence_numbers:TRUE", "-Y", display_filter,
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for p in ports:
        if p != 1883:
            cmd += ["-d", "tcp.port==%d,mqtt" % p]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def ends(r):
    src = expect.endpoint(r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
    dst = expect.endpoint(r["ip.dst"] or r["ipv6.dst"], r["tcp.dstport"])
    return src, dst


ADDR = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport"]


def mqtt_counts(path, ports, count_filter):
    """client-or-server endpoint pair -> Counter of MQTT packet types, as tshark counts.
    With count_filter, only the frames it selects are kept (in a temporary file) before
    counting, so that tshark reassembles them as one capture of one interface would be."""
    counts = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        if count_filter:
            only = os.path.join(tmp, "one-interface.pcapng")
            subprocess.run(["tshark", "-r", path, "-Y", count_filter, "-w", only], check=True,
                           capture_output=True)
            path = only
        for r in tshark_fields(path, ports, "mqtt", ADDR + ["mqtt.msgtype"]):
            key = frozenset(ends(r))
            for t in (int(x) for x in r["mqtt.msgtype"].split(",") if x):
                counts[key][TYPES[t] if t < len(TYPES) else str(t)] += 1
    return counts


def copy_stats(path, ports, window):
    """endpoint pair -> (copies, retransmissions that are not copies, interfaces seen)."""
    fields = ADDR + ["frame.time_epoch", "frame.interface_id", "sll.ifindex", "ip.id", "tcp.seq_raw",
                     "tcp.ack_raw", "tcp.flags", "tcp.len", "tcp.analysis.retransmission",
                     "frame.interface_name"]
    last_seen = {}
    stats = collections.defaultdict(lambda: [0, 0, set()])
    for r in tshark_fields(path, ports, "tcp", fields):
        src, dst = ends(r)
        s = stats[frozenset((src, dst))]
        s[2].add(r["frame.interface_name"] or ("ifindex " + r["sll.ifindex"] if r["sll.ifindex"] else "")
                 or "interface not recorded")
        key = (src, r["ip.id"], r["tcp.seq_raw"], r["tcp.ack_raw"], r["tcp.flags"], r["tcp.len"])
        t = float(r["frame.time_epoch"])
        if key in last_seen and t - last_seen[key] <= window:
            s[0] += 1
        elif r["tcp.analysis.retransmission"]:
            s[1] += 1
        last_seen.setdefault(key, t)
    return stats


def main():
    argv = sys.argv[1:]
    copies = take_option(argv, "--copies", flag=True, default=False)
    window = float(take_option(argv, "--copy-window", default="0.01"))
    count_filter = take_option(argv, "--count-filter")
    not_mqtt_note = take_option(argv, "--not-mqtt-note", default="")
    findings_note = take_option(argv, "--findings-note")
    path = os.path.join(arg(argv, "--dir"), arg(argv, "--capture"))
    ports = [int(x) for x in (arg(argv, "--ports") or "1883").split(",") if x]
    sys.argv = [sys.argv[0]] + argv
    expect.main()
    out = arg(argv, "--out")
    with open(out) as f:
        doc = json.load(f, object_pairs_hook=collections.OrderedDict)
    counts = mqtt_counts(path, ports, count_filter)
    stats = copy_stats(path, ports, window) if copies else {}
    kept, not_mqtt = [], []
    for c in doc["connections"]:
        key = frozenset((c["client"], c["server"]))
        c["mqtt_packets"] = collections.OrderedDict(
            (t, counts[key][t]) for t in TYPES if counts[key][t])
        if copies:
            n_copies, retrans, ifaces = stats[key]
            c["copies"], c["retransmissions"] = n_copies, retrans
            c["note"] += "; %d copies of the same packets on other interfaces (%s), %d real retransmissions" % (
                n_copies, ", ".join(sorted(ifaces)), retrans)
        (not_mqtt if c["cause"] == "not_mqtt" else kept).append(c)
    doc["connections"] = kept
    if not_mqtt:
        doc["not_mqtt"] = collections.OrderedDict([("note", not_mqtt_note), ("flows", not_mqtt)])
    if count_filter:
        doc["count_filter"] = count_filter
    if findings_note:
        doc["findings_note"] = findings_note
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
