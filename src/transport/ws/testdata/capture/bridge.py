# WebSocket front for a TCP MQTT broker: each WebSocket connection (subprotocol mqtt) is
# relayed to mosquitto on 127.0.0.1:18831; binary messages carry the MQTT bytes both ways.
import asyncio, websockets
async def relay(ws):
    r, w = await asyncio.open_connection("127.0.0.1", 18831)
    async def up():
        async for m in ws:
            w.write(m); await w.drain()
        w.close()
    async def down():
        while (b := await r.read(65536)):
            await ws.send(b)
        await ws.close(1000, "broker closed")
    await asyncio.gather(up(), down(), return_exceptions=True)
async def main():
    async with websockets.serve(relay, "127.0.0.1", 19001, subprotocols=["mqtt"]):
        await asyncio.sleep(40)
asyncio.run(main())
