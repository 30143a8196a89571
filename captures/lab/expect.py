#!/usr/bin/python3
"""Write <scenario>.expected.json for one capture.

The verdict of each connection comes from the scenario (what the lab injected), given as
rules; tshark only tells which connections are in the capture (every SYN-initiated TCP
4-tuple), their ports and client ids, and the frame numbers quoted as evidence.

  --rule 'KEY|cause|layer|side|code|note'
KEY selects connections: id=X, idprefix=X, port=N (client port), noid (no CONNECT seen),
or * ; append &first or &last to pick the first/last connection of those.
code: null, a number, connack (the CONNACK code in this connection), sdisc (reason of a
DISCONNECT sent by the server), cdisc (reason of the client's DISCONNECT), alert (the
description of the first TLS alert other than close_notify, null if none).
layer/side: null for JSON null.  The first rule that matches wins; a connection that no
rule matches is an error.

TLS (optional): --tls-ports 8883,443 marks connections to these ports as MQTT over TLS
(tshark decodes their TLS payload as MQTT) and --keylog NAME.keys (relative to --dir) lets
tshark decrypt them with that NSS key log.  The expected file then also has "tls_ports",
"keylog" and a "transport" of "tls" per connection, and each note quotes the TLS version,
the alerts (close_notify included) and who sent them.  Without these flags the output is
exactly what it was before they existed.

WebSocket (optional): --ws-ports 8080 marks connections to these ports as MQTT over
WebSocket (ws://), --wss-ports 8443 as MQTT over WebSocket inside TLS (wss://, decrypted
with --keylog).  tshark dissects HTTP (the upgrade) and WebSocket there (-d tcp.port==P,http;
wss: -d tcp.port==P,tls -d tls.port==P,http and -o tls.keylog_file:); the MQTT packets are
then read here from the unmasked binary payloads (data.data) of each direction, concatenated,
because tshark 4.0 neither hands WebSocket payloads to its MQTT dissector nor reassembles an
MQTT packet spread over several WebSocket messages (MQTT.js sends one frame per write).  The
expected file then has "ws_ports"/"wss_ports" (and "keylog" for wss), a "transport" of
"ws"/"wss" per connection, and each note quotes the upgrade (GET path, HTTP status), the
WebSocket Close frames (code, sender, frame), pings/pongs and how many WebSocket frames
carried how many MQTT packets.  Two more codes: http (the status of a refused upgrade) and
wsclose (the status code of the client's Close frame).
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile

FIELDS = ["frame.number", "frame.time_relative", "tcp.stream", "ip.src", "ipv6.src",
          "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags.syn",
          "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "mqtt.msgtype",
          "mqtt.clientid", "mqtt.ver", "mqtt.conack.val", "mqtt.connack.reason_code",
          "mqtt.disconnect.reason_code", "tcp.analysis.retransmission", "ip.ttl",
          "ipv6.hlim", "mqtt.kalive", "tcp.len"]
TLS_FIELDS = ["tls.handshake.type", "tls.handshake.version",
              "tls.handshake.extensions.supported_version", "tls.alert_message.level",
              "tls.alert_message.desc"]
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 45: "certificate_expired", 46: "certificate_unknown",
          48: "unknown_ca", 50: "decode_error", 70: "protocol_version", 80: "internal_error", 90: "user_canceled",
          112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol"}
WS_FIELDS = ["websocket.opcode", "websocket.payload.close.status_code", "data.data",
             "http.request.uri", "http.response.code"]
MSG = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 8: "SUBSCRIBE", 9: "SUBACK",
       12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}


def endpoint(ip, port):
    return "[%s]:%s" % (ip, port) if ":" in ip else "%s:%s" % (ip, port)


def tshark_rows(path, ports, tls_ports=(), keylog=None, ws_ports=(), wss_ports=()):
    cmd = ["tshark", "-r", path, "-o", "tcp.analyze_sequence_numbers:TRUE", "-Y", "tcp",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for p in ports:
        if p != 1883:
            cmd += ["-d", "tcp.port==%d,mqtt" % p]
    fields = FIELDS
    if tls_ports:
        fields = FIELDS + TLS_FIELDS
        for p in tls_ports:
            if p != 8883:
                cmd += ["-d", "tcp.port==%d,tls" % p, "-d", "tls.port==%d,mqtt" % p]
        if keylog:
            cmd += ["-o", "tls.keylog_file:" + keylog]
    if ws_ports or wss_ports:
        fields = fields + (TLS_FIELDS if wss_ports and not tls_ports else []) + WS_FIELDS
        for p in ws_ports:
            cmd += ["-d", "tcp.port==%d,http" % p]
        for p in wss_ports:
            cmd += ["-d", "tcp.port==%d,tls" % p, "-d", "tls.port==%d,http" % p]
        if keylog and not tls_ports:
            cmd += ["-o", "tls.keylog_file:" + keylog]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        yield dict(zip(fields, line.split("\t")))


def first_int(s):
    return int(s.split(",")[0]) if s else None


def ints(s):
    return [int(x, 0) for x in s.split(",") if x] if s else []


def mqtt_str_at(b, i):
    n = int.from_bytes(b[i:i + 2], "big")
    return b[i + 2:i + 2 + n].decode(errors="replace"), i + 2 + n


def varint_at(b, i):
    n, mult = 0, 1
    while True:
        n += (b[i] & 0x7F) * mult
        mult *= 128
        i += 1
        if not b[i - 1] & 0x80:
            return n, i


def ws_mqtt_packets(c, side, hexdata):
    """Append the unmasked WebSocket payload bytes of one frame to this direction's MQTT
    stream; return the packets completed by them as dicts shaped like tshark's mqtt fields."""
    buf = c["wsbuf"][side] = c["wsbuf"][side] + bytes.fromhex(hexdata.replace(",", "").replace(":", ""))
    out = []
    while len(buf) >= 2:
        try:
            length, i = varint_at(buf, 1)
        except IndexError:
            break
        if len(buf) < i + length:
            break
        mt, body = buf[0] >> 4, buf[i:i + length]
        buf = buf[i + length:]
        p = {"mqtt.msgtype": str(mt), "mqtt.clientid": "", "mqtt.ver": "", "mqtt.kalive": "",
             "mqtt.conack.val": "", "mqtt.connack.reason_code": "", "mqtt.disconnect.reason_code": ""}
        if mt == 1:
            _, j = mqtt_str_at(body, 0)
            ver, ka = body[j], int.from_bytes(body[j + 2:j + 4], "big")
            j += 4
            if ver == 5:
                plen, j = varint_at(body, j)
                j += plen
            p["mqtt.clientid"], _ = mqtt_str_at(body, j)
            p["mqtt.ver"], p["mqtt.kalive"] = str(ver), str(ka)
            c["ws_mqtt_ver"] = ver
        elif mt == 2:
            p["mqtt.connack.reason_code" if c.get("ws_mqtt_ver") == 5 else "mqtt.conack.val"] = str(body[1])
        elif mt == 14 and body:
            p["mqtt.disconnect.reason_code"] = str(body[0])
        out.append(p)
        c["ws_mqtt"][side] += 1
    c["wsbuf"][side] = buf
    return out


def analyse(path, ports, tls_ports=(), keylog=None, ws_ports=(), wss_ports=(), midstream=False):
    """The connections in the capture; with midstream, a TCP stream without SYN is kept, its
    server being the end on one of the given ports."""
    server_ports = set(ports) | set(tls_ports) | set(ws_ports) | set(wss_ports)
    conns = collections.OrderedDict()
    for r in tshark_rows(path, ports, tls_ports, keylog, ws_ports, wss_ports):
        st = int(r["tcp.stream"])
        src = endpoint(r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
        dst = endpoint(r["ip.dst"] or r["ipv6.dst"], r["tcp.dstport"])
        fr = int(r["frame.number"])
        t = float(r["frame.time_relative"])
        if st not in conns:
            conns[st] = {"stream": st, "syn": None, "client": None, "server": None,
                         "client_id": None, "ver": None, "ka": None, "connack": None,
                         "sdisc": None, "cdisc": None, "first_close": None,
                         "events": [], "retrans": collections.Counter(), "first": fr,
                         "last": fr, "t_first": t, "t_last": t}
            if midstream:
                to_server = int(r["tcp.dstport"]) in server_ports
                conns[st]["client"], conns[st]["server"] = (src, dst) if to_server else (dst, src)
        c = conns[st]
        c["last"], c["t_last"] = fr, t
        if r["tcp.flags.syn"] in ("1", "True") and r["tcp.flags.ack"] in ("0", "False") and c["syn"] is None:
            c["syn"], c["client"], c["server"], c["t_syn"] = fr, src, dst, t
        side = "client" if src == c["client"] else "server"
        if r["tcp.analysis.retransmission"]:
            c["retrans"][side] += 1
        ttl = r["ip.ttl"] or r["ipv6.hlim"]
        if side == "client" and r["tcp.len"] not in ("", "0"):
            c.setdefault("client_data", []).append((fr, t))
        for flag, name in (("tcp.flags.fin", "FIN"), ("tcp.flags.reset", "RST")):
            if r[flag] in ("1", "True"):
                c["events"].append((fr, t, side, name, ttl))
                if c["first_close"] is None:
                    c["first_close"] = (fr, t, side, name, ttl)
        dport = int(c["server"].rsplit(":", 1)[1]) if c["server"] else None
        ws = dport in ws_ports or dport in wss_ports
        if tls_ports or (ws and dport in wss_ports):
            hs = ints(r["tls.handshake.type"])
            if 2 in hs and "tls_ver" not in c:  # ServerHello: the version chosen
                v = ints(r["tls.handshake.extensions.supported_version"]) or ints(r["tls.handshake.version"])
                if v:
                    c["tls_ver"], c["tls_hello"] = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1"}.get(v[0], hex(v[0])), fr
            if 20 in hs and side == "client" and "tls_fin" not in c and "tls_ver" in c:
                c["tls_fin"] = fr  # the client's Finished: the handshake completed
            for lvl, desc in zip(ints(r["tls.alert_message.level"]), ints(r["tls.alert_message.desc"])):
                c.setdefault("alerts", []).append((fr, side, lvl, desc))
                c["events"].append((fr, t, side, "alert %d" % desc, ttl))
        packets = [r]
        if ws:
            c.setdefault("wsbuf", {"client": b"", "server": b""})
            c.setdefault("ws_mqtt", collections.Counter())
            c.setdefault("ws_frames", collections.Counter())
            if r["http.request.uri"] and "http_get" not in c:
                c["http_get"] = (fr, r["http.request.uri"].split(",")[0])
            if r["http.response.code"] and "http_status" not in c:
                c["http_status"] = (fr, int(r["http.response.code"].split(",")[0]))
            codes = ints(r["websocket.payload.close.status_code"])
            for op in ints(r["websocket.opcode"]):
                c["ws_frames"][(side, op)] += 1
                if op == 8:
                    code = codes.pop(0) if codes else None
                    c.setdefault("ws_closes", []).append((fr, side, code))
                    c["events"].append((fr, t, side, "Close %s" % code, ttl))
            packets = ws_mqtt_packets(c, side, r["data.data"]) if r["data.data"] else []
        for pk in packets:
            for mt in [int(x) for x in pk["mqtt.msgtype"].split(",") if x]:
                if mt == 1 and c["client_id"] is None:
                    c["client_id"] = pk["mqtt.clientid"].split(",")[0] if pk["mqtt.clientid"] else ""
                    c["ver"] = first_int(pk["mqtt.ver"])
                    c["ka"] = first_int(pk["mqtt.kalive"])
                    c["connect_frame"] = fr
                if mt == 2 and c["connack"] is None:
                    code = first_int(pk["mqtt.connack.reason_code"])
                    if code is None:
                        code = first_int(pk["mqtt.conack.val"])
                    c["connack"], c["connack_frame"] = code, fr
                if mt == 14:
                    rc = first_int(pk["mqtt.disconnect.reason_code"])
                    c["sdisc" if side == "server" else "cdisc"] = (fr, 0 if rc is None else rc)
                if mt in (1, 2, 12, 13, 14):
                    c["events"].append((fr, t, side, MSG[mt], ttl))
    result = []
    for c in conns.values():
        if c["syn"] is None and not midstream:
            # every connection in the lab starts inside its capture; a missing SYN means the
            # capture lost packets, so the run is not usable
            raise SystemExit("%s: TCP stream %d (frames %d-%d) has no SYN: packets lost in capture" % (
                path, c["stream"], c["first"], c["last"]))
        result.append(c)
    return result


def facts(c):
    """A short, frame-numbered account of one connection, for the note."""
    out = ["SYN f%d" % c["syn"] if c["syn"] else "no SYN: the capture starts mid-stream at f%d" % c["first"]]
    if c.get("tls"):
        if "tls_ver" in c:
            out.append("TLS %s (ServerHello f%d%s)" % (c["tls_ver"], c["tls_hello"],
                       ", client Finished f%d" % c["tls_fin"] if "tls_fin" in c else ""))
        else:
            out.append("no ServerHello")
        for fr, side, lvl, desc in c.get("alerts", []):
            out.append("TLS alert %d %s (level %d) by %s f%d" % (desc, ALERTS.get(desc, "?"), lvl, side, fr))
        if not c.get("alerts"):
            out.append("no TLS alert (no close_notify)")
    if c.get("ws"):
        if "http_get" in c:
            out.append("upgrade GET %s f%d" % (c["http_get"][1], c["http_get"][0]))
        else:
            out.append("no HTTP upgrade seen")
        if "http_status" in c:
            out.append("HTTP %d f%d" % (c["http_status"][1], c["http_status"][0]))
        elif "http_get" in c:
            out.append("no HTTP answer")
        fc = c.get("ws_frames", {})
        for side in ("client", "server"):
            data = fc.get((side, 2), 0) + fc.get((side, 0), 0)
            if data or c.get("ws_mqtt", {}).get(side):
                out.append("%s: %d MQTT packets in %d binary WebSocket frames" % (side, c["ws_mqtt"][side], data))
        pings = ["%d %s by %s" % (fc[(side, op)], name, side) for op, name in ((9, "ping"), (10, "pong"))
                 for side in ("client", "server") if fc.get((side, op))]
        if pings:
            out.append("WebSocket " + ", ".join(pings))
        for fr, side, code in c.get("ws_closes", []):
            out.append("WebSocket Close %s by %s f%d" % ("(no code)" if code is None else code, side, fr))
        if "http_status" in c and c["http_status"][1] == 101 and not c.get("ws_closes"):
            out.append("no WebSocket Close")
    if c.get("connect_frame"):
        out.append("CONNECT f%d (v%s, ka %ss)" % (c["connect_frame"], {4: "3.1.1", 5: "5.0", 3: "3.1"}.get(c["ver"], c["ver"]), c["ka"]))
    if c["connack"] is not None:
        out.append("CONNACK %d f%d" % (c["connack"], c["connack_frame"]))
    if c["cdisc"]:
        out.append("client DISCONNECT 0x%02X f%d" % (c["cdisc"][1], c["cdisc"][0]))
    if c["sdisc"]:
        out.append("server DISCONNECT 0x%02X f%d" % (c["sdisc"][1], c["sdisc"][0]))
    if c["first_close"]:
        fr, t, side, name, ttl = c["first_close"]
        # the last MQTT/TCP event from each side before the close, to show the silence
        last_client = [e for e in c.get("client_data", []) if e[0] < fr]
        s = "first %s by %s f%d at %.2fs (ttl %s)" % (name, side, fr, t, ttl)
        if last_client:
            gap = t - last_client[-1][1]
            s += ", %.2fs after the client's last data segment f%d" % (gap, last_client[-1][0])
            if c["ka"] and name == "FIN" and side == "server" and gap > c["ka"]:
                s += " (%.1f x keepalive)" % (gap / c["ka"])
        out.append(s)
    else:
        out.append("no FIN/RST; last frame f%d" % c["last"])
    rt = ", ".join("%d by %s" % (n, s) for s, n in sorted(c["retrans"].items()))
    if rt:
        out.append("retransmissions: " + rt)
    return "; ".join(out)


def select(key, conns):
    pick = None
    if "&" in key:
        key, pick = key.split("&", 1)
    if key == "*":
        sel = list(conns)
    elif key == "noid":
        sel = [c for c in conns if c["client_id"] is None]
    elif key.startswith("id="):
        sel = [c for c in conns if c["client_id"] == key[3:]]
    elif key.startswith("idprefix="):
        sel = [c for c in conns if (c["client_id"] or "").startswith(key[9:])]
    elif key.startswith("port="):
        sel = [c for c in conns if c["client"].rsplit(":", 1)[1] == key[5:]]
    else:
        raise SystemExit("bad rule key " + key)
    if pick == "first":
        sel = sel[:1]
    elif pick == "last":
        sel = sel[-1:]
    elif pick == "notlast":
        sel = sel[:-1]
    return {c["stream"] for c in sel}


def first_alert(c):
    """(side, description) of the first TLS alert other than close_notify, or None."""
    for fr, side, lvl, desc in c.get("alerts", []):
        if desc != 0:
            return side, desc
    return None


SERVER_FIRST = ("keepalive_timeout", "session_taken_over", "server_shutdown", "protocol_violation",
                "server_close")


def strict_problems(c, cause):
    """--strict: causes that start with the server must show the server's FIN/RST first, and
    a refused TCP connection (tcp_refused) is a SYN answered by the server side's RST, with
    no MQTT in it."""
    first = c["first_close"]
    return {
        cause: cause in SERVER_FIRST and (first is None or first[2] != "server"),
        "tcp_refused": (c.get("connect_frame") is not None or first is None or first[2:4] != ("server", "RST")
                        or bool(c.get("client_data"))),
    }


def check(capture, c, cause, side=None, strict=False):
    """The wire must agree with what the scenario meant to do; if it does not (a race, a
    lost packet), the scenario failed and must be run again rather than mislabelled."""
    problems = {}
    if c.get("tls"):
        fa = first_alert(c)
        if cause == "tls_handshake_failed":
            # a TLS 1.3 client may send its CONNECT right after its Finished, before the
            # server has rejected its certificate; a CONNACK would mean the handshake completed
            problems["tls_handshake_failed"] = (c["connack"] is not None or
                                                (fa is not None and side not in (None, "null") and fa[0] != side))
        elif c.get("connect_frame") is None:
            raise SystemExit("%s: TLS connection %s shows no MQTT CONNECT: key log missing or incomplete? %s" % (
                capture, c["client"], facts(c)))
    ws_refused = False
    client_close_frame = False
    if c.get("ws"):
        st = c.get("http_status", (None, None))[1]
        if (st is None and cause == "connect_refused" and "http_get" in c and c["first_close"] is not None
                and c["first_close"][2] == "server"):
            st = 0  # the server closed after the upgrade request without any HTTP answer
        if st is None:
            raise SystemExit("%s: WebSocket connection %s shows no HTTP upgrade answer%s: %s" % (
                capture, c["client"], " (key log missing?)" if c.get("tls") else "", facts(c)))
        ws_refused = st != 101
        if st == 101 and c.get("connect_frame") is None and cause not in ("open_at_end",):
            raise SystemExit("%s: WebSocket connection %s shows no MQTT CONNECT: %s" % (capture, c["client"], facts(c)))
        closes = c.get("ws_closes", [])
        # the client's Close came first, before any TCP close by the server
        client_close_frame = bool(closes) and closes[0][1] == "client" and (
            c["first_close"] is None or c["first_close"][2] == "client" or c["first_close"][0] > closes[0][0])
    if c.get("ws") and cause in ("keepalive_timeout", "session_taken_over", "server_shutdown"):
        # over WebSocket these must start with the server: its Close frame, its close_notify
        # (wss) or its FIN/RST
        moves = [(fr, side) for fr, side, code in c.get("ws_closes", [])[:1]]
        moves += [(fr, side) for fr, side, lvl, desc in c.get("alerts", [])[:1]]
        if c["first_close"]:
            moves.append((c["first_close"][0], c["first_close"][2]))
        problems[cause] = not moves or min(moves)[1] != "server"
    problems.update({
        "client_disconnect": c["cdisc"] is None and not client_close_frame,
        "connect_refused": not c["connack"] and not ws_refused,
        "server_disconnect": c["sdisc"] is None,
        "open_at_end": c["first_close"] is not None,
        "client_close": c["first_close"] is None or c["first_close"][2:4] != ("client", "FIN") or c["cdisc"] is not None
        or any(side == "client" for fr, side, code in c.get("ws_closes", [])),
        "reset": c["first_close"] is None or c["first_close"][3] != "RST",
    })
    if strict:
        problems.update(strict_problems(c, cause))
    if problems.get(cause):
        raise SystemExit("%s: connection %s (%s) does not look like %s on the wire: %s" % (
            capture, c["client"], c["client_id"], cause, facts(c)))


def nul(s):
    return None if s in ("null", "") else s


def code_of(spec, c):
    if spec in ("null", ""):
        return None
    if spec == "connack":
        return c["connack"]
    if spec == "alert":
        fa = first_alert(c)
        return fa[1] if fa else None
    if spec == "http":  # the status of the HTTP answer to the WebSocket upgrade
        return c["http_status"][1] if "http_status" in c else None
    if spec == "wsclose":  # the status code of the client's WebSocket Close
        return next((code for fr, side, code in c.get("ws_closes", []) if side == "client"), None)
    if spec in ("sdisc", "cdisc"):  # a reason code exists only in MQTT 5
        return c[spec][1] if c[spec] and c["ver"] == 5 else None
    return int(spec, 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--capture", required=True, help="file or directory, relative to --dir")
    p.add_argument("--dir", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--vantage", required=True)
    p.add_argument("--how", required=True)
    p.add_argument("--ports", default="1883")
    p.add_argument("--tls-ports", default="", help="MQTT-over-TLS server ports (comma-separated)")
    p.add_argument("--keylog", help="NSS key log for the TLS sessions, relative to --dir")
    p.add_argument("--ws-ports", default="", help="MQTT-over-WebSocket server ports (ws://)")
    p.add_argument("--wss-ports", default="", help="MQTT-over-WebSocket-over-TLS server ports (wss://)")
    p.add_argument("--midstream", action="store_true",
                   help="keep TCP streams whose SYN is not in the capture (it starts mid-stream)")
    p.add_argument("--findings", default="")
    p.add_argument("--strict", action="store_true",
                   help="also check that server-side causes show the server's close first (see strict_problems)")
    p.add_argument("--rule", action="append", default=[])
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ports = [int(x) for x in a.ports.split(",") if x]
    tls_ports = [int(x) for x in a.tls_ports.split(",") if x]
    ws_ports = [int(x) for x in a.ws_ports.split(",") if x]
    wss_ports = [int(x) for x in a.wss_ports.split(",") if x]
    keylog = os.path.join(a.dir, a.keylog) if a.keylog else None
    path = os.path.join(a.dir, a.capture)
    tmp = None
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*")))
        tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
        subprocess.run(["mergecap", "-F", "pcap", "-w", tmp.name] + files, check=True)
        path = tmp.name
    conns = analyse(path, ports, tls_ports, keylog, ws_ports, wss_ports, a.midstream)
    if tmp:
        os.unlink(tmp.name)
    seen = collections.Counter(c["client"] for c in conns)
    reused = [k for k, n in seen.items() if n > 1]
    if reused:  # tests key connections by client endpoint; a reused 4-tuple would be ambiguous
        raise SystemExit("%s: client endpoint reused: %s" % (a.capture, ", ".join(reused)))
    rules = [r.split("|", 5) for r in a.rule]
    out = []
    for c in conns:
        for key, cause, layer, side, code, note in rules:
            if c["stream"] in select(key, conns):
                break
        else:
            raise SystemExit("%s: no rule for connection %s id=%s" % (a.capture, c["client"], c["client_id"]))
        sport = int(c["server"].rsplit(":", 1)[1])
        c["tls"] = sport in tls_ports or sport in wss_ports
        c["ws"] = "ws" if sport in ws_ports else "wss" if sport in wss_ports else None
        check(a.capture, c, cause, side, a.strict)
        v = collections.OrderedDict([("client", c["client"]), ("server", c["server"]),
                                     ("client_id", c["client_id"])])
        if c["ws"]:
            v["transport"] = c["ws"]
        elif c["tls"]:
            v["transport"] = "tls"
        v.update([("cause", cause), ("layer", nul(layer)), ("side", nul(side)), ("code", code_of(code, c)),
                  ("note", (note + " | " if note else "") + "tshark: " + facts(c))])
        out.append(v)
        print("  %-24s %-22s %-22s %-14s %-9s %-9s %-5s %s" % (
            a.capture[:24], c["client"], c["client_id"], cause, layer, side, out[-1]["code"], facts(c)),
            file=sys.stderr)
    doc = collections.OrderedDict([
        ("capture", a.capture), ("scenario", a.scenario), ("vantage", a.vantage),
        ("how", a.how + " tshark shows %d TCP connection(s), SYNs at frames %s; each note quotes its frames (fN = frame N)." % (
            len(conns), ", ".join(str(c["syn"] or "none") for c in conns[:12]) + (" ..." if len(conns) > 12 else ""))),
        ("mqtt_ports", ports)] + ([("tls_ports", tls_ports), ("keylog", a.keylog)] if tls_ports else []) +
        ([("ws_ports", ws_ports)] if ws_ports else []) + ([("wss_ports", wss_ports)] if wss_ports else []) +
        ([("keylog", a.keylog)] if wss_ports and a.keylog and not tls_ports else []) + [
        ("connections", out),
        ("findings", [f for f in a.findings.split(",") if f])])
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
