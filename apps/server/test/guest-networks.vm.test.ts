import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INTERNET_ADDRESS, NetworkLab } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { ConsoleSocket } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const skipReason = guestSkipReason() ?? (process.getuid?.() === 0 ? undefined : 'needs root');
if (skipReason && process.env.CI === 'true') throw new Error(`cannot run under CI: ${skipReason}`);

// Guest networks through the API, on real guests in namespaces the test makes (see NetworkLab):
// the tenant's default network, a class address, a change while stopped, and what is refused.
describe.skipIf(skipReason)('guest networks through the API', () => {
  const lab = new NetworkLab();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-net-'));
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let otherTenantId: string;
  let imageId: string;
  let student: TestClient;
  let teacher: TestClient;
  let stranger: TestClient;

  beforeAll(async () => {
    await lab.start({});
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Networking 101')).id;
    otherTenantId = (await createFixtureTenant(database.knex, 'Other class')).id;
    await createFixtureUser(database.knex, 'nat@example.test', { tenantId, role: 'member' });
    await createFixtureUser(database.knex, 'tcp@example.test', { tenantId, role: 'admin' });
    await createFixtureUser(database.knex, 'eve@example.test', {
      tenantId: otherTenantId,
      role: 'member',
    });
    imageId = await registerTinyImage(database.knex);
    server = await startTestServer(database, {
      engine: {
        driver: {
          guestNetworks: {
            namespace: lab.router,
            uplinkNamespace: lab.host,
            dnsServers: [],
            stateDir,
          },
        },
      },
    });
    student = new TestClient(server.url);
    teacher = new TestClient(server.url);
    stranger = new TestClient(server.url);
    expect((await student.login('nat@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await teacher.login('tcp@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await stranger.login('eve@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await database?.close();
    await lab.cleanup();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  const launch = (name: string, network?: string) =>
    student.send('POST', '/api/v1/vms', {
      tenantId,
      name,
      imageId,
      vcpus: 1,
      memoryMib: 192,
      diskGib: 1,
      ...(network ? { network } : {}),
    });

  it('offers every network, and lets only tenant admins choose the default', async () => {
    const tenant = await teacher.send('GET', `/api/v1/tenants/${tenantId}`);
    expect(tenant.body).toMatchObject({
      defaultNetwork: 'none',
      classInternet: false,
      networkModes: ['none', 'internet', 'class'],
    });
    const tenantPath = `/api/v1/tenants/${tenantId}`;
    expect((await student.send('PATCH', tenantPath, { defaultNetwork: 'internet' })).status).toBe(
      403,
    );
    expect((await teacher.send('PATCH', tenantPath, { defaultNetwork: 'bogus' })).status).toBe(400);
    const changed = await teacher.send('PATCH', tenantPath, { defaultNetwork: 'internet' });
    expect(changed.status).toBe(200);
    expect(changed.body.defaultNetwork).toBe('internet');
  });

  it('gives a launch without a network the tenant default, and the internet in the guest', async () => {
    const created = await launch('web-1');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ network: 'internet', networkAddress: null });
    const vm = await waitForVmState(student, created.body.id, 'running');
    expect(vm.networkAddress).toMatch(/^10\.127\.0\.\d+$/);
    const terminal = await ConsoleSocket.open(server.url, student, vm.id);
    try {
      terminal.type('\r');
      await terminal.waitFor(/# $/, 60_000);
      // udhcpc may still be asking when the prompt shows: retry until the page answers.
      const from = terminal.output.length;
      terminal.type(
        `for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${INTERNET_ADDRESS} 80 && break; sleep 2; done\r`,
      );
      await terminal.waitFor(/INTERNET-PAGE/, 60_000, from);
    } finally {
      terminal.close();
    }
  }, 180_000);

  it('puts a class VM on its tenant’s segment', async () => {
    const created = await launch('lan-1', 'class');
    expect(created.status).toBe(201);
    const vm = await waitForVmState(student, created.body.id, 'running');
    expect(vm).toMatchObject({ network: 'class' });
    expect(vm.networkAddress).toMatch(/^10\.128\.\d+\.\d+$/);
  }, 120_000);

  it('changes a network only while stopped, and only for those who see the VM', async () => {
    const vm = (await student.send('GET', '/api/v1/vms')).body.items.find(
      (item: { name: string }) => item.name === 'lan-1',
    );
    const vmPath = `/api/v1/vms/${vm.id}`;
    const running = await student.send('PATCH', vmPath, { network: 'none' });
    expect(running.status).toBe(409);
    expect(running.body.error.code).toBe('INVALID_STATE');
    expect((await stranger.send('PATCH', vmPath, { network: 'none' })).status).toBe(404);
    await student.send('POST', `${vmPath}/stop`);
    await waitForVmState(student, vm.id, 'stopped');
    const changed = await student.send('PATCH', vmPath, { network: 'none' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ network: 'none', networkAddress: null });
    expect((await student.send('PATCH', vmPath, { network: 'wifi' })).status).toBe(400);
    await student.send('POST', `${vmPath}/start`);
    const restarted = await waitForVmState(student, vm.id, 'running');
    expect(restarted.networkAddress).toBeNull();
  }, 120_000);
});
