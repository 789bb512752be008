import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INTERNET_NAME, INTERNET_RESOLVER, NetworkLab } from '@labvisor/engine/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { GUEST_DEFAULT_PASSWORD } from '../src/domain/vms/guest-config.js';
import { templateSpecOf } from '../src/domain/vms/vm-templates.js';
import { builtImageSkipReason, registerCachedTestImage } from './support/built-image.js';
import { ConsoleSocket } from './support/console-client.js';
import { openVmTestDatabase } from './support/databases.js';
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
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Linux 101')).id;
    await database.knex('quotas').where({ tenant_id: tenantId }).update({
      running_vms: 1,
      vcpus: 2,
      memory_mib: 2048,
      disk_gib: 20,
    });
    // The class gives its members home disks: the lab mounts the owner's as their home.
    await database.knex('tenants').where({ id: tenantId }).update({ home_disk_gib: 1 });
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
    'boots to a login prompt, takes the owner as ada-lovelace on host "web-lab-1", with sudo, their home disk and files moved in and out',
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
      // The home disk is their home, with the image's dotfiles copied onto it.
      const homeMark = terminal.output.length;
      terminal.type('findmnt -n -o SOURCE,TARGET ~; ls -a ~ | tr "\\n" " "; echo home-$((6*7))\n');
      await terminal.waitFor(/home-42/, 30_000, homeMark);
      const home = terminal.output.slice(homeMark);
      expect(home).toMatch(/\/dev\/vdb\s+\/home\/ada-lovelace/);
      expect(home).toContain('.labvisor-home');
      expect(home).toContain('.bashrc');
      // A file moved in through the agent lands in the home, owned by the user, and comes back.
      const put = await fetch(
        `${server.url}/api/v1/vms/${vmId}/files?path=${encodeURIComponent('~/notes/todo.txt')}`,
        {
          method: 'PUT',
          headers: {
            cookie: owner.cookieHeader!,
            'x-csrf-token': owner.csrfToken!,
            'content-type': 'application/octet-stream',
          },
          body: 'read chapter 3\n',
        },
      );
      expect(put.status).toBe(204);
      const fileMark = terminal.output.length;
      terminal.type('stat -c "%U %s" ~/notes/todo.txt; echo file-$((6*7))\n');
      await terminal.waitFor(/file-42/, 30_000, fileMark);
      expect(terminal.output.slice(fileMark)).toMatch(/ada-lovelace 15$/m);
      const got = await fetch(
        `${server.url}/api/v1/vms/${vmId}/files?path=${encodeURIComponent('~/notes/todo.txt')}`,
        { headers: { cookie: owner.cookieHeader! } },
      );
      expect(await got.text()).toBe('read chapter 3\n');
      terminal.close();
      console.log(
        `debian-lab: login prompt ${(loginPromptMs / 1000).toFixed(1)} s after POST /vms`,
      );
    },
    LOGIN_PROMPT_TIMEOUT_MS + 120_000,
  );
});

/** A clone's template continues under TCG; its identity (user, SSH keys) takes seconds more. */
// Longer than the engine's own agent deadlines (30 s + 120 s), so a clone that fails shows its reason.
const CLONE_RUNNING_TIMEOUT_MS = 180_000;

// Instant labs on the real Debian image: a template is booted once and saved; each lab is then a
// copy-on-write clone that gets its own hostname, account, machine-id and SSH host keys.
describe.skipIf(skipReason)('debian-lab clones of a booted template', () => {
  const lab = new NetworkLab();
  let database: Database;
  let server: TestServer;
  let tenantId: string;
  let imageId: string;
  const owners: Record<string, TestClient> = {};

  beforeAll(async () => {
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Linux 102')).id;
    await database.knex('quotas').where({ tenant_id: tenantId }).update({
      running_vms: 2,
      vcpus: 2,
      memory_mib: 2048,
      disk_gib: 20,
    });
    for (const email of ['ada.lovelace@example.test', 'grace.hopper@example.test']) {
      await createFixtureUser(database.knex, email, { tenantId, role: 'member' });
    }
    imageId = await registerCachedTestImage(database.knex, 'debian-lab');
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-clones-'));
    await lab.start({});
    server = await startTestServer(database, {
      engine: {
        runDir,
        driver: {
          templatesDir: path.join(runDir, '.templates'),
          guestNetworks: {
            namespace: lab.router,
            uplinkNamespace: lab.host,
            dnsServers: [INTERNET_RESOLVER],
            stateDir: path.join(runDir, '.network'),
          },
        },
      },
    });
    for (const email of ['ada.lovelace@example.test', 'grace.hopper@example.test']) {
      owners[email] = new TestClient(server.url);
      expect((await owners[email].login(email, FIXTURE_PASSWORD)).status).toBe(200);
    }
    const image = await database.knex('images').where({ id: imageId }).first();
    const started = Date.now();
    await server.engine.buildTemplate(templateSpecOf(image, { vcpus: 1, memoryMib: 1024 }));
    console.log(`debian-lab: template built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 900_000);
  afterAll(async () => {
    for (const owner of Object.values(owners)) {
      for (const vm of (await owner.send('GET', '/api/v1/vms')).body.items ?? []) {
        await owner.send('DELETE', `/api/v1/vms/${vm.id}`);
      }
    }
    await server?.close();
    await database?.close();
    await lab.cleanup();
    fs.rmSync(server.runDir, { recursive: true, force: true });
  });

  /** Launches a lab for `email`, logs in on its console and answers who and where it is. */
  async function launchAndLogIn(email: string, name: string, user: string, network = 'none') {
    const owner = owners[email]!;
    const clicked = Date.now();
    const created = await owner.send('POST', '/api/v1/vms', {
      tenantId,
      name,
      imageId,
      vcpus: 1,
      memoryMib: 1024,
      diskGib: 8,
      network,
    });
    expect(created.status).toBe(201);
    const vmId = created.body.id as string;
    let vm = created.body;
    while (vm.state !== 'running') {
      if (
        Date.now() - clicked > CLONE_RUNNING_TIMEOUT_MS ||
        ['error', 'crashed'].includes(vm.state)
      )
        throw new Error(`VM did not start: ${JSON.stringify(vm)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      vm = (await owner.send('GET', `/api/v1/vms/${vmId}`)).body;
    }
    const runningMs = Date.now() - clicked;
    expect(vm.bootPath).toBe('template');
    const terminal = await ConsoleSocket.open(server.url, owner, vmId);
    const host = name.toLowerCase();
    terminal.type('\n');
    await terminal.waitFor(new RegExp(`${host} login: $`), 60_000);
    const promptMs = Date.now() - clicked;
    terminal.type(`${user}\n`);
    await terminal.waitFor(/Password: $/, 30_000);
    terminal.type(`${GUEST_DEFAULT_PASSWORD}\n`);
    await terminal.waitFor(new RegExp(`${user}@${host}:~\\$ $`), 60_000);
    const mark = terminal.output.length;
    terminal.type(
      'while [ ! -s /etc/ssh/ssh_host_ed25519_key.pub ]; do sleep 0.2; done; echo "who=$(id -un)@$(hostname) mid=$(cat /etc/machine-id) key=$(cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub) end"\n',
    );
    const [line] = await terminal.waitFor(/who=\S+ mid=\S+ key=\S+ end/, 60_000, mark);
    console.log(
      `debian-lab clone ${name}: running ${(runningMs / 1000).toFixed(1)} s, login prompt ${(promptMs / 1000).toFixed(1)} s after POST /vms`,
    );
    return { vmId, terminal, line };
  }

  it('starts each lab as a clone with its own hostname, user, machine-id, SSH host key and disk', async () => {
    const ada = await launchAndLogIn('ada.lovelace@example.test', 'lab-ada', 'ada-lovelace');
    expect(ada.line).toContain('who=ada-lovelace@lab-ada ');
    let mark = ada.terminal.output.length;
    // Quotes split the marker words, so the terminal's echo of the command never matches them.
    ada.terminal.type('echo only-in-ada > ~/mark && sync && echo "wr"itten\n');
    await ada.terminal.waitFor(/written/, 30_000, mark);

    // Grace's lab reaches the internet: the clone took its own MAC address and lease, and names
    // resolve (debian-lab asks 10.0.2.3, which the router redirects to its resolver).
    const grace = await launchAndLogIn(
      'grace.hopper@example.test',
      'lab-grace',
      'grace-hopper',
      'internet',
    );
    expect(grace.line).toContain('who=grace-hopper@lab-grace ');
    const field = (line: string, name: string) => new RegExp(`${name}=(\\S+)`).exec(line)?.[1];
    expect(field(grace.line, 'mid')).not.toBe(field(ada.line, 'mid'));
    expect(field(grace.line, 'key')).not.toBe(field(ada.line, 'key'));
    mark = grace.terminal.output.length;
    grace.terminal.type('ls /home/*/mark 2>&1 | head -1; echo "li"sted\n');
    await grace.terminal.waitFor(/listed/, 30_000, mark);
    expect(grace.terminal.output.slice(mark)).toContain('No such file');
    mark = grace.terminal.output.length;
    grace.terminal.type(
      `ip -4 -br addr show scope global; curl -s --max-time 20 --retry 5 --retry-all-errors http://${INTERNET_NAME}/; echo "fe"tched\n`,
    );
    await grace.terminal.waitFor(/fetched/, 120_000, mark);
    expect(grace.terminal.output.slice(mark)).toMatch(/10\.127\.0\.\d+\/16/);
    expect(grace.terminal.output.slice(mark)).toContain('INTERNET-PAGE');
    ada.terminal.close();
    grace.terminal.close();
  }, 600_000);
});
