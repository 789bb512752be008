import { randomBytes } from 'node:crypto';

/** How long a console ticket can be redeemed. */
export const CONSOLE_TICKET_TTL_MS = 30_000;

/** What a ticket lets its holder open. */
export interface ConsoleGrant {
  userId: string;
  vmId: string;
  kind: 'serial' | 'vnc';
  mode: 'interactive' | 'view';
}

/**
 * Single-use console tickets, bound to user, VM, kind and mode, expiring after
 * {@link CONSOLE_TICKET_TTL_MS}. Kept in this process's memory: the WebSocket upgrade must reach
 * the replica that issued the ticket (sticky sessions behind a load balancer).
 */
export class ConsoleTickets {
  readonly #tickets = new Map<string, ConsoleGrant & { expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Issues a ticket for a grant. */
  issue(grant: ConsoleGrant): { ticket: string; expiresAt: Date } {
    this.#sweep();
    const ticket = randomBytes(24).toString('base64url');
    const expiresAt = this.now() + CONSOLE_TICKET_TTL_MS;
    this.#tickets.set(ticket, { ...grant, expiresAt });
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /**
   * Redeems a ticket once: the grant when it is live and matches the user, VM and kind asked for;
   * a reason otherwise. A ticket is used up by any attempt, right or wrong.
   */
  redeem(ticket: string, expected: Omit<ConsoleGrant, 'mode'>): ConsoleGrant | { refused: string } {
    const grant = this.#tickets.get(ticket);
    this.#tickets.delete(ticket);
    if (!grant) return { refused: 'The console ticket is unknown or already used.' };
    if (grant.expiresAt < this.now()) return { refused: 'The console ticket has expired.' };
    if (
      grant.userId !== expected.userId ||
      grant.vmId !== expected.vmId ||
      grant.kind !== expected.kind
    ) {
      return { refused: 'The console ticket is for another user, VM or console.' };
    }
    const { expiresAt: _expiresAt, ...rest } = grant;
    return rest;
  }

  #sweep(): void {
    const now = this.now();
    for (const [ticket, grant] of this.#tickets)
      if (grant.expiresAt < now) this.#tickets.delete(ticket);
  }
}
