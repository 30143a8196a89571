#!/usr/bin/python3
"""Rewrite the scenario table in captures/README.md (between the table markers) from the
*.expected.json files, so the README always says what the committed captures hold."""
import collections
import glob
import json
import os
import sys

here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rows = ["| capture | vantage | what happened | expected verdicts (connections) | findings |",
        "|---|---|---|---|---|"]
for path in sorted(glob.glob(os.path.join(here, "*.expected.json"))):
    d = json.load(open(path))
    verdicts = collections.Counter()
    for c in d["connections"]:
        v = "%s/%s/%s" % (c["cause"], c["layer"] or "-", c["side"] or "-")
        if c["code"] is not None:
            v += " code %s" % c["code"]
        verdicts[v] += 1
    vs = "<br>".join("%s (%d)" % (v, n) for v, n in verdicts.items())
    cap = d["capture"] + ("/" if os.path.isdir(os.path.join(here, d["capture"])) else "")
    ports = "" if d["mqtt_ports"] == [1883] else " (port %s)" % ",".join(map(str, d["mqtt_ports"]))
    rows.append("| `%s` | %s | %s%s | %s | %s |" % (cap, d["vantage"], d["scenario"], ports, vs,
                                                   ", ".join(d["findings"]) or "-"))
readme = os.path.join(here, "README.md")
text = open(readme).read()
start, end = "<!-- scenario-table:start -->", "<!-- scenario-table:end -->"
a, b = text.index(start) + len(start), text.index(end)
open(readme, "w").write(text[:a] + "\n" + "\n".join(rows) + "\n" + text[b:])
