# An MQTT 3.1.1 client written by hand over the websockets library, which offers and here
# gets permessage-deflate (context takeover): CONNECT, SUBSCRIBE, PUBLISH twice, PINGREQ, a
# WebSocket ping, DISCONNECT, Close 1000.
import asyncio, websockets
def s(x): return len(x).to_bytes(2, "big") + x
def rl(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def pkt(h, body): return bytes([h]) + rl(len(body)) + body
async def main():
    async with websockets.connect("ws://127.0.0.1:19001/mqtt", subprotocols=["mqtt"]) as ws:
        await ws.send(pkt(0x10, s(b"MQTT") + b"\x04\x02\x00\x3c" + s(b"dropscope-deflate")))
        print(await ws.recv())
        await ws.send(pkt(0x82, b"\x00\x01" + s(b"t/deflate") + b"\x01"))
        print(await ws.recv())
        body = b"temperature=21.5;humidity=40;" * 20
        await ws.send(pkt(0x30, s(b"t/deflate") + body))
        await ws.send(pkt(0x30, s(b"t/deflate") + body))
        await asyncio.sleep(0.3)
        await ws.send(b"\xc0\x00")
        await (await ws.ping(b"keepalive"))
        await asyncio.sleep(0.3)
        await ws.send(b"\xe0\x00")
        await asyncio.sleep(0.2)
asyncio.run(main())
