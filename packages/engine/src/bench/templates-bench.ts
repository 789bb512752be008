/**
 * Instant-labs benchmark (`npm run bench` → `node dist/bench/templates-bench.js [--runs N]`): for
 * tiny and (when built) debian-lab, launch-to-prompt as the user sees it on the serial console —
 * cold boot (the anchor) beside a clone of a booted template and a warm pool's paused clone taken
 * (claim to prompt) — K launches at once from a template and from a pool of K, and the host memory of K idle clones (the sum of their QEMU processes' Pss from
 * smaps_rollup, which counts the template's page cache once) beside K × one cold-booted VM's.
 * Writes `bench-results/templates.json` and prints a markdown table. Every QEMU it starts is
 * killed by pid before it exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '../engine.js';
import type { VmSpec } from '../spec.js';
import { SerialClient } from '../testing/serial-client.js';
import {
  ensureTinyImage,
  readBuiltImage,
  type TinyImage,
  tinyVmSpec,
} from '../testing/tiny-image.js';
import { killQemusUnder } from '../testing/vm-harness.js';

const DEFAULT_RUNS = 3;
const IDLE_SETTLE_MS = 5_000;

/** One image as the bench drives it: its size, its prompt, how many clones at once. */
interface Lab {
  name: string;
  image: TinyImage;
  memoryMib: number;
  /** What the serial console of VM `id` shows when it is ready for its user, with its own hostname. */
  prompt: (id: string) => RegExp;
  /** How many VMs are launched at once, and kept idle for the memory figure. */
  many: number;
  timeoutMs: number;
}

/** A summarized series of ms samples. */
interface Series {
  p50: number;
  p95: number;
  samples: number[];
}

/** What the bench measured for one lab. */
interface LabResult {
  lab: string;
  memoryMib: number;
  coldMs: Series;
  templateBuildMs: number;
  cloneMs: Series;
  poolMs: Series;
  many: number;
  manyClonesLastPromptMs: number;
  manyFromPoolLastPromptMs: number;
  memory: { cloneSumPssMib: number; coldSumPssMib: number; ratio: number };
}

/** p50 and p95 of ms samples, rounded to whole ms. */
function summarize(samples: number[]): Series {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!);
  return { p50: at(0.5), p95: at(0.95), samples: samples.map(Math.round) };
}

/** The `--runs N` argument, or DEFAULT_RUNS. */
function parseRuns(argv: string[]): number {
  const index = argv.indexOf('--runs');
  const value = index >= 0 ? Number(argv[index + 1]) : DEFAULT_RUNS;
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_RUNS;
}

/** The spec of VM `id` of a lab. */
function specOf(lab: Lab, id: string): VmSpec {
  return tinyVmSpec(lab.image, id, {
    memoryMib: lab.memoryMib,
    guestAgent: true,
    guestConfig: { hostname: id, user: { name: 'ada', password: 'labvisor' } },
  });
}

/** Creates and starts VM `id`; resolves with the ms from the create call to the lab's prompt. */
async function launchToPrompt(engine: Engine, lab: Lab, id: string): Promise<number> {
  const started = performance.now();
  await engine.createVm(specOf(lab, id));
  await engine.startVm(id);
  return waitForPrompt(engine, lab, id, started);
}

/** Creates VM `id` as a warm pool's: a paused clone without its identity (not timed). */
async function prepareInPool(engine: Engine, lab: Lab, id: string): Promise<void> {
  await engine.createVm({ ...specOf(lab, id), name: 'pooled', guestConfig: undefined });
  await engine.startPooledVm(id);
}

/** Takes pooled VM `id` for its user; resolves with the ms from the claim to the lab's prompt. */
async function claimToPrompt(engine: Engine, lab: Lab, id: string): Promise<number> {
  const started = performance.now();
  const { name, guestConfig } = specOf(lab, id);
  await engine.claimVm(id, { name, guestConfig });
  return waitForPrompt(engine, lab, id, started);
}

/** Resolves with the ms from `started` to VM `id`'s prompt with its own hostname. */
async function waitForPrompt(
  engine: Engine,
  lab: Lab,
  id: string,
  started: number,
): Promise<number> {
  const serial = await SerialClient.open(() => engine.openConsole(id, 'serial'));
  try {
    // A clone's shell is idle at its prompt (a Debian clone's getty prints a fresh one itself).
    const deadline = Date.now() + lab.timeoutMs;
    for (;;) {
      const from = serial.mark();
      serial.write('\n');
      try {
        await serial.waitFor(lab.prompt(id), Math.min(2_000, deadline - Date.now()), from);
        return performance.now() - started;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
    }
  } finally {
    serial.close();
  }
}

/** The sum of the Pss of the VMs' QEMU processes, in MiB. */
async function sumPssMib(engine: Engine, ids: string[]): Promise<number> {
  let kib = 0;
  for (const id of ids) {
    const { pid } = await engine.getVm(id);
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    kib += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
  }
  return Math.round(kib / 1024);
}

/**
 * Launches `runs` VMs one after the other (from a warm pool when `pooled`: each prepared, then
 * taken); resolves with each launch-to-prompt time.
 */
async function launchSeries(
  engine: Engine,
  lab: Lab,
  prefix: string,
  runs: number,
  pooled = false,
) {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const id = `${prefix}-${i}`;
    if (pooled) await prepareInPool(engine, lab, id);
    samples.push(await (pooled ? claimToPrompt : launchToPrompt)(engine, lab, id));
    await engine.deleteVm(`${prefix}-${i}`);
    process.stderr.write(
      `  ${lab.name} ${prefix} ${i + 1}/${runs}: ${samples.at(-1)!.toFixed(0)} ms\n`,
    );
  }
  return summarize(samples);
}

/** One idle cold-booted VM's Pss, as the anchor of the clones' memory. */
async function coldPssMib(engine: Engine, lab: Lab): Promise<number> {
  await launchToPrompt(engine, lab, 'cold-idle');
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const pss = await sumPssMib(engine, ['cold-idle']);
  await engine.deleteVm('cold-idle');
  return pss;
}

/**
 * Everything the bench measures for one lab: cold launches on an engine without templates (so no
 * template build runs beside them), clones on one with.
 */
async function measureLab(
  engines: { cold: Engine; clones: Engine },
  lab: Lab,
  runs: number,
): Promise<LabResult> {
  const coldMs = await launchSeries(engines.cold, lab, 'cold', runs);
  const coldPss = await coldPssMib(engines.cold, lab);
  const engine = engines.clones;
  let started = performance.now();
  await engine.buildTemplate(specOf(lab, 'template'));
  const templateBuildMs = Math.round(performance.now() - started);
  const cloneMs = await launchSeries(engine, lab, 'clone', runs);
  const ids = Array.from({ length: lab.many }, (_, i) => `many-${i}`);
  started = performance.now();
  await Promise.all(ids.map((id) => launchToPrompt(engine, lab, id)));
  const manyClonesLastPromptMs = Math.round(performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const cloneSumPssMib = await sumPssMib(engine, ids);
  for (const id of ids) await engine.deleteVm(id);
  const poolMs = await launchSeries(engine, lab, 'pool', runs, true);
  for (const id of ids) await prepareInPool(engine, lab, id);
  started = performance.now();
  await Promise.all(ids.map((id) => claimToPrompt(engine, lab, id)));
  const manyFromPoolLastPromptMs = Math.round(performance.now() - started);
  for (const id of ids) await engine.deleteVm(id);
  const coldSumPssMib = coldPss * lab.many;
  return {
    lab: lab.name,
    memoryMib: lab.memoryMib,
    coldMs,
    templateBuildMs,
    cloneMs,
    poolMs,
    many: lab.many,
    manyClonesLastPromptMs,
    manyFromPoolLastPromptMs,
    memory: {
      cloneSumPssMib,
      coldSumPssMib,
      ratio: Math.round((cloneSumPssMib / coldSumPssMib) * 1000) / 1000,
    },
  };
}

/** Prints the figures as a markdown table. */
function printTable(results: LabResult[], outDir: string): void {
  const lines = [
    '| lab | cold boot to prompt p50 / p95 (anchor) | clone to prompt p50 / p95 | warm pool to prompt p50 / p95 | ratio p50 clone / pool | template build | K at once from a template / from a pool: last at prompt | K clones Pss / K × cold Pss |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.lab} (${r.memoryMib} MiB) | ${r.coldMs.p50} / ${r.coldMs.p95} ms | ${r.cloneMs.p50} / ${r.cloneMs.p95} ms | ${r.poolMs.p50} / ${r.poolMs.p95} ms | ${(r.cloneMs.p50 / r.coldMs.p50).toFixed(2)} / ${(r.poolMs.p50 / r.coldMs.p50).toFixed(2)} | ${(r.templateBuildMs / 1000).toFixed(1)} s | K=${r.many}: ${(r.manyClonesLastPromptMs / 1000).toFixed(1)} s / ${(r.manyFromPoolLastPromptMs / 1000).toFixed(1)} s | ${r.memory.cloneSumPssMib} / ${r.memory.coldSumPssMib} MiB (${(r.memory.ratio * 100).toFixed(0)} %) |`,
    ),
  ];
  console.log(lines.join('\n'));
  console.log(`\nWritten to ${path.join(outDir, 'templates.json')}`);
}

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2));
  const options = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
  const labs: Lab[] = [
    {
      name: 'tiny',
      image: ensureTinyImage(options),
      memoryMib: 256,
      prompt: (id) => new RegExp(`@${id}:[^#]*# $`, 'm'),
      many: 30,
      timeoutMs: 120_000,
    },
  ];
  const debian = readBuiltImage('debian-lab', options);
  if (debian) {
    labs.push({
      name: 'debian-lab',
      image: debian,
      memoryMib: 1024,
      prompt: (id) => new RegExp(`${id} login: $`, 'm'),
      many: 30,
      timeoutMs: 600_000,
    });
  }
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-tbench-'));
  // The K clones at once must fit: the bench measures memory, not admission.
  const overcommit = { memory: 4, vcpus: 64 };
  const cold = await createEngine({
    runDir: path.join(runDir, 'cold'),
    driver: { kind: 'qemu', accel: 'tcg' },
    overcommit,
  });
  const clones = await createEngine({
    runDir: path.join(runDir, 'clones'),
    driver: { kind: 'qemu', accel: 'tcg', templatesDir: path.join(runDir, 'templates') },
    overcommit,
  });
  try {
    const results: LabResult[] = [];
    const failures: { lab: string; error: string }[] = [];
    for (const lab of labs) {
      try {
        results.push(await measureLab({ cold, clones }, lab, runs));
      } catch (error) {
        // One lab failing (a timeout under load) still leaves the others' figures.
        failures.push({ lab: lab.name, error: (error as Error).message });
        process.stderr.write(`  ${lab.name} failed: ${(error as Error).message}\n`);
        for (const vm of await clones.listVms()) await clones.deleteVm(vm.id).catch(() => {});
        for (const vm of await cold.listVms()) await cold.deleteVm(vm.id).catch(() => {});
      }
    }
    const outDir = path.resolve('bench-results');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(
      path.join(outDir, 'templates.json'),
      `${JSON.stringify({ qemu: clones.info().version, accel: 'tcg', runs, results, failures }, null, 2)}\n`,
    );
    printTable(results, outDir);
    for (const failure of failures) console.log(`${failure.lab}: failed: ${failure.error}`);
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    await cold.close();
    await clones.close();
    await killQemusUnder(runDir);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
