/**
 * Test helper for guest networks: a small world of network namespaces that the test creates and
 * always removes. `host` stands for the machine Labvisor runs on (the router namespace's uplink
 * leads there, and it serves "its" API and database ports on every address); `internet` serves a
 * web page on a documentation address (198.51.100.10); `lan` a private-range server (10.99.0.10)
 * and `metadata` a cloud metadata server (169.254.169.254). Traffic never leaves these namespaces.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { signalProcess, waitForProcessGone } from '../drivers/qemu/process-utils.js';

/** The web server standing for the internet. */
export const INTERNET_ADDRESS = '198.51.100.10';
/** The host's own address towards the internet. */
export const HOST_PUBLIC_ADDRESS = '198.51.100.1';
/** A private-range server the guests must not reach. */
export const LAN_ADDRESS = '10.99.0.10';
/** A metadata server the guests must not reach. */
export const METADATA_ADDRESS = '169.254.169.254';
/** The internet's resolver: answers {@link INTERNET_NAME} (A) and nothing else. */
export const INTERNET_RESOLVER = '198.51.100.53';
/** The name the internet's resolver knows, for {@link INTERNET_ADDRESS}. */
export const INTERNET_NAME = 'www.lab.test';

/** A DNS server answering one A record; prints `ready` once it listens. */
const DNS_SCRIPT = `
const dgram = require('node:dgram');
const [address, name, answer] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
socket.on('message', (query, peer) => {
  let offset = 12;
  const labels = [];
  while (query[offset]) { labels.push(query.subarray(offset + 1, offset + 1 + query[offset]).toString()); offset += query[offset] + 1; }
  const question = query.subarray(12, offset + 5);
  const known = labels.join('.').toLowerCase() === name && query.readUInt16BE(offset + 1) === 1;
  const header = Buffer.from([query[0], query[1], 0x81, known ? 0x80 : 0x83, 0, 1, 0, known ? 1 : 0, 0, 0, 0, 0]);
  const record = known
    ? Buffer.concat([Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), Buffer.from(answer.split('.').map(Number))])
    : Buffer.alloc(0);
  socket.send(Buffer.concat([header, question, record]), peer.port, peer.address);
});
socket.bind(53, address, () => console.log('ready'));
`;

/**
 * Answers every HTTP request with its marker (and `?bytes=N` with N more bytes, for bandwidth);
 * prints `ready` once it listens.
 */
const SERVER_SCRIPT = `
const http = require('node:http');
const [port, marker] = process.argv.slice(1);
http.createServer((req, res) => {
  const bytes = Number(new URL(req.url, 'http://x').searchParams.get('bytes') ?? 0);
  res.end(marker + '\\n' + 'x'.repeat(Math.min(bytes, 16 * 1024 * 1024)));
}).listen(Number(port), '0.0.0.0', () => console.log('ready'));
`;

/** Why a guest-network test cannot run here, or undefined when it can. */
export function networkLabSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'guest networks need root';
  for (const binary of ['nft', 'dnsmasq', 'nsenter']) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${binary} is not installed`;
    }
  }
  return undefined;
}

export class NetworkLab {
  /** Prefix of every namespace this lab makes. */
  readonly prefix = `lvn${randomBytes(3).toString('hex')}`;
  readonly host = `${this.prefix}-host`;
  /** The router namespace the engine under test should use. */
  readonly router = `${this.prefix}-router`;
  readonly #namespaces = ['host', 'internet', 'lan', 'metadata'].map(
    (name) => `${this.prefix}-${name}`,
  );
  readonly #servers: ChildProcess[] = [];

  /** Builds the namespaces and starts their servers; `hostPorts` are served by the host on every address. */
  async start(hostPorts: Record<string, number>): Promise<void> {
    for (const ns of this.#namespaces) {
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    this.#link('internet', 'to-inet', `${HOST_PUBLIC_ADDRESS}/24`, `${INTERNET_ADDRESS}/24`);
    ip(['-n', `${this.prefix}-internet`, 'addr', 'add', `${INTERNET_RESOLVER}/24`, 'dev', 'eth0']);
    this.#link('lan', 'to-lan', '10.99.0.1/24', `${LAN_ADDRESS}/24`);
    this.#link('metadata', 'to-meta', '169.254.169.1/24', `${METADATA_ADDRESS}/24`);
    await this.#serve('internet', 80, 'INTERNET-PAGE');
    await this.#run('internet', 'dns', DNS_SCRIPT, [
      INTERNET_RESOLVER,
      INTERNET_NAME,
      INTERNET_ADDRESS,
    ]);
    await this.#serve('lan', 80, 'LAN-SECRET');
    await this.#serve('metadata', 80, 'METADATA-SECRET');
    for (const [name, port] of Object.entries(hostPorts)) {
      await this.#serve('host', port, `HOST-${name.toUpperCase()}`);
    }
  }

  /**
   * Stops every server and removes every namespace, the router's too (with the dnsmasq processes
   * the engine left in it) and the router's runtime files.
   */
  async cleanup(): Promise<void> {
    for (const server of this.#servers) {
      if (server.pid === undefined) continue;
      signalProcess(server.pid, 'SIGKILL');
      await waitForProcessGone(server.pid, 5_000);
    }
    for (const ns of [...this.#namespaces, this.router]) {
      try {
        // Whatever still runs in a namespace keeps it alive: end it (by pid) first.
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
        for (const pid of pids.split('\n').filter(Boolean)) signalProcess(Number(pid), 'SIGKILL');
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    fs.rmSync(path.join('/run/labvisor-net', this.router), { recursive: true, force: true });
  }

  /** A veth from the host namespace (`hostSide`, `hostAddress`) to `name`'s eth0 (`address`). */
  #link(name: string, hostSide: string, hostAddress: string, address: string): void {
    const ns = `${this.prefix}-${name}`;
    ip([
      '-n',
      this.host,
      'link',
      'add',
      hostSide,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    ip(['-n', this.host, 'addr', 'add', hostAddress, 'dev', hostSide]);
    ip(['-n', this.host, 'link', 'set', hostSide, 'up']);
    ip(['-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', ns, 'route', 'add', 'default', 'via', hostAddress.split('/')[0]!]);
  }

  #serve(name: string, port: number, marker: string): Promise<void> {
    return this.#run(name, `port ${port}`, SERVER_SCRIPT, [String(port), marker]);
  }

  /** Runs a Node.js `script` in namespace `name`; resolves once it prints its first line. */
  async #run(name: string, what: string, script: string, args: string[]): Promise<void> {
    const server = spawn(
      'nsenter',
      [`--net=/run/netns/${this.prefix}-${name}`, '--', process.execPath, '-e', script, ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.#servers.push(server);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the ${name} ${what} server did not start`)),
        10_000,
      );
      server.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      server.once('exit', (code) =>
        reject(new Error(`the ${name} ${what} server exited (${code})`)),
      );
    });
  }
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
