// aedes (MQTT broker in Node) served over WebSocket for the capture lab: the `ws` library's
// WebSocketServer on a plain http server (ws://) and/or an https server (wss://), each
// connection handed to aedes as a stream (ws.createWebSocketStream), as aedes's own
// docs/Examples.md does it.
//
//   node aedes_ws.js [--ws-port 8080] [--wss-port 8443 --cert F --key F --keylog F]
//                    [--path /mqtt] [--auth USER:PASS] [--heartbeat MS]
//                    [--sigterm default|close1001] [--tcp-port 1883]
//
// --path P          upgrades to any other path are refused with HTTP 404
// --auth U:P        the upgrade needs "Authorization: Basic" with U:P: none gives 401
//                   (with WWW-Authenticate), wrong credentials 403
// --heartbeat MS    the ws README's heartbeat: a WebSocket ping to every client each MS
//                   milliseconds; a client that has not answered the previous one with a
//                   pong is terminated (ws.terminate(): the socket is destroyed, no Close)
// --sigterm close1001  on SIGTERM send every client a Close 1001 ("going away"), then exit;
//                   default: no handler, so Node dies of the signal and the kernel closes
//                   the sockets
// --keylog F        the https server's 'keylog' event (NSS key log lines) appended to F
// One line per event on stdout (seconds since start, then what happened).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');
const { pathToFileURL } = require('url');
const { WebSocketServer, createWebSocketStream } = require('ws');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const t0 = Date.now();
const log = (...a) => console.log(((Date.now() - t0) / 1000).toFixed(3), ...a);
const path = args.path || '/mqtt';

function refuse(socket, code, reason, extra) {
  const body = reason + '\n';
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    (extra || '') + `Content-Length: ${body.length}\r\n\r\n` + body);
}

async function main() {
  // aedes 1.x is an ES module; import it by the path that NODE_PATH resolves to
  const { Aedes } = await import(pathToFileURL(require.resolve('aedes')).href);
  const aedes = await Aedes.createBroker({ heartbeatInterval: 3600000 });
  aedes.on('client', (c) => log('client', c.id));
  aedes.on('clientReady', (c) => log('clientReady', c.id));
  aedes.on('clientDisconnect', (c) => log('clientDisconnect', c.id));
  aedes.on('keepaliveTimeout', (c) => log('keepaliveTimeout', c.id));
  aedes.on('clientError', (c, e) => log('clientError', c.id, e.message));
  aedes.on('connectionError', (c, e) => log('connectionError', e.message));
  aedes.on('connackSent', (p, c) => log('connackSent', c.id, p.returnCode));

  const sockets = new Set();
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws, req) => {
    const who = req.socket.remoteAddress + ':' + req.socket.remotePort;
    log('ws open', who, req.url, 'protocol', JSON.stringify(ws.protocol));
    sockets.add(ws);
    ws.isAlive = true;
    ws.on('pong', () => { ws.isAlive = true; log('pong from', who); });
    ws.on('close', (code, reason) => { sockets.delete(ws); log('ws close', who, code, reason.toString()); });
    ws.on('error', (e) => log('ws error', who, e.message));
    aedes.handle(createWebSocketStream(ws), req);
  });
  const onUpgrade = (req, socket, head) => {
    const who = socket.remoteAddress + ':' + socket.remotePort;
    socket.on('error', (e) => log('socket error', who, e.message));   // e.g. a client's RST after a refusal
    const url = (req.url || '').split('?')[0];
    if (url !== path) { log('refused 404', who, req.url); return refuse(socket, 404, 'Not Found'); }
    if (args.auth) {
      const h = req.headers.authorization || '';
      if (!h.startsWith('Basic ')) {
        log('refused 401', who);
        return refuse(socket, 401, 'Unauthorized', 'WWW-Authenticate: Basic realm="mqtt"\r\n');
      }
      if (Buffer.from(h.slice(6), 'base64').toString() !== args.auth) {
        log('refused 403', who);
        return refuse(socket, 403, 'Forbidden');
      }
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };

  if (args['ws-port']) {
    const srv = http.createServer((req, res) => { res.writeHead(426, { Upgrade: 'websocket' }); res.end('Upgrade Required\n'); });
    srv.on('upgrade', onUpgrade);
    srv.listen(Number(args['ws-port']), () => log('ws listening', args['ws-port']));
  }
  if (args['wss-port']) {
    const srv = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) },
      (req, res) => { res.writeHead(426, { Upgrade: 'websocket' }); res.end('Upgrade Required\n'); });
    if (args.keylog) srv.on('keylog', (line) => fs.appendFileSync(args.keylog, line));
    srv.on('upgrade', onUpgrade);
    srv.on('tlsClientError', (e) => log('tlsClientError', e.message));
    srv.listen(Number(args['wss-port']), () => log('wss listening', args['wss-port']));
  }
  if (args['tcp-port']) {
    net.createServer(aedes.handle).listen(Number(args['tcp-port']), () => log('tcp listening', args['tcp-port']));
  }
  if (args.heartbeat) {
    setInterval(() => {
      for (const ws of sockets) {
        if (!ws.isAlive) { log('heartbeat: no pong, terminate'); ws.terminate(); continue; }
        ws.isAlive = false;
        ws.ping();
        log('ping sent');
      }
    }, Number(args.heartbeat));
  }
  if (args.sigterm === 'close1001') {
    process.on('SIGTERM', () => {
      log('SIGTERM: Close 1001 to', sockets.size, 'clients');
      for (const ws of sockets) ws.close(1001, 'server shutting down');
      setTimeout(() => process.exit(0), 1000);
    });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
