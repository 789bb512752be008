import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTinyImage, findProcessesUsing, tinyImageDir } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConsoleSocket } from './support/console-client.js';
import { createPostgresDatabase } from './support/databases.js';
import { freePort, startServer } from './support/server-process.js';
import { TestClient, waitForVmState } from './support/test-server.js';
import { guestSkipReason } from './support/tiny-image.js';

const skipReason = guestSkipReason();
const VMS = 10;
const ADMIN = { email: 'ops@kill.test', password: 'kill-test-password' };

// The built server killed with SIGKILL while ten labs run with their terminals open, one lab is
// stopping and one is starting; on a Postgres server when there is one (always under CI). After
// the restart every lab runs in the same QEMU process with its shell as it was, the terminals
// open again, nothing is marked crashed, the stop ends stopped and the start ends running.
describe.skipIf(skipReason)('a server killed with SIGKILL under ten running labs', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-kill-'));
  // A cache with the tiny image only: the server registers what it finds there.
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-kill-cache-'));
  let env: Record<string, string>;
  let server: ReturnType<typeof startServer> | undefined;
  let admin: TestClient;
  let tenantId: string;
  let imageId: string;

  const pidOf = (vmId: string) =>
    Number(fs.readFileSync(path.join(dataDir, 'vms', vmId, 'qemu.pid'), 'utf8').trim());
  const create = async (name: string) => {
    const created = await admin.send('POST', '/api/v1/vms', {
      tenantId,
      name,
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.id as string;
  };

  beforeAll(async () => {
    ensureTinyImage({ ci: process.env.CI === 'true', cacheDir: process.env.LABVISOR_CACHE_DIR });
    fs.cpSync(
      tinyImageDir({ cacheDir: process.env.LABVISOR_CACHE_DIR }),
      path.join(cacheDir, 'images', 'tiny'),
      { recursive: true },
    );
    const port = await freePort();
    env = {
      LABVISOR_DATA_DIR: dataDir,
      LABVISOR_CACHE_DIR: cacheDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LABVISOR_ACCEL: 'tcg',
      // Eleven 1-vCPU labs on two host CPUs.
      LABVISOR_VCPU_OVERCOMMIT: '8',
      LABVISOR_ADMIN_EMAIL: ADMIN.email,
      LABVISOR_ADMIN_PASSWORD: ADMIN.password,
      ...(inject('postgresUrl') ? { DATABASE_URL: await createPostgresDatabase() } : {}),
    };
    server = startServer(env);
    await server.ready;
    admin = new TestClient(`http://127.0.0.1:${port}`);
    expect((await admin.login(ADMIN.email, ADMIN.password)).status).toBe(200);
    tenantId = (await admin.send('GET', '/api/v1/me')).body.memberships[0].tenantId;
    const quota = (await admin.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body;
    const raised = await admin.send('PUT', `/api/v1/tenants/${tenantId}/quota`, {
      limits: { ...quota.limits, runningVms: VMS + 1, vcpus: VMS + 1 },
    });
    expect(raised.status).toBe(200);
    imageId = (await admin.send('GET', '/api/v1/images')).body.items.find(
      (image: { name: string }) => image.name === 'tiny',
    ).id;
  }, 120_000);

  afterAll(async () => {
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    for (const pid of findProcessesUsing(dataDir)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('adopts every lab, reopens their terminals, and finishes the stop and the start under way', async () => {
    // Ten labs, booted two at a time, each with a shell variable set through its terminal.
    const vmIds: string[] = [];
    for (let index = 0; index < VMS; index += 2) {
      const pair = [await create(`lab-${index}`), await create(`lab-${index + 1}`)];
      for (const id of pair) await waitForVmState(admin, id, 'running', 60_000);
      vmIds.push(...pair);
    }
    const terminals = new Map<string, ConsoleSocket>();
    for (const [index, id] of vmIds.entries()) {
      const terminal = await ConsoleSocket.open(admin.baseUrl, admin, id);
      terminal.type('\n');
      await terminal.waitFor(/# $/, 30_000);
      const from = terminal.output.length;
      terminal.type(`export MARK=kept-${index}; echo set-$((${index}+100))\n`);
      await terminal.waitFor(new RegExp(`set-${index + 100}`), 20_000, from);
      terminals.set(id, terminal);
    }
    const pids = new Map(vmIds.map((id) => [id, pidOf(id)]));

    // One lab told to stop, one launched, and the server killed before either is done.
    const stopping = vmIds.at(-1)!;
    expect((await admin.send('POST', `/api/v1/vms/${stopping}/stop`)).status).toBe(202);
    const starting = await create('lab-starting');
    server!.child.kill('SIGKILL');
    await server!.exited;
    for (const terminal of terminals.values()) {
      await expect.poll(() => terminal.closed?.code, { timeout: 10_000 }).toBeDefined();
    }

    const restarted = Date.now();
    server = startServer(env);
    await server.ready;
    const running = vmIds.filter((id) => id !== stopping);
    for (const id of running) {
      const vm = (await admin.send('GET', `/api/v1/vms/${id}`)).body;
      expect(vm.state, `${vm.name}: ${vm.stateReason}`).toBe('running');
      expect(pidOf(id)).toBe(pids.get(id));
    }
    for (const [index, id] of vmIds.entries()) {
      if (id === stopping) continue;
      const terminal = await ConsoleSocket.open(admin.baseUrl, admin, id);
      const from = terminal.output.length;
      terminal.type('echo mark=$MARK\n');
      await terminal.waitFor(new RegExp(`mark=kept-${index}`), 20_000, from);
      terminal.close();
    }
    console.log(
      `server SIGKILL: ${running.length} terminals answered again ${Date.now() - restarted} ms after the restart began`,
    );
    expect((await waitForVmState(admin, stopping, 'stopped', 60_000)).state).toBe('stopped');
    // Killed before its engine heard of it, it is made again once no server can still be at it.
    const started = await waitForVmState(admin, starting, 'running', 120_000);
    expect(started.stateReason).toBeNull();
    const states = (await admin.send('GET', `/api/v1/vms?tenantId=${tenantId}`)).body.items.map(
      (vm: { state: string }) => vm.state,
    );
    expect(states).not.toContain('crashed');
    expect(states).not.toContain('error');
  }, 400_000);
});
