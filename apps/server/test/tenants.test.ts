import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

describe.each(TEST_DATABASES)('tenants, quotas, members, users and tokens on $name', (kind) => {
  let server: TestServer;
  let classA: { id: string };
  let classB: { id: string };
  const as: Record<string, TestClient> = {};

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Class A');
    classB = await createFixtureTenant(knex, 'Class B');
    await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    await createFixtureUser(knex, 'admin-a@example.test', { tenantId: classA.id, role: 'admin' });
    await createFixtureUser(knex, 'teacher-a@example.test', {
      tenantId: classA.id,
      role: 'instructor',
    });
    await createFixtureUser(knex, 'student-a@example.test', {
      tenantId: classA.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'student-b@example.test', {
      tenantId: classB.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'student-c@example.test', {
      tenantId: classB.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'loner@example.test');
    server = await startTestServer(database);
    for (const name of ['root', 'admin-a', 'teacher-a', 'student-a', 'student-b']) {
      as[name] = new TestClient(server.url);
      expect((await as[name]!.login(`${name}@example.test`, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'lets a platform admin create, rename and list tenants; names stay unique',
    async () => {
      const created = await as.root!.send('POST', '/api/v1/tenants', { name: 'Physics 101' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.any(String),
        name: 'Physics 101',
        recordingEnabled: false,
        defaultImageId: null,
      });
      // The image its launch form offers first must be one the tenant can use.
      const noImage = await as.root!.send('PATCH', `/api/v1/tenants/${created.body.id}`, {
        defaultImageId: '00000000-0000-4000-8000-000000000000',
      });
      expect(noImage.body.error).toMatchObject({
        code: 'VALIDATION',
        details: { field: 'defaultImageId' },
      });
      const duplicate = await as.root!.send('POST', '/api/v1/tenants', { name: 'Physics 101' });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('CONFLICT');
      const renamed = await as.root!.send('PATCH', `/api/v1/tenants/${created.body.id}`, {
        name: 'Physics 102',
      });
      expect(renamed.body.name).toBe('Physics 102');
      const list = await as.root!.send('GET', '/api/v1/tenants');
      expect(list.body.items.map((t: { name: string }) => t.name)).toEqual([
        'Class A',
        'Class B',
        'Physics 102',
      ]);
      expect((await as.root!.send('DELETE', `/api/v1/tenants/${created.body.id}`)).status).toBe(
        204,
      );
      expect((await as.root!.send('GET', `/api/v1/tenants/${created.body.id}`)).status).toBe(404);
    },
  );

  it.skipIf(kind.skipReason)(
    'shows members only their own tenants and hides the others as 404',
    async () => {
      const list = await as['student-a']!.send('GET', '/api/v1/tenants');
      expect(list.body.items.map((t: { id: string }) => t.id)).toEqual([classA.id]);
      expect((await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}`)).status).toBe(200);
      for (const path of ['', '/quota', '/members']) {
        const other = await as['student-a']!.send('GET', `/api/v1/tenants/${classB.id}${path}`);
        expect(other.status).toBe(404);
        expect(other.body.error.message).toBe('No such tenant.');
      }
      const created = await as['admin-a']!.send('POST', '/api/v1/tenants', { name: 'Sneaky' });
      expect(created.status).toBe(403);
      const renamed = await as['admin-a']!.send('PATCH', `/api/v1/tenants/${classB.id}`, {
        name: 'Mine',
      });
      expect(renamed.status).toBe(404);
    },
  );

  it.skipIf(kind.skipReason)(
    'shows the quota to members and lets only a platform admin change it',
    async () => {
      const quota = await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}/quota`);
      expect(quota.status).toBe(200);
      expect(quota.body.usage).toEqual({
        runningVms: 0,
        vcpus: 0,
        memoryMib: 0,
        diskGib: 0,
        snapshots: 0,
        vmHoursPerMonth: 0,
      });
      const limits = {
        runningVms: 2,
        vcpus: 4,
        memoryMib: 2048,
        diskGib: 10,
        snapshots: 3,
        vmHoursPerMonth: 40,
      };
      expect(
        (await as['admin-a']!.send('PUT', `/api/v1/tenants/${classA.id}/quota`, { limits })).status,
      ).toBe(403);
      const put = await as.root!.send('PUT', `/api/v1/tenants/${classA.id}/quota`, { limits });
      expect(put.status).toBe(200);
      expect(
        (await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}/quota`)).body.limits,
      ).toEqual(limits);
      const negative = await as.root!.send('PUT', `/api/v1/tenants/${classA.id}/quota`, {
        limits: { ...limits, vcpus: -1 },
      });
      expect(negative.status).toBe(400);
      expect(negative.body.error.details.fields[0].field).toBe('limits.vcpus');
    },
  );

  it.skipIf(kind.skipReason)(
    'lets tenant admins manage members and instructors list them',
    async () => {
      expect(
        (await as['student-a']!.send('GET', `/api/v1/tenants/${classA.id}/members`)).status,
      ).toBe(403);
      const members = await as['teacher-a']!.send('GET', `/api/v1/tenants/${classA.id}/members`);
      expect(members.body.items.map((m: { email: string }) => m.email).sort()).toEqual([
        'admin-a@example.test',
        'student-a@example.test',
        'teacher-a@example.test',
      ]);
      expect(
        (
          await as['teacher-a']!.send('POST', `/api/v1/tenants/${classA.id}/members`, {
            email: 'loner@example.test',
            role: 'member',
          })
        ).status,
      ).toBe(403);
      const added = await as['admin-a']!.send('POST', `/api/v1/tenants/${classA.id}/members`, {
        email: 'Loner@Example.test',
        role: 'member',
      });
      expect(added.status).toBe(201);
      expect(added.body).toMatchObject({ email: 'loner@example.test', role: 'member' });
      const badRole = await as['admin-a']!.send('POST', `/api/v1/tenants/${classA.id}/members`, {
        email: 'loner@example.test',
        role: 'owner',
      });
      expect(badRole.status).toBe(400);
      expect(
        (
          await as['admin-a']!.send(
            'DELETE',
            `/api/v1/tenants/${classA.id}/members/${added.body.userId}`,
          )
        ).status,
      ).toBe(204);
      expect(
        (
          await as['admin-a']!.send(
            'DELETE',
            `/api/v1/tenants/${classA.id}/members/${added.body.userId}`,
          )
        ).status,
      ).toBe(404);
    },
  );

  it.skipIf(kind.skipReason)('lets only platform admins list and create users', async () => {
    expect((await as['admin-a']!.send('GET', '/api/v1/users')).status).toBe(403);
    const created = await as.root!.send('POST', '/api/v1/users', {
      email: 'New@Example.test',
      name: 'New',
      password: 'long-enough-1',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'new@example.test', isPlatformAdmin: false });
    expect(
      (
        await as.root!.send('POST', '/api/v1/users', {
          email: 'new@example.test',
          name: 'x',
          password: 'long-enough-1',
        })
      ).status,
    ).toBe(409);
    const signIn = await new TestClient(server.url).login('new@example.test', 'long-enough-1');
    expect(signIn.status).toBe(200);
  });

  it.skipIf(kind.skipReason)(
    'issues API tokens shown once, used as Bearer without CSRF, revocable',
    async () => {
      const created = await as['student-a']!.send('POST', '/api/v1/tokens', {
        name: 'laptop',
        expiresInDays: 30,
      });
      expect(created.status).toBe(201);
      expect(created.body.token).toMatch(/^lvt_/);
      const listed = await as['student-a']!.send('GET', '/api/v1/tokens');
      expect(listed.body.items).toEqual([
        expect.objectContaining({ id: created.body.id, name: 'laptop' }),
      ]);
      expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
      const stored = await server.database
        .knex('api_tokens')
        .where({ id: created.body.id })
        .first();
      expect(stored.token_hash).not.toContain(created.body.token);

      const bearer = new TestClient(server.url);
      const auth = { authorization: `Bearer ${created.body.token}` };
      const me = await bearer.send('GET', '/api/v1/me', undefined, auth);
      expect(me.body.user.email).toBe('student-a@example.test');
      const token2 = await bearer.send('POST', '/api/v1/tokens', { name: 'ci' }, auth);
      expect(token2.status).toBe(201);

      expect(
        (await as['student-b']!.send('DELETE', `/api/v1/tokens/${created.body.id}`)).status,
      ).toBe(404);
      expect(
        (await as['student-a']!.send('DELETE', `/api/v1/tokens/${created.body.id}`)).status,
      ).toBe(204);
      const revoked = await bearer.send('GET', '/api/v1/me', undefined, auth);
      expect(revoked.status).toBe(401);
      expect(
        (
          await bearer.send('GET', '/api/v1/me', undefined, {
            authorization: 'Bearer lvt_nonsense',
          })
        ).status,
      ).toBe(401);
      expect(
        (await as['student-a']!.send('DELETE', '/api/v1/tokens/not-a-uuid')).body.error.details
          .fields[0].field,
      ).toBe('tokenId');
    },
  );

  it.skipIf(kind.skipReason)(
    'throttles an account after repeated failures, even with the right password',
    async () => {
      const client = new TestClient(server.url);
      for (let attempt = 0; attempt < 5; attempt++) {
        expect((await client.login('student-b@example.test', 'wrong')).status).toBe(401);
      }
      const throttled = await client.login('student-b@example.test', FIXTURE_PASSWORD);
      expect(throttled.status).toBe(429);
      expect(throttled.body.error.code).toBe('RATE_LIMITED');
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await client.login('student-a@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    },
  );

  it.skipIf(kind.skipReason)(
    'counts parallel guesses as they start, and never locks the owner out from another address',
    async () => {
      const guesser = new TestClient(server.url);
      const guesses = await Promise.all(
        Array.from({ length: 12 }, () =>
          guesser.send(
            'POST',
            '/api/v1/auth/login',
            { email: 'student-c@example.test', password: 'wrong' },
            { 'x-forwarded-for': '198.51.100.7' },
          ),
        ),
      );
      const statuses = guesses.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 401)).toHaveLength(5);
      expect(statuses.filter((status) => status === 429)).toHaveLength(7);
      // The owner, elsewhere (the proxy in front says from where), signs in.
      const owner = await new TestClient(server.url).send(
        'POST',
        '/api/v1/auth/login',
        { email: 'student-c@example.test', password: FIXTURE_PASSWORD },
        { 'x-forwarded-for': '203.0.113.9' },
      );
      expect(owner.status).toBe(200);
    },
  );
});
