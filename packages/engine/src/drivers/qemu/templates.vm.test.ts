/**
 * Instant starts: a VM of an image that runs the Labvisor agent starts as a clone of a booted
 * template of its image and size — its own hostname, its own disk, the template's memory file
 * untouched — and boots as before when no template matches.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../engine.js';
import type { VmSpec } from '../../spec.js';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from '../../testing/tiny-image.js';
import { VmHarness } from '../../testing/vm-harness.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env);

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe.skipIf(skipReason !== undefined)(
  `templates and clones${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;
    let engine: Engine;
    let templatesDir: string;
    const spec = (id: string, overrides: Partial<VmSpec> = {}): VmSpec =>
      tinyVmSpec(image, id, {
        guestAgent: true,
        guestConfig: { hostname: `host-${id}` },
        ...overrides,
      });
    /** The one template folder (built ones only). */
    const templateDirs = () =>
      fs.readdirSync(templatesDir).filter((name) => !name.endsWith('.building'));

    beforeAll(async () => {
      harness = new VmHarness('lv-tpl-');
      image = harness.copyImage(ensureTinyImage(env));
      templatesDir = path.join(harness.runDir, '.templates');
      engine = await harness.openEngine({ driver: { templatesDir } });
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('starts two clones of one template, each with its own hostname and disk, leaving the template’s memory as it was', async () => {
      await engine.buildTemplate(spec('template-maker'));
      const [key] = templateDirs();
      const memoryFile = path.join(templatesDir, key!, 'memory.ram');
      const before = sha256(memoryFile);

      await engine.createVm(spec('clone-a'));
      const started = Date.now();
      const a = await engine.startVm('clone-a');
      const startMs = Date.now() - started;
      expect(a).toMatchObject({ state: 'running', bootPath: 'template' });
      const serialA = await harness.waitForShell(engine, 'clone-a', 10_000);
      expect(await serialA.run('hostname')).toContain('host-clone-a');
      // Random bytes (a zero page written over a zero page would not show in a checksum); slow
      // under TCG on a busy host, hence the time allowed.
      await serialA.run(
        'echo only-in-a > /root/mark; sync; head -c 16m /dev/urandom > /dev/shm/fill',
        120_000,
      );

      await engine.createVm(spec('clone-b'));
      expect(await engine.startVm('clone-b')).toMatchObject({ bootPath: 'template' });
      const serialB = await harness.waitForShell(engine, 'clone-b', 10_000);
      expect(await serialB.run('hostname')).toContain('host-clone-b');
      // Each clone was told it is a new generation of the template's machine: QEMU's generation
      // ID changed, and the guest took the ACPI event that says so (GPE 5, none in the template),
      // which mixes the new ID into its random pool (and reseeds it, once it is initialised).
      for (const serial of [serialA, serialB]) {
        const gpe = await serial.run('cat /sys/firmware/acpi/interrupts/gpe05');
        expect(Number(gpe.match(/^\s*(\d+)\s+EN/m)?.[1])).toBeGreaterThanOrEqual(1);
      }
      expect(await serialB.run('cat /root/mark 2>&1')).toContain('No such file');
      // The clocks were set from the host's, not left at the template's.
      const guestSeconds = Number((await serialB.run('date +%s')).match(/\d{9,}/)?.[0]);
      expect(Math.abs(guestSeconds - Date.now() / 1000)).toBeLessThan(30);

      expect(sha256(memoryFile)).toBe(before);
      console.log(`clone start (create to running, identity applied): ${startMs} ms`);
    });

    it('keeps a warm pool’s clone paused without identity, and gives it its user’s when claimed', async () => {
      await engine.createVm(spec('pooled', { name: 'pool-placeholder', guestConfig: undefined }));
      expect(await engine.startPooledVm('pooled')).toMatchObject({
        state: 'paused',
        bootPath: 'template',
      });
      const claimed = await engine.claimVm('pooled', {
        name: 'lab-of-ada',
        guestConfig: { hostname: 'ada-lab', user: { name: 'ada', password: 'pw-of-ada' } },
      });
      expect(claimed).toMatchObject({ state: 'running', bootPath: 'pool' });
      const serial = await harness.waitForShell(engine, 'pooled', 10_000);
      expect(await serial.run('hostname')).toContain('ada-lab');
      expect(
        JSON.parse(fs.readFileSync(path.join(harness.runDir, 'pooled', 'vm.json'), 'utf8')),
      ).toMatchObject({ name: 'lab-of-ada', guestConfig: { hostname: 'ada-lab' } });
      // Claiming is for paused pool VMs only.
      await expect(engine.claimVm('pooled', { name: 'again' })).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      await engine.deleteVm('pooled');
    });

    it('refuses a warm pool VM without a template, leaving it in error', async () => {
      await engine.createVm(spec('pooled-cold', { guestAgent: false }));
      await expect(engine.startPooledVm('pooled-cold')).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
      expect(await engine.getVm('pooled-cold')).toMatchObject({ state: 'error' });
      await engine.deleteVm('pooled-cold');
    });

    it('stops, suspends, resumes, snapshots and deletes a clone as any VM', async () => {
      await engine.suspendVm('clone-a');
      expect(await engine.startVm('clone-a')).toMatchObject({
        state: 'running',
        bootPath: 'saved-state',
      });
      const serial = await harness.waitForShell(engine, 'clone-a', 10_000);
      expect(await serial.run('cat /root/mark')).toContain('only-in-a');
      await engine.createSnapshot('clone-a', { name: 'snap', memory: false });
      await engine.stopVm('clone-a', { timeoutMs: 10_000 });
      // A later start boots the clone's own disk.
      expect(await engine.startVm('clone-a')).toMatchObject({ state: 'running', bootPath: 'cold' });
      const booted = await harness.waitForShell(engine, 'clone-a');
      expect(await booted.run('cat /root/mark')).toContain('only-in-a');
      await engine.deleteVm('clone-a');
      await engine.deleteVm('clone-b');
      expect(fs.existsSync(path.join(harness.runDir, 'clone-a'))).toBe(false);
    });

    it('boots a VM whose size has no template, and builds one for the next', async () => {
      const big = { memoryMib: 320 };
      await engine.createVm(spec('cold-one', big));
      expect(await engine.startVm('cold-one')).toMatchObject({ bootPath: 'cold' });
      await harness.waitForShell(engine, 'cold-one');
      await engine.deleteVm('cold-one');
      // Built in the background after the cold VM's disk: the next VM of that size is a clone.
      await engine.buildTemplate(spec('probe', big));
      expect(templateDirs()).toHaveLength(2);
      await engine.createVm(spec('warm-one', big));
      expect(await engine.startVm('warm-one')).toMatchObject({ bootPath: 'template' });
      await engine.deleteVm('warm-one');
    });

    it('does not clone a template of an image that changed since: it boots, and a new template is built', async () => {
      const later = new Date(Date.now() + 60_000);
      fs.utimesSync(image.diskPath, later, later);
      await engine.createVm(spec('after-change'));
      expect(await engine.startVm('after-change')).toMatchObject({ bootPath: 'cold' });
      await engine.deleteVm('after-change');
      await engine.buildTemplate(spec('probe'));
      expect(templateDirs()).toHaveLength(3);
    });

    it('removes the templates no VM can start from and no disk rests on', async () => {
      expect(templateDirs()).toHaveLength(3);
      // A clone of the current template, then the image changes again: its template is stale
      // but the clone's disk rests on it.
      await engine.createVm(spec('keeper'));
      const later = new Date(Date.now() + 120_000);
      fs.utimesSync(image.diskPath, later, later);
      const [kept] = fs
        .readdirSync(templatesDir)
        .filter((name) => !name.endsWith('.building'))
        .sort(
          (a, b) =>
            fs.statSync(path.join(templatesDir, b)).mtimeMs -
            fs.statSync(path.join(templatesDir, a)).mtimeMs,
        );
      expect(await engine.removeUnusedTemplates()).toBe(2);
      expect(templateDirs()).toEqual([kept]);
      await engine.deleteVm('keeper');
      expect(await engine.removeUnusedTemplates()).toBe(1);
      expect(templateDirs()).toEqual([]);
    });
  },
);
