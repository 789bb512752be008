import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { qemuPaths } from '@labvisor/engine/qemu';
import { BOOT_SECTOR_MARKER, buildMarkerBootSector } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootableIso } from './support/boot-iso.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { uploadImage } from './support/image-upload.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';
import { guestSkipReason } from './support/tiny-image.js';

const skipReason = guestSkipReason();
/** Real Postgres when the test setup started one (always under CI), else PGlite. */
const databaseKind = TEST_DATABASES.find((kind) => !kind.skipReason)!;

// A tenant admin uploads an installer ISO; a student's VM boots from it through the firmware.
describe.skipIf(skipReason)('a VM made from an uploaded ISO', () => {
  let server: TestServer;
  let runDir: string;
  let tenantId: string;
  let admin: TestClient;
  let student: TestClient;

  beforeAll(async () => {
    const database = await openMigratedDatabase(databaseKind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Class A')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 2, vcpus: 4, memory_mib: 4096, disk_gib: 20 });
    await createFixtureUser(knex, 'admin@example.test', { tenantId, role: 'admin' });
    await createFixtureUser(knex, 'student@example.test', { tenantId });
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-iso-vms-'));
    server = await startTestServer(database, { engine: { runDir } });
    admin = new TestClient(server.url);
    student = new TestClient(server.url);
    expect((await admin.login('admin@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('boots the ISO with a blank disk of the asked size, and the image is kept while the VM lives', async () => {
    const iso = buildBootableIso(buildMarkerBootSector());
    const uploaded = await uploadImage(admin, { name: 'installer', format: 'iso', tenantId }, iso);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    expect(uploaded.body).toMatchObject({ kind: 'iso', format: 'iso', defaultDiskGib: 8 });

    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'from-iso',
      imageId: uploaded.body.id,
      vcpus: 1,
      memoryMib: 64,
      diskGib: 2,
    });
    expect(created.status).toBe(201);
    const vmId = created.body.id as string;
    await expect
      .poll(async () => (await student.send('GET', `/api/v1/vms/${vmId}`)).body.state, {
        timeout: 60_000,
        interval: 200,
      })
      .toBe('running');
    // The firmware booted the CD: the boot code printed its marker on the serial port.
    const paths = qemuPaths(path.join(runDir, vmId));
    await expect
      .poll(() => fs.readFileSync(paths.serialLog, 'utf8'), { timeout: 30_000, interval: 200 })
      .toContain(BOOT_SECTOR_MARKER);
    expect(fs.readFileSync(paths.log, 'utf8')).toContain('media=cdrom');
    const disk = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', paths.disk], { encoding: 'utf8' }),
    );
    expect(disk['virtual-size']).toBe(2 * 1024 ** 3);

    const inUse = await admin.send('DELETE', `/api/v1/images/${uploaded.body.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.message).toBe(
      'Image "installer" is used by VM "from-iso"; delete it first.',
    );
    expect((await student.send('DELETE', `/api/v1/vms/${vmId}`)).status).toBe(204);
    expect((await admin.send('DELETE', `/api/v1/images/${uploaded.body.id}`)).status).toBe(204);
  });
});
