#!/usr/bin/env bash
# Throughput benchmark (issues 2 and 15): dropscope's whole analysis over a >1 GB capture of
# real MQTT traffic, on one thread and on two, against the reference read loop
# (../shared/bench/readloop, or READLOOP=DIR) and tshark on the same file, in one run: the
# ratios to the read loop are the figures that hold from one machine to the next.
#
#   bash benches/throughput.sh          # makes benches/data/ if missing (needs root for tcpdump)
#   DATA=/tmp/small MAX_PAYLOAD=700 bash benches/throughput.sh   # the same with small frames
#   DATA=benches/data/workload BASE_MAKER=benches/make-workload.sh MIN_BYTES=2200000000 \
#     bash benches/throughput.sh     # the fleet workload: two brokers, 1,000 clients, faults
#
# Prints MB/s, packets/s and peak RSS of `dropscope analyze FILE --format json` (single
# thread, page cache warm, median of RUNS runs) on the file at 1x (>1 GB) and 2x size, and
# tshark's time on the 1x file for the ratio. Env: DATA (benches/data), RUNS (5),
# MIN_BYTES (1050000000), TSHARK_PREFIX=1 to time tshark on a 10% prefix (editcap -r) and
# scale it; BASE_MAKER (benches/make-capture.sh) makes the base capture when DATA has none,
# and MAX_PAYLOAD reaches make-capture.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-benches/data}
RUNS=${RUNS:-5}
MIN_BYTES=${MIN_BYTES:-1050000000}
mkdir -p "$DATA"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v tshark >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark; }

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/dropscope
READLOOP=${READLOOP:-../shared/bench/readloop}
cargo build --release --quiet --manifest-path "$READLOOP/Cargo.toml" --target-dir /tmp/readloop
LOOP=/tmp/readloop/release/readloop

[[ -s $DATA/base.pcap ]] || bash "${BASE_MAKER:-benches/make-capture.sh}" "$DATA/base.pcap"
PORT=$(cat "$DATA/base.port")
if [[ ! -s $DATA/big-1x.pcap ]]; then
  python3 benches/replicate.py "$DATA/base.pcap" "$DATA/big-1x.pcap" --port "$PORT" --min-bytes "$MIN_BYTES"
fi
COPIES=$(python3 -c 'import os,sys; b=os.path.getsize(sys.argv[1])-24; print(round((os.path.getsize(sys.argv[2])-24)/b))' "$DATA/base.pcap" "$DATA/big-1x.pcap")
if [[ ! -s $DATA/big-2x.pcap ]]; then
  python3 benches/replicate.py "$DATA/base.pcap" "$DATA/big-2x.pcap" --port "$PORT" --copies $((2 * COPIES))
fi

RESULTS=$DATA/results.tsv
: >"$RESULTS"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# run LABEL FILE CMD...: one timed run, the file read once untimed first (a host that
# reclaims idle page cache, as DAMON does on some VMs, would otherwise make a run read part
# of it from disk); appends "label bytes seconds rss_kb frames" to RESULTS
run() {
  local label=$1 file=$2; shift 2
  local tf=$DATA/time.txt out=$DATA/out.json
  cat "$file" >/dev/null
  /usr/bin/time -v -o "$tf" "$@" >"$out"
  python3 - "$label" "$file" "$tf" "$out" >>"$RESULTS" <<'PY'
import json, os, re, sys
label, file, tf, out = sys.argv[1:]
t = open(tf).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1).strip().split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
frames = 0
try:
    frames = json.load(open(out))["stats"]["frames"]
except Exception:
    frames = sum(1 for _ in open(out))  # tshark: one line per MQTT message
print(label, os.path.getsize(file), secs, rss, frames, sep="\t")
PY
}

for size in 1x 2x; do
  f=$DATA/big-$size.pcap
  for _ in $(seq "$RUNS"); do
    run "readloop-$size" "$f" "$LOOP" mqtt-read "$f"
    run "dropscope-$size" "$f" "$BIN" analyze "$f" --port "$PORT" --format json --threads 1
    run "dropscope2-$size" "$f" "$BIN" analyze "$f" --port "$PORT" --format json --threads 2
  done
done

f=$DATA/big-1x.pcap
tshark_cmd=(tshark -r "$f" -Y mqtt -T fields -e tcp.stream -e mqtt.msgtype -d "tcp.port==$PORT,mqtt")
if [[ -n ${TSHARK_PREFIX:-} ]]; then
  n=$(( $(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}') / 10 ))
  editcap -r "$f" "$DATA/prefix.pcap" "1-$n"
  tshark_cmd=(tshark -r "$DATA/prefix.pcap" -Y mqtt -T fields -e tcp.stream -e mqtt.msgtype -d "tcp.port==$PORT,mqtt")
  f=$DATA/prefix.pcap
fi
run "tshark-$( [[ -n ${TSHARK_PREFIX:-} ]] && echo prefix10 || echo 1x)" "$f" "${tshark_cmd[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
by = {}
for label, size, secs, rss, frames in rows:
    by.setdefault(label, []).append((float(secs), int(size), int(rss), int(frames)))
print(f"{'run':<18}{'file MB':>9}{'seconds':>9}{'MB/s':>9}{'Mpkt/s':>9}{'peak RSS MB':>13}")
summary = {}
for label, rs in by.items():
    secs = statistics.median(r[0] for r in rs)
    size, rss, frames = rs[0][1], max(r[2] for r in rs), rs[0][3]
    mbs = size / 1e6 / secs
    summary[label] = (mbs, rss)
    pkts = f"{frames / secs / 1e6:9.2f}" if label.startswith("dropscope") else f"{'':>9}"
    print(f"{label:<18}{size/1e6:9.0f}{secs:9.2f}{mbs:9.0f}{pkts}{rss/1024:13.1f}")
for n in ("1x", "2x"):
    loop = summary.get(f"readloop-{n}")
    for label in (f"dropscope-{n}", f"dropscope2-{n}"):
        if loop and label in summary:
            print(f"{label} time / read loop time: {loop[0] / summary[label][0]:.2f}")
d1, d2 = summary.get("dropscope-1x"), summary.get("dropscope-2x")
t = next((v for k, v in summary.items() if k.startswith("tshark")), None)
if d1 and d2:
    print(f"RSS 2x / 1x: {d2[1] / d1[1]:.2f}")
if d1 and t:
    print(f"dropscope / tshark throughput: {d1[0] / t[0]:.0f}x  (tshark peak RSS {t[1]/1024:.0f} MB)")
PY
