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

const SWEEP_THRESHOLD = 10_000;

/** A sign-in attempt let through, counted as a failure until it is settled as a success. */
export interface LoginAttempt {
  email: string;
  ip: string;
  at: number;
}

/**
 * Counts failed sign-ins per account and address, per account, and per address, in a sliding
 * window, in this process's memory (each replica throttles on its own). An attempt is counted as
 * a failure the moment it is let through (before the password is checked), so parallel attempts
 * cannot pass the limit together; a success takes it back and forgets the account's failures from
 * that address.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Lets an attempt through and counts it, or answers how many milliseconds to wait first.
   */
  begin(email: string, ip: string): { attempt: LoginAttempt } | { retryAfterMs: number } {
    if (this.failures.size > SWEEP_THRESHOLD) this.sweep();
    const wait = Math.max(...this.keys(email, ip).map(([key, max]) => this.waitFor(key, max)));
    if (wait > 0) return { retryAfterMs: wait };
    const at = this.now();
    for (const [key] of this.keys(email, ip)) {
      const recent = this.recent(key);
      recent.push(at);
      this.failures.set(key, recent);
    }
    return { attempt: { email, ip, at } };
  }

  /** Settles an attempt that signed in: it and the account's failures from that address are forgotten. */
  succeeded(attempt: LoginAttempt): void {
    this.failures.delete(`account-ip:${attempt.email}:${attempt.ip}`);
    for (const key of [`account:${attempt.email}`, `ip:${attempt.ip}`]) {
      const recent = this.recent(key);
      const index = recent.indexOf(attempt.at);
      if (index >= 0) recent.splice(index, 1);
      if (recent.length > 0) this.failures.set(key, recent);
      else this.failures.delete(key);
    }
  }

  private keys(email: string, ip: string): Array<[string, number]> {
    return [
      [`account-ip:${email}:${ip}`, MAX_FAILURES_PER_ACCOUNT_AND_IP],
      [`account:${email}`, MAX_FAILURES_PER_ACCOUNT],
      [`ip:${ip}`, MAX_FAILURES_PER_IP],
    ];
  }

  /** Drops keys whose failures are all outside the window, keeping memory bounded. */
  private sweep(): void {
    for (const key of [...this.failures.keys()]) this.recent(key);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - THROTTLE_WINDOW_MS;
    const recent = (this.failures.get(key) ?? []).filter((time) => time > cutoff);
    if (recent.length === 0) this.failures.delete(key);
    return recent;
  }

  private waitFor(key: string, max: number): number {
    const recent = this.recent(key);
    if (recent.length < max) return 0;
    return recent[recent.length - max]! + THROTTLE_WINDOW_MS - this.now();
  }
}
