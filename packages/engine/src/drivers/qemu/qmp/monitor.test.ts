import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpClient } from './commands.js';
import {
  QmpCommandError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { QMP_EVENTS, type QmpEvent } from './events.js';

const GREETING = {
  QMP: {
    version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'fake' },
    capabilities: ['oob'],
  },
};

type Handler = (
  message: { execute: string; id?: unknown; arguments?: unknown },
  socket: net.Socket,
) => void;

/** A fake QMP server on a unix socket in a temp dir, as Incus tests do. */
class FakeQmpServer {
  readonly server: net.Server;
  readonly received: Array<{ execute: string; arguments?: unknown }> = [];
  sockets: net.Socket[] = [];
  handler: Handler = (message, socket) => reply(socket, message.id, {});
  greeting: unknown = GREETING;

  constructor(readonly socketPath: string) {
    this.server = net.createServer((socket) => {
      this.sockets.push(socket);
      // QEMU writes CRLF-terminated lines; split a line across two writes to test framing.
      const greeting = `${JSON.stringify(this.greeting)}\r\n`;
      socket.write(greeting.slice(0, 10));
      setTimeout(() => socket.write(greeting.slice(10)), 5);
      let buffer = '';
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
          const message = JSON.parse(buffer.slice(0, i));
          buffer = buffer.slice(i + 1);
          this.received.push(message);
          if (message.execute === 'qmp_capabilities') reply(socket, message.id, {});
          else this.handler(message, socket);
        }
      });
      socket.on('error', () => undefined);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function reply(socket: net.Socket, id: unknown, value: unknown): void {
  socket.write(`${JSON.stringify({ return: value, id })}\r\n`);
}

function sendEvent(socket: net.Socket, event: string, data: unknown): void {
  socket.write(
    `${JSON.stringify({ event, data, timestamp: { seconds: 1, microseconds: 2 } })}\r\n`,
  );
}

describe('QmpClient against a fake QMP server', () => {
  let dir: string;
  let fake: FakeQmpServer;
  let client: QmpClient;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-qmp-'));
    fake = new FakeQmpServer(path.join(dir, 'qmp.sock'));
    await fake.listen();
    client = new QmpClient({
      socketPath: fake.socketPath,
      logPath: path.join(dir, 'qmp.log'),
      commandTimeoutMs: 200,
    });
  });

  afterEach(async () => {
    client.close();
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the greeting and negotiates capabilities before anything else', async () => {
    const greeting = await client.connect();
    expect(greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(fake.received[0]?.execute).toBe('qmp_capabilities');
    expect(client.connected).toBe(true);
  });

  it('matches replies to commands by id, even out of order', async () => {
    const held: Array<{ id: unknown; socket: net.Socket }> = [];
    fake.handler = (message, socket) => {
      if (message.execute === 'query-status') {
        held.push({ id: message.id, socket });
        return;
      }
      reply(socket, message.id, { qemu: { major: 7, minor: 2, micro: 22 }, package: 'fake' });
      for (const h of held) reply(h.socket, h.id, { running: true, status: 'running' });
    };
    await client.connect();
    const status = client.queryStatus();
    const version = client.queryVersion();
    await expect(version).resolves.toMatchObject({ package: 'fake' });
    await expect(status).resolves.toEqual({ running: true, status: 'running' });
  });

  it('sends arguments with the command', async () => {
    await client.connect();
    await client.migrate('unix:/tmp/x.sock');
    expect(fake.received.at(-1)).toMatchObject({
      execute: 'migrate',
      arguments: { uri: 'unix:/tmp/x.sock' },
    });
  });

  it('turns an error reply into QmpCommandError with class and description', async () => {
    fake.handler = (message, socket) =>
      socket.write(
        `${JSON.stringify({ error: { class: 'DeviceNotFound', desc: 'Device x not found' }, id: message.id })}\n`,
      );
    await client.connect();
    const error = await client.run('device_del', { id: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpCommandError);
    expect(error).toMatchObject({
      errorClass: 'DeviceNotFound',
      desc: 'Device x not found',
      command: 'device_del',
    });
  });

  it('dispatches events, and delivers them in order with replies', async () => {
    fake.handler = (message, socket) => {
      sendEvent(socket, QMP_EVENTS.STOP, {});
      reply(socket, message.id, {});
      sendEvent(socket, QMP_EVENTS.SHUTDOWN, { guest: true, reason: 'guest-shutdown' });
    };
    await client.connect();
    const events: QmpEvent[] = [];
    client.on('event', (event) => events.push(event));
    const shutdown = client.waitForEvent(QMP_EVENTS.SHUTDOWN, 1000);
    await client.stop();
    expect(events.map((e) => e.event)).toContain('STOP');
    await expect(shutdown).resolves.toMatchObject({ data: { reason: 'guest-shutdown' } });
  });

  it('times out a command without losing the monitor, and ignores the late reply', async () => {
    let late: (() => void) | undefined;
    fake.handler = (message, socket) => {
      if (message.execute === 'slow') late = () => reply(socket, message.id, { late: true });
      else reply(socket, message.id, { ok: true });
    };
    await client.connect();
    const error = await client.run('slow', undefined, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpTimeoutError);
    expect(error).not.toBeInstanceOf(QmpDisconnectedError);
    late?.();
    expect(client.connected).toBe(true);
    await expect(client.run('fast')).resolves.toEqual({ ok: true });
  });

  it('fails pending and later commands with QmpDisconnectedError when QEMU goes away', async () => {
    fake.handler = (_message, socket) => setTimeout(() => socket.destroy(), 10);
    await client.connect();
    const closed = new Promise((resolve) => client.once('close', resolve));
    const error = await client
      .run('query-status', undefined, { timeoutMs: 5000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpDisconnectedError);
    expect(error).not.toBeInstanceOf(QmpTimeoutError);
    await closed;
    await expect(client.queryStatus()).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('rejects a server that does not greet with QMP', async () => {
    fake.greeting = { hello: 'not qmp' };
    await expect(client.connect()).rejects.toBeInstanceOf(QmpProtocolError);
  });

  it('rejects connect when nothing listens', async () => {
    const lonely = new QmpClient({ socketPath: path.join(dir, 'absent.sock') });
    await expect(lonely.connect()).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('appends every command, reply and event to the QMP log', async () => {
    fake.handler = (message, socket) => {
      sendEvent(socket, QMP_EVENTS.RESUME, {});
      reply(socket, message.id, {});
    };
    await client.connect();
    await client.cont();
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const log = fs.readFileSync(path.join(dir, 'qmp.log'), 'utf8');
    expect(log).toContain('> {"execute":"cont"');
    expect(log).toContain('< {"event":"RESUME"');
    expect(log).toContain('"QMP"');
    expect(log.trim().split('\n').length).toBeGreaterThanOrEqual(6);
  });

  it('keeps working when its log cannot be written (the VM folder deleted meanwhile)', async () => {
    fake.handler = (message, socket) => reply(socket, message.id, {});
    const unlogged = new QmpClient({
      socketPath: fake.socketPath,
      logPath: path.join(dir, 'gone', 'qmp.log'),
    });
    await unlogged.connect();
    await expect(unlogged.cont()).resolves.toEqual({});
    unlogged.close();
  });
});
