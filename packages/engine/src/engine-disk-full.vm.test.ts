/**
 * A full host disk, on a real TCG guest of the tiny image whose run directory is a small tmpfs the
 * test mounts (and unmounts): work that would write is refused with a sentence, and a guest whose
 * write finds no room is paused, not handed an error, and continues once space is freed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from './engine.js';
import type { SerialClient } from './testing/serial-client.js';
import { ensureTinyImage, tinyVmSpec, vmTestSkipReason } from './testing/tiny-image.js';
import { VmHarness } from './testing/vm-harness.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason =
  vmTestSkipReason(env) ??
  (process.getuid?.() === 0 ? undefined : 'mounting a small tmpfs needs root');
if (skipReason && env.ci) throw new Error(`cannot run under CI: ${skipReason}`);

const MIB = 1024 * 1024;
/** The run directory's size, and what the engine keeps free in it. */
const TMPFS_MIB = 96;
const RESERVE_MIB = 16;

describe.skipIf(skipReason !== undefined)(
  `a full host disk${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let harness: VmHarness;
    let engine: Engine;
    let serial: SerialClient;
    let mounted = false;
    const filler = () => path.join(harness.runDir, 'filler');
    /** Fills the file system until `leaveMib` MiB are free (0: until a write fails). */
    const fill = (leaveMib: number) => {
      const { bavail, bsize } = fs.statfsSync(harness.runDir);
      const freeMib = Math.floor((bavail * bsize) / MIB);
      const count = leaveMib === 0 ? freeMib + 1 : Math.max(0, freeMib - leaveMib);
      // dd stops with "No space left on device" when it fills the disk: that is the point.
      execFileSync('sh', [
        '-c',
        `dd if=/dev/zero of=${filler()} bs=1M count=${count} oflag=append conv=notrunc 2>/dev/null || true`,
      ]);
    };

    beforeAll(async () => {
      harness = new VmHarness('lv-full-');
      execFileSync('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=${TMPFS_MIB}m,mode=0700`,
        'tmpfs',
        harness.runDir,
      ]);
      mounted = true;
      engine = await harness.openEngine({ minFreeDiskBytes: RESERVE_MIB * MIB });
      await engine.createVm(tinyVmSpec(ensureTinyImage(env), 'full-1', { memoryMib: 128 }));
      await engine.startVm('full-1');
      serial = await harness.waitForShell(engine, 'full-1');
    });

    afterAll(async () => {
      await harness?.cleanup().catch(() => undefined);
      if (mounted) execFileSync('umount', ['-l', harness.runDir]);
      fs.rmSync(harness.runDir, { recursive: true, force: true });
    });

    it('refuses a create, a memory snapshot and a suspend that would eat the reserve, with a sentence', async () => {
      fill(RESERVE_MIB / 2);
      const spec = tinyVmSpec(ensureTinyImage(env), 'full-2');
      await expect(engine.createVm(spec)).rejects.toMatchObject({
        code: 'CAPACITY_EXCEEDED',
        message: expect.stringMatching(
          /Cannot create VM "full-2": the host's disk has \d+ MiB free and 16 MiB must stay free/,
        ),
        details: { resource: 'hostDiskMib' },
      });
      expect(fs.existsSync(path.join(harness.runDir, 'full-2'))).toBe(false);
      await expect(
        engine.createSnapshot('full-1', { name: 'warm', memory: true }),
      ).rejects.toMatchObject({ code: 'CAPACITY_EXCEEDED' });
      await expect(engine.suspendVm('full-1')).rejects.toMatchObject({
        code: 'CAPACITY_EXCEEDED',
        message: expect.stringContaining('this needs 128 MiB'),
      });
      expect(await engine.listSnapshots('full-1')).toEqual([]);
      expect((await engine.getVm('full-1')).state).toBe('running');
      expect(await serial.run('echo still-$((40+2))')).toBe('still-42');
    });

    it('pauses a guest whose write finds no room, and continues it once space is freed', async () => {
      fill(0);
      serial.write('dd if=/dev/zero of=/root/big bs=1M count=24 && sync && echo wr""itten\n');
      await expect
        .poll(async () => engine.getVm('full-1'), { timeout: 60_000, interval: 250 })
        .toMatchObject({ state: 'paused', cause: expect.stringMatching(/host's disk is full/) });
      fs.rmSync(filler());
      expect((await engine.resumeVm('full-1')).state).toBe('running');
      await serial.waitFor(/written/, 60_000);
      expect(await serial.run('ls -l /root/big | awk "{print \\$5}"')).toBe(String(24 * MIB));
    });
  },
);
