import net from 'node:net';
import type { Duplex } from 'node:stream';
import { sleep } from '../drivers/qemu/process-utils.js';

/** How long {@link SerialClient.open} retries while the console is not there yet. */
export const SERIAL_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A client of a VM's serial console (a byte stream) that keeps everything the guest printed and can wait for text.
 * Prompts such as `# ` end without a newline, so matching is done on the raw stream, never per
 * line. QEMU accepts one serial client at a time: close it to let another connect.
 */
export class SerialClient {
  #socket: Duplex;
  #output = '';
  #waiters = new Set<() => void>();
  #closed = false;
  #commandCounter = 0;

  private constructor(socket: Duplex) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#output += chunk.replaceAll('\r', '');
      for (const waiter of this.#waiters) waiter();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiters) waiter();
    });
  }

  /** Opens a console stream with `open`, retrying until it works or `timeoutMs` passes. */
  static async open(
    open: () => Promise<Duplex>,
    timeoutMs = SERIAL_CONNECT_TIMEOUT_MS,
  ): Promise<SerialClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return new SerialClient(await open());
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(50);
      }
    }
  }

  /** Connects to a serial unix socket directly (benchmarks compare the server with this). */
  static connect(socketPath: string, timeoutMs = SERIAL_CONNECT_TIMEOUT_MS): Promise<SerialClient> {
    return SerialClient.open(
      () =>
        new Promise<Duplex>((resolve, reject) => {
          const candidate = net.createConnection(socketPath);
          candidate.once('connect', () => resolve(candidate));
          candidate.once('error', reject);
        }),
      timeoutMs,
    );
  }

  /** Everything received so far (carriage returns removed). */
  get output(): string {
    return this.#output;
  }

  /** A position in {@link output}, to wait for text printed after it. */
  mark(): number {
    return this.#output.length;
  }

  /** Sends raw bytes (keys) to the guest. */
  write(text: string): void {
    this.#socket.write(text);
  }

  /**
   * Resolves with the text from `from` up to the end of the first match of `pattern`; rejects after
   * `timeoutMs` with the recent output in the message, or when the socket closes.
   */
  waitFor(pattern: string | RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const regex =
      typeof pattern === 'string'
        ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        : pattern;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = regex.exec(this.#output.slice(from));
        if (match) {
          done();
          resolve(match);
        } else if (this.#closed) {
          done();
          reject(new Error(`serial console closed while waiting for ${regex}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no ${regex} on the serial console within ${timeoutMs} ms; last output: ${JSON.stringify(this.#output.slice(-300))}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Types a shell command and resolves with what it printed. Markers are written with split quotes
   * (`"LV""E1"`) so the terminal's echo of the typed line never matches them.
   */
  async run(command: string, timeoutMs = 10_000): Promise<string> {
    const n = ++this.#commandCounter;
    const from = this.mark();
    this.write(`echo "LV""B${n}"; ${command}; echo "LV""E${n}"\n`);
    const match = await this.waitFor(
      new RegExp(`LVB${n}\\n([\\s\\S]*?)LVE${n}\\n`),
      timeoutMs,
      from,
    );
    return (match[1] ?? '').trimEnd();
  }

  /** Closes the connection (the guest keeps running). */
  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}
