#!/usr/bin/env bash
# Live load figure: replays a capture onto a veth (inside a network namespace of its own) and
# reports what `dropscope live` (default options) on the peer end kept up with, with its CPU
# time and peak RSS; libpcap's drop count is in the `stopped` line.
#
#   python3 benches/replicate-live.py captures/many-connections.pcap /tmp/live-load.pcap 300
#   sudo benches/live-load.sh /tmp/live-load.pcap [RATE]     # RATE: packets/s, or "topspeed"
#
# LIVE_ARGS adds options to `dropscope live` (say `--port 18883` for the throughput
# benchmark's capture, whose broker is not on 1883).
set -euo pipefail
pcap=${1:?capture to replay}
rate=${2:-topspeed}
bin=${DROPSCOPE:-target/release/dropscope}
ns=dsload-$$
work=$(mktemp -d)
live=
cleanup() {
  if [[ -n $live ]]; then kill -KILL "$live" 2>/dev/null || true; fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add dsl0 type veth peer name dsl1
# Loopback captures carry frames up to 64 KB: a veth MTU that large replays them whole.
ip -n "$ns" link set dsl0 mtu 65535 up
ip -n "$ns" link set dsl1 mtu 65535 up
# `ip netns exec` execs the program, so $! is dropscope itself.
# shellcheck disable=SC2086 # LIVE_ARGS is a list of options
ip netns exec "$ns" "$bin" live -i dsl1 ${LIVE_ARGS:-} --events "$work/events.ndjson" 2>"$work/live.err" &
live=$!
sleep 1
if [[ $rate == topspeed ]]; then speed=(--topspeed); else speed=(--pps="$rate"); fi
ip netns exec "$ns" tcpreplay -q -i dsl0 "${speed[@]}" "$pcap" 2>&1 | grep -E "Actual|Rated" || true
sleep 2
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$live/stat")
echo "dropscope CPU: $(( (utime + stime) * 1000 / ticks )) ms; $(grep VmHWM "/proc/$live/status")"
kill -TERM "$live"
for _ in $(seq 50); do kill -0 "$live" 2>/dev/null || break; sleep 0.2; done
wait "$live" || true
live=
grep -E "stopped" "$work/live.err" || cat "$work/live.err"
echo "events: $(wc -l <"$work/events.ndjson")"
