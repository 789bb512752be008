import { describe, expect, it } from 'vitest';
import { detailsWithoutHostPaths, withoutHostPaths } from './host-paths.js';

describe('host paths kept from members', () => {
  it('replaces host paths in a sentence and keeps the sentence', () => {
    expect(
      withoutHostPaths(
        'Failed suspending VM "a": saving memory failed: Failed to connect to /var/lib/labvisor/vms/a/migrate.sock: No such file',
      ),
    ).toBe(
      'Failed suspending VM "a": saving memory failed: Failed to connect to a host file: No such file',
    );
    expect(withoutHostPaths('QEMU exited with status 1 (see qemu.log)')).toBe(
      'QEMU exited with status 1 (see qemu.log)',
    );
    expect(withoutHostPaths('running/paused, 1/2 done')).toBe('running/paused, 1/2 done');
  });

  it('drops the details that hold a host path and keeps the others', () => {
    expect(
      detailsWithoutHostPaths({
        vmId: 'a',
        path: '/var/lib/labvisor/vms/a/disk.qcow2',
        files: ['/srv/images/x/image.qcow2'],
        state: 'running/paused',
      }),
    ).toEqual({ vmId: 'a', state: 'running/paused' });
    expect(detailsWithoutHostPaths({ path: '/srv/x.iso' })).toBeUndefined();
    expect(detailsWithoutHostPaths(undefined)).toBeUndefined();
  });
});
