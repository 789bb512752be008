import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { ConsoleSocket } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { openEvents } from './support/events-client.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { RfbTestClient } from './support/rfb-client.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason();

// Real guests under TCG, through the API and the console WebSocket, on real Postgres when the
// test setup could start one (always under CI), else on PGlite.
describe.skipIf(skipReason)('VMs and consoles with real guests', () => {
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let otherTenantId: string;
  let imageId: string;
  let student: TestClient;
  let teacher: TestClient;
  let outsider: TestClient;
  let root: TestClient;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Class A')).id;
    otherTenantId = (await createFixtureTenant(knex, 'Class B')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 5, vcpus: 20, memory_mib: 20_000, disk_gib: 100 });
    await createFixtureUser(knex, 'student@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'teacher@example.test', { tenantId, role: 'instructor' });
    await createFixtureUser(knex, 'outsider@example.test', {
      tenantId: otherTenantId,
      role: 'admin',
    });
    await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    imageId = await registerTinyImage(knex);
    server = await startTestServer(database);
    student = new TestClient(server.url);
    teacher = new TestClient(server.url);
    outsider = new TestClient(server.url);
    root = new TestClient(server.url);
    expect((await root.login('root@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    for (const [client, email] of [
      [student, 'student'],
      [teacher, 'teacher'],
      [outsider, 'outsider'],
    ] as const) {
      expect((await client.login(`${email}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterEach(async () => {
    // Whatever a test left behind (a failed assertion midway) must not eat the next test's quota.
    for (const vm of (await teacher.send('GET', '/api/v1/vms')).body.items) {
      await teacher.send('DELETE', `/api/v1/vms/${vm.id}`);
    }
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  const body = (name: string) => ({
    tenantId,
    name,
    imageId,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
  });

  it('boots a lab, answers a command on the serial console, shares it read-only, and stops it', async () => {
    const created = await student.send('POST', '/api/v1/vms', body('lab-1'));
    expect(created.status).toBe(201);
    expect(created.body.state).toBe('starting');
    const running = await waitForVmState(student, created.body.id, 'running');
    expect(running.startedAt).not.toBeNull();

    const terminal = await ConsoleSocket.open(server.url, student, running.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/);
    const mark = terminal.output.length;
    terminal.type('echo answer-$((6*7))\n');
    await terminal.waitFor(/answer-42/, 20_000, mark);

    // The instructor watches: same screen (scrollback replayed), and cannot type.
    const watcher = await ConsoleSocket.open(server.url, teacher, running.id, { mode: 'view' });
    await watcher.waitFor(/answer-42/);
    await expect
      .poll(() => terminal.controls.at(-1))
      .toMatchObject({
        type: 'viewers',
        viewers: expect.arrayContaining([
          expect.objectContaining({ name: 'teacher', mode: 'view' }),
        ]),
      });
    // A second tab of the same watcher is one person in the list, not two.
    const controlsBefore = terminal.controls.length;
    const secondTab = await ConsoleSocket.open(server.url, teacher, running.id, { mode: 'view' });
    const announced = () =>
      terminal.controls.slice(controlsBefore).findLast((control) => control.type === 'viewers');
    await expect.poll(announced).toBeDefined();
    const people = announced()!.viewers as Array<{ name: string }>;
    expect(people.filter((viewer) => viewer.name === 'teacher')).toHaveLength(1);
    secondTab.close();
    watcher.type('echo from-watcher\n');
    const mark2 = terminal.output.length;
    terminal.type('echo still-$((2+3))\n');
    await terminal.waitFor(/still-5/, 20_000, mark2);
    expect(terminal.output).not.toContain('from-watcher');

    // Taking the instructor out of the tenant closes their console within a second.
    const teacherId = (await teacher.send('GET', '/api/v1/me')).body.user.id;
    const removedAt = Date.now();
    expect(
      (await root.send('DELETE', `/api/v1/tenants/${tenantId}/members/${teacherId}`)).status,
    ).toBe(204);
    await expect
      .poll(() => watcher.closed, { timeout: 1000, interval: 20 })
      .toEqual({ code: 4404, reason: 'Your access to this VM was removed.' });
    expect(Date.now() - removedAt).toBeLessThan(1000);
    expect(
      (
        await root.send('POST', `/api/v1/tenants/${tenantId}/members`, {
          email: 'teacher@example.test',
          role: 'instructor',
        })
      ).status,
    ).toBe(201);

    const activity = (await student.send('GET', `/api/v1/vms/${running.id}`)).body.lastActivityAt;
    expect(activity).not.toBeNull();

    // A foreign tenant cannot get a ticket; a ticket works once, for its VM and Origin only.
    expect(
      (
        await outsider.send('POST', `/api/v1/vms/${running.id}/console`, {
          kind: 'serial',
          mode: 'view',
        })
      ).status,
    ).toBe(404);
    const ticket = await student.send('POST', `/api/v1/vms/${running.id}/console`, {
      kind: 'serial',
      mode: 'interactive',
    });
    await expect(
      ConsoleSocket.open(server.url, student, running.id, {
        url: ticket.body.url,
        origin: 'http://evil.example',
      }),
    ).rejects.toThrow('upgrade refused: 403');
    await expect(
      ConsoleSocket.open(server.url, student, running.id, { url: ticket.body.url }),
    ).rejects.toThrow('upgrade refused: 403');
    const vncTicket = await student.send('POST', `/api/v1/vms/${running.id}/console`, {
      kind: 'vnc',
      mode: 'view',
    });
    await expect(
      ConsoleSocket.open(server.url, student, running.id, {
        url: vncTicket.body.url.replace('/vnc?', '/serial?'),
      }),
    ).rejects.toThrow('upgrade refused: 403');
    await expect(
      ConsoleSocket.open(server.url, teacher, running.id, {
        url: (await student.send('POST', `/api/v1/vms/${running.id}/console`, { kind: 'serial' }))
          .body.url,
      }),
    ).rejects.toThrow('upgrade refused: 403');

    const quotaRunning = (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body
      .usage;
    expect(quotaRunning).toMatchObject({ runningVms: 1, vcpus: 1, memoryMib: 128, diskGib: 1 });

    const stop = await student.send('POST', `/api/v1/vms/${running.id}/stop`);
    expect(stop.status).toBe(202);
    expect(stop.body.state).toBe('stopping');
    await waitForVmState(student, running.id, 'stopped');
    await expect.poll(() => terminal.closed?.code).toBe(4404);
    const quotaStopped = (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body
      .usage;
    expect(quotaStopped).toMatchObject({ runningVms: 0, vcpus: 0, memoryMib: 0, diskGib: 1 });
    expect(
      await database.knex('usage_intervals').where({ vm_id: running.id }).whereNull('ended_at'),
    ).toEqual([]);
    expect((await student.send('DELETE', `/api/v1/vms/${running.id}`)).status).toBe(204);
  });

  it('admits exactly the quota out of 50 parallel creates', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        student.send('POST', '/api/v1/vms', body(`burst-${index}`)),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(5);
    expect(statuses.filter((status) => status === 409)).toHaveLength(45);
    expect(answers.find((answer) => answer.status === 409)!.body.error.details).toEqual({
      resource: 'runningVms',
      limit: 5,
      used: 5,
      requested: 1,
    });
    const created = answers
      .filter((answer) => answer.status === 201)
      .map((answer) => answer.body.id as string);
    for (const id of created) await waitForVmState(student, id, 'running', 120_000);
    for (const id of created)
      expect((await student.send('DELETE', `/api/v1/vms/${id}`)).status).toBe(204);
    expect(await server.engine.listVms()).toEqual([]);
  });

  it('snapshots a lab, restores its disk and its memory, and counts snapshots in the quota', async () => {
    const created = await student.send('POST', '/api/v1/vms', body('snap-lab'));
    const vm = await waitForVmState(student, created.body.id, 'running');
    let terminal = await ConsoleSocket.open(server.url, student, vm.id);
    const run = async (command: string, expected: RegExp) => {
      const mark = terminal.output.length;
      terminal.type(`${command}\n`);
      await terminal.waitFor(expected, 30_000, mark);
    };
    terminal.type('\n');
    await terminal.waitFor(/# $/);
    await run('echo before > /root/file; sync; echo written', /\nwritten/);

    const events = await openEvents(server, student);
    const disk = await student.send('POST', `/api/v1/vms/${vm.id}/snapshots`, { name: 'clean' });
    expect(disk.status).toBe(201);
    expect(disk.body).toMatchObject({ name: 'clean', memory: false, parentId: null });
    // An open page learns of the snapshot at once (the VM now stands on it; its activity grew).
    await expect
      .poll(() => events.events.some((e) => e.data.currentSnapshotId === disk.body.id))
      .toBe(true);
    await events.close();
    await run('echo after > /root/file; sync; echo changed', /\nchanged/);

    const restoredDisk = await student.send(
      'POST',
      `/api/v1/vms/${vm.id}/snapshots/${disk.body.id}/restore`,
    );
    expect(restoredDisk.status).toBe(200);
    await waitForVmState(student, vm.id, 'running');
    terminal.close();
    terminal = await ConsoleSocket.open(server.url, student, vm.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/, 30_000);
    await run('cat /root/file', /\nbefore\n/);

    await run('export MARK=kept-$((40+2)); echo set', /\nset/);
    const memory = await student.send('POST', `/api/v1/vms/${vm.id}/snapshots`, {
      name: 'with-memory',
      memory: true,
    });
    expect(memory.status).toBe(201);
    expect(memory.body).toMatchObject({ memory: true, parentId: disk.body.id });
    expect(memory.body.sizeBytes).toBeGreaterThan(0);
    await run('export MARK=lost; echo reset', /\nreset/);
    const restoredMemory = await student.send(
      'POST',
      `/api/v1/vms/${vm.id}/snapshots/${memory.body.id}/restore`,
    );
    expect(restoredMemory.status).toBe(200);
    terminal.close();
    terminal = await ConsoleSocket.open(server.url, student, vm.id);
    await run('echo value=$MARK', /value=kept-42/);
    terminal.close();

    const list = await student.send('GET', `/api/v1/vms/${vm.id}/snapshots`);
    expect(list.body.items.map((snapshot: { name: string }) => snapshot.name)).toEqual([
      'clean',
      'with-memory',
    ]);
    expect(
      (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body.usage.snapshots,
    ).toBe(2);
    expect(
      (await student.send('POST', `/api/v1/vms/${vm.id}/snapshots`, { name: 'clean' })).status,
    ).toBe(409);
    expect((await outsider.send('GET', `/api/v1/vms/${vm.id}/snapshots`)).status).toBe(404);
    expect(
      (await student.send('DELETE', `/api/v1/vms/${vm.id}/snapshots/${disk.body.id}`)).status,
    ).toBe(204);
    const after = await student.send('GET', `/api/v1/vms/${vm.id}/snapshots`);
    expect(after.body.items).toEqual([
      expect.objectContaining({ name: 'with-memory', parentId: null }),
    ]);
  });

  it('keeps a lab running and known across a server restart, and marks a killed one crashed', async () => {
    const created = await student.send('POST', '/api/v1/vms', body('survivor'));
    const vm = await waitForVmState(student, created.body.id, 'running');
    let terminal = await ConsoleSocket.open(server.url, student, vm.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/, 30_000);
    const before = terminal.output.length;
    terminal.type('export KEEP=yes-$((1+1)); echo ok\n');
    await terminal.waitFor(/\nok/, 20_000, before);

    const runDir = server.runDir;
    const { pid } = await server.engine.getVm(vm.id);
    await server.close({ keepVms: true });
    await expect.poll(() => terminal.closed?.code).toBe(1012);
    expect(() => process.kill(pid!, 0)).not.toThrow();

    server = await startTestServer(database, { engine: { runDir } });
    await server.vms.reconcile();
    for (const client of [student, teacher, outsider, root]) client.baseUrl = server.url;
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
    terminal = await ConsoleSocket.open(server.url, student, vm.id);
    const mark = terminal.output.length;
    terminal.type('echo kept=$KEEP\n');
    await terminal.waitFor(/kept=yes-2/, 20_000, mark);
    terminal.close();

    process.kill((await server.engine.getVm(vm.id)).pid!, 'SIGKILL');
    const crashed = await waitForVmState(student, vm.id, 'crashed', 10_000);
    expect(crashed.stateReason).toMatch(/QEMU/);
    expect(
      (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body.usage.runningVms,
    ).toBe(0);
  });

  it("drops a view-only VNC viewer's keys in the server, while an interactive viewer types into the guest", async () => {
    const created = await student.send('POST', '/api/v1/vms', body('desktop'));
    const vm = await waitForVmState(student, created.body.id, 'running');
    const terminal = await ConsoleSocket.open(server.url, student, vm.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/, 30_000);
    const ticketFor = async (client: TestClient, mode: string) =>
      (await client.send('POST', `/api/v1/vms/${vm.id}/console`, { kind: 'vnc', mode })).body
        .url as string;

    const watcher = await RfbTestClient.connect(
      server.url,
      await ticketFor(teacher, 'view'),
      teacher.cookieHeader!,
    );
    await watcher.typeLine('touch /watcherfile');
    const driver = await RfbTestClient.connect(
      server.url,
      await ticketFor(student, 'interactive'),
      student.cookieHeader!,
    );
    // A viewer asking for exclusive access must not cut the others off (QEMU would, by default).
    const grabber = await RfbTestClient.connect(
      server.url,
      await ticketFor(teacher, 'view'),
      teacher.cookieHeader!,
      { shared: false },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(watcher.closed).toBe(false);
    expect(driver.closed).toBe(false);
    await driver.typeLine('touch /driverfile');

    // The guest's own view: the interactive viewer's file appears on its disk, the watcher's never does.
    const check = async () => {
      const mark = terminal.output.length;
      terminal.type('ls /driverfile /watcherfile 2>&1; echo done\n');
      return (await terminal.waitFor(/([\s\S]*)\ndone\n/, 20_000, mark))[1]!;
    };
    await expect.poll(check, { timeout: 30_000, interval: 1000 }).toMatch(/^\/driverfile$/m);
    expect(await check()).toMatch(/watcherfile: No such file/);
    watcher.close();
    driver.close();
    grabber.close();
    terminal.close();
  });

  it('records serial sessions as asciicast v2 when the tenant asks, for instructors to play back', async () => {
    expect(
      (await root.send('PATCH', `/api/v1/tenants/${tenantId}`, { recordingEnabled: true })).status,
    ).toBe(200);
    const created = await student.send('POST', '/api/v1/vms', body('recorded'));
    const vm = await waitForVmState(student, created.body.id, 'running');
    const terminal = await ConsoleSocket.open(server.url, student, vm.id);
    terminal.type('\n');
    await terminal.waitFor(/# $/, 30_000);
    const mark = terminal.output.length;
    terminal.type('echo recorded-$((3*3))\n');
    await terminal.waitFor(/recorded-9/, 20_000, mark);
    terminal.close();
    expect((await student.send('POST', `/api/v1/vms/${vm.id}/stop`)).status).toBe(202);
    await waitForVmState(student, vm.id, 'stopped');

    expect((await student.send('GET', `/api/v1/vms/${vm.id}/recordings`)).status).toBe(403);
    const list = await teacher.send('GET', `/api/v1/vms/${vm.id}/recordings`);
    expect(list.body.items).toEqual([
      expect.objectContaining({
        vmName: 'recorded',
        viewers: [expect.objectContaining({ name: 'student', mode: 'interactive' })],
        endedAt: expect.any(String),
      }),
    ]);
    const cast = await teacher.send('GET', `/api/v1/recordings/${list.body.items[0].id}/cast`);
    expect(cast.headers.get('content-type')).toContain('application/x-asciicast');
    const lines = (cast.body as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ version: 2, title: 'recorded' });
    const events = lines.slice(1) as Array<[number, string, string]>;
    expect(
      events
        .filter(([, kind]) => kind === 'o')
        .map(([, , text]) => text)
        .join(''),
    ).toContain('recorded-9');
    expect(
      events
        .filter(([, kind]) => kind === 'i')
        .map(([, , text]) => text)
        .join(''),
    ).toContain('echo recorded-$((3*3))');
    expect(
      events.every(([seconds], index) => index === 0 || seconds >= events[index - 1]![0]),
    ).toBe(true);
    expect(
      (await outsider.send('GET', `/api/v1/recordings/${list.body.items[0].id}/cast`)).status,
    ).toBe(404);
    await root.send('PATCH', `/api/v1/tenants/${tenantId}`, { recordingEnabled: false });
  });
});
