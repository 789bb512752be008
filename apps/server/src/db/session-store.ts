import type { SessionData } from 'express-session';
import session from 'express-session';
import type { Knex } from 'knex';

const DEFAULT_TTL_MS = 7 * 24 * 60 * 60 * 1000;
const PRUNE_INTERVAL_MS = 15 * 60 * 1000;
/**
 * A session's later expiry is written at most this often: every request of a signed-in browser
 * touches its session, and each must not be a write to the database.
 */
const TOUCH_INTERVAL_MS = 60 * 1000;

type Callback<T = void> = (error?: unknown, value?: T) => void;

/** Where a session expires: its cookie's expiry, or the default lifetime from now. */
function expiryOf(data: SessionData): Date {
  const expires = data.cookie?.expires;
  return expires ? new Date(expires) : new Date(Date.now() + DEFAULT_TTL_MS);
}

/** An express-session store on the `sessions` table, so sign-ins survive restarts and replicas share them. */
export class KnexSessionStore extends session.Store {
  private readonly pruneTimer: NodeJS.Timeout;
  /** When this process last wrote each session's expiry (entries older than TOUCH_INTERVAL_MS go). */
  readonly #touchedAt = new Map<string, number>();

  constructor(private readonly knex: Knex) {
    super();
    this.pruneTimer = setInterval(
      () => void this.pruneExpired().catch(() => {}),
      PRUNE_INTERVAL_MS,
    );
    this.pruneTimer.unref();
  }

  /** Deletes every expired session. */
  async pruneExpired(): Promise<number> {
    const now = Date.now();
    for (const [sid, at] of this.#touchedAt) {
      if (now - at >= TOUCH_INTERVAL_MS) this.#touchedAt.delete(sid);
    }
    // `returning` rather than the affected-row count: knex-pglite does not report counts for deletes.
    const deleted = await this.knex('sessions')
      .where('expires_at', '<', this.knex.fn.now())
      .delete()
      .returning('sid');
    return deleted.length;
  }

  /** Stops the pruning timer. */
  close(): void {
    clearInterval(this.pruneTimer);
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.knex('sessions')
      .where({ sid })
      .andWhere('expires_at', '>', this.knex.fn.now())
      .first('data')
      .then(
        (row: { data: SessionData } | undefined) => callback(undefined, row?.data ?? null),
        callback,
      );
  }

  override set(sid: string, data: SessionData, callback?: Callback): void {
    const userId = (data as { passport?: { user?: string } }).passport?.user ?? null;
    this.knex('sessions')
      .insert({ sid, user_id: userId, data: JSON.stringify(data), expires_at: expiryOf(data) })
      .onConflict('sid')
      .merge()
      .then(
        () => callback?.(),
        (error: unknown) => callback?.(error),
      );
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#touchedAt.delete(sid);
    this.knex('sessions')
      .where({ sid })
      .delete()
      .then(
        () => callback?.(),
        (error: unknown) => callback?.(error),
      );
  }

  /** Writes the session's later expiry, unless this process wrote it less than a minute ago. */
  override touch(sid: string, data: SessionData, callback?: Callback): void {
    const now = Date.now();
    if (now - (this.#touchedAt.get(sid) ?? 0) < TOUCH_INTERVAL_MS) {
      callback?.();
      return;
    }
    this.#touchedAt.set(sid, now);
    this.knex('sessions')
      .where({ sid })
      .update({ expires_at: expiryOf(data) })
      .then(
        () => callback?.(),
        (error: unknown) => callback?.(error),
      );
  }
}
