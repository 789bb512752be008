/**
 * The server's benchmark (`npm run bench`): requests/s and p99 latency of `GET /api/v1/vms` and of
 * `POST /api/v1/vms?dryRun=1` under autocannon, and admission throughput with 20 tenants creating
 * in parallel. Embedded PGlite, an engine without QEMU (admitted VMs fail to boot at once, so only
 * the API and admission are measured). Figures go to bench-results/server.json and a table.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine } from '@labvisor/engine';
import autocannon from 'autocannon';
import pino from 'pino';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { insertTenant } from '../db/queries/tenants.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { buildServer } from '../server.js';
import { createTokenUser } from './fixtures.js';

const LOAD_SECONDS = 5;
const CONNECTIONS = 10;
const TENANTS = 20;
const CREATES_PER_TENANT = 10;
const LISTED_VMS = 50;
const BIG_LIMITS = {
  runningVms: 1000,
  vcpus: 10_000,
  memoryMib: 10_000_000,
  diskGib: 100_000,
  snapshots: 1000,
  vmHoursPerMonth: 100_000,
};

async function load(url: string, options: Partial<autocannon.Options>) {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
    ...options,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

async function main(): Promise<void> {
  const database = await openDatabase({ pgliteMemory: true });
  await migrateToLatest(database.knex);
  const knex = database.knex;
  const [image] = await knex('images')
    .insert({
      name: 'bench',
      kind: 'disk',
      format: 'qcow2',
      path: '/nonexistent/bench.qcow2',
      size_bytes: 1,
      sha256: 'e'.repeat(64),
    })
    .returning<{ id: string }[]>('id');
  const tenants: Array<{ tenantId: string; token: string }> = [];
  for (let index = 0; index < TENANTS; index++) {
    const tenant = await insertTenant(knex, { name: `bench-${index}`, limits: BIG_LIMITS });
    const token = await createTokenUser(knex, {
      tenantId: tenant.id,
      email: `bench-${index}@example.test`,
      role: 'member',
    });
    tenants.push({ tenantId: tenant.id, token });
  }
  const first = tenants[0]!;
  const owner = await knex('memberships')
    .where({ tenant_id: first.tenantId })
    .first<{ user_id: string }>('user_id');
  await knex('vms').insert(
    Array.from({ length: LISTED_VMS }, (_, index) => ({
      tenant_id: first.tenantId,
      owner_id: owner!.user_id,
      image_id: image!.id,
      name: `listed-${index}`,
      vcpus: 1,
      memory_mib: 256,
      disk_gib: 1,
    })),
  );

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-bench-'));
  const engine = await createEngine({
    runDir,
    driver: { kind: 'qemu', accel: 'tcg', qemuBinary: '/nonexistent/qemu-system-x86_64' },
    host: { memoryMib: 10_000_000, vcpus: 100_000 },
  });
  const server = buildServer({
    database,
    engine,
    logger: pino({ level: 'silent' }),
    sessionSecret: 'x'.repeat(32),
    recordingsDir: path.join(runDir, 'recordings'),
    images: defaultImageImportSettings(path.join(runDir, 'images')),
    publicOrigin: undefined,
    exposeStack: false,
  });
  const listening = await server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };

  const listVms = await load(`${base}/api/v1/vms`, { headers });
  const dryRunBody = JSON.stringify({
    tenantId: first.tenantId,
    name: 'dry',
    imageId: image!.id,
    vcpus: 1,
    memoryMib: 256,
    diskGib: 1,
  });
  const dryRun = await load(`${base}/api/v1/vms?dryRun=1`, {
    method: 'POST',
    headers,
    body: dryRunBody,
  });

  const started = performance.now();
  const statuses = await Promise.all(
    tenants.flatMap(({ tenantId, token }) =>
      Array.from({ length: CREATES_PER_TENANT }, async (_, index) => {
        const response = await fetch(`${base}/api/v1/vms`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            tenantId,
            name: `created-${index}`,
            imageId: image!.id,
            vcpus: 1,
            memoryMib: 256,
            diskGib: 1,
          }),
        });
        await response.arrayBuffer();
        return response.status;
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  if (statuses.some((status) => status !== 201))
    throw new Error(`admission answered ${[...new Set(statuses)].join(', ')}`);
  const admission = {
    creates: statuses.length,
    tenants: TENANTS,
    createsPerSecond: Math.round(statuses.length / seconds),
  };

  await server.close();
  await engine.close();
  await database.close();
  fs.rmSync(runDir, { recursive: true, force: true });

  const figures = {
    measuredAt: new Date().toISOString(),
    database: 'pglite',
    loadSeconds: LOAD_SECONDS,
    connections: CONNECTIONS,
    listVms,
    dryRun,
    admission,
  };
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/server.json', `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(
    [
      '',
      '| server (PGlite, 10 connections) | requests/s | p50 ms | p99 ms |',
      '|---|---|---|---|',
      `| GET /api/v1/vms (${LISTED_VMS} VMs) | ${listVms.requestsPerSecond} | ${listVms.p50Ms} | ${listVms.p99Ms} |`,
      `| POST /api/v1/vms?dryRun=1 | ${dryRun.requestsPerSecond} | ${dryRun.p50Ms} | ${dryRun.p99Ms} |`,
      `| admission: ${admission.creates} creates from ${TENANTS} tenants in parallel | ${admission.createsPerSecond} creates/s | | |`,
      '',
      'Figures written to bench-results/server.json',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `server bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
