import { describe, expect, it } from 'vitest';
import { toHostname, type VmSpec, validateVmSpec } from './spec.js';

const base: VmSpec = {
  id: 'lab-1',
  name: 'Lab 1',
  vcpus: 1,
  memoryMib: 256,
  diskGib: 1,
  boot: { kind: 'disk', baseDiskPath: 'images/base.qcow2', baseDiskFormat: 'qcow2' },
};

describe('validateVmSpec', () => {
  it('makes paths absolute', () => {
    const spec = validateVmSpec(base);
    expect(spec.boot.kind === 'disk' && spec.boot.baseDiskPath.startsWith('/')).toBe(true);
  });

  it.each([
    [{ id: 'Lab_1' }, 'id'],
    [{ id: '-lab' }, 'id'],
    [{ id: 'a'.repeat(64) }, 'id'],
    [{ vcpus: 0 }, 'vcpus'],
    [{ memoryMib: 1.5 }, 'memoryMib'],
    [{ diskGib: 0 }, 'diskGib'],
    [{ boot: { kind: 'floppy' } }, 'boot.kind'],
    [{ diskThrottle: { iopsTotal: -1 } }, 'diskThrottle.iopsTotal'],
    [{ guestConfig: 'x' }, 'guestConfig'],
    [{ guestConfig: { shell: '/bin/sh' } }, 'guestConfig'],
    [{ guestConfig: { hostname: 'bad host' } }, 'guestConfig.hostname'],
    [{ guestConfig: { hostname: '-lab' } }, 'guestConfig.hostname'],
    [{ guestConfig: { user: { name: 'Ada' } } }, 'guestConfig.user.name'],
    [{ guestConfig: { user: { name: 'root' } } }, 'guestConfig.user.name'],
    [{ guestConfig: { user: { name: 'ada', uid: 0 } } }, 'guestConfig.user'],
    [
      { guestConfig: { user: { name: 'ada', password: 'a\nroot::0' } } },
      'guestConfig.user.password',
    ],
    [
      { guestConfig: { user: { name: 'ada', passwordHash: 'plain' } } },
      'guestConfig.user.passwordHash',
    ],
    [
      { guestConfig: { user: { name: 'ada', password: 'x', passwordHash: '$6$s$h' } } },
      'guestConfig.user.passwordHash',
    ],
  ])('rejects %o with VALIDATION naming %s', (patch, field) => {
    expect(() => validateVmSpec({ ...base, ...patch } as VmSpec)).toThrow(
      expect.objectContaining({ code: 'VALIDATION', details: { field } }),
    );
  });
});

describe('validateVmSpec guestConfig', () => {
  it('keeps a valid config and only its known fields', () => {
    const guestConfig = { hostname: 'lab-1.example', user: { name: 'ada_l', password: 'p w:d' } };
    expect(validateVmSpec({ ...base, guestConfig }).guestConfig).toEqual(guestConfig);
    const hashed = { user: { name: 'ada', passwordHash: '$6$salt$abc/DEF.' } };
    expect(validateVmSpec({ ...base, guestConfig: hashed }).guestConfig).toEqual(hashed);
    expect(validateVmSpec(base).guestConfig).toBeUndefined();
  });
});

describe('toHostname', () => {
  it('keeps a valid label and falls back when nothing is left', () => {
    expect(toHostname('Lab 1: Intro to Linux!', 'x')).toBe('lab-1-intro-to-linux');
    expect(toHostname('ééé', 'vm-7')).toBe('vm-7');
  });
});
