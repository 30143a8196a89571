#!/usr/bin/env bash
# Memory benchmark (issue 15): peak RSS growth per extra connection, and a SYN flood.
#
#   bash benches/memory.sh
#
# 1. captures/many-connections.pcap repeated 40 and 320 times with new four-tuples
#    (benches/replicate-live.py): peak RSS of `analyze --format json` on both, and the growth
#    per extra connection (the connections' records are kept for the report).
# 2. A synthetic flood of 1 M SYNs to port 1883, every fourth answered by a RST
#    (benches/synflood.py), at the default caps: peak RSS and time, against the reference
#    read loop's time on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=benches/data
mkdir -p "$DATA"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/dropscope
READLOOP=${READLOOP:-../shared/bench/readloop}
cargo build --release --quiet --manifest-path "$READLOOP/Cargo.toml" --target-dir /tmp/readloop
LOOP=/tmp/readloop/release/readloop
[[ -s $DATA/conns-1x.pcap ]] || python3 benches/replicate-live.py captures/many-connections.pcap "$DATA/conns-1x.pcap" 40
[[ -s $DATA/conns-8x.pcap ]] || python3 benches/replicate-live.py captures/many-connections.pcap "$DATA/conns-8x.pcap" 320
[[ -s $DATA/synflood.pcap ]] || python3 benches/synflood.py "$DATA/synflood.pcap"

# measure FILE: prints "seconds peak_kb connections" of a single-thread JSON analysis
measure() {
  /usr/bin/time -f "%e %M" -o "$DATA/mem-time.txt" "$BIN" analyze "$1" --format json --threads 1 >"$DATA/mem-out.json"
  echo "$(cat "$DATA/mem-time.txt") $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["connections"]))' "$DATA/mem-out.json")"
}
read -r s1 k1 c1 < <(measure "$DATA/conns-1x.pcap")
read -r s8 k8 c8 < <(measure "$DATA/conns-8x.pcap")
echo "connections: $c1 -> $c8, peak RSS $((k1 / 1024)) MB -> $((k8 / 1024)) MB," \
  "$(( (k8 - k1) * 1024 / (c8 - c1) )) bytes per extra connection"
read -r sf kf cf < <(measure "$DATA/synflood.pcap")
loop=$("$LOOP" mqtt-read "$DATA/synflood.pcap" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
echo "SYN flood (1 M flows): $sf s, peak RSS $((kf / 1024)) MB, $cf records kept;" \
  "read loop $loop s; ratio $(python3 -c "print(f'{$sf / $loop:.1f}')")"
