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
# and writes tls/NAME.expected.json.  Helpers are copied from make-captures.sh, which is
# left as it is.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY=$HERE/lab
OUT=${OUT:-$HERE/tls}
PY=/usr/bin/python3
C_IP=10.77.1.2 B_IP=10.77.2.2
SCENARIO_TIMEOUT=120
JOBS=${JOBS:-12}

log() { printf '%s [%s] %s\n' "$(date +%T)" "${SCEN:-main}" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- setup ------------
need_packages() {
  local pkgs=(mosquitto mosquitto-clients tcpdump tshark iptables conntrack openssl gcc libc6-dev
              python3 python3-paho-mqtt iproute2 wireshark-common procps coreutils)
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

PIDS=()
WORK=""
NS=""
cns() { ip netns exec "$NS-c" "$@"; }
tcns() { local t=$1; shift; timeout -k 2 "$t" ip netns exec "$NS-c" "$@"; }
gns() { ip netns exec "$NS-g" "$@"; }
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
  # namespace names: dst-<hash> (scenario names are too long for some tools' 15-char limits)
  NS=dst-$(printf '%s' "$1" | md5sum | cut -c1-8)
  WORK=$(mktemp -d "/tmp/dropscope-tls.$1.XXXX")
  chmod 0755 "$WORK"
  trap lab_cleanup EXIT
  trap 'exit 143' TERM INT
  if [[ -z ${PKI:-} ]]; then OWN_PKI=$(mktemp -d /tmp/dropscope-tls-pki.XXXX); chmod 0755 "$OWN_PKI"; PKI=$OWN_PKI; make_pki "$PKI"; fi
  SHIM=$PKI/sslkeylog.so
  local ns
  for ns in c g b; do ip netns del "$NS-$ns" 2>/dev/null || true; ip netns add "$NS-$ns"; done
  ip link add c0 netns "$NS-c" type veth peer name g0 netns "$NS-g"
  ip link add g1 netns "$NS-g" type veth peer name b0 netns "$NS-b"
  cns ip addr add $C_IP/24 dev c0
  gns ip addr add 10.77.1.1/24 dev g0
  gns ip addr add 10.77.2.1/24 dev g1
  bns ip addr add $B_IP/24 dev b0
  for ns in c g b; do ip -n "$NS-$ns" link set lo up; done
  cns ip link set c0 up; gns ip link set g0 up; gns ip link set g1 up; bns ip link set b0 up
  cns ip route add default via 10.77.1.1
  bns ip route add default via 10.77.2.1
  gns sysctl -qw net.ipv4.ip_forward=1
  # TLS segments are bigger than plain MQTT; keep offloads from merging them in captures
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
  modprobe nf_conntrack 2>/dev/null || true
  mkdir -p "$OUT"
  PKI=$(mktemp -d /tmp/dropscope-tls-pki.XXXX); chmod 0755 "$PKI"; export PKI
  make_pki "$PKI"
  local scen=("$@")
  ((${#scen[@]})) || mapfile -t scen < <(all_scenarios)
  local start=$SECONDS failed=() pids=() names=() i
  trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; [[ -z ${KEEP:-} ]] && rm -rf "$PKI"' EXIT
  for s in "${scen[@]}"; do
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
    log "starting $s"
    ( timeout -k 5 "$SCENARIO_TIMEOUT" "$HERE/make-tls-captures.sh" --one "$s" ||
      { echo "first attempt failed; retrying"; timeout -k 5 "$SCENARIO_TIMEOUT" "$HERE/make-tls-captures.sh" --one "$s"; }
    ) >"/tmp/dropscope-tls.$s.log" 2>&1 &
    pids+=($!); names+=("$s")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      failed+=("${names[$i]}")
      log "scenario ${names[$i]} FAILED; its log:"; tail -20 "/tmp/dropscope-tls.${names[$i]}.log" >&2
    else
      grep -E '^  ' "/tmp/dropscope-tls.${names[$i]}.log" >&2 || true
      rm -f "/tmp/dropscope-tls.${names[$i]}.log"
    fi
  done
  log "finished in $((SECONDS - start)) s; $(du -sh "$OUT" | cut -f1) in $OUT"
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

main "$@"
