import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WEEKDAYS } from '@labvisor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { OUTSIDE_CLASS_HOURS } from '../src/domain/pools/pool-filler.js';
import { ConsoleSocket } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { openEvents } from './support/events-client.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason();

/** A template build and two clones under TCG on a busy 2-core host. */
const POOL_FILL_TIMEOUT_MS = 180_000;

// Warm pools with real guests: paused clones of the tiny image kept ready, taken by a launch
// with the member's own identity, refilled in the background, emptied on request.
describe.skipIf(skipReason)('warm pools with real guests', () => {
  let database: Database;
  let server: TestServer;
  let runDir: string;
  let tenantId: string;
  let imageId: string;
  let student: TestClient;
  let teacher: TestClient;
  let outsider: TestClient;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Pool class')).id;
    const otherTenantId = (await createFixtureTenant(knex, 'Other class')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 3, vcpus: 8, memory_mib: 4096, disk_gib: 20 });
    await createFixtureUser(knex, 'pool-student@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'pool-teacher@example.test', { tenantId, role: 'instructor' });
    await createFixtureUser(knex, 'pool-outsider@example.test', {
      tenantId: otherTenantId,
      role: 'admin',
    });
    imageId = await registerTinyImage(knex);
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-pools-'));
    server = await startTestServer(database, {
      engine: { runDir, driver: { templatesDir: path.join(runDir, '.templates') } },
    });
    student = new TestClient(server.url);
    teacher = new TestClient(server.url);
    outsider = new TestClient(server.url);
    for (const [client, email] of [
      [student, 'pool-student'],
      [teacher, 'pool-teacher'],
      [outsider, 'pool-outsider'],
    ] as const) {
      expect((await client.login(`${email}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  });

  const size = { vcpus: 1, memoryMib: 128, diskGib: 1 };
  const poolsUrl = () => `/api/v1/tenants/${tenantId}/pools`;
  const readyCount = async () =>
    ((await teacher.send('GET', poolsUrl())).body.pools as Array<{ ready: number }>)[0]?.ready;

  it('lets instructors set pools within the quota, of images that can be cloned', async () => {
    const pool = { imageId, ...size, count: 2 };
    expect((await student.send('PUT', poolsUrl(), { pools: [pool] })).body.error.code).toBe(
      'FORBIDDEN',
    );
    expect((await outsider.send('GET', poolsUrl())).status).toBe(404);
    const overQuota = await teacher.send('PUT', poolsUrl(), { pools: [{ ...pool, count: 4 }] });
    expect(overQuota.body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { resource: 'runningVms', limit: 3, requested: 4 },
    });
    const twice = await teacher.send('PUT', poolsUrl(), { pools: [pool, pool] });
    expect(twice.body.error).toMatchObject({ code: 'VALIDATION', details: { field: 'pools.1' } });
    // An image whose guest runs no agent cannot be cloned, so cannot be pooled.
    const knex = database.knex;
    const tiny = await knex('images').where({ id: imageId }).first();
    const [plain] = await knex('images')
      .insert({ ...tiny, id: undefined, name: 'tiny-without-agent', guest_agent: false })
      .returning('id');
    const refused = await teacher.send('PUT', poolsUrl(), {
      pools: [{ ...pool, imageId: plain.id }],
    });
    expect(refused.body.error).toMatchObject({
      code: 'VALIDATION',
      details: { field: 'pools.0.imageId' },
    });
    await knex('images').where({ id: plain.id }).delete();
    expect((await teacher.send('GET', poolsUrl())).body).toEqual({ pools: [] });
  });

  it('keeps two paused clones ready, gives one to a launch with the member’s identity, and refills', async () => {
    // Pooled VMs are nobody's: an instructor's open page hears of none of them.
    const events = await openEvents(server, teacher);
    const set = await teacher.send('PUT', poolsUrl(), {
      pools: [{ imageId, ...size, count: 2 }],
    });
    expect(set.status).toBe(200);
    expect(set.body.pools).toMatchObject([{ imageId, imageName: 'tiny', count: 2, ...size }]);
    await expect.poll(readyCount, { timeout: POOL_FILL_TIMEOUT_MS, interval: 500 }).toBe(2);
    // Pooled VMs are nobody's: no one lists them, yet they hold the tenant's quota.
    expect((await teacher.send('GET', '/api/v1/vms')).body.items).toEqual([]);
    const quota = (await teacher.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body;
    expect(quota.usage).toMatchObject({ runningVms: 2, memoryMib: 256 });

    const launched = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'quick-lab',
      imageId,
      ...size,
    });
    expect(launched.status).toBe(201);
    expect(launched.body).toMatchObject({ name: 'quick-lab', state: 'running', bootPath: 'pool' });
    await expect
      .poll(() => events.events.map((event) => event.data.id))
      .toContain(launched.body.id);
    expect(new Set(events.events.map((event) => event.data.id))).toEqual(
      new Set([launched.body.id]),
    );
    await events.close();
    const terminal = await ConsoleSocket.open(server.url, student, launched.body.id);
    terminal.type('\nhostname\n');
    await terminal.waitFor(/quick-lab/, 20_000);
    terminal.close();
    // Metered for the member from the moment it was taken.
    const interval = await database
      .knex('usage_intervals')
      .where({ vm_id: launched.body.id })
      .first();
    expect(interval).toMatchObject({ ended_at: null });
    expect(interval.user_id).toBe((await student.send('GET', '/api/v1/me')).body.user.id);

    // The pool refills in the background, as far as the quota allows (3 VMs: 1 taken + 2).
    await expect.poll(readyCount, { timeout: POOL_FILL_TIMEOUT_MS, interval: 500 }).toBe(2);
    // With the quota full, a further pool VM waits and says why.
    await teacher.send('PUT', poolsUrl(), { pools: [{ imageId, ...size, count: 3 }] });
    await expect
      .poll(async () => (await teacher.send('GET', poolsUrl())).body.pools[0].shortBecause, {
        timeout: 30_000,
      })
      .toMatch(/runningVms quota would be exceeded/);
    expect((await student.send('DELETE', `/api/v1/vms/${launched.body.id}`)).status).toBe(204);
  });

  it('keeps a pool set to class hours only while they are on, and empties it outside them', async () => {
    const weekday = (offset: number) => WEEKDAYS[(new Date().getUTCDay() + 6 + offset) % 7]!;
    const schedulePath = `/api/v1/tenants/${tenantId}/schedule`;
    const classHours = (sessions: Array<{ day: string; start: string; end: string }>) =>
      teacher.send('PUT', schedulePath, {
        timeZone: 'UTC',
        sessions,
        prepareMinutes: 120,
        allowOutside: true,
      });
    const fill = async () => {
      server.poolFiller.request();
      await server.poolFiller.idle();
    };
    expect((await classHours([{ day: weekday(3), start: '09:00', end: '11:00' }])).status).toBe(
      200,
    );
    const set = await teacher.send('PUT', poolsUrl(), {
      pools: [{ imageId, ...size, count: 1, classHoursOnly: true }],
    });
    expect(set.body.pools).toMatchObject([{ count: 1, classHoursOnly: true }]);
    await fill();
    expect((await teacher.send('GET', poolsUrl())).body.pools[0]).toMatchObject({
      ready: 0,
      shortBecause: OUTSIDE_CLASS_HOURS,
    });
    // Class hours on: all of today, and the first hours of tomorrow (within the 120 minutes).
    await classHours([
      { day: weekday(0), start: '00:00', end: '23:59' },
      { day: weekday(1), start: '00:00', end: '02:00' },
    ]);
    await expect
      .poll(
        async () => {
          server.poolFiller.request();
          return readyCount();
        },
        { timeout: POOL_FILL_TIMEOUT_MS, interval: 1000 },
      )
      .toBe(1);
    await classHours([{ day: weekday(3), start: '09:00', end: '11:00' }]);
    await fill();
    expect(await readyCount()).toBe(0);
    expect((await teacher.send('DELETE', schedulePath)).status).toBe(204);
  });

  it('empties a pool that is set to none, removing its VMs', async () => {
    expect((await teacher.send('PUT', poolsUrl(), { pools: [] })).status).toBe(200);
    await server.poolFiller.idle();
    expect((await teacher.send('GET', poolsUrl())).body).toEqual({ pools: [] });
    expect(await server.engine.listVms()).toEqual([]);
    const left = await database.knex('vms').where({ tenant_id: tenantId });
    expect(left).toEqual([]);
  });
});
