# shellcheck shell=bash
# The capture labs' shared parts, sourced by every captures/make-*-captures.sh: logging,
# packages, a scenario's three network namespaces, background processes, tcpdump, and the
# driver that runs the scenarios side by side.
#
#   client ns  c0 10.77.1.2 ── g0 10.77.1.1 [gateway ns] g1 10.77.2.1 ── b0 10.77.2.2  broker ns
#
# A lab script sets C_IP and B_IP (and C_IP6, B_IP6 for IPv6), PY, LABPY, OUT,
# SCENARIO_TIMEOUT and JOBS, and, for the driver, SELF (its own path) and LAB (its short
# name, in the log files /tmp/dropscope-LAB.NAME.log); it defines each scenario as a
# function sc_NAME and `lab_up NAME`, which builds the scenario's lab with `lab_net`.

log() { printf '%s [%s] %s\n' "$(date +%T)" "${SCEN:-main}" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# install_missing PKG...: installs the Debian packages not installed yet
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# node_ready: aedes, ws and MQTT.js from lab/node/package.json, installed outside the repo,
# in $NODE_LAB (one install for every lab)
NODE_LAB=${NODE_LAB:-/var/cache/dropscope-lab-node}
node_ready() {
  command -v node >/dev/null && command -v npm >/dev/null || die "node/npm not installed"
  if [[ ! -e $NODE_LAB/node_modules/aedes/package.json || ! -e $NODE_LAB/node_modules/mqtt/package.json ]] ||
    ! cmp -s "$LABPY/node/package.json" "$NODE_LAB/package.json"; then
    mkdir -p "$NODE_LAB"
    cp "$LABPY/node/package.json" "$NODE_LAB/"
    ( cd "$NODE_LAB" && timeout 180 npm install --no-audit --no-fund --loglevel=error ) >&2 || die "npm install failed"
  fi
}

# Each scenario process owns one lab: namespaces $NS-c, $NS-g, $NS-b, a work dir, pids.
PIDS=()
WORK=""
NS=""
cns() { ip netns exec "$NS-c" "$@"; }
tcns() { local t=$1; shift; timeout -k 2 "$t" ip netns exec "$NS-c" "$@"; }  # bounded
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

# lab_net NS WORKNAME [ipv6] [no-offload]: the namespaces NS-c, NS-g, NS-b joined by veth
# pairs, routed through the gateway, and a work dir /tmp/WORKNAME.XXXX, both removed on
# exit; `ipv6` adds the fd77:: addresses, `no-offload` keeps the client's and broker's
# veths from merging segments (TSO/GSO/GRO) in the captures.
lab_net() {
  NS=$1
  WORK=$(mktemp -d "/tmp/$2.XXXX")
  chmod 0755 "$WORK"   # mosquitto may drop root to user mosquitto and must read its config
  trap lab_cleanup EXIT
  trap 'exit 143' TERM INT
  shift 2
  local ipv6=false offload=true opt ns
  for opt; do
    case $opt in
      ipv6) ipv6=true ;;
      no-offload) offload=false ;;
      *) die "lab_net: unknown option $opt" ;;
    esac
  done
  for ns in c g b; do ip netns del "$NS-$ns" 2>/dev/null || true; ip netns add "$NS-$ns"; done
  ip link add c0 netns "$NS-c" type veth peer name g0 netns "$NS-g"
  ip link add g1 netns "$NS-g" type veth peer name b0 netns "$NS-b"
  cns ip addr add "$C_IP/24" dev c0
  gns ip addr add 10.77.1.1/24 dev g0
  gns ip addr add 10.77.2.1/24 dev g1
  bns ip addr add "$B_IP/24" dev b0
  for ns in c g b; do ip -n "$NS-$ns" link set lo up; done
  cns ip link set c0 up; gns ip link set g0 up; gns ip link set g1 up; bns ip link set b0 up
  cns ip route add default via 10.77.1.1
  bns ip route add default via 10.77.2.1
  gns sysctl -qw net.ipv4.ip_forward=1
  if $ipv6; then
    cns ip -6 addr add "$C_IP6/64" dev c0 nodad
    gns ip -6 addr add fd77:1::1/64 dev g0 nodad
    gns ip -6 addr add fd77:2::1/64 dev g1 nodad
    bns ip -6 addr add "$B_IP6/64" dev b0 nodad
    cns ip -6 route add default via fd77:1::1
    bns ip -6 route add default via fd77:2::1
    gns sysctl -qw net.ipv6.conf.all.forwarding=1
  fi
  if ! $offload; then
    cns ethtool -K c0 tso off gso off gro off >/dev/null 2>&1 || true
    bns ethtool -K b0 tso off gso off gro off >/dev/null 2>&1 || true
  fi
}

# start a process in the background and remember it; bg_in c|g|b CMD... runs CMD in a
# namespace and leaves its real pid in $! (ip netns exec execs CMD), so signals reach it
bg() { "$@" & PIDS+=($!); }
bg_in() { local ns=$1; shift; ip netns exec "$NS-$ns" "$@" & PIDS+=($!); }

# wait_for SECONDS WHAT CMD...: poll until CMD succeeds, bounded
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" 2>/dev/null; do
    ((SECONDS < end)) || die "timed out waiting for $what"
    sleep 0.1
  done
}

# cap_start VAR side file [tcpdump options...]: record on the broker's (b0) or client's (c0) veth
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
  sleep 0.3   # let the last packets reach the capture
  for pid in "$@"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  for f in "$WORK"/*.tcpdump.log; do   # a capture that lost packets is no ground truth
    [[ -e $f ]] || continue
    if grep -Eq '^[1-9][0-9]* packets dropped by (kernel|interface)' "$f"; then
      die "tcpdump lost packets: $(grep dropped "$f" | tr '\n' ' ')"
    fi
  done
}

# ---------------------------------------------------------------- driver -----------
all_scenarios() { declare -F | awk '{print $3}' | sed -n 's/^sc_//p'; }

run_one() {  # run one scenario in this process
  SCEN=$1
  declare -F "sc_$1" >/dev/null || die "no scenario $1"
  lab_up "$1"
  "sc_$1"
  log "done"
}

# lab_run NAME...: runs the scenarios given (all when none), each in a process of its own
# (`$SELF --one NAME`, bounded by SCENARIO_TIMEOUT), JOBS at a time, with a second attempt
# if the first fails (a lossy link or a reconnect timer can lose a race); prints each one's
# summary lines, and the log's tail of those that failed, whose names it leaves in FAILED.
# What the driver made for every scenario (OWN_PKI) is removed on exit.
lab_run() {
  local scen=("$@") pids=() names=() i s
  FAILED=()
  ((${#scen[@]})) || mapfile -t scen < <(all_scenarios)
  trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; lab_cleanup' EXIT
  for s in "${scen[@]}"; do
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
    log "starting $s"
    ( timeout -k 5 "$SCENARIO_TIMEOUT" "$SELF" --one "$s" ||
      { echo "first attempt failed; retrying"; timeout -k 5 "$SCENARIO_TIMEOUT" "$SELF" --one "$s"; }
    ) >"/tmp/dropscope-$LAB.$s.log" 2>&1 &
    pids+=($!); names+=("$s")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      FAILED+=("${names[$i]}")
      log "scenario ${names[$i]} FAILED; its log:"; tail -20 "/tmp/dropscope-$LAB.${names[$i]}.log" >&2
    else
      grep -E '^  |retrying' "/tmp/dropscope-$LAB.${names[$i]}.log" >&2 || true
      rm -f "/tmp/dropscope-$LAB.${names[$i]}.log"
    fi
  done
  trap lab_cleanup EXIT
}
