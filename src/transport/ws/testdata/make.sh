#!/bin/sh
# Test data for transport/ws/tests.rs (`real_capture_matches_tshark`), from mqtt-ws.pcap.
#
# mqtt-ws.pcap was captured on loopback here (`tshark -i lo -f "tcp port 19001"`) with
# capture/: mosquitto 2.0.11 on TCP 127.0.0.1:18831 behind capture/bridge.py (Python
# websockets 17.4 server, subprotocol mqtt, relaying binary messages to the broker);
# connection 0 is capture/paho_client.py (paho-mqtt 2.2.0 over WebSocket, no compression;
# it closes TCP without a Close frame), connection 1 capture/deflate_client.py (websockets
# 17.4 client, permessage-deflate with context takeover, windows of 12 bits).
#
# Writes, one line each, in capture order:
#   mqtt-ws.steps     CONN SIDE FRAME HEX|fin  every TCP payload once in stream order
#                     (retransmitted bytes dropped), and each FIN
#   mqtt-ws.expected  CONN SIDE FRAME HEX      tshark's unmasked and inflated payload of
#                     each binary WebSocket frame (data.data)
#                     CONN SIDE FRAME close CODE  each Close frame's status code
# SIDE is c (to port 19001) or s. Run from this directory: sh make.sh
set -eu
tshark -r mqtt-ws.pcap -Y tcp -T fields -e tcp.stream -e tcp.dstport -e frame.number \
    -e tcp.seq -e tcp.len -e tcp.flags.fin -e tcp.payload 2>/dev/null | python3 -c '
import sys
next_seq = {}
for line in sys.stdin:
    conn, dport, frame, seq, n, fin, payload = (line.rstrip("\n").split("\t") + [""])[:7]
    side = "c" if dport == "19001" else "s"
    seq, n = int(seq), int(n)
    want = next_seq.setdefault((conn, side), 1)
    if n and seq + n > want:
        print(conn, side, frame, payload[2 * (want - seq):])
        next_seq[(conn, side)] = seq + n
    if fin == "1" or fin == "True":
        print(conn, side, frame, "fin")
' > mqtt-ws.steps
tshark -r mqtt-ws.pcap -Y websocket -T fields -e tcp.stream -e tcp.dstport -e frame.number \
    -e data.data -e websocket.payload.close.status_code 2>/dev/null | python3 -c '
import sys
for line in sys.stdin:
    conn, dport, frame, data, code = line.rstrip("\n").split("\t")
    side = "c" if dport == "19001" else "s"
    if data:
        print(conn, side, frame, data.replace(",", ""))
    if code:
        print(conn, side, frame, "close", code)
' > mqtt-ws.expected
