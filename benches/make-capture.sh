#!/usr/bin/env bash
# Makes the base capture of the throughput benchmark: real MQTT traffic between
# mosquitto_pub/mosquitto_sub clients and a private mosquitto on 127.0.0.1, recorded by
# tcpdump on lo. Nothing leaves the machine.
#
#   sudo bash benches/make-capture.sh [OUT.pcap]     # default benches/data/base.pcap
#
# Writes OUT.pcap (tens of MB, every connection closed before the end) and OUT.port (the
# broker port, which `dropscope analyze --port` needs when it is not 1883).
# SECONDS_OF_TRAFFIC and RATE (messages/s) tune the size; the defaults give ~55 MB in < 1 min.
# MAX_PAYLOAD (bytes, default 2000) caps the messages' size: 200 gives small frames, where
# the per-packet work weighs most against reading.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/data/base.pcap}
mkdir -p "$(dirname "$OUT")"
TRAFFIC_SECONDS=${SECONDS_OF_TRAFFIC:-40}
RATE=${RATE:-600}

# shellcheck source=benches/maker-lib.sh
source "$HERE/maker-lib.sh"
need_tools make-capture mosquitto mosquitto_pub mosquitto_sub tcpdump python3
PORT=$(free_port make-capture 18883 18884 18885 18886 1883)

WORK=$(mktemp -d /tmp/dropscope-bench.XXXX)
chmod 0755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest none
max_queued_messages 100000
CONF
mosquitto -c "$WORK/mosquitto.conf" &
PIDS+=($!)
for _ in $(seq 50); do port_free "$PORT" || break; sleep 0.1; done
port_free "$PORT" && { echo "make-capture: mosquitto did not start on $PORT" >&2; exit 1; }

tcpdump -i lo -s 0 -B 65536 -U -w "$WORK/base.pcap" "tcp port $PORT" 2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
sleep 1

timeout -k 5 110 python3 "$HERE/traffic.py" --port "$PORT" --seconds "$TRAFFIC_SECONDS" --rate "$RATE" \
  --max-size "${MAX_PAYLOAD:-2000}"

sleep 1
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
grep -E "captured|dropped" "$WORK/tcpdump.err" >&2 || true
if grep -qE "^[1-9][0-9]* packets dropped by kernel" "$WORK/tcpdump.err"; then
  echo "make-capture: warning: tcpdump dropped packets" >&2
fi
mv "$WORK/base.pcap" "$OUT"
echo "$PORT" >"${OUT%.pcap}.port"
ls -l "$OUT" >&2
