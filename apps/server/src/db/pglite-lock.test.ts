import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockPgliteDir, PgliteLockedError } from './pglite-lock.js';

describe('lockPgliteDir', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pglite-lock-')), 'pglite');
  afterEach(() => fs.rmSync(`${dir}.lock`, { force: true }));

  it('claims the directory and gives it back', () => {
    const lock = lockPgliteDir(dir);
    expect(fs.readFileSync(`${dir}.lock`, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });

  it('refuses while another live process holds it, naming that process', () => {
    fs.writeFileSync(`${dir}.lock`, '1\n'); // init: always alive
    expect(() => lockPgliteDir(dir)).toThrow(PgliteLockedError);
    expect(() => lockPgliteDir(dir)).toThrow(/in use by process 1 /);
  });

  it('takes over a lock left by a process that has exited', () => {
    const exited = spawnSync(process.execPath, ['-e', '']).pid!;
    fs.writeFileSync(`${dir}.lock`, `${exited}\n`);
    lockPgliteDir(dir).release();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });
});
