/**
 * `diskGib` counts the bytes VMs really take on the host's disk (snapshots and saved memory
 * states can pin more than a VM's disk size), as the reconciler measures them through the engine.
 * The fake driver reports the bytes, so no guest has to write gigabytes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FakeDriver } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage, startFakeVm, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

const GIB = 1024 ** 3;

describe.each(TEST_DATABASES)('disk quota of real bytes on $name', (kind) => {
  let server: TestServer;
  let driver: FakeDriver;
  let student: TestClient;
  let tenantId: string;
  let imageId: string;
  let vmId: string;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-disk-'));

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Storage class')).id;
    await knex('quotas').where({ tenant_id: tenantId }).update({ disk_gib: 5 });
    const user = await createFixtureUser(knex, 'pinner@example.test', { tenantId });
    ({ server, driver } = await startServerOnFakeDriver(database));
    const image = await insertBlankImage(knex, isoDir);
    imageId = image.imageId;
    vmId = await startFakeVm(server, { tenantId, ownerId: user.id, name: 'pinner' }, image);
    student = new TestClient(server.url);
    expect((await student.login('pinner@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  const usage = async () =>
    (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body.usage.diskGib;
  const newVm = (diskGib: number) =>
    student.send('POST', '/api/v1/vms?dryRun=1', {
      tenantId,
      name: 'another',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib,
    });

  it.skipIf(kind.skipReason)(
    'counts the bytes a VM pins beyond its disk, and refuses disks and snapshots past the quota',
    async () => {
      expect(await usage()).toBe(1);
      // Snapshots and saved states have grown the VM to 5 GiB on the host: the quota is full.
      driver.diskBytes.set(vmId, 5 * GIB);
      await server.vms.reconcile();
      expect(await usage()).toBe(5);
      expect((await newVm(1)).body.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { resource: 'diskGib', limit: 5, used: 5 },
      });
      const snapshot = await student.send('POST', `/api/v1/vms/${vmId}/snapshots`, {
        name: 'one-more',
      });
      expect(snapshot.body.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { resource: 'diskGib' },
      });
      // Deleting snapshots frees the bytes: the next measure gives the room back.
      driver.diskBytes.set(vmId, 2 * GIB);
      await server.vms.reconcile();
      expect(await usage()).toBe(2);
      expect((await newVm(3)).status).toBe(200);
    },
  );
});
