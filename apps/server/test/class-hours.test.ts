import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WEEKDAYS } from '@labvisor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { SCHEDULE_SUSPENSION } from '../src/domain/vms/schedule-keeper.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage, startFakeVm, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer, waitForVmState } from './support/test-server.js';

/** A weekday `offset` days from today (UTC), as a schedule names it. */
const weekdayFromToday = (offset: number) => WEEKDAYS[(new Date().getUTCDay() + 6 + offset) % 7]!;

describe.each(TEST_DATABASES)('class hours on $name', (kind) => {
  let database: Database;
  let server: TestServer;
  let instructor: TestClient;
  let student: TestClient;
  let tenantId: string;
  let studentId: string;
  let image: { imageId: string; isoPath: string };
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-class-hours-'));
  const schedulePath = () => `/api/v1/tenants/${tenantId}/schedule`;
  const launch = (client: TestClient, name: string) =>
    client.send('POST', '/api/v1/vms?dryRun=1', {
      tenantId,
      name,
      imageId: image.imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Shell 101')).id;
    await createFixtureUser(knex, 'teacher@hours.test', { tenantId, role: 'instructor' });
    studentId = (await createFixtureUser(knex, 'student@hours.test', { tenantId })).id;
    image = await insertBlankImage(knex, isoDir);
    ({ server } = await startServerOnFakeDriver(database));
    instructor = new TestClient(server.url);
    student = new TestClient(server.url);
    expect((await instructor.login('teacher@hours.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await student.login('student@hours.test', FIXTURE_PASSWORD)).status).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    await database?.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it.skipIf(kind.skipReason)(
    'refuses a schedule that overlaps itself or names no real time zone, with a sentence',
    async () => {
      const overlapping = await instructor.send('PUT', schedulePath(), {
        timeZone: 'Europe/Paris',
        sessions: [
          { day: 'mon', start: '09:00', end: '11:00' },
          { day: 'mon', start: '10:30', end: '12:00' },
        ],
        prepareMinutes: 10,
        allowOutside: false,
      });
      expect(overlapping.status).toBe(400);
      expect(overlapping.body.error.message).toContain(
        'sessions Mon 09:00–11:00 and Mon 10:30–12:00 overlap',
      );
      const nowhere = await instructor.send('PUT', schedulePath(), {
        timeZone: 'Mars/Olympus',
        sessions: [{ day: 'mon', start: '09:00', end: '11:00' }],
        prepareMinutes: 10,
        allowOutside: false,
      });
      expect(nowhere.status).toBe(400);
      expect(nowhere.body.error.message).toContain('must be an IANA time zone');
      const backwards = await instructor.send('PUT', schedulePath(), {
        timeZone: 'UTC',
        sessions: [{ day: 'tue', start: '11:00', end: '09:00' }],
        prepareMinutes: 10,
        allowOutside: false,
      });
      expect(backwards.status).toBe(400);
      expect(backwards.body.error.message).toContain('must end after it starts');
      expect((await student.send('GET', schedulePath())).body).toEqual({
        schedule: null,
        inClassHours: false,
      });
    },
  );

  it.skipIf(kind.skipReason)(
    'lets members start labs only in class hours, unless the class allows it',
    async () => {
      // A session three days from now: class hours are off today.
      const later = { day: weekdayFromToday(3), start: '09:00', end: '11:00' };
      const set = await instructor.send('PUT', schedulePath(), {
        timeZone: 'UTC',
        sessions: [later],
        prepareMinutes: 10,
        allowOutside: false,
      });
      expect(set.status).toBe(200);
      expect(set.body).toEqual({
        schedule: { timeZone: 'UTC', sessions: [later], prepareMinutes: 10, allowOutside: false },
        inClassHours: false,
      });
      expect((await student.send('PUT', schedulePath(), set.body.schedule)).status).toBe(403);
      const refused = await launch(student, 'too-early');
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toBe(
        `Labs of this class run during class hours only: ${later.day.charAt(0).toUpperCase()}${later.day.slice(1)} 09:00–11:00 (UTC). Start it then, or ask your instructor.`,
      );
      // Instructors start any time; with `allowOutside`, members too.
      expect((await launch(instructor, 'prepared')).status).toBe(200);
      await instructor.send('PUT', schedulePath(), { ...set.body.schedule, allowOutside: true });
      expect((await launch(student, 'allowed')).status).toBe(200);
      // All day today: class hours are on.
      await instructor.send('PUT', schedulePath(), {
        ...set.body.schedule,
        sessions: [{ day: weekdayFromToday(0), start: '00:00', end: '23:59' }],
      });
      expect((await student.send('GET', schedulePath())).body.inClassHours).toBe(
        new Date().getUTCHours() * 60 + new Date().getUTCMinutes() < 23 * 60 + 59,
      );
      expect((await instructor.send('DELETE', schedulePath())).status).toBe(204);
      expect((await launch(student, 'no-schedule')).status).toBe(200);
    },
  );

  it.skipIf(kind.skipReason)(
    'suspends running labs when class ends and resumes them before the next session',
    async () => {
      const vmId = await startFakeVm(
        server,
        { tenantId, ownerId: studentId, name: 'monday-lab' },
        image,
      );
      await instructor.send('PUT', schedulePath(), {
        timeZone: 'Europe/Paris',
        sessions: [{ day: 'mon', start: '09:00', end: '11:00' }],
        prepareMinutes: 10,
        allowOutside: false,
      });
      // Monday 30 November 2026, in Paris (UTC+1): first seen in class, which changes nothing.
      await server.scheduleKeeper.check(new Date('2026-11-30T09:30:00Z'));
      expect((await student.send('GET', `/api/v1/vms/${vmId}`)).body.state).toBe('running');
      // 11:00 in Paris: class ends, the lab is suspended with the reason, once.
      await server.scheduleKeeper.check(new Date('2026-11-30T10:00:30Z'));
      const suspended = await waitForVmState(student, vmId, 'suspended');
      expect(suspended.stateReason).toBe(SCHEDULE_SUSPENSION);
      await server.scheduleKeeper.check(new Date('2026-11-30T10:05:00Z'));
      // Ten minutes before next Monday's session, it resumes.
      await server.scheduleKeeper.check(new Date('2026-12-07T07:51:00Z'));
      await waitForVmState(student, vmId, 'running');
      const audit = await database
        .knex('audit_log')
        .where({ target_id: vmId })
        .whereIn('action', ['vm.suspend', 'vm.resume'])
        .orderBy('id')
        .select('action', 'actor_id', 'details');
      expect(audit).toEqual([
        { action: 'vm.suspend', actor_id: null, details: { reason: 'schedule' } },
        { action: 'vm.resume', actor_id: null, details: { reason: 'schedule' } },
      ]);
    },
  );
});
