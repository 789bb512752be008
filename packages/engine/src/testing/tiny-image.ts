/**
 * Test and benchmark helper: finds the tiny guest image (building it when absent) and decides
 * whether VM tests can run. Under CI a missing image or QEMU is a failure, never a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmSpec } from '../spec.js';

/** The tiny image's manifest.json. */
export interface TinyManifest {
  name: string;
  kernelVersion: string;
  cmdline: string;
  files: {
    kernel: { path: string; sizeBytes: number; sha256: string };
    initrd: { path: string; sizeBytes: number; sha256: string };
    disk: {
      path: string;
      format: 'qcow2' | 'raw';
      virtualSizeBytes: number;
      sizeBytes: number;
      sha256: string;
    };
  };
}

/** The tiny image, with absolute paths. */
export interface TinyImage {
  dir: string;
  manifest: TinyManifest;
  kernelPath: string;
  initrdPath: string;
  diskPath: string;
  diskFormat: 'qcow2' | 'raw';
  cmdline: string;
}

/** Where the environment says things are; tests pass `process.env` values in. */
export interface TinyImageOptions {
  /** `LABVISOR_CACHE_DIR`; default `~/.cache/labvisor`. */
  cacheDir?: string;
  /** Whether we run in CI (`CI=true`): then nothing is skipped. */
  ci?: boolean;
}

/** The monorepo root, found from this file (src/testing or dist/testing of packages/engine). */
export function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (
      fs.existsSync(path.join(dir, 'infra', 'images')) &&
      fs.existsSync(path.join(dir, 'package.json'))
    ) {
      return dir;
    }
    dir = path.dirname(dir);
  }
  throw new Error('Cannot find the repository root (a folder with infra/images) above the engine');
}

/** The folder the tiny image is cached in. */
export function tinyImageDir(options: TinyImageOptions = {}): string {
  return builtImageDir('tiny', options);
}

/** The folder a built image is cached in (`<cache>/images/<name>`). */
export function builtImageDir(name: string, options: TinyImageOptions = {}): string {
  const cache = options.cacheDir || path.join(os.homedir(), '.cache', 'labvisor');
  return path.join(cache, 'images', name);
}

function resolveFile(dir: string, file: string): string {
  return path.isAbsolute(file) ? file : path.join(dir, file);
}

/** Reads the cached tiny image, or undefined when it (or one of its files) is missing. */
export function readTinyImage(options: TinyImageOptions = {}): TinyImage | undefined {
  return readBuiltImage('tiny', options);
}

/**
 * Reads a cached kernel-boot image (tiny, debian-lab), or undefined when it (or one of its files)
 * is missing.
 */
export function readBuiltImage(
  name: string,
  options: TinyImageOptions = {},
): TinyImage | undefined {
  const dir = builtImageDir(name, options);
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as TinyManifest;
  const image: TinyImage = {
    dir,
    manifest,
    kernelPath: resolveFile(dir, manifest.files.kernel.path),
    initrdPath: resolveFile(dir, manifest.files.initrd.path),
    diskPath: resolveFile(dir, manifest.files.disk.path),
    diskFormat: manifest.files.disk.format,
    cmdline: manifest.cmdline,
  };
  for (const file of [image.kernelPath, image.initrdPath, image.diskPath]) {
    if (!fs.existsSync(file)) return undefined;
  }
  return image;
}

/** Returns the tiny image, building it with `node infra/images/build.mjs tiny` when it is missing. */
export function ensureTinyImage(options: TinyImageOptions = {}): TinyImage {
  const existing = readTinyImage(options);
  const root = findRepoRoot();
  const env = { ...process.env };
  if (options.cacheDir) env.LABVISOR_CACHE_DIR = options.cacheDir;
  // build.mjs does nothing when the cache holds a build of the current recipe; else it rebuilds
  // (a changed agent or init script must not be tested on the image before it).
  const result = spawnSync(process.execPath, ['infra/images/build.mjs', 'tiny', '--no-register'], {
    cwd: root,
    // Quiet when it only checks; a rebuild shows its progress.
    stdio: existing ? 'pipe' : 'inherit',
    env,
    timeout: 15 * 60_000,
  });
  if (existing && result.status === 0 && String(result.stderr).includes('up to date')) {
    return existing;
  }
  if (existing) process.stderr.write(result.stderr ?? '');
  if (result.status !== 0 && existing && !options.ci) return existing;
  if (result.status !== 0) {
    throw new Error(
      `Building the tiny image failed (node infra/images/build.mjs tiny exited ${result.status ?? result.signal})`,
    );
  }
  const built = readTinyImage(options);
  if (!built)
    throw new Error(
      `The tiny image build finished but ${tinyImageDir(options)} has no complete image`,
    );
  return built;
}

/** Whether a binary runs (`--version`). */
export function binaryWorks(binary: string): boolean {
  try {
    execFileSync(binary, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why VM tests cannot run here, or undefined when they can. Outside CI a missing QEMU is a skip
 * with this reason; under CI it throws, so a broken CI host fails instead of passing silently.
 */
export function vmTestSkipReason(options: TinyImageOptions = {}): string | undefined {
  const missing = ['qemu-system-x86_64', 'qemu-img'].filter((binary) => !binaryWorks(binary));
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(' and ')} not installed: VM tests need QEMU`;
  if (options.ci) throw new Error(`${reason} (CI=true: this is a failure, not a skip)`);
  return reason;
}

/** A VM spec that boots the tiny image by direct kernel boot. */
export function tinyVmSpec(image: TinyImage, id: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    id,
    name: id,
    vcpus: 1,
    memoryMib: 256,
    diskGib: Math.max(1, Math.ceil(image.manifest.files.disk.virtualSizeBytes / 1024 ** 3)),
    boot: {
      kind: 'kernel',
      kernelPath: image.kernelPath,
      initrdPath: image.initrdPath,
      cmdline: image.cmdline,
      baseDiskPath: image.diskPath,
      baseDiskFormat: image.diskFormat,
    },
    ...overrides,
  };
}
