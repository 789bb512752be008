import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { runOnConsole } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason();

// Members' home disks with real guests (TCG; the tiny image mounts its home on /root), on
// Postgres under CI.
describe.skipIf(skipReason)('home disks with real guests', () => {
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let imageId: string;
  let studentId: string;
  let student: TestClient;
  let admin: TestClient;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Systems programming')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 5, vcpus: 20, memory_mib: 20_000, disk_gib: 100 });
    studentId = (await createFixtureUser(knex, 'student@example.test', { tenantId })).id;
    await createFixtureUser(knex, 'admin@example.test', { tenantId, role: 'admin' });
    imageId = await registerTinyImage(knex);
    server = await startTestServer(database);
    student = new TestClient(server.url);
    admin = new TestClient(server.url);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await admin.login('admin@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    const enabled = await admin.send('PATCH', `/api/v1/tenants/${tenantId}`, { homeDiskGib: 1 });
    expect(enabled.status).toBe(200);
    expect(enabled.body.homeDiskGib).toBe(1);
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  const lab = (name: string) => ({
    tenantId,
    name,
    imageId,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
  });
  const homeFile = () => path.join(server.runDir, 'homes', tenantId, `${studentId}.img`);

  it("keeps a member's home through a reset and into their next lab, one running lab at a time", async () => {
    const first = await student.send('POST', '/api/v1/vms', lab('first'));
    expect(first.status).toBe(201);
    await waitForVmState(student, first.body.id, 'running', 120_000);
    expect(fs.existsSync(homeFile())).toBe(true);
    const mounted = await runOnConsole(
      server.url,
      student,
      first.body.id,
      'grep " /root " /proc/mounts; echo kept > /root/kept; echo lost > /etc/lost; sync',
    );
    expect(mounted).toMatch(/^\/dev\/vdb \/root ext4/m);
    // The home counts in the class's disk: the lab's 1 GiB and the home's 1 GiB.
    const quota = await admin.send('GET', `/api/v1/tenants/${tenantId}/quota`);
    expect(quota.body.usage.diskGib).toBeGreaterThanOrEqual(2);
    const members = await admin.send('GET', `/api/v1/tenants/${tenantId}/members`);
    expect(
      members.body.items.find((m: { userId: string }) => m.userId === studentId).homeDiskGib,
    ).toBe(1);

    // One running lab at a time has the home.
    const second = await student.send('POST', '/api/v1/vms', lab('second'));
    expect(second.status).toBe(409);
    expect(second.body.error.message).toMatch(
      /home disk .* in use by their lab "first" \(running\)/,
    );

    // A reset loses what is outside the home and keeps what is in it.
    const startedAt = (await student.send('GET', `/api/v1/vms/${first.body.id}`)).body.startedAt;
    expect((await student.send('POST', `/api/v1/vms/${first.body.id}/reset`)).status).toBe(202);
    await expect
      .poll(
        async () => {
          const vm = (await student.send('GET', `/api/v1/vms/${first.body.id}`)).body;
          return vm.state === 'running' && vm.startedAt !== startedAt;
        },
        { timeout: 120_000, interval: 200 },
      )
      .toBe(true);
    const afterReset = await runOnConsole(
      server.url,
      student,
      first.body.id,
      'cat /root/kept; cat /etc/lost',
    );
    expect(afterReset).toContain('kept');
    expect(afterReset).toMatch(/'\/etc\/lost': No such file/);

    // The home follows its member to a new lab once the first is stopped.
    await student.send('POST', `/api/v1/vms/${first.body.id}/stop`);
    await waitForVmState(student, first.body.id, 'stopped', 120_000);
    const next = await student.send('POST', '/api/v1/vms', lab('second'));
    expect(next.status).toBe(201);
    await waitForVmState(student, next.body.id, 'running', 120_000);
    expect(await runOnConsole(server.url, student, next.body.id, 'cat /root/kept')).toContain(
      'kept',
    );
    for (const id of [first.body.id, next.body.id])
      await student.send('DELETE', `/api/v1/vms/${id}`);
  });

  it('deletes a member’s home with their membership', async () => {
    expect(fs.existsSync(homeFile())).toBe(true);
    const removed = await admin.send('DELETE', `/api/v1/tenants/${tenantId}/members/${studentId}`);
    expect(removed.status).toBe(204);
    expect(fs.existsSync(homeFile())).toBe(false);
    expect(await database.knex('home_disks').where({ user_id: studentId })).toEqual([]);
  });
});
