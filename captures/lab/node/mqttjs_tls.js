// MQTT.js over TLS for the capture lab, writing the TLS secrets of its socket to a key log
// (the TLSSocket 'keylog' event gives NSS key log lines).
//
//   node mqttjs_tls.js HOST ID CAFILE KEYLOG VER(4|5) MODE
//   MODE clean:   keepalive 2, subscribe, publish twice, idle 5 s (PINGREQs), end() (DISCONNECT)
//   MODE stalled: keepalive 3, connect, then the process stops reading and writing
//                 (the event loop is blocked), so the broker closes it for keepalive
'use strict';
const fs = require('fs');
const tls = require('tls');
const mqtt = require('mqtt');

const [host, id, cafile, keylog, ver, mode] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a) => console.log(((Date.now() - t0) / 1000).toFixed(3), ...a);

const streamBuilder = () => {
  const sock = tls.connect({ host, port: 8883, ca: fs.readFileSync(cafile), servername: host });
  sock.on('keylog', (line) => fs.appendFileSync(keylog, line));
  return sock;
};
const client = new mqtt.MqttClient(streamBuilder, {
  clientId: id,
  protocolVersion: Number(ver),
  keepalive: mode === 'stalled' ? 3 : 2,
  reconnectPeriod: 0,
  clean: true,
});
client.on('error', (e) => log('error', e.message));
client.on('close', () => log('close'));
client.on('connect', () => {
  log('connected');
  if (mode === 'stalled') {
    setTimeout(() => {
      log('blocking the event loop for 20 s');
      const end = Date.now() + 20000;
      while (Date.now() < end) { /* stalled: no reads, no writes, no PINGREQ */ }
      process.exit(0);
    }, 500);
    return;
  }
  client.subscribe('lab/#', { qos: 1 });
  client.publish('lab/mqttjs/' + id, 'hello over tls', { qos: 1 });
  client.publish('lab/mqttjs/' + id, 'x'.repeat(100), { qos: 0 });
  setTimeout(() => client.end(false, () => { log('ended'); setTimeout(() => process.exit(0), 300); }), 5000);
});
setTimeout(() => { log('timeout'); process.exit(1); }, 40000);
