import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
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

interface TicketRow {
  ticket_hash: string;
  user_id: string;
  vm_id: string;
  kind: 'serial' | 'vnc';
  mode: 'interactive' | 'view';
  expires_at: Date;
  expired: boolean;
}

/** How often a replica drops every user's expired tickets. */
const TICKET_SWEEP_INTERVAL_MS = 60_000;

/**
 * Single-use console tickets, bound to user, VM, kind and mode, expiring after
 * {@link CONSOLE_TICKET_TTL_MS}. Kept in the database (by the ticket's hash, never the ticket), so
 * any server replica redeems a ticket another issued; expiry is judged by the database's clock.
 */
export class ConsoleTickets {
  /** When this replica next drops every user's expired tickets. */
  #nextSweep = 0;

  constructor(private readonly knex: Knex) {}

  /** Issues a ticket for a grant; RATE_LIMITED while the user holds too many unused ones. */
  async issue(grant: ConsoleGrant): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = randomBytes(24).toString('base64url');
    await this.#sweep();
    const expiresAt = await this.knex.transaction(async (trx) => {
      // One issue per user at a time, on every replica: the count below cannot be raced past.
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [
        `console-tickets:${grant.userId}`,
      ]);
      await trx('console_tickets')
        .where({ user_id: grant.userId })
        .andWhere('expires_at', '<', trx.fn.now())
        .delete();
      const [counted] = await trx('console_tickets')
        .where({ user_id: grant.userId })
        .count<[{ count: string | number }]>({ count: '*' });
      if (Number(counted?.count) >= MAX_OUTSTANDING_TICKETS_PER_USER) {
        throw new AppError(
          'RATE_LIMITED',
          `You have ${MAX_OUTSTANDING_TICKETS_PER_USER} console tickets not used yet; wait ${CONSOLE_TICKET_TTL_MS / 1000} seconds.`,
        );
      }
      const [row] = await trx('console_tickets')
        .insert({
          ticket_hash: hashOf(ticket),
          user_id: grant.userId,
          vm_id: grant.vmId,
          kind: grant.kind,
          mode: grant.mode,
          expires_at: trx.raw(`now() + interval '${CONSOLE_TICKET_TTL_MS} milliseconds'`),
        })
        .returning<Array<{ expires_at: Date }>>('expires_at');
      return row!.expires_at;
    });
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /**
   * Redeems a ticket once: the grant when it is live and matches the user, VM and kind asked for;
   * a reason otherwise. A ticket is used up by any attempt, right or wrong.
   */
  async redeem(
    ticket: string,
    expected: Omit<ConsoleGrant, 'mode'>,
  ): Promise<ConsoleGrant | { refused: string }> {
    const [row] = await this.knex<TicketRow>('console_tickets')
      .where({ ticket_hash: hashOf(ticket) })
      .delete()
      .returning<TicketRow[]>(['*', this.knex.raw('expires_at < now() as expired')]);
    if (!row) return { refused: 'The console ticket is unknown or already used.' };
    if (row.expired) return { refused: 'The console ticket has expired.' };
    if (
      row.user_id !== expected.userId ||
      row.vm_id !== expected.vmId ||
      row.kind !== expected.kind
    ) {
      return { refused: 'The console ticket is for another user, VM or console.' };
    }
    return { userId: row.user_id, vmId: row.vm_id, kind: row.kind, mode: row.mode };
  }

  /** Drops every user's expired tickets now and then (a user's own go at each issue). */
  async #sweep(): Promise<void> {
    if (Date.now() < this.#nextSweep) return;
    this.#nextSweep = Date.now() + TICKET_SWEEP_INTERVAL_MS;
    await this.knex('console_tickets').where('expires_at', '<', this.knex.fn.now()).delete();
  }
}

function hashOf(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}
