import { describe, expect, it } from 'vitest';
import { chooseAccelerator, isKvmFailure, probeArgs } from './accel-probe.js';
import { buildQemuArgs } from './qemu-args.js';
import { qemuPaths } from './qemu-paths.js';

const guest = { kernelPath: '/images/vmlinuz', initrdPath: '/images/initrd.img' };

describe('accelerator choice', () => {
  it('takes a configured accelerator as given', async () => {
    await expect(
      chooseAccelerator('tcg', { qemuBinary: 'qemu-system-x86_64' }),
    ).resolves.toMatchObject({
      accel: 'tcg',
    });
    await expect(
      chooseAccelerator('kvm', { qemuBinary: 'qemu-system-x86_64' }),
    ).resolves.toMatchObject({
      accel: 'kvm',
    });
  });

  it('falls back to TCG without probing when the KVM device is unusable', async () => {
    await expect(
      chooseAccelerator('auto', { qemuBinary: '/nonexistent/qemu', kvmDevice: '/nonexistent/kvm' }),
    ).resolves.toEqual({ accel: 'tcg', reason: '/nonexistent/kvm is not usable' });
  });

  it('does not trust KVM without a real kernel to probe it with', async () => {
    await expect(
      chooseAccelerator('auto', { qemuBinary: '/nonexistent/qemu', kvmDevice: '/dev/null' }),
    ).resolves.toMatchObject({ accel: 'tcg', reason: /no guest kernel to probe KVM/ });
  });

  it('probes KVM with the machine type and CPU model real guests get', () => {
    const vmArgs = buildQemuArgs({
      spec: {
        id: 'a',
        name: 'a',
        vcpus: 1,
        memoryMib: 256,
        diskGib: 1,
        boot: {
          kind: 'kernel',
          ...guest,
          cmdline: '',
          baseDiskPath: '/b',
          baseDiskFormat: 'qcow2',
        },
      },
      paths: qemuPaths('/run/a'),
      accel: 'kvm',
    });
    const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
    const probe = probeArgs('kvm', guest);
    for (const flag of ['-machine', '-accel', '-cpu']) {
      expect(argAfter(probe, flag)).toBe(argAfter(vmArgs, flag));
    }
    expect(argAfter(probe, '-kernel')).toBe(guest.kernelPath);
  });

  it('tells a KVM failure from other failures by QEMU’s words or an abort', () => {
    const commandLine =
      '2026-11-30T10:00:00Z labvisor: starting qemu-system-x86_64 -accel kvm -cpu host';
    expect(
      isKvmFailure({ signal: null }, `${commandLine}\nqemu: error: failed to set MSR 0x10a`),
    ).toBe(true);
    expect(isKvmFailure({ signal: 'SIGABRT' }, commandLine)).toBe(true);
    expect(isKvmFailure({ signal: null }, `${commandLine}\nqemu: Could not open disk`)).toBe(false);
    expect(isKvmFailure({ signal: 'SIGKILL' }, commandLine)).toBe(false);
  });
});
