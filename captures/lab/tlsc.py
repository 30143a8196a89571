#!/usr/bin/python3
"""A small raw MQTT-over-TLS client for the capture lab (one connection, one thread).

It writes its TLS secrets to --keylog (NSS key log format, SSLContext.keylog_filename) so
tshark can decrypt the capture, and does the few things mosquitto_pub/sub will not: go
silent, a PINGREQ every 2 s, DISCONNECT followed by an abortive close, a forced TLS version.

Plan steps (comma-separated):
  connect            TLS handshake, CONNECT, wait for CONNACK (a refusal ends the plan)
  ping:S             S seconds of PINGREQ every keepalive (gives up if no PINGRESP in one keepalive)
  silent:S           send nothing for S seconds, just read
  pub:N:GAP:SIZE:QOS publish N messages GAP seconds apart
  sleep:S            sleep S seconds
  disconnect         DISCONNECT, then close_notify and FIN
  disconnect-abort   DISCONNECT, then close at once with SO_LINGER 0 (RST, no close_notify)
  close              close_notify, then FIN (no DISCONNECT)
  abort              SO_LINGER 0 (RST), no DISCONNECT, no close_notify
One line of JSON per event on stdout.
"""
import argparse
import json
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from mqttc import connect_packet, disconnect_packet, publish_packet, PINGREQ, NAMES  # noqa: E402

T0 = time.time()


def log(**kw):
    kw["t"] = round(time.time() - T0, 3)
    print(json.dumps(kw), flush=True)


class Closed(Exception):
    pass


class Client:
    def __init__(self, a):
        self.a = a
        self.buf = b""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(a.cafile)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
        if a.tls_max:
            ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[a.tls_max]
        if a.tls_min:
            ctx.minimum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[a.tls_min]
        if a.keylog:
            ctx.keylog_filename = a.keylog
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if a.bind_port:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            raw.bind(("0.0.0.0", a.bind_port))
        raw.settimeout(10)
        raw.connect((a.host, a.port))
        self.port = raw.getsockname()[1]
        log(id=a.id, port=self.port, event="tcp_connected")
        try:
            self.s = ctx.wrap_socket(raw, server_hostname=a.sni or a.host)
        except (ssl.SSLError, OSError) as e:
            log(id=a.id, port=self.port, event="tls_handshake_failed", error=str(e))
            raw.close()
            raise Closed()
        log(id=a.id, port=self.port, event="tls_established", version=self.s.version(), cipher=self.s.cipher()[0])

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            log(id=self.a.id, port=self.port, event="send_error", error=str(e))
            raise Closed()

    def read_for(self, secs, want=None):
        """Read packets for up to secs seconds; return True as soon as a packet of type want
        arrives. Raises Closed if the peer closes."""
        end = time.time() + secs
        while True:
            while len(self.buf) >= 2:
                mult, length, i = 1, 0, 1
                while i < len(self.buf):
                    length += (self.buf[i] & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not self.buf[i - 1] & 0x80:
                        break
                else:
                    break
                if len(self.buf) < i + length:
                    break
                ptype, body = self.buf[0] >> 4, self.buf[i:i + length]
                self.buf = self.buf[i + length:]
                ev = {"id": self.a.id, "port": self.port, "event": NAMES.get(ptype, str(ptype))}
                if ptype == 2:
                    self.connack_rc = ev["rc"] = body[1]
                if ptype == 14 and body:
                    ev["rc"] = body[0]
                log(**ev)
                if ptype == want:
                    return True
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

    def step_connect(self):
        a = self.a
        self.connack_rc = None
        self.send(connect_packet(a.ver, a.id, a.ka, True, a.user, a.password))
        self.read_for(10, 2)
        return self.connack_rc == 0

    def step_ping(self, secs):
        end = time.time() + float(secs)
        while time.time() < end:
            self.read_for(min(self.a.ka, end - time.time()))
            if time.time() >= end:
                break
            self.send(PINGREQ)
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
            self.send(publish_packet(self.a.ver, "lab/" + self.a.id, payload, int(qos), k + 1))
            self.read_for(float(gap))
        return True

    def _close_notify(self):
        try:
            self.s.settimeout(1.0)
            self.s.unwrap()     # sends close_notify; waits (bounded) for the peer's
        except (ssl.SSLError, OSError, ValueError) as e:
            log(id=self.a.id, port=self.port, event="unwrap", error=str(e))

    def step_disconnect(self):
        self.send(disconnect_packet(self.a.ver, 0))
        log(id=self.a.id, port=self.port, event="sent_disconnect")
        return self.step_close()

    def step_close(self):
        self._close_notify()
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

    def step_disconnect_abort(self):
        self.send(disconnect_packet(self.a.ver, 0))
        log(id=self.a.id, port=self.port, event="sent_disconnect")
        return self.step_abort()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--sni")
    p.add_argument("--id", default="lab")
    p.add_argument("--ver", type=int, default=4)
    p.add_argument("--ka", type=int, default=10)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--cafile", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--tls-max", choices=["1.2", "1.3"])
    p.add_argument("--tls-min", choices=["1.2", "1.3"])
    p.add_argument("--keylog")
    p.add_argument("--bind-port", type=int, default=0)
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
        if c.s.fileno() != -1:  # plan done, refused, or gave up: close_notify and FIN
            c.step_close()
    except Closed:
        try:
            c.s.close()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
