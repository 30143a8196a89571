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
NODE_LAB=${NODE_LAB:-/var/cache/dropscope-lab-node}

log() { printf '%s [%s] %s\n' "$(date +%T)" "${SCEN:-main}" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- setup ------------
need_packages() {
  local pkgs=(mosquitto tcpdump tshark iptables openssl gcc libc6-dev python3 python3-paho-mqtt
              iproute2 wireshark-common procps coreutils ethtool)
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# aedes, ws and MQTT.js from lab/node/package.json, installed outside the repo (shared with
# make-tls-captures.sh, which installs the same file there)
node_ready() {
  command -v node >/dev/null && command -v npm >/dev/null || die "node/npm not installed"
  if [[ ! -e $NODE_LAB/node_modules/aedes/package.json ]] || ! cmp -s "$LABPY/node/package.json" "$NODE_LAB/package.json"; then
    mkdir -p "$NODE_LAB"
    cp "$LABPY/node/package.json" "$NODE_LAB/"
    ( cd "$NODE_LAB" && timeout 180 npm install --no-audit --no-fund --loglevel=error ) >&2 || die "npm install failed"
  fi
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

PIDS=()
WORK=""
NS=""
cns() { ip netns exec "$NS-c" "$@"; }
tcns() { local t=$1; shift; timeout -k 2 "$t" ip netns exec "$NS-c" "$@"; }
bns() { ip netns exec "$NS-b" "$@"; }

lab_cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  if [[ -n $NS ]]; then
    for ns in "$NS-c" "$NS-g" "$NS-b"; do
      if [[ -e /run/netns/$ns ]]; then
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
      fi
    done
  fi
  [[ -n $WORK && -z ${KEEP:-} ]] && rm -rf "$WORK"
  [[ -n ${OWN_PKI:-} && -z ${KEEP:-} ]] && rm -rf "$OWN_PKI"
  return 0
}

lab_up() {
  NS=dsw-$(printf '%s' "$1" | md5sum | cut -c1-8)
  WORK=$(mktemp -d "/tmp/dropscope-ws.$1.XXXX")
  chmod 0755 "$WORK"
  trap lab_cleanup EXIT
  trap 'exit 143' TERM INT
  if [[ -z ${PKI:-} ]]; then OWN_PKI=$(mktemp -d /tmp/dropscope-ws-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; make_pki "$PKI"; fi
  SHIM=$PKI/sslkeylog.so
  local ns
  for ns in c g b; do ip netns del "$NS-$ns" 2>/dev/null || true; ip netns add "$NS-$ns"; done
  ip link add c0 netns "$NS-c" type veth peer name g0 netns "$NS-g"
  ip link add g1 netns "$NS-g" type veth peer name b0 netns "$NS-b"
  cns ip addr add $C_IP/24 dev c0
  ip netns exec "$NS-g" ip addr add 10.77.1.1/24 dev g0
  ip netns exec "$NS-g" ip addr add 10.77.2.1/24 dev g1
  bns ip addr add $B_IP/24 dev b0
  for ns in c g b; do ip -n "$NS-$ns" link set lo up; done
  cns ip link set c0 up; ip netns exec "$NS-g" ip link set g0 up; ip netns exec "$NS-g" ip link set g1 up; bns ip link set b0 up
  cns ip route add default via 10.77.1.1
  bns ip route add default via 10.77.2.1
  ip netns exec "$NS-g" sysctl -qw net.ipv4.ip_forward=1
  # keep offloads from merging segments in the captures
  for x in "c c0" "b b0"; do set -- $x; ip netns exec "$NS-$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true; done
}

bg() { "$@" & PIDS+=($!); }
bg_in() { local ns=$1; shift; ip netns exec "$NS-$ns" "$@" & PIDS+=($!); }

wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" 2>/dev/null; do
    ((SECONDS < end)) || die "timed out waiting for $what"
    sleep 0.1
  done
}
listening() { ip netns exec "$NS-b" ss -ltn | grep -q ":$1 "; }

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

cap_start() {
  local var=$1 side=$2 file=$3; shift 3
  local ifc=b0 ns=$NS-b
  [[ $side == client ]] && ifc=c0 ns=$NS-c
  ip netns exec "$ns" tcpdump -Z root -i "$ifc" -s 0 -B 16384 -U --immediate-mode "$@" -w "$file" >"$WORK/$var.tcpdump.log" 2>&1 &
  PIDS+=($!)
  printf -v "$var" '%s' "$!"
  wait_for 5 "tcpdump on $side" grep -q "listening on" "$WORK/$var.tcpdump.log"
}

cap_stop() {
  local pid f
  sleep 0.3
  for pid in "$@"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  for f in "$WORK"/*.tcpdump.log; do
    [[ -e $f ]] || continue
    if grep -Eq '^[1-9][0-9]* packets dropped by (kernel|interface)' "$f"; then
      die "tcpdump lost packets: $(grep dropped "$f" | tr '\n' ' ')"
    fi
  done
}

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
  tcns 60 "$PY" "$LABPY/ws_paho.py" "$1" "$2" $B_IP "$(port_of "$2")" "$3" "$4" \
    --cafile "$PKI/ca.crt" --keylog "$WORK/client-paho$ck.keys" "${@:5}"
}
# mqttjs TRANSPORT ID VER MODE
mqttjs() {
  node_ready
  ck=$((ck + 1))
  tcns 50 env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/mqttjs_ws.js" "$(url_of "$1")" "$2" "$3" "$4" \
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

versions() {
  BROKER_DESC=$([[ $BROKER == mosquitto ]] && echo "mosquitto $(dpkg-query -W -f='${Version}' mosquitto) (websockets listener, libwebsockets $(dpkg-query -W -f='${Version}' libwebsockets-dev 2>/dev/null || echo 'linked in'))" ||
    echo "aedes $(cd "$NODE_LAB" && node -p 'require("aedes/package.json").version') with ws $(cd "$NODE_LAB" && node -p 'require("ws/package.json").version') on Node $(node -v)")
}
# MQTT version per broker: aedes speaks 3.1 and 3.1.1 only (a 5.0 CONNECT gets CONNACK 1)
v5() { [[ $BROKER == mosquitto ]] && echo 5 || echo 4; }

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
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883 (the twin of ws-clean-mosquitto)" || echo "$tr")
  local how="$BROKER_DESC, $what. paho-mqtt 1.6 (MQTT $v, keepalive 2) subscribes, publishes twice, idles 5 s and calls disconnect(); MQTT.js (MQTT $v, keepalive 2) does the same and calls end(); lab/ws_client.py (3.1.1, keepalive 2) pings for 4 s and sends DISCONNECT$([[ $tr != tcp ]] && echo ", then a WebSocket Close 1000")."
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
  bg rawc "$tr" --id raw-silent --ver 4 --ka 3 --plan connect,silent:25 >"$WORK/raw.log"
  sleep 6.5   # paho (keepalive 5) has sent its first PINGREQ
  local pp; pp=$(pgrep -f "ws_paho.py hold $tr .* paho-stalled" | head -1) || die "paho not running"
  kill -STOP "$pp"
  log "SIGSTOP paho at t+6.5s"
  wait_for 30 "the broker to close paho" bash -c "ip netns exec $NS-c ss -tn state established '( dport = :$(port_of "$tr") )' | grep -q . && exit 1 || exit 0"
  sleep 1
  cap_stop "$CAPB" ${CAPC:-}
  kill -CONT "$pp" 2>/dev/null || true
  versions
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883 (the twin of ws-keepalive-stalled-mosquitto)" || echo "$tr")
  local how="$BROKER_DESC, $what. paho-mqtt (MQTT $v, keepalive 5) is SIGSTOPped 6.5 s in, after its first PINGREQ; MQTT.js (3.1.1, keepalive 3) blocks its event loop 0.5 s after CONNACK; lab/ws_client.py (3.1.1, keepalive 3) sends CONNECT and then nothing. The broker closes each for keepalive."
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
    p=$(pgrep -f "$k" | head -1) || die "no process for $k"
    kill -KILL "$p"
  done
  log "SIGKILL clients at t+3s"
  sleep 2
  cap_stop "$CAPB"
  versions
  local what=$([[ $tr == tcp ]] && echo "plain MQTT/TCP on 1883 (the twin of ws-client-killed-mosquitto)" || echo "$tr")
  expect "$n" broker "$tr" "client processes SIGKILLed over $what ($BROKER): the kernel closes their sockets with FIN, no DISCONNECT$([[ $tr != tcp ]] && echo ", no WebSocket Close")" \
    "$BROKER_DESC, $what. paho-mqtt (MQTT $v, keepalive 5), MQTT.js (MQTT $v, keepalive 5; both subscribed to a topic nobody publishes on, so nothing is unread when they die) and lab/ws_client.py (3.1.1, keepalive 10, silent) were SIGKILLed 3 s after start. Broker's veth." "" \
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
  mqttjs "$tr" "twin-$tr" "$v" force >"$WORK/b.log" 2>&1 || die "MQTT.js failed: $(cat "$WORK/b.log")"
  sleep 1
  cap_stop "$CAPB"
  versions
  expect "$n" broker "$tr" "session takeover over $tr ($BROKER, MQTT $v): a second client CONNECTs with the same client id; the broker closes the first" \
    "$BROKER_DESC, $tr. lab/ws_client.py (MQTT $v, keepalive 5) connected as twin-$tr and pings; 3 s later MQTT.js connected with the same id and, 1 s later, closed with end(true). Broker's veth." \
    "session_taken_over" \
    "id=twin-$tr&first|session_taken_over|protocol|server|sdisc|first holder of the id, taken over" \
    "id=twin-$tr&last|$(cat "$WORK/takeover-last-cause" 2>/dev/null || echo client_disconnect)|none|client|wsclose|the new holder (MQTT.js end(true))"
}
sc_ws-takeover-mosquitto() { takeover ws mosquitto; }
sc_ws-takeover-aedes() { takeover ws aedes; }
sc_wss-takeover-mosquitto() { takeover wss mosquitto; }
sc_wss-takeover-aedes() { takeover wss aedes; }

# ---------------------------------------------------------------- driver -----------
all_scenarios() { declare -F | awk '{print $3}' | sed -n 's/^sc_//p'; }

run_one() {
  SCEN=$1
  declare -F "sc_$1" >/dev/null || die "no scenario $1"
  lab_up "$1"
  "sc_$1"
  log "done"
}

main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  node_ready
  mkdir -p "$OUT"
  PKI=$(mktemp -d /tmp/dropscope-ws-pki.XXXX); chmod 0755 "$PKI"; export PKI
  make_pki "$PKI"
  local scen=("$@")
  ((${#scen[@]})) || mapfile -t scen < <(all_scenarios)
  local start=$SECONDS failed=() pids=() names=() i s
  trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; [[ -z ${KEEP:-} ]] && rm -rf "$PKI"' EXIT
  for s in "${scen[@]}"; do
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
    log "starting $s"
    ( timeout -k 5 "$SCENARIO_TIMEOUT" "$HERE/make-ws-captures.sh" --one "$s" ||
      { echo "first attempt failed; retrying"; timeout -k 5 "$SCENARIO_TIMEOUT" "$HERE/make-ws-captures.sh" --one "$s"; }
    ) >"/tmp/dropscope-ws.$s.log" 2>&1 &
    pids+=($!); names+=("$s")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      failed+=("${names[$i]}")
      log "scenario ${names[$i]} FAILED; its log:"; tail -20 "/tmp/dropscope-ws.${names[$i]}.log" >&2
    else
      grep -E '^  ' "/tmp/dropscope-ws.${names[$i]}.log" >&2 || true
      rm -f "/tmp/dropscope-ws.${names[$i]}.log"
    fi
  done
  [[ $OUT == "$HERE/ws" ]] && "$PY" "$LABPY/ws_readme_table.py" "$OUT" "$HERE/README.md"
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

main "$@"
