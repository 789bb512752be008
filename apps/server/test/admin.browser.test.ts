import fs from 'node:fs';
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
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** API paths whose answers are for admins only: none may succeed for someone else. */
const ADMIN_ONLY_API = /\/api\/v1\/(host|users|audit|tenants\/[^/]+\/(members|usage))(\?|$)/;

const skipReason = browserSkipReason();

describe.skipIf(skipReason)('the admin pages in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let classA: { id: string };
  let classB: { id: string };

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const knex = database.knex;
    classA = await createFixtureTenant(knex, 'Class A');
    classB = await createFixtureTenant(knex, 'Class B');
    await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    const adminA = await createFixtureUser(knex, 'ada@example.test', {
      tenantId: classA.id,
      role: 'admin',
    });
    const student = await createFixtureUser(knex, 'sam@example.test', {
      tenantId: classA.id,
      role: 'member',
    });
    const studentB = await createFixtureUser(knex, 'bea@example.test', {
      tenantId: classB.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'cleo@example.test', { tenantId: classA.id, role: 'member' });
    // VM time of real users of Class A: closed intervals on several days (one across midnight)
    // and one still running.
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const interval = (
      userId: string,
      from: number,
      hours: number | null,
      tenantId = classA.id,
    ) => ({
      tenant_id: tenantId,
      user_id: userId,
      vcpus: 1,
      memory_mib: 256,
      started_at: new Date(from),
      ended_at: hours === null ? null : new Date(from + hours * HOUR_MS),
    });
    await knex('usage_intervals').insert([
      interval(student.id, today - 12 * DAY_MS + 9 * HOUR_MS, 2),
      interval(student.id, today - 8 * DAY_MS + 22 * HOUR_MS, 5),
      interval(student.id, today - 3 * DAY_MS + 14 * HOUR_MS, 1.5),
      interval(student.id, today - DAY_MS + 10 * HOUR_MS, 3),
      interval(adminA.id, today - 8 * DAY_MS + 9 * HOUR_MS, 2.5),
      interval(adminA.id, today - 2 * DAY_MS + 8 * HOUR_MS, 6),
      interval(adminA.id, Date.now() - HOUR_MS, null),
      interval(studentB.id, today - DAY_MS + 8 * HOUR_MS, 9, classB.id),
    ]);
    // Enough failed sign-ins to need a second page of the audit log.
    await knex('audit_log').insert(
      Array.from({ length: 55 }, (_, index) => ({
        action: 'auth.login.failed',
        details: JSON.stringify({ email: `guess-${index}@example.test` }),
        ip: '127.0.0.1',
      })),
    );
    server = await startTestServer(database, { webHandler: await createPortalHandler(WEB_DIR) });
    browser = await launchBrowser();
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
  });

  /** A fresh browser context signed in as the user, with every admin-only API answer it gets. */
  async function signIn(email: string) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const adminAnswers: Array<{ url: string; status: number }> = [];
    page.on('response', (response) => {
      if (ADMIN_ONLY_API.test(response.url()))
        adminAnswers.push({ url: response.url(), status: response.status() });
    });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(FIXTURE_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    return { page, adminAnswers };
  }

  async function expectRefusal(page: Page, pathname: string) {
    await page.goto(`${server.url}${pathname}`);
    await page.getByRole('heading', { name: 'You are not allowed to see this page' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Admin' }).count()).toBe(0);
    expect(await page.getByRole('navigation', { name: 'Tenant' }).count()).toBe(0);
  }

  it('refuses the admin pages and other tenants’ pages to a member', async () => {
    const { page, adminAnswers } = await signIn('sam@example.test');
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await expectRefusal(page, '/admin');
    expect(await page.locator('main').textContent()).toContain('Only platform admins can do this.');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-refused.png') });
    await expectRefusal(page, '/admin/users');
    await expectRefusal(page, '/admin/audit');
    await expectRefusal(page, `/tenants/${classB.id}/members`);
    expect(await page.locator('main').textContent()).toContain('No such tenant.');
    await expectRefusal(page, `/tenants/${classB.id}/usage`);
    // Their own tenant's admin pages too: they are a plain member there.
    await expectRefusal(page, `/tenants/${classA.id}/members`);
    await expectRefusal(page, `/tenants/${classA.id}/usage`);
    expect(adminAnswers.length).toBeGreaterThanOrEqual(7);
    expect(adminAnswers.filter((answer) => answer.status < 400)).toEqual([]);
    await page.close();
  });

  it('lets a platform admin create a tenant, set its quota, add a member and read the audit log', async () => {
    const { page } = await signIn('root@example.test');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'This host' }).waitFor();
    expect(await page.locator('main').textContent()).toContain('TCG (software emulation)');

    await page.getByLabel("New tenant's name").fill('Physics 101');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('status').getByText('Created tenant Physics 101.').waitFor();
    const physics = page.getByRole('listitem', { name: 'Physics 101' });
    await physics.getByRole('button', { name: 'Edit quota of Physics 101' }).click();
    const quotaForm = page.getByRole('form', { name: 'Quota of Physics 101' });
    const limits = {
      'Running VMs': '3',
      vCPUs: '6',
      'Memory (MiB)': '3072',
      'Disk (GiB)': '40',
      Snapshots: '10',
      'VM-hours this month (h)': '120',
    };
    for (const [label, value] of Object.entries(limits))
      await quotaForm.getByLabel(label, { exact: true }).fill(value);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-quota-form.png') });
    await quotaForm.getByRole('button', { name: 'Save quota' }).click();
    await page.getByRole('status').getByText('Saved the quota of Physics 101.').waitFor();
    await physics.getByText('0 / 3,072 MiB').waitFor();
    expect(
      await physics.getByRole('meter', { name: 'Running VMs' }).getAttribute('aria-valuetext'),
    ).toBe('0 / 3');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-tenants.png'), fullPage: true });

    await physics.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('heading', { name: 'Physics 101: members' }).waitFor();
    await page.getByText('This tenant has no members yet.').waitFor();
    await page.getByLabel('Email').fill('cleo@example.test');
    await page.getByLabel('Role', { exact: true }).selectOption('instructor');
    await page.getByRole('button', { name: 'Add member' }).click();
    const row = page.getByRole('row', { name: /cleo/ });
    await row.waitFor();
    expect(await row.getByLabel('Role of cleo').inputValue()).toBe('instructor');
    await row.getByLabel('Role of cleo').selectOption('admin');
    await page.getByRole('status').getByText('cleo is now admin.').waitFor();

    await row.getByRole('button', { name: 'Edit limits of cleo' }).click();
    const limitsForm = page.getByRole('form', { name: 'Limits of cleo' });
    await limitsForm.getByLabel('Running VMs').fill('5');
    await limitsForm.getByRole('button', { name: 'Save limits' }).click();
    await page
      .getByRole('alert')
      .getByText('Member limits must fit inside the tenant quota: at most 3 running VMs.')
      .waitFor();
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'tenant-member-limits.png') });
    await limitsForm.getByLabel('Running VMs').fill('2');
    await limitsForm.getByLabel('vCPUs').fill('4');
    await limitsForm.getByRole('button', { name: 'Save limits' }).click();
    await page.getByRole('status').getByText('Saved the limits of cleo.').waitFor();
    await row.getByText('2 VMs · 4 vCPUs').waitFor();
    await page.screenshot({
      path: path.join(SCREENSHOT_DIR, 'tenant-members.png'),
      fullPage: true,
    });

    await page.goto(`${server.url}/admin/users`);
    await page.getByRole('heading', { name: 'Accounts' }).waitFor();
    await page.getByLabel('Email').fill('dana@example.test');
    await page.getByLabel('Name').fill('Dana');
    await page.getByLabel('Password').fill('dana-password-1');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('row', { name: /dana@example\.test/ }).waitFor();
    const bea = page.getByRole('row', { name: /bea@example\.test/ });
    await bea.getByRole('button', { name: 'Disable bea@example.test' }).click();
    await bea.getByRole('button', { name: 'Disable account' }).click();
    await bea.getByText('Disabled', { exact: true }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-users.png'), fullPage: true });
    const refused = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bea@example.test', password: FIXTURE_PASSWORD }),
    });
    expect(refused.status).toBe(401);

    await page
      .getByRole('navigation', { name: 'Admin' })
      .getByRole('link', { name: 'Audit log' })
      .click();
    await page.getByRole('heading', { name: 'Entries, newest first' }).waitFor();
    await page.getByLabel('Tenant').selectOption({ label: 'Physics 101' });
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const actionCells = page.locator('table.audit tbody td:nth-child(3)');
    await expect
      .poll(async () => (await actionCells.allTextContents()).sort())
      .toEqual(['member.add', 'member.limits', 'member.role', 'quota.update', 'tenant.create']);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-audit.png'), fullPage: true });

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Action').fill('auth.login.failed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => actionCells.count()).toBe(50);
    await page.getByRole('button', { name: 'Show older entries' }).click();
    // 55 written above and the refused sign-in of the disabled account.
    await expect.poll(() => actionCells.count()).toBe(56);
    expect(new Set(await actionCells.allTextContents())).toEqual(new Set(['auth.login.failed']));
    await page.getByText('That is the oldest entry.').waitFor();

    // A tenant without VMs can be deleted; its members lose only that membership.
    await page
      .getByRole('navigation', { name: 'Admin' })
      .getByRole('link', { name: 'Tenants' })
      .click();
    await physics.getByRole('button', { name: 'Delete Physics 101' }).click();
    await physics.getByRole('button', { name: 'Delete tenant' }).click();
    await page.getByRole('status').getByText('Deleted tenant Physics 101.').waitFor();
    await expect.poll(() => physics.count()).toBe(0);
    await page.close();
  });

  it('shows a tenant admin the VM-hours of their members per day', async () => {
    const { page, adminAnswers } = await signIn('ada@example.test');
    await page.goto(`${server.url}/tenants/${classA.id}/usage`);
    await page.getByRole('heading', { name: 'Class A: usage' }).waitFor();
    const chart = page.getByRole('img', { name: /VM-hours per day and member/ });
    await chart.waitFor();
    const legend = page.getByRole('list', { name: 'Members' });
    expect(await legend.textContent()).toContain('sam11.5 h');
    // 2.5 + 6 closed hours and about one hour still running.
    expect(await legend.textContent()).toMatch(/ada9\.[5-9]\d* h/);
    // The interval across midnight is split: 2 h on its first day, 3 h on the next.
    const day = (offset: number) =>
      new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - offset * DAY_MS)
        .toISOString()
        .slice(0, 10);
    await page.getByText('Show the numbers as a table').click();
    const cells = async (date: string) =>
      page
        .getByRole('row', { name: new RegExp(`^${date}`) })
        .getByRole('cell')
        .allTextContents();
    expect(await cells(day(8))).toEqual(['2.5', '2', '4.5']);
    expect(await cells(day(7))).toEqual(['0', '3', '3']);
    expect(await chart.locator('rect title').allTextContents()).toContain(
      `${new Date(`${day(1)}T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' })}: sam, 3 VM-hours`,
    );
    expect(await page.locator('main').textContent()).not.toContain('bea');
    await page.getByText('Show the numbers as a table').click();
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'tenant-usage.png'), fullPage: true });

    await page
      .getByRole('navigation', { name: 'Tenant' })
      .getByRole('link', { name: 'Members' })
      .click();
    await page.getByRole('heading', { name: 'Class A: members' }).waitFor();
    await page.getByRole('row', { name: /sam/ }).waitFor();
    await expectRefusal(page, '/admin');
    await expectRefusal(page, `/tenants/${classB.id}/usage`);
    expect(
      adminAnswers.filter((answer) => answer.status < 400 && !answer.url.includes(classA.id)),
    ).toEqual([]);
    await page.close();
  });
});
