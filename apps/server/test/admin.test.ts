import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** `YYYY-MM-DD` of a time, in UTC. */
const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe.each(TEST_DATABASES)('admin pages API (usage, host, roles, users) on $name', (kind) => {
  let server: TestServer;
  let classA: { id: string };
  let classB: { id: string };
  const ids: Record<string, string> = {};
  const as: Record<string, TestClient> = {};

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Class A');
    classB = await createFixtureTenant(knex, 'Class B');
    const users = {
      root: await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true }),
      'admin-a': await createFixtureUser(knex, 'admin-a@example.test', {
        tenantId: classA.id,
        role: 'admin',
      }),
      'teacher-a': await createFixtureUser(knex, 'teacher-a@example.test', {
        tenantId: classA.id,
        role: 'instructor',
      }),
      'student-a': await createFixtureUser(knex, 'student-a@example.test', {
        tenantId: classA.id,
        role: 'member',
      }),
      'admin-b': await createFixtureUser(knex, 'admin-b@example.test', {
        tenantId: classB.id,
        role: 'admin',
      }),
      'leaver-a': await createFixtureUser(knex, 'leaver-a@example.test', {
        tenantId: classA.id,
        role: 'member',
      }),
    };
    for (const [name, user] of Object.entries(users)) ids[name] = user.id;
    server = await startTestServer(database);
    for (const name of Object.keys(users)) {
      as[name] = new TestClient(server.url);
      expect((await as[name]!.login(`${name}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'splits VM-hours at UTC midnights, counts open intervals up to now, keeps to the window and tenant',
    async () => {
      const knex = server.database.knex;
      const now = Date.now();
      const today = Math.floor(now / DAY_MS) * DAY_MS;
      const interval = (
        tenantId: string,
        userId: string | null,
        from: number,
        to: number | null,
      ) => ({
        tenant_id: tenantId,
        user_id: userId,
        vcpus: 1,
        memory_mib: 256,
        started_at: new Date(from),
        ended_at: to === null ? null : new Date(to),
      });
      const openSince = now - 3 * HOUR_MS;
      await knex('usage_intervals').insert([
        // 22:00 two days ago → 02:00 yesterday: 2 h on each day.
        interval(
          classA.id,
          ids['student-a']!,
          today - 2 * DAY_MS + 22 * HOUR_MS,
          today - DAY_MS + 2 * HOUR_MS,
        ),
        // 10:00 → 11:30 yesterday.
        interval(
          classA.id,
          ids['student-a']!,
          today - DAY_MS + 10 * HOUR_MS,
          today - DAY_MS + 11.5 * HOUR_MS,
        ),
        // Still running, for 3 h now (across midnight when the test runs before 03:00 UTC).
        interval(classA.id, ids['teacher-a']!, openSince, null),
        // Starts the day before the 30-day window: only its 3 h inside count, on the first day.
        interval(
          classA.id,
          ids['leaver-a']!,
          today - 30 * DAY_MS + 20 * HOUR_MS,
          today - 29 * DAY_MS + 3 * HOUR_MS,
        ),
        // Wholly before the window.
        interval(classA.id, ids['student-a']!, today - 40 * DAY_MS, today - 39 * DAY_MS),
        // Another tenant's.
        interval(
          classB.id,
          ids['admin-b']!,
          today - DAY_MS + HOUR_MS,
          today - DAY_MS + 5 * HOUR_MS,
        ),
      ]);

      const usage = await as['admin-a']!.send('GET', `/api/v1/tenants/${classA.id}/usage?days=30`);
      expect(usage.status).toBe(200);
      expect(usage.body.days).toHaveLength(30);
      expect(usage.body.days[0]).toBe(utcDate(today - 29 * DAY_MS));
      expect(usage.body.days[29]).toBe(utcDate(today));
      const hoursOf = (userId: string, date: string) =>
        usage.body.items
          .filter(
            (item: { userId: string; date: string }) =>
              item.userId === userId && item.date === date,
          )
          .reduce((sum: number, item: { vmHours: number }) => sum + item.vmHours, 0);
      expect(hoursOf(ids['student-a']!, utcDate(today - 2 * DAY_MS))).toBe(2);
      expect(hoursOf(ids['student-a']!, utcDate(today - DAY_MS))).toBe(3.5);
      expect(hoursOf(ids['leaver-a']!, utcDate(today - 29 * DAY_MS))).toBe(3);
      const openBeforeMidnight = Math.max(0, today - openSince) / HOUR_MS;
      const openAfterMidnight = (now - Math.max(today, openSince)) / HOUR_MS;
      expect(hoursOf(ids['teacher-a']!, utcDate(today - DAY_MS))).toBeCloseTo(
        openBeforeMidnight,
        1,
      );
      expect(hoursOf(ids['teacher-a']!, utcDate(today))).toBeCloseTo(openAfterMidnight, 1);
      const total = usage.body.items.reduce(
        (sum: number, item: { vmHours: number }) => sum + item.vmHours,
        0,
      );
      expect(total).toBeCloseTo(2 + 3.5 + 3 + 3, 1);
      expect(
        usage.body.items.every((item: { userId: string }) => item.userId !== ids['admin-b']),
      ).toBe(true);
      expect(usage.body.members.map((m: { email: string }) => m.email).sort()).toEqual([
        'leaver-a@example.test',
        'student-a@example.test',
        'teacher-a@example.test',
      ]);

      const twoDays = await as.root!.send('GET', `/api/v1/tenants/${classA.id}/usage?days=2`);
      expect(twoDays.body.days).toEqual([utcDate(today - DAY_MS), utcDate(today)]);
      expect(
        twoDays.body.items.some((item: { date: string }) => item.date < utcDate(today - DAY_MS)),
      ).toBe(false);

      for (const bad of ['days=0', 'days=abc', 'days=400', 'since=1'])
        expect(
          (await as.root!.send('GET', `/api/v1/tenants/${classA.id}/usage?${bad}`)).status,
        ).toBe(400);
    },
  );

  it.skipIf(kind.skipReason)('shows usage to tenant admins and platform admins only', async () => {
    const path = `/api/v1/tenants/${classA.id}/usage`;
    expect((await as['student-a']!.send('GET', path)).status).toBe(403);
    expect((await as['teacher-a']!.send('GET', path)).status).toBe(403);
    const foreign = await as['admin-b']!.send('GET', path);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.message).toBe('No such tenant.');
    expect((await as['admin-a']!.send('GET', path)).status).toBe(200);
    expect((await as.root!.send('GET', path)).status).toBe(200);
  });

  it.skipIf(kind.skipReason)(
    "reports the host's CPUs, memory, accelerator and every tenant's VMs by state, to platform admins",
    async () => {
      const knex = server.database.knex;
      const [image] = await knex('images')
        .insert({
          name: 'host-test',
          kind: 'disk',
          format: 'qcow2',
          path: '/nonexistent/host-test.qcow2',
          size_bytes: 0,
          sha256: '0'.repeat(64),
        })
        .returning('id');
      const vm = (name: string, tenantId: string, state: string) => ({
        tenant_id: tenantId,
        owner_id: ids.root,
        image_id: image.id,
        name,
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        state,
      });
      await knex('vms').insert([
        vm('stopped-a', classA.id, 'stopped'),
        vm('suspended-a', classA.id, 'suspended'),
        vm('stopped-b', classB.id, 'stopped'),
      ]);

      for (const name of ['student-a', 'admin-a'])
        expect((await as[name]!.send('GET', '/api/v1/host')).status).toBe(403);
      const host = await as.root!.send('GET', '/api/v1/host');
      expect(host.status).toBe(200);
      expect(host.body.host).toEqual({
        vcpus: os.availableParallelism(),
        memoryMib: Math.floor(os.totalmem() / 1024 / 1024),
      });
      expect(host.body.allocatable.vcpus).toBeGreaterThanOrEqual(host.body.host.vcpus);
      expect(host.body.used).toEqual({ vcpus: 0, memoryMib: 0, vms: 0 });
      expect(host.body.vmsByState).toEqual({
        stopped: 2,
        starting: 0,
        running: 0,
        paused: 0,
        suspended: 1,
        stopping: 0,
        crashed: 0,
        error: 0,
        unavailable: 0,
      });
      // One host: no cluster members.
      expect(host.body.members).toEqual([]);
      expect(host.body).toMatchObject({
        driver: 'qemu',
        driverVersion: expect.stringMatching(/^\d+\.\d+/),
        details: { accel: 'tcg', accelReason: 'configured as tcg' },
      });
      await knex('vms').whereIn('name', ['stopped-a', 'suspended-a', 'stopped-b']).delete();
    },
  );

  it.skipIf(kind.skipReason)(
    "lets a tenant admin change a member's role, which takes effect at once",
    async () => {
      const memberPath = `/api/v1/tenants/${classA.id}/members/${ids['student-a']}`;
      expect(
        (await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}/members`)).status,
      ).toBe(403);
      expect((await as['teacher-a']!.send('PATCH', memberPath, { role: 'admin' })).status).toBe(
        403,
      );
      expect((await as['student-a']!.send('PATCH', memberPath, { role: 'admin' })).status).toBe(
        403,
      );
      expect((await as['admin-b']!.send('PATCH', memberPath, { role: 'admin' })).status).toBe(404);

      const changed = await as['admin-a']!.send('PATCH', memberPath, { role: 'instructor' });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ userId: ids['student-a'], role: 'instructor' });
      expect(
        (await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}/members`)).status,
      ).toBe(200);

      const bad = await as['admin-a']!.send('PATCH', memberPath, { role: 'owner' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.fields[0].field).toBe('role');
      expect(
        (await as['admin-a']!.send('PATCH', memberPath, { role: 'member', extra: 1 })).status,
      ).toBe(400);
      const own = await as['admin-a']!.send(
        'PATCH',
        `/api/v1/tenants/${classA.id}/members/${ids['admin-a']}`,
        {
          role: 'member',
        },
      );
      expect(own.status).toBe(409);
      expect(own.body.error.message).toContain('your own role');
      const outsider = await as['admin-a']!.send(
        'PATCH',
        `/api/v1/tenants/${classA.id}/members/${ids['admin-b']}`,
        {
          role: 'member',
        },
      );
      expect(outsider.status).toBe(404);

      expect((await as['admin-a']!.send('PATCH', memberPath, { role: 'member' })).status).toBe(200);
      const audit = await as['admin-a']!.send(
        'GET',
        `/api/v1/audit?tenantId=${classA.id}&action=member.role`,
      );
      expect(
        audit.body.items.map((entry: { details: { role: string } }) => entry.details.role),
      ).toEqual(['member', 'instructor']);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses member limits above the tenant quota with a sentence naming each one',
    async () => {
      const path = `/api/v1/tenants/${classA.id}/members/${ids['student-a']}/limits`;
      const refused = await as['admin-a']!.send('PUT', path, {
        limits: { runningVms: 50, memoryMib: 999_999, diskGib: 1 },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toBe(
        'Member limits must fit inside the tenant quota: at most 5 running VMs, at most 4096 MiB of memory.',
      );
      expect(refused.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual([
        'limits.runningVms',
        'limits.memoryMib',
      ]);
    },
  );

  it.skipIf(kind.skipReason)(
    'disables a user: no sign-in, no session, no token, no console; enabling restores sign-in',
    async () => {
      const victim = new TestClient(server.url);
      expect((await victim.login('leaver-a@example.test', FIXTURE_PASSWORD)).status).toBe(200);
      const token = (await victim.send('POST', '/api/v1/tokens', { name: 'script' })).body.token;
      const bearer = { authorization: `Bearer ${token}` };
      expect((await victim.send('GET', '/api/v1/vms', undefined, bearer)).status).toBe(200);
      const userPath = `/api/v1/users/${ids['leaver-a']}`;

      expect((await as['admin-a']!.send('PATCH', userPath, { disabled: true })).status).toBe(403);
      const self = await as.root!.send('PATCH', `/api/v1/users/${ids.root}`, { disabled: true });
      expect(self.status).toBe(409);
      expect((await as.root!.send('PATCH', userPath, {})).status).toBe(400);
      expect((await as.root!.send('PATCH', userPath, { disabled: 'yes' })).status).toBe(400);
      const missing = await as.root!.send(
        'PATCH',
        '/api/v1/users/00000000-0000-4000-8000-000000000000',
        {
          disabled: true,
        },
      );
      expect(missing.status).toBe(404);

      const disabled = await as.root!.send('PATCH', userPath, { disabled: true });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toMatchObject({ id: ids['leaver-a'], disabled: true });
      expect((await victim.send('GET', '/api/v1/me')).status).toBe(401);
      expect((await victim.send('GET', '/api/v1/vms', undefined, bearer)).status).toBe(401);
      const signIn = await new TestClient(server.url).login(
        'leaver-a@example.test',
        FIXTURE_PASSWORD,
      );
      expect(signIn.status).toBe(401);
      expect(signIn.body.error.message).toBe('The email or password is wrong.');
      const socket = new WebSocket(
        `${server.url.replace('http', 'ws')}/ws/vms/00000000-0000-4000-8000-000000000000/serial?ticket=x`,
        { origin: server.url, headers: bearer },
      );
      const upgrade = await new Promise((resolve) =>
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode)),
      );
      expect(upgrade).toBe(401);

      const listed = await as.root!.send('GET', '/api/v1/users');
      expect(listed.body.items.find((u: { id: string }) => u.id === ids['leaver-a']).disabled).toBe(
        true,
      );

      const enabled = await as.root!.send('PATCH', userPath, { disabled: false, name: 'Leaver A' });
      expect(enabled.body).toMatchObject({ disabled: false, name: 'Leaver A' });
      expect(
        (await new TestClient(server.url).login('leaver-a@example.test', FIXTURE_PASSWORD)).status,
      ).toBe(200);
      expect((await victim.send('GET', '/api/v1/vms', undefined, bearer)).status).toBe(200);
      const audit = await as.root!.send('GET', `/api/v1/audit?actorId=${ids.root}`);
      expect(audit.body.items.map((entry: { action: string }) => entry.action).slice(0, 2)).toEqual(
        ['user.enable', 'user.disable'],
      );
    },
  );
});
