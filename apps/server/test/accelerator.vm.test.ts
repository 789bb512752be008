/**
 * The accelerator users get by default (`LABVISOR_ACCEL=auto`) through the server, with a real
 * guest: the engine probes KVM with the registered tiny image's kernel, `/readyz` names the choice
 * and why, a lab boots and answers on its terminal, and a start that fails shows `error` with a
 * sentence (never a bare `stopped`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { findProbeGuest } from '../src/domain/images/built-images.js';
import { ConsoleSocket } from './support/console-client.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason();

describe.skipIf(skipReason)('the default accelerator (auto) with a real guest', () => {
  let database: Database;
  let server: TestServer;
  let runDir: string;
  let tenantId: string;
  let imageId: string;
  let student: TestClient;

  beforeAll(async () => {
    database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    tenantId = (await createFixtureTenant(database.knex, 'Class A')).id;
    await createFixtureUser(database.knex, 'student@example.test', { tenantId, role: 'member' });
    imageId = await registerTinyImage(database.knex);
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-auto-'));
    const probeGuest = await findProbeGuest(database.knex);
    expect(probeGuest).toBeDefined();
    server = await startTestServer(database, {
      engine: { runDir, driver: { accel: 'auto', probeGuest } },
    });
    student = new TestClient(server.url);
    expect((await student.login('student@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    await database?.close();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('says on /readyz which accelerator it chose and why', async () => {
    const ready = await student.send('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.engine).toMatchObject({
      ok: true,
      driver: 'qemu',
      accel: expect.stringMatching(/^(kvm|tcg)$/),
      accelReason: expect.stringMatching(/not usable|KVM probe failed|booted under KVM/),
    });
  });

  it('boots a lab to a terminal that answers, then shows a failed start as an error with a sentence', async () => {
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'auto-lab',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(created.status).toBe(201);
    const vmId = created.body.id as string;
    await waitForVmState(student, vmId, 'running');
    const terminal = await ConsoleSocket.open(server.url, student, vmId);
    terminal.type('\n');
    await terminal.waitFor(/# $/);
    const mark = terminal.output.length;
    terminal.type('echo auto-$((6*7))\n');
    await terminal.waitFor(/auto-42/, 20_000, mark);
    terminal.close();

    expect((await student.send('POST', `/api/v1/vms/${vmId}/stop`)).status).toBe(202);
    await waitForVmState(student, vmId, 'stopped');
    // A disk QEMU cannot open: the next start fails.
    fs.writeFileSync(path.join(runDir, vmId, 'disk.qcow2'), 'not a disk image');
    expect((await student.send('POST', `/api/v1/vms/${vmId}/start`)).status).toBe(202);
    const failed = await waitForVmState(student, vmId, 'error');
    expect(failed.stateReason).toMatch(/^Failed starting VM .*: QEMU exited with status 1/);
    expect(failed.stateReason).not.toContain(runDir);
    expect((await student.send('DELETE', `/api/v1/vms/${vmId}`)).status).toBe(204);
  });
});
