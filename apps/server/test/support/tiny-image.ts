import os from 'node:os';
import path from 'node:path';
import { ensureTinyImage, tinyImageDir, vmTestSkipReason } from '@labvisor/engine/testing';
import type { Knex } from 'knex';
import { registerBuiltImage } from '../../src/domain/images/built-images.js';

/** Why tests with real guests cannot run here (outside CI only); under CI a missing piece fails. */
export function guestSkipReason(): string | undefined {
  return vmTestSkipReason({
    ci: process.env.CI === 'true',
    cacheDir: process.env.LABVISOR_CACHE_DIR,
  });
}

/** Builds the tiny image if needed and registers it in the database, as `npm start` does. */
export async function registerTinyImage(knex: Knex): Promise<string> {
  const options = { ci: process.env.CI === 'true', cacheDir: process.env.LABVISOR_CACHE_DIR };
  ensureTinyImage(options);
  // One store for every test run: it is content-addressed, so runs share the copies.
  const imagesDir = path.join(os.tmpdir(), 'labvisor-test-images');
  const { id } = await registerBuiltImage(knex, { manifestDir: tinyImageDir(options), imagesDir });
  return id;
}
