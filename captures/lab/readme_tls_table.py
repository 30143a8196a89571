#!/usr/bin/python3
"""Rewrite the TLS scenario table in captures/README.md (between the tls-table markers)
from captures/tls/*.expected.json."""
import collections
import glob
import json
import os
import sys

tls_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tls")
readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(tls_dir)), "README.md")
rows = ["| capture | TLS | vantage | what happened | expected verdicts (connections) | findings |",
        "|---|---|---|---|---|---|"]
for path in sorted(glob.glob(os.path.join(tls_dir, "*.expected.json"))):
    d = json.load(open(path))
    verdicts = collections.Counter()
    versions = set()
    for c in d["connections"]:
        v = "%s/%s/%s" % (c["cause"], c["layer"] or "-", c["side"] or "-")
        if c["code"] is not None:
            v += " code %s" % c["code"]
        verdicts[v] += 1
        for ver in ("1.3", "1.2"):
            if "TLS %s (ServerHello" % ver in c["note"]:
                versions.add(ver)
    vs = "<br>".join("%s (%d)" % (v, n) for v, n in verdicts.items())
    ports = "" if d["tls_ports"] == [8883] else " (port %s)" % ",".join(map(str, d["tls_ports"]))
    rows.append("| `tls/%s` | %s | %s | %s%s | %s | %s |" % (
        d["capture"], ", ".join(sorted(versions)) or "none agreed", d["vantage"], d["scenario"], ports, vs,
        ", ".join(d["findings"]) or "-"))
if not os.path.exists(readme):
    sys.exit(0)
text = open(readme).read()
start, end = "<!-- tls-table:start -->", "<!-- tls-table:end -->"
if start not in text:
    sys.exit(0)
a, b = text.index(start) + len(start), text.index(end)
open(readme, "w").write(text[:a] + "\n" + "\n".join(rows) + "\n" + text[b:])
