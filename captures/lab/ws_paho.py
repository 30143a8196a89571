#!/usr/bin/python3
"""paho-mqtt (Debian's python3-paho-mqtt 1.6) over WebSocket for the capture lab.

  ws_paho.py MODE TRANSPORT HOST PORT ID VER [--path P] [--cafile F --keylog F] [--auth U:P]
  TRANSPORT ws | wss | tcp (tcp: the same client over plain MQTT, for the twin captures)
  MODE clean:   keepalive 2, subscribe, publish twice, idle 5 s so PINGREQs flow, then
                disconnect() (DISCONNECT; 5.0: reason 0x00)
       hold:    keepalive 5, subscribe to a topic nobody publishes on, then keep the loop
                running for up to 40 s or until the broker closes the connection (to be
                SIGKILLed, SIGSTOPped or taken over)
       refused: try to connect once (the upgrade is expected to be refused) and report
wss: an SSLContext with keylog_filename is handed to paho (tls_set_context), as in
paho_tls.py; paho's own tls_set() has no key log option.
"""
import argparse
import base64
import ssl
import sys
import time

import paho.mqtt.client as mqtt

T0 = time.time()


def say(*a):
    print("%.3f" % (time.time() - T0), *a, flush=True)


GONE = []


def pump(c, secs):
    end = time.time() + secs
    while time.time() < end and not GONE:
        c.loop(timeout=0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["clean", "hold", "refused"])
    p.add_argument("transport", choices=["ws", "wss", "tcp"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("id")
    p.add_argument("ver", choices=["4", "5"])
    p.add_argument("--path", default="/mqtt")
    p.add_argument("--cafile")
    p.add_argument("--keylog")
    p.add_argument("--auth")
    a = p.parse_args()
    proto = mqtt.MQTTv5 if a.ver == "5" else mqtt.MQTTv311
    kw = {"client_id": a.id, "protocol": proto, "transport": "tcp" if a.transport == "tcp" else "websockets"}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kw) if hasattr(mqtt, "CallbackAPIVersion") else mqtt.Client(**kw)
    if a.transport != "tcp":
        headers = {"Authorization": "Basic " + base64.b64encode(a.auth.encode()).decode()} if a.auth else None
        c.ws_set_options(path=a.path, headers=headers)
    if a.transport == "wss":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(a.cafile)
        ctx.keylog_filename = a.keylog
        c.tls_set_context(ctx)
    c.on_connect = lambda cl, ud, fl, rc, props=None: say("connack", rc)
    def on_disconnect(cl, ud, rc, props=None):
        say("disconnected", rc)
        GONE.append(rc)
    c.on_disconnect = on_disconnect
    ka = 2 if a.mode == "clean" else 5
    try:
        if proto == mqtt.MQTTv5:
            c.connect(a.host, a.port, keepalive=ka, clean_start=True)
        else:
            c.connect(a.host, a.port, keepalive=ka)
    except Exception as e:  # paho raises WebsocketConnectionError for a refused upgrade
        say("connect failed:", type(e).__name__, e)
        return 0 if a.mode == "refused" else 1
    if a.mode == "refused":
        pump(c, 1.0)
        say("unexpectedly connected")
        return 1
    if a.mode == "hold":
        pump(c, 0.3)
        c.subscribe("lab/quiet/" + a.id, qos=0)
        pump(c, 40.0)
        return 0
    c.subscribe("lab/#", qos=1)
    pump(c, 0.5)
    c.publish("lab/paho/" + a.id, b"hello over websocket", qos=1)
    c.publish("lab/paho/" + a.id, b"x" * 100, qos=0)
    pump(c, 5.0)
    c.disconnect()
    pump(c, 0.5)
    say("clean done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
