import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

describe.each(TEST_DATABASES)('invite links on $name', (kind) => {
  let server: TestServer;
  let classA: { id: string };
  const as: Record<string, TestClient> = {};
  const invitesOf = (tenantId: string) => `/api/v1/tenants/${tenantId}/invites`;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Algorithms');
    await createFixtureUser(knex, 'admin-a@example.test', { tenantId: classA.id, role: 'admin' });
    await createFixtureUser(knex, 'teacher-a@example.test', {
      tenantId: classA.id,
      role: 'instructor',
    });
    await createFixtureUser(knex, 'student-a@example.test', {
      tenantId: classA.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'newcomer@uni.example');
    await createFixtureUser(knex, 'outsider@elsewhere.example');
    server = await startTestServer(database);
    for (const email of [
      'admin-a@example.test',
      'teacher-a@example.test',
      'student-a@example.test',
      'newcomer@uni.example',
      'outsider@elsewhere.example',
    ]) {
      // admin-a@… signs in as `as.admin`, newcomer@… as `as.newcomer`.
      const name = email.split('@')[0]!.replace(/-a$/, '');
      as[name] = new TestClient(server.url);
      expect((await as[name]!.login(email, FIXTURE_PASSWORD)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'lets instructors invite members and admins invite any role; members cannot invite',
    async () => {
      const made = await as.teacher!.send('POST', invitesOf(classA.id), { maxUses: 3 });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({
        role: 'member',
        maxUses: 3,
        uses: 0,
        allowedDomains: [],
        usable: true,
        token: expect.stringMatching(/^lvi_/),
        path: `/join/${made.body.token}`,
      });
      const asInstructor = await as.teacher!.send('POST', invitesOf(classA.id), {
        role: 'instructor',
      });
      expect(asInstructor.body.error.code).toBe('FORBIDDEN');
      expect(
        (await as.admin!.send('POST', invitesOf(classA.id), { role: 'instructor' })).status,
      ).toBe(201);
      expect((await as.student!.send('POST', invitesOf(classA.id), {})).body.error.code).toBe(
        'FORBIDDEN',
      );
      // An outsider learns nothing of the tenant.
      expect((await as.outsider!.send('GET', invitesOf(classA.id))).status).toBe(404);
      const listed = await as.teacher!.send('GET', invitesOf(classA.id));
      expect(listed.body.items).toHaveLength(2);
      // The token is shown once: never in a listing.
      expect(JSON.stringify(listed.body)).not.toContain(made.body.token);
      const badDomain = await as.teacher!.send('POST', invitesOf(classA.id), {
        allowedDomains: ['not a domain'],
      });
      expect(badDomain.body.error).toMatchObject({ code: 'VALIDATION' });
    },
  );

  it.skipIf(kind.skipReason)(
    'joins a signed-in user once, within the email domains, and counts the use',
    async () => {
      const made = await as.teacher!.send('POST', invitesOf(classA.id), {
        maxUses: 1,
        allowedDomains: ['uni.example'],
        expiresInDays: 7,
      });
      const token = made.body.token as string;
      const preview = await new TestClient(server.url).send('POST', '/api/v1/invites/lookup', {
        token,
      });
      expect(preview.body).toEqual({
        tenantName: 'Algorithms',
        role: 'member',
        expiresAt: expect.any(String),
        allowedDomains: ['uni.example'],
      });
      // Someone from another domain cannot use it, and does not use it up.
      const refused = await as.outsider!.send('POST', '/api/v1/invites/accept', { token });
      expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN' });
      expect(refused.body.error.message).toContain('@uni.example');
      const joined = await as.newcomer!.send('POST', '/api/v1/invites/accept', { token });
      expect(joined.body).toEqual({
        tenantId: classA.id,
        tenantName: 'Algorithms',
        role: 'member',
      });
      const me = await as.newcomer!.send('GET', '/api/v1/me');
      expect(me.body.memberships).toEqual([joined.body]);
      // Used up: the next one gets a sentence saying so.
      const usedUp = await as.outsider!.send('POST', '/api/v1/invites/lookup', { token });
      expect(usedUp.body.error).toMatchObject({ code: 'NOT_FOUND' });
      expect(usedUp.body.error.message).toContain('used as many times');
      const listed = await as.teacher!.send('GET', invitesOf(classA.id));
      expect(listed.body.items.find((i: { id: string }) => i.id === made.body.id)).toMatchObject({
        uses: 1,
        usable: false,
      });
      const audit = await server.database
        .knex('audit_log')
        .where({ action: 'invite.accept', target_id: made.body.id });
      expect(audit).toHaveLength(1);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses revoked, expired and made-up links with a sentence each',
    async () => {
      const made = await as.teacher!.send('POST', invitesOf(classA.id), {});
      const token = made.body.token as string;
      expect(
        (await as.teacher!.send('DELETE', `${invitesOf(classA.id)}/${made.body.id}`)).status,
      ).toBe(204);
      const revoked = await as.outsider!.send('POST', '/api/v1/invites/accept', { token });
      expect(revoked.body.error.message).toContain('revoked');

      const expiring = await as.teacher!.send('POST', invitesOf(classA.id), { expiresInDays: 1 });
      await server.database
        .knex('invites')
        .where({ id: expiring.body.id })
        .update({ expires_at: new Date(Date.now() - 1000) });
      const expired = await as.outsider!.send('POST', '/api/v1/invites/accept', {
        token: expiring.body.token,
      });
      expect(expired.body.error.message).toContain('expired');

      const madeUp = await as.outsider!.send('POST', '/api/v1/invites/lookup', {
        token: 'lvi_madeup',
      });
      expect(madeUp.body.error).toMatchObject({ code: 'NOT_FOUND' });
      expect(madeUp.body.error.message).toContain('not valid');
      expect((await as.outsider!.send('GET', '/api/v1/me')).body.memberships).toEqual([]);
    },
  );

  it.skipIf(kind.skipReason)(
    'creates an account with a link, signs it in, and refuses an email that has one',
    async () => {
      const made = await as.admin!.send('POST', invitesOf(classA.id), { maxUses: 5 });
      const visitor = new TestClient(server.url);
      const registered = await visitor.send('POST', '/api/v1/invites/register', {
        token: made.body.token,
        email: ' Grace@Example.test ',
        name: 'Grace',
        password: 'a-long-password',
      });
      expect(registered.status).toBe(201);
      expect(registered.body.user).toMatchObject({ email: 'grace@example.test', name: 'Grace' });
      visitor.csrfToken = registered.body.csrfToken;
      const me = await visitor.send('GET', '/api/v1/me');
      expect(me.body.memberships).toEqual([
        { tenantId: classA.id, tenantName: 'Algorithms', role: 'member' },
      ]);
      // The account is real: it signs in with its password.
      expect(
        (await new TestClient(server.url).login('grace@example.test', 'a-long-password')).status,
      ).toBe(200);
      const again = await new TestClient(server.url).send('POST', '/api/v1/invites/register', {
        token: made.body.token,
        email: 'grace@example.test',
        name: 'Grace again',
        password: 'another-password',
      });
      expect(again.body.error).toMatchObject({ code: 'CONFLICT', details: { field: 'email' } });
      const short = await new TestClient(server.url).send('POST', '/api/v1/invites/register', {
        token: made.body.token,
        email: 'kurt@example.test',
        name: 'Kurt',
        password: 'short',
      });
      expect(short.body.error.code).toBe('VALIDATION');
      const listed = await as.admin!.send('GET', invitesOf(classA.id));
      expect(listed.body.items.find((i: { id: string }) => i.id === made.body.id).uses).toBe(1);
    },
  );

  it.skipIf(kind.skipReason)(
    'admits exactly the uses a link allows under parallel joins',
    async () => {
      const made = await as.teacher!.send('POST', invitesOf(classA.id), { maxUses: 3 });
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          new TestClient(server.url).send('POST', '/api/v1/invites/register', {
            token: made.body.token,
            email: `racer-${i}@example.test`,
            name: `Racer ${i}`,
            password: 'a-long-password',
          }),
        ),
      );
      expect(answers.filter((answer) => answer.status === 201)).toHaveLength(3);
      expect(answers.filter((answer) => answer.status === 404)).toHaveLength(5);
    },
  );
});
