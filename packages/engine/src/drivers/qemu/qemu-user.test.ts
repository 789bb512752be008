import { describe, expect, it } from 'vitest';
import { resolveQemuUser } from './qemu-user.js';

describe("QEMU's account", () => {
  it('refuses root and an account that does not exist, naming them', async () => {
    await expect(resolveQemuUser('root')).rejects.toThrow(/QEMU cannot run as "root"/);
    await expect(resolveQemuUser('no-such-account-here')).rejects.toThrow(
      /QEMU cannot run as "no-such-account-here"/,
    );
  });
});
