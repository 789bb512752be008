#!/usr/bin/env node
// Builds guest image <name> from infra/images/<name>/build.sh into the cache,
// unless the cache already holds a build of the current recipe.
//
//   node infra/images/build.mjs <name> [--force]
//
// Cache: ${LABVISOR_CACHE_DIR:-~/.cache/labvisor}/images/<name>/. Progress goes
// to stderr; the image directory is the one line printed on stdout.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = 'usage: node infra/images/build.mjs <name> [--force]';

const args = process.argv.slice(2);
const force = args.includes('--force');
const names = args.filter((arg) => arg !== '--force');
if (names.length !== 1 || !/^[a-z0-9][a-z0-9-]*$/.test(names[0])) fail(USAGE);
const name = names[0];

const recipe = join(dirname(fileURLToPath(import.meta.url)), name, 'build.sh');
if (!existsSync(recipe)) fail(`No recipe for image "${name}": ${recipe} does not exist`);
const recipeSha256 = createHash('sha256').update(readFileSync(recipe)).digest('hex');

const imagesDir = join(
  process.env.LABVISOR_CACHE_DIR || join(homedir(), '.cache', 'labvisor'),
  'images',
);
const target = join(imagesDir, name);

if (!force && isCurrentBuild(target)) {
  progress(`up to date in ${target}`);
  console.log(target);
  process.exit(0);
}

mkdirSync(imagesDir, { recursive: true });
const staging = join(imagesDir, `.${name}.build-${process.pid}`);
const previous = join(imagesDir, `.${name}.previous-${process.pid}`);
rmSync(staging, { recursive: true, force: true });

progress(`building with ${recipe}`);
const startedMs = Date.now();
const run = spawnSync('bash', [recipe, staging], { stdio: ['ignore', 'inherit', 'inherit'] });
if (run.error || run.status !== 0) {
  rmSync(staging, { recursive: true, force: true });
  const why = run.error
    ? run.error.message
    : run.signal
      ? `was killed by ${run.signal}`
      : `exited with status ${run.status}`;
  fail(`Failed building image "${name}": ${recipe} ${why}`);
}
if (!isCurrentBuild(staging)) {
  rmSync(staging, { recursive: true, force: true });
  fail(`Failed building image "${name}": ${recipe} left no complete manifest.json for this recipe`);
}

// Swap the new build in; a reader sees the old image or the new one, never a mix.
if (existsSync(target)) renameSync(target, previous);
renameSync(staging, target);
rmSync(previous, { recursive: true, force: true });

progress(`built in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
console.log(target);

/** Whether dir holds a build of the current recipe with every file its manifest lists. */
function isCurrentBuild(dir) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return false;
  }
  if (manifest?.recipeSha256 !== recipeSha256) return false;
  return Object.values(manifest.files ?? {}).every((file) => {
    try {
      return statSync(join(dir, file.path)).size === file.sizeBytes;
    } catch {
      return false;
    }
  });
}

function progress(message) {
  console.error(`image ${name}: ${message}`);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}
