/**
 * Snapshots and suspend-to-disk on a real TCG guest of the tiny image. The tests share one VM and
 * run in order; each checks what a student would notice (files and shell variables come back).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from './engine.js';
import type { SerialClient } from './testing/serial-client.js';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from './testing/tiny-image.js';
import { findProcessesUsing, SHELL_PROMPT, VmHarness } from './testing/vm-harness.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env);

describe.skipIf(skipReason !== undefined)(
  `snapshots and suspend on real guests${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;
    let engine: Engine;
    let serial: SerialClient;

    beforeAll(async () => {
      harness = new VmHarness('lv-snap-');
      image = harness.copyImage(ensureTinyImage(env));
      engine = await harness.openEngine();
      await engine.createVm(tinyVmSpec(image, 'snap-1'));
      await engine.startVm('snap-1');
      serial = await harness.waitForShell(engine, 'snap-1');
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('restores a disk snapshot: a file comes back to its earlier content', async () => {
      await serial.run('echo before > /root/state.txt; sync');
      const snapshot = await engine.createSnapshot('snap-1', { name: 'clean', memory: false });
      expect(snapshot).toMatchObject({ name: 'clean', memory: false });
      await serial.run('echo after > /root/state.txt; echo extra > /root/new.txt; sync');
      expect(await serial.run('cat /root/state.txt')).toBe('after');
      serial.close();

      const restored = await engine.restoreSnapshot('snap-1', 'clean');
      expect(restored.state).toBe('running');
      serial = await harness.waitForShell(engine, 'snap-1');
      expect(await serial.run('cat /root/state.txt')).toBe('before');
      expect(await serial.run('ls /root/new.txt 2>&1 || true')).toMatch(/No such file/);
    });

    it('restores a memory snapshot: the shell continues with a variable set before it', async () => {
      await serial.run('export LAB_VAR=first');
      const snapshot = await engine.createSnapshot('snap-1', { name: 'warm', memory: true });
      expect(snapshot.memory).toBe(true);
      expect(snapshot.sizeBytes).toBeGreaterThan(1024 * 1024);
      await serial.run('export LAB_VAR=second');
      expect(await serial.run('echo $LAB_VAR')).toBe('second');

      const { pid } = await engine.getVm('snap-1');
      const restored = await engine.restoreSnapshot('snap-1', 'warm');
      expect(restored).toMatchObject({ state: 'running', pid });
      // The guest is back inside the command that was running when the snapshot was taken.
      serial.write('\n');
      await serial.waitFor(SHELL_PROMPT, 10_000, serial.mark());
      expect(await serial.run('echo $LAB_VAR')).toBe('first');
    });

    it('lists snapshots with sizes and deletes them', async () => {
      const list = await engine.listSnapshots('snap-1');
      expect(list.map((s) => [s.name, s.memory])).toEqual([
        ['clean', false],
        ['warm', true],
      ]);
      for (const snapshot of list) {
        expect(snapshot.sizeBytes).toBeGreaterThan(0);
        expect(Date.parse(snapshot.createdAt)).not.toBeNaN();
      }
      await expect(engine.createSnapshot('snap-1', { name: 'clean' })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await expect(engine.restoreSnapshot('snap-1', 'missing')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await engine.deleteSnapshot('snap-1', 'clean');
      expect((await engine.listSnapshots('snap-1')).map((s) => s.name)).toEqual(['warm']);
    });

    it('suspends to disk and resumes where it was, with the QEMU process gone in between', async () => {
      await serial.run('export SUSPEND_VAR=kept-$((20+22)); sleep 1000 & echo $! > /tmp/sleeper');
      const sleeper = await serial.run('cat /tmp/sleeper');
      serial.close();
      const { pid } = await engine.getVm('snap-1');

      const suspended = await engine.suspendVm('snap-1');
      expect(suspended.state).toBe('suspended');
      expect(suspended.pid).toBeUndefined();
      expect(findProcessesUsing(harness.runDir)).not.toContain(pid);
      expect(fs.existsSync(`${harness.runDir}/snap-1/saved-state.bin`)).toBe(true);
      expect(engine.capacity().used.vms).toBe(0);

      // a new engine still knows it is suspended
      await engine.close();
      engine = await harness.openEngine();
      expect((await engine.getVm('snap-1')).state).toBe('suspended');

      const started = Date.now();
      const resumed = await engine.startVm('snap-1');
      const resumeMs = Date.now() - started;
      console.log(`snap-1: resume from saved state ${resumeMs} ms`);
      expect(resumed.state).toBe('running');
      serial = await harness.waitForShell(engine, 'snap-1', 10_000);
      expect(await serial.run('echo $SUSPEND_VAR')).toBe('kept-42');
      expect(await serial.run(`kill -0 ${sleeper} && echo alive`)).toBe('alive');
      expect(fs.existsSync(`${harness.runDir}/snap-1/saved-state.bin`)).toBe(false);
    });

    it('takes and restores disk snapshots while stopped, and a memory snapshot starts the VM', async () => {
      serial.close();
      await engine.stopVm('snap-1', { force: true });
      await expect(
        engine.createSnapshot('snap-1', { name: 'cold-mem', memory: true }),
      ).rejects.toMatchObject({ code: 'INVALID_STATE' });
      const cold = await engine.createSnapshot('snap-1', { name: 'cold' });
      expect(cold.memory).toBe(false);
      await engine.restoreSnapshot('snap-1', 'cold');
      expect((await engine.getVm('snap-1')).state).toBe('stopped');

      const restored = await engine.restoreSnapshot('snap-1', 'warm');
      expect(restored.state).toBe('running');
      serial = await harness.waitForShell(engine, 'snap-1', 10_000);
      expect(await serial.run('echo $LAB_VAR')).toBe('first');
      await engine.stopVm('snap-1', { force: true });
    });
  },
);
