/** Failed sign-ins allowed per account within the window before it is throttled. */
export const MAX_FAILURES_PER_ACCOUNT = 5;
/** Failed sign-ins allowed per client address within the window (a classroom shares one address). */
export const MAX_FAILURES_PER_IP = 50;
/** The window over which failures are counted. */
export const THROTTLE_WINDOW_MS = 15 * 60 * 1000;

const SWEEP_THRESHOLD = 10_000;

/**
 * Counts failed sign-ins per account and per client address in a sliding window, in this
 * process's memory (each replica throttles on its own; the limits are per replica).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds until the next attempt is allowed, or 0 when it is allowed now. */
  retryAfterMs(email: string, ip: string): number {
    return Math.max(
      this.waitFor(`account:${email}`, MAX_FAILURES_PER_ACCOUNT),
      this.waitFor(`ip:${ip}`, MAX_FAILURES_PER_IP),
    );
  }

  /** Records a failed attempt. */
  recordFailure(email: string, ip: string): void {
    if (this.failures.size > SWEEP_THRESHOLD) this.sweep();
    for (const key of [`account:${email}`, `ip:${ip}`]) {
      const recent = this.recent(key);
      recent.push(this.now());
      this.failures.set(key, recent);
    }
  }

  /** Forgets the account's failures after a successful sign-in. */
  recordSuccess(email: string): void {
    this.failures.delete(`account:${email}`);
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
