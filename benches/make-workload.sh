#!/usr/bin/env bash
# Makes the base capture of the fleet workload benchmark: two private mosquitto brokers on
# loopback (A on 127.0.0.2, anonymous; B on 127.0.0.3, user name and password), the same
# port, driven by benches/workload.py with real mosquitto_pub/mosquitto_sub clients: 300
# publishers (QoS 0/1/2, small IoT payloads), 150 subscribers, 500 idle devices that only
# ping, ~300 reconnects (short-lived publishers, clients killed and started again),
# takeovers, keepalive timeouts, refused logins at B and a restart of B half way. Recorded by
# tcpdump on lo; clients connect from 127.0.0.1, so benches/replicate.py works unchanged.
# Nothing leaves the machine.
#
#   sudo bash benches/make-workload.sh [OUT.pcap]   # default benches/data/workload/base.pcap
#   python3 benches/replicate.py OUT.pcap BIG.pcap --port "$(cat OUT.port)" --min-bytes 2200000000
#
# Writes OUT.pcap (~205 MB, ~645 k frames of ~318 bytes, ~1,460 connections plus ~380 SYNs
# refused while B is down; every connection closed before the end; ~70 s) and OUT.port (the
# brokers' port, which `dropscope analyze --port` needs). SECONDS_OF_TRAFFIC (default 60) and
# RATE (messages/s, default 1800: a quarter of 2 cores, tcpdump dropping nothing) tune
# the size; PUBS, SUBS, IDLE, SHORT, KILLS, TAKEOVERS, STALLS, REFUSED the populations and
# events (see workload.py); B_SHARE the share of clients on broker B (default 0.2), BIG_SHARE
# that of messages of 400 B - 2 KB (default 0.33: ~314 bytes a frame). EVENT_LOG=FILE lists
# the staged events (kills, takeovers, stalls, refused logins, the restart) with their time.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/data/workload/base.pcap}
mkdir -p "$(dirname "$OUT")"
TRAFFIC_SECONDS=${SECONDS_OF_TRAFFIC:-60}
RATE=${RATE:-1800}
BROKER_A=127.0.0.2
BROKER_B=127.0.0.3

# shellcheck source=benches/maker-lib.sh
source "$HERE/maker-lib.sh"
need_tools make-workload mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd tcpdump python3 timeout
[[ $(id -u) -eq 0 ]] || { echo "make-workload: run as root (tcpdump)" >&2; exit 1; }

# ~1,000 clients: the brokers and the driver each hold hundreds of sockets or pipes.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PORT=$(free_port make-workload 18883 18884 18885 18886 18887)

WORK=$(mktemp -d /tmp/dropscope-workload.XXXX)
chmod 0755 "$WORK"
PIDS=()
DRIVER=""
cleanup() {
  # The driver runs under timeout, which leads a process group of its own: the driver, every
  # client it started and broker B once restarted.
  if [[ -n $DRIVER ]] && kill -0 -- "-$DRIVER" 2>/dev/null; then
    kill -TERM -- "-$DRIVER" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$DRIVER" 2>/dev/null || true
  fi
  if [[ -f $WORK/broker-b.pid ]]; then kill "$(cat "$WORK/broker-b.pid")" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A throwaway password for broker B, made here and gone with $WORK.
head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$WORK/client.pass"
chmod 0600 "$WORK/client.pass"
mosquitto_passwd -c -b "$WORK/passwd" fleet "$(cat "$WORK/client.pass")"

broker_conf() { # NAME ADDRESS [auth lines]
  local name=$1 addr=$2
  shift 2
  {
    echo "listener $PORT $addr"
    printf '%s\n' "$@"
    echo "persistence false"
    echo "log_dest none"
    echo "max_queued_messages 100000"
    echo "max_inflight_messages 100"
  } >"$WORK/$name.conf"
}
broker_conf broker-a "$BROKER_A" "allow_anonymous true"
broker_conf broker-b "$BROKER_B" "allow_anonymous false" "password_file $WORK/passwd"

listening() { ss -Htln "src $1 and sport = :$PORT" | grep -q .; }
mosquitto -c "$WORK/broker-a.conf" &
PIDS+=($!)
mosquitto -c "$WORK/broker-b.conf" &
echo $! >"$WORK/broker-b.pid"
for _ in $(seq 50); do listening "$BROKER_A" && listening "$BROKER_B" && break; sleep 0.1; done
listening "$BROKER_A" && listening "$BROKER_B" \
  || { echo "make-workload: mosquitto did not start on $BROKER_A/$BROKER_B:$PORT" >&2; exit 1; }

tcpdump -i lo -s 0 -B 65536 -U -w "$WORK/base.pcap" "tcp port $PORT" 2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
sleep 1

env_arg() { # OPTION VARIABLE: pass --OPTION $VARIABLE when the variable is set
  if [[ -n ${!2:-} ]]; then echo "--$1=${!2}"; fi
}
# shellcheck disable=SC2046 # env_arg prints at most one word
timeout -k 5 $((TRAFFIC_SECONDS + 90)) python3 "$HERE/workload.py" --port "$PORT" \
  --broker-a "$BROKER_A" --broker-b "$BROKER_B" \
  --broker-b-conf "$WORK/broker-b.conf" --broker-b-pidfile "$WORK/broker-b.pid" \
  --password-file "$WORK/client.pass" --seconds "$TRAFFIC_SECONDS" --rate "$RATE" \
  $(env_arg pubs PUBS) $(env_arg subs SUBS) $(env_arg idle IDLE) $(env_arg short SHORT) \
  $(env_arg kills KILLS) $(env_arg takeovers TAKEOVERS) $(env_arg stalls STALLS) \
  $(env_arg refused REFUSED) $(env_arg b-share B_SHARE) $(env_arg big-share BIG_SHARE) \
  $(env_arg log EVENT_LOG) &
DRIVER=$!
wait "$DRIVER"
DRIVER=""

sleep 1
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
grep -E "captured|dropped" "$WORK/tcpdump.err" >&2 || true
if grep -qE "^[1-9][0-9]* packets dropped by kernel" "$WORK/tcpdump.err"; then
  echo "make-workload: warning: tcpdump dropped packets (lower RATE)" >&2
fi
mv "$WORK/base.pcap" "$OUT"
echo "$PORT" >"${OUT%.pcap}.port"

bytes=$(stat -c %s "$OUT")
frames=$(tcpdump -n -q -r "$OUT" 2>/dev/null | wc -l)
syns=$(tcpdump -n -q -r "$OUT" "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst port $PORT" 2>/dev/null | wc -l)
conns=$(tcpdump -n -q -r "$OUT" "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack) and src port $PORT" 2>/dev/null | wc -l)
echo "make-workload: $OUT: $frames frames, $((bytes / 1000000)) MB, $conns connections" \
  "($syns SYNs), $((bytes / (frames > 0 ? frames : 1))) bytes/frame" >&2
