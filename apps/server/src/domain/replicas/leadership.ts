import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';

/** How often a replica that does not lead tries to, and a leader checks it still holds the lock. */
export const LEADERSHIP_CHECK_MS = 2_000;
/** The advisory lock the leader holds (any fixed number the database does not use otherwise). */
const LEADER_LOCK = 4_242_001;

/**
 * Which replica runs the background work that must run once (the reconciler, idle suspension,
 * hour budgets, warm pools, image builds): the one holding a session advisory lock on a Postgres
 * connection of its own. When that connection dies, Postgres releases the lock and another replica
 * takes it within {@link LEADERSHIP_CHECK_MS}. On embedded PGlite (one process) this server leads.
 */
export class Leadership {
  #client: pg.Client | undefined;
  #leading: boolean;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private readonly url: string | undefined;

  constructor(
    database: Database,
    private readonly logger: Logger,
  ) {
    this.url = database.url;
    this.#leading = this.url === undefined;
  }

  /** Starts competing for leadership; resolves after the first try. */
  async start(): Promise<void> {
    if (!this.url) return;
    await this.check();
    this.#timer = setInterval(() => void this.check(), LEADERSHIP_CHECK_MS);
    this.#timer.unref();
  }

  /** Whether this replica leads now. */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** Takes the lock when free, or checks the connection that holds it is still alive. */
  async check(): Promise<void> {
    if (!this.url || this.#closed) return;
    try {
      const client = this.#client ?? (await this.#connect(this.url));
      if (this.#leading) {
        await client.query('select 1');
        return;
      }
      const result = await client.query<{ taken: boolean }>(
        'select pg_try_advisory_lock($1) as taken',
        [LEADER_LOCK],
      );
      if (result.rows[0]?.taken) {
        this.#leading = true;
        this.logger.info('this replica leads the background work');
      }
    } catch (error) {
      this.#lose(error);
    }
  }

  /** Gives up leadership (its connection closes, so another replica takes it). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#leading = this.url === undefined;
    await this.#client?.end().catch(() => {});
  }

  async #connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    client.on('error', (error) => this.#lose(error));
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
    return client;
  }

  #lose(error: unknown): void {
    if (this.#leading) this.logger.warn({ err: error }, 'this replica lost the lead');
    this.#leading = false;
    const client = this.#client;
    this.#client = undefined;
    void client?.end().catch(() => {});
  }
}
