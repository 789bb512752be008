import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

describe.each(TEST_DATABASES)('audit log and metrics on $name', (kind) => {
  let server: TestServer;
  let tenantId: string;
  let otherTenantId: string;
  let root: TestClient;
  let tenantAdmin: TestClient;
  let student: TestClient;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    tenantId = (await createFixtureTenant(database.knex, 'Class A')).id;
    otherTenantId = (await createFixtureTenant(database.knex, 'Class B')).id;
    await createFixtureUser(database.knex, 'root@example.test', { isPlatformAdmin: true });
    await createFixtureUser(database.knex, 'admin@example.test', { tenantId, role: 'admin' });
    await createFixtureUser(database.knex, 'student@example.test', { tenantId, role: 'member' });
    server = await startTestServer(database);
    root = new TestClient(server.url);
    tenantAdmin = new TestClient(server.url);
    student = new TestClient(server.url);
    await root.login('root@example.test', FIXTURE_PASSWORD);
    await tenantAdmin.login('admin@example.test', FIXTURE_PASSWORD);
    await student.login('student@example.test', FIXTURE_PASSWORD);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'records sign-ins and changes, readable by platform and tenant admins only',
    async () => {
      await new TestClient(server.url).login('student@example.test', 'wrong');
      await root.send('PUT', `/api/v1/tenants/${tenantId}/quota`, {
        limits: {
          runningVms: 1,
          vcpus: 1,
          memoryMib: 512,
          diskGib: 5,
          snapshots: 1,
          vmHoursPerMonth: 10,
        },
      });
      const all = await root.send('GET', '/api/v1/audit');
      expect(all.status).toBe(200);
      const actions = all.body.items.map((entry: { action: string }) => entry.action);
      expect(actions).toEqual(
        expect.arrayContaining(['auth.login', 'auth.login.failed', 'quota.update']),
      );
      const quotaChange = all.body.items.find(
        (entry: { action: string }) => entry.action === 'quota.update',
      );
      expect(quotaChange).toMatchObject({
        actorEmail: 'root@example.test',
        tenantId,
        ip: expect.any(String),
      });

      const own = await tenantAdmin.send('GET', `/api/v1/audit?tenantId=${tenantId}`);
      expect(own.body.items.map((entry: { action: string }) => entry.action)).toContain(
        'quota.update',
      );
      expect(
        own.body.items.every((entry: { tenantId: string }) => entry.tenantId === tenantId),
      ).toBe(true);
      expect((await tenantAdmin.send('GET', '/api/v1/audit')).status).toBe(403);
      expect(
        (await tenantAdmin.send('GET', `/api/v1/audit?tenantId=${otherTenantId}`)).status,
      ).toBe(404);
      expect((await student.send('GET', `/api/v1/audit?tenantId=${tenantId}`)).status).toBe(403);
      const filtered = await root.send('GET', '/api/v1/audit?action=auth.login.failed&limit=1');
      expect(filtered.body.items).toEqual([
        expect.objectContaining({
          action: 'auth.login.failed',
          details: { email: 'student@example.test' },
        }),
      ]);
      expect((await root.send('GET', '/api/v1/audit?limit=0')).status).toBe(400);
    },
  );

  it.skipIf(kind.skipReason)(
    'exposes Prometheus metrics: latency by route, VMs by state, refusals',
    async () => {
      await student.send('GET', '/api/v1/me');
      const metrics = await fetch(`${server.url}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      const text = await metrics.text();
      expect(text).toMatch(
        /labvisor_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/me",status="200"\} \d+/,
      );
      expect(text).toContain('labvisor_vms{state="running"} 0');
      expect(text).toContain('labvisor_console_sockets 0');
      expect(text).toContain('# TYPE labvisor_admission_refusals_total counter');
    },
  );

  it.skipIf(kind.skipReason)(
    'keeps /metrics to holders of the metrics token when one is set, and /readyz free of database words',
    async () => {
      const guarded = await startTestServer(await openMigratedDatabase(kind), {
        metricsToken: 'metrics-token-0123456789',
      });
      try {
        expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401);
        const wrong = await fetch(`${guarded.url}/metrics`, {
          headers: { authorization: 'Bearer metrics-token-0123456780' },
        });
        expect(wrong.status).toBe(401);
        const right = await fetch(`${guarded.url}/metrics`, {
          headers: { authorization: 'Bearer metrics-token-0123456789' },
        });
        expect(right.status).toBe(200);
        expect(await right.text()).toContain('labvisor_vms');

        await guarded.database.close();
        const ready = await fetch(`${guarded.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as { database: unknown }).database).toEqual({
          ok: false,
          kind: kind.name,
          error: 'The database does not answer.',
        });
      } finally {
        await guarded.close();
      }
    },
  );
});
