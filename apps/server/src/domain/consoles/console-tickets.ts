import { randomBytes } from 'node:crypto';
import { AppError } from '../../errors.js';

/** How long a console ticket can be redeemed. */
export const CONSOLE_TICKET_TTL_MS = 30_000;

/** Tickets one user may hold unused at once: more than the consoles they may have open. */
export const MAX_OUTSTANDING_TICKETS_PER_USER = 20;

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

  /** Issues a ticket for a grant; RATE_LIMITED while the user holds too many unused ones. */
  issue(grant: ConsoleGrant): { ticket: string; expiresAt: Date } {
    this.#sweep();
    let outstanding = 0;
    for (const held of this.#tickets.values()) if (held.userId === grant.userId) outstanding++;
    if (outstanding >= MAX_OUTSTANDING_TICKETS_PER_USER) {
      throw new AppError(
        'RATE_LIMITED',
        `You have ${MAX_OUTSTANDING_TICKETS_PER_USER} console tickets not used yet; wait ${CONSOLE_TICKET_TTL_MS / 1000} seconds.`,
      );
    }
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
