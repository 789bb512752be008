import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureHomeDisk } from './home-disk.js';

describe('ensureHomeDisk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-home-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makes a sparse ext4 home labelled labvisor-home, owned by uid 1000, once', async () => {
    const file = path.join(dir, 'tenant', 'user.img');
    await ensureHomeDisk({ path: file, sizeGib: 1 });
    const stat = fs.statSync(file);
    expect(stat.size).toBe(1024 ** 3);
    expect(stat.blocks * 512).toBeLessThan(64 * 1024 ** 2);
    const header = execFileSync('/usr/sbin/dumpe2fs', ['-h', file], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    expect(header).toMatch(/Filesystem volume name:\s+labvisor-home/);
    const root = execFileSync('/usr/sbin/debugfs', ['-R', 'stat /', file], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    expect(root).toMatch(/User:\s+1000\s+Group:\s+1000/);
    // Made once: a second call keeps what is there.
    const before = fs.statSync(file).mtimeMs;
    await ensureHomeDisk({ path: file, sizeGib: 2 });
    expect(fs.statSync(file).mtimeMs).toBe(before);
    expect(fs.statSync(file).size).toBe(1024 ** 3);
    expect(fs.existsSync(`${file}.partial`)).toBe(false);
  });
});
