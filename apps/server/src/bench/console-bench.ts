/**
 * The consoles' benchmark (`npm run bench`): keystroke echo round trip through the server beside
 * the same round trip straight on QEMU's serial socket (two tiny guests, samples alternated),
 * fan-out throughput to 100 viewers, memory per idle console with 1000 held. Real tiny guests
 * under TCG. Figures go to
 * bench-results/consoles.json and a table.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '@labvisor/engine';
import { ensureTinyImage, SerialClient, tinyImageDir } from '@labvisor/engine/testing';
import type { Knex } from 'knex';
import pino from 'pino';
import type WebSocket from 'ws';
import { type Database, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { insertTenant } from '../db/queries/tenants.js';
import { registerBuiltImage } from '../domain/images/built-images.js';
import { defaultImageImportSettings } from '../domain/images/image-import.js';
import { buildServer, type LabvisorServer } from '../server.js';
import {
  type BenchClient,
  type BenchConsole,
  createBenchClient,
  createRunningVm,
  median,
  percentile,
  STEP_TIMEOUT_MS,
  until,
} from './console-bench-client.js';
import { createTokenUser } from './fixtures.js';

const ECHO_SAMPLES = 200;
const ECHO_WARMUP = 50;
const FAN_OUT_VIEWERS = 100;
const IDLE_SOCKETS = 1000;
const IDLE_ROUNDS = 3;
const VIEWERS_PER_USER = 20;

/** A serial console the bench types on: send a key, read everything the guest sent so far. */
interface EchoChannel {
  send: (key: string) => void;
  received: () => string;
}

/** Types `x` and times until the guest's echo of it arrives. */
async function echoRoundTrip(channel: EchoChannel, what: string): Promise<number> {
  const before = channel.received().length;
  const start = performance.now();
  channel.send('x');
  await until(() => channel.received().slice(before).includes('x'), what);
  return performance.now() - start;
}

/**
 * Keystroke echo on two guests at once, one straight on its console socket, the other through the
 * server, sample by sample in alternation (which goes first alternates too), so that neither path
 * is measured only while a guest warms up or the machine is busier; then drops both lines.
 */
async function interleavedEchoRoundTrips(
  direct: EchoChannel,
  proxied: EchoChannel,
): Promise<{ directSamples: number[]; proxiedSamples: number[] }> {
  const directSamples: number[] = [];
  const proxiedSamples: number[] = [];
  // The first keys warm the guests' line editors and QEMU's translation cache; they are not counted.
  for (let i = 0; i < ECHO_WARMUP + ECHO_SAMPLES; i++) {
    const order = i % 2 === 0 ? [direct, proxied] : [proxied, direct];
    for (const channel of order) {
      const sample = await echoRoundTrip(channel, `the echo of key ${i}`);
      if (i >= ECHO_WARMUP) (channel === direct ? directSamples : proxiedSamples).push(sample);
    }
  }
  direct.send('\x03');
  proxied.send('\x03');
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { directSamples, proxiedSamples };
}

/** The server's memory: resident set, and what the JS heap and its buffers hold. */
function serverMemory(): { rss: number; heap: number } {
  global.gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed + usage.external };
}

/** One round of the idle-console measurement. */
interface IdleRound {
  held: number;
  rssKiBPerConnection: number;
  heapKiBPerConnection: number;
}

/**
 * Opens IDLE_SOCKETS view-only consoles from a child process, measures how much the server grew
 * per connection once they are idle, then closes them and waits for the server to let them go.
 */
async function measureIdleRound(
  server: LabvisorServer,
  base: string,
  vmId: string,
  tokens: string[],
): Promise<IdleRound> {
  const heldBefore = server.consoles.openSockets;
  const before = serverMemory();
  const clients = fork(fileURLToPath(new URL('./idle-console-clients.js', import.meta.url)));
  try {
    const answer = await new Promise<{ opened?: number; error?: string }>((resolve, reject) => {
      clients.once('message', resolve);
      clients.once('exit', (code) => reject(new Error(`the console clients exited (${code})`)));
      clients.send({ base, vmId, tokens, count: IDLE_SOCKETS, perUser: VIEWERS_PER_USER });
    });
    if (answer.error) throw new Error(`opening idle consoles failed: ${answer.error}`);
    await until(
      () => server.consoles.openSockets >= heldBefore + IDLE_SOCKETS,
      'the server to hold every idle console',
    );
    // Let the join announcements and scrollback replays drain before measuring.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const held = server.consoles.openSockets;
    const after = serverMemory();
    const perConnectionKiB = (bytes: number) => Math.round((bytes / IDLE_SOCKETS / 1024) * 10) / 10;
    return {
      held,
      rssKiBPerConnection: perConnectionKiB(after.rss - before.rss),
      heapKiBPerConnection: perConnectionKiB(after.heap - before.heap),
    };
  } finally {
    clients.send('close');
    await until(() => server.consoles.openSockets <= heldBefore, 'the idle consoles to close');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Fan-out to FAN_OUT_VIEWERS viewers: how much each got and how long until all had it. */
interface FanOutRun {
  bytesPerViewer: number;
  fanSeconds: number;
}

/** The idle-console figures: each round, their medians and the most sockets the server held. */
interface IdleFigures {
  rounds: IdleRound[];
  perConnection: { rssKiB: number; heapKiB: number };
  heldSockets: number;
}

/**
 * Registers the tiny image and a tenant with enough instructor tokens for every idle viewer
 * (VIEWERS_PER_USER each); the first token drives the VM.
 */
async function seedFixture(
  knex: Knex,
  work: string,
  cacheDir: string | undefined,
): Promise<{ imageId: string; tenantId: string; tokens: string[] }> {
  ensureTinyImage({ cacheDir });
  const { id: imageId } = await registerBuiltImage(knex, {
    manifestDir: tinyImageDir({ cacheDir }),
    imagesDir: path.join(work, 'images'),
  });
  const tenant = await insertTenant(knex, {
    name: 'bench',
    limits: {
      runningVms: 5,
      vcpus: 10,
      memoryMib: 4096,
      diskGib: 10,
      snapshots: 1,
      vmHoursPerMonth: 100,
    },
  });
  const tokens: string[] = [];
  for (let index = 0; index <= Math.ceil(IDLE_SOCKETS / VIEWERS_PER_USER); index++) {
    const token = await createTokenUser(knex, {
      tenantId: tenant.id,
      email: `viewer-${index}@example.test`,
      role: 'instructor',
    });
    tokens.push(token);
  }
  return { imageId, tenantId: tenant.id, tokens };
}

/** Builds the server on a TCG engine under `work` and listens on loopback. */
async function startServer(
  database: Database,
  work: string,
): Promise<{ engine: Engine; server: LabvisorServer; base: string }> {
  const engine = await createEngine({
    runDir: path.join(work, 'vms'),
    driver: { kind: 'qemu', accel: 'tcg' },
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
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  return { engine, server, base };
}

/**
 * Keystroke echo round trips, interleaved: straight on the engine's console stream of one guest
 * (the hypervisor's socket; no server session ever holds it) beside the same through the server
 * on another guest of the same image. The interactive console stays open for the fan-out.
 */
async function measureEcho(
  engine: Engine,
  client: BenchClient,
  token: string,
  vmIds: { direct: string; proxied: string },
): Promise<{ terminal: BenchConsole; directSamples: number[]; proxiedSamples: number[] }> {
  const direct = await SerialClient.open(() => engine.openConsole(vmIds.direct, 'serial'));
  direct.write('\n');
  await direct.waitFor('# ', STEP_TIMEOUT_MS);
  const terminal = await client.openConsole(token, vmIds.proxied, 'interactive');
  terminal.socket.send(Buffer.from('\n'));
  await until(() => terminal.received().endsWith('# '), 'the prompt through the server');
  // Let the guests finish their boot-time background work (display driver, DHCP) first.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  try {
    const samples = await interleavedEchoRoundTrips(
      { send: (key) => direct.write(key), received: () => direct.output },
      { send: (key) => terminal.socket.send(Buffer.from(key)), received: terminal.received },
    );
    return { terminal, ...samples };
  } finally {
    direct.close();
  }
}

/** Fan-out: the guest prints about 600 KB; times until every viewer has all of it. */
async function measureFanOut(
  client: BenchClient,
  terminal: BenchConsole,
  tokens: string[],
  vmId: string,
): Promise<FanOutRun> {
  const viewers = await Promise.all(
    Array.from({ length: FAN_OUT_VIEWERS }, (_, index) =>
      client.openConsole(tokens[Math.floor(index / VIEWERS_PER_USER) + 1]!, vmId, 'view'),
    ),
  );
  const sizeBefore = viewers[0]!.received().length;
  const fanStart = performance.now();
  terminal.socket.send(Buffer.from('seq 1 100000; echo FAN-$((1+1))-DONE\n'));
  await until(
    () => viewers.every((viewer) => viewer.received().includes('FAN-2-DONE')),
    'every viewer to get the output',
  );
  const fanSeconds = (performance.now() - fanStart) / 1000;
  const bytesPerViewer = viewers[0]!.received().length - sizeBefore;
  for (const viewer of viewers) viewer.socket.close();
  await new Promise((resolve) => setTimeout(resolve, 500));
  return { bytesPerViewer, fanSeconds };
}

/**
 * Memory per idle console connection: the far ends live in another process, so the server's own
 * growth is measured; the median of IDLE_ROUNDS rounds is reported.
 */
async function measureIdleConnections(
  server: LabvisorServer,
  base: string,
  vmId: string,
  tokens: string[],
): Promise<IdleFigures> {
  // A first round, not counted, lets the allocator and the V8 heap settle after the fan-out.
  await measureIdleRound(server, base, vmId, tokens.slice(1));
  const rounds: IdleRound[] = [];
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    rounds.push(await measureIdleRound(server, base, vmId, tokens.slice(1)));
  }
  const perConnection = {
    rssKiB: median(rounds.map((r) => r.rssKiBPerConnection)),
    heapKiB: median(rounds.map((r) => r.heapKiBPerConnection)),
  };
  const heldSockets = Math.max(...rounds.map((r) => r.held));
  return { rounds, perConnection, heldSockets };
}

/** Writes the figures to bench-results/consoles.json and prints them as a markdown table. */
function reportFigures(
  directSamples: number[],
  proxiedSamples: number[],
  { bytesPerViewer, fanSeconds }: FanOutRun,
  { rounds, perConnection, heldSockets }: IdleFigures,
): void {
  const echo = {
    direct: { p50: percentile(directSamples, 50), p99: percentile(directSamples, 99) },
    throughServer: { p50: percentile(proxiedSamples, 50), p99: percentile(proxiedSamples, 99) },
    addedAtP99: 0,
  };
  echo.addedAtP99 = Math.round((echo.throughServer.p99 - echo.direct.p99) * 100) / 100;
  const fanOut = {
    viewers: FAN_OUT_VIEWERS,
    bytesPerViewer,
    seconds: Math.round(fanSeconds * 100) / 100,
    megabytesPerSecondTotal:
      Math.round(((bytesPerViewer * FAN_OUT_VIEWERS) / fanSeconds / 1e6) * 10) / 10,
  };
  const figures = {
    measuredAt: new Date().toISOString(),
    samples: ECHO_SAMPLES,
    echoRoundTripMs: echo,
    fanOut,
    idleConnection: {
      sockets: IDLE_SOCKETS,
      heldByServer: heldSockets,
      serverRssKiBPerConnection: perConnection.rssKiB,
      serverHeapKiBPerConnection: perConnection.heapKiB,
      rounds,
    },
  };
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/consoles.json', `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(
    [
      '',
      '| consoles (tiny guest, TCG) | result | target |',
      '|---|---|---|',
      `| keystroke echo straight on the unix socket | p50 ${echo.direct.p50} ms, p99 ${echo.direct.p99} ms | |`,
      `| keystroke echo through the server | p50 ${echo.throughServer.p50} ms, p99 ${echo.throughServer.p99} ms | |`,
      `| added by the proxy at p99 | ${echo.addedAtP99} ms | ≤ 1 ms |`,
      `| fan-out to ${FAN_OUT_VIEWERS} viewers | ${fanOut.megabytesPerSecondTotal} MB/s delivered (${bytesPerViewer} bytes each in ${fanOut.seconds} s) | |`,
      `| server memory per idle console (RSS, median of ${IDLE_ROUNDS} rounds of ${IDLE_SOCKETS}) | ${perConnection.rssKiB} KiB | ≤ 32 KiB |`,
      `| server JS heap + buffers per idle console (median) | ${perConnection.heapKiB} KiB | |`,
      `| console sockets held by the server | ${heldSockets} | |`,
      '',
      'Figures written to bench-results/consoles.json',
      '',
    ].join('\n'),
  );
}

/** Runs the console bench: seed, serve, boot one VM, measure echo, fan-out and idle memory, report. */
async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-console-bench-'));
  const cacheDir = process.env.LABVISOR_CACHE_DIR;
  const database = await openDatabase({ pgliteMemory: true });
  await migrateToLatest(database.knex);
  const { imageId, tenantId, tokens } = await seedFixture(database.knex, work, cacheDir);
  const { engine, server, base } = await startServer(database, work);
  const sockets: WebSocket[] = [];
  const client = createBenchClient(base, sockets);

  try {
    // Booted one after the other: two guests booting at once under TCG would slow each other.
    const directVmId = await createRunningVm(client, tokens[0]!, tenantId, imageId, {
      name: 'bench-direct',
    });
    const vmId = await createRunningVm(client, tokens[0]!, tenantId, imageId);
    const { terminal, directSamples, proxiedSamples } = await measureEcho(
      engine,
      client,
      tokens[0]!,
      { direct: directVmId, proxied: vmId },
    );
    const fanOut = await measureFanOut(client, terminal, tokens, vmId);
    const idle = await measureIdleConnections(server, base, vmId, tokens);
    reportFigures(directSamples, proxiedSamples, fanOut, idle);
  } finally {
    for (const socket of sockets) socket.terminate();
    for (const vm of await engine.listVms()) await engine.deleteVm(vm.id).catch(() => {});
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    await engine.close();
    await database.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `console bench failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
