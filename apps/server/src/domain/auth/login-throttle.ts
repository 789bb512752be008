import type { Knex } from 'knex';

/** Failed sign-ins allowed for one account from one client address within the window. */
export const MAX_FAILURES_PER_ACCOUNT_AND_IP = 5;
/**
 * Failed sign-ins allowed for one account from all addresses together: a guesser spread over many
 * addresses is slowed down, while five wrong guesses from one place never lock the owner out.
 */
export const MAX_FAILURES_PER_ACCOUNT = 50;
/** Failed sign-ins allowed per client address within the window (a classroom shares one address). */
export const MAX_FAILURES_PER_IP = 50;
/** The window over which failures are counted. */
export const THROTTLE_WINDOW_MS = 15 * 60 * 1000;

/** How often rows of keys not tried again are swept from the table. */
const SWEEP_INTERVAL_MS = 60_000;

/** A sign-in attempt let through, counted as a failure until it is settled as a success. */
export interface LoginAttempt {
  email: string;
  ip: string;
  at: number;
}

/**
 * Counts failed sign-ins per account and address, per account, and per address, in a sliding
 * window, in the database, so every replica throttles together. An attempt is counted as a failure
 * the moment it is let through (before the password is checked), under a lock on its account and
 * address, so parallel attempts cannot pass the limit together, on any replica; a success takes it
 * back and forgets the account's failures from that address.
 */
export class LoginThrottle {
  #nextSweep = 0;

  constructor(
    private readonly knex: Knex,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Lets an attempt through and counts it, or answers how many milliseconds to wait first.
   */
  async begin(
    email: string,
    ip: string,
  ): Promise<{ attempt: LoginAttempt } | { retryAfterMs: number }> {
    await this.#sweep();
    const at = this.now();
    const cutoff = new Date(at - THROTTLE_WINDOW_MS);
    return this.knex.transaction(async (trx) => {
      // Account before address, always: two attempts never wait on each other's lock in a cycle.
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`sign-in:account:${email}`]);
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`sign-in:ip:${ip}`]);
      let wait = 0;
      for (const [key, max] of keysOf(email, ip)) {
        const times = await trx('sign_in_failures')
          .where({ key })
          .where('at', '>', cutoff)
          .orderBy('at', 'desc')
          .limit(max)
          .pluck<Date[]>('at');
        if (times.length < max) continue;
        wait = Math.max(wait, new Date(times[max - 1]!).getTime() + THROTTLE_WINDOW_MS - at);
      }
      if (wait > 0) return { retryAfterMs: wait };
      await trx('sign_in_failures').insert(
        keysOf(email, ip).map(([key]) => ({ key, at: new Date(at) })),
      );
      return { attempt: { email, ip, at } };
    });
  }

  /** Settles an attempt that signed in: it and the account's failures from that address are forgotten. */
  async succeeded(attempt: LoginAttempt): Promise<void> {
    const [accountAndIp, account, address] = keysOf(attempt.email, attempt.ip).map(([key]) => key);
    await this.knex.transaction(async (trx) => {
      await trx('sign_in_failures').where({ key: accountAndIp }).delete();
      // One row of each: the attempt itself (others at the same millisecond stay counted).
      await trx('sign_in_failures')
        .whereIn(
          'ctid',
          trx('sign_in_failures')
            .whereIn('key', [account!, address!])
            .where({ at: new Date(attempt.at) })
            .select(trx.raw('min(ctid)'))
            .groupBy('key'),
        )
        .delete();
    });
  }

  /** Drops failures outside the window now and then, keeping the table bounded. */
  async #sweep(): Promise<void> {
    if (this.now() < this.#nextSweep) return;
    this.#nextSweep = this.now() + SWEEP_INTERVAL_MS;
    await this.knex('sign_in_failures')
      .where('at', '<=', new Date(this.now() - THROTTLE_WINDOW_MS))
      .delete();
  }
}

/** The three counters an attempt counts in, with their limits. */
function keysOf(email: string, ip: string): Array<[string, number]> {
  return [
    [`account-ip:${email}:${ip}`, MAX_FAILURES_PER_ACCOUNT_AND_IP],
    [`account:${email}`, MAX_FAILURES_PER_ACCOUNT],
    [`ip:${ip}`, MAX_FAILURES_PER_IP],
  ];
}
