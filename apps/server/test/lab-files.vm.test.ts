import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { runOnConsole } from './support/console-client.js';
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

// Files in and out of labs through the guest agent of real tiny guests (TCG), on Postgres
// under CI: a member's own, and a class's handout and collection.
describe.skipIf(skipReason)('files in and out of labs', () => {
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let ada: TestClient;
  let grace: TestClient;
  let teacher: TestClient;
  let adaLab: string;
  let graceLab: string;

  /** A raw request (the file routes take and give bytes, not JSON). */
  const raw = async (
    client: TestClient,
    method: string,
    url: string,
    body?: Buffer,
  ): Promise<{ status: number; bytes: Buffer; headers: Headers }> => {
    const answer = await fetch(server.url + url, {
      method,
      headers: {
        cookie: client.cookieHeader!,
        ...(method === 'GET' ? {} : { 'x-csrf-token': client.csrfToken! }),
        ...(body ? { 'content-type': 'application/octet-stream' } : {}),
      },
      body,
    });
    return {
      status: answer.status,
      bytes: Buffer.from(await answer.arrayBuffer()),
      headers: answer.headers,
    };
  };
  const fileUrl = (vmId: string, guestPath: string) =>
    `/api/v1/vms/${vmId}/files?path=${encodeURIComponent(guestPath)}`;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Compilers lab')).id;
    await knex('quotas')
      .where({ tenant_id: tenantId })
      .update({ running_vms: 5, vcpus: 20, memory_mib: 20_000, disk_gib: 100 });
    await createFixtureUser(knex, 'ada@example.test', { tenantId });
    await createFixtureUser(knex, 'grace@example.test', { tenantId });
    await createFixtureUser(knex, 'teacher@example.test', { tenantId, role: 'instructor' });
    const imageId = await registerTinyImage(knex);
    server = await startTestServer(database);
    [ada, grace, teacher] = [0, 1, 2].map(() => new TestClient(server.url)) as [
      TestClient,
      TestClient,
      TestClient,
    ];
    for (const [client, email] of [
      [ada, 'ada'],
      [grace, 'grace'],
      [teacher, 'teacher'],
    ] as const) {
      expect((await client.login(`${email}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
    const lab = { tenantId, imageId, vcpus: 1, memoryMib: 128, diskGib: 1 };
    adaLab = (await ada.send('POST', '/api/v1/vms', { ...lab, name: 'ada-lab' })).body.id;
    graceLab = (await grace.send('POST', '/api/v1/vms', { ...lab, name: 'grace-lab' })).body.id;
    await waitForVmState(ada, adaLab, 'running', 120_000);
    await waitForVmState(grace, graceLab, 'running', 120_000);
    await grace.send('POST', `/api/v1/vms/${graceLab}/stop`);
    await waitForVmState(grace, graceLab, 'stopped', 120_000);
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  it('moves a member’s file into their lab and back, byte for byte, and refuses what it must', async () => {
    const bytes = randomBytes(10_000);
    const put = await raw(ada, 'PUT', fileUrl(adaLab, '~/work/upload.bin'), bytes);
    expect(put.status).toBe(204);
    expect(await runOnConsole(server.url, ada, adaLab, 'wc -c < /root/work/upload.bin')).toMatch(
      /^10000$/m,
    );
    const got = await raw(ada, 'GET', fileUrl(adaLab, '~/work/upload.bin'));
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toContain('upload.bin');
    expect(got.bytes.equals(bytes)).toBe(true);

    const missing = await raw(ada, 'GET', fileUrl(adaLab, '/root/nothing-here'));
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.bytes.toString()).error.message).toMatch(
      /there is no file \/root\/nothing-here/,
    );
    const relative = await raw(ada, 'PUT', fileUrl(adaLab, 'work/x'), bytes);
    expect(relative.status).toBe(400);
    const tooLarge = await raw(ada, 'PUT', fileUrl(adaLab, '~/big'), Buffer.alloc(1024 ** 2 + 1));
    expect(tooLarge.status).toBe(413);
    const stopped = await raw(grace, 'PUT', fileUrl(graceLab, '~/x'), bytes);
    expect(stopped.status).toBe(409);
    expect(JSON.parse(stopped.bytes.toString()).error.message).toMatch(/is stopped/);
    // Another member's lab does not exist for her.
    expect((await raw(grace, 'GET', fileUrl(adaLab, '~/work/upload.bin'))).status).toBe(404);
  });

  it('hands a file out to the class and collects it back as one archive, naming who had none', async () => {
    const handout = Buffer.from('Exercise 1: write a lexer.\n');
    expect(
      (await raw(ada, 'POST', `/api/v1/tenants/${tenantId}/handout?path=~/handout.txt`, handout))
        .status,
    ).toBe(403);
    const sent = await raw(
      teacher,
      'POST',
      `/api/v1/tenants/${tenantId}/handout?path=${encodeURIComponent('~/handout.txt')}`,
      handout,
    );
    expect(sent.status).toBe(200);
    const result = JSON.parse(sent.bytes.toString());
    expect(result.delivered.map((lab: { name: string }) => lab.name)).toEqual(['ada-lab']);
    expect(result.refused).toEqual([
      expect.objectContaining({ name: 'grace-lab', reason: expect.stringMatching(/is stopped/) }),
    ]);
    await runOnConsole(server.url, ada, adaLab, 'echo "my lexer" >> /root/handout.txt');

    const collected = await raw(
      teacher,
      'GET',
      `/api/v1/tenants/${tenantId}/collect?path=${encodeURIComponent('~/handout.txt')}`,
    );
    expect(collected.status).toBe(200);
    expect(collected.headers.get('content-type')).toContain('application/x-tar');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-collect-'));
    try {
      fs.writeFileSync(path.join(dir, 'all.tar'), collected.bytes);
      execFileSync('tar', ['-xf', 'all.tar'], { cwd: dir });
      expect(fs.readFileSync(path.join(dir, 'ada@example.test/ada-lab/handout.txt'), 'utf8')).toBe(
        'Exercise 1: write a lexer.\nmy lexer\n',
      );
      expect(fs.readFileSync(path.join(dir, 'MISSING.txt'), 'utf8')).toMatch(
        /^grace@example\.test \(grace-lab\): .*is stopped/m,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
