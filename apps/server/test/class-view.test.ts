import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FakeDriver } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSocket } from './support/console-client.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import {
  insertBlankImage,
  insertVmRow,
  startFakeVm,
  startServerOnFakeDriver,
} from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

/**
 * What the class page and the VM page read: one tenant's VMs, a VM's activity, and who is connected
 * now to a tenant's consoles. The consoles go through the real gateway and the engine facade; the
 * engine's driver is the fake one, whose console streams the test reads (no guest boots here; the
 * same path with real guests is in vms.vm.test.ts).
 */
describe.each(TEST_DATABASES)('class view and VM activity on $name', (kind) => {
  let server: TestServer;
  let classA: { id: string };
  let classB: { id: string };
  let runningVmId: string;
  let stoppedVmId: string;
  let snapshotId: string;
  let driver: FakeDriver;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-class-view-'));
  const as: Record<string, TestClient> = {};

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Class A');
    classB = await createFixtureTenant(knex, 'Class B');
    const student = await createFixtureUser(knex, 'student-a@example.test', {
      tenantId: classA.id,
    });
    const classmate = await createFixtureUser(knex, 'classmate-a@example.test', {
      tenantId: classA.id,
    });
    await createFixtureUser(knex, 'teacher-a@example.test', {
      tenantId: classA.id,
      role: 'instructor',
    });
    await createFixtureUser(knex, 'teacher-b@example.test', {
      tenantId: classB.id,
      role: 'instructor',
    });
    ({ server, driver } = await startServerOnFakeDriver(database));

    // A VM the engine runs on the fake driver, whose console streams the test reads.
    const image = await insertBlankImage(knex, isoDir);
    runningVmId = await startFakeVm(
      server,
      { tenantId: classA.id, ownerId: student.id, name: 'lab-1' },
      image,
    );
    stoppedVmId = await insertVmRow(knex, {
      tenantId: classA.id,
      ownerId: classmate.id,
      imageId: image.imageId,
      name: 'lab-2',
    });
    [{ id: snapshotId }] = await knex('snapshots')
      .insert({ vm_id: runningVmId, name: 'before-lab' })
      .returning('id');
    await knex('vms').where({ id: runningVmId }).update({ current_snapshot_id: snapshotId });

    for (const name of ['student-a', 'classmate-a', 'teacher-a', 'teacher-b']) {
      as[name] = new TestClient(server.url);
      expect((await as[name]!.login(`${name}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it.skipIf(kind.skipReason)(
    "lists one tenant's VMs with ?tenantId= and shows each VM's current snapshot",
    async () => {
      const names = async (who: string, query = '') =>
        (await as[who]!.send('GET', `/api/v1/vms${query}`)).body.items.map(
          (vm: { name: string }) => vm.name,
        );
      expect(await names('teacher-a', `?tenantId=${classA.id}`)).toEqual(['lab-1', 'lab-2']);
      expect(await names('teacher-a', `?tenantId=${classB.id}`)).toEqual([]);
      expect(await names('student-a', `?tenantId=${classA.id}`)).toEqual(['lab-1']);
      expect(await names('teacher-b', `?tenantId=${classA.id}`)).toEqual([]);
      const bad = await as['teacher-a']!.send('GET', '/api/v1/vms?tenantId=nope');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION');
      expect((await as['teacher-a']!.send('GET', '/api/v1/vms?owner=me')).status).toBe(400);

      const vm = await as['student-a']!.send('GET', `/api/v1/vms/${runningVmId}`);
      expect(vm.body.currentSnapshotId).toBe(snapshotId);
      const other = await as['teacher-a']!.send('GET', `/api/v1/vms/${stoppedVmId}`);
      expect(other.body.currentSnapshotId).toBeNull();
    },
  );

  it.skipIf(kind.skipReason)(
    "shows instructors who is connected to their class's consoles, live, and nobody else",
    async () => {
      const consoles = `/api/v1/tenants/${classA.id}/consoles`;
      expect((await as['teacher-a']!.send('GET', consoles)).body).toEqual({ items: [] });

      const studentTerminal = await ConsoleSocket.open(server.url, as['student-a']!, runningVmId);
      const watcher = await ConsoleSocket.open(server.url, as['teacher-a']!, runningVmId, {
        mode: 'view',
      });
      const connected = await as['teacher-a']!.send('GET', consoles);
      expect(connected.status).toBe(200);
      expect(
        connected.body.items
          .map((c: { name: string; mode: string }) => `${c.name}:${c.mode}`)
          .sort(),
      ).toEqual(['student-a:interactive', 'teacher-a:view']);
      expect(connected.body.items[0]).toMatchObject({
        vmId: runningVmId,
        kind: 'serial',
        email: expect.stringMatching(/@example\.test$/),
        since: expect.any(String),
      });

      // The watcher's keys never reach the VM; the student's do.
      watcher.type('from-watcher\n');
      studentTerminal.type('from-student\n');
      const serial = driver.consoles.find((console) => console.vmId === runningVmId)!;
      const typed: Buffer[] = [];
      serial.input.on('data', (chunk: Buffer) => typed.push(chunk));
      await expect.poll(() => Buffer.concat(typed).toString()).toContain('from-student');
      expect(Buffer.concat(typed).toString()).not.toContain('from-watcher');

      const member = await as['student-a']!.send('GET', consoles);
      expect(member.status).toBe(403);
      expect(member.body.error.code).toBe('FORBIDDEN');
      const outsider = await as['teacher-b']!.send('GET', consoles);
      expect(outsider.status).toBe(404);
      expect(outsider.body.error.message).toBe('No such tenant.');

      studentTerminal.close();
      await expect
        .poll(async () =>
          (await as['teacher-a']!.send('GET', consoles)).body.items.map(
            (c: { name: string }) => c.name,
          ),
        )
        .toEqual(['teacher-a']);
      watcher.close();
      await expect
        .poll(async () => (await as['teacher-a']!.send('GET', consoles)).body.items)
        .toEqual([]);
    },
  );

  it.skipIf(kind.skipReason)(
    'tells whoever can see a VM what was done to it, newest first, and hides it from the others',
    async () => {
      const deleted = await as['student-a']!.send(
        'DELETE',
        `/api/v1/vms/${runningVmId}/snapshots/${snapshotId}`,
      );
      expect(deleted.status).toBe(204);
      const activity = `/api/v1/vms/${runningVmId}/activity`;
      const answer = await as['teacher-a']!.send('GET', activity);
      expect(answer.status).toBe(200);
      // The consoles opened in the previous test, then the snapshot deleted.
      expect(
        answer.body.items.map(
          (entry: { action: string; actorName: string }) => `${entry.actorName} ${entry.action}`,
        ),
      ).toEqual(['student-a snapshot.delete', 'teacher-a console.open', 'student-a console.open']);
      expect(answer.body.items[0]).toMatchObject({
        actorId: expect.any(String),
        details: { name: 'before-lab', snapshotId },
        createdAt: expect.any(String),
      });
      expect(answer.body.items[1].details).toEqual({ kind: 'serial', mode: 'view' });
      expect(answer.body.items[0]).not.toHaveProperty('ip');

      const own = await as['student-a']!.send('GET', `${activity}?limit=1`);
      expect(own.body.items.map((entry: { action: string }) => entry.action)).toEqual([
        'snapshot.delete',
      ]);
      expect((await as['student-a']!.send('GET', `${activity}?limit=0`)).status).toBe(400);
      expect(
        (await as['teacher-a']!.send('GET', `/api/v1/vms/${stoppedVmId}/activity`)).body.items,
      ).toEqual([]);
      for (const who of ['classmate-a', 'teacher-b']) {
        const hidden = await as[who]!.send('GET', activity);
        expect(hidden.status).toBe(404);
        expect(hidden.body.error.message).toBe('No such VM.');
      }
    },
  );
});
