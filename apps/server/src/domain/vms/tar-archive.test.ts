import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarArchive } from './tar-archive.js';

describe('tarArchive', () => {
  it('writes an archive that tar lists and extracts byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-tar-'));
    try {
      const big = Buffer.alloc(1300, 7);
      const archive = tarArchive([
        { name: 'ada@example.test/report.txt', bytes: Buffer.from('hello\n') },
        { name: 'grace@example.test/data.bin', bytes: big },
        { name: 'MISSING.txt', bytes: Buffer.from('') },
      ]);
      expect(archive.length % 512).toBe(0);
      const file = path.join(dir, 'out.tar');
      fs.writeFileSync(file, archive);
      expect(execFileSync('tar', ['-tf', file]).toString().trim().split('\n')).toEqual([
        'ada@example.test/report.txt',
        'grace@example.test/data.bin',
        'MISSING.txt',
      ]);
      execFileSync('tar', ['-xf', file, '-C', dir]);
      expect(fs.readFileSync(path.join(dir, 'ada@example.test/report.txt'), 'utf8')).toBe(
        'hello\n',
      );
      expect(fs.readFileSync(path.join(dir, 'grace@example.test/data.bin')).equals(big)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
