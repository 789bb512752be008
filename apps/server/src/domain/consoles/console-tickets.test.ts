import { describe, expect, it } from 'vitest';
import {
  CONSOLE_TICKET_TTL_MS,
  ConsoleTickets,
  MAX_OUTSTANDING_TICKETS_PER_USER,
} from './console-tickets.js';

const GRANT = { userId: 'u1', vmId: 'vm1', kind: 'serial', mode: 'view' } as const;

describe('ConsoleTickets', () => {
  it('redeems a ticket once, for its user, VM and kind', () => {
    const tickets = new ConsoleTickets();
    const { ticket } = tickets.issue(GRANT);
    expect(tickets.redeem(ticket, { userId: 'u1', vmId: 'vm1', kind: 'serial' })).toEqual(GRANT);
    expect(tickets.redeem(ticket, { userId: 'u1', vmId: 'vm1', kind: 'serial' })).toEqual({
      refused: 'The console ticket is unknown or already used.',
    });
  });

  it.each([
    [{ userId: 'u2', vmId: 'vm1', kind: 'serial' }],
    [{ userId: 'u1', vmId: 'vm2', kind: 'serial' }],
    [{ userId: 'u1', vmId: 'vm1', kind: 'vnc' }],
  ] as const)('refuses and uses up a ticket presented for %o', (expected) => {
    const tickets = new ConsoleTickets();
    const { ticket } = tickets.issue(GRANT);
    expect(tickets.redeem(ticket, expected)).toEqual({
      refused: 'The console ticket is for another user, VM or console.',
    });
    expect(tickets.redeem(ticket, { userId: 'u1', vmId: 'vm1', kind: 'serial' })).toHaveProperty(
      'refused',
    );
  });

  it('refuses an expired ticket', () => {
    let now = 1_000_000;
    const tickets = new ConsoleTickets(() => now);
    const { ticket } = tickets.issue(GRANT);
    now += CONSOLE_TICKET_TTL_MS + 1;
    expect(tickets.redeem(ticket, GRANT)).toEqual({ refused: 'The console ticket has expired.' });
  });

  it('lets one user hold a bounded number of unused tickets, other users unaffected', () => {
    let now = 1_000_000;
    const tickets = new ConsoleTickets(() => now);
    for (let index = 0; index < MAX_OUTSTANDING_TICKETS_PER_USER; index++) tickets.issue(GRANT);
    expect(() => tickets.issue(GRANT)).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    expect(() => tickets.issue({ ...GRANT, userId: 'u2' })).not.toThrow();
    now += CONSOLE_TICKET_TTL_MS + 1;
    expect(() => tickets.issue(GRANT)).not.toThrow();
  });
});
