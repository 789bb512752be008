import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  builtImageDir,
  ensureTinyContainerImage,
  IncusCluster,
  incusClusterSkipReason,
} from '@labvisor/engine/testing';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { registerBuiltImage } from '../src/domain/images/built-images.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, signIn, WEB_DIR } from './support/browser.js';
import { ConsoleSocket } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
import { openEvents } from './support/events-client.js';
import { createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import {
  startTestServer,
  TestClient,
  type TestServer,
  waitForVmState,
} from './support/test-server.js';
import { registerTinyImage } from './support/tiny-image.js';

const skipReason = incusClusterSkipReason() ?? browserSkipReason();
const replicasSkipReason = inject('postgresUrl')
  ? undefined
  : `server replicas need a Postgres server: ${inject('postgresMissingReason')}`;
const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');
if (skipReason && process.env.CI === 'true') throw new Error(`cannot run under CI: ${skipReason}`);

/** Presses Enter until the container's shell prompts: keys typed before Incus attaches are lost. */
async function untilPrompt(terminal: ConsoleSocket): Promise<void> {
  await expect
    .poll(
      async () => {
        terminal.type('\r');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return terminal.output;
      },
      { timeout: 15_000, interval: 200 },
    )
    .toMatch(/# $/);
}

// Labvisor on an Incus cluster (LABVISOR_DRIVER=incus), through its API and its portal: a real
// three-member cluster on this machine runs the labs as system containers, each tenant in its own
// project.
describe.skipIf(skipReason)('Labvisor on an Incus cluster', () => {
  const cluster = new IncusCluster();
  let database: Database;
  let server: TestServer;
  let admin: TestClient;
  let student: TestClient;
  let tenantId: string;
  let containerImageId: string;
  let vmImageId: string;
  let browser: Browser;

  beforeAll(async () => {
    const options = { ci: process.env.CI === 'true', cacheDir: process.env.LABVISOR_CACHE_DIR };
    ensureTinyContainerImage(options);
    await cluster.start(3);
    database = await openVmTestDatabase();
    containerImageId = (
      await registerBuiltImage(database.knex, {
        manifestDir: builtImageDir('tiny-container', options),
        imagesDir: path.join(os.tmpdir(), 'labvisor-test-images'),
      })
    ).id;
    vmImageId = await registerTinyImage(database.knex);
    await createFixtureUser(database.knex, 'ops@example.test', { isPlatformAdmin: true });
    server = await startTestServer(database, {
      webHandler: await createPortalHandler(WEB_DIR),
      engine: { driver: { kind: 'incus', ...cluster.connection() } },
    });
    browser = await launchBrowser();
    admin = new TestClient(server.url);
    expect((await admin.login('ops@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await database?.close();
    await cluster.cleanup();
  }, 120_000);

  const projectLimit = () =>
    cluster
      .incus(cluster.members[0]!, ['project', 'get', `lv-${tenantId}`, 'limits.instances'])
      .trim();

  it('says it runs on Incus, and makes each new tenant a project bounded by its quota', async () => {
    const ready = await admin.send('GET', '/readyz');
    expect(ready.status).toBe(200);
    const host = await admin.send('GET', '/api/v1/host');
    expect(host.body).toMatchObject({ driver: 'incus', details: { instanceType: 'container' } });
    const created = await admin.send('POST', '/api/v1/tenants', { name: 'Shell 101' });
    expect(created.status).toBe(201);
    tenantId = created.body.id;
    // The default quota's 50 GiB of disk: at most 50 VMs of at least 1 GiB each.
    expect(projectLimit()).toBe('50');
    const quota = (await admin.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body;
    const changed = await admin.send('PUT', `/api/v1/tenants/${tenantId}/quota`, {
      limits: { ...quota.limits, diskGib: 3 },
    });
    expect(changed.status).toBe(200);
    expect(projectLimit()).toBe('3');
  });

  it('lists only the images the cluster runs, and refuses another kind with a sentence', async () => {
    const images = (await admin.send('GET', '/api/v1/images')).body.items;
    expect(images.map((image: { id: string }) => image.id)).toEqual([containerImageId]);
    expect(images[0]).toMatchObject({ kind: 'container', format: 'incus-unified' });
    const refused = await admin.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'wrong-kind',
      imageId: vmImageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(
      /is a virtual machine image, and this host runs system containers/,
    );
  });

  it('runs a student’s lab as a container, with a terminal that answers', async () => {
    await createFixtureUser(database.knex, 'sam@example.test', { tenantId, role: 'member' });
    student = new TestClient(server.url);
    expect((await student.login('sam@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    const created = await student.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'shell',
      imageId: containerImageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(created.status).toBe(201);
    const vm = await waitForVmState(student, created.body.id, 'running');
    expect(cluster.instances(`lv-${tenantId}`)).toMatchObject([
      { name: `lv-${vm.id}`, status: 'RUNNING' },
    ]);
    const terminal = await ConsoleSocket.open(server.url, student, vm.id);
    try {
      await untilPrompt(terminal);
      const from = terminal.output.length;
      terminal.type('echo lab-$((40+2))\r');
      await terminal.waitFor(/lab-42/, 10_000, from);
    } finally {
      terminal.close();
    }
  }, 60_000);

  it('shows the container lab with its terminal only, and no suspend', async () => {
    const vm = (await student.send('GET', '/api/v1/vms')).body.items[0];
    expect(vm).toMatchObject({ instanceType: 'container', state: 'running' });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await signIn(context, server.url, 'sam@example.test');
      await page.getByRole('link', { name: 'Open the terminal of shell' }).waitFor();
      expect(await page.getByRole('link', { name: 'Open the desktop of shell' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Suspend' }).count()).toBe(0);
      await page.goto(`${server.url}/vms/${vm.id}?tab=desktop`);
      await page.getByRole('tab', { name: 'Terminal', selected: true }).waitFor();
      expect(await page.getByRole('tab', { name: 'Desktop' }).count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('evacuates the lab’s member from the host page, and restores it', async () => {
    const vm = (await student.send('GET', '/api/v1/vms')).body.items[0];
    const where = () => cluster.instances(`lv-${tenantId}`)[0]?.location;
    const home = where();
    const members = (await admin.send('GET', '/api/v1/host')).body.members;
    expect(members.map((m: { status: string }) => m.status)).toEqual([
      'Online',
      'Online',
      'Online',
    ]);
    expect(members.find((m: { name: string }) => m.name === home).vms).toBe(1);
    expect((await student.send('POST', '/api/v1/host/evacuate', { member: home })).status).toBe(
      403,
    );
    expect((await admin.send('POST', '/api/v1/host/evacuate', { member: 'nowhere' })).status).toBe(
      404,
    );

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await signIn(context, server.url, 'ops@example.test');
      await page.goto(`${server.url}/admin`);
      const card = page.getByRole('region', { name: 'Cluster members' });
      await card.getByRole('row').nth(3).waitFor();
      expect(await card.getByRole('row').count()).toBe(4);
      fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await card.screenshot({ path: path.join(SCREENSHOT_DIR, 'cluster-members.png') });
      await card.getByRole('button', { name: `Evacuate ${home}` }).click();
      await page.getByText(`Evacuated ${home}: its labs run on the other members.`).waitFor({
        timeout: 60_000,
      });
      await card.getByRole('button', { name: `Restore ${home}` }).waitFor();
    } finally {
      await context.close();
    }
    expect(where()).not.toBe(home);
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
    const restored = await admin.send('POST', '/api/v1/host/restore', { member: home });
    expect(restored.body).toMatchObject({ name: home, status: 'Online' });
    expect(where()).toBe(home);
    expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
  }, 120_000);

  // Two replicas on one Postgres server, both on the cluster: the same users, sessions, tickets,
  // presence, events, sign-in throttling and one leader.
  it.skipIf(replicasSkipReason)(
    'serves the same users from a second replica: a ticket from one opens a terminal on the other',
    async () => {
      const replica = await startTestServer(database, {
        engine: { driver: { kind: 'incus', ...cluster.connection() } },
      });
      const studentOnReplica = student.at(replica.url);
      const adminOnReplica = admin.at(replica.url);
      const events = await openEvents(replica, studentOnReplica);
      let terminal: ConsoleSocket | undefined;
      try {
        expect([server.leadership.isLeader, replica.leadership.isLeader]).toEqual([true, false]);
        const vm = (await studentOnReplica.send('GET', '/api/v1/vms')).body.items[0];
        expect(vm.state).toBe('running');
        // A change made through the first replica reaches a page following the second, which
        // has not touched the lab yet (so only the other replica's message can tell it).
        expect((await student.send('POST', `/api/v1/vms/${vm.id}/stop`)).status).toBe(202);
        await expect
          .poll(() => events.events.map((event) => `${event.event}:${event.data.state}`), {
            timeout: 30_000,
          })
          .toContain('vm:stopped');
        // The second replica acts on the lab the first made.
        expect((await studentOnReplica.send('POST', `/api/v1/vms/${vm.id}/start`)).status).toBe(
          202,
        );
        await waitForVmState(student, vm.id, 'running');

        const ticket = await studentOnReplica.send('POST', `/api/v1/vms/${vm.id}/console`, {
          kind: 'serial',
          mode: 'interactive',
        });
        expect(ticket.status).toBe(201);
        const opened = await ConsoleSocket.open(server.url, student, vm.id, {
          url: ticket.body.url,
        });
        terminal = opened;
        await untilPrompt(opened);
        const from = opened.output.length;
        opened.type('echo replica-$((40+2))\r');
        await opened.waitFor(/replica-42/, 10_000, from);
        // Who is connected, asked of the replica that does not hold the socket.
        const presence = await adminOnReplica.send('GET', `/api/v1/tenants/${tenantId}/consoles`);
        expect(presence.body.items).toEqual([
          expect.objectContaining({ vmId: vm.id, email: 'sam@example.test', mode: 'interactive' }),
        ]);

        // Failed sign-ins count together: five through either replica, then both refuse.
        await createFixtureUser(database.knex, 'guessed@example.test', { tenantId });
        for (let attempt = 0; attempt < 5; attempt++) {
          const through = attempt % 2 === 0 ? server.url : replica.url;
          expect(
            (await new TestClient(through).login('guessed@example.test', 'wrong')).status,
          ).toBe(401);
        }
        for (const url of [server.url, replica.url]) {
          expect((await new TestClient(url).login('guessed@example.test', 'wrong')).status).toBe(
            429,
          );
        }

        // The lead moves when its holder lets go.
        await server.leadership.close();
        await expect.poll(() => replica.leadership.isLeader, { timeout: 10_000 }).toBe(true);
        // The new leader's reconciler learns the lab the other replica made: still running.
        await replica.vms.reconcile();
        expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).body.state).toBe('running');
      } finally {
        terminal?.close();
        await events.close();
        await replica.close({ keepVms: true });
        fs.rmSync(replica.runDir, { recursive: true, force: true });
      }
    },
    90_000,
  );

  it('stops and deletes the lab: its instance leaves the cluster', async () => {
    const vm = (await student.send('GET', '/api/v1/vms')).body.items[0];
    expect((await student.send('POST', `/api/v1/vms/${vm.id}/stop`)).status).toBe(202);
    await waitForVmState(student, vm.id, 'stopped');
    expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
    await expect.poll(() => cluster.instances(), { timeout: 30_000 }).toEqual([]);
  }, 60_000);
});
