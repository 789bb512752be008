import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import {
  browserSkipReason,
  launchBrowser,
  signIn as signInAs,
  WEB_DIR,
} from './support/browser.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');

const skipReason = browserSkipReason() ?? guestSkipReason();

/** The visible text of an xterm.js terminal. */
const screenText = (terminal: Locator) => terminal.locator('.xterm-rows').innerText();

/**
 * The profile (API tokens), the VM page's snapshots and activity, and the instructor's class view,
 * in Chromium against the real server and one tiny VM that every test reuses.
 */
describe.skipIf(skipReason)('profile, snapshots and the class view in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let tenantId: string;
  let vmId: string;
  let student: BrowserContext;
  let studentPage: Page;

  const signIn = (context: BrowserContext, email: string) => signInAs(context, server.url, email);
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOT_DIR, name), fullPage: true });

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Networks 101')).id;
    await createFixtureUser(knex, 'ana@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'teacher@example.test', { tenantId, role: 'instructor' });
    const imageId = await registerTinyImage(knex);
    server = await startTestServer(database, { webHandler: await createPortalHandler(WEB_DIR) });
    browser = await launchBrowser();
    // The one VM of this file boots while the first test runs.
    const ana = new TestClient(server.url);
    await ana.login('ana@example.test', FIXTURE_PASSWORD);
    const created = await ana.send('POST', '/api/v1/vms', {
      tenantId,
      name: 'ana-lab',
      imageId,
      vcpus: 1,
      memoryMib: 128,
      diskGib: 1,
    });
    expect(created.status).toBe(201);
    vmId = created.body.id;
    student = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
  });

  it('creates an API token on the profile, shows it once, and revokes it', async () => {
    const page = await signIn(student, 'ana@example.test');
    await page.getByRole('link', { name: 'ana@example.test' }).click();
    await page.getByRole('heading', { name: 'Profile' }).waitFor();
    const account = page.getByRole('region', { name: 'Account' });
    expect(await account.innerText()).toContain('ana@example.test');
    expect(await page.getByRole('region', { name: 'Classes and teams' }).innerText()).toMatch(
      /Networks 101\s+Member/,
    );

    await page.getByLabel('Token name').fill('grading script');
    await page.getByLabel('Expires after').selectOption({ label: '30 days' });
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('region', { name: 'New token' });
    expect(await shown.innerText()).toContain('it will not be shown again');
    const secret = await shown.locator('code.secret').innerText();
    await shot(page, 'profile-new-token.png');

    // The token is real: a script signs in with it.
    const asScript = (token: string) =>
      fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    const me = await asScript(secret);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe('ana@example.test');

    await page.getByRole('button', { name: 'Done' }).click();
    expect(await shown.count()).toBe(0);
    await page.reload();
    const row = page.getByRole('row', { name: /grading script/ });
    await expect.poll(() => row.innerText()).toContain('just now');
    await shot(page, 'profile.png');

    await page.getByRole('button', { name: 'Revoke grading script' }).click();
    await page.getByText('Scripts using it stop working at once').waitFor();
    await page.getByRole('button', { name: 'Revoke “grading script”' }).click();
    await page.getByText('No API tokens').waitFor();
    expect((await asScript(secret)).status).toBe(401);
    await page.close();
  });

  it('takes a snapshot with memory on the VM page and restores it', async () => {
    studentPage = await student.newPage();
    const page = studentPage;
    await page.goto(`${server.url}/vms/${vmId}`);
    await page
      .getByRole('heading', { name: /ana-lab/ })
      .getByText('Running')
      .waitFor({
        timeout: 60_000,
      });
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await page.keyboard.press('Enter');
    await expect.poll(() => screenText(terminal), { timeout: 30_000 }).toMatch(/# *$/m);
    await page.keyboard.type('export MARK=kept-$((40+2)); echo set-$((1+1))');
    await page.keyboard.press('Enter');
    await expect.poll(() => screenText(terminal), { timeout: 30_000 }).toContain('set-2');

    await page.getByLabel('Snapshot name').fill('checkpoint');
    await page.getByLabel(/Include memory/).check();
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    const timeline = page.getByRole('list', { name: 'Snapshots, newest first' });
    const entry = timeline.getByRole('listitem').filter({ hasText: 'checkpoint' });
    await entry.getByText('Current').waitFor({ timeout: 60_000 });
    expect(await entry.innerText()).toContain('disk and memory');

    await terminal.click();
    await page.keyboard.type('export MARK=lost; echo reset-$((1+2))');
    await page.keyboard.press('Enter');
    await expect.poll(() => screenText(terminal), { timeout: 30_000 }).toContain('reset-3');

    await page.getByRole('button', { name: 'Restore checkpoint' }).click();
    await page.getByText('Everything changed on ana-lab since it was taken is lost').waitFor();
    await page.getByRole('region', { name: 'Snapshots' }).screenshot({
      path: path.join(SCREENSHOT_DIR, 'vm-restore-confirm.png'),
    });
    await page.getByRole('button', { name: 'Restore “checkpoint”' }).click();
    await page.getByRole('status').getByText('Restoring “checkpoint”…').waitFor();
    await expect
      .poll(() => page.getByText('Restoring “checkpoint”…').count(), { timeout: 60_000 })
      .toBe(0);
    expect(await page.locator('.alert.error').allInnerTexts()).toEqual([]);

    await terminal.click();
    await page.keyboard.type('echo value=$MARK');
    await page.keyboard.press('Enter');
    await expect.poll(() => screenText(terminal), { timeout: 30_000 }).toContain('value=kept-42');

    // A refusal reads as a sentence: the class may keep one snapshot.
    await server.database.knex('quotas').where({ tenant_id: tenantId }).update({ snapshots: 1 });
    await page.getByLabel('Snapshot name').fill('second');
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    await page
      .locator('.alert.error')
      .getByText('Not enough quota for snapshots: 1 of 1 in use, 1 more requested.')
      .waitFor();
    expect(await timeline.getByRole('listitem').count()).toBe(1);

    const activity = page.getByRole('region', { name: 'Recent activity' });
    await expect
      .poll(() => activity.innerText())
      .toMatch(
        /ana restored snapshot “checkpoint”[\s\S]*ana took snapshot “checkpoint” with memory/,
      );
    await shot(page, 'vm-snapshots.png');
  });

  it("shows the instructor who is connected, and Watch cannot type into the student's VM", async () => {
    const teacher = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const classPage = await signIn(teacher, 'teacher@example.test');
    await classPage.getByRole('link', { name: 'Networks 101' }).click();
    await classPage.getByRole('heading', { name: 'Networks 101' }).waitFor();
    const row = classPage.getByRole('row', { name: /ana-lab/ });
    await expect.poll(() => row.innerText(), { timeout: 20_000 }).toContain('ana — terminal');
    expect(await row.innerText()).toContain('ana@example.test');
    await shot(classPage, 'class-view.png');

    // The class page follows the event stream: once it has read the class again on the stream's
    // opening, it sends no request while nothing changes.
    const requests: string[] = [];
    let lastRequestAt = Date.now();
    classPage.on('request', (request) => {
      requests.push(request.url());
      lastRequestAt = Date.now();
    });
    await expect.poll(() => Date.now() - lastRequestAt > 1500, { timeout: 10_000 }).toBe(true);
    requests.length = 0;
    await classPage.waitForTimeout(5000);
    expect(requests).toEqual([]);

    const watchPage = await teacher.newPage();
    await watchPage.goto(classPage.url());
    await watchPage.getByRole('link', { name: 'Watch ana-lab' }).click();
    await watchPage.getByText('You are watching: what you type is not sent to the VM.').waitFor();
    const watched = watchPage.getByRole('region', { name: 'Serial terminal' });
    await expect.poll(() => screenText(watched), { timeout: 30_000 }).toContain('value=kept-42');
    await expect
      .poll(() => row.innerText(), { timeout: 20_000 })
      .toContain('teacher — terminal, watching');
    await shot(classPage, 'class-view-watching.png');

    await watched.click();
    await watchPage.keyboard.type('echo watcher-$((6*7))');
    await watchPage.keyboard.press('Enter');
    const studentTerminal = studentPage.getByRole('region', { name: 'Serial terminal' });
    await studentTerminal.click();
    await studentPage.keyboard.type('echo student-$((5+5))');
    await studentPage.keyboard.press('Enter');
    await expect
      .poll(() => screenText(studentTerminal), { timeout: 30_000 })
      .toContain('student-10');
    await expect.poll(() => screenText(watched), { timeout: 30_000 }).toContain('student-10');
    expect(await screenText(studentTerminal)).not.toContain('watcher');
    expect(await screenText(watched)).not.toContain('watcher');
    await shot(watchPage, 'vm-watch.png');

    // The watcher's console closes with its tab, and the class page shows it at once.
    await watchPage.close();
    await expect.poll(() => row.innerText(), { timeout: 5000 }).not.toContain('teacher');
    expect(await row.innerText()).toContain('ana — terminal');

    // A member of the class may not open its class page.
    const refused = await student.newPage();
    await refused.goto(`${server.url}/tenants/${tenantId}`);
    const refusal = refused.getByRole('alert');
    await refusal.getByRole('heading', { name: 'You are not allowed to see this page' }).waitFor();
    await refusal.getByText('This needs the instructor role in the tenant.').waitFor();
    await shot(refused, 'class-view-refused.png');
    await teacher.close();
  });
});
