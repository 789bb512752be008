import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';

/** How often a replica tells the database it is alive. */
export const REPLICA_HEARTBEAT_MS = 5_000;
/** A replica not heard from for this long is gone: its console sockets no longer count. */
export const REPLICA_TIMEOUT_MS = 15_000;

/**
 * This server among the replicas that share its database: registered under a fresh id at start,
 * alive while its heartbeat is fresh, removed (with the console sockets it held) when it closes.
 * Replicas that died without closing are removed by whichever replica sees them stale; on
 * embedded PGlite, one process's database, whatever an earlier run left is removed at start.
 */
export class ReplicaRegistry {
  readonly id = randomUUID();
  #timer: NodeJS.Timeout | undefined;

  readonly #knex: Knex;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {
    this.#knex = database.knex;
  }

  /** Registers this replica and keeps its heartbeat going until {@link close}. */
  async start(): Promise<void> {
    if (this.database.kind === 'pglite') await this.#knex('server_replicas').delete();
    await this.#knex('server_replicas').insert({ id: this.id });
    this.#timer = setInterval(() => void this.beat(), REPLICA_HEARTBEAT_MS);
    this.#timer.unref();
  }

  /** Says this replica is alive, and removes the replicas that stopped saying so. */
  async beat(): Promise<void> {
    try {
      await this.#knex('server_replicas')
        .insert({ id: this.id, seen_at: this.#knex.fn.now() })
        .onConflict('id')
        .merge();
      await this.#knex('server_replicas')
        .where(
          'seen_at',
          '<',
          this.#knex.raw(`now() - interval '${REPLICA_TIMEOUT_MS} milliseconds'`),
        )
        .delete();
    } catch (error) {
      this.logger.warn({ err: error }, 'the replica heartbeat failed');
    }
  }

  /** Stops the heartbeat and removes this replica and what it held. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#knex('server_replicas')
      .where({ id: this.id })
      .delete()
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'removing this replica from the database failed'),
      );
  }
}
