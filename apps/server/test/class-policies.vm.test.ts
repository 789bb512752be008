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

// Class policies with a real guest: the tenant's idle policy suspends a VM nobody
// typed into, its viewers warned first, and opening its console resumes it with its work; hour
// budgets warn at 80 % and suspend at 100 % while the VM runs.
describe.skipIf(skipReason)('idle suspension and hour budgets with a real guest', () => {
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

  it('lets a member’s own idle minutes replace the tenant’s', async () => {
    const me = (await student.send('GET', '/api/v1/me')).body.user.id as string;
    const limitsPath = `/api/v1/tenants/${tenantId}/members/${me}/limits`;
    expect(
      (await tenantAdmin.send('PUT', limitsPath, { limits: { idleSuspendMinutes: 20 } })).status,
    ).toBe(200);
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'patient',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    const vm = await waitForVmState(student, created.body.id, 'running');
    // Past the tenant's 5 minutes, within the member's 20: it keeps running.
    await idleSince(vm.id, 10);
    await server.idleSuspender.check();
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
    await idleSince(vm.id, 21);
    await server.idleSuspender.check();
    const suspended = await waitForVmState(student, vm.id, 'suspended');
    expect(suspended.stateReason).toContain('20 minutes without input');
    await tenantAdmin.send('PUT', limitsPath, { limits: null });
    expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
  });

  it('warns at 80 % of a member’s hour budget, suspends at 100 % and refuses starts until it is raised', async () => {
    const me = (await student.send('GET', '/api/v1/me')).body.user.id as string;
    const limitsPath = `/api/v1/tenants/${tenantId}/members/${me}/limits`;
    expect(
      (await tenantAdmin.send('PUT', limitsPath, { limits: { vmHoursPerMonth: 1 } })).status,
    ).toBe(200);
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'metered',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    const vm = await waitForVmState(student, created.body.id, 'running');
    const watcher = await ConsoleSocket.open(server.url, student, vm.id, { mode: 'view' });
    await expect.poll(() => watcher.controls.length).toBeGreaterThan(0);
    /**
     * Meters `minutes` more of the student's time this month, as a closed interval inside the month
     * (run just after a month began, the minutes before now would fall in the month before).
     */
    const meter = (minutes: number) => {
      const now = new Date();
      const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
      const startedAt = Math.max(now.getTime() - minutes * 60_000, monthStart);
      return database.knex('usage_intervals').insert({
        tenant_id: tenantId,
        user_id: me,
        vcpus: 1,
        memory_mib: 128,
        started_at: new Date(startedAt),
        ended_at: new Date(startedAt + minutes * 60_000),
      });
    };

    await meter(50);
    await server.budgetKeeper.check();
    await expect
      .poll(() => watcher.controls.map((control) => control.message).join('\n'))
      .toMatch(/Your own VM-hours this month: 0\.8\d of 1 used \(8\d %\)/);
    const quota = (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body;
    expect(quota.yours.vmHoursPerMonth).toBe(1);
    expect(quota.yours.vmHoursThisMonth).toBeGreaterThan(0.8);
    const members = (await tenantAdmin.send('GET', `/api/v1/tenants/${tenantId}/members`)).body;
    const row = members.items.find((member: { userId: string }) => member.userId === me);
    expect(row.vmHoursThisMonth).toBeGreaterThan(0.8);
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');

    await meter(15);
    await server.budgetKeeper.check();
    const suspended = await waitForVmState(student, vm.id, 'suspended');
    expect(suspended.stateReason).toContain('your own 1 VM-hours for this month are used up');
    const audit = await database
      .knex('audit_log')
      .where({ action: 'vm.suspend', target_id: vm.id })
      .first();
    expect(audit.details).toMatchObject({ reason: 'budget', scope: 'member', limit: 1 });
    // Neither a start nor opening its console runs it again until the budget is raised.
    const refused = await student.send('POST', `/api/v1/vms/${vm.id}/resume`);
    expect(refused.body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { resource: 'vmHours', limit: 1, scope: 'member' },
    });
    const ticket = await student.send('POST', `/api/v1/vms/${vm.id}/console`, {
      kind: 'serial',
      mode: 'interactive',
    });
    expect(ticket.body.error.code).toBe('QUOTA_EXCEEDED');
    await tenantAdmin.send('PUT', limitsPath, { limits: { vmHoursPerMonth: 5 } });
    expect((await student.send('POST', `/api/v1/vms/${vm.id}/resume`)).status).toBe(202);
    await waitForVmState(student, vm.id, 'running');
    watcher.close();
    expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
  });
});
