import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { runOnConsole } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { insertBlankImage, insertVmRow } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason();

// Class templates and reset with real guests (TCG), on Postgres under CI.
describe.skipIf(skipReason)('class templates and reset with real guests', () => {
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let imageId: string;
  let student: TestClient;
  let teacher: TestClient;
  let templateId: string;
  let studentLabId: string;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Operating systems')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 5, vcpus: 20, memory_mib: 20_000, disk_gib: 100 });
    await createFixtureUser(knex, 'student@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'teacher@example.test', { tenantId, role: 'instructor' });
    imageId = await registerTinyImage(knex);
    server = await startTestServer(database);
    student = new TestClient(server.url);
    teacher = new TestClient(server.url);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await teacher.login('teacher@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  const startedAtOf = async (vmId: string): Promise<string> =>
    (await student.send('GET', `/api/v1/vms/${vmId}`)).body.startedAt;
  /** Waits until a lab that a reset stopped runs again (a later start than `startedAt`). */
  const waitForRestart = (vmId: string, startedAt: string) =>
    expect
      .poll(
        async () => {
          const vm = (await student.send('GET', `/api/v1/vms/${vmId}`)).body;
          return vm.state === 'running' && vm.startedAt !== startedAt;
        },
        { timeout: 120_000, interval: 200 },
      )
      .toBe(true);

  const lab = (name: string, from: string) => ({
    tenantId,
    name,
    imageId: from,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
  });

  it("publishes an instructor's prepared lab as a class template that a member launches from", async () => {
    const made = await teacher.send('POST', '/api/v1/vms', lab('prepared', imageId));
    expect(made.status).toBe(201);
    await waitForVmState(teacher, made.body.id, 'running', 120_000);
    await runOnConsole(
      server.url,
      teacher,
      made.body.id,
      'echo from-the-teacher > /root/prepared; sync',
    );

    const whileRunning = await teacher.send('POST', `/api/v1/vms/${made.body.id}/publish`, {
      name: 'os-week-1',
    });
    expect(whileRunning.status).toBe(409);
    expect(whileRunning.body.error.message).toMatch(/Stop VM "prepared" before publishing it/);
    await teacher.send('POST', `/api/v1/vms/${made.body.id}/stop`);
    await waitForVmState(teacher, made.body.id, 'stopped', 120_000);

    const byStudent = await student.send('POST', `/api/v1/vms/${made.body.id}/publish`, {
      name: 'os-week-1',
    });
    expect(byStudent.status).toBe(404);
    const published = await teacher.send('POST', `/api/v1/vms/${made.body.id}/publish`, {
      name: 'os-week-1',
    });
    expect(published.status).toBe(201);
    expect(published.body).toMatchObject({
      name: 'os-week-1',
      tenantId,
      defaultMemoryMib: 128,
      defaultDiskGib: 1,
    });
    templateId = published.body.id;
    const again = await teacher.send('POST', `/api/v1/vms/${made.body.id}/publish`, {
      name: 'os-week-1',
    });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already exists/);
    await teacher.send('DELETE', `/api/v1/vms/${made.body.id}`);

    // The member sees the template among the class's images and launches from it.
    const images = await student.send('GET', '/api/v1/images');
    expect(images.body.items.map((image: { name: string }) => image.name)).toContain('os-week-1');
    const launched = await student.send('POST', '/api/v1/vms', lab('my-lab', templateId));
    expect(launched.status).toBe(201);
    studentLabId = launched.body.id;
    await waitForVmState(student, studentLabId, 'running', 120_000);
    expect(await runOnConsole(server.url, student, studentLabId, 'cat /root/prepared')).toContain(
      'from-the-teacher',
    );
  });

  it("resets a member's lab to its template: their work and snapshots are lost, the lab runs again", async () => {
    expect(studentLabId).toBeDefined();
    await runOnConsole(server.url, student, studentLabId, 'echo my-work > /root/work; sync');
    const snapshot = await student.send('POST', `/api/v1/vms/${studentLabId}/snapshots`, {
      name: 'before-reset',
    });
    expect(snapshot.status).toBe(201);

    const startedAt = await startedAtOf(studentLabId);
    const reset = await student.send('POST', `/api/v1/vms/${studentLabId}/reset`);
    expect(reset.status).toBe(202);
    await waitForRestart(studentLabId, startedAt);
    const after = await runOnConsole(
      server.url,
      student,
      studentLabId,
      'cat /root/work; cat /root/prepared',
    );
    expect(after).toMatch(/No such file/);
    expect(after).toContain('from-the-teacher');
    expect((await student.send('GET', `/api/v1/vms/${studentLabId}/snapshots`)).body.items).toEqual(
      [],
    );
    const audit = await database.knex('audit_log').where({ action: 'vm.reset' });
    expect(audit).toHaveLength(1);
  });

  it('resets the whole class from the instructor, saying which labs it could not', async () => {
    const knex = database.knex;
    const studentId = (await knex('users').where({ email: 'student@example.test' }).first()).id;
    const iso = await insertBlankImage(knex, server.runDir, 'f'.repeat(64));
    await insertVmRow(knex, {
      tenantId,
      ownerId: studentId,
      imageId: iso.imageId,
      name: 'installed-from-iso',
    });
    const byStudent = await student.send('POST', `/api/v1/tenants/${tenantId}/reset-labs`, {});
    expect(byStudent.status).toBe(403);

    await runOnConsole(server.url, student, studentLabId, 'echo again > /root/work; sync');
    const startedAt = await startedAtOf(studentLabId);
    const reset = await teacher.send('POST', `/api/v1/tenants/${tenantId}/reset-labs`, {});
    expect(reset.status).toBe(202);
    expect(reset.body.reset.map((vm: { id: string }) => vm.id)).toEqual([studentLabId]);
    expect(reset.body.refused).toEqual([
      expect.objectContaining({
        name: 'installed-from-iso',
        reason: expect.stringMatching(/installed from an ISO image, not made from a template/),
      }),
    ]);
    await waitForRestart(studentLabId, startedAt);
    expect(await runOnConsole(server.url, student, studentLabId, 'cat /root/work')).toMatch(
      /No such file/,
    );
  });
});
