/**
 * The port forwarder: a small Node.js process the engine runs inside the router namespace (where
 * guests' addresses are routable), listening on a unix socket (reachable from the host's
 * namespace: unix sockets live in the file system). A client sends one line,
 * `CONNECT <address> <port>`, and gets `OK` followed by the guest's byte stream, or `ERR <reason>`.
 * Only guest addresses are accepted: 10.127.0.0/16 and 10.128.0.0/9, never a segment's router,
 * network or broadcast address.
 *
 * The script runs with `node -e`, so that it needs no file of its own beside the engine's code.
 */
export const PORT_FORWARDER_SCRIPT = String.raw`
const fs = require('node:fs');
const net = require('node:net');
const socketPath = process.argv[1];
const toNumber = (a) => a.split('.').reduce((n, part) => n * 256 + Number(part), 0);
function isGuest(address) {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p > 255)) return false;
  const value = toNumber(address);
  const last = parts[3];
  if (parts[0] === 10 && parts[1] === 127)
    return value !== toNumber('10.127.0.0') && value !== toNumber('10.127.0.1') && value !== toNumber('10.127.255.255');
  return parts[0] === 10 && parts[1] >= 128 && last !== 0 && last !== 1 && last !== 255;
}
function parse(line) {
  const m = /^CONNECT (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,5})$/.exec(line.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 && isGuest(m[1]) ? { host: m[1], port } : undefined;
}
fs.rmSync(socketPath, { force: true });
const server = net.createServer((client) => {
  let buffered = Buffer.alloc(0);
  client.on('error', () => {});
  const onData = (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(10);
    if (end < 0) {
      if (buffered.length > 128) client.end('ERR request line too long\n');
      return;
    }
    client.off('data', onData);
    client.pause();
    const target = parse(buffered.subarray(0, end).toString('utf8'));
    if (!target) return void client.end('ERR bad request\n');
    const rest = buffered.subarray(end + 1);
    const guest = net.connect(target);
    let connected = false;
    guest.setTimeout(5000, () => guest.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    guest.once('connect', () => {
      connected = true;
      guest.setTimeout(0);
      client.write('OK\n');
      if (rest.length > 0) guest.write(rest);
      client.pipe(guest);
      guest.pipe(client);
      client.resume();
    });
    guest.once('error', (error) => {
      if (!connected) client.end('ERR ' + (error.code || error.message) + '\n');
      else client.destroy();
    });
    client.once('close', () => guest.destroy());
    guest.once('close', () => { if (connected) client.destroy(); });
  };
  client.on('data', onData);
});
server.listen(socketPath, () => fs.chmodSync(socketPath, 0o600));
process.on('SIGTERM', () => process.exit(0));
`;

/** The request line a port forwarder's client sends. */
export function connectLine(address: string, port: number): string {
  return `CONNECT ${address} ${port}\n`;
}
