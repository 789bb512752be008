#!/usr/bin/env node
// `npm start`: installs what is missing, builds, builds the tiny guest image, then runs the server
// (which migrates the database, seeds the first admin and the demo lab, and builds debian-lab in the
// background). Ctrl-C stops it cleanly.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IMAGE_BUILD_PACKAGES, installMissing, RUNTIME_PACKAGES } from './system-deps.mjs';

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
// A real lab out of the box: the server builds debian-lab in the background once it serves
// (progress in its log and on the admin page); the demo tenant then offers it first.
// LABVISOR_BUILD_IMAGES= (empty) turns that off; other recipes are built with `npm run images`.
if (process.env.LABVISOR_BUILD_IMAGES !== undefined || missing.length > 0) {
  // Asked for explicitly, or VMs cannot run here anyway.
} else if (process.getuid?.() !== 0) {
  console.log(
    '\ndebian-lab builds as root: run `sudo npm run images -- debian-lab` for a real Debian lab.\n',
  );
} else {
  const stillMissing = installMissing(IMAGE_BUILD_PACKAGES);
  if (stillMissing.length === 0) {
    process.env.LABVISOR_BUILD_IMAGES = 'debian-lab';
    console.log(
      '\nThe debian-lab image builds in the background once the portal serves (a few minutes;' +
        ' its steps are on the admin page). Until then, labs use the tiny image.\n',
    );
  } else {
    console.error(
      `labvisor: debian-lab is not built in the background: ${stillMissing.join(', ')} missing.`,
    );
  }
}
const recipesDir = path.join(root, 'infra', 'images');
const otherImages = readdirSync(recipesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'tiny')
  .filter((entry) => existsSync(path.join(recipesDir, entry.name, 'build.sh')))
  .map((entry) => entry.name)
  .filter((name) => !(process.env.LABVISOR_BUILD_IMAGES ?? '').split(',').includes(name));
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
