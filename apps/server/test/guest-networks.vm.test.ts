import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { tapName } from '@labvisor/engine/qemu';
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
  let root: TestClient;

  beforeAll(async () => {
    await lab.start({});
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Networking 101')).id;
    otherTenantId = (await createFixtureTenant(database.knex, 'Other class')).id;
    await createFixtureUser(database.knex, 'nat@example.test', { tenantId, role: 'member' });
    await createFixtureUser(database.knex, 'tcp@example.test', { tenantId, role: 'admin' });
    await createFixtureUser(database.knex, 'ops@example.test', { isPlatformAdmin: true });
    await createFixtureUser(database.knex, 'eve@example.test', {
      tenantId: otherTenantId,
      role: 'member',
    });
    imageId = await registerTinyImage(database.knex);
    server = await startTestServer(database, {
      engine: {
        driver: {
          templatesDir: path.join(stateDir, 'templates'),
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
    root = new TestClient(server.url);
    expect((await root.login('ops@example.test', FIXTURE_PASSWORD)).status).toBe(200);
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
      // A web app for the next test, and an endpoint that accepts any WebSocket upgrade.
      terminal.type(
        'mkdir -p /tmp/w && echo LAB-APP >/tmp/w/index.html && httpd -p 8080 -h /tmp/w\r',
      );
      terminal.type(
        `${String.raw`printf '%s\n' '#!/bin/sh' 'printf "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nHELLO-WS"' >/tmp/ws.sh && chmod +x /tmp/ws.sh && (while true; do nc -l -p 9000 -e /tmp/ws.sh; done &) && echo ws-$((40+2))`}\r`,
      );
      await terminal.waitFor(/ws-42/, 10_000, from);
    } finally {
      terminal.close();
    }
  }, 180_000);

  it('opens a lab’s web app on its own host name, for those who may see the lab', async () => {
    const vm = (await student.send('GET', '/api/v1/vms')).body.items.find(
      (item: { name: string }) => item.name === 'web-1',
    );
    const portsPath = `/api/v1/vms/${vm.id}/ports`;
    expect((await stranger.send('POST', portsPath, { port: 8080 })).status).toBe(404);
    expect((await student.send('POST', portsPath, { port: 0 })).status).toBe(400);
    const nothing = await student.send('POST', portsPath, { port: 9999 });
    expect(nothing.status).toBe(503);
    expect(nothing.body.error.message).toContain('Nothing answers on port 9999');

    // The guest's httpd was started by the previous test; on a loaded host give it a moment.
    let opened = await student.send('POST', portsPath, { port: 8080 });
    for (let tries = 0; opened.status === 503 && tries < 20; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      opened = await student.send('POST', portsPath, { port: 8080 });
    }
    expect(opened.body).toMatchObject({ access: 'full' });
    expect(opened.status).toBe(200);
    expect(opened.body.access).toBe('full');
    const link = new URL(opened.body.url);
    expect(link.hostname).toBe(`p8080-${vm.id}.localhost`);
    const portHost = link.host;
    // Without the cookie the link sets, the port's host serves nothing.
    expect((await hostRequest(portHost, 'GET', '/')).status).toBe(403);
    const redeemed = await hostRequest(portHost, 'GET', `${link.pathname}${link.search}`);
    expect(redeemed.status).toBe(302);
    const cookie = redeemed.headers['set-cookie']![0]!.split(';')[0]!;
    expect(redeemed.headers['set-cookie']![0]).toMatch(/HttpOnly; SameSite=Lax/);
    const page = await hostRequest(portHost, 'GET', '/', cookie);
    expect(page.status).toBe(200);
    expect(page.body).toContain('LAB-APP');
    // The grant is this port's: another port's host refuses it.
    const otherHost = portHost.replace('p8080-', 'p8081-');
    expect((await hostRequest(otherHost, 'GET', '/', cookie)).status).toBe(403);

    // The tenant's admin may look, read-only.
    const watched = await teacher.send('POST', portsPath, { port: 8080 });
    expect(watched.body.access).toBe('read-only');
    const watchLink = new URL(watched.body.url);
    const watchCookie = (
      await hostRequest(portHost, 'GET', `${watchLink.pathname}${watchLink.search}`)
    ).headers['set-cookie']![0]!.split(';')[0]!;
    expect((await hostRequest(portHost, 'GET', '/', watchCookie)).body).toContain('LAB-APP');
    expect((await hostRequest(portHost, 'POST', '/', watchCookie)).status).toBe(405);

    // WebSocket upgrades reach the guest, for the owner only.
    // The guest's nc loop may not listen yet on a loaded host, nor for a moment after each
    // connection (the open's probe is one): open once it answers.
    const openWsPort = async (client: TestClient) => {
      let answer = await client.send('POST', portsPath, { port: 9000 });
      for (let tries = 0; answer.status === 503 && tries < 40; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        answer = await client.send('POST', portsPath, { port: 9000 });
      }
      return answer;
    };
    const ws = await openWsPort(student);
    expect(ws.body).toMatchObject({ access: 'full' });
    const wsLink = new URL(ws.body.url);
    const wsCookie = (
      await hostRequest(wsLink.host, 'GET', `${wsLink.pathname}${wsLink.search}`)
    ).headers['set-cookie']![0]!.split(';')[0]!;
    // The guest's nc listens again a moment after each connection (the open's probe was one).
    await expect
      .poll(() => upgradeRequest(wsLink.host, wsCookie), { timeout: 20_000, interval: 500 })
      .toMatch(/^HTTP\/1\.1 101[\s\S]*HELLO-WS/);
    const wsWatch = await openWsPort(teacher);
    expect(wsWatch.body).toMatchObject({ access: 'read-only' });
    const wsWatchLink = new URL(wsWatch.body.url);
    const wsWatchCookie = (
      await hostRequest(wsWatchLink.host, 'GET', `${wsWatchLink.pathname}${wsWatchLink.search}`)
    ).headers['set-cookie']![0]!.split(';')[0]!;
    expect(await upgradeRequest(wsLink.host, wsWatchCookie)).toMatch(/^HTTP\/1\.1 403/);
  }, 60_000);

  it('keeps warm pool clones on the tenant’s default network, ready with a lease', async () => {
    const poolsPath = `/api/v1/tenants/${tenantId}/pools`;
    const pool = { imageId, vcpus: 1, memoryMib: 192, diskGib: 1, count: 1 };
    expect((await teacher.send('PUT', poolsPath, { pools: [pool] })).status).toBe(200);
    const ready = async () => (await teacher.send('GET', poolsPath)).body.pools[0]?.ready;
    await expect.poll(ready, { timeout: 180_000, interval: 500 }).toBe(1);
    const launched = await launch('pooled-1');
    expect(launched.status).toBe(201);
    expect(launched.body).toMatchObject({
      network: 'internet',
      bootPath: 'pool',
      state: 'running',
    });
    const vm = await waitForVmState(student, launched.body.id, 'running');
    expect(vm.networkAddress).toMatch(/^10\.127\.0\.\d+$/);
    // Empty the pool and remove the lab: the next test counts the tenant's VMs online.
    expect((await teacher.send('PUT', poolsPath, { pools: [] })).status).toBe(200);
    expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
    await expect
      .poll(async () => (await teacher.send('GET', poolsPath)).body.pools.length, {
        timeout: 30_000,
      })
      .toBe(0);
  }, 240_000);

  it('bounds the tenant’s VMs online, and each one’s bandwidth, and counts their bytes', async () => {
    const tenantPath = `/api/v1/tenants/${tenantId}`;
    expect((await teacher.send('PATCH', tenantPath, { maxInternetVms: 5 })).status).toBe(403);
    const limited = await root.send('PATCH', tenantPath, { maxInternetVms: 1, bandwidthMbps: 20 });
    expect(limited.status).toBe(200);
    expect(limited.body).toMatchObject({ maxInternetVms: 1, bandwidthMbps: 20 });
    // web-1 is online: a second internet VM is over the cap.
    const second = await launch('web-2', 'internet');
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { resource: 'internetVms', limit: 1, used: 1, requested: 1 },
    });
    const web1 = (await student.send('GET', '/api/v1/vms')).body.items.find(
      (item: { name: string }) => item.name === 'web-1',
    );
    // The metrics count what its guest received and sent.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const received = new RegExp(
      `labvisor_vm_network_bytes\\{vm_id="${web1.id}",direction="in"\\} (\\d+)`,
    ).exec(metrics);
    expect(Number(received?.[1])).toBeGreaterThan(0);
    // Its next start has the tenant's bandwidth.
    await student.send('POST', `/api/v1/vms/${web1.id}/stop`);
    await waitForVmState(student, web1.id, 'stopped', 90_000);
    await student.send('POST', `/api/v1/vms/${web1.id}/start`);
    await waitForVmState(student, web1.id, 'running');
    const qdisc = execFileSync('tc', ['-n', lab.router, 'qdisc', 'show', 'dev', tapName(web1.id)], {
      encoding: 'utf8',
    });
    expect(qdisc).toMatch(/tbf .*rate 20Mbit/);
  }, 150_000);

  it('puts a class VM on its tenant’s segment', async () => {
    const created = await launch('lan-1', 'class');
    expect(created.status).toBe(201);
    const vm = await waitForVmState(student, created.body.id, 'running');
    expect(vm).toMatchObject({ network: 'class' });
    expect(vm.networkAddress).toMatch(/^10\.128\.\d+\.\d+$/);
    // Class egress would put lan-1 online too, beyond the cap of one.
    const egress = await teacher.send('PATCH', `/api/v1/tenants/${tenantId}`, {
      classInternet: true,
    });
    expect(egress.status).toBe(409);
    expect(egress.body.error.details.resource).toBe('internetVms');
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

/** An HTTP request to the test server under another Host (a port's host name). */
function hostRequest(
  host: string,
  method: string,
  path: string,
  cookie?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const port = Number(host.split(':')[1]);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers: { host, ...(cookie ? { cookie } : {}) } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += String(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** What a WebSocket upgrade request to a port's host answers (within 3 s, or until it closes). */
function upgradeRequest(host: string, cookie: string): Promise<string> {
  const port = Number(host.split(':')[1]);
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: ${cookie}\r\n\r\n`,
      );
    });
    let answer = '';
    socket.on('data', (chunk) => {
      answer += String(chunk);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    setTimeout(() => socket.destroy(), 3_000);
  });
}
