import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const ROSTER = [
  'email,name,role',
  'new.student@uni.example,"Student, New",',
  'known@uni.example,Known Person,member',
  'member@uni.example,,',
  'promoted@uni.example,Promoted,instructor',
  'not-an-email,Nobody,member',
  'odd@uni.example,Odd,boss',
  'known@uni.example,Known Again,member',
  'admin@uni.example,Me,member',
].join('\n');

describe.each(TEST_DATABASES)('roster imports and sign-in links on $name', (kind) => {
  let server: TestServer;
  let tenantId: string;
  let admin: TestClient;
  let teacher: TestClient;
  const rosterPath = () => `/api/v1/tenants/${tenantId}/roster`;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Databases')).id;
    await createFixtureUser(knex, 'admin@uni.example', { tenantId, role: 'admin' });
    await createFixtureUser(knex, 'teacher@uni.example', { tenantId, role: 'instructor' });
    await createFixtureUser(knex, 'known@uni.example');
    await createFixtureUser(knex, 'member@uni.example', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'promoted@uni.example', { tenantId, role: 'member' });
    server = await startTestServer(database);
    admin = new TestClient(server.url);
    teacher = new TestClient(server.url);
    expect((await admin.login('admin@uni.example', FIXTURE_PASSWORD)).status).toBe(200);
    expect((await teacher.login('teacher@uni.example', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  const outcomes = (rows: Array<{ line: number; outcome: string; reason: string | null }>) =>
    rows.map((row) => [row.line, row.outcome, row.reason]);
  const expected = [
    [2, 'new-account', null],
    [3, 'added', null],
    [4, 'already-member', null],
    [5, 'role-changed', null],
    [6, 'refused', 'Not an email address.'],
    [7, 'refused', 'Unknown role "boss" (member, instructor or admin).'],
    [8, 'refused', 'Listed twice (first on line 3).'],
    [9, 'refused', 'An import does not change your own role.'],
  ];

  it.skipIf(kind.skipReason)('previews a roster row by row, changing nothing', async () => {
    const users = await server.database.knex('users').count<{ count: string }[]>('* as count');
    const preview = await admin.send('POST', `${rosterPath()}?dryRun=1`, { csv: ROSTER });
    expect(preview.status).toBe(200);
    expect(preview.body.applied).toBe(false);
    expect(outcomes(preview.body.rows)).toEqual(expected);
    expect(preview.body.counts).toEqual({
      'new-account': 1,
      added: 1,
      'role-changed': 1,
      'already-member': 1,
      refused: 4,
    });
    expect(preview.body.rows[0]).toMatchObject({ name: 'Student, New', signInPath: null });
    expect(await server.database.knex('users').count<{ count: string }[]>('* as count')).toEqual(
      users,
    );
    expect((await teacher.send('POST', rosterPath(), { csv: ROSTER })).body.error.code).toBe(
      'FORBIDDEN',
    );
    const empty = await admin.send('POST', rosterPath(), { csv: 'email,name\n\n' });
    expect(empty.body.error).toMatchObject({ code: 'VALIDATION' });
  });

  it.skipIf(kind.skipReason)(
    'applies it in one go; a new account signs in once by its link and sets a password',
    async () => {
      const applied = await admin.send('POST', rosterPath(), { csv: ROSTER });
      expect(applied.body.applied).toBe(true);
      expect(outcomes(applied.body.rows)).toEqual(expected);
      const members = (await admin.send('GET', `/api/v1/tenants/${tenantId}/members`)).body
        .items as Array<{ email: string; role: string }>;
      expect(
        Object.fromEntries(members.map((member) => [member.email, member.role])),
      ).toMatchObject({
        'new.student@uni.example': 'member',
        'known@uni.example': 'member',
        'promoted@uni.example': 'instructor',
        'admin@uni.example': 'admin',
      });
      const audit = await server.database.knex('audit_log').where({ action: 'roster.import' });
      expect(audit).toHaveLength(1);

      const signInPath = applied.body.rows[0].signInPath as string;
      expect(signInPath).toMatch(/^\/signin\/lvl_/);
      const token = signInPath.slice('/signin/'.length);
      // No password was set or sent: only the link signs the new account in.
      const student = new TestClient(server.url);
      const signedIn = await student.send('POST', '/api/v1/auth/link', { token });
      expect(signedIn.status).toBe(200);
      expect(signedIn.body.user.email).toBe('new.student@uni.example');
      student.csrfToken = signedIn.body.csrfToken;
      const again = await new TestClient(server.url).send('POST', '/api/v1/auth/link', { token });
      expect(again.body.error).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(
        (await student.send('PUT', '/api/v1/me/password', { newPassword: 'my-own-password' }))
          .status,
      ).toBe(204);
      expect(
        (await new TestClient(server.url).login('new.student@uni.example', 'my-own-password'))
          .status,
      ).toBe(200);
      // Now that it has one, changing it asks for it.
      const unchecked = await student.send('PUT', '/api/v1/me/password', {
        newPassword: 'another-password',
      });
      expect(unchecked.body.error).toMatchObject({
        code: 'VALIDATION',
        details: { field: 'currentPassword' },
      });
    },
  );
});
