import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { registerBuiltImage } from '../../src/domain/images/built-images.js';
import { guestSkipReason } from './tiny-image.js';

/** The cache folder of a built image (`npm run images -- <name>` puts it there). */
export function builtImageDir(name: string): string {
  const cache = process.env.LABVISOR_CACHE_DIR || path.join(os.homedir(), '.cache', 'labvisor');
  return path.join(cache, 'images', name);
}

/**
 * Why tests of a big image (too slow to build inside a test) cannot run here. Outside CI a missing
 * image or QEMU is a skip with this reason; under CI (`.ci/run` builds the image first) it throws.
 */
export function builtImageSkipReason(name: string): string | undefined {
  const qemu = guestSkipReason();
  if (qemu) return qemu;
  if (fs.existsSync(path.join(builtImageDir(name), 'manifest.json'))) return undefined;
  const reason = `the ${name} image is not built (run: npm run images -- ${name})`;
  if (process.env.CI === 'true')
    throw new Error(`${reason} (CI=true: this is a failure, not a skip)`);
  return reason;
}

/** Registers a built image from the cache as the server does at start; returns its id. */
export async function registerCachedTestImage(knex: Knex, name: string): Promise<string> {
  // The same content-addressed store as registerTinyImage: runs share the copies.
  const imagesDir = path.join(os.tmpdir(), 'labvisor-test-images');
  const { id } = await registerBuiltImage(knex, { manifestDir: builtImageDir(name), imagesDir });
  return id;
}
