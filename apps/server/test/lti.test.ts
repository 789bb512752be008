import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { insertBlankImage, startServerOnFakeDriver } from './support/fake-vm.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { LTI_ROLES, TestLtiPlatform } from './support/lti-platform.js';
import { TestClient, type TestServer } from './support/test-server.js';

/** What the tool answered a launch's post: where it sends the browser, and its session cookie. */
interface LaunchAnswer {
  status: number;
  location: string;
  /** The refusal's sentence when the tool sent the browser to the sign-in page. */
  error: string | undefined;
  session: string | undefined;
}

describe.each(TEST_DATABASES)('LTI 1.3 launches on $name', (kind) => {
  let server: TestServer;
  let platform: TestLtiPlatform;
  let tenant: { id: string };
  let admin: TestClient;
  const platformsOf = (tenantId: string) => `/api/v1/tenants/${tenantId}/lti-platforms`;

  /** Starts a launch as the platform's course page does: the tool's answer to the login initiation. */
  async function beginLaunch(personId: string, params = platform.loginParams(personId)) {
    const answer = await fetch(`${server.url}/lti/login?${new URLSearchParams(params)}`, {
      redirect: 'manual',
    });
    const location = new URL(answer.headers.get('location')!, server.url);
    const cookie = answer.headers.getSetCookie().find((line) => line.startsWith('labvisor.lti.'));
    return {
      status: answer.status,
      location,
      state: location.searchParams.get('state') ?? '',
      nonce: location.searchParams.get('nonce') ?? '',
      cookie: cookie?.split(';')[0],
      cookieAttributes: cookie,
    };
  }

  /** Posts the platform's form (as the browser does) to the tool's launch endpoint. */
  async function postLaunch(form: Record<string, string>, cookie?: string): Promise<LaunchAnswer> {
    const answer = await fetch(`${server.url}/lti/launch`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(cookie ? { cookie } : {}),
      },
      body: new URLSearchParams(form),
    });
    const location = answer.headers.get('location') ?? '';
    const session = answer.headers
      .getSetCookie()
      .find((line) => line.startsWith('labvisor.sid='))
      ?.split(';')[0];
    const error = location.startsWith('/login?')
      ? (new URLSearchParams(location.slice('/login?'.length)).get('error') ?? undefined)
      : undefined;
    return { status: answer.status, location, error, session };
  }

  /** A whole launch of a person, as their browser makes it. */
  async function launch(personId: string): Promise<LaunchAnswer> {
    const started = await beginLaunch(personId);
    const idToken = await platform.sign(platform.claimsFor(personId, started.nonce));
    return postLaunch({ id_token: idToken, state: started.state }, started.cookie);
  }

  /** The signed-in user of a session cookie. */
  async function meOf(session: string | undefined) {
    const client = new TestClient(server.url);
    return (await client.send('GET', '/api/v1/me', undefined, session ? { cookie: session } : {}))
      .body;
  }

  const count = async (table: string) =>
    Number(
      (
        await server.database
          .knex(table)
          .first<{ count: string }>(server.database.knex.raw('count(*)'))
      ).count,
    );

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    tenant = await createFixtureTenant(knex, 'Networks 101');
    await createFixtureUser(knex, 'lti-admin@example.test', { tenantId: tenant.id, role: 'admin' });
    await createFixtureUser(knex, 'lti-teacher@example.test', {
      tenantId: tenant.id,
      role: 'instructor',
    });
    await createFixtureUser(knex, 'taken@school.example');
    ({ server } = await startServerOnFakeDriver(database));
    const { imageId } = await insertBlankImage(knex, server.runDir);
    await knex('tenants').where({ id: tenant.id }).update({ default_image_id: imageId });
    platform = await TestLtiPlatform.start(server.url);
    admin = new TestClient(server.url);
    expect((await admin.login('lti-admin@example.test', FIXTURE_PASSWORD)).status).toBe(200);
    const registered = await admin.send('POST', platformsOf(tenant.id), platform.registration());
    expect(registered.status).toBe(201);
  });
  afterAll(async () => {
    await platform?.close();
    await server?.close();
    await server?.database.close();
  });

  it.skipIf(kind.skipReason)(
    'lets tenant admins register platforms, and refuses instructors, outsiders and bad URLs',
    async () => {
      const listed = await admin.send('GET', platformsOf(tenant.id));
      expect(listed.body.items).toEqual([
        expect.objectContaining({ ...platform.registration(), tenantId: tenant.id }),
      ]);
      const again = await admin.send('POST', platformsOf(tenant.id), platform.registration());
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(/registered already/);
      const plainHttp = await admin.send('POST', platformsOf(tenant.id), {
        ...platform.registration(),
        deploymentId: 'other',
        keySetUrl: 'http://lms.example.test/jwks',
      });
      expect(plainHttp.status).toBe(400);
      expect(JSON.stringify(plainHttp.body)).toMatch(/https/);
      const teacher = new TestClient(server.url);
      await teacher.login('lti-teacher@example.test', FIXTURE_PASSWORD);
      expect((await teacher.send('GET', platformsOf(tenant.id))).status).toBe(403);
      const other = await createFixtureTenant(server.database.knex, 'Elsewhere');
      expect((await admin.send('GET', platformsOf(other.id))).status).toBe(404);
    },
  );

  it.skipIf(kind.skipReason)(
    'signs a student in on their first launch, joins them to the class and opens the same lab each time',
    async () => {
      const student = platform.addPerson({
        email: 'ada@school.example',
        name: 'Ada Lovelace',
        roles: [LTI_ROLES.learner],
      });
      const started = await beginLaunch(student);
      expect(started.status).toBe(302);
      expect(`${started.location.origin}${started.location.pathname}`).toBe(`${platform.url}/auth`);
      expect(started.cookieAttributes).toMatch(/HttpOnly/i);
      expect(started.cookieAttributes).toMatch(/SameSite=None/i);
      const first = await postLaunch(
        {
          id_token: await platform.sign(platform.claimsFor(student, started.nonce)),
          state: started.state,
        },
        started.cookie,
      );
      expect(first.error).toBeUndefined();
      expect(first.status).toBe(303);
      expect(first.location).toMatch(/^\/vms\/[0-9a-f-]{36}$/);
      const me = await meOf(first.session);
      expect(me.user).toMatchObject({ email: 'ada@school.example', name: 'Ada Lovelace' });
      expect(me.memberships).toEqual([
        expect.objectContaining({ tenantId: tenant.id, role: 'member' }),
      ]);
      const vmId = first.location.slice('/vms/'.length);
      const vm = await new TestClient(server.url).send('GET', `/api/v1/vms/${vmId}`, undefined, {
        cookie: first.session!,
      });
      expect(vm.body).toMatchObject({ tenantId: tenant.id, ownerId: me.user.id });
      expect(vm.body.name).toBe('ada-NET101');

      const second = await launch(student);
      expect(second.location).toBe(first.location);
      expect((await meOf(second.session)).user.id).toBe(me.user.id);
      expect(await server.database.knex('vms').where({ owner_id: me.user.id })).toHaveLength(1);
    },
  );

  it.skipIf(kind.skipReason)(
    'makes instructors of course staff, raises a member the platform now calls an instructor, and never takes over an account by its email',
    async () => {
      const teacher = platform.addPerson({
        email: 'grace@school.example',
        roles: [LTI_ROLES.instructor],
      });
      const launched = await launch(teacher);
      expect(launched.location).toBe(`/tenants/${tenant.id}`);
      expect((await meOf(launched.session)).memberships[0].role).toBe('instructor');

      const sub = 'promoted-person';
      const learner = platform.addPerson({ sub, roles: [LTI_ROLES.learner] });
      expect((await meOf((await launch(learner)).session)).memberships[0].role).toBe('member');
      const promoted = platform.addPerson({ sub, roles: [LTI_ROLES.instructor] });
      const raised = await launch(promoted);
      expect(raised.location).toBe(`/tenants/${tenant.id}`);
      expect((await meOf(raised.session)).memberships[0].role).toBe('instructor');

      const claimant = platform.addPerson({
        email: 'taken@school.example',
        roles: [LTI_ROLES.learner],
      });
      const me = await meOf((await launch(claimant)).session);
      expect(me.user.email).toMatch(/^lti-[0-9a-f]{20}@lti\.invalid$/);
      const owner = await server.database.knex('users').where({ email: 'taken@school.example' });
      expect(owner[0].id).not.toBe(me.user.id);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses forged, replayed, expired and misdirected launches with a sentence, and makes nobody',
    async () => {
      const person = platform.addPerson({ roles: [LTI_ROLES.learner] });
      const users = await count('users');
      const refusedWith = async (answer: LaunchAnswer, sentence: RegExp) => {
        expect(answer.status).toBe(303);
        expect(answer.error).toMatch(sentence);
        expect(answer.session).toBeUndefined();
      };

      // Signed by a key not in the platform's key set.
      const forger = await generateKeyPair('RS256');
      let started = await beginLaunch(person);
      const forged = await platform.sign(platform.claimsFor(person, started.nonce), {
        key: forger.privateKey,
      });
      await refusedWith(
        await postLaunch({ id_token: forged, state: started.state }, started.cookie),
        /not signed by a key of the platform's key set/,
      );

      // The same post twice; then the old token with a fresh state.
      started = await beginLaunch(person);
      const token = await platform.sign(platform.claimsFor(person, started.nonce));
      const once = await postLaunch({ id_token: token, state: started.state }, started.cookie);
      expect(once.error).toBeUndefined();
      await refusedWith(
        await postLaunch({ id_token: token, state: started.state }, started.cookie),
        /unknown, already used or too old/,
      );
      const fresh = await beginLaunch(person);
      await refusedWith(
        await postLaunch({ id_token: token, state: fresh.state }, fresh.cookie),
        /nonce differs/,
      );

      // Another audience, an unregistered deployment, an expired token, no version.
      started = await beginLaunch(person);
      await refusedWith(
        await postLaunch(
          {
            id_token: await platform.sign(platform.claimsFor(person, started.nonce), {
              audience: 'another-tool',
            }),
            state: started.state,
          },
          started.cookie,
        ),
        /aud claim is not valid/,
      );
      started = await beginLaunch(person);
      await refusedWith(
        await postLaunch(
          {
            id_token: await platform.sign({
              ...platform.claimsFor(person, started.nonce),
              'https://purl.imsglobal.org/spec/lti/claim/deployment_id': 'unregistered',
            }),
            state: started.state,
          },
          started.cookie,
        ),
        /deployment "unregistered" .* is not registered/,
      );
      started = await beginLaunch(person);
      await refusedWith(
        await postLaunch(
          {
            id_token: await platform.sign(platform.claimsFor(person, started.nonce), {
              expiresIn: '-2m',
            }),
            state: started.state,
          },
          started.cookie,
        ),
        /expired/,
      );
      started = await beginLaunch(person);
      await refusedWith(
        await postLaunch(
          {
            id_token: await platform.sign({
              ...platform.claimsFor(person, started.nonce),
              'https://purl.imsglobal.org/spec/lti/claim/message_type': 'LtiDeepLinkingRequest',
            }),
            state: started.state,
          },
          started.cookie,
        ),
        /course links only/,
      );

      // Finished in a browser that did not start it (no state cookie).
      started = await beginLaunch(person);
      await refusedWith(
        await postLaunch({
          id_token: await platform.sign(platform.claimsFor(person, started.nonce)),
          state: started.state,
        }),
        /another browser/,
      );

      // A platform nobody registered.
      const unknown = await beginLaunch(person, {
        ...platform.loginParams(person),
        iss: 'https://unknown-lms.example.test',
      });
      expect(unknown.status).toBe(303);
      expect(unknown.location.pathname).toBe('/login');
      expect(unknown.location.searchParams.get('error')).toMatch(
        /has registered the learning platform https:\/\/unknown-lms/,
      );
      // Only the one good launch made an account.
      expect(await count('users')).toBe(users + 1);
    },
  );

  it.skipIf(kind.skipReason)(
    'signs the student in but says why when the class has no default image',
    async () => {
      await server.database
        .knex('tenants')
        .where({ id: tenant.id })
        .update({ default_image_id: null });
      try {
        const person = platform.addPerson({ roles: [LTI_ROLES.learner] });
        const launched = await launch(person);
        expect(launched.location).toMatch(/^\/\?error=/);
        expect(decodeURIComponent(launched.location)).toMatch(/has no default image/);
        expect((await meOf(launched.session)).memberships).toHaveLength(1);
      } finally {
        const image = await server.database.knex('images').first('id');
        await server.database
          .knex('tenants')
          .where({ id: tenant.id })
          .update({ default_image_id: image.id });
      }
    },
  );
});
