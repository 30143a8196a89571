#!/usr/bin/env bash
# Decrypting analysis against tshark with the same key log, in one run.
# Builds a TLS workload from captures/tls/ (the clean, MQTT.js and takeover captures
# concatenated, replicated N times 100 s apart: N x 15 connections, about 100 KB each time),
# then times dropscope with --keylog, without keys, on a pcapng copy with the secrets inside,
# and tshark decrypting with the same key log.  Needs mergecap/editcap/tshark.
#   bash benches/tls-keys.sh [N=150]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-150}
bin=target/release/dropscope
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mergecap -a -w "$work/base.pcap" captures/tls/tls1[23]-clean*.pcap captures/tls/tls13-mqttjs.pcap \
  captures/tls/tls13-takeover.pcap
cat captures/tls/*.keys >"$work/all.keys"
for i in $(seq 1 "$N"); do editcap -t $((i * 100)) "$work/base.pcap" "$work/r$i.pcap"; done
mergecap -a -w "$work/big.pcap" "$work"/r*.pcap
editcap --inject-secrets "tls,$work/all.keys" "$work/big.pcap" "$work/big.pcapng"
echo "workload: $(stat -c %s "$work/big.pcap") bytes, $(capinfos -c -M "$work/big.pcap" | awk '/Number of packets/ {print $4}') frames"
t() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
echo "dropscope --keylog:        $(t "$bin" analyze --format json --keylog "$work/all.keys" "$work/big.pcap") s"
echo "dropscope without keys:    $(t "$bin" analyze --format json "$work/big.pcap") s"
echo "dropscope pcapng secrets:  $(t "$bin" analyze --format json "$work/big.pcapng") s"
echo "tshark -o tls.keylog_file: $(t tshark -r "$work/big.pcap" -o "tls.keylog_file:$work/all.keys" -Y mqtt -T fields -e mqtt.msgtype) s"
