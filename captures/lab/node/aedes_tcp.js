// aedes (MQTT broker in Node) on plain TCP for the capture lab: net.createServer(aedes.handle),
// as aedes's README does it.
//
//   node aedes_tcp.js [--port 1883] [--auth USER:PASS] [--keepalive-limit S]
//                     [--sigterm default|close]
//
// --auth U:P            the authenticate hook accepts only U:P: a CONNECT without a user name
//                       is refused with returnCode 5 (not authorized), a wrong user name or
//                       password with returnCode 4 (bad user name or password)
// --keepalive-limit S   aedes's keepaliveLimit option: a CONNECT with keepalive 0 or above S
//                       is refused (aedes answers CONNACK 6, a code MQTT 3.1.1 reserves)
// --sigterm close       on SIGTERM call aedes.close() (which closes every client) and the
//                       listening server, then exit; default: no handler, so Node dies of the
//                       signal and the kernel closes the sockets
// One line per event on stdout (seconds since start, then what happened).
'use strict';
const net = require('net');
const { pathToFileURL } = require('url');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const t0 = Date.now();
const log = (...a) => console.log(((Date.now() - t0) / 1000).toFixed(3), ...a);

/** The authenticate hook for --auth U:P: refuse anything but U:P with an MQTT return code. */
function authenticator(userPass) {
  const [user, pass] = userPass.split(':');
  return (client, username, password, done) => {
    if (!username) {
      const e = new Error('no credentials'); e.returnCode = 5; return done(e, false);
    }
    if (username !== user || !password || password.toString() !== pass) {
      const e = new Error('bad credentials'); e.returnCode = 4; return done(e, false);
    }
    done(null, true);
  };
}

async function main() {
  // aedes 1.x is an ES module; import it by the path that NODE_PATH resolves to
  const { Aedes } = await import(pathToFileURL(require.resolve('aedes')).href);
  const opts = { heartbeatInterval: 3600000 };
  if (args['keepalive-limit']) opts.keepaliveLimit = Number(args['keepalive-limit']);
  if (args.auth) opts.authenticate = authenticator(args.auth);
  const aedes = await Aedes.createBroker(opts);
  aedes.on('client', (c) => log('client', c.id));
  aedes.on('clientReady', (c) => log('clientReady', c.id));
  aedes.on('clientDisconnect', (c) => log('clientDisconnect', c.id));
  aedes.on('keepaliveTimeout', (c) => log('keepaliveTimeout', c.id));
  aedes.on('clientError', (c, e) => log('clientError', c.id, e.message));
  aedes.on('connectionError', (c, e) => log('connectionError', e.message));
  aedes.on('connackSent', (p, c) => log('connackSent', c.id, p.returnCode));
  const port = Number(args.port || 1883);
  const server = net.createServer(aedes.handle);
  server.listen(port, () => log('tcp listening', port));
  if (args.sigterm === 'close') {
    process.on('SIGTERM', () => {
      log('SIGTERM: aedes.close()');
      server.close();
      aedes.close(() => { log('aedes closed'); process.exit(0); });
      setTimeout(() => process.exit(0), 3000);
    });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
