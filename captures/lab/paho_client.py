#!/usr/bin/python3
"""paho-mqtt clients for the capture lab (1.6 API; on paho 2.x through CallbackAPIVersion.VERSION1).

  clean5 HOST ID     MQTT 5: connect (keepalive 2), subscribe, idle 5 s so PINGREQs
                     flow, then DISCONNECT with reason 0x04 (disconnect with will).
  chatty HOST ID S   MQTT 3.1.1: publish every 0.3 s for S seconds; paho's network thread
                     (loop_start) reconnects by itself whenever the connection is lost.
  grow HOST ID N     MQTT 5: publish messages of growing size until the broker drops
                     the connection (its max_packet_size), then reconnect with a new
                     connection and start again; N connections in all.
  hold HOST ID KA S [USER PASS]
                     MQTT 3.1.1: connect (keepalive KA, optional credentials), subscribe to
                     a topic nobody publishes on, keep the connection up (PINGREQs) for S
                     seconds, then exit without DISCONNECT (to be stopped, killed or refused
                     before that).
"""
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCodes


def new_client(cid, protocol):
    """paho-mqtt 2.x wants the callback API version first; 1.x does not know it."""
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=cid, protocol=protocol)
    return mqtt.Client(client_id=cid, protocol=protocol)


def log(*a):
    print("%.3f" % time.time(), *a, flush=True)


def pump(c, secs, stop=lambda: False):
    end = time.time() + secs
    while time.time() < end and not stop():
        c.loop(timeout=0.05)


def clean5(host, cid):
    c = new_client(cid, mqtt.MQTTv5)
    c.will_set("lab/will/" + cid, b"gone", qos=0)
    c.connect(host, 1883, keepalive=2, clean_start=True)
    c.subscribe("lab/#", qos=1)
    pump(c, 5.5)
    c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, identifier=4))
    pump(c, 0.5)
    log("clean5 done")


def grow(host, cid, n):
    for cycle in range(int(n)):
        state = {"gone": False}

        def on_disconnect(client, userdata, rc, properties=None):
            state["gone"] = True
            log("disconnected", rc)

        c = new_client(cid, mqtt.MQTTv5)
        c.on_disconnect = on_disconnect
        c.connect(host, 1883, keepalive=10, clean_start=True)
        pump(c, 0.3)
        sent = 0
        for k in range(200):
            if state["gone"]:
                break
            c.publish("lab/grow/" + cid, b"r" * (40 * (k + 1)), qos=1)
            sent += 1
            pump(c, 0.05, lambda: state["gone"])
        log("cycle", cycle, "messages sent", sent)
        pump(c, 1.0, lambda: state["gone"])
        time.sleep(0.5)


def chatty(host, cid, secs):
    c = new_client(cid, mqtt.MQTTv311)
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    c.on_connect = lambda cl, u, f, rc: log("connected", rc)
    c.on_disconnect = lambda cl, u, rc: log("disconnected", rc)
    c.connect(host, 1883, keepalive=10)
    c.loop_start()
    end, k = time.time() + float(secs), 0
    while time.time() < end:
        c.publish("lab/chatty/" + cid, b"reading %d" % k, qos=0)
        k += 1
        time.sleep(0.3)
    c.loop_stop()


def hold(host, cid, ka, secs, user=None, password=None):
    c = new_client(cid, mqtt.MQTTv311)
    c.on_connect = lambda cl, u, f, rc: log("connected", rc)
    c.on_disconnect = lambda cl, u, rc: log("disconnected", rc)
    if user:
        c.username_pw_set(user, password)
    c.connect(host, 1883, keepalive=int(ka))
    c.subscribe("lab/quiet/" + cid, qos=0)
    pump(c, float(secs))
    log("hold done")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"clean5": clean5, "grow": grow, "chatty": chatty, "hold": hold}[mode](*args)
