#!/usr/bin/env node
// The Debian packages Labvisor needs, found by the command each provides; installs what is missing.
// Usage: node scripts/system-deps.mjs [--install] [--with-test-tools] [--with-image-tools]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Packages needed to run Labvisor (VMs, their guest networks and the tiny image build). */
export const RUNTIME_PACKAGES = [
  { command: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { command: 'qemu-img', pkg: 'qemu-utils' },
  { path: '/bin/busybox', pkg: 'busybox-static' },
  { command: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { command: 'cpio', pkg: 'cpio' },
  { command: 'xz', pkg: 'xz-utils' },
  { command: 'ip', pkg: 'iproute2' },
  { command: 'nft', pkg: 'nftables' },
  { command: 'dnsmasq', pkg: 'dnsmasq-base' },
];

/** Packages building the Debian images needs on top (infra/images/debian-lab, debian-desktop). */
export const IMAGE_BUILD_PACKAGES = [
  { command: 'debootstrap', pkg: 'debootstrap' },
  { command: 'zstd', pkg: 'zstd' },
];

/**
 * Packages the tests need on top: a Postgres server, a browser, and Incus (its container-only
 * daemon, from bookworm-backports: the tests make a real Incus cluster for the Incus driver; the
 * `incus` package itself is never installed, it would replace Debian's QEMU 7.2).
 */
export const TEST_PACKAGES = [
  { path: '/usr/lib/postgresql', pkg: 'postgresql' },
  { command: 'chromium', pkg: 'chromium' },
  { path: '/usr/libexec/incus/incusd', pkg: 'incus-base', release: 'bookworm-backports' },
  { command: 'incus', pkg: 'incus-client', release: 'bookworm-backports' },
  { command: 'openssl', pkg: 'openssl' },
];

const BACKPORTS_SOURCE = '/etc/apt/sources.list.d/bookworm-backports.sources';

/** Adds Debian's bookworm-backports to apt's sources unless a source already names it. */
function ensureBackportsSource() {
  const sources = [
    '/etc/apt/sources.list',
    ...(existsSync('/etc/apt/sources.list.d')
      ? readdirSync('/etc/apt/sources.list.d').map((name) => `/etc/apt/sources.list.d/${name}`)
      : []),
  ];
  const named = sources.some(
    (file) =>
      existsSync(file) &&
      /\.(list|sources)$/.test(file) &&
      readFileSync(file, 'utf8').includes('bookworm-backports'),
  );
  if (named) return false;
  writeFileSync(
    BACKPORTS_SOURCE,
    [
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm-backports',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
  );
  return true;
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The packages of the list that are not installed. */
export function missingPackages(list) {
  return list
    .filter((entry) => (entry.command ? !hasCommand(entry.command) : !existsSync(entry.path)))
    .map((e) => e.pkg);
}

/** Installs the missing packages with apt-get (as root); returns the ones still missing. */
export function installMissing(list) {
  const missing = missingPackages(list);
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) {
    console.error(
      `labvisor: missing Debian packages: ${missing.join(' ')} (run: sudo apt-get install -y ${missing.join(' ')})`,
    );
    return missing;
  }
  console.log(`Installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptGet = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
  const byRelease = new Map();
  for (const entry of list.filter((e) => missing.includes(e.pkg))) {
    const release = entry.release ?? '';
    byRelease.set(release, [...(byRelease.get(release) ?? []), entry.pkg]);
  }
  // A fresh machine has no package lists yet, nor backports among its sources.
  let updated = false;
  if (byRelease.has('bookworm-backports') && ensureBackportsSource()) updated = aptGet(['update']);
  for (const [release, packages] of byRelease) {
    const args = ['install', '-y', '--no-install-recommends', ...(release ? ['-t', release] : [])];
    if (!aptGet([...args, ...packages]) && !updated) {
      updated = aptGet(['update']);
      aptGet([...args, ...packages]);
    }
  }
  return missingPackages(list);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const list = [
    ...RUNTIME_PACKAGES,
    ...(process.argv.includes('--with-test-tools') ? TEST_PACKAGES : []),
    ...(process.argv.includes('--with-image-tools') ? IMAGE_BUILD_PACKAGES : []),
  ];
  const stillMissing = process.argv.includes('--install')
    ? installMissing(list)
    : missingPackages(list);
  if (stillMissing.length > 0) {
    console.error(`labvisor: still missing: ${stillMissing.join(' ')}`);
    process.exit(1);
  }
}
