/**
 * What one user can hold through consoles is bounded: input has backpressure (a viewer sending
 * faster than the guest reads is paused, so the server's memory does not grow with what it sends)
 * and the consoles open per user are capped, also against parallel upgrades. The engine's driver
 * is the fake one, whose console streams nobody reads (a guest that never reads its serial port).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FakeDriver } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONSOLES_PER_USER } from '../src/domain/consoles/console-connections.js';
import { ConsoleSocket } from './support/console-client.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage, startFakeVm, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

const pglite = TEST_DATABASES.find((kind) => kind.name === 'pglite')!;
/** What a flooding viewer sends: far more than any buffer along the way. */
const FLOOD_BYTES = 32 * 1024 * 1024;
const FRAME_BYTES = 128 * 1024;

describe('console limits', () => {
  let server: TestServer;
  let driver: FakeDriver;
  let student: TestClient;
  let vmId: string;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-backpressure-'));

  beforeAll(async () => {
    const database = await openMigratedDatabase(pglite);
    const knex = database.knex;
    const tenant = await createFixtureTenant(knex, 'Class A');
    const user = await createFixtureUser(knex, 'student@example.test', { tenantId: tenant.id });
    ({ server, driver } = await startServerOnFakeDriver(database));
    vmId = await startFakeVm(
      server,
      { tenantId: tenant.id, ownerId: user.id, name: 'flooded' },
      await insertBlankImage(knex, isoDir),
    );
    student = new TestClient(server.url);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  /** Bytes the console stream holds that the guest has not read. */
  const held = (kind: 'serial' | 'vnc') =>
    driver.consoles
      .filter((console) => console.vmId === vmId && console.kind === kind)
      .reduce(
        (sum, { stream, input }) =>
          sum + stream.writableLength + input.readableLength + input.writableLength,
        0,
      );

  it('caps the consoles one user has open, even when the last ones are opened in parallel', async () => {
    const open: ConsoleSocket[] = [];
    for (let index = 0; index < MAX_CONSOLES_PER_USER - 3; index++) {
      open.push(await ConsoleSocket.open(server.url, student, vmId, { mode: 'view' }));
    }
    const tickets = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(
        async () =>
          (
            await student.send('POST', `/api/v1/vms/${vmId}/console`, {
              kind: 'serial',
              mode: 'view',
            })
          ).body.url as string,
      ),
    );
    const last = await Promise.allSettled(
      tickets.map((url) => ConsoleSocket.open(server.url, student, vmId, { url })),
    );
    expect(last.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
    const refused = last.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason)).toMatch(/upgrade refused: 429/);
    for (const result of last) if (result.status === 'fulfilled') open.push(result.value);
    for (const console of open) console.close();
    // Closed consoles give their places back.
    await new Promise((resolve) => setTimeout(resolve, 200));
    (await ConsoleSocket.open(server.url, student, vmId, { mode: 'view' })).close();
  });

  it.each(['serial', 'vnc'] as const)(
    'pauses a %s viewer that sends faster than the guest reads, holding a bounded amount',
    async (kind) => {
      const viewer = await ConsoleSocket.open(server.url, student, vmId, { kind });
      if (kind === 'vnc') {
        viewer.socket.send(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1])]));
      }
      // For VNC, key events (8 bytes each) as fast as the socket takes them.
      const frame =
        kind === 'serial'
          ? Buffer.alloc(FRAME_BYTES, 0x61)
          : Buffer.concat(
              Array.from({ length: FRAME_BYTES / 8 }, () =>
                Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x61]),
              ),
            );
      for (let sent = 0; sent < FLOOD_BYTES; sent += frame.length) {
        viewer.socket.send(frame, { binary: true });
      }
      // Let the server take in whatever it will.
      await expect.poll(() => held(kind) > 0).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(held(kind)).toBeLessThan(4 * 1024 * 1024);
      expect(viewer.socket.bufferedAmount).toBeGreaterThan(FLOOD_BYTES / 2);
      // A paused viewer reads no close frame; cut it (the server's keepalive would, within a minute).
      viewer.socket.terminate();
    },
  );
});
