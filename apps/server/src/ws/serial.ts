import type { Duplex } from 'node:stream';
import { CONSOLE_CLOSE_CODES, type ConsoleServerMessage } from '@labvisor/shared';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { forwardInput, keepAlive, sendControl } from './viewer-socket.js';

/** Bytes of recent output replayed to a viewer who attaches. */
export const SCROLLBACK_BYTES = 64 * 1024;
/** A viewer with more than this waiting to be sent is too slow and is dropped. */
export const MAX_VIEWER_BUFFER_BYTES = 1024 * 1024;
/** Joins and leaves within this long are announced to the viewers together. */
const ANNOUNCE_DELAY_MS = 100;

/** Someone watching or typing on a console. */
export interface ConsoleViewer {
  userId: string;
  name: string;
  mode: 'interactive' | 'view';
}

/** Where a session's traffic is recorded, when its tenant records consoles. */
export interface SessionRecorder {
  output(data: Buffer): void;
  input(data: Buffer): void;
  addViewer(viewer: ConsoleViewer): void;
  close(): Promise<void>;
}

/** The last `capacity` bytes written to it. */
class ByteRing {
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(private readonly capacity: number) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.capacity && this.#chunks.length > 0) {
      const first = this.#chunks[0]!;
      const excess = this.#size - this.capacity;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
      }
    }
  }

  contents(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** One VM's serial console: the single connection to QEMU's chardev, fanned out to every viewer. */
class SerialSession {
  readonly #viewers = new Map<WebSocket, ConsoleViewer>();
  readonly #scrollback = new ByteRing(SCROLLBACK_BYTES);
  #announceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly vmId: string,
    private readonly connection: Duplex,
    private readonly onInput: (vmId: string) => void,
    private readonly onEnd: () => void,
    private readonly recorder: SessionRecorder | undefined,
  ) {
    connection.on('data', (chunk: Buffer) => {
      this.recorder?.output(chunk);
      this.#broadcast(chunk);
    });
    connection.on('error', () => {});
    connection.on('close', () => {
      this.close(CONSOLE_CLOSE_CODES.GONE, 'The VM stopped.');
      void this.recorder?.close();
      this.onEnd();
    });
  }

  attach(socket: WebSocket, viewer: ConsoleViewer): void {
    this.#viewers.set(socket, viewer);
    this.recorder?.addViewer(viewer);
    keepAlive(socket);
    const scrollback = this.#scrollback.contents();
    if (scrollback.length > 0) socket.send(scrollback, { binary: true });
    sendControl(socket, { type: 'status', state: 'running' } satisfies ConsoleServerMessage);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      // Text frames are control messages (none are defined from the client yet); bytes are keys.
      if (!isBinary || viewer.mode !== 'interactive') return;
      forwardInput(socket, this.connection, data as Buffer);
      this.recorder?.input(data as Buffer);
      this.onInput(this.vmId);
    });
    socket.on('close', () => {
      this.#viewers.delete(socket);
      this.#announceViewers();
    });
    this.#announceViewers();
  }

  /** Tells every viewer something about the VM (shown above the terminal). */
  notify(message: string): void {
    const status: ConsoleServerMessage = { type: 'status', state: 'running', message };
    for (const socket of this.#viewers.keys()) sendControl(socket, status);
  }

  close(code: number, reason: string): void {
    clearTimeout(this.#announceTimer);
    for (const socket of this.#viewers.keys()) socket.close(code, reason);
    this.#viewers.clear();
    this.connection.destroy();
  }

  #broadcast(chunk: Buffer): void {
    this.#scrollback.push(chunk);
    for (const socket of this.#viewers.keys()) {
      if (socket.bufferedAmount > MAX_VIEWER_BUFFER_BYTES) {
        socket.close(
          CONSOLE_CLOSE_CODES.TOO_SLOW,
          'The connection is too slow to follow the console.',
        );
        continue;
      }
      socket.send(chunk, { binary: true });
    }
  }

  /**
   * Tells every viewer who is connected: one entry per person and mode (not per socket), sent once
   * per burst of joins and leaves, so a crowd joining costs one message each rather than one per join.
   */
  #announceViewers(): void {
    if (this.#announceTimer) return;
    this.#announceTimer = setTimeout(() => {
      this.#announceTimer = undefined;
      const people = new Map<string, ConsoleViewer>();
      for (const viewer of this.#viewers.values())
        people.set(`${viewer.userId}:${viewer.mode}`, viewer);
      const message: ConsoleServerMessage = { type: 'viewers', viewers: [...people.values()] };
      for (const socket of this.#viewers.keys()) sendControl(socket, message);
    }, ANNOUNCE_DELAY_MS);
  }
}

/**
 * The serial consoles of this host's VMs. QEMU's chardev socket takes one client, so each running
 * VM gets one connection, opened on the first viewer and kept (with its scrollback) until the VM stops.
 */
export class SerialConsoles {
  readonly #sessions = new Map<string, Promise<SerialSession>>();

  constructor(
    private readonly deps: {
      /** Opens the one byte stream to a VM's serial console. */
      openSerial: (vmId: string) => Promise<Duplex>;
      onInput: (vmId: string) => void;
      /** Starts a recording of a VM's serial session, when its tenant records consoles. */
      startRecording: (vmId: string) => Promise<SessionRecorder | undefined>;
      logger: Logger;
    },
  ) {}

  /** Attaches a viewer's socket to a VM's serial console. */
  async attach(vmId: string, socket: WebSocket, viewer: ConsoleViewer): Promise<void> {
    // Keys typed while the connection to QEMU is still being made are kept, not lost.
    const early: Array<[RawData, boolean]> = [];
    const hold = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
    socket.on('message', hold);
    let session = this.#sessions.get(vmId);
    if (!session) {
      session = this.#open(vmId);
      this.#sessions.set(vmId, session);
      session.catch(() => this.#sessions.delete(vmId));
    }
    try {
      (await session).attach(socket, viewer);
    } finally {
      socket.off('message', hold);
    }
    for (const [data, isBinary] of early) socket.emit('message', data, isBinary);
  }

  /** Tells every viewer of a VM's serial console something about the VM. */
  async notify(vmId: string, message: string): Promise<void> {
    (await this.#sessions.get(vmId)?.catch(() => undefined))?.notify(message);
  }

  /** Closes a VM's console (it stopped, or was deleted), telling every viewer why. */
  async closeVm(vmId: string, reason: string): Promise<void> {
    const session = this.#sessions.get(vmId);
    this.#sessions.delete(vmId);
    (await session?.catch(() => undefined))?.close(CONSOLE_CLOSE_CODES.GONE, reason);
  }

  /** Closes every console (server shutdown): viewers are told to reconnect. */
  async closeAll(): Promise<void> {
    const sessions = await Promise.allSettled([...this.#sessions.values()]);
    this.#sessions.clear();
    for (const result of sessions) {
      if (result.status === 'fulfilled')
        result.value.close(CONSOLE_CLOSE_CODES.RESTARTING, 'The server is restarting.');
    }
  }

  async #open(vmId: string): Promise<SerialSession> {
    const connection = await this.deps.openSerial(vmId);
    this.deps.logger.info({ vmId }, 'serial console connected');
    const recorder = await this.deps.startRecording(vmId).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, vmId }, 'console recording could not start');
      return undefined;
    });
    const session: SerialSession = new SerialSession(
      vmId,
      connection,
      this.deps.onInput,
      () => {
        void this.#sessions.get(vmId)?.then((current) => {
          if (current === session) this.#sessions.delete(vmId);
        });
      },
      recorder,
    );
    return session;
  }
}
