import WebSocket from 'ws';
import type { TestClient } from './test-server.js';

/** A console WebSocket opened the way the portal opens it, keeping what it received. */
export class ConsoleSocket {
  output = '';
  readonly controls: Array<Record<string, unknown>> = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) this.output += (data as Buffer).toString('utf8').replaceAll('\r', '');
      else this.controls.push(JSON.parse(data.toString()));
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }

  /** Opens a console with a fresh ticket; rejects with the HTTP status of a refused upgrade. */
  static async open(
    baseUrl: string,
    client: TestClient,
    vmId: string,
    options: {
      kind?: 'serial' | 'vnc';
      mode?: 'interactive' | 'view';
      origin?: string;
      url?: string;
    } = {},
  ): Promise<ConsoleSocket> {
    let url = options.url;
    if (!url) {
      const ticket = await client.send('POST', `/api/v1/vms/${vmId}/console`, {
        kind: options.kind ?? 'serial',
        mode: options.mode ?? 'interactive',
      });
      if (ticket.status !== 201)
        throw new Error(`ticket refused: ${ticket.status} ${JSON.stringify(ticket.body)}`);
      url = ticket.body.url as string;
    }
    const socket = new WebSocket(baseUrl.replace(/^http/, 'ws') + url, {
      headers: { cookie: client.cookieHeader ?? '' },
      origin: options.origin ?? baseUrl,
    });
    // Listen before `open`: the first frames can arrive with the upgrade answer itself.
    const console = new ConsoleSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
      socket.once('error', reject);
    });
    return console;
  }

  /** Types text as keystrokes. */
  type(text: string): void {
    this.socket.send(Buffer.from(text), { binary: true });
  }

  /** Waits until the output after `from` matches. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output.slice(from));
      if (match) return match;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${pattern}; output ends: ${JSON.stringify(this.output.slice(-300))}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Runs a shell command on a lab's serial console (a fresh ticket, a prompt first); answers what
 * it printed up to a marker echoed after it.
 */
export async function runOnConsole(
  baseUrl: string,
  client: TestClient,
  vmId: string,
  command: string,
): Promise<string> {
  const terminal = await ConsoleSocket.open(baseUrl, client, vmId);
  try {
    terminal.type('\n');
    await terminal.waitFor(/# $/, 60_000);
    const mark = terminal.output.length;
    terminal.type(`${command}; echo done-$((40+2))\n`);
    await terminal.waitFor(/done-42/, 30_000, mark);
    return terminal.output.slice(mark);
  } finally {
    terminal.close();
  }
}
