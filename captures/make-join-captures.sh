#!/usr/bin/env bash
# The join lab: the same MQTT traffic captured at two vantage points at once, the client's
# veth and the broker's veth, with a NAT between them, for `dropscope analyze --join`.
#
#   sudo captures/make-join-captures.sh            # every scenario (in parallel)
#   sudo captures/make-join-captures.sh NAME...    # only these scenarios
#   sudo captures/make-join-captures.sh --list     # scenario names
#
# Topology (per scenario, its own namespaces; addresses private to them):
#
#   client ns  c0 10.77.1.2 ── g0 10.77.1.1 [gateway ns: MASQUERADE --random] g1 10.77.2.1 ── b0 10.77.2.2  broker ns
#                 ^ tcpdump (client side)                                       ^ tcpdump (broker side)
#
# The gateway masquerades with random source ports, so the broker sees every client as
# 10.77.2.1:<another port>; faults come from iptables/conntrack in the gateway and from
# signals.  After recording, the broker-side capture's clock is shifted with `editcap -t`
# by a known number of seconds (a probe whose clock is off), and lab/join_expect.py writes
# NAME.expected.json: the true cause of each connection (from what the scenario injected),
# the NAT mapping (read by tshark from the absolute sequence numbers) and the shift.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE/join}
PY=/usr/bin/python3
C_IP=10.77.1.2 B_IP=10.77.2.2
SCENARIO_TIMEOUT=90
JOBS=${JOBS:-14}

SELF=$HERE/make-join-captures.sh LAB=join
# shellcheck source=lab/lab.sh
source "$LABPY/lab.sh"

need_packages() {
  install_missing mosquitto mosquitto-clients tcpdump tshark iptables conntrack python3 \
    python3-paho-mqtt iproute2 wireshark-common procps coreutils
}

lab_up() {
  lab_net "dsj-$1" "dropscope-join.$1"
  CAPS=()
  gns iptables -t nat -A POSTROUTING -o g1 -j MASQUERADE --random
}

broker_start() {
  { echo "listener 1883"; echo "allow_anonymous true"; echo "persistence false"
    echo "log_dest file $WORK/mosquitto.log"; echo "log_type all"; } >"$WORK/mosquitto.conf"
  install -m 0666 /dev/null "$WORK/mosquitto.log"
  bg_in b mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1
  BROKER_PID=$!
  wait_for 5 "broker listening" bash -c "ip netns exec $NS-b ss -ltn | grep -q ':1883 '"
}

# caps_start NAME: tcpdump on the client's veth and the broker's veth at once
# (BROKER_FILTER narrows what the broker-side probe records)
caps_start() {
  local name=$1 side ifc ns filter
  for side in client broker; do
    ifc=c0 ns=$NS-c filter="tcp port 1883"
    [[ $side == broker ]] && ifc=b0 ns=$NS-b filter="tcp port 1883 ${BROKER_FILTER:-}"
    ip netns exec "$ns" tcpdump -Z root -i "$ifc" -s 0 -B 16384 -U --immediate-mode \
      -w "$WORK/$name-$side.pcap" $filter >"$WORK/$side.tcpdump.log" 2>&1 &
    PIDS+=($!); CAPS+=($!)
    wait_for 5 "tcpdump on $side" grep -q "listening on" "$WORK/$side.tcpdump.log"
  done
}

caps_stop() {
  local pid f
  sleep 0.3
  for pid in "${CAPS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${CAPS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for f in "$WORK"/*.tcpdump.log; do
    if grep -Eq '^[1-9][0-9]* packets dropped by (kernel|interface)' "$f"; then
      die "tcpdump lost packets: $(grep dropped "$f" | tr '\n' ' ')"
    fi
  done
}

mqttc() { tcns "${MQTTC_TIMEOUT:-60}" "$PY" "$LABPY/mqttc.py" "$@"; }

# finish NAME SHIFT SCENARIO HOW RULE...: shift the broker capture's clock by SHIFT
# seconds, then write NAME.expected.json (rules: KEY|cause|layer|side|note, see join_expect.py)
finish() {
  local name=$1 shift=$2 scenario=$3 how=$4 r args=(); shift 4
  cp "$WORK/$name-client.pcap" "$OUT/$name-client.pcap"
  editcap -t "$shift" "$WORK/$name-broker.pcap" "$OUT/$name-broker.pcap"
  chmod 0644 "$OUT/$name-client.pcap" "$OUT/$name-broker.pcap"
  for r in "$@"; do args+=(--rule "$r"); done
  "$PY" "$LABPY/join_expect.py" --dir "$OUT" --name "$name" --shift "$shift" \
    --scenario "$scenario" --how "$how" "${args[@]}"
}

# ------------------------------------------------------------- scenarios -----------

sc_clean() {
  broker_start; caps_start clean
  bg timeout -k 2 20 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i join-sub -k 5 -q 1 -t 'lab/#' -C 2
  sleep 1
  tcns 10 mosquitto_pub -V mqttv5 -h $B_IP -i join-pub -q 1 -t lab/x -m hello --repeat 2 --repeat-delay 0.5
  mqttc --host $B_IP --id join-raw --ka 2 --plan connect,ping:3,disconnect >"$WORK/c.log"
  wait "${PIDS[-1]}" 2>/dev/null || true
  caps_stop
  finish clean 2.5 "clean ends behind a NAT" \
    "mosquitto_sub (3.1.1) exits after 2 messages, mosquitto_pub (5.0) after 2 publishes, a raw client pings 3 s then disconnects; all send DISCONNECT." \
    "*|client_disconnect|none|client|DISCONNECT then FIN"
}

sc_lost-pingreq() {
  broker_start; caps_start lost-pingreq
  bg mqttc --host $B_IP --id lost-v311 --ver 4 --ka 3 --plan connect,ping:30 >"$WORK/c1.log"
  bg mqttc --host $B_IP --id lost-v5 --ver 5 --ka 3 --plan connect,ping:30 >"$WORK/c2.log"
  sleep 4
  gns iptables -I FORWARD -i g0 -o g1 -j DROP
  log "one-way blackhole client->broker"
  sleep 9
  caps_stop
  finish lost-pingreq -1.75 "PINGREQs lost one way (client->broker)" \
    "Two raw clients (keepalive 3) ping; 4 s in the gateway drops everything client->broker (iptables -I FORWARD -i g0 -o g1 -j DROP). The next PINGREQs leave the client and never reach the broker, which closes for keepalive; its FIN reaches the client." \
    "*|keepalive_timeout|network|server|PINGREQ lost in the gateway, broker closed for keepalive"
}

sc_outage() {
  broker_start; caps_start outage
  bg mqttc --host $B_IP --id outage-v311 --ver 4 --ka 3 --plan connect,ping:30 >"$WORK/c1.log"
  bg mqttc --host $B_IP --id outage-v5 --ver 5 --ka 3 --plan connect,ping:30 >"$WORK/c2.log"
  sleep 4
  gns iptables -I FORWARD -j DROP
  log "the path goes dark both ways"
  sleep 9
  caps_stop
  finish outage 7.25 "an outage: the gateway forwards nothing either way" \
    "Two raw clients (keepalive 3) ping; 4 s in the gateway drops everything both ways (iptables -I FORWARD -j DROP; its NAT keeps the mappings). The next PINGREQs leave the client and never arrive; the broker closes for keepalive and its FIN never reaches the client. The quiet spell before the lost PINGREQ is no longer than the ones before it: not a NAT that forgot." \
    "*|keepalive_timeout|network|server|path dark both ways, broker closed for keepalive"
}

sc_client-abort() {
  broker_start; caps_start client-abort
  mqttc --host $B_IP --id abort-v311 --ver 4 --ka 2 --plan connect,ping:3,abort >"$WORK/a.log"
  mqttc --host $B_IP --id abort-v5 --ver 5 --ka 2 --plan connect,ping:2,close >"$WORK/b.log"
  caps_stop
  finish client-abort -3.5 "clients that end without DISCONNECT: an abort (RST) and a plain close (FIN)" \
    "A raw client (3.1.1) pings 3 s and closes with SO_LINGER 0 (RST); another (5.0) pings 2 s and closes its socket (FIN) without DISCONNECT. Both ends see the same close." \
    "id=abort-v311|reset|network|client|SO_LINGER 0 abort" \
    "id=abort-v5|client_close|protocol|client|socket closed without DISCONNECT"
}

sc_midflow() {
  broker_start
  bg mqttc --host $B_IP --id mid-lost --bind-port 40300 --ka 3 --plan connect,ping:30 >"$WORK/a.log"
  bg mqttc --host $B_IP --id mid-clean --bind-port 40400 --ka 2 --plan connect,ping:7,disconnect >"$WORK/b.log"
  sleep 1.5   # both CONNECTed: the captures start mid-flow
  caps_start midflow
  sleep 2.5
  gns iptables -I FORWARD -p tcp -i g0 -o g1 --sport 40300 -j DROP
  log "client port 40300 blackholed towards the broker"
  sleep 9
  caps_stop
  finish midflow 1.125 "captures started mid-flow (no SYN, no CONNECT): lost PINGREQs and a clean end" \
    "Two raw clients connect, then both probes start (no handshake, no CONNECT, no client id in either capture). 2.5 s later the gateway drops client port 40300's packets towards the broker: its PINGREQs never arrive and the broker closes for keepalive. The client on port 40400 pings (keepalive 2) and disconnects at 7 s." \
    "port=40300|keepalive_timeout|network|server|PINGREQ lost in the gateway, broker closed for keepalive" \
    "port=40400|client_disconnect|none|client|DISCONNECT then FIN"
}

sc_retransmission-timeout() {
  broker_start
  cns sysctl -qw net.ipv4.tcp_retries2=3
  caps_start retransmission-timeout
  bg mqttc --host $B_IP --id rto-control --ka 2 --plan connect,ping:60 >"$WORK/k.log"
  bg mqttc --host $B_IP --id rto-pub --bind-port 40200 --ka 30 --plan connect,pub:300:0.1:200:1 >"$WORK/c.log"
  sleep 2
  gns iptables -I FORWARD -p tcp --sport 40200 -j DROP
  gns iptables -I FORWARD -p tcp --dport 40200 -j DROP
  log "two-way blackhole of client port 40200"
  wait_for 40 "client to give up" grep -q 'error' "$WORK/c.log"
  sleep 2
  caps_stop
  finish retransmission-timeout 5.5 "two-way blackhole of one connection with QoS 1 publishes in flight; the client's TCP gives up" \
    "rto-pub (client port 40200, keepalive 30) publishes QoS 1 every 100 ms; 2 s in the gateway drops every packet from and to port 40200. tcp_retries2=3 in the client namespace: the kernel retransmits 4 times, then gives up. rto-control (keepalive 2) keeps pinging and is open at the end; the broker (keepalive 30) has not closed rto-pub when the captures stop." \
    "id=rto-control|open_at_end|none|null|not blackholed" \
    "port=40200|retransmission_timeout|network|client|data never ACKed after the blackhole; kernel gave up"
}

sc_lossy-link() {
  broker_start
  gns iptables -A FORWARD -m statistic --mode random --probability 0.08 -j DROP
  caps_start lossy-link
  mqttc --host $B_IP --id lossy-pub --ka 5 --plan connect,pub:60:0.03:100:1,disconnect >"$WORK/p.log"
  caps_stop
  finish lossy-link -0.3 "8 % random loss both ways in the gateway; the client publishes and disconnects" \
    "iptables -A FORWARD -m statistic --mode random --probability 0.08 -j DROP in the gateway. A raw client publishes 60 QoS 1 messages 30 ms apart and sends DISCONNECT; lost segments are retransmitted and both probes see different packets." \
    "*|client_disconnect|none|client|DISCONNECT then FIN"
}

sc_stalled() {
  broker_start; caps_start stalled
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -i stalled-sub -k 5 -t 'lab/#'; local s1=$!
  bg mqttc --host $B_IP --id stalled-raw --ka 3 --plan connect,silent:20 >"$WORK/s.log"
  sleep 6
  kill -STOP "$s1"
  log "mosquitto_sub stopped"
  sleep 13
  caps_stop
  finish stalled 0.4 "stalled clients (SIGSTOP, silence after CONNACK)" \
    "mosquitto_sub (keepalive 5, the least it accepts) SIGSTOPped 6 s in, after its first PINGREQ; a raw client sends CONNECT (keepalive 3) then nothing. The broker closes each for keepalive; nothing was lost on the path." \
    "*|keepalive_timeout|protocol|server|client went silent (SIGSTOP / silent plan)"
}

sc_middlebox-rst() {
  broker_start; caps_start middlebox-rst
  bg mqttc --host $B_IP --id mbx-rst --ka 3 --plan connect,ping:30 >"$WORK/c.log"
  sleep 4
  gns iptables -I FORWARD -p tcp -i g0 -o g1 --dport 1883 -j REJECT --reject-with tcp-reset
  log "gateway rejects client->broker with RST"
  sleep 8
  caps_stop
  finish middlebox-rst 3600.125 "a middlebox RST (gateway REJECT --reject-with tcp-reset)" \
    "Raw client (keepalive 3) pings; 4 s in the gateway answers client->broker TCP with a RST forged in the broker's name. The broker never sees a RST; it closes later for keepalive and the gateway swallows the client's answer." \
    "*|reset|network|middlebox|RST forged by the gateway"
}

# nat_idle NAME SHIFT ACTION...: the NAT idle expiry scenario; conntrack INVALID gets ACTION
nat_idle() {
  local name=$1 shift=$2; shift 2
  gns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=4 net.netfilter.nf_conntrack_tcp_loose=0
  gns iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID "$@"
  broker_start; caps_start "$name"
  bg mqttc --host $B_IP --id nat-short --ka 2 --plan connect,ping:60 >"$WORK/s.log"
  bg mqttc --host $B_IP --id nat-long --ka 6 --plan connect,ping:60 >"$WORK/l.log"
  sleep 18
  caps_stop
  finish "$name" "$shift" "NAT idle expiry: keepalive 6 s behind a NAT that forgets after 4 s (INVALID: $*)" \
    "The gateway's conntrack forgets established TCP after 4 s (nf_conntrack_tcp_loose=0; INVALID packets: iptables $*). nat-short (keepalive 2) keeps its mapping and is open at the end; nat-long (keepalive 6) is idle 6 s, so its PINGREQ leaves the client and is INVALID at the gateway (dropped, or answered by a RST in the broker's name); the broker closes for keepalive and its FIN meets no mapping: the gateway answers it with a RST in the client's name." \
    "id=nat-long|nat_idle_expiry|network|middlebox|mapping expired during the idle keepalive gap" \
    "id=nat-short|open_at_end|none|null|keepalive shorter than the NAT timeout"
}

sc_nat-idle-expiry() { nat_idle nat-idle-expiry -12.5 -j DROP; }
sc_nat-idle-reject() { nat_idle nat-idle-reject 0.05 -j REJECT --reject-with tcp-reset; }

sc_takeover() {
  broker_start; caps_start takeover
  bg mqttc --host $B_IP --id twin --ver 4 --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  sleep 2.5
  # the newcomer connects from the gateway itself: only the broker-side probe sees it
  timeout -k 2 10 ip netns exec "$NS-g" mosquitto_pub -V mqttv311 -h $B_IP -i twin -t lab/x -m hi
  sleep 2
  caps_stop
  finish takeover 0.75 "session takeover by a newcomer only the broker-side probe sees" \
    "Raw client A (3.1.1, keepalive 5) connects as twin through the NAT; 2.5 s later mosquitto_pub connects from the gateway itself with the same id, publishes and disconnects. The broker closes A: at the client's probe it is just a server close." \
    "id=twin&first|session_taken_over|protocol|server|first holder of the id" \
    "id=twin&last|client_disconnect|none|client|the newcomer disconnects normally"
}

sc_takeover-elsewhere() {
  # the newcomer leaves the gateway itself from port 40500, kept by the NAT; the second
  # probe records only it, as a probe at another site would
  gns iptables -t nat -I POSTROUTING -o g1 -p tcp --sport 40500 -j RETURN
  BROKER_FILTER="and port 40500"
  broker_start; caps_start takeover-elsewhere
  bg mqttc --host $B_IP --id twin-far --ver 4 --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  sleep 2.5
  timeout -k 2 10 ip netns exec "$NS-g" "$PY" "$LABPY/mqttc.py" --host $B_IP --id twin-far \
    --bind-port 40500 --ver 4 --ka 5 --plan connect,sleep:0.5,disconnect >"$WORK/b.log"
  sleep 1.5
  caps_stop
  finish takeover-elsewhere 0 "session takeover whose two halves two probes saw, each one half" \
    "Raw client A (3.1.1, keepalive 5) connects as twin-far through the NAT, recorded by the client-side probe only; 2.5 s later a second raw client connects from the gateway itself (port 40500) with the same id and disconnects; the broker closes A. The second probe records only port 40500 (tcpdump filter), as a probe at another site would: neither probe sees both halves. The probes' clocks are not shifted (they share no connection to estimate it from)." \
    "id=twin-far&first|session_taken_over|protocol|server|first holder of the id" \
    "id=twin-far&last|client_disconnect|none|client|the newcomer disconnects normally"
}

sc_broker-restart() {
  broker_start; caps_start broker-restart
  bg mqttc --host $B_IP --id restart --count 6 --ver mix --ka 10 --stagger 0.1 --plan connect,ping:30 >"$WORK/c.log"
  sleep 2.5
  kill -TERM "$BROKER_PID"
  log "broker got SIGTERM"
  wait "$BROKER_PID" 2>/dev/null || true
  sleep 0.5
  broker_start
  mqttc --host $B_IP --id restart-again --ka 10 --plan connect,ping:2 >"$WORK/d.log" &
  PIDS+=($!)
  sleep 1.5
  caps_stop
  finish broker-restart -0.6 "broker restart (SIGTERM, started again)" \
    "Six raw clients (keepalive 10) connected; 2.5 s later mosquitto got SIGTERM and closed every connection; it was started again and a seventh client connected, still open when the captures stopped." \
    "id=restart-again|open_at_end|none|null|connected after the restart" \
    "idprefix=restart-|server_shutdown|protocol|server|closed when mosquitto got SIGTERM"
}

# ------------------------------------------------------------- driver --------------
main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  modprobe nf_conntrack 2>/dev/null || true
  mkdir -p "$OUT"
  lab_run "$@"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
  log "done; $(du -sh "$OUT" | cut -f1) in $OUT"
}

main "$@"
