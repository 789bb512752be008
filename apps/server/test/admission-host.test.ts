/**
 * Host capacity is exact across tenants: many tenants creating at once get exactly what the host
 * can hold, never more, while each tenant's admissions serialise only on its own quota row. The
 * fake driver runs the VMs (its host: 1024 MiB, 2 CPUs), so they hold resources without booting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

const TENANTS = 10;
const CREATES_PER_TENANT = 3;

describe.each(TEST_DATABASES)('host capacity across tenants on $name', (kind) => {
  let server: TestServer;
  let imageId: string;
  const members: Array<{ client: TestClient; tenantId: string }> = [];
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-host-'));

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    ({ server } = await startServerOnFakeDriver(database));
    imageId = (await insertBlankImage(database.knex, isoDir)).imageId;
    for (let index = 0; index < TENANTS; index++) {
      const tenantId = (await createFixtureTenant(database.knex, `Class ${index}`)).id;
      const email = `member-${index}@example.test`;
      await createFixtureUser(database.knex, email, { tenantId });
      const client = new TestClient(server.url);
      expect((await client.login(email, FIXTURE_PASSWORD)).status).toBe(200);
      members.push({ client, tenantId });
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it.skipIf(kind.skipReason)(
    'admits exactly what the host holds when every tenant creates at once',
    async () => {
      const { allocatable } = server.engine.capacity();
      const memoryMib = 256;
      const fits = Math.floor(allocatable.memoryMib / memoryMib);
      const answers = await Promise.all(
        members.flatMap(({ client, tenantId }) =>
          Array.from({ length: CREATES_PER_TENANT }, (_, index) =>
            client.send('POST', '/api/v1/vms', {
              tenantId,
              name: `lab-${index}`,
              imageId,
              vcpus: 1,
              memoryMib,
              diskGib: 1,
            }),
          ),
        ),
      );
      expect(answers.filter((answer) => answer.status === 201)).toHaveLength(fits);
      const refused = answers.filter((answer) => answer.status !== 201);
      expect(refused).toHaveLength(TENANTS * CREATES_PER_TENANT - fits);
      for (const answer of refused) {
        expect(answer.body.error).toMatchObject({
          code: 'QUOTA_EXCEEDED',
          details: { resource: 'hostMemoryMib', limit: allocatable.memoryMib },
        });
        // What the refusal reports in use never counts the refused VM itself.
        expect(answer.body.error.details.used).toBeLessThanOrEqual(allocatable.memoryMib);
      }
      const held = await server.database
        .knex('vms')
        .whereIn('state', ['starting', 'running'])
        .sum<{ memory: string }[]>('memory_mib as memory');
      expect(Number(held[0]!.memory)).toBe(fits * memoryMib);
    },
  );
});
