import { describe, expect, it } from 'vitest';
import { withoutHostPaths } from './state-reasons.js';

describe('state reasons shown to members', () => {
  it('replaces host paths and keeps the sentence', () => {
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
});
