#!/usr/bin/env bash
# Fleet memory on a long replay: peak RSS of `dropscope fleet` over synthetic connection
# records of ever new client ids (four probes, a drop every few records, a takeover split
# across probes every 1000), at two lengths. Bounded memory means the peak stays flat when
# the replay grows, once the state lifetime (--state-ttl) and the client cap are reached.
#
#   benches/fleet-memory.sh [RECORDS]      # default 1000000 (and a quarter of it)
set -euo pipefail
records=${1:-1000000}
bin=${DROPSCOPE:-target/release/dropscope}
gen() {
  python3 - "$1" <<'PY'
import json, sys
n = int(sys.argv[1])
t0 = 1.7e9
for i in range(n):
    probe = "gw-%d" % (i % 4)
    start = t0 + i * 0.01
    cid = "dev-%d" % i
    cause, side, layer = "client_disconnect", "client", "none"
    if i % 7 == 0:
        cause, side, layer = "reset", "middlebox", "network"
    if i % 1000 == 1:
        cid, cause, side, layer = "dev-%d" % (i - 1), "server_close", "server", "protocol"
        probe = "broker"
    rec = {"record": "connection", "id": i, "client": "10.%d.%d.%d:40000" % (i >> 16 & 255, i >> 8 & 255, i & 255),
           "server": "10.200.0.1:1883", "client_id": cid, "connect": {"frame": 1, "time": start},
           "start": start, "end": start + 0.02, "verdict": {"cause": cause, "layer": layer, "side": side},
           "probe": {"id": probe, "captured": start + 0.02, "clock": start + 0.5}}
    sys.stdout.write(json.dumps(rec) + "\n")
PY
}
for n in $((records / 4)) "$records"; do
  /usr/bin/time -f "%M" -o /tmp/fleet-memory.$$ \
    "$bin" fleet /dev/stdin --state-ttl 60s --max-clients 20000 < <(gen "$n") > /tmp/fleet-findings.$$
  echo "records $n: peak RSS $(cat /tmp/fleet-memory.$$) KiB, $(wc -l < /tmp/fleet-findings.$$) findings"
done
rm -f /tmp/fleet-memory.$$ /tmp/fleet-findings.$$
