#!/usr/bin/env node
// `npm start`: installs what is missing, builds, builds the tiny guest image, then runs the server
// (which migrates the database and seeds the first admin and the demo lab). Ctrl-C stops it cleanly.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installMissing, RUNTIME_PACKAGES } from './system-deps.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function step(title, command, args) {
  console.log(`\n▶ ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
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
const otherImages = readdirSync(path.join(root, 'infra', 'images'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'tiny')
  .map((entry) => entry.name);
if (otherImages.length > 0) {
  console.log(
    `\nMore images: npm run images -- <${otherImages.join('|')}> (see infra/images/README.md)\n`,
  );
}

const server = spawn(process.execPath, ['apps/server/dist/index.js'], {
  cwd: root,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  // The terminal sends Ctrl-C to the whole group; forward it too for `kill <pid>` on this script.
  process.on(signal, () => server.kill(signal));
}
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
