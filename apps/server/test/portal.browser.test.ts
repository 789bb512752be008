import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { DEMO_TENANT_NAME, seedFirstRun } from '../src/domain/tenants/seed.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';
import { guestSkipReason, registerTinyImage } from './support/tiny-image.js';

/** Screenshots of the main pages, for people to look at. */
export const SCREENSHOT_DIR = path.resolve(
  import.meta.dirname,
  '../../../test-results/screenshots',
);
const ADMIN = { email: 'admin@example.test', password: 'portal-password-1' };

const skipReason = browserSkipReason() ?? guestSkipReason();

/** What these tests use of the page's globals (the server's TypeScript has no DOM types). */
interface InPage {
  document: { activeElement: { blur(): void } | null };
}

describe.skipIf(skipReason)('the portal in Chromium', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    await seedFirstRun(database.knex, { adminEmail: ADMIN.email, adminPassword: ADMIN.password });
    await registerTinyImage(database.knex);
    server = await startTestServer(database, { webHandler: await createPortalHandler(WEB_DIR) });
    browser = await launchBrowser();
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
  });

  it('sends a visitor to sign in, refuses a wrong password, then shows My labs', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.url}/`);
    await page.waitForURL('**/login');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'login.png') });

    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.locator('form [role=alert]').textContent())
      .toBe('The email or password is wrong.');

    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.locator('main').textContent()).toContain(`${DEMO_TENANT_NAME} (admin)`);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'my-labs.png') });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    await page.close();
  });

  it('launches a lab, shows its progress, and answers a command typed in its terminal', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    await page.getByText('You have no labs yet').waitFor();

    await server.database.knex('tenants').update({ recording_enabled: true });
    await page.getByLabel('Name').fill('first-lab');
    await page.getByRole('button', { name: 'Launch lab' }).click();
    const row = page.getByRole('row', { name: /first-lab/ });
    await row.waitFor();
    await row.getByText('Running').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'my-labs-running.png') });

    await page.getByRole('link', { name: 'Open the terminal of first-lab' }).click();
    await page.getByRole('heading', { name: /first-lab/ }).waitFor();
    // How it came to run (this server has no templates: it booted).
    await page.getByText(/256 MiB · 1 GiB · booted/).waitFor();
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toMatch(/# *$/m);
    await page.keyboard.type('echo browser-$((20+22))');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toContain('browser-42');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'vm-terminal.png') });

    // The session was recorded: an instructor (here the platform admin) plays it back.
    await page.reload();
    await page.getByRole('heading', { name: 'Console recordings' }).waitFor();
    await page.getByRole('button', { name: 'Play' }).first().click();
    const playback = page.getByRole('region', { name: 'Recording playback' });
    await expect
      .poll(() => playback.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toContain('browser-42');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'vm-recording.png') });

    await page.getByRole('tab', { name: 'Desktop' }).click();
    const canvas = page.locator('.desktop canvas');
    await canvas.waitFor({ timeout: 30_000 });
    await expect
      .poll(() => page.locator('.desktop-panel [role=status]').count(), { timeout: 30_000 })
      .toBe(0);
    await expect.poll(async () => (await canvas.boundingBox())?.width ?? 0).toBeGreaterThan(100);
    await page.waitForTimeout(6000);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'vm-desktop.png') });

    // By keyboard alone: the Tab-leaves choice and the console tabs are reached by Tab and
    // Shift+Tab and operated by Space and Enter; the terminal, reached by Tab, takes what is typed
    // and, with the choice on, is left by Tab (the recording player above never holds the focus).
    const pressUntilFocused = async (
      key: string,
      focused: () => Promise<boolean>,
      what: string,
    ) => {
      for (let presses = 0; presses < 40; presses++) {
        if (await focused()) return;
        await page.keyboard.press(key);
      }
      throw new Error(`${key} never reached ${what}`);
    };
    const isFocused = (locator: ReturnType<typeof page.locator>) => () =>
      locator.evaluate(
        (element) => element === (globalThis as unknown as InPage).document.activeElement,
      );
    const keyboardTerminal = page.getByRole('region', { name: 'Serial terminal' });
    const inTerminal = () =>
      keyboardTerminal.evaluate((element) =>
        (element as unknown as { contains(other: unknown): boolean }).contains(
          (globalThis as unknown as InPage).document.activeElement,
        ),
      );
    await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.blur());
    const tabLeaves = page.getByLabel(/The Tab key leaves the console/);
    await pressUntilFocused('Tab', isFocused(tabLeaves), 'the Tab-leaves choice');
    await page.keyboard.press('Space');
    expect(await tabLeaves.isChecked()).toBe(true);
    const terminalTab = page.getByRole('tab', { name: 'Terminal' });
    await pressUntilFocused('Shift+Tab', isFocused(terminalTab), 'the Terminal tab');
    await page.keyboard.press('Enter');
    await keyboardTerminal.locator('.xterm-rows').waitFor();
    await pressUntilFocused('Tab', inTerminal, 'the terminal');
    // The tab's terminal connects anew: type once the guest's prompt answers.
    await expect
      .poll(
        async () => {
          await page.keyboard.press('Enter');
          return keyboardTerminal.locator('.xterm-rows').textContent();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toMatch(/# *$/m);
    await page.keyboard.type('echo keyboard-$((40+2))');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => keyboardTerminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toContain('keyboard-42');
    await page.keyboard.press('Tab');
    expect(await inTerminal()).toBe(false);
    await page.keyboard.press('Shift+Tab');
    expect(await inTerminal()).toBe(true);
    await pressUntilFocused(
      'Shift+Tab',
      isFocused(page.getByRole('tab', { name: 'Desktop' })),
      'the Desktop tab',
    );
    await page.keyboard.press('Enter');
    // The desktop is in the Tab order too, with a name; with Tab leaving, Tab moves on from it.
    const desktop = page.getByRole('application', { name: /Desktop of the lab/ });
    await desktop.waitFor({ timeout: 30_000 });
    await pressUntilFocused('Tab', isFocused(desktop), 'the desktop');
    await page.keyboard.press('Tab');
    expect(await isFocused(page.getByLabel(/Clipboard/))()).toBe(true);

    // An open lab page costs nothing while nothing changes: no request for longer than any poll
    // would wait (the event stream, open all along, is the one exception).
    const requests: string[] = [];
    page.on('request', (request) => {
      const { pathname } = new URL(request.url());
      if (pathname.startsWith('/api/') && pathname !== '/api/v1/events') requests.push(pathname);
    });
    await page.waitForTimeout(12_000);
    expect(requests).toEqual([]);
    // And it shows at once what someone else did to the lab: a snapshot taken through the API.
    const vmId = /\/vms\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    const elsewhere = new TestClient(server.url);
    await elsewhere.login(ADMIN.email, ADMIN.password);
    const snapshot = await elsewhere.send('POST', `/api/v1/vms/${vmId}/snapshots`, {
      name: 'from-elsewhere',
    });
    expect(snapshot.status).toBe(201);
    await page.getByText('took snapshot “from-elsewhere”').waitFor({ timeout: 15_000 });
    const deleted = await elsewhere.send(
      'DELETE',
      `/api/v1/vms/${vmId}/snapshots/${snapshot.body.id}`,
    );
    expect(deleted.status).toBe(204);
    await page.getByText('deleted snapshot “from-elsewhere”').waitFor({ timeout: 15_000 });
    await page.close();
  });

  it('resumes a suspended lab when its page opens, and lets the class admin set the idle policy', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.getByRole('row', { name: /first-lab/ });
    await row.getByText('Running').waitFor();
    await page.getByRole('button', { name: 'Suspend first-lab' }).click();
    await row.getByText('Suspended').waitFor({ timeout: 60_000 });

    // Its page resumes it where it was: the terminal answers without a Start.
    await page.getByRole('link', { name: 'Open the terminal of first-lab' }).click();
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await expect
      .poll(() => page.getByText(/resumed where it was suspended/).count(), { timeout: 60_000 })
      .toBe(1);
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await page.keyboard.type('echo resumed-$((3*3))');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toContain('resumed-9');

    await page.getByRole('link', { name: 'Demo lab' }).click();
    await page.getByRole('heading', { name: 'Class settings' }).waitFor();
    await page.getByLabel('Suspend idle labs after (minutes)').fill('30');
    await page.getByRole('button', { name: 'Save class settings' }).click();
    await page.getByText('Saved the class settings.').waitFor();
    await page.reload();
    await expect
      .poll(() => page.getByLabel('Suspend idle labs after (minutes)').inputValue())
      .toBe('30');
    // My labs says how much of the month's hours the class used.
    await page.getByRole('link', { name: 'My labs' }).click();
    await page.getByText(/^Demo lab: the class used [\d.]+ of its \d+ hours this month/).waitFor();
    await page.close();
  });

  it('resets a lab after a confirmation that names what is lost', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 1000 } });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Open the terminal of first-lab' }).click();
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await page.keyboard.type('echo kept-nowhere > /root/mark; sync; cat /root/mark');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 30_000 })
      .toMatch(/kept-nowhere\s*root@/);

    const startOver = page.getByRole('region', { name: 'Start over' });
    await startOver.getByRole('button', { name: 'Reset the lab' }).click();
    await startOver
      .getByText(
        /^Lost for good: everything written to its disk since it was made from “.+”\. It restarts as new\.$/,
      )
      .waitFor();
    await startOver.screenshot({ path: path.join(SCREENSHOT_DIR, 'reset-confirmation.png') });
    await startOver.getByRole('button', { name: 'Reset and lose it' }).click();
    await startOver.getByText(/first-lab is being reset/).waitFor();
    // The terminal reconnects to the fresh guest, where the file is gone.
    await expect
      .poll(
        async () => {
          await terminal.click();
          await page.keyboard.type('cat /root/mark');
          await page.keyboard.press('Enter');
          await new Promise((resolve) => setTimeout(resolve, 1000));
          return terminal.locator('.xterm-rows').textContent();
        },
        { timeout: 90_000, interval: 2000 },
      )
      .toMatch(/No such file/);
    await page.close();
  });
});
