/**
 * A guest cannot fill the host's disk through its serial port: serial.log is rotated past its cap
 * while the guest prints, so it and serial.log.1 together stay near twice the cap.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from '../../testing/tiny-image.js';
import { VmHarness } from '../../testing/vm-harness.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env);
const CAP_BYTES = 128 * 1024;

describe.skipIf(skipReason !== undefined)(
  `serial log cap${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;

    beforeAll(() => {
      harness = new VmHarness('lv-slog-');
      image = harness.copyImage(ensureTinyImage(env));
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('rotates serial.log past its cap while the guest prints five times as much', async () => {
      const engine = await harness.openEngine({ driver: { serialLogMaxBytes: CAP_BYTES } });
      await engine.createVm(tinyVmSpec(image, 'chatty'));
      await engine.startVm('chatty');
      const serial = await harness.waitForShell(engine, 'chatty');
      const log = `${harness.runDir}/chatty/serial.log`;
      const previous = `${harness.runDir}/chatty/serial.log.1`;
      let largest = 0;
      const watch = setInterval(() => {
        largest = Math.max(largest, fs.existsSync(log) ? fs.statSync(log).size : 0);
      }, 20);
      try {
        // 640 KiB of output (five times the cap), then a newline.
        await serial.run(
          "dd if=/dev/zero bs=1024 count=640 2>/dev/null | tr '\\0' x; echo",
          120_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      } finally {
        clearInterval(watch);
      }
      expect(fs.existsSync(previous)).toBe(true);
      expect(fs.statSync(previous).size).toBeGreaterThan(CAP_BYTES);
      expect(fs.statSync(log).size).toBeLessThanOrEqual(2 * CAP_BYTES);
      expect(largest).toBeLessThan(400 * 1024);
      // The rotated log goes on with what the guest prints now.
      const marker = `after-${Date.now()}`;
      await serial.run(`echo ${marker}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(fs.readFileSync(log, 'utf8')).toContain(marker);
      serial.close();
      await engine.deleteVm('chatty');
    });
  },
);
