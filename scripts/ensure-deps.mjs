#!/usr/bin/env node
// Installs the npm dependencies when they are absent or older than package-lock.json.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const installedMarker = path.join(root, 'node_modules', '.package-lock.json');
const lockFile = path.join(root, 'package-lock.json');

const stale =
  !existsSync(installedMarker) || statSync(lockFile).mtimeMs > statSync(installedMarker).mtimeMs;
if (stale) {
  // `npm install` rather than `npm ci`: see .ci/run for why the lock file cannot satisfy `npm ci`.
  console.log('Installing npm dependencies…');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error('labvisor: npm install failed; see the output above.');
    process.exit(1);
  }
}
