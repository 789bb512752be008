import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from '../../../test/support/databases.js';
import { insertBlankImage, insertVmRow } from '../../../test/support/fake-vm.js';
import { createFixtureTenant, createFixtureUser } from '../../../test/support/fixtures.js';
import type { Database } from '../../db/database.js';
import { ConsoleConnections, MAX_CONSOLES_PER_USER } from '../consoles/console-connections.js';
import { LEADERSHIP_CHECK_MS, Leadership } from './leadership.js';
import { ReplicaBus, type ReplicaMessage } from './replica-bus.js';
import { REPLICA_TIMEOUT_MS, ReplicaRegistry } from './replica-registry.js';

const logger = pino({ level: 'silent' });

describe.each(TEST_DATABASES)('server replicas on $name', (kind) => {
  let database: Database;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
  });
  afterAll(async () => database?.close());

  it.skipIf(kind.skipReason)('tells every replica, the sender too, each message once', async () => {
    // On PGlite there is one process, so one bus; on a Postgres server, two replicas' buses.
    const buses = database.url
      ? [new ReplicaBus(database, logger), new ReplicaBus(database, logger)]
      : [new ReplicaBus(database, logger)];
    const heard = buses.map(() => [] as ReplicaMessage[]);
    for (const [index, bus] of buses.entries()) {
      bus.on('message', (message) => heard[index]!.push(message));
    }
    try {
      for (const bus of buses) await bus.open();
      const notice: ReplicaMessage = { type: 'console-notice', vmId: 'vm-1', message: 'hello' };
      await buses[0]!.publish(notice);
      await expect.poll(() => heard).toEqual(buses.map(() => [notice]));
    } finally {
      for (const bus of buses) await bus.close();
    }
  });

  it.skipIf(kind.skipReason)(
    'lets one replica lead, and another take over when it stops',
    async () => {
      const first = new Leadership(database, logger);
      const second = new Leadership(database, logger);
      try {
        await first.start();
        await second.start();
        if (!database.url) {
          // Embedded PGlite is one process's database: that process leads.
          expect([first.isLeader, second.isLeader]).toEqual([true, true]);
          return;
        }
        expect([first.isLeader, second.isLeader]).toEqual([true, false]);
        await first.close();
        await expect.poll(() => second.isLeader, { timeout: LEADERSHIP_CHECK_MS * 3 }).toBe(true);
      } finally {
        await first.close();
        await second.close();
      }
    },
  );
});

// Replicas need a Postgres server (embedded PGlite is one process's database).
const POSTGRES = TEST_DATABASES.filter((kind) => kind.name === 'postgres');

describe.each(POSTGRES)('console presence over replicas on $name', (kind) => {
  let database: Database;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
  });
  afterAll(async () => database?.close());

  it.skipIf(kind.skipReason)(
    'counts a user’s consoles over every replica, and forgets those of a replica that died',
    async () => {
      const knex = database.knex;
      const tenant = await createFixtureTenant(knex, 'Presence');
      const user = await createFixtureUser(knex, 'watcher@presence.test');
      const { imageId } = await insertBlankImage(knex, '/tmp', 'f'.repeat(64));
      const vmId = await insertVmRow(knex, {
        tenantId: tenant.id,
        ownerId: user.id,
        imageId,
        name: 'watched',
      });
      const replicas = [
        new ReplicaRegistry(database, logger),
        new ReplicaRegistry(database, logger),
      ];
      for (const replica of replicas) await replica.start();
      const [first, second] = replicas.map(
        (replica) => new ConsoleConnections(knex, replica.id),
      ) as [ConsoleConnections, ConsoleConnections];
      try {
        const socket = { userId: user.id, vmId, kind: 'serial', mode: 'view' } as const;
        const opened = await Promise.allSettled(
          Array.from({ length: MAX_CONSOLES_PER_USER + 4 }, (_, index) =>
            (index % 2 === 0 ? first : second).open(socket),
          ),
        );
        expect(opened.filter((result) => result.status === 'fulfilled')).toHaveLength(
          MAX_CONSOLES_PER_USER,
        );
        expect(await first.hasInteractive(vmId)).toBe(false);
        const interactive = await second.to([vmId]);
        expect(interactive).toEqual([
          expect.objectContaining({ vmId, userId: user.id, kind: 'serial', mode: 'view' }),
        ]);
        // The second replica stops beating: its sockets stop counting, then go with it.
        await knex('server_replicas')
          .where({ id: replicas[1]!.id })
          .update({ seen_at: new Date(Date.now() - REPLICA_TIMEOUT_MS - 1000) });
        const id = await first.open({ ...socket, mode: 'interactive' });
        expect(await second.hasInteractive(vmId)).toBe(true);
        await first.close(id);
        expect(await second.hasInteractive(vmId)).toBe(false);
        await replicas[0]!.beat();
        expect(await knex('server_replicas').pluck('id')).toEqual([replicas[0]!.id]);
      } finally {
        for (const replica of replicas) await replica.close();
      }
      const [left] = await knex('console_connections').count({ count: '*' });
      expect(Number(left?.count)).toBe(0);
    },
  );
});
