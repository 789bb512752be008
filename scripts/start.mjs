#!/usr/bin/env node
// `npm start`: installs what is missing, builds, builds the tiny guest image, then runs the server
// (which migrates the database and seeds the first admin and the demo lab). Ctrl-C stops it cleanly.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installMissing, RUNTIME_PACKAGES } from './system-deps.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Turborepo's telemetry stays off: nothing of a start is sent anywhere, and no notice is printed. */
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' };

function step(title, command, args) {
  console.log(`\n▶ ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    console.error(`labvisor: ${title} failed (exit ${result.status ?? result.signal}).`);
    process.exit(1);
  }
}

step('Checking npm dependencies', process.execPath, ['scripts/ensure-deps.mjs']);
const missing = installMissing(RUNTIME_PACKAGES);
if (missing.length > 0) {
  console.error('labvisor: VMs cannot run until these are installed; the portal starts anyway.');
}
step('Building', 'npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);
if (missing.length === 0) {
  step('Building the tiny guest image (cached after the first time)', process.execPath, [
    'infra/images/build.mjs',
    'tiny',
  ]);
}
// Recipes are the folders with a build.sh; the big ones take minutes and root, so start leaves them.
const recipesDir = path.join(root, 'infra', 'images');
const otherImages = readdirSync(recipesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'tiny')
  .filter((entry) => existsSync(path.join(recipesDir, entry.name, 'build.sh')))
  .map((entry) => entry.name);
if (otherImages.length > 0) {
  console.log(
    `\nMore images (built as root, a few minutes each; the server registers them at its next start):\n` +
      otherImages.map((name) => `  npm run images -- ${name}\n`).join('') +
      'See infra/images/README.md.\n',
  );
}

// The server runs in this very process (not a child): a supervisor that stops `npm start` stops
// the server, and nothing is left orphaned. It handles SIGINT and SIGTERM itself.
process.chdir(root);
await import(pathToFileURL(path.join(root, 'apps/server/dist/index.js')).href);
