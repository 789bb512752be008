/**
 * The server's benchmark (`npm run bench`): requests/s and p99 latency of `GET /api/v1/vms` and of
 * `POST /api/v1/vms?dryRun=1` under autocannon, beside their anchor (a bare `node:http` server in
 * the same process answering the same bytes, loaded the same way), and admission throughput with
 * 20 tenants creating in parallel. Embedded PGlite, an engine without QEMU (admitted VMs fail to boot at once, so only
 * the API and admission are measured). Figures go to bench-results/server.json and a table.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '@labvisor/engine';
import autocannon from 'autocannon';
import type { Knex } from 'knex';
import pino from 'pino';
import { type Database, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { insertTenant } from '../db/queries/tenants.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { buildServer, type LabvisorServer } from '../server.js';
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

/** A bench tenant and the API token of its one member. */
interface BenchTenant {
  tenantId: string;
  token: string;
}

/** Requests/s and latency of one endpoint under load. */
interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Admission throughput: VMs created by every tenant at once. */
interface AdmissionFigures {
  creates: number;
  tenants: number;
  createsPerSecond: number;
}

/** The server under bench, listening on a loopback port, and what to tear down afterwards. */
interface BenchServer {
  server: LabvisorServer;
  engine: Engine;
  runDir: string;
  base: string;
}

/** Loads `url` for LOAD_SECONDS; throws on any non-2xx answer or error. */
async function load(url: string, options: Partial<autocannon.Options>): Promise<LoadFigures> {
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

/** Seeds the bench image, TENANTS tenants with one member each, and LISTED_VMS VMs for the first. */
async function seedFixture(knex: Knex): Promise<{ imageId: string; tenants: BenchTenant[] }> {
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
  const tenants: BenchTenant[] = [];
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
  return { imageId: image!.id, tenants };
}

/** Builds the server on an engine without QEMU (VMs fail to boot at once) and listens on loopback. */
async function startServer(database: Database): Promise<BenchServer> {
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
  return { server, engine, runDir, base };
}

/**
 * The anchor: a bare `node:http` server answering, to every request, the bytes `GET /api/v1/vms`
 * answers, loaded the same way: what this machine and process can serve at most.
 */
async function measureBareHttp(body: string): Promise<LoadFigures> {
  const bare = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(body);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  try {
    return await load(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/`, {});
  } finally {
    await new Promise((resolve) => bare.close(resolve));
  }
}

/** Loads `GET /api/v1/vms` and then `POST /api/v1/vms?dryRun=1` as the first tenant. */
async function measureEndpoints(
  base: string,
  first: BenchTenant,
  imageId: string,
): Promise<{ listVms: LoadFigures; dryRun: LoadFigures; bare: LoadFigures }> {
  const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
  const listed = await fetch(`${base}/api/v1/vms`, { headers });
  const bare = await measureBareHttp(await listed.text());
  const listVms = await load(`${base}/api/v1/vms`, { headers });
  const dryRunBody = JSON.stringify({
    tenantId: first.tenantId,
    name: 'dry',
    imageId,
    vcpus: 1,
    memoryMib: 256,
    diskGib: 1,
  });
  const dryRun = await load(`${base}/api/v1/vms?dryRun=1`, {
    method: 'POST',
    headers,
    body: dryRunBody,
  });
  return { listVms, dryRun, bare };
}

/** Every tenant creates CREATES_PER_TENANT VMs at once; throws unless every create answers 201. */
async function measureAdmission(
  base: string,
  tenants: BenchTenant[],
  imageId: string,
): Promise<AdmissionFigures> {
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
            imageId,
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
  return {
    creates: statuses.length,
    tenants: TENANTS,
    createsPerSecond: Math.round(statuses.length / seconds),
  };
}

/** Writes the figures to bench-results/server.json and prints them as a markdown table. */
function reportFigures(
  { listVms, dryRun, bare }: { listVms: LoadFigures; dryRun: LoadFigures; bare: LoadFigures },
  admission: AdmissionFigures,
): void {
  const ratio = (figures: LoadFigures) =>
    Math.round((figures.requestsPerSecond / bare.requestsPerSecond) * 1000) / 1000;
  const figures = {
    measuredAt: new Date().toISOString(),
    database: 'pglite',
    loadSeconds: LOAD_SECONDS,
    connections: CONNECTIONS,
    bareNodeHttp: bare,
    listVms: { ...listVms, ofBareNodeHttp: ratio(listVms) },
    dryRun: { ...dryRun, ofBareNodeHttp: ratio(dryRun) },
    admission,
  };
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/server.json', `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(
    [
      '',
      '| server (PGlite, 10 connections) | requests/s | p50 ms | p99 ms | of bare node:http |',
      '|---|---|---|---|---|',
      `| anchor: bare node:http, the same bytes as GET /api/v1/vms | ${bare.requestsPerSecond} | ${bare.p50Ms} | ${bare.p99Ms} | 1 |`,
      `| GET /api/v1/vms (${LISTED_VMS} VMs) | ${listVms.requestsPerSecond} | ${listVms.p50Ms} | ${listVms.p99Ms} | ${ratio(listVms)} |`,
      `| POST /api/v1/vms?dryRun=1 | ${dryRun.requestsPerSecond} | ${dryRun.p50Ms} | ${dryRun.p99Ms} | ${ratio(dryRun)} |`,
      `| admission: ${admission.creates} creates from ${TENANTS} tenants in parallel | ${admission.createsPerSecond} creates/s | | | |`,
      '',
      'Figures written to bench-results/server.json',
      '',
    ].join('\n'),
  );
}

/** Runs the server bench: seed, serve, measure the endpoints then admission, tear down, report. */
async function main(): Promise<void> {
  const database = await openDatabase({ pgliteMemory: true });
  await migrateToLatest(database.knex);
  const { imageId, tenants } = await seedFixture(database.knex);
  const first = tenants[0]!;
  const { server, engine, runDir, base } = await startServer(database);

  const endpoints = await measureEndpoints(base, first, imageId);
  const admission = await measureAdmission(base, tenants, imageId);

  await server.close();
  await engine.close();
  await database.close();
  fs.rmSync(runDir, { recursive: true, force: true });

  reportFigures(endpoints, admission);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `server bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
