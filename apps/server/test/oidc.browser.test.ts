import net from 'node:net';
import Provider from 'oidc-provider';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { parseJoinRules } from '../src/domain/auth/sso-provisioning.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { createFixtureTenant, createFixtureUser } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const CLIENT = { clientId: 'labvisor', clientSecret: 'a-client-secret-for-tests' };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// A real OpenID Connect provider (oidc-provider, with its development login pages) on loopback.
describe.skipIf(browserSkipReason())('single sign-on with OpenID Connect', () => {
  let server: TestServer;
  /** A second server that makes accounts for first-time identities and joins them by domain. */
  let provisioning: TestServer;
  let browser: Browser;
  let providerServer: import('node:http').Server;

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const tenant = await createFixtureTenant(database.knex, 'Class A');
    await createFixtureUser(database.knex, 'student@example.test', { tenantId: tenant.id });
    const issuer = `http://127.0.0.1:${await freePort()}`;
    server = await startTestServer(database, {
      oidc: { issuer, ...CLIENT },
      webHandler: await createPortalHandler(WEB_DIR),
    });
    const second = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(second.knex);
    await createFixtureTenant(second.knex, 'Campus lab');
    provisioning = await startTestServer(second, {
      oidc: {
        issuer,
        ...CLIENT,
        provisioning: {
          createAccounts: true,
          joinRules: parseJoinRules('domain:campus.example=Campus lab:member'),
        },
      },
      webHandler: await createPortalHandler(WEB_DIR),
    });
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret,
          redirect_uris: [server.url, provisioning.url].map(
            (url) => `${url}/api/v1/auth/oidc/callback`,
          ),
        },
      ],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // The login is the subject; its email is the part after a `name:` prefix, if any (so
      // `impostor:student@example.test` is another identity claiming the same email).
      findAccount: async (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: async () => ({
          sub,
          email: sub.slice(sub.indexOf(':') + 1),
          email_verified: !sub.startsWith('unverified'),
        }),
      }),
    });
    providerServer = provider.listen(Number(new URL(issuer).port));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    providerServer?.close();
    await server?.close();
    await server?.database.close();
    await provisioning?.close();
    await provisioning?.database.close();
  });

  /** Goes through the provider's login and consent pages as `login`; returns the page after. */
  async function signInAs(login: string, on = server) {
    const page = await browser.newPage();
    await page.goto(`${on.url}/login`);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('anything');
    await page.locator('button[type=submit]').click();
    await page.getByRole('button', { name: /continue/i }).click();
    return page;
  }

  it('signs in a known user by their verified email', async () => {
    const page = await signInAs('student@example.test');
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    expect(await page.locator('header').textContent()).toContain('student@example.test');
    const audit = await server.database.knex('audit_log').where({ action: 'auth.login' }).first();
    expect(audit.details).toEqual({ via: 'oidc' });
    await page.close();
  });

  it('refuses an unknown or unverified email with a sentence on the sign-in page', async () => {
    for (const [login, message] of [
      [
        'stranger@example.test',
        'There is no Labvisor account for stranger@example.test. Ask your administrator to add you.',
      ],
      ['unverified@example.test', 'Your single sign-on account has no verified email address.'],
    ]) {
      const page = await signInAs(login!);
      await page.waitForURL('**/login?error=*');
      await expect.poll(() => page.locator('form [role=alert]').textContent()).toBe(message);
      await page.close();
    }
  });

  it('binds the account to the identity that first signed in, refusing another claiming its email', async () => {
    const row = await server.database
      .knex('users')
      .where({ email: 'student@example.test' })
      .first();
    expect(row).toMatchObject({ oidc_subject: 'student@example.test' });
    const page = await signInAs('impostor:student@example.test');
    await page.waitForURL('**/login?error=*');
    await expect
      .poll(() => page.locator('form [role=alert]').textContent())
      .toBe(
        'The Labvisor account of student@example.test belongs to another single sign-on identity.',
      );
    await page.close();
  });

  it('refuses a callback that was not started here', async () => {
    const answer = await fetch(`${server.url}/api/v1/auth/oidc/callback?code=forged&state=forged`, {
      redirect: 'manual',
    });
    expect(answer.status).toBe(302);
    expect(decodeURIComponent(answer.headers.get('location')!)).toContain(
      'The sign-in took too long or was started elsewhere',
    );
    expect((await new TestClient(server.url).send('GET', '/api/v1/auth/providers')).body).toEqual({
      password: true,
      oidc: true,
    });
  });

  it('makes an account for a first-time identity and joins it by its email domain, when set to', async () => {
    const page = await signInAs('newcomer@campus.example', provisioning);
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    // In the tenant its domain's rule names: the launch form is offered.
    await page.getByRole('button', { name: 'Launch lab' }).waitFor();
    const user = await provisioning.database
      .knex('users')
      .where({ email: 'newcomer@campus.example' })
      .first();
    expect(user).toMatchObject({ password_hash: null, oidc_subject: 'newcomer@campus.example' });
    const membership = await provisioning.database
      .knex('memberships')
      .where({ user_id: user.id })
      .first();
    expect(membership.role).toBe('member');
    await page.close();
    // Another domain gets an account but joins nothing.
    const other = await signInAs('visitor@elsewhere.example', provisioning);
    await other.getByRole('heading', { name: 'My labs' }).waitFor();
    await other.getByText('You are not in any class or team yet').waitFor();
    await other.close();
  });
});
