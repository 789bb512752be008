import net from 'node:net';
import { MAX_GUEST_FILE_BYTES } from '../driver.js';
import { sleep } from './process-utils.js';

/** Longest line the guest may answer (a file's base64 and a little): what it sends is not trusted. */
const MAX_LINE_BYTES = Math.ceil((MAX_GUEST_FILE_BYTES * 4) / 3) + 4096;
/** How often a ping is repeated while the agent has not answered (it may not run yet). */
const PING_INTERVAL_MS = 250;

/** Who a clone becomes: what the agent makes of the running guest (infra/images/README.md). */
export interface GuestIdentity {
  hostname: string;
  /** The account to log in as (renamed from the image's `student`), as at a first boot. */
  user?: { name: string; password?: string; passwordHash?: string };
  /** 32 hex digits: `/etc/machine-id`. */
  machineId: string;
  /** Seconds since the epoch: the guest's clock (a template's stopped when it was saved). */
  time: number;
  /** Base64 bytes the guest mixes into its random pool (clones share the template's). */
  seed: string;
  /**
   * The MAC address of the VM's network lease: the guest's NIC takes it (a clone comes back with
   * its template's) and asks DHCP again, for its own lease.
   */
  mac?: string;
}

/**
 * The engine's end of the Labvisor guest agent: a line protocol on the guest's second serial port
 * (a unix socket QEMU serves). Requests carry an id and the agent answers each on one line:
 * `ping ID` → `pong ID`, `identity ID BASE64-JSON` → `ok ID` or `error ID SENTENCE`. Anything else
 * on the line (an echo before the agent set the line up, stale answers) is ignored.
 */
export class GuestAgent {
  readonly #socket: net.Socket;
  #nextId = 1;
  #buffer = '';
  #waiters = new Map<string, (answer: string) => void>();
  #closed = false;
  /** Called on any pong while {@link waitReady} waits. */
  #onAnyPong: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
    });
  }

  /** Connects to the agent's socket (QEMU serves it from its start). */
  static connect(socketPath: string): Promise<GuestAgent> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => resolve(new GuestAgent(socket)));
      socket.once('error', reject);
    });
  }

  /** Resolves once the agent answers a ping (pinging every 250 ms); throws after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let answered = false;
    const answers = new Promise<void>((resolve) => {
      this.#onAnyPong = () => {
        answered = true;
        resolve();
      };
    });
    while (!answered) {
      if (this.#closed) throw new Error('the guest agent’s line closed');
      if (Date.now() > deadline)
        throw new Error(`the guest agent did not answer within ${timeoutMs} ms`);
      this.#socket.write(`ping ${this.#nextId++}\n`);
      await Promise.race([answers, sleep(PING_INTERVAL_MS)]);
    }
    this.#onAnyPong = undefined;
  }

  /** Has the guest take `identity`; throws the agent's refusal or after `timeoutMs`. */
  async applyIdentity(identity: GuestIdentity, timeoutMs: number): Promise<void> {
    const payload = Buffer.from(JSON.stringify(identity)).toString('base64');
    const answer = await this.#request('identity', payload, timeoutMs);
    if (!answer.startsWith('ok')) {
      throw new Error(`the guest refused its identity: ${refusalOf(answer)}`);
    }
  }

  /** The bytes of a file in the guest (absolute, or `~/` for the lab user's home). */
  async readFile(guestPath: string, timeoutMs: number): Promise<Buffer> {
    const answer = await this.#request('read', base64Of(guestPath), timeoutMs);
    const data = /^data \S+ ?(\S*)$/.exec(answer);
    if (!data) throw new Error(refusalOf(answer));
    return Buffer.from(data[1]!, 'base64');
  }

  /** Writes a file in the guest (its folder made if needed), whole or not at all. */
  async writeFile(guestPath: string, bytes: Buffer, timeoutMs: number): Promise<void> {
    const answer = await this.#request(
      'write',
      `${base64Of(guestPath)} ${bytes.toString('base64')}`,
      timeoutMs,
    );
    if (!answer.startsWith('ok')) throw new Error(refusalOf(answer));
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  /** Sends `command ID payload` and resolves with the agent's answer line to it. */
  #request(command: string, payload: string, timeoutMs: number): Promise<string> {
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error(`the guest agent did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.#socket.write(`${command} ${id} ${payload}\n`);
    });
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf('\n');
      if (end < 0) break;
      const line = this.#buffer.slice(0, end).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(end + 1);
      this.#answer(line);
    }
    if (this.#buffer.length > MAX_LINE_BYTES) this.#buffer = '';
  }

  #answer(line: string): void {
    const match = /^(pong|ok|error|data) (\d+)\b/.exec(line);
    if (!match) return;
    if (match[1] === 'pong') return void this.#onAnyPong?.();
    const waiter = this.#waiters.get(match[2]!);
    if (!waiter) return;
    this.#waiters.delete(match[2]!);
    waiter(line);
  }
}

function base64Of(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** The agent's sentence in an `error ID SENTENCE` answer. */
function refusalOf(answer: string): string {
  return answer.replace(/^\S+ \S+ ?/, '') || 'the guest agent refused';
}
