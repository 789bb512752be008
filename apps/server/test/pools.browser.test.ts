import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WEEKDAYS } from '@labvisor/shared';
import type { Browser, BrowserContext } from 'playwright-core';
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
import { createFixtureTenant, createFixtureUser } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');

const skipReason = browserSkipReason() ?? guestSkipReason();

/** A template build and a clone under TCG on a busy 2-core host. */
const POOL_FILL_TIMEOUT_MS = 180_000;

/**
 * An instructor keeps a lab ready on the tenant's warm pools page, and a student's launch from
 * My labs takes it: in Chromium, against the real server with templates, on one tiny guest.
 */
describe.skipIf(skipReason)('warm pools in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let runDir: string;
  let tenantId: string;

  const signIn = (context: BrowserContext, email: string) => signInAs(context, server.url, email);

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Shell 101')).id;
    await createFixtureUser(knex, 'lin@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'pool-teacher@example.test', { tenantId, role: 'instructor' });
    await registerTinyImage(knex);
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-pools-browser-'));
    server = await startTestServer(database, {
      webHandler: await createPortalHandler(WEB_DIR),
      engine: { runDir, driver: { templatesDir: path.join(runDir, '.templates') } },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('keeps a lab ready, hands it to a student’s launch, and empties the pool', async () => {
    const teacher = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(teacher, 'pool-teacher@example.test');
    await page.goto(`${server.url}/tenants/${tenantId}`);
    await page.getByRole('link', { name: 'Warm pools' }).click();
    await page.getByRole('heading', { name: 'Shell 101: warm pools' }).waitFor();
    await page.getByText('No warm pools').waitFor();
    await page.getByLabel('Labs kept ready').fill('1');
    await page.getByRole('button', { name: 'Keep them ready' }).click();
    await page.getByText('Keeping 1 tiny lab ready.').waitFor();
    const row = page.getByRole('row', { name: /tiny/ });
    // The page looks again while the pool fills: the template is built, then the clone paused.
    await expect
      .poll(async () => (await row.getByRole('cell').nth(3).innerText()).trim(), {
        timeout: POOL_FILL_TIMEOUT_MS,
        interval: 1000,
      })
      .toBe('1');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'warm-pools.png'), fullPage: true });

    const student = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const labs = await signIn(student, 'lin@example.test');
    await labs.getByLabel('Name').fill('lin-lab');
    await labs.getByRole('button', { name: 'Launch lab' }).click();
    await labs
      .getByRole('row', { name: /lin-lab/ })
      .getByText('Running')
      .waitFor();
    await labs.getByRole('link', { name: 'Open the terminal of lin-lab' }).click();
    await labs.getByText(/taken ready from its class’s warm pool/).waitFor();
    const terminal = labs.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await labs.keyboard.type('hostname');
    await labs.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toContain('lin-lab');

    await page.getByRole('button', { name: 'Empty pool of tiny' }).click();
    await page.getByText('Emptying the pool of tiny.').waitFor();
    await server.poolFiller.idle();
    await page.reload();
    await page.getByText('No warm pools').waitFor();
    await teacher.close();
    await student.close();
  });

  it('sets class hours, refuses an overlap with its sentence, and tells a student outside them why', async () => {
    const later = WEEKDAYS[(new Date().getUTCDay() + 6 + 3) % 7]!;
    const teacher = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(teacher, 'pool-teacher@example.test');
    await page.goto(`${server.url}/tenants/${tenantId}`);
    await page.getByRole('link', { name: 'Class hours' }).click();
    await page.getByRole('heading', { name: 'Shell 101: class hours' }).waitFor();
    await page.getByText('No class hours: labs run whenever their students start them.').waitFor();
    await page.getByLabel('Time zone').fill('UTC');
    await page.getByRole('button', { name: 'Add a session' }).click();
    await page.getByLabel('Start of session 2').fill('10:30');
    await page.getByLabel('End of session 2').fill('12:00');
    await page.getByRole('button', { name: 'Save class hours' }).click();
    await page.getByText(/sessions Mon 09:00–11:00 and Mon 10:30–12:00 overlap/).waitFor();
    await page.getByRole('button', { name: 'Remove session 2' }).click();
    await page.getByLabel('Day of session 1').selectOption(later);
    await page.getByRole('button', { name: 'Save class hours' }).click();
    await page.getByText('Class hours saved.').waitFor();
    await page.getByText('Outside class hours now.').waitFor();
    expect(await page.getByLabel('Day of session 1').inputValue()).toBe(later);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'class-hours.png'), fullPage: true });

    const student = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const labs = await signIn(student, 'lin@example.test');
    // The launch form's own check says why, before any click.
    await labs.getByLabel('Name').fill('too-early');
    await labs
      .getByRole('alert')
      .getByText(/Labs of this class run during class hours only: .* 09:00–11:00 \(UTC\)/)
      .waitFor();
    expect(await labs.getByRole('button', { name: 'Launch lab' }).isDisabled()).toBe(true);

    await page.getByRole('button', { name: 'Remove class hours' }).click();
    await page.getByText('Class hours removed.').waitFor();
    await teacher.close();
    await student.close();
  });
});
