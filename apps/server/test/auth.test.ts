import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUser } from '../src/db/queries/users.js';
import { MAX_LIVE_API_TOKENS_PER_USER } from '../src/domain/auth/api-tokens.js';
import { hashPassword } from '../src/domain/auth/passwords.js';
import { DEMO_TENANT_NAME, seedFirstRun } from '../src/domain/tenants/seed.js';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const ADMIN = { email: 'admin@example.test', password: 'correct horse battery' };

describe.each(TEST_DATABASES)('sign-in and the API basics on $name', (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    await seedFirstRun(database.knex, { adminEmail: ADMIN.email, adminPassword: ADMIN.password });
    await insertUser(database.knex, {
      email: 'disabled@example.test',
      name: 'Gone',
      passwordHash: await hashPassword(ADMIN.password),
    });
    await database
      .knex('users')
      .where({ email: 'disabled@example.test' })
      .update({ disabled: true });
    server = await startTestServer(database);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'signs the seeded admin in and answers /me with the demo tenant',
    async () => {
      const client = new TestClient(server.url);
      const login = await client.login(ADMIN.email.toUpperCase(), ADMIN.password);
      expect(login.status).toBe(200);
      expect(login.body.user).toMatchObject({ email: ADMIN.email, isPlatformAdmin: true });
      expect(login.body.user).not.toHaveProperty('passwordHash');
      expect(login.headers.get('set-cookie')).toMatch(/HttpOnly/i);
      expect(login.headers.get('set-cookie')).toMatch(/SameSite=Lax/i);

      const me = await client.send('GET', '/api/v1/me');
      expect(me.status).toBe(200);
      expect(me.body.memberships).toEqual([
        expect.objectContaining({ tenantName: DEMO_TENANT_NAME, role: 'admin' }),
      ]);
      expect(me.body.csrfToken).toBe(login.body.csrfToken);
    },
  );

  it.skipIf(kind.skipReason)(
    'stores sessions for browser sign-ins only: token and anonymous requests write none',
    async () => {
      const browser = new TestClient(server.url);
      expect((await browser.login(ADMIN.email, ADMIN.password)).status).toBe(200);
      const created = await browser.send('POST', '/api/v1/tokens', { name: 'script' });
      expect(created.status).toBe(201);
      const countSessions = async () =>
        Number((await server.database.knex('sessions').count())[0]!.count);
      const before = await countSessions();
      const script = new TestClient(server.url);
      const bearer = { authorization: `Bearer ${created.body.token}` };
      for (let index = 0; index < 20; index++) {
        const me = await script.send('GET', '/api/v1/me', undefined, bearer);
        expect(me.status).toBe(200);
        expect(me.body.csrfToken).toBe('');
        expect(me.headers.get('set-cookie')).toBeNull();
        expect((await script.send('GET', '/api/v1/vms', undefined, bearer)).status).toBe(200);
        const anonymous = await new TestClient(server.url).send('GET', '/api/v1/vms');
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('set-cookie')).toBeNull();
      }
      expect(await countSessions()).toBe(before);
    },
  );

  it.skipIf(kind.skipReason)(
    'reads a browser’s session on each request but writes it at most once a minute; a token request has none to sign in or out',
    async () => {
      const browser = new TestClient(server.url);
      expect((await browser.login(ADMIN.email, ADMIN.password)).status).toBe(200);
      const sessionWrites: string[] = [];
      const onQuery = (query: { sql: string }) => {
        if (/^(update|insert into) "sessions"/.test(query.sql)) sessionWrites.push(query.sql);
      };
      server.database.knex.on('query', onQuery);
      try {
        for (let index = 0; index < 10; index++) {
          const listed = await browser.send('GET', '/api/v1/vms');
          expect(listed.status).toBe(200);
          // The cookie still rolls: each answer gives it a later expiry.
          expect(listed.headers.get('set-cookie')).toMatch(/labvisor\.sid=/);
        }
      } finally {
        server.database.knex.off('query', onQuery);
      }
      expect(sessionWrites.length).toBeLessThanOrEqual(1);

      const created = await browser.send('POST', '/api/v1/tokens', { name: 'no-session' });
      const bearer = { authorization: `Bearer ${created.body.token}` };
      for (const [path, body] of [
        ['/api/v1/auth/login', ADMIN],
        ['/api/v1/auth/logout', undefined],
      ] as const) {
        const answer = await new TestClient(server.url).send('POST', path, body, bearer);
        expect(answer.status).toBe(400);
        expect(answer.body.error.message).toBe(
          'Signing in and out is for browsers: send this request without an Authorization header.',
        );
      }
    },
  );

  it.skipIf(kind.skipReason)(
    'caps the live API tokens of a user, also against parallel creates',
    async () => {
      const owner = new TestClient(server.url);
      expect((await owner.login(ADMIN.email, ADMIN.password)).status).toBe(200);
      const existing = (await owner.send('GET', '/api/v1/tokens')).body.items.length as number;
      const answers = await Promise.all(
        Array.from({ length: MAX_LIVE_API_TOKENS_PER_USER + 5 - existing }, (_, index) =>
          owner.send('POST', '/api/v1/tokens', { name: `bulk-${index}` }),
        ),
      );
      const created = answers.filter((answer) => answer.status === 201);
      expect(created).toHaveLength(MAX_LIVE_API_TOKENS_PER_USER - existing);
      const refused = answers.find((answer) => answer.status === 409)!;
      expect(refused.body.error).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        details: { resource: 'apiTokens', limit: MAX_LIVE_API_TOKENS_PER_USER },
      });
      // A revoked token frees its place.
      expect((await owner.send('DELETE', `/api/v1/tokens/${created[0]!.body.id}`)).status).toBe(
        204,
      );
      expect((await owner.send('POST', '/api/v1/tokens', { name: 'again' })).status).toBe(201);
    },
  );

  it.skipIf(kind.skipReason)(
    'answers a wrong password, an unknown user and a disabled user alike',
    async () => {
      const answers = await Promise.all([
        new TestClient(server.url).login(ADMIN.email, 'wrong password'),
        new TestClient(server.url).login('nobody@example.test', ADMIN.password),
        new TestClient(server.url).login('disabled@example.test', ADMIN.password),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({
          error: { code: 'UNAUTHENTICATED', message: 'The email or password is wrong.' },
        });
      }
      const failures = await server.database
        .knex('audit_log')
        .where({ action: 'auth.login.failed' })
        .count();
      expect(Number(failures[0]!.count)).toBeGreaterThanOrEqual(3);
    },
  );

  it.skipIf(kind.skipReason)(
    'rejects wrong types and unknown fields with 400 VALIDATION naming the field',
    async () => {
      const client = new TestClient(server.url);
      const wrongType = await client.send('POST', '/api/v1/auth/login', {
        email: ADMIN.email,
        password: 42,
      });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error.code).toBe('VALIDATION');
      expect(wrongType.body.error.message).toContain('password');
      expect(wrongType.body.error.details.fields).toEqual([
        expect.objectContaining({ field: 'password' }),
      ]);

      const unknown = await client.send('POST', '/api/v1/auth/login', { ...ADMIN, admin: true });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details.fields).toEqual([
        { field: 'admin', message: 'is not a known field' },
      ]);

      const notJson = await client.send('POST', '/api/v1/auth/login', '{"email":', {});
      expect(notJson.status).toBe(400);
      expect(notJson.body.error.code).toBe('VALIDATION');

      const huge = await client.send('POST', '/api/v1/auth/login', {
        email: 'a@b.c',
        password: 'x'.repeat(400_000),
      });
      expect(huge.status).toBe(413);
      expect(JSON.stringify(huge.body)).not.toMatch(/at .*\.js/);
    },
  );

  it.skipIf(kind.skipReason)(
    'requires a session for /me and the CSRF token for changes; logout ends the session',
    async () => {
      const anonymous = await new TestClient(server.url).send('GET', '/api/v1/me');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.code).toBe('UNAUTHENTICATED');

      const client = new TestClient(server.url);
      await client.login(ADMIN.email, ADMIN.password);
      const noCsrf = await client.send('POST', '/api/v1/auth/logout', undefined, {
        'x-csrf-token': 'forged',
      });
      expect(noCsrf.status).toBe(403);
      expect((await client.send('GET', '/api/v1/me')).status).toBe(200);

      expect((await client.send('POST', '/api/v1/auth/logout')).status).toBe(204);
      expect((await client.send('GET', '/api/v1/me')).status).toBe(401);
    },
  );

  it.skipIf(kind.skipReason)(
    'answers unknown routes with the JSON 404 and reports health',
    async () => {
      const client = new TestClient(server.url);
      const missing = await client.send('GET', '/api/v1/no-such-thing');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
      expect((await client.send('DELETE', '/nowhere')).body.error.code).toBe('NOT_FOUND');

      expect((await client.send('GET', '/healthz')).body).toEqual({ ok: true });
      const ready = await client.send('GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        ready: true,
        database: { ok: true, kind: kind.name },
        engine: {
          ok: true,
          driver: 'qemu',
          accel: 'tcg',
          accelReason: 'configured as tcg',
          qemuVersion: expect.stringMatching(/^\d+\.\d+/),
        },
      });
    },
  );

  it.skipIf(kind.skipReason)('reports not ready when the engine is unusable', async () => {
    const broken = await startTestServer(server.database, {
      engine: { driver: { qemuBinary: '/nonexistent/qemu-system-x86_64' } },
    });
    try {
      const ready = await new TestClient(broken.url).send('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.engine).toEqual({
        ok: false,
        error: expect.stringContaining('qemu-system-x86_64'),
      });
    } finally {
      await broken.close();
    }
  });
});
