import { EventEmitter } from 'node:events';
import type { Vm } from '@labvisor/shared';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import type { VmAudience } from '../vms/vm-visibility.js';

/** The Postgres channel the replicas talk on. */
const CHANNEL = 'labvisor_replicas';
/** How long a lost listening connection waits before it connects again. */
const RECONNECT_MS = 1_000;

/** What one replica tells every replica (itself included). */
export type ReplicaMessage =
  /** A member's VM changed: as the API answers it, and who may see it. */
  | { type: 'vm-changed'; vm: Vm; audience: VmAudience }
  /** A member's VM was deleted. */
  | { type: 'vm-deleted'; id: string; audience: VmAudience }
  /** Someone may have lost access (a member removed or demoted, an account disabled). */
  | { type: 'access-changed'; userId?: string; tenantId?: string }
  /** A line for the viewers of a VM's serial console, wherever they are connected. */
  | { type: 'console-notice'; vmId: string; message: string };

/**
 * Messages between the server replicas on one database: `NOTIFY` on a Postgres server, heard on a
 * connection of its own that `LISTEN`s (and comes back after the server does); within this process
 * on embedded PGlite, which is one process's database. Every replica, the sender too, hears each
 * message once as `message`. A message sent while a replica's listening connection is down is
 * not heard by it (pages reconnect their event streams; consoles re-check access on reconnect).
 */
export class ReplicaBus extends EventEmitter<{ message: [ReplicaMessage] }> {
  #listener: pg.Client | undefined;
  #closed = false;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Starts hearing the other replicas (on a Postgres server, resolves once it listens). */
  async open(): Promise<void> {
    if (this.database.url) await this.#listen(this.database.url);
  }

  /** Sends a message to every replica. */
  async publish(message: ReplicaMessage): Promise<void> {
    if (!this.database.url) {
      setImmediate(() => this.emit('message', message));
      return;
    }
    await this.database.knex.raw('select pg_notify(?, ?)', [CHANNEL, JSON.stringify(message)]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#listener?.end().catch(() => {});
    this.removeAllListeners();
  }

  async #listen(url: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (notification) => {
      if (notification.channel !== CHANNEL || !notification.payload) return;
      try {
        this.emit('message', JSON.parse(notification.payload) as ReplicaMessage);
      } catch (error) {
        this.logger.warn({ err: error }, 'a replica message could not be read');
      }
    });
    // Until it listens, a failure is the promise's; afterwards the connection's loss is handled.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    client.removeAllListeners('error');
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'the replica bus lost its connection');
      this.#reconnect(url, client);
    });
    client.on('end', () => this.#reconnect(url, client));
    this.#listener = client;
  }

  #reconnect(url: string, lost: pg.Client): void {
    if (this.#closed || this.#listener !== lost) return;
    this.#listener = undefined;
    const retry = (): void => {
      if (this.#closed) return;
      this.#listen(url).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'the replica bus cannot listen yet');
        setTimeout(retry, RECONNECT_MS).unref();
      });
    };
    setTimeout(retry, RECONNECT_MS).unref();
  }
}
