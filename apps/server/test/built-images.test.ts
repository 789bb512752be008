import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { registerCachedImages } from '../src/domain/images/built-images.js';

/** Writes a small built image (a disk file and its manifest) into the cache, as build.mjs would. */
function writeCachedImage(cacheDir: string, name: string, manifest: Record<string, unknown>) {
  const dir = path.join(cacheDir, 'images', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rootfs.qcow2'), `disk of ${name}`);
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ name, ...manifest }));
}

// What the server does at each start: every image in the cache becomes a global image.
describe('registerCachedImages', () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-cache-'));
  const imagesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-store-'));
  let database: Database;

  beforeAll(async () => {
    database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const disk = (sha256: string) => ({
      disk: { path: 'rootfs.qcow2', sha256, format: 'qcow2' },
    });
    writeCachedImage(cacheDir, 'lab', {
      files: disk('a'.repeat(64)),
      defaults: { vcpus: 2, memoryMib: 2048, diskGib: 10 },
    });
    writeCachedImage(cacheDir, 'old', { files: disk('b'.repeat(64)) });
    writeCachedImage(cacheDir, 'broken', { files: {} });
    // A build in progress (build.mjs stages under a hidden name).
    writeCachedImage(cacheDir, '.lab.build-123', { files: disk('c'.repeat(64)) });
  });
  afterAll(async () => {
    await database?.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.rmSync(imagesDir, { recursive: true, force: true });
  });

  it('registers each image once, with its manifest defaults, and reports a broken one', async () => {
    const first = await registerCachedImages(database.knex, { cacheDir, imagesDir });
    expect(first.map((entry) => [entry.name, 'error' in entry ? 'error' : entry.created])).toEqual([
      ['broken', 'error'],
      ['lab', true],
      ['old', true],
    ]);
    const rows = await database.knex('images').orderBy('name');
    expect(rows.map((row) => row.name)).toEqual(['lab', 'old']);
    expect(rows[0]).toMatchObject({
      default_vcpus: 2,
      default_memory_mib: 2048,
      default_disk_gib: 10,
    });
    // A manifest from before recipes named defaults gets the tiny image's.
    expect(rows[1]).toMatchObject({
      default_vcpus: 1,
      default_memory_mib: 256,
      default_disk_gib: 1,
    });
    expect(fs.readFileSync(rows[0].path, 'utf8')).toBe('disk of lab');

    const again = await registerCachedImages(database.knex, { cacheDir, imagesDir });
    expect(again.filter((entry) => 'created' in entry && entry.created)).toEqual([]);
    expect(await database.knex('images').count({ n: '*' }).first()).toMatchObject({ n: 2 });
  });
});
