import { describe, expect, it } from 'vitest';
import { vmTestSkipReason } from '../testing/tiny-image.js';
import { probeAccelerator } from './accel-probe.js';

const skipReason = vmTestSkipReason({ ci: process.env.CI === 'true' });

describe.skipIf(skipReason !== undefined)(
  `accelerator probe with QEMU${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('sees the probe guest print its marker under TCG, well within the deadline', async () => {
      const result = await probeAccelerator('qemu-system-x86_64', 'tcg');
      expect(result.ok).toBe(true);
      expect(result.elapsedMs).toBeLessThan(3_000);
    });

    it('fails with QEMU’s reason when the accelerator cannot be used', async () => {
      const result = await probeAccelerator('qemu-system-x86_64', 'kvm', 3_000);
      // On a host with a working /dev/kvm the probe passes; elsewhere it must say why it failed.
      if (!result.ok) expect(result.reason).toMatch(/kvm|KVM|no boot within/);
    });
  },
);
