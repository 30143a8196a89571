#!/bin/sh
# Seeds the fuzz corpora from the real captures (corpora are not committed):
#   fuzz/seed.sh            writes fuzz/corpus/<target>/
# pipeline: every capture file whole; decode: every frame of the captures, prefixed with the
# selector byte of its link type (Ethernet); mqtt: each capture's TCP payloads on port 1883
# concatenated per direction, prefixed with each version selector; tls: each port-8883
# connection of captures/tls/ as steps (data, FIN, RST) in capture order; ws: each connection
# of src/transport/ws/testdata/mqtt-ws.steps (MQTT over WebSocket) as steps. reassembly needs no seeds.
set -eu
cd "$(dirname "$0")"
root=..
out=corpus
mkdir -p "$out/pipeline" "$out/decode" "$out/mqtt" "$out/reassembly" "$out/tls" "$out/ws"
for f in "$root"/captures/*.pcap "$root"/captures/*.pcapng "$root"/captures/format-rotated/*.pcap \
         /work/shared/captures-public/*.pcap "$root"/tests/corrupt/*.pcap*; do
  [ -f "$f" ] || continue
  [ "$(wc -c < "$f")" -le 300000 ] || continue
  cp "$f" "$out/pipeline/$(basename "$f")"
done
python3 - "$root" "$out" <<'PY'
import os, struct, sys, glob
root, out = sys.argv[1], sys.argv[2]
paths = sorted(glob.glob(f"{root}/captures/*.pcap")) + sorted(glob.glob("/work/shared/captures-public/*.pcap"))
for path in paths:
    raw = open(path, "rb").read()
    if raw[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", raw, 20)[0] != 1:
        continue
    name = os.path.basename(path).rsplit(".", 1)[0]
    off, n, streams = 24, 0, {}
    while off + 16 <= len(raw):
        cl = struct.unpack_from("<I", raw, off + 8)[0]
        frame = raw[off + 16 : off + 16 + cl]
        off += 16 + cl
        n += 1
        if n <= 40:
            open(f"{out}/decode/{name}-{n}", "wb").write(b"\x01" + frame)
        if len(frame) > 54 and frame[12:14] == b"\x08\x00" and frame[23] == 6:
            ihl = (frame[14] & 15) * 4
            tcp = 14 + ihl
            sport, dport = struct.unpack_from(">HH", frame, tcp)
            payload = frame[tcp + (frame[tcp + 12] >> 4) * 4 :]
            if 1883 in (sport, dport) and payload:
                streams.setdefault(dport == 1883, bytearray()).extend(payload)
    for client, data in streams.items():
        for pick in (0, 2, 3, 10):
            open(f"{out}/mqtt/{name}-{'c' if client else 's'}-{pick}", "wb").write(bytes([pick]) + bytes(data[:8192]))
PY
python3 - "$root" "$out" <<'PY'
import glob, os, struct, sys
root, out = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(f"{root}/captures/tls/*.pcap")):
    raw = open(path, "rb").read()
    if raw[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", raw, 20)[0] != 1:
        continue
    name = os.path.basename(path).rsplit(".", 1)[0]
    off, conns = 24, {}
    while off + 16 <= len(raw):
        cl = struct.unpack_from("<I", raw, off + 8)[0]
        frame = raw[off + 16 : off + 16 + cl]
        off += 16 + cl
        if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        tcp = 14 + (frame[14] & 15) * 4
        sport, dport = struct.unpack_from(">HH", frame, tcp)
        if 8883 not in (sport, dport):
            continue
        flags = frame[tcp + 13]
        payload = frame[tcp + (frame[tcp + 12] >> 4) * 4 :]
        side = 0 if dport == 8883 else 1
        steps = conns.setdefault(sport if side == 0 else dport, bytearray([1]))
        for i in range(0, len(payload), 255):
            chunk = payload[i : i + 255]
            steps += bytes([side, len(chunk)]) + chunk
        if flags & 1:
            steps += bytes([side | 4, 0])
        if flags & 4:
            steps += bytes([side | 6, 0])
    for port, steps in list(conns.items())[:3]:
        open(f"{out}/tls/{name}-{port}", "wb").write(bytes(steps[:65536]))
PY
python3 - "$root" "$out" <<'PY'
import sys
root, out = sys.argv[1], sys.argv[2]
conns = {}
for line in open(f"{root}/src/transport/ws/testdata/mqtt-ws.steps"):
    conn, side, _frame, what = line.split()
    side = 0 if side == "c" else 1
    steps = conns.setdefault(conn, bytearray([0]))
    if what == "fin":
        steps += bytes([side | 4, 0])
        continue
    data = bytes.fromhex(what)
    for i in range(0, len(data), 255):
        chunk = data[i : i + 255]
        steps += bytes([side, len(chunk)]) + chunk
for conn, steps in conns.items():
    open(f"{out}/ws/mqtt-ws-{conn}", "wb").write(bytes(steps))
PY
printf '\0\0\0\0\0\0\20\0\40\0\20\1\20\0\20\0' > "$out/reassembly/split"
echo "seeded: $(for t in pipeline decode mqtt reassembly tls ws; do printf '%s %s  ' "$t" "$(ls "$out/$t" | wc -l)"; done)"
