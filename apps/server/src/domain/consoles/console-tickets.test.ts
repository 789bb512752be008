import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from '../../../test/support/databases.js';
import { insertBlankImage, insertVmRow } from '../../../test/support/fake-vm.js';
import { createFixtureTenant, createFixtureUser } from '../../../test/support/fixtures.js';
import type { Database } from '../../db/database.js';
import { ConsoleTickets, MAX_OUTSTANDING_TICKETS_PER_USER } from './console-tickets.js';

describe.each(TEST_DATABASES)('console tickets on $name', (kind) => {
  let database: Database;
  let tickets: ConsoleTickets;
  let grant: { userId: string; vmId: string; kind: 'serial'; mode: 'view' };
  let otherUserId: string;
  let otherVmId: string;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
    const knex = database.knex;
    const tenant = await createFixtureTenant(knex, 'Tickets');
    const user = await createFixtureUser(knex, 'ticket-holder@example.test');
    const other = await createFixtureUser(knex, 'ticket-other@example.test');
    const { imageId } = await insertBlankImage(knex, '/tmp');
    const vmId = await insertVmRow(knex, {
      tenantId: tenant.id,
      ownerId: user.id,
      imageId,
      name: 'a',
    });
    otherVmId = await insertVmRow(knex, {
      tenantId: tenant.id,
      ownerId: user.id,
      imageId,
      name: 'b',
    });
    otherUserId = other.id;
    grant = { userId: user.id, vmId, kind: 'serial', mode: 'view' };
    tickets = new ConsoleTickets(knex);
  });
  afterAll(async () => database?.close());

  it.skipIf(kind.skipReason)(
    'redeems a ticket once, for its user, VM and kind, on any replica',
    async () => {
      const { ticket } = await tickets.issue(grant);
      // Another replica's instance over the same database redeems it.
      const elsewhere = new ConsoleTickets(database.knex);
      expect(await elsewhere.redeem(ticket, grant)).toEqual(grant);
      expect(await tickets.redeem(ticket, grant)).toEqual({
        refused: 'The console ticket is unknown or already used.',
      });
      const stored = await database.knex('console_tickets').pluck('ticket_hash');
      expect(stored).not.toContain(ticket);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses and uses up a ticket presented for another user, VM or kind',
    async () => {
      for (const expected of [
        { ...grant, userId: otherUserId },
        { ...grant, vmId: otherVmId },
        { ...grant, kind: 'vnc' as const },
      ]) {
        const { ticket } = await tickets.issue(grant);
        expect(await tickets.redeem(ticket, expected)).toEqual({
          refused: 'The console ticket is for another user, VM or console.',
        });
        expect(await tickets.redeem(ticket, grant)).toHaveProperty('refused');
      }
    },
  );

  it.skipIf(kind.skipReason)('refuses an expired ticket', async () => {
    const { ticket } = await tickets.issue(grant);
    await database.knex('console_tickets').update({ expires_at: new Date(Date.now() - 1000) });
    expect(await tickets.redeem(ticket, grant)).toEqual({
      refused: 'The console ticket has expired.',
    });
  });

  it.skipIf(kind.skipReason)(
    'lets one user hold a bounded number of unused tickets, even issued in parallel',
    async () => {
      const issued = await Promise.allSettled(
        Array.from({ length: MAX_OUTSTANDING_TICKETS_PER_USER + 5 }, () => tickets.issue(grant)),
      );
      expect(issued.filter((result) => result.status === 'fulfilled')).toHaveLength(
        MAX_OUTSTANDING_TICKETS_PER_USER,
      );
      expect(issued.find((result) => result.status === 'rejected')).toMatchObject({
        reason: { code: 'RATE_LIMITED' },
      });
      await expect(tickets.issue({ ...grant, userId: otherUserId })).resolves.toHaveProperty(
        'ticket',
      );
      // Expired tickets stop counting.
      await database.knex('console_tickets').update({ expires_at: new Date(Date.now() - 1000) });
      await expect(tickets.issue(grant)).resolves.toHaveProperty('ticket');
    },
  );
});
