#!/usr/bin/env bash
# The dropscope TLS capture lab: real captures of MQTT over TLS and of the ways such a
# connection ends, each with its TLS key log and its expected verdicts.
#
#   sudo captures/make-tls-captures.sh              # every scenario (in parallel), a few minutes
#   sudo captures/make-tls-captures.sh NAME...      # only these scenarios
#   sudo captures/make-tls-captures.sh --list       # scenario names
#
# Same lab as make-captures.sh (three namespaces per scenario, 10.77.x addresses, faults
# from the gateway, signals and broker configuration), with a mosquitto TLS listener.
# The certificates are made here with openssl for every run (a lab CA, the broker's
# certificate for 10.77.2.2 / broker.lab, the same key in a certificate that expired in
# 2021, a client certificate, and a CA nobody trusts).  The TLS secrets come from two
# sides: mosquitto, mosquitto_pub and mosquitto_sub run with lab/sslkeylog.so preloaded
# (OpenSSL's keylog callback, since OpenSSL has no SSLKEYLOGFILE of its own), and the
# Python clients set SSLContext.keylog_filename.  Their union is saved as tls/NAME.keys,
# next to tls/NAME.pcap; lab/expect.py decrypts with it (tshark -o tls.keylog_file:...)
# and writes tls/NAME.expected.json.  The lab's helpers and driver are in lab/lab.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE/tls}
PY=/usr/bin/python3
C_IP=10.77.1.2 B_IP=10.77.2.2
SCENARIO_TIMEOUT=120
JOBS=${JOBS:-12}

SELF=$HERE/make-tls-captures.sh LAB=tls
# shellcheck source=lab/lab.sh
source "$LABPY/lab.sh"

# ---------------------------------------------------------------- setup ------------
need_packages() {
  install_missing mosquitto mosquitto-clients tcpdump tshark iptables conntrack openssl gcc \
    libc6-dev python3 python3-paho-mqtt iproute2 wireshark-common procps coreutils
  # the MQTT.js scenario
  command -v node >/dev/null && command -v npm >/dev/null || install_missing nodejs npm
}

# make_pki DIR: certificates (openssl, EC P-256) and the key log shim, shared by all scenarios
make_pki() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    ossl() { openssl "$@" 2>>openssl.log; }
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
      -days 30 -subj "/O=dropscope lab/CN=dropscope lab CA"
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key -out other-ca.crt \
      -days 30 -subj "/O=somebody else/CN=a CA the clients do not trust"
    printf 'subjectAltName=DNS:broker.lab,IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' $B_IP >server.ext
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj "/O=dropscope lab/CN=broker.lab"
    ossl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.crt
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr \
      -subj "/O=dropscope lab/CN=lab-client"
    ossl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out client.crt
    # the broker's key in a certificate valid only in 2020: openssl ca takes explicit dates
    mkdir -p ca-db; : >ca-db/index.txt; echo 1000 >ca-db/serial
    cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = lab
[lab]
dir = $d/ca-db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $d/ca.crt
private_key = $d/ca.key
default_md = sha256
policy = any
[any]
organizationName = optional
commonName = supplied
[ext]
subjectAltName = DNS:broker.lab,IP:$B_IP
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
CNF
    ossl ca -batch -config ca-db/ca.cnf -extensions ext -in server.csr -out expired.crt \
      -startdate 20200101000000Z -enddate 20210101000000Z -notext
    # OpenSSL configs that cap the version of a process (the broker or a mosquitto client)
    for v in 1.2 1.3; do
      printf 'openssl_conf = lab\n[lab]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nMaxProtocol = TLSv%s\n' "$v" >"max-tls$v.cnf"
    done
    chmod 0644 ./*.crt ./*.key ./*.cnf
    cc -shared -fPIC -O2 -o sslkeylog.so "$LABPY/sslkeylog.c" -ldl
  ) || die "making certificates / key log shim failed (see $d/openssl.log)"
  [[ -s $d/expired.crt && -s $d/sslkeylog.so ]] || die "PKI incomplete in $d"
}

lab_up() {
  # namespace names: dst-<hash> (scenario names are too long for some tools' 15-char limits)
  # TLS segments are bigger than plain MQTT: offloads would merge them in the captures
  lab_net "dst-$(printf '%s' "$1" | md5sum | cut -c1-8)" "dropscope-tls.$1" no-offload
  if [[ -z ${PKI:-} ]]; then OWN_PKI=$(mktemp -d /tmp/dropscope-tls-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; make_pki "$PKI"; fi
  SHIM=$PKI/sslkeylog.so
}

# broker_start PORT [extra config lines...]; BROKER_TLS_MAX=1.2 caps the broker at TLS 1.2
# (an OpenSSL config, MaxProtocol); CERT=expired.crt serves the expired certificate
broker_start() {
  local port=$1; shift
  {
    echo "listener $port"
    echo "cafile $PKI/ca.crt"
    echo "certfile $PKI/${CERT:-server.crt}"
    echo "keyfile $PKI/server.key"
    echo "allow_anonymous ${ANON:-true}"
    echo "persistence false"
    echo "log_dest file $WORK/mosquitto.log"
    echo "log_type all"
    echo "log_timestamp_format %H:%M:%S"
    printf '%s\n' "$@"
  } >"$WORK/mosquitto.conf"
  install -m 0666 /dev/null "$WORK/mosquitto.log"
  install -m 0666 /dev/null "$WORK/broker.keys"   # written after mosquitto drops root
  local env=(env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$WORK/broker.keys")
  [[ -n ${BROKER_TLS_MAX:-} ]] && env+=(OPENSSL_CONF="$PKI/max-tls$BROKER_TLS_MAX.cnf")
  bg_in b "${env[@]}" mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1
  BROKER_PID=$!
  wait_for 5 "broker listening" bash -c "ip netns exec $NS-b ss -ltn | grep -q ':$port '"
}

# mosquitto clients with the key log shim: mpub/msub [timeout] ARGS... (TLS args added)
# CLIENT_TLS_MAX=1.2 caps them at TLS 1.2 (OpenSSL config, like the broker's)
ck=0
mosq_env() {
  ck=$((ck + 1))
  MOSQ_ENV=(env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$WORK/client-mosq$ck.keys")
  [[ -n ${CLIENT_TLS_MAX:-} ]] && MOSQ_ENV+=(OPENSSL_CONF="$PKI/max-tls$CLIENT_TLS_MAX.cnf")
  return 0
}
TLSARGS() { echo "-h $B_IP -p ${TLSPORT:-8883} --cafile $PKI/${CAFILE:-ca.crt}"; }
mpub() { local t=$1; shift; mosq_env; tcns "$t" "${MOSQ_ENV[@]}" mosquitto_pub $(TLSARGS) "$@"; }
msub_bg() { mosq_env; bg_in c "${MOSQ_ENV[@]}" mosquitto_sub $(TLSARGS) "$@"; }
# the raw TLS client and paho over TLS, each with its own key log
tlsc() { ck=$((ck + 1)); tcns "${TLSC_TIMEOUT:-90}" "$PY" "$LABPY/tlsc.py" --host $B_IP --port "${TLSPORT:-8883}" \
           --cafile "$PKI/${CAFILE:-ca.crt}" --keylog "$WORK/client-py$ck.keys" "$@"; }
paho_tls() { ck=$((ck + 1)); tcns 60 "$PY" "$LABPY/paho_tls.py" clean $B_IP "$1" "$PKI/ca.crt" "$WORK/client-paho$ck.keys" "${@:2}"; }

# keys NAME...: the union of every key log of this scenario, saved as OUT/NAME.keys
keys() {
  local n
  for n in "$@"; do
    cat "$WORK"/broker.keys "$WORK"/client-*.keys 2>/dev/null | awk 'NF && !seen[$0]++' >"$OUT/$n.keys"
    chmod 0644 "$OUT/$n.keys"
    [[ -s $OUT/$n.keys ]] || die "empty key log for $n"
  done
}

# expect NAME VANTAGE SCENARIO HOW FINDINGS RULE...  (TLS ports from $TLSPORT, default 8883)
expect() {
  local name=$1 vantage=$2 scenario=$3 how=$4 findings=$5; shift 5
  local args=() r
  for r in "$@"; do args+=(--rule "$r"); done
  "$PY" "$LABPY/expect.py" --dir "$OUT" --capture "$name.pcap" --vantage "$vantage" \
    --scenario "$scenario" --how "$how" --findings "$findings" --ports "" \
    --tls-ports "${TLSPORT:-8883}" --keylog "$name.keys" \
    --out "$OUT/$name.expected.json" "${args[@]}"
}

# --------------------------------------------------------------- scenarios ---------
# TLS 1.3 is what mosquitto 2.0 and OpenSSL 3 agree on by default; the 1.2 variants cap
# the broker with an OpenSSL config (MaxProtocol = TLSv1.2).

clean() {  # clean 1.2|1.3
  local v=$1 n=tls${1/./}-clean
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  cap_start CAPC client "$OUT/$n-client.pcap"
  msub_bg -V mqttv311 -i "sub-$n" -k 5 -q 1 -t 'lab/#' -C 3; local sub=$!
  bg paho_tls "paho-$n" 5 >"$WORK/paho.log" 2>&1; local paho=$!
  sleep 1.5
  mpub 15 -V mqttv5 -i "pub-$n" -q 1 -t lab/x -m hello --repeat 3 --repeat-delay 1 >"$WORK/pub.log" 2>&1
  wait "$sub" || true; wait "$paho" || true
  sleep 0.5
  cap_stop "$CAPB" "$CAPC"
  keys "$n" "$n-client"
  local how="TLS $v (mosquitto 8883, lab CA). mosquitto_sub (3.1.1, keepalive 5, -C 3) exits after 3 messages; mosquitto_pub (5.0) publishes 3 times 1 s apart; paho-mqtt (5.0, keepalive 2, so PINGREQs flow) subscribes, publishes twice, idles 5 s and disconnects. All three send DISCONNECT."
  local r=("id=sub-$n|client_disconnect|none|client|null|mosquitto_sub -C 3: DISCONNECT"
           "id=pub-$n|client_disconnect|none|client|cdisc|mosquitto_pub: DISCONNECT 0x00"
           "id=paho-$n|client_disconnect|none|client|cdisc|paho disconnect(): DISCONNECT 0x00")
  expect "$n" broker "clean TLS $v sessions: mosquitto_sub, mosquitto_pub and paho end with DISCONNECT" "$how Broker's veth." "" "${r[@]}"
  expect "$n-client" client "clean TLS $v sessions (client's view): mosquitto_sub, mosquitto_pub and paho end with DISCONNECT" "$how Client's veth." "" "${r[@]}"
}
sc_tls13-clean() { clean 1.3; }
sc_tls12-clean() { clean 1.2; }

stalled() {  # stalled 1.2|1.3
  local v=$1 n=tls${1/./}-keepalive-stalled
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  [[ $v == 1.3 ]] && cap_start CAPC client "$OUT/$n-client.pcap"
  msub_bg -V mqttv311 -i "stalled-sub-$n" -k 5 -t 'lab/#'; local s1=$!
  bg tlsc --id "silent-$n" --ver 5 --ka 3 --plan connect,silent:25 >"$WORK/silent.log"
  sleep 6.5   # after mosquitto_sub's first PINGREQ (5 s)
  kill -STOP "$s1"
  log "SIGSTOP mosquitto_sub at t+6.5s"
  sleep 14
  cap_stop "$CAPB" ${CAPC:-}
  local how="TLS $v. mosquitto_sub (3.1.1, keepalive 5) is SIGSTOPped 6.5 s in, after its first PINGREQ; the raw TLS client lab/tlsc.py (5.0, keepalive 3) sends CONNECT and then nothing. mosquitto closes each for keepalive ('exceeded timeout' in its log)."
  local r=("id=stalled-sub-$n|keepalive_timeout|protocol|server|null|SIGSTOPped after its first PINGREQ"
           "id=silent-$n|keepalive_timeout|protocol|server|sdisc|silent after CONNECT")
  grep -q "exceeded timeout" "$WORK/mosquitto.log" || die "mosquitto did not log a keepalive timeout"
  keys "$n"
  expect "$n" broker "TLS $v clients stop sending (SIGSTOP, silence after CONNECT); the broker closes each for keepalive" "$how Broker's veth." "" "${r[@]}"
  if [[ $v == 1.3 ]]; then
    keys "$n-client"
    expect "$n-client" client "TLS $v clients stop sending; the broker closes each for keepalive (client's view)" "$how Client's veth." "" "${r[@]}"
  fi
}
sc_tls13-keepalive-stalled() { stalled 1.3; }
sc_tls12-keepalive-stalled() { stalled 1.2; }

unknown_ca() {
  local v=$1 n=tls${1/./}-unknown-ca
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  CAFILE=other-ca.crt mpub 10 -V mqttv311 -i "untrusting-$n" -t lab/x -m hi >"$WORK/pub.log" 2>&1 || true
  sleep 0.5
  CAFILE=other-ca.crt tlsc --id "untrusting-py-$n" --ka 5 --plan connect,disconnect >"$WORK/py.log" || true
  sleep 0.5
  cap_stop "$CAPB"
  grep -q tls_handshake_failed "$WORK/py.log" || die "python client's handshake did not fail"
  keys "$n"
  expect "$n" broker "TLS $v handshake fails: the clients do not trust the broker's CA (alert unknown_ca from the client)" \
    "TLS $v. mosquitto_pub and lab/tlsc.py are given a CA file with a different CA than the one that signed the broker's certificate; each rejects the certificate and sends a fatal alert. The broker logs the alert it received. Broker's veth." "" \
    "*|tls_handshake_failed|protocol|client|alert|client rejects the broker's certificate (unknown CA)"
}
sc_tls13-unknown-ca() { unknown_ca 1.3; }
sc_tls12-unknown-ca() { unknown_ca 1.2; }

wrong_password() {
  local v=$1 n=tls${1/./}-wrong-password
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  mosquitto_passwd -b -c "$WORK/passwd" labuser labpass
  chmod 0644 "$WORK/passwd"
  ANON=false broker_start 8883 "password_file $WORK/passwd"
  cap_start CAPB broker "$OUT/$n.pcap"
  mpub 10 -V mqttv311 -i "badpass-v311-$n" -u labuser -P wrong -t lab/x -m hi >"$WORK/p1.log" 2>&1 || true; sleep 0.3
  mpub 10 -V mqttv5 -i "badpass-v5-$n" -u labuser -P wrong -t lab/x -m hi >"$WORK/p2.log" 2>&1 || true; sleep 0.3
  mpub 10 -V mqttv311 -i "good-$n" -u labuser -P labpass -t lab/x -m hi >"$WORK/p3.log" 2>&1 || true
  sleep 0.5
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS $v: wrong password refused with CONNACK inside TLS (3.1.1 and 5.0), and a control with the right one" \
    "TLS $v. Broker with password_file (labuser:labpass) and allow_anonymous false. mosquitto_pub with a wrong password in 3.1.1 and in 5.0, then a control with the right password. The refusal is only visible decrypted. Broker's veth." "" \
    "id=good-$n|client_disconnect|none|client|null|control: right password" \
    "*|connect_refused|protocol|server|connack|wrong password"
}
sc_tls13-wrong-password() { wrong_password 1.3; }
sc_tls12-wrong-password() { wrong_password 1.2; }

sc_tls13-keepalive-lost-pingreq() {
  local n=tls13-keepalive-lost-pingreq
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  cap_start CAPC client "$OUT/$n-client.pcap"
  bg tlsc --id lostping-v311 --ver 4 --ka 3 --plan connect,ping:30 >"$WORK/c1.log"
  bg tlsc --id lostping-v5 --ver 5 --ka 3 --plan connect,ping:30 >"$WORK/c2.log"
  sleep 4
  gns iptables -I FORWARD -s $C_IP -d $B_IP -j DROP
  log "one-way blackhole client->broker from t+4s"
  sleep 11
  cap_stop "$CAPB" "$CAPC"
  grep -q "exceeded timeout" "$WORK/mosquitto.log" || die "mosquitto did not log a keepalive timeout"
  keys "$n" "$n-client"
  local how="TLS 1.3. Two raw TLS clients (lab/tlsc.py, 3.1.1 and 5.0, keepalive 3) ping; 4 s in, the gateway drops everything from client to broker (iptables -I FORWARD -s $C_IP -d $B_IP -j DROP). The next PINGREQ (a TLS record) is sent and retransmitted but never delivered; each client gives up after one keepalive without PINGRESP (its close_notify and FIN stay stuck behind the unacknowledged record); mosquitto closes for keepalive ('exceeded timeout' in its log) and its close_notify and FIN are never ACKed."
  expect "$n" broker "TLS 1.3 PINGREQs lost on a one-way blackhole (client->broker); broker's view" "$how Broker's veth (the lost PINGREQs are not here)." "" \
    "*|keepalive_timeout|network|server|sdisc|client's PINGREQ lost in the gateway; broker's close never ACKed"
  expect "$n-client" client "TLS 1.3 PINGREQs lost on a one-way blackhole (client->broker); client's view" "$how Client's veth (PINGREQ records and their retransmissions are here)." "" \
    "*|keepalive_timeout|network|server|sdisc|PINGREQ sent and retransmitted, never ACKed; broker closed for keepalive"
}

sc_tls13-takeover() {
  local n=tls13-takeover
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  bg tlsc --id twin-tls --ver 5 --ka 5 --plan connect,ping:20 >"$WORK/a.log"
  sleep 3
  mpub 10 -V mqttv5 -i twin-tls -t lab/x -m hi >"$WORK/b.log" 2>&1
  sleep 2
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS 1.3 session takeover (5.0): a second client CONNECTs with the same client id; the broker closes the first" \
    "TLS 1.3. Raw TLS client A (lab/tlsc.py, 5.0, keepalive 5) connected as twin-tls; 3 s later mosquitto_pub (5.0) connected with the same id, published and disconnected. The broker closed A right after B's CONNECT. Broker's veth." \
    "session_taken_over" \
    "id=twin-tls&first|session_taken_over|protocol|server|sdisc|first holder of the id, taken over" \
    "id=twin-tls&last|client_disconnect|none|client|cdisc|the new holder (mosquitto_pub) disconnects normally"
}

nat_gateway() {  # nat_gateway CONNTRACK_TIMEOUT INVALID_ACTION(DROP|REJECT), as in make-captures.sh
  gns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established="$1" net.netfilter.nf_conntrack_tcp_loose=0
  gns iptables -t nat -A POSTROUTING -o g1 -j MASQUERADE
  local act=(-j DROP)
  [[ $2 == REJECT ]] && act=(-j REJECT --reject-with tcp-reset)
  gns iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID "${act[@]}"
  gns iptables -A INPUT -p tcp -m conntrack --ctstate INVALID -j DROP
}

sc_tls13-nat-idle-expiry() {
  local n=tls13-nat-idle-expiry
  broker_start 8883
  nat_gateway 5 DROP
  cap_start CAPC client "$OUT/$n-client.pcap"
  cap_start CAPB broker "$OUT/$n.pcap"
  bg tlsc --id nat-short --ka 3 --plan connect,ping:60 >"$WORK/s.log"
  bg tlsc --id nat-long --ka 8 --plan connect,ping:60 >"$WORK/l.log"
  wait_for 40 "nat-long to give up" grep -q '"closed"' "$WORK/l.log"
  sleep 4
  cap_stop "$CAPC" "$CAPB"
  keys "$n" "$n-client"
  local how="TLS 1.3. The gateway masquerades (NAT) with nf_conntrack_tcp_timeout_established=5 and nf_conntrack_tcp_loose=0, and drops conntrack INVALID. nat-short (lab/tlsc.py, keepalive 3) keeps its mapping alive; nat-long (keepalive 8) is idle 8 s, its mapping expires at 5 s, so its first PINGREQ record after the gap is INVALID at the gateway and dropped, retransmitted and never ACKed; the client gives up one keepalive later."
  expect "$n-client" client "TLS 1.3 NAT idle expiry: keepalive 8 s behind a NAT with a 5 s TCP timeout dies; keepalive 3 s survives (client side)" \
    "$how Client's veth (before NAT)." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=nat-long|nat_idle_expiry|network|middlebox|null|8 s idle gap > 5 s NAT timeout; first PINGREQ after the gap never ACKed"
  expect "$n" broker "TLS 1.3 NAT idle expiry, broker's view (clients appear as the gateway's address 10.77.2.1)" \
    "$how Broker's veth (after NAT): nat-long's PINGREQ never arrives." "nat_timeout_bracket" \
    "id=nat-short|open_at_end|none|null|null|3 s gaps keep the 5 s mapping alive" \
    "id=nat-long|nat_idle_expiry|network|middlebox|null|the NAT mapping expired during the 8 s idle gap"
}

sc_tls13-middlebox-rst() {
  local n=tls13-middlebox-rst
  broker_start 8883
  cap_start CAPC client "$OUT/$n-client.pcap"
  cap_start CAPB broker "$OUT/$n.pcap"
  bg tlsc --id mbx-rst --ka 3 --plan connect,ping:30 >"$WORK/c.log"
  sleep 4
  gns iptables -I FORWARD -p tcp -s $C_IP -d $B_IP --dport 8883 -j REJECT --reject-with tcp-reset
  log "gateway REJECT tcp-reset from t+4s"
  sleep 11
  cap_stop "$CAPC" "$CAPB"
  keys "$n" "$n-client"
  local how="TLS 1.3. Raw TLS client (lab/tlsc.py, keepalive 3) pings; 4 s in, the gateway rejects client->broker TCP on 8883 with iptables REJECT --reject-with tcp-reset. The next PINGREQ record is answered by a RST forged by the gateway with the broker's address (TTL 64; the broker's own packets reach the client with TTL 63). The broker never sees that RST and closes later for keepalive."
  expect "$n-client" client "TLS 1.3 middlebox RST (gateway REJECT --reject-with tcp-reset), client's view" "$how Client's veth." "" \
    "*|reset|network|middlebox|null|RST sent by the gateway, not the broker"
  expect "$n" broker "TLS 1.3 middlebox RST (gateway REJECT --reject-with tcp-reset), broker's view" "$how Broker's veth: no RST here, the client just goes silent." "" \
    "*|keepalive_timeout|network|server|null|the client's PINGREQ was answered by the gateway's RST and never reached the broker"
}

sc_tls13-broker-sigterm() {
  local n=tls13-broker-sigterm k
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  for k in 0 1 2 3 4 5; do
    bg tlsc --id "sigterm-$k" --ver $((k % 2 ? 5 : 4)) --ka 10 --plan connect,ping:60 >"$WORK/c$k.log"
    sleep 0.1
  done
  sleep 3
  kill -TERM "$BROKER_PID"
  log "broker got SIGTERM"
  sleep 3
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS 1.3: broker killed with SIGTERM while 6 TLS clients (3.1.1 and 5.0 alternating) are connected" \
    "TLS 1.3. Six raw TLS clients (lab/tlsc.py, keepalive 10, sigterm-0..5, even = 3.1.1, odd = 5.0) connected; 3 s later mosquitto got SIGTERM. Every connection is closed by the broker within one short window. Broker's veth." \
    "server_shutdown" \
    "*|server_shutdown|protocol|server|sdisc|closed when mosquitto got SIGTERM"
}

client_killed() {
  local v=$1 n=tls${1/./}-client-killed
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  msub_bg -V mqttv311 -i "killed-v311-$n" -k 5 -t "lab/data/killed-v311" --will-topic lab/will/a --will-payload gone; local s1=$!
  msub_bg -V mqttv5 -i "killed-v5-$n" -k 5 -t "lab/data/killed-v5" --will-topic lab/will/b --will-payload gone; local s2=$!
  sleep 3
  kill -KILL "$s1" "$s2"
  sleep 2
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS $v client processes SIGKILLed: the kernel closes their sockets with a bare FIN (no close_notify, no DISCONNECT)" \
    "TLS $v. Two mosquitto_sub (3.1.1 and 5.0, keepalive 5, each with a will and its own topic so nothing is unread when they die) were SIGKILLed 3 s after start. Broker's veth." "" \
    "*|client_close|protocol|client|null|mosquitto_sub SIGKILLed: FIN with no close_notify and no DISCONNECT"
}
sc_tls13-client-killed() { client_killed 1.3; }
sc_tls12-client-killed() { client_killed 1.2; }

cert_expired() {
  local v=$1 n=tls${1/./}-cert-expired
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  CERT=expired.crt broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  mpub 10 -V mqttv311 -i "expired-pub-$n" -t lab/x -m hi >"$WORK/pub.log" 2>&1 || true
  sleep 0.5
  tlsc --id "expired-py-$n" --ka 5 --plan connect,disconnect >"$WORK/py.log" || true
  sleep 0.5
  cap_stop "$CAPB"
  grep -q tls_handshake_failed "$WORK/py.log" || die "python client's handshake did not fail"
  keys "$n"
  expect "$n" broker "TLS $v handshake fails: the broker's certificate expired (alert certificate_expired from the client)" \
    "TLS $v. The broker serves a certificate from the lab CA valid only from 2020-01-01 to 2021-01-01 (made with openssl ca -startdate/-enddate). mosquitto_pub and lab/tlsc.py verify it, find it expired and send a fatal alert. Broker's veth." "" \
    "*|tls_handshake_failed|protocol|client|alert|client rejects the expired broker certificate"
}
sc_tls13-cert-expired() { cert_expired 1.3; }
sc_tls12-cert-expired() { cert_expired 1.2; }

cert_required() {
  local v=$1 n=tls${1/./}-cert-required
  [[ $v == 1.2 ]] && export BROKER_TLS_MAX=1.2
  broker_start 8883 "require_certificate true"
  cap_start CAPB broker "$OUT/$n.pcap"
  mpub 10 -V mqttv311 -i "nocert-pub-$n" -t lab/x -m hi >"$WORK/pub.log" 2>&1 || true
  sleep 0.5
  tlsc --id "nocert-py-$n" --ka 5 --plan connect,disconnect >"$WORK/py.log" || true
  sleep 0.5
  tlsc --id "withcert-py-$n" --cert "$PKI/client.crt" --key "$PKI/client.key" --ka 5 --plan connect,disconnect >"$WORK/ok.log" || true
  sleep 0.5
  cap_stop "$CAPB"
  keys "$n"
  local what="server alert certificate_required (116)"
  [[ $v == 1.2 ]] && what="server alert handshake_failure (40)"
  expect "$n" broker "TLS $v: client certificate required but not sent ($what); a control with a certificate" \
    "TLS $v. Broker with require_certificate true. mosquitto_pub and lab/tlsc.py connect without a client certificate; the broker rejects the handshake with a fatal alert. In TLS 1.3 the client's side of the handshake is already complete when the server checks its (empty) Certificate, so the client may already have sent its CONNECT, which the broker never reads. A control client with a certificate from the lab CA connects and disconnects. Broker's veth." "" \
    "idprefix=withcert|client_disconnect|none|client|null|control: client certificate sent" \
    "*|tls_handshake_failed|protocol|server|alert|no client certificate"
}
sc_tls13-cert-required() { cert_required 1.3; }
sc_tls12-cert-required() { cert_required 1.2; }

sc_tls-version-mismatch() {
  local n=tls-version-mismatch
  broker_start 8883 "tls_version tlsv1.3"
  cap_start CAPB broker "$OUT/$n.pcap"
  CLIENT_TLS_MAX=1.2 mpub 10 -V mqttv311 -i "old-tls-pub" -t lab/x -m hi >"$WORK/pub.log" 2>&1 || true
  sleep 0.5
  tlsc --id old-tls-py --tls-max 1.2 --ka 5 --plan connect,disconnect >"$WORK/py.log" || true
  sleep 0.5
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS version mismatch: broker accepts only TLS 1.3 (tls_version tlsv1.3), clients offer at most TLS 1.2" \
    "Broker listener with tls_version tlsv1.3. mosquitto_pub capped at TLS 1.2 (OpenSSL config MaxProtocol = TLSv1.2) and lab/tlsc.py with maximum_version TLS 1.2 send a ClientHello for TLS 1.2; the broker answers with a fatal alert. Broker's veth." "" \
    "*|tls_handshake_failed|protocol|server|alert|no common TLS version"
}

sc_tls13-port443() {
  local n=tls13-port443
  export TLSPORT=443
  bns sysctl -qw net.ipv4.ip_unprivileged_port_start=443   # mosquitto binds after dropping root
  broker_start 443
  cap_start CAPB broker "$OUT/$n.pcap"
  bg tlsc --id ping443 --ver 4 --ka 2 --plan connect,ping:5,disconnect >"$WORK/a.log"
  sleep 1
  mpub 10 -V mqttv5 -i pub443 -t lab/x -m hello >"$WORK/pub.log" 2>&1
  wait "${PIDS[-1]}" || true
  sleep 0.5
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "MQTT over TLS 1.3 on port 443: a client pinging (keepalive 2) and a publisher, both end with DISCONNECT" \
    "TLS 1.3. The broker's TLS listener is on port 443 (as AWS IoT offers). lab/tlsc.py (3.1.1, keepalive 2) pings for 5 s and disconnects; mosquitto_pub (5.0) publishes once and disconnects. tshark needs -d tls.port==443,mqtt to decode the decrypted payload as MQTT. Broker's veth." "" \
    "*|client_disconnect|none|client|cdisc|DISCONNECT"
}

sc_tls13-disconnect-rst() {
  local n=tls13-disconnect-rst
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  tlsc --id disc-rst-v311 --ver 4 --ka 2 --plan connect,ping:3,disconnect-abort >"$WORK/a.log"
  tlsc --id disc-rst-v5 --ver 5 --ka 2 --plan connect,ping:3,disconnect-abort >"$WORK/b.log"
  sleep 1
  cap_stop "$CAPB"
  keys "$n"
  expect "$n" broker "TLS 1.3 clients send DISCONNECT and then reset the connection (SO_LINGER 0): still a clean disconnect" \
    "TLS 1.3. lab/tlsc.py (3.1.1 and 5.0, keepalive 2) pings for 3 s, sends DISCONNECT and closes at once with SO_LINGER {1,0}: no close_notify from the client, and a RST within a millisecond of the DISCONNECT record (mosquitto is quick enough to answer the DISCONNECT with its close_notify and FIN first; the client's RST follows). The DISCONNECT says the client meant to leave. Broker's veth." "" \
    "*|client_disconnect|none|client|cdisc|DISCONNECT, then RST (SO_LINGER 0)"
}

# MQTT.js (Node) over TLS, key log from the socket's 'keylog' event.  The npm package is
# installed outside the repo by node_ready (lab/lab.sh); without node/npm or the registry
# this scenario fails alone.
sc_tls13-mqttjs() {
  local n=tls13-mqttjs
  node_ready
  broker_start 8883
  cap_start CAPB broker "$OUT/$n.pcap"
  ck=$((ck + 1))
  bg tcns 45 env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/mqttjs_tls.js" $B_IP mqttjs-clean "$PKI/ca.crt" "$WORK/client-node$ck.keys" 5 clean >"$WORK/n1.log" 2>&1; local p1=$!
  ck=$((ck + 1))
  bg tcns 45 env NODE_PATH="$NODE_LAB/node_modules" node "$LABPY/node/mqttjs_tls.js" $B_IP mqttjs-stalled "$PKI/ca.crt" "$WORK/client-node$ck.keys" 4 stalled >"$WORK/n2.log" 2>&1; local p2=$!
  wait "$p1" || die "MQTT.js clean client failed: $(cat "$WORK/n1.log")"
  sleep 8
  cap_stop "$CAPB"
  kill -KILL "$p2" 2>/dev/null || true
  keys "$n"
  expect "$n" broker "MQTT.js over TLS 1.3: a clean 5.0 session ending with DISCONNECT, and a 3.1.1 client whose event loop blocks (keepalive timeout)" \
    "TLS 1.3. MQTT.js $(cd "$NODE_LAB" && node -p 'require("mqtt/package.json").version') on Node $(node -v), key log from the TLSSocket 'keylog' event. mqttjs-clean (5.0, keepalive 2) subscribes, publishes twice, idles 5 s and calls end(); mqttjs-stalled (3.1.1, keepalive 3) connects and then blocks its event loop for 20 s, so it neither reads nor sends PINGREQ; mosquitto closes it for keepalive. Broker's veth." "" \
    "id=mqttjs-clean|client_disconnect|none|client|cdisc|client.end(): DISCONNECT" \
    "id=mqttjs-stalled|keepalive_timeout|protocol|server|null|event loop blocked after CONNACK"
}

# ---------------------------------------------------------------- driver -----------
main() {
  [[ ${1:-} == --list ]] && { all_scenarios; exit 0; }
  [[ ${1:-} == --one ]] && { run_one "$2"; exit 0; }
  ((EUID == 0)) || { echo "run as root (sudo $0)" >&2; exit 1; }
  need_packages
  modprobe nf_conntrack 2>/dev/null || true
  mkdir -p "$OUT"
  # one PKI for every scenario (exported), removed when the driver exits
  OWN_PKI=$(mktemp -d /tmp/dropscope-tls-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; export PKI
  make_pki "$PKI"
  local start=$SECONDS
  lab_run "$@"
  [[ $OUT == "$HERE/tls" ]] && "$PY" "$LABPY/readme_tls_table.py" "$OUT" "$HERE/README.md"
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#FAILED[@]} == 0)) || die "failed: ${FAILED[*]}"
}

main "$@"
