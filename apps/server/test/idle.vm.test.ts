import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { ConsoleSocket } from './support/console-client.js';
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

// Idle suspension, never idle stop, with a real guest: the tenant's policy suspends a VM nobody
// typed into, its viewers warned first; opening its console resumes it with its work.
describe.skipIf(skipReason)('idle suspension with a real guest', () => {
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let imageId: string;
  let student: TestClient;
  let tenantAdmin: TestClient;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Night class')).id;
    await createFixtureUser(database.knex, 'owl@example.test', { tenantId, role: 'member' });
    await createFixtureUser(database.knex, 'dean@example.test', { tenantId, role: 'admin' });
    imageId = await registerTinyImage(database.knex);
    server = await startTestServer(database);
    student = new TestClient(server.url);
    tenantAdmin = new TestClient(server.url);
    expect((await student.login('owl@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await tenantAdmin.login('dean@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  /** Makes the VM look idle since `minutes` ago (its last input and its start). */
  const idleSince = (vmId: string, minutes: number) =>
    database
      .knex('vms')
      .where({ id: vmId })
      .update({
        last_activity_at: new Date(Date.now() - minutes * 60_000),
        started_at: new Date(Date.now() - minutes * 60_000),
      });

  it('lets tenant admins set the idle policy, and only them', async () => {
    const path = `/api/v1/tenants/${tenantId}`;
    expect((await student.send('PATCH', path, { idleSuspendMinutes: 5 })).body.error.code).toBe(
      'FORBIDDEN',
    );
    // The name stays the platform's to change.
    expect((await tenantAdmin.send('PATCH', path, { name: 'Renamed' })).body.error.code).toBe(
      'FORBIDDEN',
    );
    const tooShort = await tenantAdmin.send('PATCH', path, { idleSuspendMinutes: 1 });
    expect(tooShort.body.error.code).toBe('VALIDATION');
    const set = await tenantAdmin.send('PATCH', path, { idleSuspendMinutes: 5 });
    expect(set.body).toMatchObject({ idleSuspendMinutes: 5 });
  });

  it('warns, suspends an idle VM with its work kept, and resumes it when its console opens', async () => {
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'sleepy',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    const vm = await waitForVmState(student, created.body.id, 'running');
    const terminal = await ConsoleSocket.open(server.url, student, vm.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/);
    terminal.type('echo kept-$((40+2)) > /root/work; sync; echo written\n');
    await terminal.waitFor(/written/);

    // An interactive console open: in use, however old its last key.
    await idleSince(vm.id, 10);
    await server.idleSuspender.check();
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
    terminal.close();

    // A minute short of the policy: a watching viewer is told.
    const watcher = await ConsoleSocket.open(server.url, student, vm.id, { mode: 'view' });
    await expect.poll(() => watcher.controls.length).toBeGreaterThan(0);
    await idleSince(vm.id, 4.5);
    await server.idleSuspender.check();
    await expect
      .poll(() => watcher.controls.map((control) => control.message).join('\n'))
      .toContain('will be suspended in a minute');

    await idleSince(vm.id, 6);
    await server.idleSuspender.check();
    const suspended = await waitForVmState(student, vm.id, 'suspended');
    expect(suspended.stateReason).toContain('5 minutes without input');
    const audit = await database
      .knex('audit_log')
      .where({ action: 'vm.suspend', target_id: vm.id })
      .first();
    expect(audit).toMatchObject({ actor_id: null });
    expect(audit.details).toMatchObject({ reason: 'idle', idleMinutes: 5 });
    const quota = await student.send('GET', `/api/v1/tenants/${tenantId}/quota`);
    expect(quota.body.usage.runningVms).toBe(0);

    // Opening its console resumes it where it was: the socket connects once it runs.
    const back = await ConsoleSocket.open(server.url, student, vm.id);
    back.type('cat /root/work\n');
    await back.waitFor(/kept-42/, 30_000);
    const resumed = (await student.send('GET', `/api/v1/vms/${vm.id}`)).body;
    expect(resumed).toMatchObject({ state: 'running', bootPath: 'saved-state' });
    back.close();
    watcher.close();
    expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
  });
});
