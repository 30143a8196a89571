#!/usr/bin/python3
"""A small raw-socket MQTT client for the capture lab.

It speaks just enough MQTT 3.1.1 and 5.0 to misbehave on purpose: PINGREQ before
CONNECT, a second CONNECT, silence after CONNECT, an abortive close (SO_LINGER 0),
a client that gives up when PINGRESP does not come.  Every byte goes through the
kernel's TCP stack; nothing is forged.

Each connection runs a plan, a comma-separated list of steps:
  connect            send CONNECT, wait for CONNACK (a refusal ends the plan)
  pingreq            send a PINGREQ now (before CONNECT if placed first)
  connect2           send another CONNECT on the same connection
  ping:S             keep the connection alive for S seconds (PINGREQ every keepalive);
                     gives up and closes if no PINGRESP arrives within one keepalive
  silent:S           send nothing for S seconds, just read
  pub:N:GAP:SIZE:QOS publish N messages, GAP seconds apart, SIZE payload bytes
  raw:HEX            send these bytes as they are (a malformed packet)
  sleep:S            sleep S seconds
  disconnect[:RC]    send DISCONNECT (RC is the v5 reason code), then close
  close              close the socket (FIN)
  abort              close with SO_LINGER 0 (RST)
If the server closes the connection, the plan stops and the socket is closed.
One line of JSON per event goes to stdout, so the lab can tell what happened.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time

T0 = time.time()
LOG_LOCK = threading.Lock()


def log(**kw):
    kw["t"] = round(time.time() - T0, 3)
    with LOG_LOCK:
        print(json.dumps(kw), flush=True)


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def packet(ptype_flags, body):
    return bytes([ptype_flags]) + varint(len(body)) + body


def connect_packet(ver, client_id, ka, clean, user, password):
    flags = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if user is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if user is not None:
        payload += mqtt_str(user)
    if password is not None:
        payload += mqtt_str(password)
    vh = mqtt_str("MQTT") + bytes([ver, flags]) + struct.pack("!H", ka)
    if ver == 5:
        vh += varint(0)  # no properties
    return packet(0x10, vh + payload)


def publish_packet(ver, topic, payload, qos, pid):
    vh = mqtt_str(topic)
    if qos:
        vh += struct.pack("!H", pid)
    if ver == 5:
        vh += varint(0)
    return packet(0x30 | (qos << 1), vh + payload)


def disconnect_packet(ver, rc):
    if ver == 5:
        return packet(0xE0, bytes([rc, 0]))
    return packet(0xE0, b"")


PINGREQ = b"\xc0\x00"
NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 9: "SUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}


class Conn:
    def __init__(self, a, client_id, ver, bind_port):
        self.a, self.id, self.ver = a, client_id, ver
        self.closed_by_peer = threading.Event()
        self.connack = threading.Event()
        self.connack_rc = None
        self.pingresp = threading.Event()
        fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if bind_port:
            self.s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", bind_port))
        self.s.settimeout(10)
        self.s.connect((a.host, a.port))
        self.s.settimeout(None)
        self.port = self.s.getsockname()[1]
        log(id=self.id, port=self.port, event="tcp_connected")
        self.reader = threading.Thread(target=self.read_loop, daemon=True)
        self.reader.start()

    def read_loop(self):
        buf = b""
        while True:
            try:
                data = self.s.recv(65536)
            except OSError as e:
                log(id=self.id, port=self.port, event="recv_error", error=str(e))
                self.closed_by_peer.set()
                return
            if not data:
                log(id=self.id, port=self.port, event="peer_closed")
                self.closed_by_peer.set()
                return
            buf += data
            while len(buf) >= 2:
                mult, length, i = 1, 0, 1
                while i < len(buf):
                    length += (buf[i] & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not buf[i - 1] & 0x80:
                        break
                else:
                    break
                if len(buf) < i + length:
                    break
                ptype, body = buf[0] >> 4, buf[i:i + length]
                buf = buf[i + length:]
                self.on_packet(ptype, body)

    def on_packet(self, ptype, body):
        ev = {"id": self.id, "port": self.port, "event": NAMES.get(ptype, str(ptype))}
        if ptype == 2:
            self.connack_rc = body[1]
            ev["rc"] = body[1]
            self.connack.set()
        elif ptype == 13:
            self.pingresp.set()
        elif ptype == 14 and body:
            ev["rc"] = body[0]
        if ptype != 13 or self.a.verbose:
            log(**ev)

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError as e:
            log(id=self.id, port=self.port, event="send_error", error=str(e))
            return False

    def wait_closed(self, secs):
        return self.closed_by_peer.wait(secs)

    # --- plan steps -------------------------------------------------------
    def step_connect(self):
        self.send(connect_packet(self.ver, self.id, self.a.ka, not self.a.persistent,
                                 self.a.user, self.a.password))
        if not self.connack.wait(10) and not self.closed_by_peer.is_set():
            log(id=self.id, port=self.port, event="no_connack")
        return self.connack_rc == 0

    def step_connect2(self):
        self.send(connect_packet(self.ver, self.id, self.a.ka, True, None, None))
        return not self.wait_closed(1.0)

    def step_pingreq(self):
        self.send(PINGREQ)
        return not self.wait_closed(1.0)

    def step_ping(self, secs):
        end = time.time() + float(secs)
        ka = self.a.ka
        while time.time() < end:
            if self.wait_closed(min(ka, max(0.0, end - time.time()))):
                return False
            if time.time() >= end:
                break
            self.pingresp.clear()
            if not self.send(PINGREQ):
                return False
            if not self.pingresp.wait(ka):
                if self.closed_by_peer.is_set():
                    return False
                log(id=self.id, port=self.port, event="no_pingresp_giving_up")
                return False
        return True

    def step_silent(self, secs):
        return not self.wait_closed(float(secs))

    def step_raw(self, hexbytes):
        self.send(bytes.fromhex(hexbytes))
        return not self.wait_closed(1.0)

    def step_sleep(self, secs):
        time.sleep(float(secs))
        return True

    def step_pub(self, n, gap, size, qos):
        for k in range(int(n)):
            if self.closed_by_peer.is_set():
                return False
            payload = (b"m%05d-" % k).ljust(int(size), b"x")
            if not self.send(publish_packet(self.ver, "lab/" + self.id, payload, int(qos), k + 1)):
                return False
            if self.wait_closed(float(gap)):
                return False
        return True

    def step_disconnect(self, rc="0"):
        self.send(disconnect_packet(self.ver, int(rc)))
        log(id=self.id, port=self.port, event="sent_disconnect")
        self.step_close()
        return False

    def step_close(self):
        try:
            self.s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.wait_closed(2.0)
        self.s.close()
        log(id=self.id, port=self.port, event="closed")
        return False

    def step_abort(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()
        log(id=self.id, port=self.port, event="aborted")
        return False

    def run(self, plan):
        for step in plan.split(","):
            name, *args = step.split(":")
            if not getattr(self, "step_" + name)(*args):
                break
        else:
            return
        if self.s.fileno() != -1:
            self.step_close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--id", default="lab")
    p.add_argument("--count", type=int, default=1, help="connections; ids become ID-000, ID-001, ...")
    p.add_argument("--stagger", type=float, default=0.0, help="seconds between connection starts")
    p.add_argument("--ver", default="4", help="4 (3.1.1), 5, or 'mix' (alternate)")
    p.add_argument("--ka", type=int, default=10)
    p.add_argument("--persistent", action="store_true", help="clean session / clean start = 0")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--bind-port", type=int, default=0, help="first local port (connection i uses +i)")
    p.add_argument("--plan", default="connect,ping:5,disconnect")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()

    def one(i):
        cid = a.id if a.count == 1 else "%s-%03d" % (a.id, i)
        ver = (4 if i % 2 == 0 else 5) if a.ver == "mix" else int(a.ver)
        try:
            c = Conn(a, cid, ver, a.bind_port + i if a.bind_port else 0)
        except OSError as e:
            log(id=cid, event="connect_error", error=str(e))
            return
        c.run(a.plan)

    threads = []
    for i in range(a.count):
        t = threading.Thread(target=one, args=(i,))
        t.start()
        threads.append(t)
        if a.stagger:
            time.sleep(a.stagger)
    for t in threads:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
