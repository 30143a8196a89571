#!/usr/bin/python3
"""A small raw MQTT-over-WebSocket client for the capture lab (one connection, one thread).

Plain sockets (and ssl for wss): it does the HTTP upgrade itself, masks its frames as a
client must, and does what MQTT libraries will not: end with a WebSocket Close and no MQTT
DISCONNECT, split MQTT packets across WebSocket frames or put several in one frame, go
silent without answering the server's WebSocket pings, ask for an upgrade the server
refuses.  --transport tcp speaks the same plans over plain MQTT/TCP (the WebSocket steps
become no-ops or a plain FIN), for the ws-tcp-twin captures.

Plan steps (comma-separated); the upgrade (ws, wss) happens before the first step:
  connect            CONNECT in one binary frame, wait for CONNACK (a refusal ends the plan)
  connect-split:N    CONNECT cut into N binary frames (N complete WebSocket messages, FIN set)
  connect-frag:N     CONNECT as one fragmented WebSocket message: N frames (binary, FIN
                     clear; continuation...; continuation with FIN)
  multi              SUBSCRIBE, PUBLISH QoS 1, PUBLISH QoS 0 and PINGREQ in one binary frame
  ping:S             S seconds of PINGREQ every keepalive (gives up if no PINGRESP in one keepalive)
  silent:S           send nothing for S seconds, just read (pings answered unless --no-pong)
  pub:N:GAP:SIZE:QOS publish N messages GAP seconds apart
  wsping             a WebSocket ping; wait up to 2 s for the pong
  sleep:S            sleep S seconds (not reading)
  disconnect         DISCONNECT, then WebSocket Close 1000, wait (<= 2 s) for the server's
                     Close, then FIN
  disconnect-split   DISCONNECT cut into two one-byte frames, then Close 1000 as above
  disconnect-fin     DISCONNECT, then FIN (no Close frame)
  close:CODE         WebSocket Close CODE without DISCONNECT, wait (<= 2 s) for the
                     server's Close, then FIN (tcp: just FIN)
  abort              SO_LINGER 0 (RST)
One line of JSON per event on stdout.
"""
import argparse
import base64
import json
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from mqttc import connect_packet, disconnect_packet, publish_packet, packet, mqtt_str, PINGREQ, NAMES  # noqa: E402

T0 = time.time()


def log(**kw):
    kw["t"] = round(time.time() - T0, 3)
    print(json.dumps(kw), flush=True)


class Closed(Exception):
    pass


def subscribe_packet(pid, topic, qos):
    return packet(0x82, struct.pack("!H", pid) + mqtt_str(topic) + bytes([qos]))


class Client:
    def __init__(self, a):
        self.a = a
        self.ws = a.transport in ("ws", "wss")
        self.buf = b""       # unparsed WebSocket bytes from the server
        self.mbuf = b""      # MQTT bytes from the server (binary and continuation payloads)
        self.sent_close = False
        self.got_close = None
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(10)
        raw.connect((a.host, a.port))
        self.port = raw.getsockname()[1]
        self.s = raw
        log(id=a.id, port=self.port, event="tcp_connected")
        if a.transport == "wss":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(a.cafile)
            if a.keylog:
                ctx.keylog_filename = a.keylog
            self.s = ctx.wrap_socket(raw, server_hostname=a.host)
            log(id=a.id, port=self.port, event="tls_established", version=self.s.version())
        if self.ws:
            self.upgrade()

    # ------------------------------------------------------------------ WebSocket
    def upgrade(self):
        a = self.a
        key = base64.b64encode(os.urandom(16)).decode()
        hdr = ["GET %s HTTP/1.1" % a.path, "Host: %s:%d" % (a.host, a.port), "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: %d" % a.ws_version]
        if a.subprotocol:
            hdr.append("Sec-WebSocket-Protocol: " + a.subprotocol)
        if a.auth:
            hdr.append("Authorization: Basic " + base64.b64encode(a.auth.encode()).decode())
        self.s.sendall(("\r\n".join(hdr) + "\r\n\r\n").encode())
        end = time.time() + 10
        while b"\r\n\r\n" not in self.buf:
            if time.time() > end:
                log(id=a.id, port=self.port, event="upgrade_timeout")
                raise Closed()
            self.s.settimeout(max(0.1, end - time.time()))
            data = self.s.recv(65536)
            if not data:
                log(id=a.id, port=self.port, event="peer_closed_during_upgrade")
                raise Closed()
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        proto = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                 if l.lower().startswith(b"sec-websocket-protocol:")]
        log(id=a.id, port=self.port, event="upgrade", status=status, subprotocol=proto[0] if proto else None)
        if status != 101:
            self.refused = status
            raise Closed()

    def frame(self, opcode, payload, fin=True):
        """One client frame: always masked (RFC 6455 5.3)."""
        mask = os.urandom(4)
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            h = bytes([b0, 0x80 | n])
        elif n < 65536:
            h = bytes([b0, 0x80 | 126]) + struct.pack("!H", n)
        else:
            h = bytes([b0, 0x80 | 127]) + struct.pack("!Q", n)
        return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send_raw(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            log(id=self.a.id, port=self.port, event="send_error", error=str(e))
            raise Closed()

    def send_mqtt(self, data, pieces=1, frag=False):
        """MQTT bytes in one binary frame, in `pieces` frames (frag: as one fragmented
        message), each frame its own TCP segment (sent 20 ms apart)."""
        if not self.ws:
            return self.send_raw(data)
        if pieces <= 1:
            return self.send_raw(self.frame(2, data))
        cuts = [len(data) * k // pieces for k in range(pieces + 1)]
        for k in range(pieces):
            part = data[cuts[k]:cuts[k + 1]]
            op = 2 if (k == 0 or not frag) else 0
            fin = (not frag) or k == pieces - 1
            self.send_raw(self.frame(op, part, fin))
            time.sleep(0.02)

    def send_close(self, code):
        self.sent_close = True
        self.send_raw(self.frame(8, struct.pack("!H", code) if code else b""))
        log(id=self.a.id, port=self.port, event="sent_close", code=code)

    def ws_frames(self):
        """Complete server frames from self.buf: (fin, opcode, payload)."""
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, i = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, i = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, i = struct.unpack("!Q", self.buf[2:10])[0], 10
            if b1 & 0x80:  # a server must not mask; unmask anyway
                mask, i = self.buf[i:i + 4], i + 4
            else:
                mask = None
            if len(self.buf) < i + n:
                return
            payload = self.buf[i:i + n]
            if mask:
                payload = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
            self.buf = self.buf[i + n:]
            yield bool(b0 & 0x80), b0 & 0x0F, payload

    # ------------------------------------------------------------------ reading
    def mqtt_packets(self):
        while len(self.mbuf) >= 2:
            mult, length, i = 1, 0, 1
            while i < len(self.mbuf):
                length += (self.mbuf[i] & 0x7F) * mult
                mult *= 128
                i += 1
                if not self.mbuf[i - 1] & 0x80:
                    break
            else:
                return
            if len(self.mbuf) < i + length:
                return
            ptype, body = self.mbuf[0] >> 4, self.mbuf[i:i + length]
            self.mbuf = self.mbuf[i + length:]
            yield ptype, body

    def read_for(self, secs, want=None):
        """Read for up to secs seconds; True as soon as an MQTT packet of type want (or, for
        want='pong'/'close', that WebSocket frame) arrives. Raises Closed when the peer closes."""
        end = time.time() + secs
        while True:
            hit = False
            if self.ws:
                for fin, op, payload in self.ws_frames():
                    if op in (0, 1, 2):
                        self.mbuf += payload
                    elif op == 9:
                        log(id=self.a.id, port=self.port, event="ws_ping", answered=not self.a.no_pong)
                        if not self.a.no_pong:
                            self.send_raw(self.frame(10, payload))
                    elif op == 10:
                        log(id=self.a.id, port=self.port, event="ws_pong")
                        hit = hit or want == "pong"
                    elif op == 8:
                        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                        self.got_close = code
                        log(id=self.a.id, port=self.port, event="ws_close", code=code,
                            reason=payload[2:].decode(errors="replace"))
                        if not self.sent_close:  # answer the server's Close, as RFC 6455 asks
                            self.send_close(code)
                        hit = hit or want == "close"
            else:
                self.mbuf += self.buf
                self.buf = b""
            for ptype, body in self.mqtt_packets():
                ev = {"id": self.a.id, "port": self.port, "event": NAMES.get(ptype, str(ptype))}
                if ptype == 2:
                    self.connack_rc = ev["rc"] = body[1]
                if ptype == 14 and body:
                    ev["rc"] = body[0]
                log(**ev)
                hit = hit or ptype == want
            if hit:
                return True
            if self.got_close is not None and want != "close":
                raise Closed()
            left = end - time.time()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                return False
            except (ssl.SSLError, OSError) as e:
                log(id=self.a.id, port=self.port, event="recv_error", error=str(e))
                raise Closed()
            if not data:
                log(id=self.a.id, port=self.port, event="peer_closed")
                raise Closed()
            self.buf += data

    # ------------------------------------------------------------------ steps
    def _connect(self, pieces, frag):
        a = self.a
        self.connack_rc = None
        self.send_mqtt(connect_packet(a.ver, a.id, a.ka, True, None, None), pieces, frag)
        self.read_for(10, 2)
        return self.connack_rc == 0

    def step_connect(self):
        return self._connect(1, False)

    def step_connect_split(self, n):
        return self._connect(int(n), False)

    def step_connect_frag(self, n):
        return self._connect(int(n), True)

    def step_multi(self):
        v = self.a.ver
        data = (subscribe_packet(1, "lab/multi/" + self.a.id, 1) if v == 4 else
                packet(0x82, struct.pack("!H", 1) + b"\x00" + mqtt_str("lab/multi/" + self.a.id) + b"\x01"))
        data += publish_packet(v, "lab/multi/" + self.a.id, b"one frame, four packets", 1, 2)
        data += publish_packet(v, "lab/multi/" + self.a.id, b"qos 0", 0, 0)
        data += PINGREQ
        self.send_mqtt(data)
        log(id=self.a.id, port=self.port, event="sent_multi", bytes=len(data))
        self.read_for(2, 13)
        return True

    def step_ping(self, secs):
        end = time.time() + float(secs)
        while time.time() < end:
            self.read_for(min(self.a.ka, end - time.time()))
            if time.time() >= end:
                break
            self.send_mqtt(PINGREQ)
            if not self.read_for(self.a.ka, 13):
                log(id=self.a.id, port=self.port, event="no_pingresp_giving_up")
                return False
        return True

    def step_silent(self, secs):
        self.read_for(float(secs))
        return True

    def step_sleep(self, secs):
        time.sleep(float(secs))
        return True

    def step_pub(self, n, gap, size, qos):
        for k in range(int(n)):
            payload = (b"m%05d-" % k).ljust(int(size), b"x")
            self.send_mqtt(publish_packet(self.a.ver, "lab/" + self.a.id, payload, int(qos), k + 1))
            self.read_for(float(gap))
        return True

    def step_wsping(self):
        if self.ws:
            self.send_raw(self.frame(9, b"lab"))
            log(id=self.a.id, port=self.port, event="sent_ws_ping")
            self.read_for(2, "pong")
        return True

    def _finish_close(self, code):
        if self.ws:
            self.send_close(code)
            try:
                self.read_for(2, "close")
            except Closed:
                pass
        return self.step_fin()

    def step_disconnect(self):
        self.send_mqtt(disconnect_packet(self.a.ver, 0))
        log(id=self.a.id, port=self.port, event="sent_disconnect")
        return self._finish_close(1000)

    def step_disconnect_split(self):
        self.send_mqtt(disconnect_packet(self.a.ver, 0), 2)
        log(id=self.a.id, port=self.port, event="sent_disconnect_split")
        return self._finish_close(1000)

    def step_disconnect_fin(self):
        self.send_mqtt(disconnect_packet(self.a.ver, 0))
        log(id=self.a.id, port=self.port, event="sent_disconnect")
        return self.step_fin()

    def step_close(self, code):
        return self._finish_close(int(code))

    def step_fin(self):
        try:
            self.s.close()
        except OSError:
            pass
        log(id=self.a.id, port=self.port, event="closed")
        return False

    def step_abort(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()
        log(id=self.a.id, port=self.port, event="aborted")
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=["ws", "wss", "tcp"], default="ws")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--path", default="/mqtt")
    p.add_argument("--subprotocol", default="mqtt", help="Sec-WebSocket-Protocol ('' for none)")
    p.add_argument("--auth", help="USER:PASS for Authorization: Basic")
    p.add_argument("--ws-version", type=int, default=13, help="Sec-WebSocket-Version to ask for")
    p.add_argument("--id", default="lab")
    p.add_argument("--ver", type=int, default=4)
    p.add_argument("--ka", type=int, default=10)
    p.add_argument("--cafile")
    p.add_argument("--keylog")
    p.add_argument("--no-pong", action="store_true", help="do not answer the server's WebSocket pings")
    p.add_argument("--plan", default="connect,ping:5,disconnect")
    a = p.parse_args()
    try:
        c = Client(a)
    except Closed:
        return 0
    except OSError as e:
        log(id=a.id, event="connect_error", error=str(e))
        return 0
    try:
        for step in a.plan.split(","):
            name, *args = step.split(":")
            if not getattr(c, "step_" + name.replace("-", "_"))(*args):
                break
        if c.s.fileno() != -1:  # plan done, refused, or gave up: FIN
            c.step_fin()
    except Closed:
        try:
            c.s.close()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
