#!/usr/bin/python3
"""paho-mqtt over TLS for the capture lab, writing its TLS secrets to a key log.

  clean HOST ID CAFILE KEYLOG VER [TLSMAX]
      MQTT VER (4 = 3.1.1, 5 = 5.0) over TLS on 8883 (TLSMAX 1.2 caps the version):
      connect (keepalive 2), subscribe, publish twice, idle 5 s so PINGREQs flow, then
      DISCONNECT (5.0: reason 0x00).

The SSLContext is built here and handed to paho (tls_set_context) so that
SSLContext.keylog_filename can be set; paho's own tls_set() has no key log option.
"""
import ssl
import sys
import time

import paho.mqtt.client as mqtt


def new_client(cid, protocol):
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=cid, protocol=protocol)
    return mqtt.Client(client_id=cid, protocol=protocol)


def pump(c, secs):
    end = time.time() + secs
    while time.time() < end:
        c.loop(timeout=0.05)


def clean(host, cid, cafile, keylog, ver, tlsmax=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.keylog_filename = keylog
    if tlsmax == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    proto = mqtt.MQTTv5 if ver == "5" else mqtt.MQTTv311
    c = new_client(cid, proto)
    c.tls_set_context(ctx)
    if proto == mqtt.MQTTv5:
        c.connect(host, 8883, keepalive=2, clean_start=True)
    else:
        c.connect(host, 8883, keepalive=2)
    c.subscribe("lab/#", qos=1)
    pump(c, 0.5)
    c.publish("lab/paho/" + cid, b"hello over tls", qos=1)
    c.publish("lab/paho/" + cid, b"x" * 100, qos=0)
    pump(c, 5.0)
    c.disconnect()
    pump(c, 0.5)
    print("%.3f clean done" % time.time(), flush=True)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"clean": clean}[mode](*args)
