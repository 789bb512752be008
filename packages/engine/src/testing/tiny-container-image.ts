import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { VmSpec } from '../spec.js';
import { builtImageDir, findRepoRoot, type TinyImageOptions } from './tiny-image.js';

/**
 * The tiny container image's tarball (Incus's unified format), built with
 * `node infra/images/build.mjs tiny-container` when the cache lacks a build of its recipe.
 */
export function ensureTinyContainerImage(options: TinyImageOptions = {}): string {
  const env = { ...process.env };
  if (options.cacheDir) env.LABVISOR_CACHE_DIR = options.cacheDir;
  const result = spawnSync(
    process.execPath,
    ['infra/images/build.mjs', 'tiny-container', '--no-register'],
    { cwd: findRepoRoot(), stdio: ['ignore', 'pipe', 'pipe'], env, timeout: 5 * 60_000 },
  );
  if (result.status !== 0) {
    throw new Error(
      `Building the tiny-container image failed: ${String(result.stderr).trim() || result.signal}`,
    );
  }
  const dir = builtImageDir('tiny-container', options);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    files: { container: { path: string } };
  };
  return path.join(dir, manifest.files.container.path);
}

/** A spec of a small container of the tiny-container image. */
export function tinyContainerSpec(
  imagePath: string,
  id: string,
  overrides: Partial<VmSpec> = {},
): VmSpec {
  return {
    id,
    name: id,
    vcpus: 1,
    memoryMib: 64,
    diskGib: 1,
    boot: { kind: 'container', imagePath },
    ...overrides,
  };
}
