import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootableIso } from './support/boot-iso.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { uploadImage } from './support/image-upload.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const MIB = 1024 ** 2;
const MAX_UPLOAD_BYTES = 4 * MIB;

/** Image files made with qemu-img (and by hand for raw and ISO), shared by every database kind. */
const fixtures = (() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-image-fixtures-'));
  const qemuImg = (...args: string[]) => execFileSync('qemu-img', ['create', '-q', ...args]);
  const file = (name: string) => path.join(dir, name);
  qemuImg('-f', 'qcow2', file('disk.qcow2'), '64M');
  qemuImg('-f', 'qcow2', file('big.qcow2'), '3G');
  qemuImg('-f', 'qcow2', '-b', file('disk.qcow2'), '-F', 'qcow2', file('backed.qcow2'));
  qemuImg('-f', 'qcow2', '-o', `data_file=${file('external.raw')}`, file('data-file.qcow2'), '16M');
  const raw = Buffer.alloc(MIB);
  raw.write('a raw disk', 0);
  fs.writeFileSync(file('disk.raw'), raw);
  fs.writeFileSync(file('boot.iso'), buildBootableIso(Buffer.from('boot code')));
  fs.writeFileSync(file('too-big.raw'), Buffer.alloc(MAX_UPLOAD_BYTES + MIB));
  return {
    dir,
    read: (name: string) => fs.readFileSync(file(name)),
  };
})();

afterAll(() => fs.rmSync(fixtures.dir, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Every file in a folder tree, relative to it. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .flatMap((entry) =>
      entry.isFile() ? [path.relative(dir, path.join(entry.parentPath, entry.name))] : [],
    )
    .sort();
}

describe.each(TEST_DATABASES)('image uploads on $name', (kind) => {
  let server: TestServer;
  let imagesDir: string;
  let classA: { id: string };
  let classB: { id: string };
  let ownerId: string;
  const as: Record<string, TestClient> = {};

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Class A');
    classB = await createFixtureTenant(knex, 'Class B');
    await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    ownerId = (
      await createFixtureUser(knex, 'admin-a@example.test', { tenantId: classA.id, role: 'admin' })
    ).id;
    await createFixtureUser(knex, 'student-a@example.test', { tenantId: classA.id });
    await createFixtureUser(knex, 'admin-b@example.test', { tenantId: classB.id, role: 'admin' });
    imagesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-image-store-'));
    server = await startTestServer(database, {
      images: { imagesDir, maxUploadBytes: MAX_UPLOAD_BYTES, maxVirtualBytes: 2 * 1024 ** 3 },
    });
    for (const name of ['root', 'admin-a', 'student-a', 'admin-b']) {
      as[name] = new TestClient(server.url);
      expect((await as[name]!.login(`${name}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
    if (imagesDir) fs.rmSync(imagesDir, { recursive: true, force: true });
  });

  /** Expects that a refused upload left no row and no file, neither received nor stored. */
  async function expectNothingLeft(name: string) {
    expect(await server.database.knex('images').where({ name }).first()).toBeUndefined();
    await expect.poll(() => filesUnder(imagesDir)).toEqual(storedFiles());
  }
  /** The files the store should hold: those of the uploads that succeeded and were not deleted. */
  const storedPaths = new Set<string>();
  const storedFiles = () => [...storedPaths].sort();

  it.skipIf(kind.skipReason)(
    'takes qcow2, raw and ISO uploads into the read-only store and lists them with checksum and size',
    async () => {
      const cases = [
        { name: 'disk-qcow2', format: 'qcow2', file: 'disk.qcow2', kind: 'disk' },
        { name: 'disk-raw', format: 'raw', file: 'disk.raw', kind: 'disk' },
        { name: 'installer', format: 'iso', file: 'boot.iso', kind: 'iso' },
      ];
      for (const each of cases) {
        const bytes = fixtures.read(each.file);
        const answer = await uploadImage(as.root!, { name: each.name, format: each.format }, bytes);
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        expect(answer.body).toMatchObject({
          name: each.name,
          tenantId: null,
          kind: each.kind,
          format: each.format,
          sizeBytes: bytes.length,
          sha256: sha256(bytes),
          vmCount: 0,
        });
        const stored = path.join(sha256(bytes), `image.${each.format}`);
        storedPaths.add(stored);
        expect(fs.readFileSync(path.join(imagesDir, stored)).equals(bytes)).toBe(true);
        expect(fs.statSync(path.join(imagesDir, stored)).mode & 0o777).toBe(0o444);
      }
      // The qcow2's default disk is its virtual size (64 MiB rounds up to 1 GiB); an ISO gets a blank 8 GiB.
      const list = await as['student-a']!.send('GET', '/api/v1/images');
      expect(
        list.body.items.map((image: any) => [image.name, image.sha256, image.defaultDiskGib]),
      ).toEqual([
        ['disk-qcow2', sha256(fixtures.read('disk.qcow2')), 1],
        ['disk-raw', sha256(fixtures.read('disk.raw')), 1],
        ['installer', sha256(fixtures.read('boot.iso')), 8],
      ]);
      expect(filesUnder(imagesDir)).toEqual(storedFiles());
      const audit = await server.database
        .knex('audit_log')
        .where({ action: 'image.upload' })
        .pluck('target_id');
      expect(audit).toHaveLength(3);

      const again = await uploadImage(
        as.root!,
        { name: 'installer', format: 'iso' },
        fixtures.read('boot.iso'),
      );
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ code: 'CONFLICT' });
      expect(again.body.error.message).toContain('"installer" already exists');
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses a qcow2 with a backing file or an external data file, leaving no row and no file',
    async () => {
      const backed = await uploadImage(
        as.root!,
        { name: 'backed', format: 'qcow2' },
        fixtures.read('backed.qcow2'),
      );
      expect(backed.status).toBe(400);
      expect(backed.body.error.code).toBe('VALIDATION');
      expect(backed.body.error.message).toMatch(/refers to a backing file/);
      expect(backed.body.error.message).not.toContain(imagesDir);
      await expectNothingLeft('backed');

      const external = await uploadImage(
        as.root!,
        { name: 'external', format: 'qcow2' },
        fixtures.read('data-file.qcow2'),
      );
      expect(external.status).toBe(400);
      expect(external.body.error.message).toMatch(/external data file/);
      await expectNothingLeft('external');
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses a wrong declared format, a missing ISO signature, an oversized virtual disk and a non-file body',
    async () => {
      const qcowAsRaw = await uploadImage(
        as.root!,
        { name: 'liar', format: 'raw' },
        fixtures.read('disk.qcow2'),
      );
      expect(qcowAsRaw.status).toBe(400);
      expect(qcowAsRaw.body.error.message).toBe(
        'The uploaded file cannot be used as a raw image: it is a qcow2 image.',
      );
      const rawAsQcow = await uploadImage(
        as.root!,
        { name: 'liar', format: 'qcow2' },
        fixtures.read('disk.raw'),
      );
      expect(rawAsQcow.status).toBe(400);
      expect(rawAsQcow.body.error.message).toMatch(/cannot be used as a qcow2 image/);
      // A VMDK descriptor names host files; uploaded as raw it is refused by its header, and
      // qemu-img never reads it as a VMDK (which would open the file it names).
      const vmdkAsRaw = await uploadImage(
        as.root!,
        { name: 'liar', format: 'raw' },
        Buffer.from(
          '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n' +
            'createType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n',
        ),
      );
      expect(vmdkAsRaw.status).toBe(400);
      expect(vmdkAsRaw.body.error.message).toBe(
        'The uploaded file cannot be used as a raw image: it is a vmdk image.',
      );
      const rawAsIso = await uploadImage(
        as.root!,
        { name: 'liar', format: 'iso' },
        fixtures.read('disk.raw'),
      );
      expect(rawAsIso.status).toBe(400);
      expect(rawAsIso.body.error.message).toMatch(/no ISO 9660 signature/);
      await expectNothingLeft('liar');

      const big = await uploadImage(
        as.root!,
        { name: 'big', format: 'qcow2' },
        fixtures.read('big.qcow2'),
      );
      expect(big.status).toBe(400);
      expect(big.body.error.message).toMatch(
        /virtual size of 3.0 GiB is above the limit of 2.0 GiB/,
      );
      await expectNothingLeft('big');

      const json = await uploadImage(
        as.root!,
        { name: 'json', format: 'raw' },
        Buffer.from('{}'),
        'application/json',
      );
      expect(json.status).toBe(400);
      expect(json.body.error.message).toMatch(/application\/octet-stream/);
      const badQuery = await uploadImage(
        as.root!,
        { name: 'x', format: 'vmdk' },
        fixtures.read('disk.raw'),
      );
      expect(badQuery.status).toBe(400);
      expect(badQuery.body.error.details.fields[0].field).toBe('format');
      const unknownField = await uploadImage(
        as.root!,
        { name: 'x', format: 'raw', color: 'red' },
        fixtures.read('disk.raw'),
      );
      expect(unknownField.status).toBe(400);
      const tooSmallDisk = await uploadImage(
        as.root!,
        { name: 'small-disk', format: 'qcow2', defaultDiskGib: '1' },
        fixtures.read('big.qcow2'),
      );
      expect(tooSmallDisk.status).toBe(400);
      await expectNothingLeft('x');
    },
  );

  it.skipIf(kind.skipReason)(
    'answers 413 for an upload above the limit, declared or streamed, and keeps nothing',
    async () => {
      const declared = await uploadImage(
        as.root!,
        { name: 'huge', format: 'raw' },
        fixtures.read('too-big.raw'),
      );
      expect(declared.status).toBe(413);
      expect(declared.body.error).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        details: { maxUploadBytes: MAX_UPLOAD_BYTES },
      });

      // Without Content-Length the server counts as it receives, and stops at the limit.
      const streamed = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const request = http.request(`${server.url}/api/v1/images?name=huge&format=raw`, {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            'transfer-encoding': 'chunked',
            cookie: as.root!.cookieHeader!,
            'x-csrf-token': as.root!.csrfToken!,
          },
        });
        request.on('response', (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode!, body: JSON.parse(text) }),
          );
        });
        request.on('error', reject);
        const chunk = Buffer.alloc(256 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 2 * MAX_UPLOAD_BYTES && !request.destroyed) {
            sent += chunk.length;
            if (!request.write(chunk)) return void request.once('drain', pump);
          }
          request.end();
        };
        pump();
      });
      expect(streamed.status).toBe(413);
      expect(streamed.body.error.code).toBe('PAYLOAD_TOO_LARGE');
      await expectNothingLeft('huge');
    },
  );

  it.skipIf(kind.skipReason)(
    'keeps no record and no file of an upload whose client goes away mid-body',
    async () => {
      // What a server stopped mid-upload left behind goes with the next upload.
      const uploads = path.join(imagesDir, '.uploads');
      const leftOver = path.join(uploads, 'left-over.part');
      fs.writeFileSync(leftOver, 'half an image');
      const yesterday = new Date(Date.now() - 24 * 3600 * 1000);
      fs.utimesSync(leftOver, yesterday, yesterday);

      const bytes = fixtures.read('disk.raw');
      const request = http.request(`${server.url}/api/v1/images?name=aborted&format=raw`, {
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(bytes.length),
          cookie: as.root!.cookieHeader!,
          'x-csrf-token': as.root!.csrfToken!,
        },
      });
      request.on('error', () => {});
      request.write(bytes.subarray(0, bytes.length / 2));
      // Wait until the server is receiving (its temporary file exists), then drop the connection.
      await expect
        .poll(() => filesUnder(uploads), { timeout: 10_000 })
        .toEqual([expect.stringMatching(/^[0-9a-f-]{36}\.part$/)]);
      request.destroy();
      await expect.poll(() => filesUnder(uploads), { timeout: 10_000 }).toEqual([]);
      await expectNothingLeft('aborted');
    },
  );

  it.skipIf(kind.skipReason)(
    "lets a tenant admin upload and delete only their tenant's images; others see 404, members 403",
    async () => {
      const bytes = fixtures.read('disk.qcow2');
      const mine = await uploadImage(
        as['admin-a']!,
        { name: 'class-disk', format: 'qcow2', tenantId: classA.id },
        bytes,
      );
      expect(mine.status).toBe(201);
      expect(mine.body.tenantId).toBe(classA.id);
      // Same content as the global disk-qcow2: one stored file for both.
      expect(filesUnder(imagesDir)).toEqual(storedFiles());

      const global = await uploadImage(as['admin-a']!, { name: 'global', format: 'qcow2' }, bytes);
      expect(global.status).toBe(403);
      const foreign = await uploadImage(
        as['admin-a']!,
        { name: 'foreign', format: 'qcow2', tenantId: classB.id },
        bytes,
      );
      expect(foreign.status).toBe(404);
      const nowhere = await uploadImage(
        as.root!,
        { name: 'nowhere', format: 'qcow2', tenantId: '00000000-0000-4000-8000-000000000000' },
        bytes,
      );
      expect(nowhere.status).toBe(404);
      expect(nowhere.body.error.message).toBe('No such tenant.');
      const student = await uploadImage(
        as['student-a']!,
        { name: 'student', format: 'qcow2', tenantId: classA.id },
        bytes,
      );
      expect(student.status).toBe(403);
      expect(student.body.error.code).toBe('FORBIDDEN');
      await expectNothingLeft('student');

      const imageUrl = `/api/v1/images/${mine.body.id}`;
      expect((await as['admin-b']!.send('GET', imageUrl)).status).toBe(404);
      expect((await as['admin-b']!.send('DELETE', imageUrl)).status).toBe(404);
      const listB = await as['admin-b']!.send('GET', '/api/v1/images');
      expect(listB.body.items.map((image: any) => image.name)).not.toContain('class-disk');
      expect((await as['student-a']!.send('DELETE', imageUrl)).status).toBe(403);
      const globalImage = (await as['admin-a']!.send('GET', '/api/v1/images')).body.items.find(
        (image: any) => image.name === 'disk-qcow2',
      );
      expect((await as['admin-a']!.send('DELETE', `/api/v1/images/${globalImage.id}`)).status).toBe(
        403,
      );

      expect((await as['admin-a']!.send('DELETE', imageUrl)).status).toBe(204);
      expect((await as['admin-a']!.send('GET', imageUrl)).status).toBe(404);
      // The global image still uses the stored file.
      expect(filesUnder(imagesDir)).toEqual(storedFiles());
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses to delete an image a VM uses, naming the VM; deletes it and its file once unused',
    async () => {
      const knex = server.database.knex;
      const image = (await as.root!.send('GET', '/api/v1/images')).body.items.find(
        (each: any) => each.name === 'disk-raw',
      );
      const [vm] = await knex('vms')
        .insert({
          tenant_id: classA.id,
          owner_id: ownerId,
          image_id: image.id,
          name: 'uses-raw',
          vcpus: 1,
          memory_mib: 128,
          disk_gib: 1,
        })
        .returning('id');
      const listed = await as['admin-a']!.send('GET', `/api/v1/images/${image.id}`);
      expect(listed.body.vmCount).toBe(1);
      expect((await as['admin-b']!.send('GET', `/api/v1/images/${image.id}`)).body.vmCount).toBe(0);

      const refused = await as.root!.send('DELETE', `/api/v1/images/${image.id}`);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'CONFLICT',
        message: 'Image "disk-raw" is used by VM "uses-raw"; delete it first.',
      });
      expect(filesUnder(imagesDir)).toEqual(storedFiles());

      await knex('vms').where({ id: vm.id }).delete();
      expect((await as.root!.send('DELETE', `/api/v1/images/${image.id}`)).status).toBe(204);
      storedPaths.delete(path.join(image.sha256, 'image.raw'));
      expect(filesUnder(imagesDir)).toEqual(storedFiles());
      expect(fs.existsSync(path.join(imagesDir, image.sha256))).toBe(false);
      expect(
        await knex('audit_log').where({ action: 'image.delete', target_id: image.id }).first(),
      ).toBeDefined();
    },
  );

  it.skipIf(kind.skipReason)(
    "counts a tenant's images in its diskGib: an upload beyond it is refused, parallel ones too, and a 51st image",
    async () => {
      const knex = server.database.knex;
      const classC = await createFixtureTenant(knex, 'Class C');
      await knex('quotas').where({ tenant_id: classC.id }).update({ disk_gib: 2 });
      await createFixtureUser(knex, 'admin-c@example.test', { tenantId: classC.id, role: 'admin' });
      const adminC = new TestClient(server.url);
      expect((await adminC.login('admin-c@example.test', FIXTURE_PASSWORD)).status).toBe(200);
      // An image the tenant holds takes 1.989 of its 2 GiB: room for one 3 MiB upload, not two.
      await knex('images').insert({
        tenant_id: classC.id,
        name: 'held',
        kind: 'disk',
        format: 'raw',
        path: '/held.raw',
        size_bytes: Math.round(1.989 * 1024 * MIB),
        sha256: 'e'.repeat(64),
      });
      const upload = (name: string, fill: number) =>
        uploadImage(
          adminC,
          { name, format: 'raw', tenantId: classC.id },
          Buffer.alloc(3 * MIB, fill),
        );
      // Both pass the check made before the body is read; only one is stored.
      const answers = await Promise.all([upload('first', 1), upload('second', 2)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409]);
      const stored = answers.find((answer) => answer.status === 201)!;
      storedPaths.add(path.join(stored.body.sha256, 'image.raw'));
      const refused = answers.find((answer) => answer.status === 409)!;
      expect(refused.body.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { resource: 'diskGib', limit: 2 },
      });
      const usage = await adminC.send('GET', `/api/v1/tenants/${classC.id}/quota`);
      expect(usage.body.usage.diskGib).toBe(2);
      // Now refused before a byte of the body is stored.
      const third = await upload('third', 3);
      expect(third.status).toBe(409);
      await expectNothingLeft('third');

      // However large the quota, a tenant holds at most 50 images.
      await knex('quotas').where({ tenant_id: classC.id }).update({ disk_gib: 1000 });
      await knex('images').insert(
        Array.from({ length: 48 }, (_, index) => ({
          tenant_id: classC.id,
          name: `filler-${index}`,
          kind: 'disk',
          format: 'raw',
          path: `/filler-${index}.raw`,
          size_bytes: 0,
          sha256: 'd'.repeat(64),
        })),
      );
      const fiftyFirst = await upload('fifty-first', 4);
      expect(fiftyFirst.status).toBe(409);
      expect(fiftyFirst.body.error.details).toMatchObject({ resource: 'images', limit: 50 });
      await expectNothingLeft('fifty-first');
    },
  );
});
