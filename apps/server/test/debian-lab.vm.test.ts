import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { GUEST_DEFAULT_PASSWORD } from '../src/domain/vms/guest-config.js';
import { builtImageSkipReason, registerCachedTestImage } from './support/built-image.js';
import { ConsoleSocket } from './support/console-client.js';
import { createPostgresDatabase } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const skipReason = builtImageSkipReason('debian-lab');
/** systemd under TCG on a busy 2-core machine: about 10 s alone, much more beside other tests. */
const LOGIN_PROMPT_TIMEOUT_MS = 240_000;

// The debootstrapped Debian image through the server's VM start path: the server hands the guest
// its hostname (the VM's name) and the owner's account by fw_cfg, and the owner logs in with it.
describe.skipIf(skipReason)('the debian-lab image', () => {
  let database: Database;
  let server: TestServer;
  let owner: TestClient;
  let tenantId: string;
  let imageId: string;

  beforeAll(async () => {
    const postgresUrl = inject('postgresUrl');
    database = postgresUrl
      ? await openDatabase({ url: await createPostgresDatabase() })
      : await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    tenantId = (await createFixtureTenant(database.knex, 'Linux 101')).id;
    await database.knex('quotas').where({ tenant_id: tenantId }).update({
      running_vms: 1,
      vcpus: 2,
      memory_mib: 2048,
      disk_gib: 20,
    });
    await createFixtureUser(database.knex, 'ada.lovelace@example.test', {
      tenantId,
      role: 'member',
    });
    imageId = await registerCachedTestImage(database.knex, 'debian-lab');
    server = await startTestServer(database);
    owner = new TestClient(server.url);
    expect((await owner.login('ada.lovelace@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    for (const vm of (await owner?.send('GET', '/api/v1/vms'))?.body.items ?? []) {
      await owner.send('DELETE', `/api/v1/vms/${vm.id}`);
    }
    await server?.close();
    await database?.close();
  });

  it('offers the defaults the image asks for', async () => {
    const image = (await owner.send('GET', `/api/v1/images/${imageId}`)).body;
    expect(image).toMatchObject({ name: 'debian-lab' });
    const row = await database.knex('images').where({ id: imageId }).first();
    expect(row).toMatchObject({ default_vcpus: 1, default_memory_mib: 1024, default_disk_gib: 8 });
  });

  it(
    'boots to a login prompt, takes the owner as ada-lovelace on host "web-lab-1", with sudo',
    async () => {
      const startedMs = Date.now();
      const created = await owner.send('POST', '/api/v1/vms', {
        tenantId,
        name: 'Web_Lab.1',
        imageId,
        vcpus: 1,
        memoryMib: 1024,
        diskGib: 8,
      });
      expect(created.status).toBe(201);
      const vmId = created.body.id as string;
      let terminal: ConsoleSocket | undefined;
      const deadline = Date.now() + 60_000;
      while (!terminal) {
        const vm = (await owner.send('GET', `/api/v1/vms/${vmId}`)).body;
        if (vm.state === 'running') terminal = await ConsoleSocket.open(server.url, owner, vmId);
        else if (Date.now() > deadline || ['error', 'crashed'].includes(vm.state))
          throw new Error(`VM did not start: ${JSON.stringify(vm)}`);
        else await new Promise((resolve) => setTimeout(resolve, 200));
      }

      // The greeting names the account; the prompt ends without a newline.
      await terminal.waitFor(/web-lab-1 login: $/, LOGIN_PROMPT_TIMEOUT_MS);
      const loginPromptMs = Date.now() - startedMs;
      expect(terminal.output).toContain(
        `Log in as ada-lovelace with password ${GUEST_DEFAULT_PASSWORD}`,
      );
      terminal.type('ada-lovelace\n');
      await terminal.waitFor(/Password: $/, 30_000);
      terminal.type(`${GUEST_DEFAULT_PASSWORD}\n`);
      await terminal.waitFor(/ada-lovelace@web-lab-1:~\$ $/, 60_000);
      const mark = terminal.output.length;
      terminal.type('echo "user=$(id -un) host=$(hostname)"; sudo -n true && echo sudo-$((6*7))\n');
      await terminal.waitFor(/sudo-42/, 30_000, mark);
      expect(terminal.output.slice(mark)).toContain('user=ada-lovelace host=web-lab-1');
      terminal.close();
      console.log(
        `debian-lab: login prompt ${(loginPromptMs / 1000).toFixed(1)} s after POST /vms`,
      );
    },
    LOGIN_PROMPT_TIMEOUT_MS + 120_000,
  );
});
