import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findProcessesUsing } from '@labvisor/engine/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { HTTP_DRAIN_MS } from '../src/server.js';
import { freePort, SERVER_ENTRY, startServer } from './support/server-process.js';
import { TestClient } from './support/test-server.js';

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

describe('server start on a fresh data directory', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-fresh-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('migrates, seeds an admin with a password shown once, serves, stops on SIGTERM and reuses the data', async () => {
    const env = { LABVISOR_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LABVISOR_ACCEL: 'tcg' };
    const port = await freePort();
    const first = startServer({ ...env, PORT: String(port) });
    await first.ready;
    const password = /password: (\S+)/.exec(first.output())?.[1];
    expect(first.output()).toContain('First platform admin created: admin@labvisor.local');
    expect(password).toBeDefined();
    const base = `http://127.0.0.1:${port}`;
    const ready = await new TestClient(base).send('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      ready: true,
      database: { kind: 'pglite' },
      engine: { accel: 'tcg' },
    });
    const admin = new TestClient(base);
    expect((await admin.login('admin@labvisor.local', password!)).status).toBe(200);
    expect((await admin.send('GET', '/api/v1/me')).body.memberships[0].tenantName).toBe('Demo lab');
    const portal = await fetch(`${base}/login`);
    expect(portal.status).toBe(200);
    expect(await portal.text()).toContain('Sign in to Labvisor');
    // Instant labs: the tiny image's template is made ahead, in the background.
    const templatesDir = path.join(dataDir, 'templates');
    const builtTemplates = () =>
      fs.existsSync(templatesDir)
        ? fs
            .readdirSync(templatesDir)
            .filter((name) => fs.existsSync(path.join(templatesDir, name, 'template.json')))
        : [];
    const deadline = Date.now() + 90_000;
    while (builtTemplates().length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
    expect(builtTemplates()).toHaveLength(1);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // A template build under way (the next image's) ended with the server: no QEMU is left.
    expect(findProcessesUsing(dataDir)).toEqual([]);

    const second = startServer({ ...env, PORT: String(port) });
    await second.ready;
    expect(second.output()).not.toContain('First platform admin');
    const again = new TestClient(base);
    expect((await again.login('admin@labvisor.local', password!)).status).toBe(200);
    // The data directory (database, secrets, VM folders) is the server's user's alone.
    expect(fs.statSync(dataDir).mode & 0o077).toBe(0);
    // A request that never finishes does not hold a shutdown past its drain time.
    const stalled = net.createConnection(port, '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.on('error', () => {});
    stalled.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = Date.now();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(HTTP_DRAIN_MS + 3_000);
    stalled.destroy();
    expect(findProcessesUsing(dataDir)).toEqual([]);
  }, 180_000);
});

describe('server start with a background image build', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-builds-'));
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-build-cache-'));
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('builds the image after it serves, shows each step to admins, makes its template and offers it in the demo tenant', async () => {
    const port = await freePort();
    const server = startServer({
      LABVISOR_DATA_DIR: dataDir,
      LABVISOR_CACHE_DIR: cacheDir,
      LABVISOR_BUILD_IMAGES: 'tiny',
      LABVISOR_ACCEL: 'tcg',
      PORT: String(port),
      HOST: '127.0.0.1',
    });
    await server.ready;
    const password = /password: (\S+)/.exec(server.output())?.[1];
    const admin = new TestClient(`http://127.0.0.1:${port}`);
    expect((await admin.login('admin@labvisor.local', password!)).status).toBe(200);
    // Nothing is built yet: the image appears only once its build is done.
    expect((await admin.send('GET', '/api/v1/images')).body.items).toEqual([]);
    const steps = new Set<string>();
    let build: { state: string; step: string | null; error: string | null } | undefined;
    const deadline = Date.now() + 240_000;
    while (Date.now() < deadline) {
      [build] = (await admin.send('GET', '/api/v1/host')).body.imageBuilds;
      if (build?.step) steps.add(build.step);
      if (build?.state === 'ready' || build?.state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(build).toMatchObject({ state: 'ready', error: null });
    // The recipe's own steps, as it logs them, and the template made ahead.
    expect([...steps]).toEqual(
      expect.arrayContaining([expect.stringMatching(/^downloading /), 'making its template']),
    );
    const [image] = (await admin.send('GET', '/api/v1/images')).body.items;
    expect(image).toMatchObject({ name: 'tiny', guestAgent: true });
    const templatesDir = path.join(dataDir, 'templates');
    expect(
      fs
        .readdirSync(templatesDir)
        .filter((name) => fs.existsSync(path.join(templatesDir, name, 'template.json'))),
    ).toHaveLength(1);
    const demo = (await admin.send('GET', '/api/v1/tenants')).body.items[0];
    expect(demo).toMatchObject({ name: 'Demo lab', defaultImageId: image.id });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(findProcessesUsing(dataDir)).toEqual([]);
  }, 300_000);
});
