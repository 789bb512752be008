import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import {
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import type { QmpEvent } from './events.js';

/** How long a command may wait for its reply unless the caller says otherwise. */
export const QMP_COMMAND_TIMEOUT_MS = 10_000;
/** How long connecting, reading the greeting and negotiating capabilities may take. */
export const QMP_CONNECT_TIMEOUT_MS = 5_000;

/** Options of a {@link QmpMonitor}. */
export interface QmpMonitorOptions {
  /** The unix socket QEMU serves QMP on. */
  socketPath: string;
  /** When set, every command, reply and event is appended to this file, one JSON per line. */
  logPath?: string;
  /** Default per-command timeout. */
  commandTimeoutMs?: number;
}

/** The QMP greeting's version block. */
export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

interface PendingCommand {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A QMP connection over a unix socket: newline-delimited JSON, greeting then `qmp_capabilities`,
 * replies matched to commands by `id`, events emitted as `'event'`. A command that gets no reply in
 * time fails with {@link QmpTimeoutError}; every pending and later command fails with
 * {@link QmpDisconnectedError} once the socket closes, and `'close'` is emitted once.
 */
export class QmpMonitor extends EventEmitter<{ event: [QmpEvent]; close: [Error | undefined] }> {
  readonly socketPath: string;
  greeting: QmpGreeting | undefined;
  readonly #logPath: string | undefined;
  readonly #commandTimeoutMs: number;
  readonly #pending = new Map<string, PendingCommand>();
  #socket: net.Socket | undefined;
  #log: fs.WriteStream | undefined;
  #buffer = '';
  #nextId = 1;
  #closed = false;
  #greetingWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(options: QmpMonitorOptions) {
    super();
    this.socketPath = options.socketPath;
    this.#logPath = options.logPath;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? QMP_COMMAND_TIMEOUT_MS;
  }

  /** Whether the connection is up. */
  get connected(): boolean {
    return this.#socket !== undefined && !this.#closed;
  }

  /** Connects, reads the greeting and leaves negotiation mode; rejects (and closes) on any failure. */
  async connect(timeoutMs = QMP_CONNECT_TIMEOUT_MS): Promise<QmpGreeting> {
    if (this.#logPath) {
      const log = fs.createWriteStream(this.#logPath, { flags: 'a' });
      // A log that cannot be written (its VM folder deleted meanwhile) must not end the process.
      log.on('error', () => {
        if (this.#log === log) this.#log = undefined;
      });
      this.#log = log;
    }
    const deadline = setTimeout(() => {
      this.#teardown(new QmpTimeoutError('greeting', timeoutMs));
    }, timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#greetingWaiter = { resolve, reject };
        const socket = net.createConnection(this.socketPath);
        this.#socket = socket;
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => this.#onData(chunk));
        socket.on('error', (error) => this.#teardown(error));
        socket.on('close', () => this.#teardown(undefined));
      });
      await this.run('qmp_capabilities');
      return this.greeting!;
    } catch (error) {
      this.close();
      throw error;
    } finally {
      clearTimeout(deadline);
    }
  }

  /**
   * Runs a QMP command and resolves with its `return` value. Rejects with {@link QmpCommandError}
   * when QEMU answers an error, {@link QmpTimeoutError} after `timeoutMs`, and
   * {@link QmpDisconnectedError} if the monitor is or becomes disconnected.
   */
  run<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options?: { timeoutMs?: number },
  ): Promise<T> {
    if (this.#closed || !this.#socket) {
      return Promise.reject(
        new QmpDisconnectedError(`Cannot run QMP command ${command}: monitor is not connected`),
      );
    }
    const id = String(this.#nextId++);
    const message: Record<string, unknown> = { execute: command, id };
    if (args && Object.keys(args).length > 0) message.arguments = args;
    const timeoutMs = options?.timeoutMs ?? this.#commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#writeLog('timeout', { id, command, timeoutMs });
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, {
        command,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      const line = JSON.stringify(message);
      this.#writeLog('>', message);
      this.#socket!.write(`${line}\n`);
    });
  }

  /** Resolves with the next event named `name` (matching `predicate`), or rejects after `timeoutMs` or on disconnect. */
  waitForEvent<D = Record<string, unknown>>(
    name: string,
    timeoutMs: number,
    predicate?: (event: QmpEvent<D>) => boolean,
  ): Promise<QmpEvent<D>> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      const onEvent = (event: QmpEvent): void => {
        const typed = event as QmpEvent<D>;
        if (event.event === name && (!predicate || predicate(typed))) {
          cleanup();
          resolve(typed);
        }
      };
      const onClose = (): void => {
        cleanup();
        reject(new QmpDisconnectedError(`QMP monitor closed while waiting for event ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new QmpTimeoutError(`wait for event ${name}`, timeoutMs));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Closes the connection; pending commands fail with {@link QmpDisconnectedError}. QEMU keeps running. */
  close(): void {
    this.#teardown(undefined);
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.length > 0) this.#onLine(line);
      newline = this.#buffer.indexOf('\n');
    }
  }

  #onLine(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#teardown(new QmpProtocolError(`QMP sent invalid JSON: ${line.slice(0, 200)}`));
      return;
    }
    this.#writeLog('<', message);
    if ('QMP' in message) {
      this.greeting = message.QMP as QmpGreeting;
      const waiter = this.#greetingWaiter;
      this.#greetingWaiter = undefined;
      waiter?.resolve();
      return;
    }
    if (this.#greetingWaiter) {
      this.#teardown(new QmpProtocolError('QMP server did not start with a greeting'));
      return;
    }
    if (typeof message.event === 'string') {
      this.emit('event', message as unknown as QmpEvent);
      return;
    }
    const id = message.id === undefined ? undefined : String(message.id);
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending || id === undefined) return; // a reply to a command that already timed out
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      pending.reject(
        new QmpCommandError(pending.command, error.class ?? 'GenericError', error.desc ?? ''),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  #teardown(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new QmpDisconnectedError(
      error ? `QMP monitor connection lost: ${error.message}` : 'QMP monitor connection lost',
      { cause: error },
    );
    const waiter = this.#greetingWaiter;
    this.#greetingWaiter = undefined;
    waiter?.reject(error instanceof QmpError ? error : reason);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.#pending.clear();
    this.#socket?.destroy();
    this.#writeLog('closed', { reason: error?.message ?? 'closed' });
    this.#log?.end();
    this.#log = undefined;
    this.emit('close', error);
  }

  #writeLog(direction: string, payload: unknown): void {
    this.#log?.write(`${new Date().toISOString()} ${direction} ${JSON.stringify(payload)}\n`);
  }
}
