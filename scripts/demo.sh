#!/usr/bin/env bash
# The one command that sets up and runs the main job on the bundled captures: analyze every
# capture in captures/ (and captures/tls/, tls-dsb/, ws/) and write the SVG report to report/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
bin=target/release/dropscope
for expected in captures/*.expected.json; do
    capture="captures/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["capture"])' "$expected")"
    ports=$(python3 -c 'import json,sys; print(" ".join("--port %d" % p for p in json.load(open(sys.argv[1])).get("mqtt_ports", []) if p != 1883))' "$expected")
    echo "=== $capture"
    # shellcheck disable=SC2086
    "$bin" analyze "$capture" $ports || [ $? -eq 4 ]
    echo
done
# MQTT over TLS, read without keys and without port flags (captures/tls/).
for capture in captures/tls/*.pcap; do
    echo "=== $capture"
    "$bin" analyze "$capture" || [ $? -eq 4 ]
    echo
done
# The same TLS captures decrypted by the secrets inside their pcapng copies (captures/tls-dsb/),
# and MQTT over WebSocket, ws and wss, with no port flag (wss decrypted with its key log).
for capture in captures/tls-dsb/*.pcapng; do
    echo "=== $capture (secrets inside)"
    "$bin" analyze "$capture" || [ $? -eq 4 ]
    echo
done
for capture in captures/ws/*.pcap; do
    echo "=== $capture"
    keys=${capture%.pcap}.keys
    if [ -f "$keys" ]; then "$bin" analyze "$capture" --keylog "$keys" || [ $? -eq 4 ]
    else "$bin" analyze "$capture" || [ $? -eq 4 ]; fi
    echo
done
# One report per capture: report/<capture>/index.html with its SVG charts.
for expected in captures/*.expected.json; do
    capture="captures/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["capture"])' "$expected")"
    ports=$(python3 -c 'import json,sys; print(" ".join("--port %d" % p for p in json.load(open(sys.argv[1])).get("mqtt_ports", []) if p != 1883))' "$expected")
    name=$(basename "$capture"); name=${name%%.*}
    # shellcheck disable=SC2086
    "$bin" report "$capture" $ports -o "report/$name" || [ $? -eq 4 ]
done
echo "reports written to report/*/index.html"
