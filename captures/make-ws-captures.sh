#!/usr/bin/env bash
# The dropscope WebSocket capture lab: real captures of MQTT over WebSocket (ws://) and
# over WebSocket inside TLS (wss://), and of the ways such a connection ends, each with its
# expected verdicts (and, for wss, its TLS key log).
#
#   sudo captures/make-ws-captures.sh              # every scenario (in parallel), a few minutes
#   sudo captures/make-ws-captures.sh NAME...      # only these scenarios
#   captures/make-ws-captures.sh --list            # scenario names
#
# Same lab as make-tls-captures.sh (three namespaces per scenario, 10.77.x addresses,
# faults from signals and broker configuration), with two real brokers:
#   * mosquitto 2.0.11 from Debian (its websockets listeners: libwebsockets is linked in
#     statically), listeners 1883 (plain MQTT), 8080 (ws) and 8443 (wss); and
#   * aedes 1.2 (npm) behind the `ws` library's WebSocketServer on an http server (8080) and
#     an https server (8443), lab/node/aedes_ws.js.
# Clients: paho-mqtt 1.6 (lab/ws_paho.py, transport="websockets"), MQTT.js 5
# (lab/node/mqttjs_ws.js) and lab/ws_client.py (a raw client for what libraries won't do).
# The npm packages (lab/node/package.json) are installed outside the repo, in $NODE_LAB.
# Certificates are made with openssl for every run (a lab CA and the broker's certificate
# for 10.77.2.2); key logs: mosquitto with lab/sslkeylog.so preloaded, aedes from the https
# server's 'keylog' event, paho and the raw client from SSLContext.keylog_filename, MQTT.js
# from its https.Agent's 'keylog' event.  The union is ws/NAME.keys next to ws/NAME.pcap.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE/ws}
PY=/usr/bin/python3          # the Debian python, which has python3-paho-mqtt
C_IP=10.77.1.2 B_IP=10.77.2.2
WS_PORT=8080 WSS_PORT=8443 TCP_PORT=1883
SCENARIO_TIMEOUT=120         # seconds; any single scenario attempt is killed after this
JOBS=${JOBS:-6}

SELF=$HERE/make-ws-captures.sh LAB=ws
# shellcheck source=lab/lab.sh
source "$LABPY/lab.sh"

# ---------------------------------------------------------------- setup ------------
need_packages() {
  install_missing mosquitto tcpdump tshark iptables openssl gcc libc6-dev python3 \
    python3-paho-mqtt iproute2 wireshark-common procps coreutils ethtool
  command -v node >/dev/null && command -v npm >/dev/null || install_missing nodejs npm
}

# make_pki DIR: a lab CA, the broker's certificate (10.77.2.2, broker.lab), the key log shim
make_pki() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    ossl() { openssl "$@" 2>>openssl.log; }
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
      -days 30 -subj "/O=dropscope lab/CN=dropscope lab CA"
    printf 'subjectAltName=DNS:broker.lab,IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' $B_IP >server.ext
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj "/O=dropscope lab/CN=broker.lab"
    ossl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.crt
    chmod 0644 ./*.crt ./*.key
    cc -shared -fPIC -O2 -o sslkeylog.so "$LABPY/sslkeylog.c" -ldl
  ) || die "making certificates / key log shim failed (see $d/openssl.log)"
  [[ -s $d/server.crt && -s $d/sslkeylog.so ]] || die "PKI incomplete in $d"
}

lab_up() {
  lab_net "dsw-$(printf '%s' "$1" | md5sum | cut -c1-8)" "dropscope-ws.$1" no-offload
  if [[ -z ${PKI:-} ]]; then OWN_PKI=$(mktemp -d /tmp/dropscope-ws-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; make_pki "$PKI"; fi
  SHIM=$PKI/sslkeylog.so
}

# pid_of PATTERN: the client process itself (python3 or node), not its timeout/ip/env wrappers
pid_of() { pgrep -f "^(/usr/bin/python3|node) .*$1" | head -1; }

listening() { ip netns exec "$NS-b" ss -ltn | grep -q ":$1 "; }
# no_established PORT: no client connection to PORT is still established (client's side)
no_established() { ! ip netns exec "$NS-c" ss -Htn state established "( dport = :$1 )" | grep -q .; }

# mosquitto_start [extra config lines...]: listeners 1883 (MQTT), 8080 (websockets) and
# 8443 (websockets with TLS).  mosquitto 2.0.11 refuses to start with websockets listeners
# only ("Unable to start any listening sockets": it counts only its MQTT sockets), so the
# MQTT listener is needed anyway.
mosquitto_start() {
  BROKER=mosquitto
  {
    echo "per_listener_settings false"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "log_dest file $WORK/broker.log"
    echo "log_type all"
    echo "log_timestamp_format %H:%M:%S"
    echo "listener $TCP_PORT"
    echo "listener $WS_PORT"
    echo "protocol websockets"
    echo "listener $WSS_PORT"
    echo "protocol websockets"
    echo "cafile $PKI/ca.crt"
    echo "certfile $PKI/server.crt"
    echo "keyfile $PKI/server.key"
    printf '%s\n' "$@"
  } >"$WORK/mosquitto.conf"
  install -m 0666 /dev/null "$WORK/broker.log"
  install -m 0666 /dev/null "$WORK/broker.keys"   # written after mosquitto drops root
  bg_in b env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$WORK/broker.keys" mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1
  BROKER_PID=$!
  wait_for 5 "mosquitto listening" listening $WSS_PORT
  wait_for 5 "mosquitto listening" listening $WS_PORT
  wait_for 5 "mosquitto listening" listening $TCP_PORT
}

# aedes_start [aedes_ws.js options...]: ws on 8080, wss on 8443 (and MQTT/TCP on 1883)
aedes_start() {
  BROKER=aedes
  node_ready
  : >"$WORK/broker.keys"
  bg_in b env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/aedes_ws.js" --ws-port $WS_PORT \
    --wss-port $WSS_PORT --cert "$PKI/server.crt" --key "$PKI/server.key" --keylog "$WORK/broker.keys" \
    --tcp-port $TCP_PORT "$@" >"$WORK/broker.log" 2>&1
  BROKER_PID=$!
  wait_for 15 "aedes listening" listening $WSS_PORT
  wait_for 5 "aedes listening" listening $WS_PORT
}
broker_start() { if [[ $1 == mosquitto ]]; then shift; mosquitto_start "$@"; else shift; aedes_start "$@"; fi; }

# ---------------------------------------------------------------- clients ----------
port_of() { case $1 in ws) echo $WS_PORT ;; wss) echo $WSS_PORT ;; tcp) echo $TCP_PORT ;; esac; }
url_of() { case $1 in ws) echo "ws://$B_IP:$WS_PORT/mqtt" ;; wss) echo "wss://$B_IP:$WSS_PORT/mqtt" ;; tcp) echo "mqtt://$B_IP:$TCP_PORT" ;; esac; }
ck=0
# rawc TRANSPORT ws_client.py-ARGS...  (foreground, bounded)
rawc() {
  local tr=$1; shift
  ck=$((ck + 1))
  tcns "${RAW_TIMEOUT:-60}" "$PY" "$LABPY/ws_client.py" --transport "$tr" --host $B_IP --port "$(port_of "$tr")" \
    --cafile "$PKI/ca.crt" --keylog "$WORK/client-py$ck.keys" "$@"
}
# paho MODE TRANSPORT ID VER [ws_paho.py options]
paho() {
  ck=$((ck + 1))
  tcns 90 "$PY" "$LABPY/ws_paho.py" "$1" "$2" $B_IP "$(port_of "$2")" "$3" "$4" \
    --cafile "$PKI/ca.crt" --keylog "$WORK/client-paho$ck.keys" "${@:5}"
}
# mqttjs TRANSPORT ID VER MODE
mqttjs() {
  node_ready
  ck=$((ck + 1))
  tcns 90 env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/mqttjs_ws.js" "$(url_of "$1")" "$2" "$3" "$4" \
    "$PKI/ca.crt" "$WORK/client-node$ck.keys"
}

# keys NAME...: the union of every key log of this scenario, saved as OUT/NAME.keys
keys() {
  local n
  for n in "$@"; do
    cat "$WORK"/broker.keys "$WORK"/client-*.keys 2>/dev/null | awk 'NF && !seen[$0]++' >"$OUT/$n.keys"
    chmod 0644 "$OUT/$n.keys"
    [[ -s $OUT/$n.keys ]] || die "empty key log for $n"
  done
}

# expect NAME VANTAGE TRANSPORT SCENARIO HOW FINDINGS RULE...
# TRANSPORT ws | wss (key log NAME.keys) | tcp (a plain MQTT twin)
expect() {
  local name=$1 vantage=$2 tr=$3 scenario=$4 how=$5 findings=$6; shift 6
  local args=() r
  for r in "$@"; do args+=(--rule "$r"); done
  case $tr in
    ws) args+=(--ports "" --ws-ports $WS_PORT) ;;
    wss) keys "$name"; args+=(--ports "" --wss-ports $WSS_PORT --keylog "$name.keys") ;;
    tcp) args+=(--ports $TCP_PORT) ;;
  esac
  "$PY" "$LABPY/expect.py" --dir "$OUT" --capture "$name.pcap" --vantage "$vantage" \
    --scenario "$scenario" --how "$how" --findings "$findings" \
    --out "$OUT/$name.expected.json" "${args[@]}"
}

npm_version() { sed -n 's/^[[:space:]]*"version": *"\([^"]*\)".*/\1/p' "$NODE_LAB/node_modules/$1/package.json" | head -1; }
mqttjs_version() { npm_version mqtt; }
versions() {
  BROKER_DESC=$([[ $BROKER == mosquitto ]] && echo "mosquitto $(dpkg-query -W -f='${Version}' mosquitto) from Debian (protocol websockets listeners; libwebsockets is built into the binary)" ||
    echo "aedes $(npm_version aedes) with ws $(npm_version ws) on Node $(node -v)")
}
# MQTT version per broker: aedes speaks 3.1 and 3.1.1 only (a 5.0 CONNECT gets CONNACK 1)
v5() { [[ $BROKER == mosquitto ]] && echo 5 || echo 4; }
vname() { [[ $1 == 5 ]] && echo 5.0 || echo 3.1.1; }

# --------------------------------------------------------------- scenarios ---------
# Naming: TRANSPORT-WHAT-BROKER[-client]; ws-tcp-twin-WHAT are the plain MQTT twins (same
# clients, same ids, mosquitto on 1883) of ws-WHAT-mosquitto.

clean() {  # clean TRANSPORT BROKER [client]
  local tr=$1 br=$2 n=$1-clean-$2 ids
  [[ $tr == tcp ]] && n=ws-tcp-twin-clean
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  [[ ${3:-} == client ]] && cap_start CAPC client "$OUT/$n-client.pcap"
  local v; v=$(v5)
  bg paho clean "$tr" "paho-clean" "$v" >"$WORK/paho.log" 2>&1; local p1=$!
  bg mqttjs "$tr" "mqttjs-clean" "$v" clean >"$WORK/mqttjs.log" 2>&1; local p2=$!
  sleep 0.5
  rawc "$tr" --id raw-clean --ver 4 --ka 2 --plan connect,ping:4,disconnect >"$WORK/raw.log"
  wait "$p1" || die "paho failed: $(cat "$WORK/paho.log")"
  wait "$p2" || die "MQTT.js failed: $(cat "$WORK/mqttjs.log")"
  sleep 0.5
  cap_stop "$CAPB" ${CAPC:-}
  versions
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883, the twin of ws-clean-mosquitto" || echo "$tr")
  local how="$BROKER_DESC, $what. paho-mqtt 1.6 (MQTT $(vname "$v"), keepalive 2) subscribes, publishes twice, idles 5 s and calls disconnect(); MQTT.js (MQTT $(vname "$v"), keepalive 2) does the same and calls end(); lab/ws_client.py (3.1.1, keepalive 2) pings for 4 s and sends DISCONNECT$([[ $tr != tcp ]] && echo ", then a WebSocket Close 1000")."
  local r=("id=paho-clean|client_disconnect|none|client|cdisc|paho disconnect(): DISCONNECT"
           "id=mqttjs-clean|client_disconnect|none|client|cdisc|MQTT.js end(): DISCONNECT"
           "id=raw-clean|client_disconnect|none|client|cdisc|DISCONNECT$([[ $tr != tcp ]] && echo ", then Close 1000")")
  expect "$n" broker "$tr" "clean sessions over $what ($BROKER): paho, MQTT.js and a raw client end with DISCONNECT" "$how Broker's veth." "" "${r[@]}"
  [[ ${3:-} == client ]] && expect "$n-client" client "$tr" "clean sessions over $what ($BROKER), client's view" "$how Client's veth." "" "${r[@]}"
  return 0
}
sc_ws-clean-mosquitto() { clean ws mosquitto client; }
sc_ws-clean-aedes() { clean ws aedes client; }
sc_wss-clean-mosquitto() { clean wss mosquitto client; }
sc_wss-clean-aedes() { clean wss aedes; }
sc_ws-tcp-twin-clean() { clean tcp mosquitto; }

stalled() {  # stalled TRANSPORT BROKER [client]
  local tr=$1 br=$2 n=$1-keepalive-stalled-$2
  [[ $tr == tcp ]] && n=ws-tcp-twin-keepalive-stalled
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  [[ ${3:-} == client ]] && cap_start CAPC client "$OUT/$n-client.pcap"
  local v; v=$(v5)
  bg paho hold "$tr" "paho-stalled" "$v" >"$WORK/paho.log" 2>&1; local p1=$!
  bg mqttjs "$tr" "mqttjs-stalled" 4 stalled >"$WORK/mqttjs.log" 2>&1
  RAW_TIMEOUT=90 bg rawc "$tr" --id raw-silent --ver 4 --ka 3 --plan connect,silent:80 >"$WORK/raw.log"
  sleep 6.5   # paho (keepalive 5) has sent its first PINGREQ
  local pp; pp=$(pid_of "ws_paho.py hold $tr .* paho-stalled"); [[ -n $pp ]] || die "paho not running"
  kill -STOP "$pp"
  log "SIGSTOP paho at t+6.5s"
  wait_for 75 "the broker to close every client" no_established "$(port_of "$tr")"
  sleep 1
  cap_stop "$CAPB" ${CAPC:-}
  kill -CONT "$pp" 2>/dev/null || true
  grep -q '"peer_closed"' "$WORK/raw.log" || die "raw-silent was not closed by the broker: $(cat "$WORK/raw.log")"
  versions
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883, the twin of ws-keepalive-stalled-mosquitto" || echo "$tr")
  local how="$BROKER_DESC, $what. paho-mqtt (MQTT $(vname "$v"), keepalive 5) is SIGSTOPped 6.5 s in, after its first PINGREQ; MQTT.js (3.1.1, keepalive 3) blocks its event loop for 60 s 0.5 s after CONNACK; lab/ws_client.py (3.1.1, keepalive 3) sends CONNECT and then nothing. The broker closes each for keepalive."
  local r=("id=paho-stalled|keepalive_timeout|protocol|server|null|SIGSTOPped after its first PINGREQ"
           "id=mqttjs-stalled|keepalive_timeout|protocol|server|null|event loop blocked after CONNACK"
           "id=raw-silent|keepalive_timeout|protocol|server|null|silent after CONNECT")
  expect "$n" broker "$tr" "clients stop sending over $what ($BROKER): SIGSTOP, a blocked event loop, silence after CONNECT; the broker closes each for keepalive" "$how Broker's veth." "" "${r[@]}"
  [[ ${3:-} == client ]] && expect "$n-client" client "$tr" "clients stop sending over $what ($BROKER); the broker closes each for keepalive (client's view)" "$how Client's veth." "" "${r[@]}"
  return 0
}
sc_ws-keepalive-stalled-mosquitto() { stalled ws mosquitto; }
sc_ws-keepalive-stalled-aedes() { stalled ws aedes client; }
sc_wss-keepalive-stalled-mosquitto() { stalled wss mosquitto; }
sc_wss-keepalive-stalled-aedes() { stalled wss aedes client; }
sc_ws-tcp-twin-keepalive-stalled() { stalled tcp mosquitto; }

killed() {  # killed TRANSPORT BROKER
  local tr=$1 br=$2 n=$1-client-killed-$2
  [[ $tr == tcp ]] && n=ws-tcp-twin-client-killed
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  local v; v=$(v5)
  bg paho hold "$tr" "paho-killed" "$v" >"$WORK/paho.log" 2>&1
  bg mqttjs "$tr" "mqttjs-killed" "$v" hold >"$WORK/mqttjs.log" 2>&1
  bg rawc "$tr" --id raw-killed --ver 4 --ka 10 --plan connect,silent:30 >"$WORK/raw.log"
  sleep 3
  local p k
  for k in "ws_paho.py hold $tr .* paho-killed" "mqttjs_ws.js .* mqttjs-killed" "ws_client.py --transport $tr .*--id raw-killed"; do
    p=$(pid_of "$k"); [[ -n $p ]] || die "no process for $k"
    kill -KILL "$p"
  done
  log "SIGKILL clients at t+3s"
  sleep 2
  cap_stop "$CAPB"
  versions
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883, the twin of ws-client-killed-mosquitto" || echo "$tr")
  expect "$n" broker "$tr" "client processes SIGKILLed over $what ($BROKER): the kernel closes their sockets with FIN, no DISCONNECT$([[ $tr != tcp ]] && echo ", no WebSocket Close")" \
    "$BROKER_DESC, $what. paho-mqtt (MQTT $(vname "$v"), keepalive 5), MQTT.js (MQTT $(vname "$v"), keepalive 5; both subscribed to a topic nobody publishes on, so nothing is unread when they die) and lab/ws_client.py (3.1.1, keepalive 10, silent) were SIGKILLed 3 s after start. Broker's veth." "" \
    "*|client_close|protocol|client|null|SIGKILLed: kernel FIN, no DISCONNECT$([[ $tr != tcp ]] && echo ", no Close frame")"
}
sc_ws-client-killed-mosquitto() { killed ws mosquitto; }
sc_ws-client-killed-aedes() { killed ws aedes; }
sc_wss-client-killed-mosquitto() { killed wss mosquitto; }
sc_wss-client-killed-aedes() { killed wss aedes; }
sc_ws-tcp-twin-client-killed() { killed tcp mosquitto; }

takeover() {  # takeover TRANSPORT BROKER
  local tr=$1 br=$2 n=$1-takeover-$2
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  local v; v=$(v5)
  bg rawc "$tr" --id "twin-$tr" --ver "$v" --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  sleep 3
  mqttjs "$tr" "twin-$tr" "$v" quick >"$WORK/b.log" 2>&1 || die "MQTT.js failed: $(cat "$WORK/b.log")"
  sleep 1
  cap_stop "$CAPB"
  grep -q '"peer_closed"' "$WORK/a.log" || die "the first twin-$tr was not closed by the broker: $(cat "$WORK/a.log")"
  grep -qE 'already connected, closing old connection|clientDisconnect twin' "$WORK/broker.log" || die "the broker logged no takeover"
  versions
  expect "$n" broker "$tr" "session takeover over $tr ($BROKER, MQTT $(vname "$v")): a second client CONNECTs with the same client id; the broker closes the first" \
    "$BROKER_DESC, $tr. lab/ws_client.py (MQTT $(vname "$v"), keepalive 5) connected as twin-$tr and pings; 3 s later MQTT.js connected with the same id, published once and, 1 s later, called end(). Broker's veth." \
    "session_taken_over" \
    "id=twin-$tr&first|session_taken_over|protocol|server|sdisc|first holder of the id, taken over" \
    "id=twin-$tr&last|client_disconnect|none|client|cdisc|the new holder (MQTT.js end()): DISCONNECT"
}
sc_ws-takeover-mosquitto() { takeover ws mosquitto; }
sc_ws-takeover-aedes() { takeover ws aedes; }
sc_wss-takeover-mosquitto() { takeover wss mosquitto; }
sc_wss-takeover-aedes() { takeover wss aedes; }

sigterm() {  # sigterm BROKER [aedes_ws.js --sigterm mode]
  local br=$1 mode=${2:-} n=ws-broker-sigterm-$1 k
  [[ -n $mode ]] && n=$n-$mode
  if [[ $br == aedes ]]; then broker_start aedes ${mode:+--sigterm $mode}; else broker_start mosquitto; fi
  cap_start CAPB broker "$OUT/$n.pcap"
  local v; v=$(v5)
  for k in 0 1 2 3; do
    bg rawc ws --id "sigterm-raw-$k" --ver $((k % 2 ? v : 4)) --ka 10 --plan connect,ping:60 >"$WORK/c$k.log"
    sleep 0.1
  done
  bg paho hold ws "sigterm-paho" "$v" >"$WORK/paho.log" 2>&1
  bg mqttjs ws "sigterm-mqttjs" "$v" hold >"$WORK/mqttjs.log" 2>&1
  sleep 3
  local bp; bp=$(pid_of_broker); [[ -n $bp ]] || die "no broker process"
  kill -TERM "$bp"
  log "broker (pid $bp) got SIGTERM"
  local end=$((SECONDS + 15))
  until no_established $WS_PORT; do
    if ((SECONDS >= end)); then
      log "still running: $(ps -o pid=,stat=,wchan=,cmd= -p "$bp" 2>&1)"; tail -5 "$WORK/broker.log" >&2
      die "connections still open 15 s after SIGTERM"
    fi
    sleep 0.1
  done
  sleep 1
  cap_stop "$CAPB"
  versions
  local what="Node's default: no handler, the process dies of the signal"
  [[ $br == mosquitto ]] && what="mosquitto's own SIGTERM handling"
  [[ $mode == close1001 ]] && what="a SIGTERM handler in lab/node/aedes_ws.js sends every client a WebSocket Close 1001 and exits 1 s later"
  expect "$n" broker ws "broker ($BROKER) gets SIGTERM while 6 WebSocket clients are connected ($what)" \
    "$BROKER_DESC, ws. Four lab/ws_client.py (keepalive 10; sigterm-raw-0..3, even 3.1.1, odd MQTT $(vname "$v")), paho-mqtt and MQTT.js (MQTT $(vname "$v"), keepalive 5) connected; 3 s later the broker got SIGTERM ($what). Broker's veth." \
    "server_shutdown" \
    "*|server_shutdown|protocol|server|null|closed when the broker got SIGTERM"
}
# the broker process itself: ip netns exec and env exec, so $BROKER_PID is mosquitto or node
pid_of_broker() { [[ $(ps -o comm= -p "$BROKER_PID") =~ ^(mosquitto|node)$ ]] && echo "$BROKER_PID"; }
sc_ws-broker-sigterm-mosquitto() { sigterm mosquitto; }
sc_ws-broker-sigterm-aedes() { sigterm aedes; }
sc_ws-broker-sigterm-aedes-close1001() { sigterm aedes close1001; }

close_only() {  # close_only BROKER: WebSocket Close without MQTT DISCONNECT
  local br=$1 n=ws-close-no-disconnect-$1
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  local v; v=$(v5)
  bg rawc ws --id close-1000 --ver 4 --ka 3 --plan connect,ping:4,close:1000 >"$WORK/a.log"; local a=$!
  bg rawc ws --id close-1001 --ver "$v" --ka 3 --plan connect,ping:4,close:1001 >"$WORK/b.log"; local b=$!
  mqttjs ws mqttjs-force "$v" force >"$WORK/m.log" 2>&1 || die "MQTT.js failed: $(cat "$WORK/m.log")"
  wait "$a" "$b" || true
  sleep 1
  cap_stop "$CAPB"
  versions
  expect "$n" broker ws "clients end with a WebSocket Close and no MQTT DISCONNECT ($BROKER): Close 1000, Close 1001; and MQTT.js end(true), which sends neither" \
    "$BROKER_DESC, ws. lab/ws_client.py close-1000 (3.1.1) and close-1001 (MQTT $(vname "$v")), keepalive 3, ping for 4 s and then send a WebSocket Close 1000 / 1001 without DISCONNECT, wait up to 2 s for the broker's Close and close TCP; MQTT.js (MQTT $(vname "$v")) calls end(true) 1 s after CONNACK (force): it sends no DISCONNECT and no Close either, just FIN. Broker's veth." "" \
    "idprefix=close-|client_disconnect|none|client|wsclose|WebSocket Close without DISCONNECT" \
    "id=mqttjs-force|client_close|protocol|client|null|MQTT.js end(true): FIN, no DISCONNECT, no WebSocket Close"
}
sc_ws-close-no-disconnect-mosquitto() { close_only mosquitto; }
sc_ws-close-no-disconnect-aedes() { close_only aedes; }

split() {  # split BROKER: MQTT packets split across WebSocket frames, several in one frame
  local br=$1 n=ws-split-frames-$1
  broker_start "$br"
  cap_start CAPB broker "$OUT/$n.pcap"
  local v; v=$(v5)
  bg rawc ws --id split-messages --ver 4 --ka 2 --plan connect-split:3,multi,ping:3,disconnect-split >"$WORK/a.log"; local a=$!
  bg rawc ws --id split-fragments --ver "$v" --ka 2 --plan connect-frag:3,multi,ping:3,disconnect >"$WORK/b.log"; local b=$!
  wait "$a" "$b" || true
  grep -q '"CONNACK"' "$WORK/a.log" && grep -q '"CONNACK"' "$WORK/b.log" || die "a split CONNECT got no CONNACK: $(cat "$WORK"/a.log "$WORK"/b.log)"
  sleep 0.5
  cap_stop "$CAPB"
  versions
  expect "$n" broker ws "MQTT packets split across WebSocket frames and several MQTT packets in one frame ($BROKER); both clients end with DISCONNECT" \
    "$BROKER_DESC, ws. lab/ws_client.py split-messages (3.1.1, keepalive 2) sends its CONNECT cut into 3 binary WebSocket messages (each frame with FIN set), then SUBSCRIBE + PUBLISH QoS 1 + PUBLISH QoS 0 + PINGREQ in one frame, pings for 3 s, and sends its DISCONNECT cut into two 1-byte frames, then Close 1000; split-fragments (MQTT $(vname "$v")) sends its CONNECT as one fragmented message (binary frame without FIN, continuation, continuation with FIN), the same four packets in one frame, pings, DISCONNECT and Close 1000. Both are legal (MQTT 3.1.1 section 6, MQTT 5.0 section 6: packets need not be aligned with WebSocket frames). Broker's veth." "" \
    "*|client_disconnect|none|client|cdisc|DISCONNECT (split or whole), then Close 1000"
}
sc_ws-split-frames-mosquitto() { split mosquitto; }
sc_ws-split-frames-aedes() { split aedes; }

sc_ws-upgrade-refused-aedes() {
  local n=ws-upgrade-refused-aedes
  broker_start aedes --auth labuser:labpass
  cap_start CAPB broker "$OUT/$n.pcap"
  rawc ws --id refused-noauth --plan connect >"$WORK/r1.log"; sleep 0.2
  rawc ws --id refused-badauth --auth labuser:wrong --plan connect >"$WORK/r2.log"; sleep 0.2
  rawc ws --id refused-badpath --auth labuser:labpass --path /ws --plan connect >"$WORK/r3.log"; sleep 0.2
  paho refused ws paho-refused 4 --path /nope >"$WORK/p.log" 2>&1 || die "paho: $(cat "$WORK/p.log")"; sleep 0.2
  mqttjs ws mqttjs-refused 4 refused >"$WORK/m.log" 2>&1 || true; sleep 0.2
  rawc ws --id authed --auth labuser:labpass --ka 5 --plan connect,disconnect >"$WORK/ok.log"
  sleep 0.5
  cap_stop "$CAPB"
  versions
  expect "$n" broker ws "WebSocket upgrade refused by the HTTP server in front of aedes: 401 (no Authorization), 403 (wrong password), 404 (wrong path); a control with the right credentials" \
    "$BROKER_DESC, ws. lab/node/aedes_ws.js --auth labuser:labpass --path /mqtt answers an upgrade to any other path with 404 and one without Authorization: Basic with 401 (WWW-Authenticate), with wrong credentials 403, then closes (Connection: close). lab/ws_client.py without credentials (401), with a wrong password (403), to /ws (404); paho-mqtt to /nope (404); MQTT.js without credentials (401); a control lab/ws_client.py with labuser:labpass connects and disconnects. No CONNECT is ever sent on a refused connection. Broker's veth." "" \
    "id=authed|client_disconnect|none|client|null|control: right credentials" \
    "noid|connect_refused|protocol|server|http|upgrade refused with an HTTP error"
}

sc_ws-upgrade-refused-mosquitto() {
  local n=ws-upgrade-refused-mosquitto
  broker_start mosquitto
  cap_start CAPB broker "$OUT/$n.pcap"
  rawc ws --id refused-subprotocol --subprotocol foo --plan connect >"$WORK/r1.log"; sleep 0.2
  rawc ws --id refused-subprotocol2 --subprotocol mqttv5 --plan connect >"$WORK/r2.log"; sleep 0.2
  rawc ws --id wrong-path-accepted --path /anything --ka 5 --plan connect,disconnect >"$WORK/ok.log"
  sleep 0.5
  cap_stop "$CAPB"
  grep -q peer_closed_during_upgrade "$WORK/r1.log" || die "mosquitto answered the upgrade with subprotocol foo: $(cat "$WORK/r1.log")"
  versions
  expect "$n" broker ws "mosquitto refuses a WebSocket upgrade for an unknown subprotocol by closing TCP without any HTTP answer; the path is not checked" \
    "$BROKER_DESC, ws. lab/ws_client.py asks for Sec-WebSocket-Protocol foo and then mqttv5 (mosquitto's libwebsockets knows only mqtt and mqttv3.1): the broker sends no HTTP response at all, just FIN. A third client upgrades on path /anything (mosquitto ignores the path), connects and disconnects. Broker's veth." "" \
    "id=wrong-path-accepted|client_disconnect|none|client|null|the path is not checked by mosquitto" \
    "noid|connect_refused|protocol|server|http|unknown subprotocol: FIN, no HTTP answer"
}

sc_ws-ping-unanswered-aedes() {
  local n=ws-ping-unanswered-aedes
  broker_start aedes --heartbeat 2000
  cap_start CAPB broker "$OUT/$n.pcap"
  bg rawc ws --id no-pong --no-pong --ka 60 --plan connect,silent:15 >"$WORK/a.log"
  bg rawc ws --id pong --ka 60 --plan connect,silent:7,disconnect >"$WORK/b.log"; local b=$!
  wait "$b" || true
  wait_for 15 "aedes to terminate no-pong" grep -q '"peer_closed"' "$WORK/a.log"
  sleep 0.5
  cap_stop "$CAPB"
  versions
  expect "$n" broker ws "WebSocket pings unanswered: the server's heartbeat (ws ping every 2 s) terminates a client that sends no pong; MQTT keepalive 60 s plays no part" \
    "$BROKER_DESC, ws. lab/node/aedes_ws.js --heartbeat 2000: the ws README's heartbeat, a WebSocket ping to every client every 2 s and ws.terminate() (socket destroyed, no Close) for a client that has not answered the previous ping. lab/ws_client.py no-pong (3.1.1, keepalive 60) connects and then ignores pings; pong (keepalive 60) answers them and disconnects after 7 s. Broker's veth." "" \
    "id=pong|client_disconnect|none|client|null|answers every WebSocket ping" \
    "id=no-pong|keepalive_timeout|protocol|server|null|no pong to the server's WebSocket ping: the heartbeat terminates the connection"
}

sc_ws-mqtt5-refused-aedes() {
  local n=ws-mqtt5-refused-aedes
  broker_start aedes
  cap_start CAPB broker "$OUT/$n.pcap"
  paho clean ws paho-v5 5 >"$WORK/p.log" 2>&1 || true
  mqttjs ws mqttjs-v5 5 refused >"$WORK/m.log" 2>&1 || true
  rawc ws --id raw-v5 --ver 5 --ka 5 --plan connect,disconnect >"$WORK/r.log"
  sleep 0.5
  cap_stop "$CAPB"
  versions
  expect "$n" broker ws "MQTT 5.0 clients against aedes (MQTT 3.1/3.1.1 only): CONNACK 1 (unacceptable protocol version) over WebSocket" \
    "$BROKER_DESC, ws. paho-mqtt, MQTT.js and lab/ws_client.py send an MQTT 5.0 CONNECT over ws; aedes answers CONNACK with return code 1 (a 3.1.1-style CONNACK) and closes. Broker's veth." "" \
    "*|connect_refused|protocol|server|connack|MQTT 5.0 CONNECT refused by aedes"
}

# ---------------------------------------------------------------- driver -----------
main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  node_ready
  mkdir -p "$OUT"
  # one PKI for every scenario (exported), removed when the driver exits
  OWN_PKI=$(mktemp -d /tmp/dropscope-ws-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; export PKI
  make_pki "$PKI"
  local start=$SECONDS
  lab_run "$@"
  [[ $OUT == "$HERE/ws" ]] && "$PY" "$LABPY/ws_readme_table.py" "$OUT" "$HERE/README.md"
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
}

main "$@"
