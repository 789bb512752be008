#!/usr/bin/env node
// Builds guest image <name> from infra/images/<name>/build.sh into the cache,
// unless the cache already holds a build of the current recipe, then registers
// it in the server's database (see registerImage below).
//
//   node infra/images/build.mjs <name> [--force] [--no-register]
//
// --no-register only builds (tests use it: they register images in their own databases).
//
// Cache: ${LABVISOR_CACHE_DIR:-~/.cache/labvisor}/images/<name>/. The recipe is
// every file in infra/images/<name>/ and infra/images/lib/ (what recipes share);
// its sha256 goes into the manifest as recipeSha256. Progress goes to stderr;
// the image directory is the one line printed on stdout.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = 'usage: node infra/images/build.mjs <name> [--force] [--no-register]';

const args = process.argv.slice(2);
const force = args.includes('--force');
const register = !args.includes('--no-register');
const names = args.filter((arg) => arg !== '--force' && arg !== '--no-register');
if (names.length !== 1 || !/^[a-z0-9][a-z0-9-]*$/.test(names[0])) fail(USAGE);
const name = names[0];

const recipesDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(recipesDir, '..', '..');
const recipe = join(recipesDir, name, 'build.sh');
if (!existsSync(recipe)) fail(`No recipe for image "${name}": ${recipe} does not exist`);
const recipeSha256 = hashRecipe([join(recipesDir, name), join(recipesDir, 'lib')]);

const imagesDir = join(
  process.env.LABVISOR_CACHE_DIR || join(homedir(), '.cache', 'labvisor'),
  'images',
);
const target = join(imagesDir, name);

if (!force && isCurrentBuild(target)) {
  progress(`up to date in ${target}`);
  if (register) registerImage(target);
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
stampRecipe(staging);
if (!isCurrentBuild(staging)) {
  rmSync(staging, { recursive: true, force: true });
  fail(`Failed building image "${name}": ${recipe} left no complete manifest.json for this recipe`);
}

// Swap the new build in; a reader sees the old image or the new one, never a mix.
if (existsSync(target)) renameSync(target, previous);
renameSync(staging, target);
rmSync(previous, { recursive: true, force: true });

progress(`built in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
if (register) registerImage(target);
console.log(target);

/** The sha256 of every file under the folders, by relative path and content, in sorted order. */
function hashRecipe(dirs) {
  const hash = createHash('sha256');
  const files = dirs.flatMap((dir) =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile())
          .map((entry) => join(entry.parentPath, entry.name))
      : [],
  );
  for (const file of files.sort()) {
    hash.update(`${relative(recipesDir, file)}\0${statSync(file).mode & 0o111 ? 'x' : '-'}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Records which recipe made the build, in its manifest. */
function stampRecipe(dir) {
  const file = join(dir, 'manifest.json');
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return; // isCurrentBuild reports the missing or broken manifest
  }
  writeFileSync(file, `${JSON.stringify({ ...manifest, recipeSha256 }, null, 2)}\n`);
}

/**
 * Registers the image in the server's database (apps/server/dist/register-image.js, with the
 * same environment the server reads). While a server holds the embedded database, that script
 * says the image will appear at the server's next start, which registers every cached image.
 */
function registerImage(dir) {
  const script = join(repoRoot, 'apps', 'server', 'dist', 'register-image.js');
  if (!existsSync(script)) {
    progress(
      'not registered: the server is not built (npm run build); it registers every built image when it starts',
    );
    return;
  }
  const result = spawnSync(process.execPath, [script, dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0)
    fail(`Built image "${name}" in ${dir}, but registering it failed (see above)`);
}

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
