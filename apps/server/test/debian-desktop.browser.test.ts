import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { templateSpecOf } from '../src/domain/vms/vm-templates.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, signIn, WEB_DIR } from './support/browser.js';
import { builtImageSkipReason, registerCachedTestImage } from './support/built-image.js';
import { openVmTestDatabase } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../../test-results/screenshots');
/** X, Openbox and the panel under TCG: about 30 s quiet, 75–90 s on a busy 2-core host. */
const DESKTOP_TIMEOUT_MS = 240_000;
/**
 * The frames before the guest's desktop: QEMU's placeholder ("Guest has not initialized the
 * display", 640x480) and SeaBIOS's text screen (720x400), which the kernel's console keeps.
 */
const BOOT_FRAME_SIZES = ['640x480', '720x400'];
/** The desktop's background (`xsetroot -solid '#2f4f6f'` in the image's session). */
const BACKGROUND = [0x2f, 0x4f, 0x6f];

const skipReason = browserSkipReason() ?? builtImageSkipReason('debian-desktop');

/** The framebuffer's size and the colour of one of its pixels (x, y as fractions of the size). */
const frameOf = (canvas: Locator, x: number, y: number) =>
  canvas.evaluate(
    (element, at) => {
      // The page's canvas (the server's TypeScript has no DOM types).
      const frame = element as unknown as {
        width: number;
        height: number;
        getContext(kind: '2d'): {
          getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
        };
      };
      const { width, height } = frame;
      const pixel = frame
        .getContext('2d')
        .getImageData(Math.floor(width * at.x), Math.floor(height * at.y), 1, 1);
      return { size: `${width}x${height}`, rgb: [...pixel.data.slice(0, 3)] };
    },
    { x, y },
  );

// The debian-desktop image through the portal, the way a user opens it: the desktop tab comes up
// with the launch, before the guest has drawn anything, and must follow the guest's mode changes
// to the desktop without a reload; what is typed there reaches the lab.
describe.skipIf(skipReason)('the debian-desktop image in the desktop tab', () => {
  let database: Database;
  let server: TestServer;
  let browser: Browser;
  let owner: TestClient;
  let tenantId: string;
  let imageId: string;

  beforeAll(async () => {
    database = await openVmTestDatabase();
    tenantId = (await createFixtureTenant(database.knex, 'Desktops 101')).id;
    await database.knex('quotas').where({ tenant_id: tenantId }).update({
      running_vms: 1,
      vcpus: 2,
      memory_mib: 2048,
      disk_gib: 20,
    });
    await createFixtureUser(database.knex, 'grace@example.test', { tenantId, role: 'member' });
    imageId = await registerCachedTestImage(database.knex, 'debian-desktop');
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-desktops-'));
    server = await startTestServer(database, {
      webHandler: await createPortalHandler(WEB_DIR),
      // No template until the clone's test builds it: the first lab boots.
      engine: { runDir, driver: { templatesDir: path.join(runDir, '.templates') } },
    });
    browser = await launchBrowser();
    owner = new TestClient(server.url);
    expect((await owner.login('grace@example.test', FIXTURE_PASSWORD)).status).toBe(200);
  });
  afterAll(async () => {
    for (const vm of (await owner?.send('GET', '/api/v1/vms'))?.body.items ?? []) {
      await owner.send('DELETE', `/api/v1/vms/${vm.id}`);
    }
    await browser?.close();
    await server?.close();
    await database?.close();
    if (server) fs.rmSync(server.runDir, { recursive: true, force: true });
  });

  /**
   * Keys typed on the desktop reach the terminal window (xterm at +40+40) of the owner's session
   * without a click — it has the focus from its start — and it copies a file that the lab's agent
   * reads back from the owner's home: the session runs as the owner, in the owner's home. (Only
   * unshifted keys: noVNC sends QEMU the physical key, and the test's keyboard holds no Shift for
   * "$" or ">".)
   */
  async function typeInTerminal(page: Page, canvas: Locator, vmId: string, hostname: string) {
    await expect
      .poll(async () => (await frameOf(canvas, 300 / 1280, 200 / 800)).rgb, { timeout: 60_000 })
      .toEqual([255, 255, 255]);
    await canvas.focus();
    await page.keyboard.type('cp /etc/hostname desktop.txt');
    await page.keyboard.press('Enter');
    const file = `${server.url}/api/v1/vms/${vmId}/files?path=${encodeURIComponent('~/desktop.txt')}`;
    const read = async () =>
      (await fetch(file, { headers: { cookie: owner.cookieHeader! } })).text();
    await expect.poll(read, { timeout: 60_000, interval: 1000 }).toBe(`${hostname}\n`);
  }

  /** Launches a desktop lab named `name` for grace, signed in to the portal in a new context. */
  async function launchDesktop(name: string) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, server.url, 'grace@example.test');
    const created = await owner.send('POST', '/api/v1/vms', {
      tenantId,
      name,
      imageId,
      vcpus: 2,
      memoryMib: 2048,
      diskGib: 10,
    });
    expect(created.status).toBe(201);
    return { context, page, vmId: created.body.id as string };
  }

  it(
    'shows the desktop in a tab opened before the guest drew, and takes what is typed there',
    async () => {
      const { context, page, vmId } = await launchDesktop('desk');
      await page.goto(`${server.url}/vms/${vmId}?tab=desktop`);
      const canvas = page.locator('.desktop canvas');
      await canvas.waitFor({ timeout: 60_000 });
      await expect
        .poll(() => page.locator('.desktop-panel [role=status]').count(), { timeout: 60_000 })
        .toBe(0);
      // Connected before the guest's desktop: a boot frame (QEMU's placeholder or the text screen).
      expect(BOOT_FRAME_SIZES).toContain((await frameOf(canvas, 0.5, 0.5)).size);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'desktop-booting.png') });

      // The same connection follows the guest through its mode changes to the desktop.
      await expect
        .poll(() => frameOf(canvas, 0.8, 0.5), { timeout: DESKTOP_TIMEOUT_MS, interval: 2000 })
        .toEqual({ size: '1280x800', rgb: BACKGROUND });
      // The panel (tint2) along the bottom edge, in its own colour.
      await expect
        .poll(async () => (await frameOf(canvas, 0.5, 0.995)).rgb, { timeout: 60_000 })
        .not.toEqual(BACKGROUND);

      await typeInTerminal(page, canvas, vmId, 'desk');
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'desktop.png') });
      expect((await owner.send('GET', `/api/v1/vms/${vmId}`)).body.bootPath).toBe('cold');
      await context.close();
      expect((await owner.send('DELETE', `/api/v1/vms/${vmId}`)).status).toBe(204);
    },
    DESKTOP_TIMEOUT_MS + 180_000,
  );

  // A clone of a booted desktop template: the template's guest had its desktop session as the
  // image's user; the clone's is the owner's, in the owner's home (before, the clone kept the
  // template's session, whose home had moved away, and its terminal was gone).
  it(
    'gives a clone of a desktop template a desktop session of its owner',
    async () => {
      const image = await database.knex('images').where({ id: imageId }).first();
      await server.engine.buildTemplate(templateSpecOf(image, { vcpus: 2, memoryMib: 2048 }));
      const { context, page, vmId } = await launchDesktop('desk-clone');
      await expect
        .poll(async () => (await owner.send('GET', `/api/v1/vms/${vmId}`)).body.state, {
          timeout: 120_000,
          interval: 500,
        })
        .toBe('running');
      expect((await owner.send('GET', `/api/v1/vms/${vmId}`)).body.bootPath).toBe('template');
      await page.goto(`${server.url}/vms/${vmId}?tab=desktop`);
      const canvas = page.locator('.desktop canvas');
      await canvas.waitFor({ timeout: 60_000 });
      await expect
        .poll(() => frameOf(canvas, 0.8, 0.5), { timeout: DESKTOP_TIMEOUT_MS, interval: 2000 })
        .toEqual({ size: '1280x800', rgb: BACKGROUND });
      await typeInTerminal(page, canvas, vmId, 'desk-clone');
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'desktop-clone.png') });
      await context.close();
    },
    DESKTOP_TIMEOUT_MS + 300_000,
  );
});
