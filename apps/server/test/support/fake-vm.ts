import fs from 'node:fs';
import path from 'node:path';
import { FakeDriver } from '@labvisor/engine/testing';
import type { Knex } from 'knex';
import type { Database } from '../../src/db/database.js';
import { startTestServer, type TestServer } from './test-server.js';

/** A blank ISO image row whose file exists, for VMs of a fake-driver engine (nothing boots). */
export async function insertBlankImage(knex: Knex, dir: string, sha256 = 'e'.repeat(64)) {
  const isoPath = path.join(dir, 'empty.iso');
  fs.writeFileSync(isoPath, '');
  const [image] = await knex('images')
    .insert({ name: 'blank', kind: 'iso', format: 'iso', path: isoPath, size_bytes: 0, sha256 })
    .returning<{ id: string }[]>('id');
  return { imageId: image!.id, isoPath };
}

/** Inserts a VM row of a tenant (1 vCPU, 128 MiB, 1 GiB) and returns its id. */
export async function insertVmRow(
  knex: Knex,
  row: { tenantId: string; ownerId: string; imageId: string; name: string; state?: string },
): Promise<string> {
  const [inserted] = await knex('vms')
    .insert({
      tenant_id: row.tenantId,
      owner_id: row.ownerId,
      image_id: row.imageId,
      name: row.name,
      vcpus: 1,
      memory_mib: 128,
      disk_gib: 1,
      state: row.state ?? 'stopped',
    })
    .returning<{ id: string }[]>('id');
  return inserted!.id;
}

/**
 * A VM that the database says is running and the server's (fake-driver) engine runs: its consoles
 * open through the real gateway onto the fake driver's streams.
 */
export async function startFakeVm(
  server: TestServer,
  row: { tenantId: string; ownerId: string; name: string },
  image: { imageId: string; isoPath: string },
): Promise<string> {
  const vmId = await insertVmRow(server.database.knex, {
    ...row,
    imageId: image.imageId,
    state: 'running',
  });
  await server.engine.createVm({
    id: vmId,
    name: row.name,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
    boot: { kind: 'iso', isoPath: image.isoPath },
  });
  await server.engine.startVm(vmId);
  return vmId;
}

/** Starts a test server whose engine runs the fake driver (no guest boots); answers both. */
export async function startServerOnFakeDriver(
  database: Database,
): Promise<{ server: TestServer; driver: FakeDriver }> {
  let driver: FakeDriver | undefined;
  const server = await startTestServer(database, {
    driverFactory: async (observer) => {
      driver = new FakeDriver(observer);
      return driver;
    },
  });
  return { server, driver: driver! };
}
