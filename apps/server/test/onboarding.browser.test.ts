import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { LTI_ROLES, TestLtiPlatform } from './support/lti-platform.js';
import { startTestServer, type TestServer } from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');

const skipReason = browserSkipReason() ?? guestSkipReason();

/**
 * Bringing a class in, in Chromium: an instructor makes an invite link on the members page; a
 * newcomer opens it, creates an account and lands in the class; someone with an account signs in
 * through it and joins. A tenant admin imports a roster; a new account's one-time link signs it
 * in and it sets its password. A tenant admin registers the class's learning platform; a student
 * opens the course link there and lands in their lab's terminal.
 */
describe.skipIf(skipReason)('bringing a class in, in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let tenantId: string;

  const signIn = async (page: Page, email: string) => {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(FIXTURE_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    tenantId = (await createFixtureTenant(database.knex, 'Compilers')).id;
    await createFixtureUser(database.knex, 'prof@uni.example', { tenantId, role: 'instructor' });
    await createFixtureUser(database.knex, 'existing@uni.example');
    await createFixtureUser(database.knex, 'head@uni.example', { tenantId, role: 'admin' });
    const imageId = await registerTinyImage(database.knex);
    await database.knex('tenants').where({ id: tenantId }).update({ default_image_id: imageId });
    server = await startTestServer(database, { webHandler: await createPortalHandler(WEB_DIR) });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
  });

  it('makes a link that a newcomer and an account holder join the class with', async () => {
    const instructor = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await instructor.goto(`${server.url}/login`);
    await signIn(instructor, 'prof@uni.example');
    await instructor.getByRole('heading', { name: 'My labs' }).waitFor();
    await instructor.goto(`${server.url}/tenants/${tenantId}/members`);
    await instructor.getByRole('heading', { name: 'Invite links' }).waitFor();
    // Instructors invite members only: no role to choose.
    expect(await instructor.getByLabel('Joins as').count()).toBe(0);
    await instructor.getByLabel('Allowed domains').fill('uni.example');
    await instructor.getByRole('button', { name: 'Make an invite link' }).click();
    const shown = instructor.getByRole('status', { name: 'New invite link' });
    const link = (await shown.locator('code').innerText()).trim();
    expect(link).toMatch(new RegExp(`^${server.url}/join/lvi_`));
    await instructor.getByText(/Member link for @uni.example/).waitFor();
    await instructor.screenshot({
      path: path.join(SCREENSHOT_DIR, 'invite-links.png'),
      fullPage: true,
    });

    const newcomer = await browser.newContext({ viewport: { width: 1024, height: 800 } });
    const page = await newcomer.newPage();
    await page.goto(link);
    await page.getByRole('heading', { name: 'Join Compilers' }).waitFor();
    await page.getByText('This link adds you to Compilers as a member').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'join.png'), fullPage: true });
    await page.getByLabel('Name').fill('Ada');
    await page.getByLabel('Email').fill('ada@uni.example');
    await page.getByLabel('Password (at least 8 characters)').fill('a-long-password');
    await page.getByRole('button', { name: 'Create my account and join' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    // In the class: the launch form is offered (not "You are not in any class or team yet").
    await page.getByRole('button', { name: 'Launch lab' }).waitFor();

    const holder = await browser.newContext();
    const second = await holder.newPage();
    await second.goto(link);
    await second.getByRole('link', { name: 'I have an account: sign in' }).click();
    await second.waitForURL(/\/login\?next=/);
    await signIn(second, 'existing@uni.example');
    await second.getByRole('button', { name: 'Join Compilers as existing@uni.example' }).click();
    await second.getByRole('heading', { name: 'My labs' }).waitFor();
    await second.getByRole('button', { name: 'Launch lab' }).waitFor();

    await instructor.reload();
    await instructor.getByText(/2 joined/).waitFor();
    await newcomer.close();
    await holder.close();
  });

  it('imports a roster after a preview, and a new account signs in by its link and sets a password', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const admin = await context.newPage();
    await admin.goto(`${server.url}/login`);
    await signIn(admin, 'head@uni.example');
    await admin.getByRole('heading', { name: 'My labs' }).waitFor();
    await admin.goto(`${server.url}/tenants/${tenantId}/members`);
    await admin.getByRole('heading', { name: 'Import a roster' }).waitFor();
    await admin.getByLabel('Roster (CSV)').setInputFiles({
      name: 'roster.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('email,name,role\ngrace@uni.example,Grace Hopper,\nnot-an-email,X,\n'),
    });
    const rows = admin.getByRole('table', { name: 'Roster rows' });
    await rows.getByText('not an email address', { exact: false }).waitFor();
    await admin.getByText(/Preview: 1 new accounts/).waitFor();
    await admin.getByRole('button', { name: 'Import 1 rows' }).click();
    await admin.getByText(/Imported: 1 new accounts/).waitFor();
    const link = (await rows.locator('code.secret').innerText()).trim();
    expect(link).toMatch(new RegExp(`^${server.url}/signin/lvl_`));
    await admin.screenshot({
      path: path.join(SCREENSHOT_DIR, 'roster-import.png'),
      fullPage: true,
    });

    const newcomer = await browser.newContext();
    const page = await newcomer.newPage();
    await page.goto(link);
    await page.getByRole('heading', { name: 'Profile' }).waitFor();
    await page.getByText('Your account has no password yet').waitFor();
    await page.getByLabel('New password (at least 8 characters)').fill('grace-password');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByText('Your password is set.').waitFor();
    await context.close();
    await newcomer.close();
  });

  it('registers the learning platform, and a student launched from the course lands in their lab', async () => {
    // The platform on another site (localhost) than Labvisor (127.0.0.1), as in real life.
    const platform = await TestLtiPlatform.start(server.url, 'localhost');
    try {
      const admin = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      await admin.goto(`${server.url}/login`);
      await signIn(admin, 'head@uni.example');
      await admin.getByRole('heading', { name: 'My labs' }).waitFor();
      await admin.goto(`${server.url}/tenants/${tenantId}`);
      await admin.getByRole('link', { name: 'Learning platform' }).click();
      await admin.getByRole('heading', { name: 'Compilers: learning platform' }).waitFor();
      await admin.getByText(`${server.url}/lti/login`).waitFor();
      await admin.getByText(`${server.url}/lti/launch`).waitFor();
      const registration = platform.registration();
      await admin.getByLabel('Issuer').fill(registration.issuer);
      await admin.getByLabel('Client id').fill(registration.clientId);
      await admin.getByLabel('Deployment id').fill(registration.deploymentId);
      await admin.getByLabel('Authentication request URL').fill(registration.authorizationUrl);
      await admin.getByLabel('Public key set URL').fill('http://lms.example.test/jwks');
      await admin.getByRole('button', { name: 'Register the platform' }).click();
      await admin.getByText(/keySetUrl: must be an https URL/).waitFor();
      await admin.getByLabel('Public key set URL').fill(registration.keySetUrl);
      await admin.getByRole('button', { name: 'Register the platform' }).click();
      await admin.getByText('Platform registered.').waitFor();
      await admin.getByRole('cell', { name: registration.deploymentId, exact: true }).waitFor();
      await admin.screenshot({
        path: path.join(SCREENSHOT_DIR, 'lti-platform.png'),
        fullPage: true,
      });
      await admin.close();

      const person = platform.addPerson({
        email: 'linus@uni.example',
        name: 'Linus',
        roles: [LTI_ROLES.learner],
      });
      const student = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await student.newPage();
      await page.goto(`${platform.url}/course?person=${person}`);
      await page.getByRole('button', { name: 'Open the lab' }).click();
      await page.waitForURL(new RegExp(`^${server.url}/vms/[0-9a-f-]{36}$`));
      await page.getByRole('heading', { name: /linus-NET101/ }).waitFor();
      const terminal = page.getByRole('region', { name: 'Serial terminal' });
      await terminal.locator('.xterm-rows').waitFor({ timeout: 90_000 });
      await terminal.click();
      await page.keyboard.press('Enter');
      await expect
        .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 60_000 })
        .toMatch(/# *$/m);
      await page.keyboard.type('echo course-$((6*7))');
      await page.keyboard.press('Enter');
      await expect
        .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
        .toContain('course-42');
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'lti-launch.png') });
      expect(platform.refusals).toEqual([]);
      await student.close();
    } finally {
      await platform.close();
    }
  });
});
