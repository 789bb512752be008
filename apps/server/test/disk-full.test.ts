import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeDriver } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const MIB = 1024 * 1024;
const skipReason = process.getuid?.() === 0 ? undefined : 'mounting a small tmpfs needs root';
if (skipReason && process.env.CI === 'true') throw new Error(`cannot run under CI: ${skipReason}`);
const PGLITE = TEST_DATABASES.filter((kind) => kind.name === 'pglite');

// The data directory on a small tmpfs that the test fills: a create and an upload are refused
// with a sentence, an upload that fills the disk on its way in leaves nothing, and all works
// again once space is freed.
describe.skipIf(skipReason).each(PGLITE)('a full data disk on $name', (kind) => {
  let dataDir: string;
  let mounted = false;
  let database: Database;
  let server: TestServer;
  let admin: TestClient;
  let tenantId: string;
  let imageId: string;
  const filler = () => path.join(dataDir, 'filler');
  const fill = (leaveMib: number) => {
    const { bavail, bsize } = fs.statfsSync(dataDir);
    const count = Math.max(0, Math.floor((bavail * bsize) / MIB) - leaveMib);
    execFileSync('sh', [
      '-c',
      `dd if=/dev/zero of=${filler()} bs=1M count=${count} 2>/dev/null || true`,
    ]);
  };
  /** Sends an ISO upload as the admin: a buffer (with its length) or a stream (without). */
  const upload = (name: string, body: Buffer | ReadableStream) =>
    fetch(`${server.url}/api/v1/images?name=${name}&format=iso`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        cookie: admin.cookieHeader ?? '',
        'x-csrf-token': admin.csrfToken ?? '',
      },
      body,
      duplex: 'half',
    } as RequestInit);
  const createVm = (name: string) =>
    admin.send('POST', '/api/v1/vms', {
      tenantId,
      name,
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', dataDir]);
    mounted = true;
    database = await openMigratedDatabase(kind);
    tenantId = (await createFixtureTenant(database.knex, 'Full disk')).id;
    ({ imageId } = await insertBlankImage(database.knex, os.tmpdir(), 'd'.repeat(64)));
    await createFixtureUser(database.knex, 'ops@full.test', { isPlatformAdmin: true });
    server = await startTestServer(database, {
      engine: { runDir: path.join(dataDir, 'vms'), minFreeDiskBytes: 8 * MIB },
      images: { imagesDir: path.join(dataDir, 'images') },
      driverFactory: async (observer) => new FakeDriver(observer),
    });
    admin = new TestClient(server.url);
    expect((await admin.login('ops@full.test', FIXTURE_PASSWORD)).status).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    await database?.close();
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a create with a sentence, before any VM exists', async () => {
    fill(4);
    const refused = await createVm('no-room');
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: expect.stringMatching(
        /^Cannot create VM "no-room": the host's disk has [0-4] MiB free and 8 MiB must stay free/,
      ),
      details: { resource: 'hostDiskMib' },
    });
    expect((await admin.send('GET', `/api/v1/vms?tenantId=${tenantId}`)).body.items).toEqual([]);
  });

  it('refuses an upload larger than the room left, and keeps nothing of one that fills the disk', async () => {
    const declared = await upload('big', Buffer.alloc(10 * MIB));
    expect(declared.status).toBe(409);
    expect(((await declared.json()) as { error: { message: string } }).error.message).toMatch(
      /^The host's disk has [0-4] MiB free and this upload is 10 MiB/,
    );

    // Sent without a length (chunked): the disk fills on its way in.
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(MIB, 1));
    const streamed = await upload(
      'streamed',
      new ReadableStream({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
      }),
    );
    expect(streamed.status).toBe(409);
    expect(((await streamed.json()) as { error: { message: string } }).error.message).toMatch(
      /^The host's disk filled up after \d+ MiB of the upload; nothing of it was kept/,
    );
    expect(fs.readdirSync(path.join(dataDir, 'images', '.uploads'))).toEqual([]);
  });

  it('creates again once space is freed', async () => {
    fs.rmSync(filler());
    expect((await createVm('room-again')).status).toBe(201);
  });
});
