#!/usr/bin/env node
// The Debian packages Labvisor needs, found by the command each provides; installs what is missing.
// Usage: node scripts/system-deps.mjs [--install] [--with-test-tools] [--with-image-tools]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Packages needed to run Labvisor (VMs, their guest networks and the tiny image build). */
export const RUNTIME_PACKAGES = [
  { command: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { command: 'qemu-img', pkg: 'qemu-utils' },
  { path: '/bin/busybox', pkg: 'busybox-static' },
  { command: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { command: 'cpio', pkg: 'cpio' },
  { command: 'ip', pkg: 'iproute2' },
  { command: 'nft', pkg: 'nftables' },
  { command: 'dnsmasq', pkg: 'dnsmasq-base' },
];

/** Packages building the Debian images needs on top (infra/images/debian-lab, debian-desktop). */
export const IMAGE_BUILD_PACKAGES = [
  { command: 'debootstrap', pkg: 'debootstrap' },
  { command: 'zstd', pkg: 'zstd' },
];

/** Packages the tests need on top: a Postgres server and a browser. */
export const TEST_PACKAGES = [
  { path: '/usr/lib/postgresql', pkg: 'postgresql' },
  { command: 'chromium', pkg: 'chromium' },
];

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
  let result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0) {
    // A fresh machine has no package lists yet.
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
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
