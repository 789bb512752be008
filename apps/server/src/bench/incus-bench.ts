/**
 * The Incus benchmark (`npm run bench`): Labvisor on a real three-member Incus cluster made on this
 * machine (IncusCluster), each figure beside its anchor measured in the same run:
 * - create-to-prompt of a container lab through the API (create, wait for `running`, open the
 *   terminal through the server, Enter until `# `) beside the same with raw Incus REST calls
 *   (create with start, console WebSocket);
 * - a start of a stopped lab through the engine's driver beside the raw `PUT /state` start;
 * - 30 labs created at once through the API: time until all run, and how they spread.
 * Needs root and Incus (incus-base); without them it says so and measures nothing. Figures go to
 * bench-results/incus.json and a table.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine } from '@labvisor/engine';
import { IncusClient } from '@labvisor/engine/incus';
import {
  builtImageDir,
  ensureTinyContainerImage,
  IncusCluster,
  incusClusterSkipReason,
} from '@labvisor/engine/testing';
import pino from 'pino';
import type WebSocket from 'ws';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { writeLimits } from '../db/queries/quotas.js';
import { insertTenant } from '../db/queries/tenants.js';
import { registerBuiltImage } from '../domain/images/built-images.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { buildServer } from '../server.js';
import { type BenchClient, createBenchClient, percentile } from './console-bench-client.js';
import { createTokenUser } from './fixtures.js';

const SAMPLES = 10;

function progress(message: string): void {
  process.stderr.write(`incus bench: ${message}\n`);
}
const CLASS_SIZE = 30;
const PROMPT = /# $/;

/** Presses Enter every 100 ms until the output ends in a prompt (keys before Incus attaches are lost). */
async function untilPrompt(send: () => void, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!PROMPT.test(output())) {
    if (Date.now() > deadline)
      throw new Error(`no prompt; last output ${JSON.stringify(output().slice(-80))}`);
    send();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Raw Incus: create-and-start from the image, console WebSocket, Enter until the prompt. */
async function rawCreateToPrompt(client: IncusClient, fingerprint: string, name: string) {
  const start = performance.now();
  await client.call('POST', '/1.0/instances', {
    name,
    type: 'container',
    start: true,
    source: { type: 'image', fingerprint },
    config: { 'limits.cpu': '1', 'limits.memory': '128MiB' },
  });
  const operation = (await client.start('POST', `/1.0/instances/${name}/console`, {
    type: 'console',
    width: 80,
    height: 24,
  })) as unknown as { id: string; metadata: { fds: Record<string, string> } };
  const control = await client.openOperationStream(operation.id, operation.metadata.fds.control!);
  const data = await client.openOperationStream(operation.id, operation.metadata.fds['0']!);
  let output = '';
  data.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8').replaceAll('\r', '');
  });
  await untilPrompt(
    () => data.write('\n'),
    () => output,
  );
  const elapsed = performance.now() - start;
  data.destroy();
  control.destroy();
  return elapsed;
}

/** Through Labvisor: API create, wait for running, terminal through the server, prompt. */
async function apiCreateToPrompt(
  client: BenchClient,
  token: string,
  lab: { tenantId: string; imageId: string; name: string },
) {
  const start = performance.now();
  const vm = await client.api(token, 'POST', '/api/v1/vms', {
    tenantId: lab.tenantId,
    imageId: lab.imageId,
    name: lab.name,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
  });
  if (!vm.id) throw new Error(`the create was refused: ${JSON.stringify(vm)}`);
  await untilRunning(client, token, vm.id);
  const terminal = await client.openConsole(token, vm.id, 'interactive');
  await untilPrompt(
    () => terminal.socket.send(Buffer.from('\r'), { binary: true }),
    () => terminal.received().replaceAll('\r', ''),
  );
  const elapsed = performance.now() - start;
  terminal.socket.close();
  return { id: vm.id, elapsed };
}

async function untilRunning(client: BenchClient, token: string, vmId: string): Promise<void> {
  for (;;) {
    const vm = await client.api(token, 'GET', `/api/v1/vms/${vmId}`);
    if (vm.state === 'running') return;
    if (vm.state === 'error') throw new Error(`lab ${vmId} failed: ${JSON.stringify(vm)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function main(): Promise<void> {
  const skip = incusClusterSkipReason();
  if (skip) {
    process.stdout.write(`incus bench: skipped, ${skip}\n`);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-incus-bench-'));
  const cluster = new IncusCluster();
  const cacheDir = process.env.LABVISOR_CACHE_DIR;
  const imagePath = ensureTinyContainerImage({ cacheDir });
  const fingerprint = createHash('sha256').update(fs.readFileSync(imagePath)).digest('hex');
  const database = await openDatabase({ pgliteMemory: true });
  const sockets: WebSocket[] = [];
  let server: ReturnType<typeof buildServer> | undefined;
  let engine: Awaited<ReturnType<typeof createEngine>> | undefined;
  try {
    progress('starting a three-member cluster');
    await cluster.start(3);
    await migrateToLatest(database.knex);
    const { id: imageId } = await registerBuiltImage(database.knex, {
      manifestDir: builtImageDir('tiny-container', { cacheDir }),
      imagesDir: path.join(work, 'images'),
    });
    const tenant = await insertTenant(database.knex, { name: 'incus bench' });
    await writeLimits(database.knex, tenant.id, {
      runningVms: 100,
      vcpus: 400,
      memoryMib: 100_000,
      diskGib: 100,
      snapshots: 10,
      vmHoursPerMonth: 10_000,
    });
    const token = await createTokenUser(database.knex, {
      tenantId: tenant.id,
      email: 'bench@example.test',
      role: 'member',
    });
    const connection = cluster.connection();
    // Containers share CPUs as processes do: a class of 30 on three two-core members needs more
    // than the 4 vCPUs per core that suit virtual machines.
    engine = await createEngine({
      runDir: path.join(work, 'vms'),
      driver: { kind: 'incus', ...connection },
      overcommit: { vcpus: 16 },
    });
    server = buildServer({
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
    const { port } = (await server.listen(0, '127.0.0.1')).address() as AddressInfo;
    const client = createBenchClient(`http://127.0.0.1:${port}`, sockets);
    const raw = new IncusClient(connection);

    progress(`create to prompt, ${SAMPLES} of each`);
    // Warm both paths once (the image reaches each member on its first use there).
    const warm = await apiCreateToPrompt(client, token, {
      tenantId: tenant.id,
      imageId,
      name: 'warm',
    });
    await rawCreateToPrompt(raw, fingerprint, 'raw-warm');
    const rawPrompt: number[] = [];
    const apiPrompt: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      rawPrompt.push(await rawCreateToPrompt(raw, fingerprint, `raw-${i}`));
      apiPrompt.push(
        (await apiCreateToPrompt(client, token, { tenantId: tenant.id, imageId, name: `lab-${i}` }))
          .elapsed,
      );
    }

    progress('starts of a stopped lab');
    // A start of a stopped container: the driver (through the engine) beside the raw call.
    const rawStart: number[] = [];
    const driverStart: number[] = [];
    await engine.stopVm(warm.id, { force: true });
    await raw.call('PUT', '/1.0/instances/raw-warm/state', { action: 'stop', force: true });
    for (let i = 0; i < SAMPLES; i++) {
      let begin = performance.now();
      await raw.call('PUT', '/1.0/instances/raw-warm/state', { action: 'start' });
      rawStart.push(performance.now() - begin);
      await raw.call('PUT', '/1.0/instances/raw-warm/state', { action: 'stop', force: true });
      begin = performance.now();
      await engine.startVm(warm.id);
      driverStart.push(performance.now() - begin);
      await engine.stopVm(warm.id, { force: true });
    }

    progress(`${CLASS_SIZE} labs at once`);
    // A class arriving at once.
    const classStart = performance.now();
    const created = await Promise.all(
      Array.from({ length: CLASS_SIZE }, (_, i) =>
        client.api(token, 'POST', '/api/v1/vms', {
          tenantId: tenant.id,
          imageId,
          name: `class-${i}`,
          vcpus: 1,
          memoryMib: 64,
          diskGib: 1,
        }),
      ),
    );
    const refused = created.filter((vm) => !vm.id);
    if (refused.length > 0) throw new Error(`creates refused: ${JSON.stringify(refused[0])}`);
    await Promise.all(created.map((vm) => untilRunning(client, token, vm.id)));
    const classMs = performance.now() - classStart;
    const spread = Object.fromEntries(engine.members().map((member) => [member.name, member.vms]));
    report({ rawPrompt, apiPrompt, rawStart, driverStart, classMs, spread });
  } finally {
    for (const socket of sockets) socket.terminate();
    if (server) await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5000))]);
    await engine?.close();
    await database.close();
    await cluster.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function report(figures: {
  rawPrompt: number[];
  apiPrompt: number[];
  rawStart: number[];
  driverStart: number[];
  classMs: number;
  spread: Record<string, number>;
}) {
  const round = (value: number) => Math.round(value * 10) / 10;
  const stats = (samples: number[]) => ({
    p50: round(percentile(samples, 50)),
    p95: round(percentile(samples, 95)),
  });
  const result = {
    measuredAt: new Date().toISOString(),
    samples: SAMPLES,
    createToPromptMs: { rawIncus: stats(figures.rawPrompt), labvisorApi: stats(figures.apiPrompt) },
    startMs: { rawIncus: stats(figures.rawStart), engineDriver: stats(figures.driverStart) },
    classOf30: { allRunningMs: Math.round(figures.classMs), perMember: figures.spread },
  };
  const ratio = (a: { p50: number }, b: { p50: number }) => round((a.p50 / b.p50) * 10) / 10;
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/incus.json', `${JSON.stringify(result, null, 2)}\n`);
  const p = result.createToPromptMs;
  const s = result.startMs;
  process.stdout.write(
    [
      '',
      '| container lab on a 3-member Incus cluster (tiny-container) | raw Incus REST | Labvisor | ratio (p50) |',
      '|---|---|---|---|',
      `| create to terminal prompt, p50 (p95) | ${p.rawIncus.p50} ms (${p.rawIncus.p95}) | ${p.labvisorApi.p50} ms (${p.labvisorApi.p95}) | ${ratio(p.labvisorApi, p.rawIncus)} |`,
      `| start of a stopped lab, p50 (p95) | ${s.rawIncus.p50} ms (${s.rawIncus.p95}) | ${s.engineDriver.p50} ms (${s.engineDriver.p95}) | ${ratio(s.engineDriver, s.rawIncus)} |`,
      `| ${CLASS_SIZE} labs created at once, until all run | | ${result.classOf30.allRunningMs} ms | |`,
      `| where the ${CLASS_SIZE} (+${SAMPLES + 1} earlier) labs went | | ${Object.entries(
        figures.spread,
      )
        .map(([member, count]) => `${member}: ${count}`)
        .join(', ')} | |`,
      '',
      'Figures written to bench-results/incus.json',
      '',
    ].join('\n'),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `incus bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
