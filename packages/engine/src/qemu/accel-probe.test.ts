import { describe, expect, it } from 'vitest';
import { buildProbeBootSector, chooseAccelerator, PROBE_MARKER } from './accel-probe.js';

describe('accelerator probe', () => {
  it('builds a bootable sector that carries the marker', () => {
    const sector = buildProbeBootSector();
    expect(sector.length).toBe(512);
    expect(sector.readUInt16LE(510)).toBe(0xaa55);
    const messageOffset = sector.indexOf(PROBE_MARKER);
    // `mov si, imm16` points at the message where the firmware loads the sector (0x7c00)
    expect(sector.readUInt16LE(8)).toBe(0x7c00 + messageOffset);
  });

  it('takes a configured accelerator as given', async () => {
    await expect(chooseAccelerator('tcg', 'qemu-system-x86_64')).resolves.toMatchObject({
      accel: 'tcg',
    });
    await expect(chooseAccelerator('kvm', 'qemu-system-x86_64')).resolves.toMatchObject({
      accel: 'kvm',
    });
  });

  it('falls back to TCG without probing when the KVM device is unusable', async () => {
    await expect(
      chooseAccelerator('auto', '/nonexistent/qemu', '/nonexistent/kvm'),
    ).resolves.toEqual({
      accel: 'tcg',
      reason: '/nonexistent/kvm is not usable',
    });
  });
});
