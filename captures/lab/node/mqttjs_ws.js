// MQTT.js over WebSocket (ws:// or wss://) for the capture lab.
//
//   node mqttjs_ws.js URL ID VER(4|5) MODE [CAFILE KEYLOG]
//   URL      ws://10.77.2.2:8080/mqtt or wss://10.77.2.2:8443/mqtt
//   MODE clean:   keepalive 2, subscribe, publish twice, idle 5 s (PINGREQs), end() (DISCONNECT)
//        stalled: keepalive 3, connect, then block the event loop for 60 s (no reads, no
//                 writes, no PINGREQ, no pong), so the broker closes it
//        hold:    keepalive 5, subscribe to a topic nobody publishes on, then wait (to be
//                 SIGKILLed or taken over)
//        force:   keepalive 5, connect, then end(true) 1 s later: close without DISCONNECT
//        quick:   keepalive 5, connect, publish once, end() 1 s later (DISCONNECT)
//        refused: keepalive 5, expect the upgrade to be refused; exit when MQTT.js gives up
//   wss: CAFILE is the CA to trust; the TLS secrets go to KEYLOG through the https.Agent's
//   'keylog' event (the agent that ws uses for the connection).
'use strict';
const fs = require('fs');
const https = require('https');
const mqtt = require('mqtt');

const [url, id, ver, mode, cafile, keylog] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a) => console.log(((Date.now() - t0) / 1000).toFixed(3), ...a);

const opts = {
  clientId: id,
  protocolVersion: Number(ver),
  keepalive: { clean: 2, stalled: 3 }[mode] || 5,
  reconnectPeriod: 0,
  connectTimeout: 5000,
  clean: true,
};
if (url.startsWith('wss:')) {
  const agent = new https.Agent({ ca: fs.readFileSync(cafile), keepAlive: false });
  agent.on('keylog', (line) => fs.appendFileSync(keylog, line));
  opts.ca = fs.readFileSync(cafile);
  opts.wsOptions = { agent };
}
const client = mqtt.connect(url, opts);
client.on('error', (e) => log('error', e.message));
client.on('close', () => { log('close'); if (mode === 'refused') setTimeout(() => process.exit(0), 200); });
client.on('connect', () => {
  log('connected');
  if (mode === 'stalled') {
    setTimeout(() => {
      log('blocking the event loop for 60 s');
      const end = Date.now() + 60000;
      while (Date.now() < end) { /* stalled: no reads, no writes, no PINGREQ, no pong */ }
      process.exit(0);
    }, 500);
    return;
  }
  if (mode === 'hold') {
    client.subscribe('lab/quiet/' + id, { qos: 0 });
    return;
  }
  if (mode === 'force' || mode === 'quick') {
    if (mode === 'quick') client.publish('lab/mqttjs/' + id, 'hello', { qos: 0 });
    setTimeout(() => client.end(mode === 'force', () => { log('ended', mode); setTimeout(() => process.exit(0), 300); }), 1000);
    return;
  }
  client.subscribe('lab/#', { qos: 1 });
  client.publish('lab/mqttjs/' + id, 'hello over websocket', { qos: 1 });
  client.publish('lab/mqttjs/' + id, 'x'.repeat(100), { qos: 0 });
  setTimeout(() => client.end(false, () => { log('ended'); setTimeout(() => process.exit(0), 300); }), 5000);
});
setTimeout(() => { log('timeout'); process.exit(mode === 'hold' ? 0 : 1); }, 40000);
