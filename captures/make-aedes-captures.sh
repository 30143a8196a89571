#!/usr/bin/env bash
# The dropscope capture lab with a second broker and a second client library: aedes (npm, an
# MQTT broker in Node) on plain TCP, and MQTT.js (npm `mqtt`) beside paho-mqtt, the mosquitto
# clients and the raw client, over every scenario class; and MQTT.js against mosquitto, so the
# client library varies independently of the broker.
#
#   sudo captures/make-aedes-captures.sh              # every scenario (in parallel), ~2 minutes
#   sudo captures/make-aedes-captures.sh NAME...      # only these scenarios
#   captures/make-aedes-captures.sh --list            # scenario names
#
# Same lab as make-captures.sh: three namespaces per scenario joined by veth pairs,
#
#   client ns  c0 10.77.1.2 ── g0 10.77.1.1 [gateway ns] g1 10.77.2.1 ── b0 10.77.2.2  broker ns
#
# faults from iptables/conntrack in the gateway, from signals and from broker configuration;
# tcpdump on the broker's (b0) or the client's (c0) veth.  aedes 1.2 runs as
# lab/node/aedes_tcp.js (net.createServer(aedes.handle) on 1883); MQTT.js 5 as
# lab/node/mqttjs_tcp.js; the npm packages (lab/node/package.json) are installed outside the
# repo, in $NODE_LAB (shared with make-ws-captures.sh).  aedes 1.2 speaks MQTT 3.1 and 3.1.1
# only (a 5.0 CONNECT gets CONNACK 1), so MQTT 5 appears against aedes only as a refusal.
# Captures go to aedes/NAME.pcap with aedes/NAME.expected.json (lab/expect.py --strict).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE/aedes}
PY=/usr/bin/python3          # the Debian python, which has python3-paho-mqtt
C_IP=10.77.1.2 B_IP=10.77.2.2
SCENARIO_TIMEOUT=120         # seconds; any single scenario attempt is killed after this
JOBS=${JOBS:-6}              # scenarios run side by side (most of their time is waiting)

SELF=$HERE/make-aedes-captures.sh LAB=aedes
# shellcheck source=lab/lab.sh
source "$LABPY/lab.sh"

# ---------------------------------------------------------------- setup ------------
need_packages() {
  install_missing mosquitto mosquitto-clients tcpdump tshark iptables conntrack python3 \
    python3-paho-mqtt iproute2 wireshark-common procps coreutils ethtool
  command -v node >/dev/null && command -v npm >/dev/null || install_missing nodejs npm
}

lab_up() { lab_net "dsa-$(printf '%s' "$1" | md5sum | cut -c1-8)" "dropscope-aedes.$1" no-offload; }

listening() { ip netns exec "$NS-b" ss -ltn | grep -q ":1883 "; }

# aedes_start [aedes_tcp.js options...]
aedes_start() {
  BROKER=aedes
  node_ready
  bg_in b env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/aedes_tcp.js" --port 1883 "$@" >"$WORK/broker.log" 2>&1
  BROKER_PID=$!
  wait_for 15 "aedes listening" listening
}

# mosquitto_start [extra config lines...]
mosquitto_start() {
  BROKER=mosquitto
  {
    echo "listener 1883"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "log_dest file $WORK/broker.log"
    echo "log_type all"
    echo "log_timestamp_format %H:%M:%S"
    printf '%s\n' "$@"
  } >"$WORK/mosquitto.conf"
  install -m 0666 /dev/null "$WORK/broker.log"   # mosquitto drops root before logging
  bg_in b mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1
  BROKER_PID=$!
  wait_for 5 "mosquitto listening" listening
}

nat_gateway() {  # nat_gateway CONNTRACK_TIMEOUT: MASQUERADE, loose 0, INVALID dropped
  gns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established="$1" net.netfilter.nf_conntrack_tcp_loose=0
  gns iptables -t nat -A POSTROUTING -o g1 -j MASQUERADE
  gns iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID -j DROP
  gns iptables -A INPUT -p tcp -m conntrack --ctstate INVALID -j DROP
}

# ---------------------------------------------------------------- clients ----------
# the raw client and paho in the client namespace, bounded
mqttc() { tcns "${MQTTC_TIMEOUT:-60}" "$PY" "$LABPY/mqttc.py" "$@"; }
paho() { tcns 60 "$PY" "$LABPY/paho_client.py" "$@"; }
# mqttjs NAME mqttjs_tcp.js-ARGS...: MQTT.js in the background (its pid in $!, for signals),
# logging to WORK/NAME.log; --life bounds it (default 40 s), the lab's cleanup kills it anyway
mqttjs() {
  local name=$1; shift
  node_ready
  bg_in c env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/mqttjs_tcp.js" --url "mqtt://$B_IP:1883" "$@" >"$WORK/$name.log" 2>&1
}
# js_up NAME...: wait until these MQTT.js clients are connected (Node starts slowly on a busy
# machine, so scenarios time their faults from here rather than from the start)
js_up() { local n; for n in "$@"; do wait_for 20 "MQTT.js $n to connect" grep -q connected "$WORK/$n.log"; done; }
# sub_in_c ID ARGS...: mosquitto_sub in the background (its pid in $!)
sub_in_c() { bg_in c mosquitto_sub -h $B_IP -i "$@"; }

# expect CAPTURE VANTAGE SCENARIO HOW FINDINGS RULE...
expect() {
  local cap=$1 vantage=$2 scenario=$3 how=$4 findings=$5; shift 5
  local args=() r
  for r in "$@"; do args+=(--rule "$r"); done
  "$PY" "$LABPY/expect.py" --strict --dir "$OUT" --capture "$cap" --vantage "$vantage" \
    --scenario "$scenario" --how "$how --- $(versions)" --findings "$findings" --ports 1883 \
    --out "$OUT/${cap%.pcap}.expected.json" "${args[@]}"
}

npm_version() { sed -n 's/^[[:space:]]*"version": *"\([^"]*\)".*/\1/p' "$NODE_LAB/node_modules/$1/package.json" | head -1; }
versions() {
  local b
  if [[ $BROKER == mosquitto ]]; then b="mosquitto $(dpkg-query -W -f='${Version}' mosquitto)"
  else b="aedes $(npm_version aedes) (lab/node/aedes_tcp.js) on Node $(node -v)"; fi
  echo "Broker: $b; MQTT.js $(npm_version mqtt) (lab/node/mqttjs_tcp.js)."
}

# --------------------------------------------------------------- scenarios ---------
# Naming: WHAT-aedes (aedes broker, every client), mqttjs-mosquitto-WHAT (MQTT.js against
# mosquitto); -broker / -client: the same connections recorded at either end.

sc_clean-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/clean-aedes.pcap"
  bg timeout -k 2 20 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i sub-clean -k 5 -q 1 -t 'lab/#' -C 3; local sub=$!
  mqttjs js-clean --id js-clean --ka 2 --mode clean; local js=$!
  sleep 0.5
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i pub-clean -q 1 -t lab/x -m hello --repeat 3 --repeat-delay 0.5
  mqttc --host $B_IP --id raw-clean --ka 2 --plan connect,ping:4,disconnect >"$WORK/raw.log"
  wait "$js" || true
  wait "$sub" || die "mosquitto_sub did not end by itself"
  sleep 0.3
  cap_stop "$CAP"
  expect clean-aedes.pcap broker \
    "clean sessions against aedes: mosquitto_sub, mosquitto_pub, MQTT.js and a raw client end with DISCONNECT" \
    "mosquitto_sub (3.1.1, keepalive 5, -C 3) exits after 3 messages, mosquitto_pub publishes 3 times; MQTT.js (3.1.1, keepalive 2) subscribes, publishes twice, idles 5 s and calls end(); the raw client pings (keepalive 2) for 4 s and sends DISCONNECT. Broker's veth." "" \
    "*|client_disconnect|none|client|null|DISCONNECT, then the client's FIN"
}

sc_keepalive-stalled-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/keepalive-stalled-aedes.pcap"
  sub_in_c stalled-sub -V mqttv311 -k 5 -t 'lab/quiet/sub'; local s1=$!   # mosquitto_sub: keepalive >= 5
  bg_in c "$PY" "$LABPY/paho_client.py" hold $B_IP stalled-paho 3 60; local s2=$!
  mqttjs js --id stalled-js --ka 3 --reconnect 0 --mode hold; local s3=$!
  bg mqttc --host $B_IP --id stalled-raw --ka 2 --plan connect,silent:30 >"$WORK/raw.log"
  js_up js
  sleep 5.5
  kill -STOP "$s1" "$s2" "$s3"
  log "SIGSTOP mosquitto_sub, paho and MQTT.js 5.5 s after MQTT.js connected"
  sleep 8
  cap_stop "$CAP"
  expect keepalive-stalled-aedes.pcap broker \
    "clients stop sending: mosquitto_sub (keepalive 5), paho and MQTT.js (keepalive 3) SIGSTOPped, a raw client silent after CONNACK (keepalive 2); aedes closes each" \
    "mosquitto_sub (keepalive 5, the least it accepts), paho-mqtt and MQTT.js (keepalive 3; all 3.1.1) were SIGSTOPped 5.5 s after MQTT.js (the last to start) had connected, after their first PINGREQ/PINGRESP; the raw client sent CONNECT (keepalive 2) and then nothing. aedes arms a timer of keepalive x 1500 + 1 ms, refreshed by every packet it reads, and destroys the socket when it fires. Broker's veth; the capture stops 8 s after the SIGSTOP." "" \
    "*|keepalive_timeout|protocol|server|null|the client stopped sending; aedes's keepalive timer fired"
}

sc_lost-pingreq-aedes() {
  aedes_start
  cap_start CAPB broker "$OUT/lost-pingreq-aedes-broker.pcap"
  cap_start CAPC client "$OUT/lost-pingreq-aedes-client.pcap"
  bg mqttc --host $B_IP --id lostping-raw --ka 3 --plan connect,ping:30 >"$WORK/raw.log"
  # paho here rather than mosquitto_sub, which reconnects by itself (into the blackhole)
  bg_in c "$PY" "$LABPY/paho_client.py" hold $B_IP lostping-paho 3 60
  mqttjs js --id lostping-js --ka 3 --reconnect 0 --mode hold
  js_up js
  sleep 3.5
  # just before the blackhole, a message to MQTT.js (from inside the broker's namespace)
  # restarts MQTT.js's own keepalive clock but not aedes's (only client packets restart that),
  # so aedes's timer fires first and the broker closes, as it would for any other client
  bns timeout 5 mosquitto_pub -h 127.0.0.1 -i lostping-poke -t lab/quiet/lostping-js -m poke
  wait_for 5 "the poke to reach MQTT.js" grep -q "received publish" "$WORK/js.log"
  sleep 0.2   # and its TCP ACK to reach aedes
  gns iptables -I FORWARD -s $C_IP -d $B_IP -j DROP
  log "one-way blackhole client->broker from t+4s"
  sleep 9
  cap_stop "$CAPB" "$CAPC"
  local how="A raw client, paho-mqtt and MQTT.js (3.1.1, keepalive 3) ping normally; 4 s in, the gateway drops everything from client to broker (iptables -I FORWARD -s $C_IP -d $B_IP -j DROP), broker->client still flows. Just before the blackhole a publisher inside the broker's namespace sends MQTT.js one QoS 0 message on its topic: it reaches MQTT.js and restarts MQTT.js's own keepalive clock (which any received packet restarts), so aedes's timer fires first (lostping-poke itself is not in the capture). The next PINGREQs are sent and retransmitted but never delivered; aedes closes each 1.5 x keepalive after the last packet it got; its FIN reaches the client but the client's ACK and FIN never reach the broker. Same connections at both ends:"
  expect lost-pingreq-aedes-broker.pcap broker \
    "PINGREQs lost on a one-way blackhole (client->broker) against aedes; broker's view" \
    "$how this is the broker's veth (the lost PINGREQs are not here)." "" \
    "*|keepalive_timeout|network|server|null|PINGREQ lost in the gateway (one-way blackhole); broker FIN unacknowledged"
  expect lost-pingreq-aedes-client.pcap client \
    "PINGREQs lost on a one-way blackhole (client->broker) against aedes; client's view" \
    "$how this is the client's veth (PINGREQ and its retransmissions are here)." "" \
    "*|keepalive_timeout|network|server|null|PINGREQ sent and retransmitted, never ACKed; aedes closed for keepalive"
}

sc_takeover-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/takeover-aedes.pcap"
  bg mqttc --host $B_IP --id twin-raw --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  mqttjs js-a --id twin-js --ka 5 --reconnect 0 --mode hold
  bg_in c "$PY" "$LABPY/paho_client.py" hold $B_IP twin-paho 5 30
  js_up js-a
  sleep 1
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i twin-raw -t lab/x -m hi
  mqttjs js-b --id twin-js --ka 5 --mode clean; local b=$!
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i twin-paho -t lab/x -m hi
  wait "$b" || true
  sleep 0.5
  cap_stop "$CAP"
  expect takeover-aedes.pcap broker \
    "session takeover against aedes: a second client CONNECTs with the id of a raw client, of MQTT.js and of paho; aedes closes the first holder" \
    "Raw client twin-raw (keepalive 5), MQTT.js twin-js (reconnectPeriod 0, so it does not come back) and paho twin-paho connect (3.1.1); 2 s later mosquitto_pub connects as twin-raw, publishes and disconnects, then a second MQTT.js connects as twin-js (publishes, idles 5 s, end()), then mosquitto_pub as twin-paho. aedes closes each first holder when the second's CONNECT arrives (MQTT 3.1.1: no DISCONNECT to send). Broker's veth." \
    "session_taken_over" \
    "id=twin-raw&first|session_taken_over|protocol|server|null|first holder of the id, taken over by mosquitto_pub" \
    "id=twin-js&first|session_taken_over|protocol|server|null|first holder of the id, taken over by a second MQTT.js" \
    "id=twin-paho&first|session_taken_over|protocol|server|null|first holder of the id, taken over by mosquitto_pub" \
    "*|client_disconnect|none|client|null|the new holder disconnects normally"
}

sc_takeover-fight-mqttjs-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/takeover-fight-mqttjs-aedes.pcap"
  mqttjs a --id fighter --ka 5 --mode reconnect; local a=$!
  js_up a
  mqttjs b --id fighter --ka 5 --mode reconnect; local b=$!
  js_up b
  sleep 5.2
  kill -KILL "$a" "$b"
  log "both MQTT.js SIGKILLed"
  sleep 0.5
  cap_stop "$CAP"
  expect takeover-fight-mqttjs-aedes.pcap broker \
    "two MQTT.js clients with the same client id and the default reconnectPeriod (1 s) take the session from each other about once a second (aedes)" \
    "Two MQTT.js processes (3.1.1, keepalive 5, default reconnectPeriod 1000 ms) connect as fighter, the second once the first is connected. Each CONNECT makes aedes close the other's connection; the loser reconnects 1 s later and takes the session back. 5.2 s after the second connected both processes are SIGKILLed: the last holder's kernel sends FIN. Broker's veth." \
    "session_taken_over" \
    "id=fighter&last|client_close|protocol|client|null|the last holder, SIGKILLed" \
    "*|session_taken_over|protocol|server|null|closed by aedes when the other MQTT.js reconnected with the same id"
}

sc_nat-idle-aedes() {
  aedes_start
  nat_gateway 5
  cap_start CAPC client "$OUT/nat-idle-aedes-client.pcap"
  cap_start CAPB broker "$OUT/nat-idle-aedes-broker.pcap"
  bg mqttc --host $B_IP --id nat-short --ka 3 --plan connect,ping:60 >"$WORK/s.log"
  bg mqttc --host $B_IP --id nat-long --ka 8 --plan connect,ping:60 >"$WORK/l.log"
  mqttjs js --id nat-js --ka 8 --reconnect 0 --mode hold
  wait_for 40 "nat-long to give up" grep -q '"closed"' "$WORK/l.log"
  wait_for 10 "MQTT.js to give up" grep -q 'close' "$WORK/js.log"
  sleep 3
  cap_stop "$CAPC" "$CAPB"
  local how="The gateway masquerades (NAT) with nf_conntrack_tcp_timeout_established=5 and nf_conntrack_tcp_loose=0, and drops conntrack INVALID. nat-short (raw, keepalive 3) keeps its mapping alive and survives; nat-long (raw) and nat-js (MQTT.js, reconnectPeriod 0) have keepalive 8: after 8 s of silence their mapping has expired, so their first PINGREQ after the gap is INVALID at the gateway and dropped, retransmitted and never ACKed; each client gives up on its own (MQTT.js 1.5 x keepalive after the last packet it received, the raw client one keepalive after its PINGREQ); aedes closes 1.5 x keepalive after the last packet it got and its FIN is dropped too."
  expect nat-idle-aedes-client.pcap client \
    "NAT idle expiry against aedes: keepalive 8 s behind a NAT with a 5 s TCP timeout dies (raw client, MQTT.js); keepalive 3 s survives (client side)" \
    "$how Client's veth (before NAT)." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "*|nat_idle_expiry|network|middlebox|null|8 s idle gap > 5 s NAT timeout; first PINGREQ after the gap never ACKed"
  expect nat-idle-aedes-broker.pcap broker \
    "NAT idle expiry against aedes, broker's view (clients appear as the gateway's address 10.77.2.1)" \
    "$how Broker's veth (after NAT): the PINGREQs after the gap never arrive; aedes's FIN is never ACKed." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "*|nat_idle_expiry|network|middlebox|null|the NAT mapping expired during the 8 s idle gap"
}

sc_middlebox-rst-aedes() {
  aedes_start
  cap_start CAPC client "$OUT/middlebox-rst-aedes-client.pcap"
  cap_start CAPB broker "$OUT/middlebox-rst-aedes-broker.pcap"
  bg mqttc --host $B_IP --id mbx-raw --ka 3 --plan connect,ping:30 >"$WORK/c.log"
  mqttjs js --id mbx-js --ka 3 --mode reconnect --life 30
  js_up js
  sleep 3.5
  gns iptables -I FORWARD -p tcp -s $C_IP -d $B_IP --dport 1883 -j REJECT --reject-with tcp-reset
  log "gateway REJECT tcp-reset from t+4s"
  sleep 6.5
  cap_stop "$CAPC" "$CAPB"
  local how="A raw client and MQTT.js (3.1.1, keepalive 3; MQTT.js with its default reconnectPeriod of 1 s) ping; 3.5 s after MQTT.js connected, the gateway rejects client->broker TCP with iptables REJECT --reject-with tcp-reset. The next PINGREQ is answered by a RST forged by the gateway with the broker's address (TTL 64, while the broker's own packets arrive with TTL 63); MQTT.js then reconnects every second and each SYN is answered by the gateway's RST too (tcp_refused, middlebox). aedes never sees the RSTs; it closes each original connection 1.5 x keepalive after the client's last packet, and its FIN is answered by the client's RST, which the gateway swallows."
  expect middlebox-rst-aedes-client.pcap client \
    "a middlebox RST (gateway REJECT --reject-with tcp-reset) against aedes, client's view; MQTT.js's reconnect SYNs refused by the same rule" \
    "$how Client's veth." "" \
    "noid|tcp_refused|network|middlebox|null|reconnect SYN answered by the gateway's RST" \
    "*|reset|network|middlebox|null|RST sent by the gateway, not the broker"
  expect middlebox-rst-aedes-broker.pcap broker \
    "a middlebox RST (gateway REJECT --reject-with tcp-reset) against aedes, broker's view of the same connections" \
    "$how Broker's veth: no RST here, the clients just go silent, and the reconnect SYNs never arrive." "" \
    "*|keepalive_timeout|network|server|null|the client's PINGREQ was answered by the gateway's RST and never reached aedes"
}

broker_death() {  # broker_death NAME SIGNAL [aedes_tcp.js options]
  local name=$1 sig=$2; shift 2
  aedes_start "$@"
  cap_start CAP broker "$OUT/$name.pcap"
  bg mqttc --host $B_IP --id "$name" --count 10 --ver 4 --ka 10 --stagger 0.05 --plan connect,ping:60 >"$WORK/c.log"
  mqttjs js1 --id "$name-js1" --ka 10 --mode reconnect
  mqttjs js2 --id "$name-js2" --ka 10 --mode reconnect
  js_up js1 js2
  sleep 1
  kill "-$sig" "$BROKER_PID"
  log "aedes got SIG$sig"
  sleep 3.5
  cap_stop "$CAP"
}
sc_broker-sigterm-aedes() {
  broker_death broker-sigterm-aedes TERM
  expect broker-sigterm-aedes.pcap broker \
    "aedes's node process gets SIGTERM (no handler) while 12 clients are connected; MQTT.js then reconnects every second against a closed port" \
    "10 raw clients (3.1.1, keepalive 10) and two MQTT.js (keepalive 10, default reconnectPeriod 1 s) connected; 1 s after the last the node process running aedes got SIGTERM. Without a SIGTERM handler Node dies of the signal and the kernel closes every socket (FIN). MQTT.js reconnects every second; nothing listens any more, so each SYN is answered by the broker host's RST. Broker's veth." \
    "server_shutdown" \
    "noid|tcp_refused|protocol|server|null|reconnect SYN after the broker died: nothing listening" \
    "*|server_shutdown|protocol|server|null|closed when aedes's node process died of SIGTERM"
}
sc_broker-sigkill-aedes() {
  broker_death broker-sigkill-aedes KILL
  expect broker-sigkill-aedes.pcap broker \
    "aedes's node process SIGKILLed while 12 clients are connected; MQTT.js then reconnects every second against a closed port" \
    "10 raw clients (3.1.1, keepalive 10) and two MQTT.js (keepalive 10, default reconnectPeriod 1 s) connected; 1 s after the last the node process running aedes got SIGKILL; the kernel closes every socket (FIN). MQTT.js reconnects every second; each SYN is answered by the broker host's RST. Broker's veth." \
    "server_shutdown" \
    "noid|tcp_refused|protocol|server|null|reconnect SYN after the broker died: nothing listening" \
    "*|server_shutdown|protocol|server|null|closed when aedes's node process was SIGKILLed"
}
sc_broker-sigterm-close-aedes() {
  broker_death broker-sigterm-close-aedes TERM --sigterm close
  expect broker-sigterm-close-aedes.pcap broker \
    "aedes shut down by its own SIGTERM handler (aedes.close()) while 12 clients are connected; MQTT.js then reconnects every second against a closed port" \
    "lab/node/aedes_tcp.js --sigterm close: on SIGTERM it closes the listening server and calls aedes.close(), which closes every client (socket destroyed, no MQTT packet), then exits. 10 raw clients (3.1.1, keepalive 10) and two MQTT.js (keepalive 10, default reconnectPeriod 1 s); SIGTERM 1 s after all are connected. MQTT.js's reconnect SYNs are answered by RST. Broker's veth." \
    "server_shutdown" \
    "noid|tcp_refused|protocol|server|null|reconnect SYN after the broker closed: nothing listening" \
    "*|server_shutdown|protocol|server|null|closed by aedes.close() on SIGTERM"
}

sc_client-killed-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/client-killed-aedes.pcap"
  # each listens on its own topic: a message arriving unread at the moment of death would make
  # the kernel answer with RST instead of FIN
  sub_in_c killed-sub -V mqttv311 -k 5 -t lab/quiet/killed-sub --will-topic lab/will/killed-sub --will-payload gone; local s1=$!
  bg_in c "$PY" "$LABPY/paho_client.py" hold $B_IP killed-paho 5 60; local s2=$!
  mqttjs js1 --id killed-js --ka 5 --reconnect 0 --mode hold; local s3=$!
  mqttjs js2 --id sigterm-js --ka 5 --reconnect 0 --mode hold; local s4=$!
  js_up js1 js2
  sleep 1
  kill -KILL "$s1" "$s2" "$s3"
  kill -TERM "$s4"
  log "SIGKILL mosquitto_sub, paho, MQTT.js; SIGTERM the other MQTT.js"
  sleep 1.5
  cap_stop "$CAP"
  expect client-killed-aedes.pcap broker \
    "client processes SIGKILLed (mosquitto_sub, paho, MQTT.js) or SIGTERMed (MQTT.js): the kernel closes their sockets with FIN, no DISCONNECT" \
    "mosquitto_sub, paho-mqtt and two MQTT.js (all 3.1.1, keepalive 5, each on its own topic) connected to aedes; 1 s after the last had connected three were SIGKILLed and the MQTT.js sigterm-js got SIGTERM (MQTT.js installs no signal handler, so Node dies of it without sending DISCONNECT). Broker's veth." "" \
    "*|client_close|protocol|client|null|process killed; kernel FIN, no DISCONNECT"
}

sc_connect-refused-aedes() {
  aedes_start --auth labuser:labpass --keepalive-limit 60
  cap_start CAP broker "$OUT/connect-refused-aedes.pcap"
  local pub=(tcns 5 mosquitto_pub -h $B_IP -t lab/x -m hi)
  "${pub[@]}" -V mqttv311 -i badpass-pub -u labuser -P wrong || true; sleep 0.3
  "${pub[@]}" -V mqttv311 -i nocreds-pub || true; sleep 0.3
  "${pub[@]}" -V mqttv5 -i v5-pub -u labuser -P labpass || true; sleep 0.3
  paho hold $B_IP badpass-paho 5 2 labuser wrong >"$WORK/paho.log" 2>&1 || true; sleep 0.3
  mqttjs js1 --id badpass-js --ka 5 --reconnect 0 --user labuser --pass wrong --mode once --life 15; wait $! || true; sleep 0.3
  mqttjs js2 --id v5-js --ver 5 --ka 5 --reconnect 0 --user labuser --pass labpass --mode once --life 15; wait $! || true; sleep 0.3
  mqttjs js3 --id v31-js-with-a-client-id-too-long --ver 3 --ka 5 --reconnect 0 --user labuser --pass labpass --mode once --life 15; wait $! || true; sleep 0.3
  MQTTC_TIMEOUT=8 mqttc --host $B_IP --id longka-raw --ka 120 --user labuser --password labpass --plan connect,ping:2 >"$WORK/longka.log" || true; sleep 0.3
  "${pub[@]}" -V mqttv311 -i good-pub -u labuser -P labpass || true
  sleep 0.3
  cap_stop "$CAP"
  expect connect-refused-aedes.pcap broker \
    "CONNACK refusals from aedes: authenticate hook (wrong password 4, no credentials 5), MQTT 5.0 (1), MQTT 3.1 client id over 23 characters (2), keepaliveLimit 60 (6)" \
    "lab/node/aedes_tcp.js --auth labuser:labpass --keepalive-limit 60: the authenticate hook refuses a wrong password with returnCode 4 and a CONNECT without user name with 5; aedes 1.2 answers any protocol level but 3 and 4 with CONNACK 1, an MQTT 3.1 client id over 23 characters with 2, and a keepalive over keepaliveLimit with 6 (a code MQTT 3.1.1 reserves). One connection per case, one after another: mosquitto_pub with a wrong password and with none (3.1.1), mosquitto_pub 5.0 with good credentials, paho with a wrong password, MQTT.js (reconnectPeriod 0) with a wrong password, as MQTT 5.0, and as MQTT 3.1 with a 32-character id, a raw client with keepalive 120, and a control mosquitto_pub with good credentials. Broker's veth." "" \
    "id=good-pub|client_disconnect|none|client|null|control: good credentials" \
    "*|connect_refused|protocol|server|connack|refused by aedes (see scenario)"
}

sc_reconnect-refused-mqttjs-aedes() {
  aedes_start --auth labuser:labpass
  cap_start CAP broker "$OUT/reconnect-refused-mqttjs-aedes.pcap"
  mqttjs ok --id js-default-ka --user labuser --pass labpass --mode hold
  js_up ok
  mqttjs once --id js-refused-once --ka 5 --user labuser --pass wrong --mode once; wait $! || true
  mqttjs bad --id js-refused --ka 5 --user labuser --pass wrong --retry-refused 1 --mode reconnect --life 5.5; wait $! || true
  sleep 0.5
  cap_stop "$CAP"
  expect reconnect-refused-mqttjs-aedes.pcap broker \
    "MQTT.js with a wrong password: by default it stops after the first refusal; with reconnectOnConnackError it is refused by aedes about once a second; a control MQTT.js with the default keepalive stays up" \
    "lab/node/aedes_tcp.js --auth labuser:labpass. js-default-ka (good credentials, MQTT.js's default keepalive of 60 s) connects first and is still up when the capture stops. Then two MQTT.js (3.1.1, keepalive 5, default reconnectPeriod 1000 ms) with a wrong password: js-refused-once with MQTT.js's defaults gets CONNACK 4 once and does not try again (MQTT.js 5 suppresses reconnects after a refusal); js-refused has reconnectOnConnackError: every CONNECT gets CONNACK 4 and MQTT.js tries again about 1 s after each close, until end(true) 5.5 s after its start. Broker's veth." "" \
    "id=js-default-ka|open_at_end|none|null|null|good credentials, still up" \
    "*|connect_refused|protocol|server|connack|wrong password: CONNACK 4, again and again"
}

sc_protocol-violation-aedes() {
  aedes_start
  cap_start CAP broker "$OUT/protocol-violation-aedes.pcap"
  local cases=("pv-pingfirst|--plan pingreq,connect,ping:3|PINGREQ before CONNECT"
               "pv-connect2|--plan connect,sleep:1,connect2,ping:3|a second CONNECT"
               "pv-reserved|--plan connect,sleep:1,raw:0000,ping:3|a packet of reserved type 0"
               "pv-badlength|--plan connect,sleep:1,raw:30ffffffff7f,ping:3|a remaining length of five bytes"
               "pv-publish-qos3|--plan connect,sleep:1,raw:360900036c2f7800016869,ping:3|a PUBLISH with QoS 3"
               "pv-subscribe-flags|--plan connect,sleep:1,raw:8008000100036c2f7800,ping:3|a SUBSCRIBE with flags 0000 (must be 0010)"
               "pv-pubrel-noid|--plan connect,sleep:1,raw:6200,ping:3|a PUBREL too short to hold a packet id")
  local c id plan what rules=() port=40100
  for c in "${cases[@]}"; do
    IFS='|' read -r id plan what <<<"$c"
    port=$((port + 1))
    # shellcheck disable=SC2086
    MQTTC_TIMEOUT=12 mqttc --host $B_IP --id "$id" --bind-port $port --ver 4 --ka 2 $plan >"$WORK/$id.log" || true
    sleep 0.3
    # ground truth from the client's side: did aedes close on the violation, or go on?
    if grep -q '"peer_closed"' "$WORK/$id.log"; then
      rules+=("port=$port|protocol_violation|protocol|server|null|$what: aedes closed the connection")
    else
      rules+=("port=$port|client_close|protocol|client|null|$what: aedes went on; the raw client closed at the end of its plan")
    fi
  done
  cap_stop "$CAP"
  expect protocol-violation-aedes.pcap broker \
    "protocol violations against aedes: PINGREQ before CONNECT, a second CONNECT, reserved type 0, a five-byte remaining length, PUBLISH QoS 3, SUBSCRIBE with wrong flags, a short PUBREL" \
    "Raw clients (3.1.1, keepalive 2, from ports 40101-40107 in this order), one after another: one sends PINGREQ as its first packet; the others send the offending packet 1 s after CONNACK, then ping for 3 s and close (FIN) if the connection is still up. Where aedes closed the connection the verdict is protocol_violation, where it did not the client closed it. Broker's veth." "" \
    "${rules[@]}"
}

sc_mqttjs-mosquitto-clean() {
  mosquitto_start
  cap_start CAP broker "$OUT/mqttjs-mosquitto-clean.pcap"
  mqttjs a --id js-clean-v311 --ka 2 --mode clean; local a=$!
  mqttjs b --id js-clean-v5 --ver 5 --ka 2 --mode clean; local b=$!
  wait "$a" || true; wait "$b" || true
  sleep 0.3
  cap_stop "$CAP"
  expect mqttjs-mosquitto-clean.pcap broker \
    "MQTT.js against mosquitto: 3.1.1 and 5.0 clients end with end() (DISCONNECT)" \
    "Two MQTT.js (3.1.1 and 5.0, keepalive 2) subscribe, publish twice, idle 5 s (PINGREQs) and call end(). Broker's veth." "" \
    "*|client_disconnect|none|client|cdisc|MQTT.js end(): DISCONNECT"
}

sc_mqttjs-mosquitto-takeover() {
  mosquitto_start
  cap_start CAP broker "$OUT/mqttjs-mosquitto-takeover.pcap"
  mqttjs a4 --id js-twin-v311 --ka 5 --reconnect 0 --mode hold
  mqttjs a5 --id js-twin-v5 --ver 5 --ka 5 --reconnect 0 --mode hold
  js_up a4 a5
  sleep 1
  mqttjs b4 --id js-twin-v311 --ka 5 --mode clean; local b4=$!
  mqttjs b5 --id js-twin-v5 --ver 5 --ka 5 --mode clean; local b5=$!
  wait "$b4" || true; wait "$b5" || true
  sleep 0.3
  cap_stop "$CAP"
  expect mqttjs-mosquitto-takeover.pcap broker \
    "session takeover between MQTT.js clients against mosquitto (3.1.1 and 5.0)" \
    "MQTT.js A (reconnectPeriod 0) connects as js-twin-v311 and another as js-twin-v5 (keepalive 5); 1 s after both are connected a second MQTT.js connects with each id, publishes, idles 5 s and calls end(). mosquitto closes each first holder right after the second's CONNECT. Broker's veth." \
    "session_taken_over" \
    "id=js-twin-v311&first|session_taken_over|protocol|server|null|first holder, taken over" \
    "id=js-twin-v5&first|session_taken_over|protocol|server|sdisc|first holder, taken over" \
    "*|client_disconnect|none|client|cdisc|the new holder calls end()"
}

sc_mqttjs-mosquitto-stalled() {
  mosquitto_start
  cap_start CAP broker "$OUT/mqttjs-mosquitto-stalled.pcap"
  mqttjs a --id js-stalled-v311 --ka 3 --reconnect 0 --mode hold; local a=$!
  mqttjs b --id js-stalled-v5 --ver 5 --ka 3 --reconnect 0 --mode hold; local b=$!
  js_up a b
  sleep 4
  kill -STOP "$a" "$b"
  log "SIGSTOP both MQTT.js 4 s after they connected"
  sleep 9
  cap_stop "$CAP"
  expect mqttjs-mosquitto-stalled.pcap broker \
    "MQTT.js clients (3.1.1, 5.0; keepalive 3) SIGSTOPped; mosquitto closes each for keepalive" \
    "Two MQTT.js (3.1.1 and 5.0, keepalive 3, reconnectPeriod 0) were SIGSTOPped 4 s after both had connected, after their first PINGREQ; mosquitto closes each on its keepalive check. Broker's veth; the capture stops 9 s after the SIGSTOP." "" \
    "*|keepalive_timeout|protocol|server|sdisc|SIGSTOPped MQTT.js"
}

sc_mqttjs-mosquitto-nat() {
  mosquitto_start
  nat_gateway 5
  cap_start CAPC client "$OUT/mqttjs-mosquitto-nat-client.pcap"
  cap_start CAPB broker "$OUT/mqttjs-mosquitto-nat-broker.pcap"
  mqttjs s --id js-nat-short --ka 3 --reconnect 0 --mode hold
  mqttjs l --id js-nat-long --ka 8 --reconnect 0 --mode hold
  sleep 1
  wait_for 30 "MQTT.js to give up" grep -q 'close' "$WORK/l.log"
  # and mosquitto's own keepalive close (coarse timer), so the broker's view shows its FIN
  wait_for 20 "mosquitto to time js-nat-long out" grep -q "js-nat-long has exceeded timeout" "$WORK/broker.log"
  sleep 2
  cap_stop "$CAPC" "$CAPB"
  local how="The gateway masquerades (NAT) with nf_conntrack_tcp_timeout_established=5, nf_conntrack_tcp_loose=0, INVALID dropped. MQTT.js js-nat-short (keepalive 3) keeps its mapping alive; js-nat-long (keepalive 8, reconnectPeriod 0) is silent 8 s, its mapping expires at 5 s, its PINGREQ is dropped as INVALID, retransmitted, never ACKed; MQTT.js gives up 1.5 x keepalive after the last packet it received (FIN, dropped too); mosquitto's FIN for keepalive (the capture runs until mosquitto's log says it timed the client out, plus 2 s) is dropped as well."
  expect mqttjs-mosquitto-nat-client.pcap client \
    "NAT idle expiry, MQTT.js against mosquitto: keepalive 8 behind a 5 s NAT dies, keepalive 3 survives (client side)" \
    "$how Client's veth (before NAT)." "nat_timeout_bracket" \
    "id=js-nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=js-nat-long|nat_idle_expiry|network|middlebox|null|8 s idle gap > 5 s NAT timeout"
  expect mqttjs-mosquitto-nat-broker.pcap broker \
    "NAT idle expiry, MQTT.js against mosquitto, broker's view (after NAT)" \
    "$how Broker's veth (after NAT)." "nat_timeout_bracket" \
    "id=js-nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=js-nat-long|nat_idle_expiry|network|middlebox|null|the NAT mapping expired during the 8 s idle gap"
}

# ---------------------------------------------------------------- driver -----------
main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  node_ready
  mkdir -p "$OUT"
  local start=$SECONDS
  lab_run "$@"
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
}

main "$@"
