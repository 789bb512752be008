import { describe, expect, it } from 'vitest';
import {
  assertCapacity,
  computeAllocatable,
  computeCapacity,
  detectHostResources,
} from './capacity.js';
import { EngineError } from './errors.js';

describe('capacity', () => {
  it('multiplies host resources by the overcommit ratios, rounding down', () => {
    expect(computeAllocatable({ memoryMib: 1001, vcpus: 3 }, { memory: 1.5, vcpus: 4 })).toEqual({
      memoryMib: 1501,
      vcpus: 12,
    });
  });

  it('sums the VMs holding resources', () => {
    const report = computeCapacity({ memoryMib: 4096, vcpus: 2 }, { memory: 1, vcpus: 4 }, [
      { memoryMib: 512, vcpus: 1 },
      { memoryMib: 1024, vcpus: 2 },
    ]);
    expect(report.used).toEqual({ memoryMib: 1536, vcpus: 3, vms: 2 });
    expect(report.allocatable).toEqual({ memoryMib: 4096, vcpus: 8 });
  });

  it('accepts a start that fills the host exactly and refuses one MiB more', () => {
    const report = computeCapacity({ memoryMib: 1024, vcpus: 2 }, { memory: 1, vcpus: 1 }, [
      { memoryMib: 512, vcpus: 1 },
    ]);
    expect(() => assertCapacity('a', report, { memoryMib: 512, vcpus: 1 })).not.toThrow();
    let error: unknown;
    try {
      assertCapacity('lab-1', report, { memoryMib: 513, vcpus: 1 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({
      code: 'CAPACITY_EXCEEDED',
      details: { resource: 'memoryMib', limit: 1024, used: 512, requested: 513 },
    });
    expect((error as Error).message).toContain('VM "lab-1"');
  });

  it('refuses on vCPUs when memory fits', () => {
    const report = computeCapacity({ memoryMib: 8192, vcpus: 2 }, { memory: 1, vcpus: 2 }, [
      { memoryMib: 256, vcpus: 4 },
    ]);
    expect(() => assertCapacity('b', report, { memoryMib: 256, vcpus: 1 })).toThrow(
      expect.objectContaining({ details: { resource: 'vcpus', limit: 4, used: 4, requested: 1 } }),
    );
  });

  it('detects this host', () => {
    const host = detectHostResources();
    expect(host.memoryMib).toBeGreaterThan(0);
    expect(host.vcpus).toBeGreaterThan(0);
  });
});
