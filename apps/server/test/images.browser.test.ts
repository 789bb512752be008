import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { seedFirstRun } from '../src/domain/tenants/seed.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { buildBootableIso } from './support/boot-iso.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');
const ADMIN = { email: 'admin@example.test', password: 'portal-password-1' };

const skipReason = browserSkipReason();

describe.skipIf(skipReason)('image upload in the portal', () => {
  let server: TestServer;
  let browser: Browser;
  let fileDir: string;

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    await seedFirstRun(database.knex, { adminEmail: ADMIN.email, adminPassword: ADMIN.password });
    server = await startTestServer(database, { webHandler: await createPortalHandler(WEB_DIR) });
    browser = await launchBrowser();
    fileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-upload-'));
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
    if (fileDir) fs.rmSync(fileDir, { recursive: true, force: true });
  });

  it('uploads an ISO, lists it for all tenants, refuses a mislabelled file, deletes it', async () => {
    // Large enough that the progress bar shows while it goes (the boot image is at its start).
    const iso = Buffer.concat([
      buildBootableIso(Buffer.from('boot')),
      Buffer.alloc(24 * 1024 ** 2),
    ]);
    const isoFile = path.join(fileDir, 'rescue-cd.iso');
    fs.writeFileSync(isoFile, iso);
    const notQcow = path.join(fileDir, 'not-a-disk.qcow2');
    fs.writeFileSync(notQcow, 'hello, this is text');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    await page.goto(`${server.url}/admin/images`);
    await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor();

    // A text file named .qcow2: the server's refusal shows as a sentence, nothing is listed.
    await page.getByLabel('Image file').setInputFiles(notQcow);
    await expect.poll(() => page.getByLabel('Format').inputValue()).toBe('qcow2');
    await page.getByRole('button', { name: 'Upload image' }).click();
    const refusal = page.locator('form[aria-label="Upload an image"] [role=alert]');
    await expect
      .poll(() => refusal.textContent(), { timeout: 30_000 })
      .toMatch(/^The uploaded file cannot be used as a qcow2 image: it has no qcow2 header\.$/);

    await page.getByLabel('Image file').setInputFiles(isoFile);
    await expect.poll(() => page.getByLabel('Format').inputValue()).toBe('iso');
    await page.getByLabel('Name').fill('rescue-cd');
    await page.getByRole('button', { name: 'Upload image' }).click();
    await page.getByRole('status').filter({ hasText: 'Uploaded image rescue-cd' }).waitFor({
      timeout: 60_000,
    });
    expect(await refusal.count()).toBe(0);
    const row = page.getByRole('row', { name: /rescue-cd/ });
    await expect.poll(() => row.textContent()).toContain('Installer ISO');
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toMatch(/^rescue-cdsha256 [0-9a-f]{12}…$/);
    expect(cells.slice(1, 6)).toEqual(['Installer ISO', 'iso', '24 MiB', 'All tenants', 'No']);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-images.png'), fullPage: true });

    const listed = await server.database.knex('images').where({ name: 'rescue-cd' }).first();
    expect(Number(listed.size_bytes)).toBe(iso.length);

    await row.getByRole('button', { name: 'Delete image rescue-cd' }).click();
    await row.getByRole('button', { name: 'Delete image' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted image rescue-cd.' }).waitFor();
    await expect.poll(() => page.getByRole('row', { name: /rescue-cd/ }).count()).toBe(0);
    await page.close();
  });

  it('shows the progress bar while a file goes up, and Cancel leaves nothing', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    await page.goto(`${server.url}/admin/images`);
    await page.getByRole('heading', { name: 'Upload an image' }).waitFor();

    // Slow the connection so the upload is seen under way (about 2 MB/s).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 20,
      downloadThroughput: 2_000_000,
      uploadThroughput: 2_000_000,
    });
    const bigFile = path.join(fileDir, 'big-disk.raw');
    fs.writeFileSync(bigFile, Buffer.alloc(64 * 1024 ** 2));
    await page.getByLabel('Image file').setInputFiles(bigFile);
    await page.getByRole('button', { name: 'Upload image' }).click();
    const progress = page.locator('progress#image-progress');
    await progress.waitFor();
    await expect
      .poll(async () => Number(await progress.getAttribute('value')), { timeout: 30_000 })
      .toBeGreaterThan(5);
    await expect
      .poll(() => page.locator('.upload-progress label').textContent())
      .toMatch(/^Uploading big-disk\.raw: \d+% \([\d.]+ MiB of 64 MiB\)$/);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-images-uploading.png') });
    await page.getByRole('button', { name: 'Cancel upload' }).click();
    await expect
      .poll(() => page.locator('form[aria-label="Upload an image"] [role=alert]').textContent())
      .toBe('The upload was cancelled.');
    await expect.poll(() => progress.count()).toBe(0);
    expect(
      await server.database.knex('images').where({ name: 'big-disk' }).first(),
    ).toBeUndefined();
    await page.close();
  });
});
