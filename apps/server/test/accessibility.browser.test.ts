/**
 * The portal's pages pass an automated accessibility audit (axe-core in Chromium) with no serious
 * or critical violation, as a platform admin who is also a tenant admin sees them. The fake driver
 * runs the one VM, so its page renders without a guest.
 */

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { FakeDriver } from '@labvisor/engine/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { seedFirstRun } from '../src/domain/tenants/seed.js';
import { createPortalHandler } from '../src/web/next-handler.js';
import { browserSkipReason, launchBrowser, WEB_DIR } from './support/browser.js';
import { insertBlankImage, startFakeVm } from './support/fake-vm.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

const AXE_SCRIPT = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const ADMIN = { email: 'admin@example.test', password: 'admin-password-1' };

/** The serious and critical violations axe finds on the page, each with the elements involved. */
async function auditPage(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE_SCRIPT });
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: () => Promise<{ violations: unknown[] }> } }
    ).axe;
    return (await axe.run()).violations as Array<{
      id: string;
      impact: string;
      nodes: Array<{ target: string[] }>;
    }>;
  });
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
}

describe.skipIf(browserSkipReason())('accessibility of the portal', () => {
  let server: TestServer;
  let browser: Browser;
  let tenantId: string;
  let vmId: string;
  let inviteToken: string;
  const isoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-a11y-'));

  beforeAll(async () => {
    const database = await openDatabase({ pgliteMemory: true });
    await migrateToLatest(database.knex);
    await seedFirstRun(database.knex, { adminEmail: ADMIN.email, adminPassword: ADMIN.password });
    server = await startTestServer(database, {
      driverFactory: async (observer) => new FakeDriver(observer),
      webHandler: await createPortalHandler(WEB_DIR),
    });
    const admin = await database.knex('users').where({ email: ADMIN.email }).first();
    tenantId = (await database.knex('tenants').first()).id;
    vmId = await startFakeVm(
      server,
      { tenantId, ownerId: admin.id, name: 'audited-lab' },
      await insertBlankImage(database.knex, isoDir),
    );
    const client = new TestClient(server.url);
    await client.login(ADMIN.email, ADMIN.password);
    inviteToken = (await client.send('POST', `/api/v1/tenants/${tenantId}/invites`, {})).body.token;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await server?.database.close();
    fs.rmSync(isoDir, { recursive: true, force: true });
  });

  it('finds no serious or critical violation on the main pages', async () => {
    const visitor = await browser.newPage();
    const found: Record<string, string[]> = {};
    for (const pagePath of ['/login', `/join/${inviteToken}`]) {
      await visitor.goto(`${server.url}${pagePath}`);
      await visitor.getByRole('heading', { level: 1 }).waitFor();
      found[pagePath] = await auditPage(visitor);
    }
    const page = await browser.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My labs' }).waitFor();
    for (const pagePath of [
      '/',
      `/vms/${vmId}`,
      '/profile',
      '/admin',
      '/admin/users',
      '/admin/images',
      '/admin/audit',
      `/tenants/${tenantId}`,
      `/tenants/${tenantId}/members`,
      `/tenants/${tenantId}/pools`,
      `/tenants/${tenantId}/usage`,
      `/tenants/${tenantId}/schedule`,
      `/tenants/${tenantId}/lti`,
    ]) {
      await page.goto(`${server.url}${pagePath}`);
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      // What the page loads after its first paint is part of what is audited.
      await page.waitForLoadState('networkidle').catch(() => undefined);
      found[pagePath] = await auditPage(page);
    }
    expect(Object.fromEntries(Object.entries(found).filter(([, list]) => list.length > 0))).toEqual(
      {},
    );
    // The terminal offers a screen reader mode, kept across pages, which exposes its text.
    await page.goto(`${server.url}/vms/${vmId}`);
    const terminal = page.getByRole('region', { name: 'Serial terminal' });
    await terminal.locator('.xterm-rows').waitFor();
    await page.getByLabel(/Screen reader mode/).check();
    await expect.poll(() => terminal.locator('.xterm-accessibility').count()).toBeGreaterThan(0);
    await page.reload();
    await expect.poll(() => page.getByLabel(/Screen reader mode/).isChecked()).toBe(true);
    await expect.poll(() => terminal.locator('.xterm-accessibility').count()).toBeGreaterThan(0);
    expect(await auditPage(page)).toEqual([]);
  });
});
