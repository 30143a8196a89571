// MQTT.js on plain TCP (mqtt://) for the capture lab.
//
//   node mqttjs_tcp.js --url mqtt://10.77.2.2:1883 --id ID --mode MODE
//                      [--ver 3|4|5] [--ka S] [--reconnect MS] [--retry-refused 1]
//                      [--user U --pass P] [--life S]
//
// --ka S          keepalive in seconds; without it MQTT.js's default (60 s) is used
// --reconnect MS  reconnectPeriod; without it MQTT.js's default (1000 ms) is used, so the
//                 client reconnects by itself after every close or refusal
// --retry-refused 1  reconnectOnConnackError: reconnect after a CONNACK refusal too (MQTT.js
//                 5 stops reconnecting after a refusal unless this option is set)
// --life S        the process exits after S seconds (default 40): in reconnect and hold mode
//                 by end(true) (closes without DISCONNECT, stops reconnecting), then exit
// MODE clean:     subscribe, publish twice (QoS 1 and 0), idle 5 s (PINGREQs), end():
//                 DISCONNECT, then exit
//      hold:      subscribe to a topic nobody publishes on, then wait (to be SIGSTOPped,
//                 SIGKILLed, SIGTERMed, taken over, cut off by the network...)
//      reconnect: like hold (every connect, close, offline and reconnect is logged anyway)
//      once:      like hold, but exit 0.3 s after the first close (a refusal, a close by the
//                 broker)
// One line per event on stdout (seconds since start, then what happened).
'use strict';
const mqtt = require('mqtt');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const t0 = Date.now();
const log = (...a) => console.log(((Date.now() - t0) / 1000).toFixed(3), ...a);
const mode = args.mode || 'hold';

const opts = { clientId: args.id, protocolVersion: Number(args.ver || 4), connectTimeout: 5000 };
if (args.ka) opts.keepalive = Number(args.ka);
if (args.reconnect !== undefined) opts.reconnectPeriod = Number(args.reconnect);
if (args['retry-refused']) opts.reconnectOnConnackError = true;
if (args.user) { opts.username = args.user; opts.password = args.pass || ''; }

const client = mqtt.connect(args.url, opts);
client.on('error', (e) => log('error', e.message));
client.on('close', () => { log('close'); if (mode === 'once') setTimeout(() => process.exit(0), 300); });
client.on('offline', () => log('offline'));
client.on('reconnect', () => log('reconnect'));
client.on('disconnect', (p) => log('disconnect from server', p.reasonCode));
client.on('packetsend', (p) => log('sent', p.cmd));
client.on('packetreceive', (p) => log('received', p.cmd, p.returnCode ?? p.reasonCode ?? ''));
client.on('connect', () => {
  log('connected');
  if (mode === 'clean') {
    client.subscribe('lab/#', { qos: 1 });
    client.publish('lab/mqttjs/' + args.id, 'hello', { qos: 1 });
    client.publish('lab/mqttjs/' + args.id, 'x'.repeat(100), { qos: 0 });
    setTimeout(() => client.end(false, () => { log('ended'); setTimeout(() => process.exit(0), 300); }), 5000);
  } else {
    client.subscribe('lab/quiet/' + args.id, { qos: 0 });
  }
});
setTimeout(() => {
  log('life over: end(true)');
  client.end(true, () => setTimeout(() => process.exit(0), 300));
  setTimeout(() => process.exit(0), 2000);
}, Number(args.life || 40) * 1000);
