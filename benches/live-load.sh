#!/usr/bin/env bash
# Live load figure: replays a capture onto a veth (inside a network namespace of its own) and
# reports what `dropscope live` (default options) on the peer end kept up with, with its CPU
# time and peak RSS; libpcap's drop count is in the `stopped` line.
#
#   python3 benches/replicate-live.py captures/many-connections.pcap /tmp/live-load.pcap 300
#   sudo benches/live-load.sh /tmp/live-load.pcap [RATE]     # RATE: packets/s, or "topspeed"
#   sudo benches/live-load.sh /tmp/live-load.pcap sweep      # the highest rate with no drop
#
# `sweep` replays at 100 k, 200 k, 300 k, 400 k and 500 k packets/s and at top speed, a fresh
# dropscope each time, and names the highest rate tcpreplay reached with libpcap dropping
# nothing. LIVE_ARGS adds options to `dropscope live` (say `--port 18883` for the throughput
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

# replay RATE: one run; prints tcpreplay's figures and dropscope's, and leaves
# "REACHED_PPS DROPPED" in $work/result.
replay() {
  local rate=$1 speed
  rm -f "$work/events.ndjson"
  # `ip netns exec` execs the program, so $! is dropscope itself.
  # shellcheck disable=SC2086 # LIVE_ARGS is a list of options
  ip netns exec "$ns" "$bin" live -i dsl1 ${LIVE_ARGS:-} --events "$work/events.ndjson" 2>"$work/live.err" &
  live=$!
  sleep 1
  if [[ $rate == topspeed ]]; then speed=(--topspeed); else speed=(--pps="$rate"); fi
  ip netns exec "$ns" tcpreplay -q -i dsl0 "${speed[@]}" "$pcap" >"$work/replay.out" 2>&1 || true
  grep -E "Actual|Rated" "$work/replay.out" || cat "$work/replay.out"
  sleep 2
  local ticks utime stime
  ticks=$(getconf CLK_TCK)
  read -r utime stime < <(awk '{print $14, $15}' "/proc/$live/stat")
  echo "dropscope CPU: $(( (utime + stime) * 1000 / ticks )) ms; $(grep VmHWM "/proc/$live/status")"
  kill -TERM "$live"
  for _ in $(seq 50); do kill -0 "$live" 2>/dev/null || break; sleep 0.2; done
  wait "$live" || true
  live=
  grep -E "stopped" "$work/live.err" || cat "$work/live.err"
  echo "events: $(wc -l <"$work/events.ndjson")"
  local reached dropped
  reached=$(sed -n 's/.* \([0-9.]*\) pps.*/\1/p' "$work/replay.out" | head -1)
  dropped=$(sed -n 's/.*dropped \([0-9]*\).*/\1/p' "$work/live.err" | head -1)
  echo "${reached:-0} ${dropped:-unknown}" >"$work/result"
}

if [[ $rate != sweep ]]; then
  replay "$rate"
  exit 0
fi
best=0
for r in 100000 200000 300000 400000 500000 topspeed; do
  echo "== $r packets/s"
  replay "$r"
  read -r reached dropped <"$work/result"
  if [[ $dropped == 0 ]] && python3 -c "import sys; sys.exit(not float('$reached') > float('$best'))"; then
    best=$reached
  fi
done
echo "highest rate with no drop: $best packets/s"
