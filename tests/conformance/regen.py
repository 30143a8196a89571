#!/usr/bin/env python3
"""Regenerates tshark's per-connection MQTT packet counts, the conformance reference.

For every capture in ../shared/captures-public and captures/ (and captures/tls/, decrypted
with the key log saved beside each capture: `-o tls.keylog_file:F`), runs the command given in
shared/captures-public/PROVENANCE.md:

    tshark -r FILE [-d tcp.port==PORT,mqtt] -Y 'mqtt && !tcp.analysis.retransmission' \
        -T fields -e tcp.stream -e mqtt.msgtype ...

and writes tests/conformance/<name>.json: one entry per TCP stream with its two endpoints
and the count of each MQTT packet type. tshark is needed only to run this script; the
tests read the JSON files.

Usage: python3 tests/conformance/regen.py   (from the repository root)
"""
import json
import os
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "conformance")
PUBLIC = os.path.join(ROOT, "..", "shared", "captures-public")
CAPTURES = os.path.join(ROOT, "captures")

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# Ports the public captures use for MQTT besides 1883 (see PROVENANCE.md).
PUBLIC_PORTS = {"ndpi-coap_mqtt.pcap": [17501]}


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def tshark_counts(path, ports, keylog=None, tls_ports=()):
    cmd = ["tshark", "-r", path]
    for p in ports:
        cmd += ["-d", f"tcp.port=={p},mqtt"]
    if keylog:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for p in tls_ports:
        if p != 8883:  # tshark reads MQTT inside TLS on 8883 by itself
            cmd += ["-d", f"tls.port=={p},mqtt"]
    cmd += ["-Y", "mqtt && !tcp.analysis.retransmission", "-T", "fields",
            "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
            "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "mqtt.msgtype",
            "-E", "occurrence=a", "-E", "aggregator=;", "-E", "separator=/t"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    streams = defaultdict(lambda: {"endpoints": None, "counts": defaultdict(int)})
    for line in out.splitlines():
        f = line.split("\t")
        stream, src4, src6, sport, dst4, dst6, dport, types = f[:8]
        # Tunnelled or VLAN frames may repeat fields; the first occurrence is the outer one.
        src = (src4 or src6).split(";")[-1]
        dst = (dst4 or dst6).split(";")[-1]
        s = streams[int(stream)]
        s["endpoints"] = sorted([endpoint(src, sport.split(";")[0]), endpoint(dst, dport.split(";")[0])])
        for t in types.replace(",", ";").split(";"):
            if t:
                s["counts"][NAMES.get(int(t), f"TYPE_{t}")] += 1
    return [{"stream": k, "endpoints": v["endpoints"], "counts": dict(sorted(v["counts"].items()))}
            for k, v in sorted(streams.items())]


def captures():
    for name in sorted(os.listdir(PUBLIC)):
        if name.endswith(".pcap"):
            yield name, os.path.join(PUBLIC, name), PUBLIC_PORTS.get(name, [])
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith(".expected.json"):
            continue
        expected = json.load(open(os.path.join(CAPTURES, name)))
        path = os.path.join(CAPTURES, expected["capture"])
        ports = [p for p in expected.get("mqtt_ports", []) if p != 1883]
        if os.path.isdir(path):
            continue  # a rotated set: tshark reads one file at a time
        yield expected["capture"], path, ports


def tls_captures():
    """The TLS lab captures, decrypted by tshark with the key log saved beside each."""
    tls = os.path.join(CAPTURES, "tls")
    for name in sorted(os.listdir(tls)):
        if name.endswith(".expected.json"):
            expected = json.load(open(os.path.join(tls, name)))
            keylog = expected["capture"].replace(".pcap", ".keys")
            yield (f"tls/{expected['capture']}", os.path.join(tls, expected["capture"]),
                   f"tls/{keylog}", expected.get("tls_ports", []))


def main():
    for name, path, ports in captures():
        write(name, {"capture": name, "ports": ports, "streams": tshark_counts(path, ports)})
    for name, path, keylog, tls_ports in tls_captures():
        streams = tshark_counts(path, [], os.path.join(CAPTURES, keylog), tls_ports)
        write(name, {"capture": name, "ports": [], "keylog": keylog, "streams": streams})


def write(name, result):
    """tests/conformance/<name>.json, with the directory's slash made a dash."""
    with open(os.path.join(OUT, name.replace("/", "-") + ".json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{name}: {len(result['streams'])} streams", file=sys.stderr)


if __name__ == "__main__":
    main()
