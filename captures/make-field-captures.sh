#!/usr/bin/env bash
# Field shapes: small real captures of the shapes that real captures published by other
# projects show and the lab's own did not (issue 14): packets recorded once per interface
# (tcpdump -i any, pcapng with several interfaces), a port scan on loopback, bursts of
# short server-closed connections, a capture starting inside a split CONNACK, a PUBLISH with
# QoS 3, a capture holding only the closing FINs, a reconnect storm against a stopped broker,
# a steady drop rate with one real broker restart.
#
#   sudo captures/make-field-captures.sh            # every scenario (in parallel)
#   sudo captures/make-field-captures.sh NAME...    # only these scenarios
#   captures/make-field-captures.sh --list          # scenario names
#
# The lab's helpers (namespaces, broker_start, cap_start/cap_stop, mqttc, expect ...) come
# from make-captures.sh; see its header for the three-namespace layout (client ns c0
# 10.77.1.2, gateway ns, broker ns b0 10.77.2.2).  Scenarios that need another layout build
# it here.  Everything on the wire comes from the Linux TCP stack, mosquitto 2.0, the
# mosquitto clients, lab/mqttc.py, lab/raw_broker.py (for the split CONNACK no broker sends)
# and nmap; captures are cut with editcap only where a scenario says so (a capture that
# starts mid-stream).  lab/field_expect.py writes field/NAME.expected.json.
set -euo pipefail

FIELD_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OUT=${OUT:-$FIELD_HERE/field}
# shellcheck source=make-captures.sh
source "$FIELD_HERE/make-captures.sh"
mkdir -p "$OUT"

# fexpect CAPTURE VANTAGE SCENARIO HOW FINDINGS [--field-option...] -- RULE...
# like expect (make-captures.sh) but through lab/field_expect.py
fexpect() {
  local cap=$1 vantage=$2 scenario=$3 how=$4 findings=$5; shift 5
  local opts=() args=() base
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  for r in "$@"; do args+=(--rule "$r"); done
  base=${cap%.pcap}; base=${base%.pcapng}
  "$PY" "$LABPY/field_expect.py" --dir "$OUT" --capture "$cap" --vantage "$vantage" \
    --scenario "$scenario" --how "$how" --findings "$findings" --ports "${PORTS:-1883}" \
    --out "$OUT/$base.expected.json" "${opts[@]}" "${args[@]}"
}

# frames FILE FILTER: the frame numbers tshark shows for FILTER, space-separated
frames() { tshark -r "$1" -Y "$2" -T fields -e frame.number | tr '\n' ' '; }

# keep_from FILE FIRST: cut FILE in place so that it starts at frame FIRST
keep_from() {
  local last
  last=$(capinfos -c -M "$1" | awk '/Number of packets/ {print $NF}')
  editcap -r "$1" "$1.cut" "$2-$last"
  mv "$1.cut" "$1"
}

# --------------------------------------------------------------- scenarios ---------

fc_publish-qos3() {
  broker_start
  cap_start CAP broker "$OUT/publish-qos3.pcap" tcp
  # PUBLISH, flags 0110 (QoS bits 11), remaining length 15: topic "lab/q3", packet id 1,
  # payload "hello"; correctly framed, only the QoS is invalid
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id qos3 --ka 10 \
    --plan connect,sleep:0.3,raw:360f00066c61622f7133000168656c6c6f,ping:2 >"$WORK/a.log" || true
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id qos1-control --ka 10 \
    --plan connect,pub:1:0.3:5:1,disconnect >"$WORK/b.log" || true
  cap_stop "$CAP"
  grep -q "Client qos3 disconnected due to malformed packet\|Client qos3 disconnected" "$WORK/mosquitto.log" ||
    die "mosquitto did not close qos3: $(grep qos3 "$WORK/mosquitto.log")"
  fexpect publish-qos3.pcap broker \
    "a correctly framed PUBLISH with QoS 3 (first byte 0x36) after a good CONNECT/CONNACK; the broker closes the connection" \
    "Raw client qos3 (lab/mqttc.py) connects (3.1.1, keepalive 10), 0.3 s after CONNACK sends PUBLISH 36 0f 0006 'lab/q3' 0001 'hello': a well framed PUBLISH whose QoS bits are 11 (reserved). mosquitto logs it as a protocol error and closes the socket. Then a control client publishes one QoS 1 message and disconnects." "" -- \
    "id=qos3|protocol_violation|protocol|server|null|malformed PUBLISH (QoS 3): one PUBLISH counted, the broker closed for the protocol error" \
    "id=qos1-control|client_disconnect|none|client|null|control: QoS 1 PUBLISH, PUBACK, DISCONNECT"
}

fc_fins-only() {
  broker_start
  cap_start CAP broker "$WORK/full.pcap"
  # one client ends with DISCONNECT then FIN, one with a bare FIN; the cut keeps only
  # their closing FIN exchanges, which look alike
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id fins-disconnect --bind-port 40201 --ka 30 --plan connect,silent:1,disconnect >"$WORK/a.log" || true
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id fins-close --bind-port 40202 --ka 30 --plan connect,silent:1,close >"$WORK/b.log" || true
  cap_stop "$CAP"
  # the first FIN of each connection and what follows it; nothing before
  local keep
  keep=$("$PY" - "$WORK/full.pcap" <<'EOF'
import subprocess, sys
rows = subprocess.run(["tshark", "-r", sys.argv[1], "-Y", "tcp", "-T", "fields", "-e", "frame.number",
                       "-e", "tcp.stream", "-e", "tcp.flags.fin"], capture_output=True, text=True, check=True).stdout
fin_seen, keep = set(), []
for line in rows.splitlines():
    fr, st, fin = line.split("\t")
    if fin in ("1", "True"):
        fin_seen.add(st)
    if st in fin_seen:
        keep.append(fr)
print(" ".join(keep))
EOF
)
  log "keeping frames $keep"
  editcap -r "$WORK/full.pcap" "$OUT/fins-only.pcap" $keep
  fexpect fins-only.pcap broker \
    "only the closing FIN exchanges of two connections are in the capture: nothing says whether the client sent DISCONNECT or crashed" \
    "Two raw clients (lab/mqttc.py, 3.1.1, keepalive 30) connect and stay silent for 1 s; fins-disconnect then sends DISCONNECT and a FIN, fins-close only a FIN (shutdown, no DISCONNECT). The capture was cut with editcap to keep, of each connection, its first FIN and what follows (the FINs of both sides and the last ACK; after a DISCONNECT mosquitto may send its FIN before the client's, so either side may come first); the client ports say which is which. In truth one ended cleanly and one without DISCONNECT; the capture cannot tell them apart, so neither is a client crash (client_close, 'the will message fires'): the verdict must say what is missing." "" \
    --midstream -- \
    "port=40201|unknown|null|null|null|only the closing FINs are in the capture; in truth fins-disconnect sent DISCONNECT just before its FIN (cut away)" \
    "port=40202|unknown|null|null|null|only the closing FINs are in the capture; in truth fins-close sent a bare FIN (no DISCONNECT)"
}

fc_server-closes-short() {
  # max_connections 4: three held clients and one good client at a time fill it; every
  # connection that arrives while it is full is closed by the broker on accept
  broker_start 1883 "max_connections 4"
  cap_start CAP broker "$OUT/server-closes-short.pcap" tcp
  bg mqttc --host $B_IP --id held --count 3 --stagger 0.1 --ka 2 --plan connect,ping:9 >"$WORK/held.log"
  sleep 1
  local k
  for k in 0 1 2 3 4; do
    bg mqttc --host $B_IP --id "good-$k" --ka 5 --plan connect,pub:1:0.1:5:1,silent:0.8,disconnect >"$WORK/good-$k.log"
    sleep 0.1
    if ((k > 0)); then  # takes the slot mosquitto 2.0.11 wrongly frees when a client leaves
      bg mqttc --host $B_IP --id "filler-$k" --ka 2 --plan connect,ping:$((8 - k)) >"$WORK/filler-$k.log"
    fi
    sleep 0.1
    # six connections 80 ms apart that wait 0.4 s before CONNECT: while the broker is full
    # it closes each on accept; one it let in connects and disconnects cleanly
    bg mqttc --host $B_IP --id "over-$k" --count 6 --stagger 0.08 --bind-port $((41000 + 10 * k)) \
      --plan silent:0.4,connect,disconnect >"$WORK/over-$k.log"
    sleep 1
  done
  sleep 1.5
  cap_stop "$CAP"
  local denied accepted
  denied=$(grep -c "denied: max_connections exceeded" "$WORK/mosquitto.log" || true)
  accepted=$(grep -c "New client connected" "$WORK/mosquitto.log" || true)
  log "mosquitto: $denied denied (max_connections), $accepted accepted"
  ((denied == 30 && accepted == 12)) || die "expected 30 denied and 12 accepted connections in the broker log"
  fexpect server-closes-short.pcap broker \
    "short connections closed by the broker on accept (max_connections reached), in five bursts of six over 6 s, while it goes on accepting and completing new connections" \
    "Broker config max_connections 4. Three raw clients (held-000..002, keepalive 2) connect first and ping throughout. Then five times, 1.2 s apart: a good client (good-0..4) connects, publishes one QoS 1 message, stays 0.8 s and disconnects; 0.2 s after it six raw clients (ports 41000+10k..41005+10k, 80 ms apart) open TCP and wait 0.4 s before CONNECT; with the broker full, mosquitto closes each on accept (its log: 'denied: max_connections exceeded'), within a millisecond, without any MQTT packet. mosquitto 2.0.11 frees two slots when a client leaves, so 0.1 s after each good client from the second on, a filler client (filler-1..4, keepalive 2) connects and stays, to keep the broker full. Nothing stops the broker: this is not a shutdown. Captured with the filter 'tcp'." "" -- \
    "idprefix=held|open_at_end|none|null|null|still up: the broker never stopped" \
    "idprefix=good|client_disconnect|none|client|null|connected between the bursts, published, disconnected" \
    "idprefix=filler|open_at_end|none|null|null|connected between the bursts, still up" \
    "noid|server_close|protocol|server|null|closed by the broker on accept (max_connections exceeded), no MQTT packet"
}

fc_midstream-connack-1byte() {
  bg_in b timeout -k 2 30 "$PY" "$LABPY/raw_broker.py" --split-gap 0.2 --lifetime 25
  wait_for 5 "raw broker listening" bash -c "ip netns exec $NS-b ss -ltn | grep -q ':1883 '"
  cap_start CAP broker "$WORK/full.pcap" tcp
  MQTTC_TIMEOUT=15 mqttc --host $B_IP --id split-connack --ka 1 --plan connect,ping:3,disconnect >"$WORK/c.log" || true
  cap_stop "$CAP"
  grep -q '"event": "CONNACK"' "$WORK/c.log" || die "the client got no CONNACK: $(cat "$WORK/c.log")"
  local first
  first=$(frames "$WORK/full.pcap" "tcp.srcport == 1883 && tcp.len == 1")
  first=${first%% *}
  [[ -n $first ]] || die "no one-byte segment from the server"
  cp "$WORK/full.pcap" "$OUT/midstream-connack-1byte.pcap"
  keep_from "$OUT/midstream-connack-1byte.pcap" "$first"
  fexpect midstream-connack-1byte.pcap broker \
    "a capture that starts mid-stream with a one-byte segment holding the first byte (0x20) of a CONNACK; the next segment holds the rest" \
    "lab/raw_broker.py (a minimal MQTT server, TCP_NODELAY) answers the CONNECT of a raw client (lab/mqttc.py, 3.1.1, keepalive 1) with a CONNACK in two writes 0.2 s apart: 20, then 02 00 00. The client pings for 3 s and disconnects. The capture was cut with editcap so that its first frame is the server's one-byte segment (frame $first of the full capture): no SYN, no CONNECT. The CONNACK is frames 1 and 3 together (frame 2 is the client's ACK)." "" \
    --midstream -- \
    "*|client_disconnect|none|client|null|CONNACK (frames 1+3) counted: first byte alone in frame 1; DISCONNECT by the client"
}

fc_loopback-port-scan-rst() {
  # everything on the broker namespace's loopback: mosquitto, its clients, and nmap
  broker_start
  ip netns exec "$NS-b" tcpdump -Z root -i lo -s 0 -B 16384 -U --immediate-mode -w "$OUT/loopback-port-scan-rst.pcap" tcp \
    >"$WORK/CAP.tcpdump.log" 2>&1 &
  PIDS+=($!); local cap=$!
  wait_for 5 "tcpdump on lo" grep -q "listening on" "$WORK/CAP.tcpdump.log"
  bg_in b timeout -k 2 20 mosquitto_sub -V mqttv311 -h 127.0.0.1 -i sub-lo -k 5 -t 'lab/#' -C 3
  local sub=$!
  sleep 1
  # nmap's SYN scan (raw socket, its own random TTL): the open port answers SYN-ACK and the
  # kernel, which knows no such connection, resets it; the closed port answers RST at once.
  # One run per port, so that each probe has its own source port.
  timeout -k 2 30 ip netns exec "$NS-b" nmap -sS -Pn -n -p 1883 127.0.0.1 >"$WORK/nmap1883.log"
  sleep 0.5
  timeout -k 2 30 ip netns exec "$NS-b" nmap -sS -Pn -n -p 8883 127.0.0.1 >"$WORK/nmap8883.log"
  sleep 4   # the subscriber pings at 5 s
  timeout -k 2 10 ip netns exec "$NS-b" mosquitto_pub -V mqttv311 -h 127.0.0.1 -i pub-lo -q 1 -t lab/x -m hello \
    --repeat 3 --repeat-delay 1
  wait "$sub" || true
  cap_stop "$cap"
  grep -q "1883/tcp open" "$WORK/nmap1883.log" || die "nmap did not see 1883 open: $(cat "$WORK/nmap1883.log")"
  grep -q "8883/tcp closed" "$WORK/nmap8883.log" || die "nmap did not see 8883 closed: $(cat "$WORK/nmap8883.log")"
  local scan_syn
  scan_syn=$(tshark -r "$OUT/loopback-port-scan-rst.pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.ttl != 64" \
    -T fields -e frame.number -e ip.ttl -e tcp.dstport | tr '\t\n' ' ;')
  log "scan SYNs (frame ttl port): $scan_syn"
  fexpect loopback-port-scan-rst.pcap broker \
    "a SYN port scan (nmap -sS) of the broker host on loopback, beside two healthy MQTT clients: the RSTs it draws come from the host's own kernel, not a middlebox" \
    "All on the loopback of one namespace (captured on lo): mosquitto on 1883; mosquitto_sub (sub-lo, keepalive 5) subscribes, pings once, gets 3 messages and disconnects; mosquitto_pub (pub-lo) publishes 3 QoS 1 messages 1 s apart and disconnects. Between them, nmap -sS -Pn -p 1883 then -p 8883 127.0.0.1: nmap's raw SYNs carry its own TTL (scan SYNs as frame ttl port: $scan_syn), every other packet TTL 64. To the open port 1883 the broker's kernel answers SYN-ACK and the kernel resets it on the scanner's side (RST, TTL 64, no SYN socket behind it); to the closed port 8883 the kernel answers RST/ACK. Neither probe is an MQTT connection; loopback has no middlebox." "" \
    --not-mqtt-note "port-scan probes (nmap -sS), no MQTT connection: best left out; if reported, never a middlebox RST and never a drop of an MQTT client (the probe to the closed port 8883 is at most tcp_refused by the server's host)" -- \
    "noid|not_mqtt|null|null|null|nmap -sS probe" \
    "*|client_disconnect|none|client|null|mosquitto_sub/mosquitto_pub sent DISCONNECT"
}

fc_any-interface-copies() {
  # the gateway becomes a container host: the client's veth g0 is a port of bridge br0
  # (10.77.1.1), routed to the broker through g1; a packet crosses g0, br0 and g1, so
  # a capture of all interfaces records it three times (on g1 with its TTL one lower)
  gns ip addr del 10.77.1.1/24 dev g0
  gns ip link add br0 type bridge
  gns ip link set g0 master br0
  gns ip addr add 10.77.1.1/24 dev br0
  gns ip link set br0 up
  broker_start
  local base=any-interface-copies caps=()
  ip netns exec "$NS-g" tcpdump -Z root -i any -y LINUX_SLL -s 0 -B 16384 -U --immediate-mode -w "$OUT/$base-sll.pcap" tcp >"$WORK/sll.tcpdump.log" 2>&1 &
  PIDS+=($!); caps+=($!)
  ip netns exec "$NS-g" tcpdump -Z root -i any -y LINUX_SLL2 -s 0 -B 16384 -U --immediate-mode -w "$OUT/$base-sll2.pcap" tcp >"$WORK/sll2.tcpdump.log" 2>&1 &
  PIDS+=($!); caps+=($!)
  ip netns exec "$NS-g" dumpcap -q -f tcp -i g0 -f tcp -i br0 -f tcp -i g1 -w "$OUT/$base.pcapng" >"$WORK/dumpcap.log" 2>&1 &
  PIDS+=($!); caps+=($!)
  wait_for 5 "tcpdump -i any" grep -q "listening on" "$WORK/sll.tcpdump.log"
  wait_for 5 "tcpdump -i any (SLL2)" grep -q "listening on" "$WORK/sll2.tcpdump.log"
  sleep 1.5   # dumpcap prints nothing with -q; give it time to open its three interfaces
  bg mqttc --host $B_IP --id pinger --ka 2 --plan connect,ping:10,disconnect >"$WORK/pinger.log"
  local pinger=$!
  bg mqttc --host $B_IP --id still-up --ka 2 --plan connect,ping:30 >"$WORK/still-up.log"
  bg mqttc --host $B_IP --id aborter --ka 2 --plan connect,ping:5,abort >"$WORK/aborter.log"
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -i killed-sub -k 5 -t 'other/#'
  local killed=$!
  bg timeout -k 2 20 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i copies-sub -k 5 -q 1 -t 'lab/#' -C 3
  local sub=$!
  sleep 2
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i copies-pub -q 1 -t lab/x -m hello --repeat 3 --repeat-delay 1
  wait "$sub" || true
  sleep 1
  kill -KILL "$killed"
  log "killed-sub got SIGKILL"
  wait "$pinger" || true
  cap_stop "${caps[@]}"
  chmod 0644 "$OUT/$base.pcapng"   # dumpcap writes 0600
  local how="A container-host layout: the client's veth (g0) is a port of the bridge br0 (10.77.1.1) in the middle namespace, which routes to the broker through g1. Healthy connections only: a raw client (pinger, keepalive 2) pings for 10 s and disconnects; another (still-up, keepalive 2) pings until the capture ends; a third (aborter, keepalive 2) pings for 5 s and closes with SO_LINGER 0 (RST from the client, recorded with TTL 64 on g0/br0 and 63 on g1 like all its packets); mosquitto_sub killed-sub (keepalive 5) is SIGKILLed after 6.5 s, so its kernel closes with a bare FIN; mosquitto_sub (copies-sub, QoS 1) receives 3 messages and disconnects; mosquitto_pub (copies-pub) publishes 3 QoS 1 messages 1 s apart and disconnects. No loss, no fault. Captured in the middle namespace, where each packet crosses three interfaces and is recorded once on each, microseconds apart, with the same IP id, sequence numbers and payload (on g1 client-to-broker packets carry TTL 63, on g0/br0 broker-to-client ones TTL 63): every copy after the first is a duplicate, not a retransmission. mqtt_packets count the packets once (tshark on the g1 copies only)."
  local g1="(ip.src == $C_IP && ip.ttl == 63) || (ip.src == $B_IP && ip.ttl == 64)"
  local rules=("id=still-up|open_at_end|none|null|null|pinging when the capture ended; no loss"
               "id=aborter|reset|network|client|null|SO_LINGER 0 by the client itself (not a middlebox); no loss"
               "id=killed-sub|client_close|protocol|client|null|mosquitto_sub SIGKILLed: FIN without DISCONNECT; no loss"
               "*|client_disconnect|none|client|null|sent DISCONNECT; healthy, no loss")
  fexpect "$base.pcapng" gateway \
    "healthy MQTT connections captured on all interfaces of a host with a bridge (pcapng, one interface block per interface: g0, br0, g1): each packet recorded three times" \
    "$how dumpcap -i g0 -i br0 -i g1 wrote this pcapng." "" --copies --count-filter "$g1" -- "${rules[@]}"
  fexpect "$base-sll2.pcap" gateway \
    "healthy MQTT connections captured with tcpdump -i any -y LINUX_SLL2 on a host with a bridge: each packet recorded three times" \
    "$how tcpdump -i any -y LINUX_SLL2 wrote this pcap (the SLL2 header names the interface index)." "" --copies --count-filter "$g1" -- "${rules[@]}"
  fexpect "$base-sll.pcap" gateway \
    "healthy MQTT connections captured with tcpdump -i any (Linux cooked SLL) on a host with a bridge: each packet recorded three times" \
    "$how tcpdump -i any wrote this pcap (Linux cooked v1: packet type, no interface)." "" --copies --count-filter "$g1" -- "${rules[@]}"
}

fc_tcp-refused-storm() {
  broker_start
  cap_start CAP broker "$OUT/tcp-refused-storm.pcap" tcp
  bg tcns 30 "$PY" "$LABPY/reconnect_client.py" --host $B_IP --id storm --count 10 --stagger 0.05 \
    --ka 5 --retry 0.5 --duration 9 >"$WORK/storm.log"
  local clients=$!
  sleep 2
  kill -TERM "$BROKER_PID"
  wait "$BROKER_PID" 2>/dev/null || true
  log "broker stopped (SIGTERM); nothing listens for 3 s"
  sleep 3
  broker_start
  log "broker back"
  wait "$clients" || true
  cap_stop "$CAP"
  local refused
  refused=$(grep -c '"connect_error"' "$WORK/storm.log" || true)
  log "$refused refused connection attempts"
  ((refused >= 30)) || die "expected a reconnect storm, got $refused refused attempts"
  local rules=() i
  for i in $(seq 0 9); do
    rules+=("id=storm-$(printf %03d "$i")&first|server_shutdown|protocol|server|null|closed when mosquitto got SIGTERM")
  done
  rules+=("noid|tcp_refused|protocol|server|null|reconnect attempt while nothing listened: SYN answered by RST from the broker's host"
          "idprefix=storm|client_disconnect|none|client|null|reconnected once the broker was back; DISCONNECT at the end")
  fexpect tcp-refused-storm.pcap broker \
    "a broker stopped (SIGTERM) while 10 clients are connected; they retry every 0.5 s while nothing listens (SYN answered by RST), then reconnect when it is back" \
    "10 raw clients (lab/reconnect_client.py, storm-000..009, 3.1.1, keepalive 5) connected; 2 s later mosquitto got SIGTERM and closed them all; for 3 s nothing listened on 1883, and every reconnect attempt (one per client every 0.5 s, $refused in all) was a SYN answered by the broker host's kernel with RST/ACK: these connections never existed. Then mosquitto was started again, each client reconnected and, 9 s after the start, disconnected. The one real event is the shutdown; the refused SYNs are its reconnect storm, not closes." \
    "server_shutdown" -- "${rules[@]}"
}

fc_steady-drop-rate() {
  broker_start
  cap_start CAP broker "$OUT/steady-drop-rate.pcap" tcp
  bg tcns 50 "$PY" "$LABPY/churn_client.py" --host $B_IP --id churn --slots 25 --ka 20 --mean-life 8 \
    --retry 0.5 --duration 30 --linger 8 --seed 14 >"$WORK/churn.log"
  local churn=$!
  sleep 15
  kill -TERM "$BROKER_PID"
  wait "$BROKER_PID" 2>/dev/null || true
  broker_start
  log "broker restarted (SIGTERM, started again at once)"
  sleep 16
  cap_stop "$CAP"
  local rules=() line port end
  while IFS=$'\t' read -r port end; do
    case $end in
      client_close) rules+=("port=$port|client_close|protocol|client|null|client went away without DISCONNECT (socket closed: FIN)") ;;
      client_abort) rules+=("port=$port|reset|network|client|null|client went away without DISCONNECT (SO_LINGER 0: RST)") ;;
      server_closed) rules+=("port=$port|server_shutdown|protocol|server|null|closed when mosquitto got SIGTERM (the one real cluster)") ;;
      open) rules+=("port=$port|open_at_end|none|null|null|still up when the capture ended") ;;
    esac
  done < <("$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "end" in d and d["port"] is not None:
        print("%s\t%s" % (d["port"], d["end"]))' "$WORK/churn.log")
  local n_refused n_client n_server
  n_refused=$(grep -c '"end": "refused"' "$WORK/churn.log" || true)
  n_client=$(grep -Ec '"end": "client_(close|abort)"' "$WORK/churn.log" || true)
  n_server=$(grep -c '"end": "server_closed"' "$WORK/churn.log" || true)
  log "churn: $n_client client drops, $n_server closed by the restart, $n_refused refused SYNs"
  local rate
  rate=$(awk -v n="$n_client" 'BEGIN {printf "%.1f", n / 30}')
  ((n_server >= 15 && n_client >= 40)) || die "churn too small: $n_client client drops, $n_server at the restart"
  rules+=("noid|tcp_refused|protocol|server|null|reconnect SYN while the broker restarted: RST from the broker's host")
  # the restart's FINs: the broker's first FIN on each connection it closed at the restart
  local restart_ports restart_frames
  restart_ports=$(grep '"end": "server_closed"' "$WORK/churn.log" | sed 's/.*"port": \([0-9]*\).*/\1/' | paste -sd, -)
  restart_frames=$(tshark -r "$OUT/steady-drop-rate.pcap" -Y "tcp.srcport == 1883 && tcp.flags.fin == 1 && tcp.dstport in {$restart_ports}" \
    -T fields -e frame.number -e frame.time_relative | awk 'NR == 1 {f = $1; t = $2} {l = $1; u = $2} END {printf "frames %d-%d, %.3f-%.3f s", f, l, t, u}')
  log "restart: $restart_frames"
  fexpect steady-drop-rate.pcap broker \
    "a busy broker with a steady drop rate (25 client slots, each client dies after a random lifetime, mean 8 s, and comes back) and one real broker restart 15 s in" \
    "lab/churn_client.py (seed 14): 25 raw clients (churn-000..024, 3.1.1, keepalive 20), each living an exponentially distributed time (mean 8 s) and then going away without DISCONNECT, at random either closing its socket (FIN) or aborting it (SO_LINGER 0, RST), the way a crashing process does; 0.5 s later it connects again under the same client id. In all $n_client such drops over 30 s, about $rate per second: clusters of a few drops within a couple of seconds happen by chance alone and mean nothing. One real event: 15 s in, mosquitto got SIGTERM (it closed the $n_server connections then up within a few milliseconds) and was started again at once ($n_refused reconnect SYNs came while nothing listened, answered by RST). The only cluster that stands out is the restart (finding server_shutdown); no other cluster of drops should be reported as a gateway or broker event." \
    "server_shutdown" --findings-note "One real cluster: the broker restart, its FINs at $restart_frames ($n_server connections; the finding server_shutdown). Every other drop is the steady base rate (client_close and reset, about $rate per second): a clustered_drops finding anywhere else is what the base rate alone produces, not a gateway or broker event." -- "${rules[@]}"
}

# ---------------------------------------------------------------- driver -----------
field_scenarios() { declare -F | awk '{print $3}' | sed -n 's/^fc_//p'; }

field_main() {
  [[ ${1:-} == --list ]] && { field_scenarios; exit 0; }
  if [[ ${1:-} == --one ]]; then
    SCEN=$2
    declare -F "fc_$2" >/dev/null || die "no scenario $2"
    lab_up "field-$2"
    "fc_$2"
    log "done"
    exit 0
  fi
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  install_missing nmap
  local scen=("$@")
  ((${#scen[@]})) || mapfile -t scen < <(field_scenarios)
  SELF=$FIELD_HERE/make-field-captures.sh LAB=field
  lab_run "${scen[@]}"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
}

field_main "$@"
