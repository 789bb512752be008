import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SERVER_ENTRY = path.resolve(import.meta.dirname, '../dist/index.js');

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built server with the environment given and waits for it to exit. */
function runServer(env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER_ENTRY], {
      env: { NODE_ENV: 'production', PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('server start with bad input', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-start-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('stops on a malformed DATABASE_URL with one clear line and exit code 1', async () => {
    const result = await runServer({
      DATABASE_URL: 'postgres//nohost',
      LABVISOR_DATA_DIR: dataDir,
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^labvisor: Invalid configuration: DATABASE_URL must be a postgres:\/\//,
    );
  });

  it('stops on an unreachable database server with one clear line and exit code 1', async () => {
    const result = await runServer({
      DATABASE_URL: 'postgres://lab:secret@127.0.0.1:1/labvisor',
      LABVISOR_DATA_DIR: dataDir,
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^labvisor: Cannot reach the database at postgres:\/\/lab:\*\*\*@127\.0\.0\.1:1\/labvisor: /,
    );
    expect(result.stderr).not.toContain('secret');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
