/**
 * Firmware boots through the engine, without the tiny image: a raw base disk whose boot sector is
 * the accelerator probe (it prints a marker on COM1), and an ISO attached with a blank disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from './drivers/qemu/process-utils.js';
import { readVirtualSize } from './drivers/qemu/qemu-img.js';
import type { Engine } from './engine.js';
import { BOOT_SECTOR_MARKER, buildMarkerBootSector } from './testing/boot-sector.js';
import { vmTestSkipReason } from './testing/tiny-image.js';
import { VmHarness } from './testing/vm-harness.js';

const skipReason = vmTestSkipReason({ ci: process.env.CI === 'true' });

describe.skipIf(skipReason !== undefined)(
  `disk and ISO boots${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let harness: VmHarness;
    let engine: Engine;
    let bootDisk: string;

    beforeAll(async () => {
      harness = new VmHarness('lv-boot-');
      engine = await harness.openEngine();
      bootDisk = path.join(harness.runDir, '.probe.raw');
      const image = Buffer.alloc(1024 * 1024);
      buildMarkerBootSector().copy(image);
      fs.writeFileSync(bootDisk, image);
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('boots a raw base disk through the firmware; its serial output lands in serial.log', async () => {
      await engine.createVm({
        id: 'disk-1',
        name: 'disk-1',
        vcpus: 1,
        memoryMib: 64,
        diskGib: 1,
        boot: { kind: 'disk', baseDiskPath: bootDisk, baseDiskFormat: 'raw' },
      });
      expect((await engine.startVm('disk-1')).state).toBe('running');
      const serialLog = path.join(harness.runDir, 'disk-1', 'serial.log');
      const deadline = Date.now() + 15_000;
      while (
        !fs.readFileSync(serialLog, 'utf8').includes(BOOT_SECTOR_MARKER) &&
        Date.now() < deadline
      ) {
        await sleep(100);
      }
      expect(fs.readFileSync(serialLog, 'utf8')).toContain(BOOT_SECTOR_MARKER);
      // the overlay kept the base read-only
      expect(fs.readFileSync(bootDisk).subarray(0, 512)).toEqual(buildMarkerBootSector());
      await engine.stopVm('disk-1', { force: true });
    });

    it('attaches an ISO with a blank disk of the asked size', async () => {
      await engine.createVm({
        id: 'iso-1',
        name: 'iso-1',
        vcpus: 1,
        memoryMib: 64,
        diskGib: 3,
        boot: { kind: 'iso', isoPath: bootDisk },
      });
      const disk = path.join(harness.runDir, 'iso-1', 'disk.qcow2');
      expect(await readVirtualSize(disk, 'qcow2')).toBe(3 * 1024 ** 3);
      const { state, pid } = await engine.startVm('iso-1');
      expect(state).toBe('running');
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toContain('ide-cd,drive=cdrom0,bootindex=0');
      await engine.deleteVm('iso-1');
      expect(fs.existsSync(path.join(harness.runDir, 'iso-1'))).toBe(false);
    });

    it('refuses a disk smaller than its base image', async () => {
      await expect(
        engine.createVm({
          id: 'small-1',
          name: 'small-1',
          vcpus: 1,
          memoryMib: 64,
          diskGib: 1,
          boot: { kind: 'disk', baseDiskPath: await makeSparse(2), baseDiskFormat: 'raw' },
        }),
      ).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'diskGib', minimumGib: 2 } });
      expect(fs.existsSync(path.join(harness.runDir, 'small-1'))).toBe(false);
    });

    async function makeSparse(gib: number): Promise<string> {
      const file = path.join(harness.runDir, `.sparse-${gib}.raw`);
      fs.writeFileSync(file, '');
      fs.truncateSync(file, gib * 1024 ** 3);
      return file;
    }
  },
);
