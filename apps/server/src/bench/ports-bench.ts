/**
 * The ports benchmark (`npm run bench`): HTTP requests to a web server in a tiny guest on a guest
 * network through the server's port proxy (the port's host name, with its cookie), beside the same
 * requests on the engine's own stream to the port (the forwarder's socket, no server in between):
 * latency of a request on a new connection, and a 4 MiB download's throughput. Guest networks need
 * root; without it the bench says so and measures nothing. Figures go to bench-results/ports.json
 * and a table.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '@labvisor/engine';
import { ensureTinyImage, NetworkLab, SerialClient, tinyImageDir } from '@labvisor/engine/testing';
import pino from 'pino';
import type WebSocket from 'ws';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { insertTenant } from '../db/queries/tenants.js';
import { registerBuiltImage } from '../domain/images/built-images.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { buildServer } from '../server.js';
import {
  createBenchClient,
  createRunningVm,
  percentile,
  STEP_TIMEOUT_MS,
} from './console-bench-client.js';
import { createTokenUser } from './fixtures.js';

const SAMPLES = 200;
const WARMUP = 20;
const DOWNLOADS = 5;
const DOWNLOAD_BYTES = 4 * 1024 * 1024;

/** One HTTP/1.0 GET on `stream`-like transport: resolves with the bytes of the whole answer. */
type Fetch = (urlPath: string) => Promise<number>;

/** Milliseconds of each of `count` GETs of `/` after a warm-up. */
async function latencies(fetch: Fetch): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const start = performance.now();
    await fetch('/');
    if (i >= WARMUP) samples.push(performance.now() - start);
  }
  return samples;
}

/** Megabytes per second of each download of `/big`. */
async function throughputs(fetch: Fetch): Promise<number[]> {
  const rates: number[] = [];
  for (let i = 0; i < DOWNLOADS; i++) {
    const start = performance.now();
    const bytes = await fetch('/big');
    if (bytes < DOWNLOAD_BYTES) throw new Error(`a download brought ${bytes} bytes`);
    rates.push(bytes / 1e6 / ((performance.now() - start) / 1000));
  }
  return rates;
}

/** The anchor: a GET on the engine's stream to the guest's port. */
function directFetch(engine: Engine, vmId: string): Fetch {
  return async (urlPath) => {
    const stream = await engine.openGuestPort(vmId, 8080);
    stream.write(`GET ${urlPath} HTTP/1.0\r\n\r\n`);
    let bytes = 0;
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    return bytes;
  };
}

/** A GET through the server, to the port's host name with its cookie, on a new connection. */
function proxiedFetch(port: number, host: string, cookie: string): Fetch {
  return (urlPath) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: urlPath, agent: false, headers: { host, cookie } },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('end', () => resolve(bytes));
        },
      );
      req.on('error', reject);
      req.end();
    });
}

/** Starts busybox httpd in the guest, serving `/` and a 4 MiB `/big`. */
async function startWebServer(engine: Engine, vmId: string): Promise<void> {
  const serial = await SerialClient.open(() => engine.openConsole(vmId, 'serial'));
  serial.write('\n');
  await serial.waitFor('# ', STEP_TIMEOUT_MS);
  await serial.run(
    `mkdir -p /tmp/w && echo ok >/tmp/w/index.html && dd if=/dev/zero of=/tmp/w/big bs=1024 count=${DOWNLOAD_BYTES / 1024} 2>/dev/null && httpd -p 8080 -h /tmp/w`,
    STEP_TIMEOUT_MS,
  );
  serial.close();
}

/** Follows the port's one-minute link and answers the cookie it sets. */
async function redeem(port: number, url: string): Promise<{ host: string; cookie: string }> {
  const link = new URL(url);
  const cookie = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: `${link.pathname}${link.search}`,
        headers: { host: link.host },
      },
      (res) => {
        res.resume();
        resolve(String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]!);
      },
    );
    req.on('error', reject);
    req.end();
  });
  return { host: link.host, cookie };
}

function report(
  direct: number[],
  proxied: number[],
  directRates: number[],
  proxiedRates: number[],
) {
  const round = (value: number) => Math.round(value * 100) / 100;
  const figures = {
    measuredAt: new Date().toISOString(),
    samples: SAMPLES,
    requestMs: {
      direct: { p50: round(percentile(direct, 50)), p95: round(percentile(direct, 95)) },
      throughServer: { p50: round(percentile(proxied, 50)), p95: round(percentile(proxied, 95)) },
    },
    downloadMegabytesPerSecond: {
      direct: round(percentile(directRates, 50)),
      throughServer: round(percentile(proxiedRates, 50)),
    },
  };
  const ratio = round(figures.requestMs.throughServer.p50 / figures.requestMs.direct.p50);
  const rateRatio = round(
    figures.downloadMegabytesPerSecond.throughServer / figures.downloadMegabytesPerSecond.direct,
  );
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync(
    'bench-results/ports.json',
    `${JSON.stringify({ ...figures, requestRatioP50: ratio, downloadRatio: rateRatio }, null, 2)}\n`,
  );
  process.stdout.write(
    [
      '',
      '| a lab’s web app (tiny guest, TCG, busybox httpd) | straight to the port | through the server | ratio |',
      '|---|---|---|---|',
      `| GET / on a new connection, p50 (p95) | ${figures.requestMs.direct.p50} ms (${figures.requestMs.direct.p95}) | ${figures.requestMs.throughServer.p50} ms (${figures.requestMs.throughServer.p95}) | ${ratio} |`,
      `| 4 MiB download, median of ${DOWNLOADS} | ${figures.downloadMegabytesPerSecond.direct} MB/s | ${figures.downloadMegabytesPerSecond.throughServer} MB/s | ${rateRatio} |`,
      '',
      'Figures written to bench-results/ports.json',
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('ports bench: skipped, guest networks need root\n');
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-ports-bench-'));
  const lab = new NetworkLab();
  await lab.start({});
  const database = await openDatabase({ pgliteMemory: true });
  await migrateToLatest(database.knex);
  const cacheDir = process.env.LABVISOR_CACHE_DIR;
  ensureTinyImage({ cacheDir });
  const { id: imageId } = await registerBuiltImage(database.knex, {
    manifestDir: tinyImageDir({ cacheDir }),
    imagesDir: path.join(work, 'images'),
  });
  const tenant = await insertTenant(database.knex, { name: 'ports bench' });
  const token = await createTokenUser(database.knex, {
    tenantId: tenant.id,
    email: 'web@example.test',
    role: 'member',
  });
  const engine = await createEngine({
    runDir: path.join(work, 'vms'),
    driver: {
      kind: 'qemu',
      accel: 'tcg',
      guestNetworks: {
        namespace: lab.router,
        uplinkNamespace: lab.host,
        dnsServers: [],
        stateDir: path.join(work, 'network'),
      },
    },
  });
  const server = buildServer({
    database,
    engine,
    logger: pino({ level: 'silent' }),
    sessionSecret: 'x'.repeat(32),
    recordingsDir: path.join(work, 'recordings'),
    homesDir: path.join(work, 'homes'),
    images: defaultImageImportSettings(path.join(work, 'images')),
    publicOrigin: undefined,
    exposeStack: false,
  });
  const listening = await server.listen(0, '127.0.0.1');
  const { port } = listening.address() as AddressInfo;
  const sockets: WebSocket[] = [];
  const client = createBenchClient(`http://127.0.0.1:${port}`, sockets);
  try {
    const vmId = await createRunningVm(client, token, tenant.id, imageId, { network: 'internet' });
    await startWebServer(engine, vmId);
    const opened = await client.api(token, 'POST', `/api/v1/vms/${vmId}/ports`, { port: 8080 });
    if (!opened.url) throw new Error(`opening the port failed: ${JSON.stringify(opened)}`);
    const { host, cookie } = await redeem(port, opened.url);
    const direct = directFetch(engine, vmId);
    const proxied = proxiedFetch(port, host, cookie);
    const directSamples = await latencies(direct);
    const proxiedSamples = await latencies(proxied);
    report(directSamples, proxiedSamples, await throughputs(direct), await throughputs(proxied));
  } finally {
    for (const vm of await engine.listVms()) await engine.deleteVm(vm.id).catch(() => {});
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    await engine.close();
    await database.close();
    await lab.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `ports bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
