import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetworkLab } from '@labvisor/engine/testing';
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

const skipReason =
  browserSkipReason() ??
  guestSkipReason() ??
  (process.getuid?.() === 0 ? undefined : 'guest networks need root');
if (skipReason && process.env.CI === 'true') throw new Error(`cannot run under CI: ${skipReason}`);

/**
 * A class admin gives new labs the internet in the class settings; a student's launch shows it
 * chosen, the lab page shows its address, opens a web app of the lab in a new tab, and changes a
 * stopped lab's network: in Chromium, on one tiny guest, with guest networks in namespaces the
 * test makes.
 */
describe.skipIf(skipReason)('guest networks in Chromium', () => {
  const lab = new NetworkLab();
  let server: TestServer;
  let browser: Browser;
  let runDir: string;
  let tenantId: string;

  const signIn = (context: BrowserContext, email: string) => signInAs(context, server.url, email);

  beforeAll(async () => {
    await lab.start({});
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    const knex = database.knex;
    tenantId = (await createFixtureTenant(knex, 'Net 101')).id;
    await createFixtureUser(knex, 'ping@example.test', { tenantId, role: 'member' });
    await createFixtureUser(knex, 'route@example.test', { tenantId, role: 'admin' });
    await createFixtureUser(knex, 'noc@example.test', { isPlatformAdmin: true });
    await registerTinyImage(knex);
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-net-browser-'));
    server = await startTestServer(database, {
      webHandler: await createPortalHandler(WEB_DIR),
      engine: {
        runDir,
        driver: {
          guestNetworks: {
            namespace: lab.router,
            uplinkNamespace: lab.host,
            dnsServers: [],
            stateDir: path.join(runDir, '.network'),
          },
        },
      },
    });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
    await lab.cleanup();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  }, 60_000);

  it('sets the class network, launches with it, shows the address and changes it', async () => {
    const admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const adminPage = await signIn(admin, 'route@example.test');
    await adminPage.goto(`${server.url}/tenants/${tenantId}`);
    await adminPage.getByLabel('Network for new labs').selectOption('internet');
    await adminPage.getByLabel('The class network reaches the internet').check();
    await adminPage.getByRole('button', { name: 'Save class settings' }).click();
    await adminPage.getByText('Saved the class settings.').waitFor();

    const student = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(student, 'ping@example.test');
    const network = page.getByLabel('Network');
    await expect.poll(() => network.inputValue()).toBe('internet');
    await page.getByText('reaches public internet addresses').waitFor();
    await page.getByRole('button', { name: 'Launch lab' }).click();
    await page.getByRole('link', { name: 'lab-1', exact: true }).click();
    const address = page.getByText(/Internet \(outbound only\) · address 10\.127\.0\.\d+/);
    await address.waitFor({ timeout: 120_000 });
    // A web app in the lab, opened in a new tab on its own host name.
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await terminal.click();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 60_000 })
      .toMatch(/# *$/m);
    await page.keyboard.type(
      'mkdir -p /tmp/w && echo LAB-APP-$((6*7)) >/tmp/w/index.html && httpd -p 8080 -h /tmp/w && echo serving-$((50+5))',
    );
    await page.keyboard.press('Enter');
    // The app listens once the guest has run the line (slow under TCG on a busy host).
    await expect
      .poll(() => terminal.locator('.xterm-rows').textContent(), { timeout: 60_000 })
      .toContain('serving-55');
    await page.getByLabel('Port of a web app in the lab').fill('8080');
    await page.getByRole('button', { name: 'Open port' }).click();
    const [app] = await Promise.all([
      student.waitForEvent('page'),
      page.getByRole('link', { name: 'Open port 8080 in a new tab' }).click(),
    ]);
    await app.getByText('LAB-APP-42').waitFor();
    expect(new URL(app.url()).hostname).toMatch(/^p8080-[0-9a-f-]{36}\.localhost$/);
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'vm-network.png'), fullPage: true });
    await app.close();
    // Running: no change offered. Stopped: the class network, from the next start.
    expect(await page.getByLabel('Network from the next start').count()).toBe(0);
    await page.getByRole('button', { name: 'Stop' }).click();
    // A guest stopped before its init listens for the power button is ended after 30 s.
    await page.getByLabel('Network from the next start').waitFor({ timeout: 90_000 });
    await page.getByLabel('Network from the next start').selectOption('class');
    await page.getByRole('button', { name: 'Change network' }).click();
    await page
      .getByRole('region', { name: 'Network' })
      .getByText(/^Class network$/)
      .first()
      .waitFor();
    await page
      .getByText('shares a private network with its class’s other labs, and reaches the internet')
      .waitFor();
  }, 240_000);

  it('lets platform admins, not class admins, set the class’s network limits', async () => {
    const classAdmin = await signIn(
      await browser.newContext({ viewport: { width: 1280, height: 900 } }),
      'route@example.test',
    );
    await classAdmin.goto(`${server.url}/tenants/${tenantId}`);
    await classAdmin.getByLabel('Network for new labs').waitFor();
    expect(await classAdmin.getByLabel('Bandwidth per lab (Mbit/s each way)').count()).toBe(0);

    const noc = await signIn(
      await browser.newContext({ viewport: { width: 1280, height: 900 } }),
      'noc@example.test',
    );
    await noc.goto(`${server.url}/tenants/${tenantId}`);
    await noc.getByLabel('Bandwidth per lab (Mbit/s each way)').fill('50');
    await noc.getByLabel('Labs that may reach the internet').fill('30');
    await noc.getByRole('button', { name: 'Save class settings' }).click();
    await noc.getByText('Saved the class settings.').waitFor();
    await noc.reload();
    await expect
      .poll(() => noc.getByLabel('Bandwidth per lab (Mbit/s each way)').inputValue())
      .toBe('50');
    await expect
      .poll(() => noc.getByLabel('Labs that may reach the internet').inputValue())
      .toBe('30');
  }, 120_000);
});
