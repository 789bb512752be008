import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const LIMITS = {
  runningVms: 5,
  vcpus: 100,
  memoryMib: 100_000,
  diskGib: 1000,
  snapshots: 10,
  vmHoursPerMonth: 100,
};

// These tests use an engine without a QEMU binary, so admitted VMs fail to boot (state `error`)
// and release their quota at once; the parallel-admission test with real guests is vms.vm.test.ts.
describe.each(TEST_DATABASES)('admission on $name', (kind) => {
  let server: TestServer;
  let tenantId: string;
  let otherTenantId: string;
  let imageId: string;
  let student: TestClient;
  let root: TestClient;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Class A')).id;
    otherTenantId = (await createFixtureTenant(knex, 'Class B')).id;
    await knex('quotas').where({ tenant_id: tenantId }).update({
      running_vms: LIMITS.runningVms,
      vcpus: LIMITS.vcpus,
      memory_mib: LIMITS.memoryMib,
      disk_gib: LIMITS.diskGib,
    });
    await createFixtureUser(knex, 'student@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    const [image] = await knex('images')
      .insert({
        name: 'tiny',
        kind: 'disk',
        format: 'qcow2',
        path: '/nonexistent/tiny.qcow2',
        size_bytes: 1,
        sha256: 'b'.repeat(64),
      })
      .returning('id');
    imageId = image.id;
    server = await startTestServer(database, {
      engine: {
        driver: { qemuBinary: '/nonexistent/qemu-system-x86_64' },
        host: { memoryMib: 1_000_000, vcpus: 1000 },
      },
    });
    student = new TestClient(server.url);
    await student.login('student@example.test', FIXTURE_PASSWORD);
    root = new TestClient(server.url);
    await root.login('root@example.test', FIXTURE_PASSWORD);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  const body = (name: string, overrides: Record<string, unknown> = {}) => ({
    tenantId,
    name,
    imageId,
    vcpus: 1,
    memoryMib: 128,
    diskGib: 1,
    ...overrides,
  });

  it.skipIf(kind.skipReason)('answers a dry run without admitting anything', async () => {
    const dry = await student.send('POST', '/api/v1/vms?dryRun=1', body('dry'));
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ admitted: true });
    const tooBig = await student.send(
      'POST',
      '/api/v1/vms?dryRun=1',
      body('dry', { vcpus: 16, memoryMib: 65_536, diskGib: 1000 }),
    );
    expect(tooBig.status).toBe(200);
    const overDisk = await student.send(
      'POST',
      '/api/v1/vms?dryRun=1',
      body('dry', { diskGib: 1025 }),
    );
    expect(overDisk.status).toBe(400);
    expect((await student.send('GET', '/api/v1/vms')).body.items).toEqual([]);
  });

  // Embedded PGlite has one connection, so any transaction makes every other query wait there:
  // only a Postgres server can hold a lock while a dry run asks.
  if (kind.name === 'postgres')
    it.skipIf(kind.skipReason)(
      'answers a dry run while a create of the same tenant holds its quota lock, from the sums a create meets',
      async () => {
        const knex = server.database.knex;
        let release!: () => void;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const holder = knex.transaction(async (trx) => {
          await trx('quotas').where({ tenant_id: tenantId }).forUpdate().first();
          locked();
          await released;
        });
        try {
          await isLocked;
          const answer = await Promise.race([
            student.send('POST', '/api/v1/vms?dryRun=1', body('dry')),
            new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 10_000)),
          ]);
          expect(answer).not.toBe('waited');
          expect(answer).toMatchObject({ status: 200, body: { admitted: true } });
          // The sums it reads are the ones a create meets: beyond the quota is refused.
          const full = await student.send(
            'POST',
            '/api/v1/vms?dryRun=1',
            body('dry', { diskGib: LIMITS.diskGib + 1 }),
          );
          expect(full.body.error).toMatchObject({
            code: 'QUOTA_EXCEEDED',
            details: { resource: 'diskGib' },
          });
        } finally {
          release();
          await holder;
        }
      },
    );

  it.skipIf(kind.skipReason)('refuses a network this host does not offer, saying why', async () => {
    const refused = await student.send(
      'POST',
      '/api/v1/vms',
      body('online', { network: 'internet' }),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'VALIDATION',
      details: { field: 'network', offered: ['none'] },
    });
    expect(refused.body.error.message).toMatch(
      /No "internet" network here: guest networks are off/,
    );
    const tenant = await root.send('GET', `/api/v1/tenants/${tenantId}`);
    expect(tenant.body.networkModes).toEqual(['none']);
    const defaultRefused = await root.send('PATCH', `/api/v1/tenants/${tenantId}`, {
      defaultNetwork: 'class',
    });
    expect(defaultRefused.status).toBe(400);
    expect(defaultRefused.body.error.details.field).toBe('defaultNetwork');
  });

  it.skipIf(kind.skipReason)(
    'refuses over quota with the resource, limit, used and requested',
    async () => {
      const answer = await student.send(
        'POST',
        '/api/v1/vms',
        body('huge', { vcpus: 16, memoryMib: 65_536, diskGib: 1000 }),
      );
      expect(answer.status).toBe(201);
      const over = await student.send('POST', '/api/v1/vms?dryRun=1', body('more', { diskGib: 1 }));
      expect(over.status).toBe(409);
      expect(over.body.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { resource: 'diskGib', limit: 1000, used: 1000, requested: 1 },
      });
      expect(over.body.error.message).toContain('diskGib');
      await server.vms.idle();
      expect((await student.send('DELETE', `/api/v1/vms/${answer.body.id}`)).status).toBe(204);
      for (let index = 0; index < 5; index++) {
        expect((await student.send('POST', '/api/v1/vms', body(`lab-${index}`))).status).toBe(201);
      }
    },
  );

  it.skipIf(kind.skipReason)(
    'marks a VM whose boot fails as error with the reason, releasing the quota',
    async () => {
      await server.vms.idle();
      const list = await student.send('GET', '/api/v1/vms');
      expect(list.body.items).toHaveLength(5);
      for (const vm of list.body.items) {
        expect(vm.state).toBe('error');
        expect(vm.stateReason).toMatch(/cannot be run/);
        expect(vm.stateReason).not.toContain('/nonexistent');
      }
      const quota = await student.send('GET', `/api/v1/tenants/${tenantId}/quota`);
      expect(quota.body.usage).toMatchObject({ runningVms: 0, vcpus: 0, memoryMib: 0, diskGib: 5 });
      const intervals = await server.database.knex('usage_intervals').whereNull('ended_at');
      expect(intervals).toEqual([]);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses names twice, other tenants, unknown images and bad bodies clearly',
    async () => {
      const [first] = (await student.send('GET', '/api/v1/vms')).body.items;
      const duplicate = await student.send('POST', '/api/v1/vms', body(first.name));
      expect([409]).toContain(duplicate.status);
      const foreign = await student.send(
        'POST',
        '/api/v1/vms',
        body('x', { tenantId: otherTenantId }),
      );
      expect(foreign.status).toBe(404);
      const noImage = await student.send(
        'POST',
        '/api/v1/vms',
        body('x', { imageId: '00000000-0000-4000-8000-000000000000' }),
      );
      expect(noImage.status).toBe(404);
      expect(noImage.body.error.message).toBe('No such image.');
      const badName = await student.send('POST', '/api/v1/vms', body('has space'));
      expect(badName.status).toBe(400);
      expect(badName.body.error.details.fields[0].field).toBe('name');
      const badQuery = await student.send('POST', '/api/v1/vms?dryRun=maybe', body('x'));
      expect(badQuery.status).toBe(400);
    },
  );

  it.skipIf(kind.skipReason)(
    'hides a VM from other tenants and refuses illegal transitions',
    async () => {
      const [vm] = (await student.send('GET', '/api/v1/vms')).body.items;
      const outsider = new TestClient(server.url);
      await createFixtureUser(server.database.knex, 'outsider@example.test', {
        tenantId: otherTenantId,
      });
      await outsider.login('outsider@example.test', FIXTURE_PASSWORD);
      for (const [method, path] of [
        ['GET', ''],
        ['DELETE', ''],
        ['POST', '/start'],
        ['POST', '/stop'],
      ] as const) {
        const answer = await outsider.send(method, `/api/v1/vms/${vm.id}${path}`);
        expect(answer.status).toBe(404);
        expect(answer.body.error.message).toBe('No such VM.');
      }
      const suspend = await student.send('POST', `/api/v1/vms/${vm.id}/suspend`);
      expect(suspend.status).toBe(409);
      expect(suspend.body.error.code).toBe('INVALID_STATE');
      expect(suspend.body.error.message).toBe(`Cannot suspend VM "${vm.name}" while it is error.`);
      expect((await root.send('GET', `/api/v1/vms/${vm.id}`)).status).toBe(200);
      expect((await student.send('DELETE', `/api/v1/vms/${vm.id}`)).status).toBe(204);
      expect((await student.send('GET', `/api/v1/vms/${vm.id}`)).status).toBe(404);
    },
  );

  it.skipIf(kind.skipReason)("applies a member's own limits inside the tenant quota", async () => {
    const admin = new TestClient(server.url);
    await createFixtureUser(server.database.knex, 'tenant-admin@example.test', {
      tenantId,
      role: 'admin',
    });
    await admin.login('tenant-admin@example.test', FIXTURE_PASSWORD);
    const me = (await student.send('GET', '/api/v1/me')).body.user;
    const tooHigh = await admin.send('PUT', `/api/v1/tenants/${tenantId}/members/${me.id}/limits`, {
      limits: { diskGib: 5000 },
    });
    expect(tooHigh.status).toBe(400);
    expect(tooHigh.body.error.details.fields).toEqual([
      { field: 'limits.diskGib', message: "must be at most the tenant's 1000" },
    ]);
    expect(
      (
        await student.send('PUT', `/api/v1/tenants/${tenantId}/members/${me.id}/limits`, {
          limits: { diskGib: 100 },
        })
      ).status,
    ).toBe(403);

    const used = (await student.send('GET', `/api/v1/tenants/${tenantId}/quota`)).body.usage
      .diskGib;
    const set = await admin.send('PUT', `/api/v1/tenants/${tenantId}/members/${me.id}/limits`, {
      limits: { diskGib: used + 1 },
    });
    expect(set.status).toBe(200);
    expect(set.body.limits).toEqual({ diskGib: used + 1 });
    expect((await student.send('POST', '/api/v1/vms?dryRun=1', body('fits'))).status).toBe(200);
    const refused = await student.send(
      'POST',
      '/api/v1/vms?dryRun=1',
      body('too-big', { diskGib: 2 }),
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error.details).toEqual({
      resource: 'diskGib',
      limit: used + 1,
      used,
      requested: 2,
      scope: 'member',
    });
    expect(refused.body.error.message).toMatch(/^Your own diskGib quota/);
    expect(
      (
        await admin.send('PUT', `/api/v1/tenants/${tenantId}/members/${me.id}/limits`, {
          limits: null,
        })
      ).body.limits,
    ).toBeNull();
    expect(
      (await student.send('POST', '/api/v1/vms?dryRun=1', body('too-big', { diskGib: 2 }))).status,
    ).toBe(200);
  });

  it.skipIf(kind.skipReason)(
    'creates one VM per Idempotency-Key however often a client retries, and lets actions be retried',
    async () => {
      const key = crypto.randomUUID();
      const headers = { 'idempotency-key': key };
      const answers = await Promise.all(
        Array.from({ length: 5 }, () =>
          student.send('POST', '/api/v1/vms', body('retried'), headers),
        ),
      );
      expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 201]);
      const ids = new Set(answers.map((answer) => answer.body.id));
      expect(ids.size).toBe(1);
      const named = await server.database.knex('vms').where({ name: 'retried' });
      expect(named).toHaveLength(1);

      const other = await student.send('POST', '/api/v1/vms', body('another'), headers);
      expect(other.status).toBe(409);
      expect(other.body.error.message).toMatch(/Idempotency-Key was already used/);
      const bad = await student.send('POST', '/api/v1/vms', body('bad'), {
        'idempotency-key': 'has spaces',
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.fields[0].field).toBe('idempotency-key');

      // Lifecycle actions: the second stop finds the VM stopped and answers it, not an error.
      await server.vms.idle();
      const [vmId] = [...ids] as string[];
      const stop = await student.send('POST', `/api/v1/vms/${vmId}/stop`);
      expect(stop.status).toBe(202);
      await server.vms.idle();
      const again = await student.send('POST', `/api/v1/vms/${vmId}/stop`);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ id: vmId, state: 'stopped' });
      const stops = await server.database
        .knex('audit_log')
        .where({ target_id: vmId, action: 'vm.stop' });
      expect(stops).toHaveLength(1);

      // The key goes with its VM: once deleted, the same key creates anew.
      expect((await student.send('DELETE', `/api/v1/vms/${vmId}`)).status).toBe(204);
      const fresh = await student.send('POST', '/api/v1/vms', body('retried'), headers);
      expect(fresh.status).toBe(201);
      expect(fresh.body.id).not.toBe(vmId);
      await server.vms.idle();
      expect((await student.send('DELETE', `/api/v1/vms/${fresh.body.id}`)).status).toBe(204);
    },
  );
});
