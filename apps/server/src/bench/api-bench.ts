/**
 * The server's benchmark (`npm run bench`), on embedded PGlite and on a throwaway Postgres server
 * in the same run: requests/s and p99 latency under autocannon (in a worker thread of its own) of
 * `GET /api/v1/vms` with an API token and with a browser's session cookie, beside its anchor (a
 * bare `node:http` server in the same process running the same SQL on the same database: who sends
 * the token, then the VMs they see), and of `POST /api/v1/vms?dryRun=1` beside a bare `node:http`
 * server answering the same bytes as the VM list without any SQL (the machine's HTTP limit), each
 * loaded the same way; then admission at scale: 100
 * tenants whose quota admits 3 running VMs each fire 5 creates at once, on a host with room for
 * fewer VMs than all quotas together, and the bench counts how many were admitted beyond a quota
 * or the host (must be 0). The engine runs the fake driver (admitted VMs hold their resources
 * without a guest), so only the API and admission are measured. Figures go to
 * bench-results/server.json and a table.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '@labvisor/engine';
import { FakeDriver } from '@labvisor/engine/testing';
import { RESOURCE_HOLDING_STATES } from '@labvisor/shared';
import autocannon from 'autocannon';
import type { Knex } from 'knex';
import pino from 'pino';
import { type Database, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { insertTenant } from '../db/queries/tenants.js';
import { findUserByTokenHash } from '../db/queries/tokens.js';
import { splitRoles } from '../db/queries/users.js';
import { toVm } from '../db/queries/vms.js';
import { postgresMissingReason, startPostgresCluster } from '../db/throwaway-postgres.js';
import { hashPassword } from '../domain/auth/passwords.js';
import { hashSecretToken } from '../domain/auth/secret-tokens.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { visibleVmsQuery } from '../domain/vms/vm-visibility.js';
import { SESSION_COOKIE_NAME } from '../http/auth/session.js';
import { buildServer, type LabvisorServer } from '../server.js';
import { createTokenUser } from './fixtures.js';

const LOAD_SECONDS = 5;
const CONNECTIONS = 10;
/** Tenants creating at once, each admitting QUOTA_VMS running VMs and asking CREATES_PER_TENANT. */
const TENANTS = 100;
const QUOTA_VMS = 3;
const CREATES_PER_TENANT = 5;
const VM_MEMORY_MIB = 256;
/** The host has room for this many bench VMs: fewer than all quotas together (TENANTS × QUOTA_VMS). */
const HOST_VMS = 250;
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

/** The first bench tenant's member signs in with this password (the browser-session figure). */
const BENCH_PASSWORD = 'bench password, not secret';

/** Requests/s and latency of one endpoint under load. */
interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Admission at scale: creates from every tenant at once, and how many went beyond a limit. */
interface AdmissionFigures {
  requests: number;
  tenants: number;
  admitted: number;
  refused: number;
  requestsPerSecond: number;
  /** VMs admitted beyond their tenant's quota, summed over tenants: must be 0. */
  overQuota: number;
  /** VMs admitted beyond the host's capacity: must be 0. */
  overHost: number;
}

/** What one database's run measured. */
interface DatabaseFigures {
  database: 'pglite' | 'postgres';
  /** The anchor of the lists: bare node:http running the same SQL. */
  bareSql: LoadFigures;
  /** The anchor of the dry run: bare node:http answering the list's bytes, no SQL. */
  bareBytes: LoadFigures;
  listVms: LoadFigures;
  listVmsSession: LoadFigures;
  dryRun: LoadFigures;
  admission: AdmissionFigures;
}

/** The server under bench, listening on a loopback port, and what to tear down afterwards. */
interface BenchServer {
  server: LabvisorServer;
  engine: Engine;
  runDir: string;
  base: string;
}

/**
 * Loads `url` for LOAD_SECONDS from a worker thread (so the load generator does not share the
 * server's event loop); throws on any non-2xx answer or error.
 */
async function load(url: string, options: Partial<autocannon.Options>): Promise<LoadFigures> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
    workers: 1,
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

/**
 * Seeds the bench image and TENANTS + 1 tenants with one member each: the first with big limits
 * and LISTED_VMS VMs (the endpoints' load), the others admitting QUOTA_VMS running VMs (admission).
 */
async function seedFixture(
  knex: Knex,
): Promise<{ imageId: string; first: BenchTenant; tenants: BenchTenant[] }> {
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
  const makeTenant = async (name: string, limits: typeof BIG_LIMITS): Promise<BenchTenant> => {
    const tenant = await insertTenant(knex, { name, limits });
    const token = await createTokenUser(knex, {
      tenantId: tenant.id,
      email: `${name}@example.test`,
      role: 'member',
    });
    return { tenantId: tenant.id, token };
  };
  const first = await makeTenant('bench-load', BIG_LIMITS);
  const tenants: BenchTenant[] = [];
  for (let index = 0; index < TENANTS; index++)
    tenants.push(await makeTenant(`bench-${index}`, { ...BIG_LIMITS, runningVms: QUOTA_VMS }));
  const owner = await knex('memberships')
    .where({ tenant_id: first.tenantId })
    .first<{ user_id: string }>('user_id');
  await knex('users')
    .where({ id: owner!.user_id })
    .update({ password_hash: await hashPassword(BENCH_PASSWORD) });
  await knex('vms').insert(
    Array.from({ length: LISTED_VMS }, (_, index) => ({
      tenant_id: first.tenantId,
      owner_id: owner!.user_id,
      image_id: image!.id,
      name: `listed-${index}`,
      vcpus: 1,
      memory_mib: VM_MEMORY_MIB,
      disk_gib: 1,
    })),
  );
  return { imageId: image!.id, first, tenants };
}

/**
 * Builds the server on the fake driver (admitted VMs hold their resources without a guest) on a
 * host with room for HOST_VMS bench VMs, and listens on loopback.
 */
async function startServer(database: Database): Promise<BenchServer> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-bench-'));
  const engine = await Engine.create(
    {
      runDir,
      driver: { kind: 'qemu', accel: 'tcg' },
      host: { memoryMib: HOST_VMS * VM_MEMORY_MIB, vcpus: 100_000 },
    },
    async (observer) => new FakeDriver(observer),
  );
  const server = buildServer({
    database,
    engine,
    logger: pino({ level: 'silent' }),
    sessionSecret: 'x'.repeat(32),
    recordingsDir: path.join(runDir, 'recordings'),
    homesDir: path.join(runDir, 'homes'),
    images: defaultImageImportSettings(path.join(runDir, 'images')),
    publicOrigin: undefined,
    exposeStack: false,
  });
  const listening = await server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  return { server, engine, runDir, base };
}

/** Loads a bare `node:http` server answering each request with `answer`'s JSON, then closes it. */
async function measureBareHttp(answer: () => Promise<string>): Promise<LoadFigures> {
  const bare = http.createServer((_req, res) => {
    answer().then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(body);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  try {
    return await load(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/`, {});
  } finally {
    await new Promise((resolve) => bare.close(resolve));
  }
}

/**
 * The same SQL as `GET /api/v1/vms` with an API token, with no framework around it: who sends the
 * token (with their roles), then the VMs they see, as the API's JSON.
 */
async function listVmsBare(knex: Knex, token: string): Promise<string> {
  const row = await findUserByTokenHash(knex, hashSecretToken(token));
  if (!row) throw new Error('the bench token is unknown');
  const vms = await visibleVmsQuery(knex, splitRoles(row)).orderBy('name');
  return JSON.stringify({ items: vms.map(toVm) });
}

/** Signs the first tenant's member in; answers the session cookie. */
async function signIn(base: string, email: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: BENCH_PASSWORD }),
  });
  const cookie = response.headers
    .getSetCookie()
    .find((each) => each.startsWith(`${SESSION_COOKIE_NAME}=`));
  if (response.status !== 200 || !cookie) throw new Error(`sign-in answered ${response.status}`);
  return cookie.split(';')[0]!;
}

/**
 * Loads `GET /api/v1/vms` (with the token, then with a browser session) beside bare node:http
 * running the same SQL, and `POST /api/v1/vms?dryRun=1` beside bare node:http answering the same
 * bytes without SQL, as the first tenant.
 */
async function measureEndpoints(
  base: string,
  knex: Knex,
  first: BenchTenant,
  imageId: string,
): Promise<Omit<DatabaseFigures, 'database' | 'admission'>> {
  const headers = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
  const listed = await (await fetch(`${base}/api/v1/vms`, { headers })).text();
  if (listed !== (await listVmsBare(knex, first.token)))
    throw new Error('the bare server does not answer what GET /api/v1/vms answers');
  const bareBytes = await measureBareHttp(async () => listed);
  const bareSql = await measureBareHttp(() => listVmsBare(knex, first.token));
  const listVms = await load(`${base}/api/v1/vms`, { headers });
  const cookie = await signIn(base, `bench-load@example.test`);
  const listVmsSession = await load(`${base}/api/v1/vms`, { headers: { cookie } });
  const dryRunBody = JSON.stringify({
    tenantId: first.tenantId,
    name: 'dry',
    imageId,
    vcpus: 1,
    memoryMib: VM_MEMORY_MIB,
    diskGib: 1,
  });
  const dryRun = await load(`${base}/api/v1/vms?dryRun=1`, {
    method: 'POST',
    headers,
    body: dryRunBody,
  });
  return { bareSql, bareBytes, listVms, listVmsSession, dryRun };
}

/**
 * Every tenant fires CREATES_PER_TENANT creates at once; each answer must be 201 or a 409 refusal.
 * Then counts, from the database, the VMs holding resources beyond each quota and the host.
 */
async function measureAdmission(
  base: string,
  knex: Knex,
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
            memoryMib: VM_MEMORY_MIB,
            diskGib: 1,
          }),
        });
        await response.arrayBuffer();
        return response.status;
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  if (statuses.some((status) => status !== 201 && status !== 409))
    throw new Error(`admission answered ${[...new Set(statuses)].join(', ')}`);
  const holding = await knex('vms')
    .whereIn(
      'tenant_id',
      tenants.map(({ tenantId }) => tenantId),
    )
    .whereIn('state', RESOURCE_HOLDING_STATES)
    .groupBy('tenant_id')
    .select<{ tenant_id: string; count: string }[]>('tenant_id', knex.raw('count(*) as count'));
  const counts = holding.map((row) => Number(row.count));
  const admitted = statuses.filter((status) => status === 201).length;
  return {
    requests: statuses.length,
    tenants: tenants.length,
    admitted,
    refused: statuses.length - admitted,
    requestsPerSecond: Math.round(statuses.length / seconds),
    overQuota: counts.reduce((sum, count) => sum + Math.max(0, count - QUOTA_VMS), 0),
    overHost: Math.max(0, counts.reduce((sum, count) => sum + count, 0) - HOST_VMS),
  };
}

/** Writes the figures to bench-results/server.json and prints them as a markdown table. */
function reportFigures(runs: DatabaseFigures[], skipped: Record<string, string>): void {
  const ratio = (figures: LoadFigures, anchor: LoadFigures) =>
    Math.round((figures.requestsPerSecond / anchor.requestsPerSecond) * 1000) / 1000;
  const figures = {
    measuredAt: new Date().toISOString(),
    loadSeconds: LOAD_SECONDS,
    connections: CONNECTIONS,
    runs: runs.map((run) => ({
      database: run.database,
      bareNodeHttpSameSql: run.bareSql,
      bareNodeHttpSameBytes: run.bareBytes,
      listVms: { ...run.listVms, ofBareSameSql: ratio(run.listVms, run.bareSql) },
      listVmsSession: {
        ...run.listVmsSession,
        ofBareSameSql: ratio(run.listVmsSession, run.bareSql),
      },
      dryRun: { ...run.dryRun, ofBareSameBytes: ratio(run.dryRun, run.bareBytes) },
      admission: run.admission,
    })),
    skipped,
  };
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/server.json', `${JSON.stringify(figures, null, 2)}\n`);
  const row = (label: string, figures: LoadFigures, anchor: LoadFigures | undefined) =>
    `| ${label} | ${figures.requestsPerSecond} | ${figures.p50Ms} | ${figures.p99Ms} | ${anchor ? ratio(figures, anchor) : ''} |`;
  const lines = [
    '',
    `| server (${CONNECTIONS} connections, ${LOAD_SECONDS} s each) | requests/s | p50 ms | p99 ms | of its anchor |`,
    '|---|---|---|---|---|',
  ];
  for (const run of runs) {
    const { database: db, bareSql, bareBytes, listVms, listVmsSession, dryRun, admission } = run;
    lines.push(
      row(`${db} — anchor: bare node:http, the same SQL as GET /api/v1/vms`, bareSql, undefined),
      row(`${db} — GET /api/v1/vms (${LISTED_VMS} VMs), API token`, listVms, bareSql),
      row(`${db} — GET /api/v1/vms (${LISTED_VMS} VMs), browser session`, listVmsSession, bareSql),
      row(`${db} — anchor: bare node:http, the list's bytes without SQL`, bareBytes, undefined),
      row(`${db} — POST /api/v1/vms?dryRun=1`, dryRun, bareBytes),
      `| ${db} — admission: ${admission.requests} creates from ${admission.tenants} tenants at once (${admission.admitted} admitted, ${admission.refused} refused; over quota ${admission.overQuota}, over host ${admission.overHost}) | ${admission.requestsPerSecond} | | | |`,
    );
  }
  for (const [database, reason] of Object.entries(skipped))
    lines.push(`| ${database}: not measured — ${reason} | | | | |`);
  lines.push('', 'Figures written to bench-results/server.json', '');
  process.stdout.write(lines.join('\n'));
}

/** Seeds a fresh database, serves it, measures the endpoints then admission, tears down. */
async function measureOn(
  kind: DatabaseFigures['database'],
  database: Database,
): Promise<DatabaseFigures> {
  await migrateToLatest(database.knex);
  const { imageId, first, tenants } = await seedFixture(database.knex);
  const { server, engine, runDir, base } = await startServer(database);
  try {
    const endpoints = await measureEndpoints(base, database.knex, first, imageId);
    const admission = await measureAdmission(base, database.knex, tenants, imageId);
    if (admission.overQuota > 0 || admission.overHost > 0)
      throw new Error(`${kind}: admission went beyond its limits: ${JSON.stringify(admission)}`);
    return { database: kind, ...endpoints, admission };
  } finally {
    await server.close();
    await engine.close();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** Runs the server bench on PGlite, then on a throwaway Postgres server; reports both. */
async function main(): Promise<void> {
  const runs: DatabaseFigures[] = [];
  const skipped: Record<string, string> = {};
  const pglite = await openDatabase({ pgliteMemory: true });
  try {
    runs.push(await measureOn('pglite', pglite));
  } finally {
    await pglite.close();
  }
  const missing = postgresMissingReason();
  if (missing) {
    skipped.postgres = missing;
  } else {
    const cluster = await startPostgresCluster();
    try {
      const postgres = await openDatabase({ url: cluster.url });
      try {
        runs.push(await measureOn('postgres', postgres));
      } finally {
        await postgres.close();
      }
    } finally {
      cluster.remove();
    }
  }
  reportFigures(runs, skipped);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `server bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
