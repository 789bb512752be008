/**
 * Console recordings cannot fill the host's disk: each stops at its size cap with a line saying
 * so, and a tenant's recordings count in its `diskGib`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import {
  ConsoleRecording,
  MAX_RECORDING_BYTES,
  RECORDING_FULL_NOTICE,
} from '../src/domain/consoles/console-recordings.js';
import { readUsage } from '../src/domain/quota/quota-usage.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser } from './support/fixtures.js';

describe.each(TEST_DATABASES)('console recordings on disk, on $name', (kind) => {
  let database: Database;
  let tenantId: string;
  let vmId: string;
  const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-recordings-'));

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Recorded class')).id;
    await knex('tenants').where({ id: tenantId }).update({ recording_enabled: true });
    const user = await createFixtureUser(knex, 'student@example.test', { tenantId });
    const [image] = await knex('images')
      .insert({
        name: 'blank',
        kind: 'iso',
        format: 'iso',
        path: '/x.iso',
        size_bytes: 0,
        sha256: 'f'.repeat(64),
      })
      .returning('id');
    [{ id: vmId }] = await knex('vms')
      .insert({
        tenant_id: tenantId,
        owner_id: user.id,
        image_id: image.id,
        name: 'chatty',
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
      })
      .returning('id');
  });
  afterAll(async () => {
    await database?.close();
    fs.rmSync(recordingsDir, { recursive: true, force: true });
  });

  it.skipIf(kind.skipReason)('stops a recording at its size cap, saying so in it', async () => {
    const recording = (await ConsoleRecording.startIfEnabled(database.knex, {
      vmId,
      recordingsDir,
      logger: pino({ level: 'silent' }),
      maxBytes: 8192,
    }))!;
    for (let index = 0; index < 200; index++) recording.output(Buffer.alloc(100, 0x61));
    await recording.close();
    const file = path.join(recordingsDir, `${recording.id}.cast`);
    const size = fs.statSync(file).size;
    expect(size).toBeLessThanOrEqual(8192);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)[2]).toBe(RECORDING_FULL_NOTICE);
    const row = await database.knex('console_recordings').where({ id: recording.id }).first();
    expect(Number(row.size_bytes)).toBe(size);
  });

  it.skipIf(kind.skipReason)("counts the tenant's recordings in its disk usage", async () => {
    const before = await readUsage(database.knex, tenantId);
    await database.knex('console_recordings').insert({
      tenant_id: tenantId,
      vm_id: vmId,
      vm_name: 'chatty',
      path: '/elsewhere.cast',
      size_bytes: 2 * 1024 ** 3,
    });
    const after = await readUsage(database.knex, tenantId);
    expect(after.diskGib).toBeCloseTo(before.diskGib + 2, 2);
    // A member's own usage counts their VMs only: recordings are the tenant's.
    const owner = await database.knex('vms').where({ id: vmId }).first();
    expect((await readUsage(database.knex, tenantId, owner.owner_id)).diskGib).toBe(1);
  });

  it.skipIf(kind.skipReason)('counts a recording being written at its size cap', async () => {
    const before = await readUsage(database.knex, tenantId);
    const recording = (await ConsoleRecording.startIfEnabled(database.knex, {
      vmId,
      recordingsDir,
      logger: pino({ level: 'silent' }),
    }))!;
    recording.output(Buffer.from('a few bytes'));
    const writing = await readUsage(database.knex, tenantId);
    expect(writing.diskGib).toBeCloseTo(before.diskGib + MAX_RECORDING_BYTES / 1024 ** 3, 2);
    await recording.close();
    const ended = await readUsage(database.knex, tenantId);
    expect(ended.diskGib).toBeCloseTo(before.diskGib, 2);
  });
});
