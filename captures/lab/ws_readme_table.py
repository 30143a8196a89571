#!/usr/bin/python3
"""Rewrite the WebSocket scenario table in captures/README.md (between the ws-table markers)
from captures/ws/*.expected.json."""
import collections
import glob
import json
import os
import sys

ws_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ws")
readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(ws_dir)), "README.md")
rows = ["| capture | transport | vantage | broker | clients | what happened | expected verdicts (connections) | findings |",
        "|---|---|---|---|---|---|---|---|"]
for path in sorted(glob.glob(os.path.join(ws_dir, "*.expected.json"))):
    d = json.load(open(path))
    verdicts = collections.Counter()
    for c in d["connections"]:
        v = "%s/%s/%s" % (c["cause"], c["layer"] or "-", c["side"] or "-")
        if c["code"] is not None:
            v += " code %s" % c["code"]
        verdicts[v] += 1
    vs = "<br>".join("%s (%d)" % (v, n) for v, n in verdicts.items())
    transports = sorted({c.get("transport", "tcp") for c in d["connections"]})
    how = d["how"]
    broker = "mosquitto" if how.startswith("mosquitto") else "aedes" if how.startswith("aedes") else "?"
    clients = [name for name, key in (("paho", "paho-mqtt"), ("MQTT.js", "MQTT.js"), ("raw", "lab/ws_client.py"))
               if key in how]
    rows.append("| `ws/%s` | %s | %s | %s | %s | %s | %s | %s |" % (
        d["capture"], ", ".join(transports), d["vantage"], broker, ", ".join(clients), d["scenario"], vs,
        ", ".join(d["findings"]) or "-"))
if not os.path.exists(readme):
    sys.exit(0)
text = open(readme).read()
start, end = "<!-- ws-table:start -->", "<!-- ws-table:end -->"
if start not in text:
    sys.exit(0)
a, b = text.index(start) + len(start), text.index(end)
open(readme, "w").write(text[:a] + "\n" + "\n".join(rows) + "\n" + text[b:])
