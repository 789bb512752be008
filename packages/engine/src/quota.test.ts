import { describe, expect, it } from 'vitest';
import { checkQuota, listQuotaViolations } from './quota.js';

describe('checkQuota', () => {
  it('allows a request that fits every limit exactly', () => {
    expect(
      checkQuota(
        { runningVms: 3, vcpus: 8, memoryMib: 4096 },
        { runningVms: 2, vcpus: 6, memoryMib: 3072 },
        { runningVms: 1, vcpus: 2, memoryMib: 1024 },
      ),
    ).toEqual({ allow: true });
  });

  it('denies with the resource, limit, usage and request when one unit over', () => {
    expect(checkQuota({ memoryMib: 4096 }, { memoryMib: 3072 }, { memoryMib: 1025 })).toEqual({
      allow: false,
      resource: 'memoryMib',
      limit: 4096,
      used: 3072,
      requested: 1025,
    });
  });

  it('treats missing and null limits as unlimited and missing usage as zero', () => {
    expect(checkQuota({ vcpus: null }, {}, { vcpus: 1000, memoryMib: 1 << 20 })).toEqual({
      allow: true,
    });
    expect(checkQuota({ diskGib: 10 }, {}, { diskGib: 11 })).toMatchObject({
      allow: false,
      resource: 'diskGib',
      used: 0,
    });
  });

  it('reports the first violated resource in a fixed order', () => {
    const decision = checkQuota(
      { runningVms: 1, vcpus: 1 },
      { runningVms: 1, vcpus: 1 },
      { runningVms: 1, vcpus: 1 },
    );
    expect(decision).toMatchObject({ allow: false, resource: 'runningVms' });
  });

  it('never denies for a resource the request does not increase, even when already over', () => {
    expect(checkQuota({ snapshots: 2 }, { snapshots: 5 }, { snapshots: 0, diskGib: 1 })).toEqual({
      allow: true,
    });
  });

  it('denies any increase when the limit is zero', () => {
    expect(checkQuota({ runningVms: 0 }, {}, { runningVms: 1 })).toMatchObject({
      allow: false,
      limit: 0,
      requested: 1,
    });
  });

  it('lists every violation', () => {
    expect(
      listQuotaViolations(
        { vcpus: 2, memoryMib: 512, diskGib: 100 },
        { vcpus: 2, memoryMib: 512 },
        { vcpus: 1, memoryMib: 256, diskGib: 10 },
      ).map((violation) => violation.resource),
    ).toEqual(['vcpus', 'memoryMib']);
  });
});
