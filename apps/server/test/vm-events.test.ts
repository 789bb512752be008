/**
 * Server-sent events of VM changes: an open page learns of every change to a VM its user can
 * see, and nothing of another tenant's. The fake driver runs the VMs (no guest boots).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENT_STREAMS_PER_USER } from '../src/http/vm-events.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { openEvents } from './support/events-client.js';
import { insertBlankImage, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

const pglite = TEST_DATABASES.find((kind) => kind.name === 'pglite')!;

describe('VM change events', () => {
  let server: TestServer;
  let tenantId: string;
  let imageId: string;
  let student: TestClient;
  let outsider: TestClient;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-events-'));

  beforeAll(async () => {
    const database = await openMigratedDatabase(pglite);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Events class')).id;
    const other = (await createFixtureTenant(knex, 'Other class')).id;
    await createFixtureUser(knex, 'watcher@example.test', { tenantId });
    await createFixtureUser(knex, 'outsider@example.test', { tenantId: other, role: 'admin' });
    ({ server } = await startServerOnFakeDriver(database));
    imageId = (await insertBlankImage(knex, isoDir)).imageId;
    student = new TestClient(server.url);
    outsider = new TestClient(server.url);
    expect((await student.login('watcher@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await outsider.login('outsider@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it('streams each change of a visible VM as the API answers it, and none of another tenant', async () => {
    const mine = await openEvents(server, student);
    expect(mine.response.headers.get('content-type')).toContain('text/event-stream');
    const theirs = await openEvents(server, outsider);
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'streamed',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(created.status).toBe(201);
    await expect
      .poll(() => mine.events.map((e) => `${e.event}:${e.data.state}`))
      .toEqual(expect.arrayContaining(['vm:starting', 'vm:running']));
    expect(mine.events[0]!.data).toMatchObject({ id: created.body.id, name: 'streamed' });
    expect((await student.send('DELETE', `/api/v1/vms/${created.body.id}`)).status).toBe(204);
    await expect
      .poll(() => mine.events.at(-1))
      .toEqual({ event: 'vm-deleted', data: { id: created.body.id } });
    expect(theirs.events).toEqual([]);
    await mine.close();
    await theirs.close();
  });

  it('caps the streams one user holds open', async () => {
    const open = [];
    for (let i = 0; i < MAX_EVENT_STREAMS_PER_USER; i++)
      open.push(await openEvents(server, student));
    const refused = await fetch(`${server.url}/api/v1/events`, {
      headers: { cookie: student.cookieHeader ?? '' },
    });
    expect(refused.status).toBe(429);
    for (const stream of open) await stream.close();
  });
});
