/**
 * A Postgres server stopped under traffic: requests answer 503 UNAVAILABLE within seconds instead
 * of hanging or failing with 500, an open console keeps working, and everything resumes with
 * nothing lost when the server is back. The test runs its own throwaway cluster, so stopping it
 * disturbs no other test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FakeDriver } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import {
  type PostgresCluster,
  postgresMissingReason,
  startPostgresCluster,
} from '../src/db/throwaway-postgres.js';
import { ConsoleSocket } from './support/console-client.js';
import { insertBlankImage, startFakeVm, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { TestClient, type TestServer } from './support/test-server.js';

const missing = postgresMissingReason();
if (missing && process.env.CI === 'true') throw new Error(`CI=true and no Postgres: ${missing}`);

/** The longest a request may take to be refused while the database is down. */
const REFUSAL_DEADLINE_MS = 8_000;

describe.skipIf(missing !== '')('a Postgres outage under traffic', () => {
  let cluster: PostgresCluster;
  let server: TestServer;
  let driver: FakeDriver;
  let student: TestClient;
  let token: string;
  let vmId: string;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-outage-'));

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    const database = await openDatabase({ url: cluster.url });
    await migrateToLatest(database.knex);
    const knex = database.knex;
    const tenant = await createFixtureTenant(knex, 'Class A');
    const user = await createFixtureUser(knex, 'student@example.test', { tenantId: tenant.id });
    ({ server, driver } = await startServerOnFakeDriver(database));
    vmId = await startFakeVm(
      server,
      { tenantId: tenant.id, ownerId: user.id, name: 'steady' },
      await insertBlankImage(knex, isoDir, 'd'.repeat(64)),
    );
    student = new TestClient(server.url);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    token = (await student.send('POST', '/api/v1/tokens', { name: 'script' })).body.token;
  });

  afterAll(async () => {
    await server?.close().catch(() => {});
    await server?.database.close().catch(() => {});
    cluster?.remove();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it('answers 503 quickly while Postgres is down, keeps the console working, and resumes after', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const terminal = await ConsoleSocket.open(server.url, student, vmId);
    const serial = driver.consoles.find(
      (console) => console.vmId === vmId && console.kind === 'serial',
    )!;
    const typed: Buffer[] = [];
    serial.input.on('data', (chunk: Buffer) => typed.push(chunk));

    cluster.stop();
    const refusals: number[] = [];
    for (const request of [
      () => student.send('GET', '/api/v1/vms', undefined, bearer),
      () => student.send('GET', '/api/v1/me'),
      () => new TestClient(server.url).login('student@example.test', FIXTURE_PASSWORD),
      () => student.send('POST', `/api/v1/vms/${vmId}/stop`),
    ]) {
      const started = Date.now();
      const answer = await request();
      refusals.push(Date.now() - started);
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe('UNAVAILABLE');
    }
    console.log(`database down: refusals took ${refusals.join(', ')} ms`);
    expect(Math.max(...refusals)).toBeLessThan(REFUSAL_DEADLINE_MS);
    // The console does not need the database once open.
    terminal.type('typed during the outage');
    await expect.poll(() => Buffer.concat(typed).toString()).toContain('typed during the outage');
    serial.output.write('printed during the outage');
    await terminal.waitFor(/printed during the outage/);
    expect(terminal.closed).toBeUndefined();

    cluster.start();
    await expect
      .poll(async () => (await student.send('GET', '/api/v1/vms', undefined, bearer)).status, {
        timeout: 20_000,
        interval: 250,
      })
      .toBe(200);
    // What was written before the outage is all there: the session, the token, the VM.
    const vms = await student.send('GET', '/api/v1/vms');
    expect(vms.status).toBe(200);
    expect(vms.body.items.map((vm: { name: string }) => vm.name)).toEqual(['steady']);
    terminal.close();
  });
});
