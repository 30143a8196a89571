#!/usr/bin/env bash
# The dropscope capture lab: real captures of every way an MQTT connection ends.
#
#   sudo captures/make-captures.sh              # every scenario (in parallel), < 10 minutes
#   sudo captures/make-captures.sh NAME...      # only these scenarios
#   sudo captures/make-captures.sh --list       # scenario names
#
# Each scenario gets its own three network namespaces joined by veth pairs:
#
#   client ns  c0 10.77.1.2 fd77:1::2 ── g0 10.77.1.1 [gateway ns] g1 10.77.2.1 ── b0 10.77.2.2 fd77:2::2  broker ns
#
# mosquitto runs in the broker ns with its own config; clients (mosquitto_pub/sub,
# paho-mqtt, lab/mqttc.py) run in the client ns; faults come from iptables/conntrack in
# the gateway, from signals, and from broker configuration.  tcpdump records on the
# broker's or the client's veth.  Addresses are private to these namespaces, so nothing
# leaves the machine.  After each capture lab/expect.py reads it with tshark and writes
# <scenario>.expected.json from what the scenario injected.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE}
PY=/usr/bin/python3          # the Debian python, which has python3-paho-mqtt
C_IP=10.77.1.2 B_IP=10.77.2.2 C_IP6=fd77:1::2 B_IP6=fd77:2::2
SCENARIO_TIMEOUT=120         # seconds; any single scenario attempt is killed after this
JOBS=${JOBS:-10}             # scenarios run side by side (most of their time is waiting)

SELF=$HERE/make-captures.sh LAB=lab
# shellcheck source=lab/lab.sh
source "$LABPY/lab.sh"

# ---------------------------------------------------------------- setup ------------
need_packages() {
  install_missing mosquitto mosquitto-clients tcpdump tshark tcpreplay iptables conntrack \
    python3 python3-paho-mqtt iproute2 wireshark-common procps coreutils
}

lab_up() { lab_net "dsl-$1" "dropscope-lab.$1" ipv6; }

# broker_start [port] [extra config lines...]
broker_start() {
  local port=${1:-1883}; shift || true
  {
    echo "listener $port"
    echo "allow_anonymous ${ANON:-true}"
    echo "persistence false"
    echo "log_dest file $WORK/mosquitto.log"
    echo "log_type all"
    echo "log_timestamp_format %H:%M:%S"
    printf '%s\n' "$@"
  } >"$WORK/mosquitto.conf"
  install -m 0666 /dev/null "$WORK/mosquitto.log"   # mosquitto drops root before logging
  bg_in b mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1
  BROKER_PID=$!
  wait_for 5 "broker listening" bash -c "ip netns exec $NS-b ss -ltn | grep -q ':$port '"
}

# the lab's own raw client and paho client, run in the client namespace
mqttc() { tcns "${MQTTC_TIMEOUT:-90}" "$PY" "$LABPY/mqttc.py" "$@"; }
paho() { tcns 60 "$PY" "$LABPY/paho_client.py" "$@"; }

# expect CAPTURE VANTAGE SCENARIO HOW FINDINGS RULE...  (PORTS from $PORTS, default 1883)
expect() {
  local cap=$1 vantage=$2 scenario=$3 how=$4 findings=$5; shift 5
  local args=() r base
  for r in "$@"; do args+=(--rule "$r"); done
  base=${cap%.pcap}; base=${base%.pcapng}; base=${base%/}
  "$PY" "$LABPY/expect.py" --dir "$OUT" --capture "$cap" --vantage "$vantage" \
    --scenario "$scenario" --how "$how" --findings "$findings" --ports "${PORTS:-1883}" \
    --out "$OUT/$base.expected.json" "${args[@]}"
}

# --------------------------------------------------------------- scenarios ---------
# Every scenario is a function sc_<name>; it runs in its own process and lab.

sc_clean-disconnect-v311() {
  broker_start
  cap_start CAP client "$OUT/clean-disconnect-v311.pcap"
  bg timeout -k 2 20 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i sub-v311 -k 5 -q 1 -t 'lab/#' -C 3
  sleep 3.2
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i pub-v311 -q 1 -t lab/x -m hello --repeat 3 --repeat-delay 1 -d >"$WORK/pub.log" 2>&1
  wait "${PIDS[-1]}" || true
  cap_stop "$CAP"
  expect clean-disconnect-v311.pcap client \
    "MQTT 3.1.1 subscriber (keepalive 5) and publisher both end with DISCONNECT" \
    "mosquitto_sub -C 3 exits after 3 messages and mosquitto_pub after 3 publishes; both send DISCONNECT then FIN. Captured at the client's veth (no gateway faults)." "" \
    "*|client_disconnect|none|client|null|mosquitto_pub/mosquitto_sub sent DISCONNECT"
}

sc_clean-disconnect-v5() {
  broker_start
  cap_start CAP broker "$OUT/clean-disconnect-v5.pcap"
  bg paho clean5 $B_IP paho-v5
  sleep 2.5
  tcns 10 mosquitto_pub -V mqttv5 -h $B_IP -i pub-v5 -q 1 -t lab/x -m hello --repeat 2 --repeat-delay 1
  wait "${PIDS[-1]}" || true
  cap_stop "$CAP"
  expect clean-disconnect-v5.pcap broker \
    "MQTT 5.0 clients end with DISCONNECT: paho with reason 0x04 (with will), mosquitto_pub with 0x00" \
    "paho-mqtt 1.6 (keepalive 2, PINGREQs on the wire) calls disconnect(reasoncode=4); mosquitto_pub publishes twice and disconnects normally." "" \
    "id=paho-v5|client_disconnect|none|client|cdisc|paho disconnect(reasoncode=0x04)" \
    "id=pub-v5|client_disconnect|none|client|cdisc|mosquitto_pub normal disconnect"
}

sc_connect-refused() {
  mosquitto_passwd -b -c "$WORK/passwd" labuser labpass
  chmod 0644 "$WORK/passwd"
  ANON=false broker_start 1883 "password_file $WORK/passwd" "max_keepalive 60"
  cap_start CAP broker "$OUT/connect-refused.pcap"
  local pub=(tcns 5 mosquitto_pub -h $B_IP -t lab/x -m hi)
  "${pub[@]}" -V mqttv311 -i badpass-v311 -u labuser -P wrong || true; sleep 0.3
  "${pub[@]}" -V mqttv5 -i badpass-v5 -u labuser -P wrong || true; sleep 0.3
  "${pub[@]}" -V mqttv311 -i nocreds-v311 || true; sleep 0.3
  "${pub[@]}" -V mqttv5 -i nocreds-v5 || true; sleep 0.3
  MQTTC_TIMEOUT=8 mqttc --host $B_IP --id "" --persistent --user labuser --password labpass \
    --bind-port 40010 --plan connect,silent:2 >"$WORK/emptyid.log" || true; sleep 0.3
  "${pub[@]}" -V mqttv311 -i longka-v311 -u labuser -P labpass -k 120 || true; sleep 0.3
  "${pub[@]}" -V mqttv311 -i good-v311 -u labuser -P labpass || true
  cap_stop "$CAP"
  # mosquitto 2.0.11 accepts a 3.1.1 keepalive above max_keepalive (later versions answer
  # CONNACK 2); the broker's own log says which happened here.
  local longka_rule="id=longka-v311|connect_refused|protocol|server|connack|keepalive 120 > max_keepalive 60"
  if grep -q "New client connected.* as longka-v311" "$WORK/mosquitto.log"; then
    longka_rule="id=longka-v311|client_disconnect|none|client|null|keepalive 120 > max_keepalive 60, yet accepted by this mosquitto; mosquitto_pub then disconnects"
  fi
  expect connect-refused.pcap broker \
    "CONNACK refusals from mosquitto with password_file, allow_anonymous false, max_keepalive 60" \
    "Broker config: password_file with labuser:labpass, allow_anonymous false, max_keepalive 60. One connection per cause, one after another: wrong password (3.1.1, 5.0), no credentials (3.1.1, 5.0), empty client id with clean session 0 (3.1.1, raw client from port 40010), keepalive 120 > max_keepalive (3.1.1), and a control with good credentials." "" \
    "id=good-v311|client_disconnect|none|client|null|control: good credentials" \
    "$longka_rule" \
    "*|connect_refused|protocol|server|connack|refused by broker config (see scenario)"
}

sc_keepalive-stalled() {
  broker_start
  cap_start CAP broker "$OUT/keepalive-stalled.pcap"
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -i stalled-v311 -k 5 -t 'lab/#'; local s1=$!
  bg_in c mosquitto_sub -V mqttv5 -h $B_IP -i stalled-v5 -k 5 -t 'lab/#'; local s2=$!
  bg mqttc --host $B_IP --id silent-raw --ka 3 --plan connect,silent:20 >"$WORK/silent.log"
  sleep 6.5   # after their first PINGREQ/PINGRESP (at 5 s)
  kill -STOP "$s1" "$s2"
  log "stopped both mosquitto_sub at t+6.5s"
  sleep 14
  cap_stop "$CAP"
  expect keepalive-stalled.pcap broker \
    "clients stop sending: two mosquitto_sub (3.1.1, 5.0; keepalive 5) SIGSTOPped, one raw client silent after CONNACK; the broker closes each" \
    "Both mosquitto_sub were SIGSTOPped 6.5 s after start, after their first PINGREQ/PINGRESP at 5 s; the raw client sent CONNECT (keepalive 3) and then nothing. The broker closes each with a FIN, somewhat later than 1.5 x keepalive after the client's last packet (mosquitto checks keepalives on a coarse timer); the capture stops 14 s after the SIGSTOP." "" \
    "id=stalled-v5|keepalive_timeout|protocol|server|sdisc|SIGSTOPped 1.5 s after its first PINGREQ; no DISCONNECT 0x8D from mosquitto 2.0.11" \
    "id=stalled-v311|keepalive_timeout|protocol|server|null|SIGSTOPped 1.5 s after its first PINGREQ" \
    "id=silent-raw|keepalive_timeout|protocol|server|null|sent CONNECT and then nothing at all"
}

sc_keepalive-lost-pingreq() {
  broker_start
  cap_start CAPB broker "$OUT/keepalive-lost-pingreq-broker.pcap"
  cap_start CAPC client "$OUT/keepalive-lost-pingreq-client.pcap"
  bg mqttc --host $B_IP --id lostping-v311 --ver 4 --ka 3 --plan connect,ping:30 >"$WORK/c1.log"
  bg mqttc --host $B_IP --id lostping-v5 --ver 5 --ka 3 --plan connect,ping:30 >"$WORK/c2.log"
  sleep 4
  gns iptables -I FORWARD -s $C_IP -d $B_IP -j DROP
  log "one-way blackhole client->broker from t+4s"
  sleep 10
  cap_stop "$CAPB" "$CAPC"
  local how="Two raw clients (keepalive 3) ping normally; 4 s in, the gateway drops everything from client to broker (iptables -I FORWARD -s $C_IP -d $B_IP -j DROP), broker->client still flows. The next PINGREQ is sent and retransmitted but never delivered; the broker closes for keepalive; its FIN reaches the client but the client's ACK and FIN never reach the broker. Same connections captured at both ends:"
  PORTS=1883 expect keepalive-lost-pingreq-broker.pcap broker \
    "PINGREQs lost on a one-way blackhole (client->broker); broker's view of the keepalive timeout" \
    "$how this is the broker's veth (the lost PINGREQs are not here)." "" \
    "*|keepalive_timeout|network|server|sdisc|client's PINGREQ lost in the gateway (one-way blackhole); broker FIN unacknowledged"
  expect keepalive-lost-pingreq-client.pcap client \
    "PINGREQs lost on a one-way blackhole (client->broker); client's view of the same connections" \
    "$how this is the client's veth (PINGREQ and its retransmissions are here)." "" \
    "*|keepalive_timeout|network|server|sdisc|PINGREQ sent and retransmitted, never ACKed; broker closed for keepalive"
}

takeover() {  # takeover VERSION(4|5)
  local v=$1 name=takeover-v311 pubv=mqttv311 code=null
  [[ $v == 5 ]] && name=takeover-v5 pubv=mqttv5 code=sdisc
  broker_start
  cap_start CAP broker "$OUT/$name.pcap"
  bg mqttc --host $B_IP --id "twin-$name" --ver "$v" --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  sleep 3
  tcns 10 mosquitto_pub -V $pubv -h $B_IP -i "twin-$name" -t lab/x -m hi
  sleep 2
  cap_stop "$CAP"
  local ccode=null; [[ $v == 5 ]] && ccode=cdisc
  expect "$name.pcap" broker \
    "session takeover ($pubv): a second client CONNECTs with the same client id; the broker closes the first" \
    "Raw client A (keepalive 5) connected as twin-$name; 3 s later mosquitto_pub connected with the same id, published and disconnected. The broker closed A right after B's CONNECT." \
    "session_taken_over" \
    "id=twin-$name&first|session_taken_over|protocol|server|$code|first holder of the id, taken over" \
    "id=twin-$name&last|client_disconnect|none|client|$ccode|the new holder (mosquitto_pub) disconnects normally"
}
sc_takeover-v311() { takeover 4; }
sc_takeover-v5() { takeover 5; }

broker_death() {  # broker_death SIGNAL
  local sig=$1 name=broker-sig${1,,}
  broker_start
  cap_start CAP broker "$OUT/$name.pcap"
  bg mqttc --host $B_IP --id "$name" --count 20 --ver mix --ka 10 --stagger 0.05 --plan connect,ping:60 >"$WORK/c.log"
  sleep 3
  kill "-$sig" "$BROKER_PID"
  log "broker got SIG$sig"
  sleep 3
  cap_stop "$CAP"
  expect "$name.pcap" broker \
    "broker killed with SIG$sig while 20 clients (3.1.1 and 5.0 alternating) are connected" \
    "20 raw clients (keepalive 10, ids $name-000..019, even = 3.1.1, odd = 5.0) connected; 3 s later the mosquitto process got SIG$sig. Every connection is closed by the broker side within one short window." \
    "server_shutdown" \
    "*|server_shutdown|protocol|server|sdisc|closed when mosquitto got SIG$sig"
}
sc_broker-sigterm() { broker_death TERM; }
sc_broker-sigkill() { broker_death KILL; }

sc_client-killed() {
  broker_start
  cap_start CAP broker "$OUT/client-killed.pcap"
  # each listens on its own topic: a message (or the other's will) arriving unread at the
  # moment of death would make the kernel answer with RST instead of FIN
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -i killed-v311 -k 5 -t lab/data/killed-v311 --will-topic lab/will/killed-v311 --will-payload gone; local s1=$!
  bg_in c mosquitto_sub -V mqttv5 -h $B_IP -i killed-v5 -k 5 -t lab/data/killed-v5 --will-topic lab/will/killed-v5 --will-payload gone; local s2=$!
  sleep 3
  kill -KILL "$s1" "$s2"
  sleep 2
  cap_stop "$CAP"
  expect client-killed.pcap broker \
    "client processes SIGKILLed: the kernel closes their sockets with FIN, no DISCONNECT" \
    "Two mosquitto_sub (3.1.1 and 5.0, keepalive 5, each with a will and its own topic, so nothing is unread when they die) were SIGKILLed 3 s after start; their kernels sent FIN." "" \
    "*|client_close|protocol|client|null|mosquitto_sub SIGKILLed; kernel FIN, no DISCONNECT"
}

sc_client-abort-rst() {
  broker_start
  cap_start CAP broker "$OUT/client-abort-rst.pcap"
  mqttc --host $B_IP --id abort-v311 --ver 4 --ka 2 --plan connect,ping:3,abort >"$WORK/a.log"
  mqttc --host $B_IP --id abort-v5 --ver 5 --ka 2 --plan connect,ping:3,abort >"$WORK/b.log"
  sleep 1
  cap_stop "$CAP"
  expect client-abort-rst.pcap broker \
    "clients abort their connections with SO_LINGER 0 (RST), no DISCONNECT" \
    "Raw clients (3.1.1 and 5.0, keepalive 2) ping for 3 s, then close with SO_LINGER {1,0}: the kernel sends RST." "" \
    "*|reset|network|client|null|client closed with SO_LINGER 0"
}

sc_middlebox-rst() {
  broker_start
  cap_start CAPC client "$OUT/middlebox-rst-client.pcap"
  cap_start CAPB broker "$OUT/middlebox-rst-broker.pcap"
  bg mqttc --host $B_IP --id mbx-rst --ka 3 --plan connect,ping:30 >"$WORK/c.log"
  sleep 4
  gns iptables -I FORWARD -p tcp -s $C_IP -d $B_IP --dport 1883 -j REJECT --reject-with tcp-reset
  log "gateway REJECT tcp-reset from t+4s"
  sleep 11
  cap_stop "$CAPC" "$CAPB"
  local how="Raw client (keepalive 3) pings; 4 s in, the gateway rejects client->broker TCP with iptables REJECT --reject-with tcp-reset. The next PINGREQ is answered by a RST forged by the gateway with the broker's address (TTL 64, while the broker's own packets arrive with TTL 63). The broker never sees the RST; it closes later for keepalive and its FIN is answered by the client's RST, which the gateway swallows."
  expect middlebox-rst-client.pcap client \
    "a middlebox RST (gateway REJECT --reject-with tcp-reset), client's view" "$how Captured on the client's veth." "" \
    "*|reset|network|middlebox|null|RST sent by the gateway, not the broker"
  expect middlebox-rst-broker.pcap broker \
    "a middlebox RST (gateway REJECT --reject-with tcp-reset), broker's view of the same connection" "$how Captured on the broker's veth: no RST here, the client just goes silent." "" \
    "*|keepalive_timeout|network|server|null|client's PINGREQ was answered by the gateway's RST and never reached the broker"
}

nat_gateway() {  # nat_gateway CONNTRACK_TIMEOUT INVALID_ACTION(DROP|REJECT)
  gns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established="$1" net.netfilter.nf_conntrack_tcp_loose=0
  gns iptables -t nat -A POSTROUTING -o g1 -j MASQUERADE
  local act=(-j DROP)
  [[ $2 == REJECT ]] && act=(-j REJECT --reject-with tcp-reset)
  gns iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID "${act[@]}"
  gns iptables -A INPUT -p tcp -m conntrack --ctstate INVALID -j DROP
}

sc_nat-idle-expiry() {
  broker_start
  nat_gateway 5 DROP
  cap_start CAPC client "$OUT/nat-idle-expiry.pcap"
  cap_start CAPB broker "$OUT/nat-idle-expiry-broker.pcap"
  bg mqttc --host $B_IP --id nat-short --ka 3 --plan connect,ping:60 >"$WORK/s.log"
  bg mqttc --host $B_IP --id nat-long --ka 8 --plan connect,ping:60 >"$WORK/l.log"
  wait_for 30 "nat-long to give up" grep -q '"closed"' "$WORK/l.log"
  sleep 4
  cap_stop "$CAPC" "$CAPB"
  local how="The gateway masquerades (NAT) with nf_conntrack_tcp_timeout_established=5 and nf_conntrack_tcp_loose=0, and drops conntrack INVALID. nat-short (keepalive 3) keeps its mapping alive and survives; nat-long (keepalive 8) is idle 8 s, its mapping expires at 5 s, so its first PINGREQ after the gap is INVALID at the gateway and dropped, retransmitted and never ACKed; the client gives up one keepalive later; the broker closes for keepalive and its FIN is dropped too."
  expect nat-idle-expiry.pcap client \
    "NAT idle expiry: keepalive 8 s behind a NAT with a 5 s TCP timeout dies; keepalive 3 s survives (client side)" \
    "$how Captured on the client's veth (before NAT)." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=nat-long|nat_idle_expiry|network|middlebox|null|8 s idle gap > 5 s NAT timeout; first PINGREQ after the gap never ACKed"
  expect nat-idle-expiry-broker.pcap broker \
    "NAT idle expiry, broker's view (clients appear as the gateway's address 10.77.2.1)" \
    "$how Captured on the broker's veth (after NAT): nat-long's PINGREQ never arrives; after the idle gap the broker's FIN is never ACKed." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=nat-long|nat_idle_expiry|network|middlebox|null|the NAT mapping expired during the 8 s idle gap"
}

sc_nat-idle-control() {
  broker_start
  nat_gateway 5 DROP
  cap_start CAPC client "$OUT/nat-idle-control.pcap"
  bg mqttc --host $B_IP --id nat-control --ka 4 --plan connect,ping:60 >"$WORK/s.log"
  sleep 14
  cap_stop "$CAPC"
  expect nat-idle-control.pcap client \
    "control: keepalive 4 s behind the same NAT (5 s TCP timeout) survives" \
    "Same gateway as nat-idle-expiry (MASQUERADE, established timeout 5 s, loose 0, INVALID dropped). The raw client pings every 4 s, so the mapping never expires; the capture stops after 14 s with the connection up." "" \
    "*|open_at_end|none|null|null|4 s gaps < 5 s NAT timeout"
}

sc_retransmission-timeout() {
  broker_start
  cns sysctl -qw net.ipv4.tcp_retries2=3
  cap_start CAP client "$OUT/retransmission-timeout.pcap"
  bg mqttc --host $B_IP --id rto-control --ka 2 --plan connect,ping:60 >"$WORK/k.log"
  bg mqttc --host $B_IP --id rto-pub --bind-port 40200 --ka 30 --plan connect,pub:300:0.1:200:1 >"$WORK/c.log"
  sleep 2
  gns iptables -I FORWARD -p tcp --sport 40200 -j DROP
  gns iptables -I FORWARD -p tcp --dport 40200 -j DROP
  log "two-way blackhole of port 40200 from t+2s"
  wait_for 40 "client to give up" grep -q 'error' "$WORK/c.log"
  sleep 2
  cap_stop "$CAP"
  expect retransmission-timeout.pcap client \
    "two-way blackhole of one connection with QoS 1 publishes in flight; the client's TCP gives up (tcp_retries2=3)" \
    "Raw client rto-pub (local port 40200, keepalive 30) publishes QoS 1 every 100 ms; 2 s in, the gateway drops every packet from and to port 40200, both ways. net.ipv4.tcp_retries2=3 in the client namespace: the kernel retransmits the unacknowledged data 4 times with backoff, then gives up (ETIMEDOUT, seen by the client about 3 s after the last retransmission) and sends nothing more, not even a RST. A second client, rto-control (keepalive 2), is not blackholed and keeps pinging, so the capture shows the silence that follows; it is still up at the end." "" \
    "id=rto-control|open_at_end|none|null|null|not blackholed; pings every 2 s" \
    "port=40200|retransmission_timeout|network|client|null|client's data never ACKed after the blackhole; kernel gave up"
}

sc_protocol-violation() {
  broker_start
  cap_start CAP broker "$OUT/protocol-violation.pcap"
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id pv-pingfirst --bind-port 40100 --plan pingreq,connect,ping:3 >"$WORK/a.log"
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id pv-connect2-v311 --ver 4 --plan connect,sleep:1,connect2,ping:3 >"$WORK/b.log"
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id pv-connect2-v5 --ver 5 --plan connect,sleep:1,connect2,ping:3 >"$WORK/c.log"
  MQTTC_TIMEOUT=10 mqttc --host $B_IP --id pv-reserved --ver 4 --plan connect,sleep:1,raw:0000,ping:3 >"$WORK/d.log"
  sleep 0.5
  cap_stop "$CAP"
  expect protocol-violation.pcap broker \
    "protocol violations: PINGREQ before CONNECT, a second CONNECT (3.1.1 and 5.0), a packet of reserved type 0" \
    "Raw clients, one after another: one sends PINGREQ as its first packet (from port 40100, never gets to CONNECT); two send a second CONNECT 1 s after their CONNACK; one sends bytes 00 00 (reserved packet type 0) after CONNACK. The broker closes each right after the offending packet." "" \
    "port=40100|protocol_violation|protocol|server|null|PINGREQ before CONNECT" \
    "id=pv-connect2-v5|protocol_violation|protocol|server|sdisc|second CONNECT" \
    "*|protocol_violation|protocol|server|null|second CONNECT or reserved packet type"
}

sc_server-close-maxconn() {
  broker_start 1883 "max_connections 3"
  cap_start CAP broker "$OUT/server-close-maxconn.pcap"
  bg mqttc --host $B_IP --id held --count 3 --stagger 0.2 --ka 5 --plan connect,ping:60 >"$WORK/a.log"
  sleep 1.5
  # wait a moment before CONNECT so the broker's close meets an empty receive buffer (FIN)
  mqttc --host $B_IP --id over --count 2 --stagger 0.3 --ka 5 --plan sleep:0.5,connect,ping:3 >"$WORK/b.log"
  sleep 0.5
  cap_stop "$CAP"
  expect server-close-maxconn.pcap broker \
    "broker at max_connections 3: two more clients are accepted by TCP and closed by the broker at once, without any MQTT packet" \
    "Broker config max_connections 3. Three raw clients (held-000..002) connect and stay; then two more (over-000, over-001) open TCP and wait 0.5 s before CONNECT. mosquitto accepts the socket and closes it immediately (its log: 'max_connections exceeded'); the late CONNECT is answered by a RST from the closed socket." "" \
    "idprefix=held|open_at_end|none|null|null|within max_connections, still up" \
    "idprefix=over|server_close|protocol|server|null|closed by the broker on accept (max_connections exceeded)"
}

sc_lossy-link() {
  broker_start
  gns iptables -A FORWARD -m statistic --mode random --probability 0.08 -j DROP
  cap_start CAP broker "$OUT/lossy-link.pcap"
  bg timeout -k 2 40 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i lossy-sub -k 5 -q 1 -t 'lab/#' -C 100; local sub=$!
  sleep 3
  for i in $(seq 100); do echo "reading $i"; sleep 0.03; done | \
    tcns 40 mosquitto_pub -V mqttv311 -h $B_IP -i lossy-pub -q 1 -t lab/lossy -l
  wait "$sub" || true
  sleep 2
  cap_stop "$CAP"
  expect lossy-link.pcap broker \
    "8% random loss both ways in the gateway; retransmissions, but both clients finish with DISCONNECT" \
    "iptables -A FORWARD -m statistic --mode random --probability 0.08 -j DROP in the gateway. mosquitto_sub (QoS 1, -C 100) and mosquitto_pub -l (100 QoS 1 messages, 30 ms apart) both end with DISCONNECT; lost segments show up as retransmissions. (With more messages published than the subscriber waits for, mosquitto_sub 2.0.11 sometimes exits without getting its DISCONNECT onto the wire; the publisher now sends exactly 100.)" "" \
    "*|client_disconnect|none|client|null|survived the loss; ended with DISCONNECT"
}

sc_regular-drops() {
  broker_start
  cap_start CAP broker "$OUT/regular-drops.pcap"
  local k
  for k in 1 2 3 4 5 6; do
    timeout -s KILL 3 ip netns exec "$NS-c" mosquitto_sub -V mqttv311 -h $B_IP -i regular-1 -k 5 -t 'lab/#' || true
  done
  sleep 1
  cap_stop "$CAP"
  expect regular-drops.pcap broker \
    "a supervised client killed every 3 s and restarted at once: drops at regular intervals" \
    "mosquitto_sub (id regular-1, keepalive 5) run six times under 'timeout -s KILL 3': each run is SIGKILLed 3 s after start (kernel FIN, no DISCONNECT) and the next starts immediately." \
    "regular_drops" \
    "*|client_close|protocol|client|null|SIGKILLed by its supervisor after 3 s"
}

sc_irregular-drops() {
  broker_start
  nat_gateway 3600 REJECT
  cap_start CAP client "$OUT/irregular-drops.pcap"
  bg paho chatty $B_IP irregular-1 30
  local gap
  for gap in 2.5 6 3.5 1.7 5; do
    sleep "$gap"
    gns conntrack -D -p tcp --dport 1883 >/dev/null 2>&1 || true
    log "conntrack state flushed in the gateway"
  done
  sleep 3
  cap_stop "$CAP"
  expect irregular-drops.pcap client \
    "the gateway loses its connection state at random moments; each time the client is reset and reconnects" \
    "Gateway: MASQUERADE, nf_conntrack_tcp_loose=0, conntrack INVALID answered by REJECT --reject-with tcp-reset. A paho-mqtt 3.1.1 client (id irregular-1) publishes every 0.3 s and reconnects by itself (loop_start). After 2.5, 6, 3.5, 1.7 and 5 s the gateway's conntrack entries for port 1883 are deleted (conntrack -D), as a firewall failover would; the client's next PUBLISH is INVALID and answered by the gateway's RST (TTL 64; the broker's packets arrive with TTL 63); paho reconnects about 1 s later." \
    "irregular_drops" \
    "id=irregular-1&last|open_at_end|none|null|null|the last reconnect is still up" \
    "*|reset|network|middlebox|null|gateway lost its conntrack state and reset the next packet"
}

sc_drops-after-messages() {
  broker_start 1883 "max_packet_size 1000"
  cap_start CAP broker "$OUT/drops-after-messages.pcap"
  paho grow $B_IP grower-1 4 >"$WORK/p.log" 2>&1 || true
  sleep 0.5
  cap_stop "$CAP"
  expect drops-after-messages.pcap broker \
    "a client publishing ever larger messages is cut off by the broker after about two dozen messages, reconnects, and again" \
    "Broker: max_packet_size 1000. paho-mqtt v5 client publishes QoS 1 messages of 40, 80, 120 ... bytes, 50 ms apart; when the packet exceeds 1000 bytes the broker drops the connection; the client reconnects and starts over, 4 connections in all." \
    "drops_after_messages" \
    "*|server_disconnect|protocol|server|sdisc|PUBLISH exceeded max_packet_size"
}

sc_many-connections() {
  broker_start
  cap_start CAP broker "$OUT/many-connections.pcap"
  bg mqttc --host $B_IP --id conc-open --count 10 --ka 10 --plan connect,ping:60 >"$WORK/o.log"
  mqttc --host $B_IP --id conc --count 210 --ver mix --ka 10 --stagger 0.005 \
    --plan connect,pub:1:0:20:0,sleep:3,disconnect >"$WORK/c.log"
  sleep 0.5
  cap_stop "$CAP"
  expect many-connections.pcap broker \
    "220 concurrent connections: 210 connect, publish once and DISCONNECT; 10 are still up when the capture ends" \
    "Raw clients: 210 connections (conc-000..209, 3.1.1 and 5.0 alternating) opened 5 ms apart, each publishes one message, waits 3 s and disconnects; 10 more (conc-open-*) keep pinging and are still connected when the capture stops." "" \
    "idprefix=conc-open|open_at_end|none|null|null|still connected at the end" \
    "*|client_disconnect|none|client|cdisc|DISCONNECT after 3 s"
}

sc_clustered-drops() {
  broker_start
  nat_gateway 3600 REJECT
  cap_start CAP client "$OUT/clustered-drops.pcap"
  bg mqttc --host $B_IP --id cluster --count 30 --ka 3 --stagger 0.02 --plan connect,ping:60 >"$WORK/c.log"
  sleep 4
  gns conntrack -F >/dev/null 2>&1 || true
  log "gateway conntrack table flushed"
  sleep 5
  cap_stop "$CAP"
  expect clustered-drops.pcap client \
    "30 clients reset within one keepalive when the gateway loses all its connection state" \
    "Gateway: MASQUERADE, nf_conntrack_tcp_loose=0, conntrack INVALID answered by REJECT --reject-with tcp-reset. 30 raw clients (keepalive 3) connected; 4 s in the gateway's conntrack table was flushed (conntrack -F). Each client's next PINGREQ is answered by a RST from the gateway, all within ~3 s." \
    "clustered_drops" \
    "*|reset|network|middlebox|null|gateway conntrack flush; RST from the gateway"
}

sc_format-pcapng() {
  broker_start
  bg_in b dumpcap -q -i b0 -s 0 -w "$OUT/format-pcapng.pcapng" >"$WORK/dumpcap.log" 2>&1; local cap=$!
  wait_for 5 "dumpcap" grep -q "Capturing on" "$WORK/dumpcap.log"
  bg_in c mosquitto_sub -V mqttv5 -h $B_IP -i ng-sub -k 5 -t 'lab/#'; local sub=$!
  sleep 2.5
  tcns 10 mosquitto_pub -V mqttv5 -h $B_IP -i ng-pub -t lab/x -m hi
  kill -KILL "$sub"
  sleep 1
  cap_stop "$cap"
  chmod 0644 "$OUT/format-pcapng.pcapng"
  expect format-pcapng.pcapng broker \
    "pcapng format (dumpcap): a clean MQTT 5 publisher and a subscriber killed with SIGKILL" \
    "Recorded with dumpcap (pcapng) on the broker's veth. mosquitto_pub (5.0) publishes and disconnects; mosquitto_sub (5.0, keepalive 5) is SIGKILLed 2.5 s in (kernel FIN)." "" \
    "id=ng-pub|client_disconnect|none|client|cdisc|normal DISCONNECT" \
    "id=ng-sub|client_close|protocol|client|null|SIGKILLed"
}

sc_format-snaplen96() {
  broker_start
  cap_start CAP broker "$OUT/format-snaplen96.pcap" -s 96
  mqttc --host $B_IP --id snap-pub --ka 5 --plan connect,pub:10:0.1:600:1,disconnect >"$WORK/c.log"
  sleep 0.5
  cap_stop "$CAP"
  expect format-snaplen96.pcap broker \
    "snaplen 96: PUBLISH packets truncated in the capture; the client ends with DISCONNECT" \
    "tcpdump -s 96 on the broker's veth. A raw 3.1.1 client publishes ten 600-byte QoS 1 messages and disconnects; only the first 96 bytes of every frame are in the capture (about 30 bytes of MQTT)." "" \
    "*|client_disconnect|none|client|null|DISCONNECT (fits in the snaplen)"
}

sc_format-ipv6() {
  broker_start
  cap_start CAP broker "$OUT/format-ipv6.pcap"
  bg_in c mosquitto_sub -V mqttv5 -h $B_IP6 -i v6-sub -k 5 -t 'lab/#'; local sub=$!
  sleep 1
  tcns 10 mosquitto_pub -V mqttv5 -h $B_IP6 -i v6-pub -t lab/x -m hi
  mqttc --host $B_IP6 --id v6-abort --ka 2 --plan connect,ping:2,abort >"$WORK/c.log"
  kill -KILL "$sub"
  sleep 1
  cap_stop "$CAP"
  expect format-ipv6.pcap broker \
    "IPv6 (fd77:1::2 -> fd77:2::2 through the gateway): a clean DISCONNECT, an RST abort, a killed subscriber" \
    "All over IPv6. mosquitto_pub (5.0) publishes and disconnects; the raw client aborts with SO_LINGER 0 (RST); mosquitto_sub (5.0, keepalive 5) is SIGKILLed (kernel FIN)." "" \
    "id=v6-pub|client_disconnect|none|client|cdisc|normal DISCONNECT" \
    "id=v6-abort|reset|network|client|null|SO_LINGER 0" \
    "id=v6-sub|client_close|protocol|client|null|SIGKILLed"
}

sc_format-vlan() {
  broker_start
  local raw=$WORK/untagged.pcap
  cap_start CAP broker "$raw"
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -i vlan-sub -k 5 -t 'lab/#' -C 2; local sub=$!
  sleep 2.5
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -i vlan-pub -t lab/x -m hi --repeat 2 --repeat-delay 0.5
  wait "$sub" || true
  sleep 0.5
  cap_stop "$CAP"
  # The kernel here has no 802.1Q module usable in namespaces, so the tag is added to
  # the real capture with tcprewrite (every frame gets VLAN 100; nothing else changes).
  tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-cfi=0 --enet-vlan-pri=0 \
    --infile="$raw" --outfile="$OUT/format-vlan.pcap"
  expect format-vlan.pcap broker \
    "802.1Q-tagged capture (VLAN 100): a subscriber and a publisher, both end with DISCONNECT" \
    "Real capture on the broker's veth, then every frame tagged with VLAN 100 by tcprewrite --enet-vlan=add --enet-vlan-tag=100 (the kernel cannot create VLAN devices in these namespaces). mosquitto_sub -C 2 and mosquitto_pub --repeat 2 both disconnect normally." "" \
    "*|client_disconnect|none|client|null|DISCONNECT"
}

sc_format-port18830() {
  broker_start 18830
  cap_start CAP broker "$OUT/format-port18830.pcap"
  bg_in c mosquitto_sub -V mqttv311 -h $B_IP -p 18830 -i port-sub -k 5 -t 'lab/#'; local sub=$!
  sleep 2.5
  tcns 10 mosquitto_pub -V mqttv311 -h $B_IP -p 18830 -i port-pub -t lab/x -m hi
  kill -KILL "$sub"
  sleep 1
  cap_stop "$CAP"
  PORTS=18830 expect format-port18830.pcap broker \
    "MQTT on port 18830: a clean publisher and a subscriber killed with SIGKILL" \
    "Broker listens on 18830 only. mosquitto_pub (3.1.1) publishes and disconnects; mosquitto_sub (keepalive 5) is SIGKILLed 2.5 s in (kernel FIN). tshark needs -d tcp.port==18830,mqtt." "" \
    "id=port-pub|client_disconnect|none|client|null|normal DISCONNECT" \
    "id=port-sub|client_close|protocol|client|null|SIGKILLed"
}

sc_format-rotated() {
  broker_start
  local dir=$OUT/format-rotated
  rm -rf "$dir"; mkdir -p "$dir"
  cap_start CAP broker "$dir/part-%Y%m%d-%H%M%S.pcap" -G 3
  bg mqttc --host $B_IP --id rot-long --ka 2 --plan connect,ping:9,disconnect >"$WORK/a.log"
  sleep 1
  bg mqttc --host $B_IP --id rot-abort --ka 2 --plan connect,ping:4,abort >"$WORK/b.log"
  sleep 9.5
  cap_stop "$CAP"
  chmod 0644 "$dir"/*
  expect format-rotated broker \
    "a capture rotated every 3 s (tcpdump -G 3) into a directory of files; connections span several files" \
    "tcpdump -G 3 -w 'format-rotated/part-%Y%m%d-%H%M%S.pcap' on the broker's veth; read the files in name order. rot-long pings (keepalive 2) for 9 s then disconnects; rot-abort pings for 4 s then aborts with SO_LINGER 0. Frame numbers are those of the files merged in name order (mergecap)." "" \
    "id=rot-long|client_disconnect|none|client|null|DISCONNECT after 9 s" \
    "id=rot-abort|reset|network|client|null|SO_LINGER 0"
}

# ---------------------------------------------------------------- driver -----------
main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  modprobe nf_conntrack 2>/dev/null || true
  local start=$SECONDS
  lab_run "$@"
  # the README's table describes the committed captures: a run into another OUT leaves it
  [[ $OUT == "$HERE" ]] && "$PY" "$LABPY/readme_table.py" "$OUT"
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
}

# sourced by make-field-captures.sh for its helpers: then main does not run
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
