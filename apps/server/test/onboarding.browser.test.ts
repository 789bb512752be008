import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');

const skipReason = browserSkipReason();

/**
 * Bringing a class in, in Chromium: an instructor makes an invite link on the members page; a
 * newcomer opens it, creates an account and lands in the class; someone with an account signs in
 * through it and joins. A tenant admin imports a roster; a new account's one-time link signs it
 * in and it sets its password.
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
});
