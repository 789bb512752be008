import path from 'node:path';
import { EngineError } from './errors.js';

/** What a VM id must look like: it names the VM's folder under the run directory. */
export const VM_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Smallest guest memory the engine accepts. */
export const MIN_MEMORY_MIB = 32;
/** Largest guest memory the engine accepts (1 TiB). */
export const MAX_MEMORY_MIB = 1024 * 1024;
/** Largest vCPU count the engine accepts. */
export const MAX_VCPUS = 255;
/** Largest disk the engine accepts (64 TiB). */
export const MAX_DISK_GIB = 64 * 1024;

/** How a VM boots. */
export type VmBoot =
  | {
      /** Direct kernel boot, with the root file system on the disk made from `baseDiskPath`. */
      kind: 'kernel';
      kernelPath: string;
      initrdPath: string;
      cmdline: string;
      baseDiskPath: string;
      baseDiskFormat: 'qcow2' | 'raw';
    }
  | {
      /** Firmware boot from a disk made from `baseDiskPath`. */ kind: 'disk';
      baseDiskPath: string;
      baseDiskFormat: 'qcow2' | 'raw';
    }
  | { /** Boots the ISO with a blank disk of `diskGib`. */ kind: 'iso'; isoPath: string }
  | {
      /**
       * A system container from an image tarball (Incus's unified format: `metadata.yaml` and
       * `rootfs/`), for drivers that run containers (the Incus driver).
       */
      kind: 'container';
      imagePath: string;
    };

/** Disk I/O limits for a VM (QEMU throttling, totals of read and write). */
export interface DiskThrottle {
  iopsTotal?: number;
  bpsTotal?: number;
}

/** A login name the guest can create: what Debian's `adduser` accepts by default. */
export const GUEST_USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;
/** A hostname: dot-separated labels of letters, digits and inner dashes, at most 253 characters. */
export const GUEST_HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** A crypt(3) hash as /etc/shadow holds it (`$6$salt$hash`, `$y$...`). */
const PASSWORD_HASH_PATTERN = /^\$[0-9a-z]+\$[!-9;-~]+$/;
/** Longest plain password passed to a guest. */
const MAX_GUEST_PASSWORD_LENGTH = 256;

/**
 * Configuration handed to the guest at boot through QEMU's fw_cfg (`opt/labvisor/config`, JSON),
 * read by images that know it (infra/images/debian-lab): the hostname and the user to log in as.
 */
export interface GuestConfig {
  /** The guest's hostname (default: the VM's name as a hostname label). */
  hostname?: string;
  /** The account the guest creates at its first boot (or renames its `student` to), with sudo. */
  user?: {
    /** Login name, as {@link GUEST_USER_PATTERN}. */
    name: string;
    /** Plain password, hashed by the guest; no newline. */
    password?: string;
    /** Or a crypt(3) hash, used as is. */
    passwordHash?: string;
  };
}

/** A network segment's key: names a tenant's private class segment (e.g. the tenant's id). */
export const NETWORK_SEGMENT_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * How a VM reaches the network. `none`: user-mode networking that reaches nothing; `internet`:
 * outbound only, to public addresses, through NAT; `class`: one private segment shared by the VMs
 * of the same `segment` (a tenant), with `internet` egress from it when asked.
 */
export type VmNetwork =
  | { mode: 'none' }
  | ({ mode: 'internet' } & NetworkLimits)
  | ({ mode: 'class'; segment: string; internet: boolean } & NetworkLimits);

/** Limits of a VM's network. */
export interface NetworkLimits {
  /** Megabits per second each way (to and from the guest); absent: unlimited. */
  bandwidthMbps?: number;
}

/** Largest bandwidth limit the engine accepts (100 Gbit/s). */
export const MAX_BANDWIDTH_MBPS = 100_000;

/** Everything the engine needs to create and run a VM; stored as `<runDir>/<id>/vm.json`. */
export interface VmSpec {
  id: string;
  name: string;
  vcpus: number;
  memoryMib: number;
  diskGib: number;
  boot: VmBoot;
  diskThrottle?: DiskThrottle;
  /** Passed to the guest through fw_cfg; without it the guest gets no fw_cfg entry. */
  guestConfig?: GuestConfig;
  /**
   * The guest runs the Labvisor agent on its second serial port (images that declare it, see
   * infra/images/README.md): such a VM can start as a clone of a booted template, and gets its
   * own identity (hostname, user, machine-id, SSH host keys, clock) through the agent.
   */
  guestAgent?: boolean;
  /** How the VM reaches the network (default `none`). */
  network?: VmNetwork;
  /**
   * A persistent second disk that outlives the VM (its owner's home), attached with the serial
   * `labvisor-home`; made (sparse, ext4, labelled `labvisor-home`) at the first start that needs
   * it. A VM with one always boots from its own disk, never as a template's clone.
   */
  homeDisk?: HomeDisk;
  /**
   * The tenant the VM belongs to, as {@link PROJECT_PATTERN}: drivers that partition a cluster by
   * tenant (the Incus driver's projects) put it there.
   */
  project?: string;
}

/** A VM's persistent home disk: a raw file at `path` of `sizeGib`. */
export interface HomeDisk {
  path: string;
  sizeGib: number;
}

/** What a VM's project key must look like (a tenant id). */
export const PROJECT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

function fail(spec: { id?: unknown }, message: string, field: string): never {
  throw new EngineError(
    'VALIDATION',
    `Invalid VM spec${typeof spec.id === 'string' ? ` for "${spec.id}"` : ''}: ${message}`,
    {
      field,
    },
  );
}

function checkInteger(
  spec: VmSpec,
  field: 'vcpus' | 'memoryMib' | 'diskGib',
  min: number,
  max: number,
): void {
  const value = spec[field];
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(spec, `${field} must be an integer from ${min} to ${max}, got ${String(value)}`, field);
  }
}

function checkPath(spec: VmSpec, value: unknown, field: string): void {
  if (typeof value !== 'string' || value.length === 0) fail(spec, `${field} must be a path`, field);
}

/** Checks a spec and returns a copy with absolute paths; throws VALIDATION naming the bad field. */
export function validateVmSpec(spec: VmSpec): VmSpec {
  if (typeof spec.id !== 'string' || !VM_ID_PATTERN.test(spec.id)) {
    fail(spec, `id must match ${VM_ID_PATTERN}`, 'id');
  }
  if (typeof spec.name !== 'string' || spec.name.length === 0)
    fail(spec, 'name is required', 'name');
  checkInteger(spec, 'vcpus', 1, MAX_VCPUS);
  checkInteger(spec, 'memoryMib', MIN_MEMORY_MIB, MAX_MEMORY_MIB);
  checkInteger(spec, 'diskGib', 1, MAX_DISK_GIB);
  const boot = spec.boot;
  let normalized: VmBoot;
  switch (boot?.kind) {
    case 'kernel':
      checkPath(spec, boot.kernelPath, 'boot.kernelPath');
      checkPath(spec, boot.initrdPath, 'boot.initrdPath');
      checkPath(spec, boot.baseDiskPath, 'boot.baseDiskPath');
      if (typeof boot.cmdline !== 'string')
        fail(spec, 'boot.cmdline must be a string', 'boot.cmdline');
      normalized = {
        ...boot,
        kernelPath: path.resolve(boot.kernelPath),
        initrdPath: path.resolve(boot.initrdPath),
        baseDiskPath: path.resolve(boot.baseDiskPath),
      };
      break;
    case 'disk':
      checkPath(spec, boot.baseDiskPath, 'boot.baseDiskPath');
      normalized = { ...boot, baseDiskPath: path.resolve(boot.baseDiskPath) };
      break;
    case 'iso':
      checkPath(spec, boot.isoPath, 'boot.isoPath');
      normalized = { ...boot, isoPath: path.resolve(boot.isoPath) };
      break;
    case 'container':
      checkPath(spec, boot.imagePath, 'boot.imagePath');
      normalized = { ...boot, imagePath: path.resolve(boot.imagePath) };
      break;
    default:
      fail(spec, 'boot.kind must be kernel, disk, iso or container', 'boot.kind');
  }
  if (
    (normalized.kind === 'kernel' || normalized.kind === 'disk') &&
    !['qcow2', 'raw'].includes(normalized.baseDiskFormat)
  ) {
    fail(spec, 'boot.baseDiskFormat must be qcow2 or raw', 'boot.baseDiskFormat');
  }
  for (const key of ['iopsTotal', 'bpsTotal'] as const) {
    const value = spec.diskThrottle?.[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      fail(spec, `diskThrottle.${key} must be a non-negative integer`, `diskThrottle.${key}`);
    }
  }
  const result: VmSpec = {
    id: spec.id,
    name: spec.name,
    vcpus: spec.vcpus,
    memoryMib: spec.memoryMib,
    diskGib: spec.diskGib,
    boot: normalized,
  };
  if (spec.diskThrottle) result.diskThrottle = { ...spec.diskThrottle };
  if (spec.guestConfig !== undefined) result.guestConfig = validateGuestConfig(spec);
  if (spec.guestAgent !== undefined) {
    if (typeof spec.guestAgent !== 'boolean')
      fail(spec, 'guestAgent must be true or false', 'guestAgent');
    if (spec.guestAgent) result.guestAgent = true;
  }
  if (spec.network !== undefined && spec.network.mode !== 'none') {
    result.network = validateNetwork(spec);
  }
  if (spec.homeDisk !== undefined) {
    checkPath(spec, spec.homeDisk?.path, 'homeDisk.path');
    const size = spec.homeDisk.sizeGib;
    if (!Number.isInteger(size) || size < 1 || size > MAX_DISK_GIB)
      fail(
        spec,
        `homeDisk.sizeGib must be an integer from 1 to ${MAX_DISK_GIB}`,
        'homeDisk.sizeGib',
      );
    result.homeDisk = { path: path.resolve(spec.homeDisk.path), sizeGib: size };
  }
  if (spec.project !== undefined) {
    if (typeof spec.project !== 'string' || !PROJECT_PATTERN.test(spec.project)) {
      fail(spec, `project must match ${PROJECT_PATTERN}`, 'project');
    }
    result.project = spec.project;
  }
  return result;
}

/** Checks `spec.network` and returns a copy holding only the known fields. */
function validateNetwork(spec: VmSpec): VmNetwork {
  const network = spec.network as Partial<{
    mode: unknown;
    segment: unknown;
    internet: unknown;
    bandwidthMbps: unknown;
  }>;
  const limits: NetworkLimits = {};
  if (network.bandwidthMbps !== undefined) {
    const value = network.bandwidthMbps;
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < 1 ||
      value > MAX_BANDWIDTH_MBPS
    )
      fail(
        spec,
        `network.bandwidthMbps must be an integer from 1 to ${MAX_BANDWIDTH_MBPS}`,
        'network.bandwidthMbps',
      );
    limits.bandwidthMbps = value;
  }
  if (network.mode === 'internet') return { mode: 'internet', ...limits };
  if (network.mode !== 'class') {
    fail(spec, 'network.mode must be none, internet or class', 'network.mode');
  }
  if (typeof network.segment !== 'string' || !NETWORK_SEGMENT_PATTERN.test(network.segment)) {
    fail(spec, `network.segment must match ${NETWORK_SEGMENT_PATTERN}`, 'network.segment');
  }
  if (typeof network.internet !== 'boolean') {
    fail(spec, 'network.internet must be true or false', 'network.internet');
  }
  return { mode: 'class', segment: network.segment, internet: network.internet, ...limits };
}

/** Checks `spec.guestConfig` field by field and returns a copy holding only the known fields. */
function validateGuestConfig(spec: VmSpec): GuestConfig {
  const config = spec.guestConfig;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    fail(spec, 'guestConfig must be an object', 'guestConfig');
  }
  const unknown = Object.keys(config).filter((key) => key !== 'hostname' && key !== 'user');
  if (unknown.length > 0) fail(spec, `guestConfig has unknown field ${unknown[0]}`, 'guestConfig');
  const result: GuestConfig = {};
  if (config.hostname !== undefined) {
    if (typeof config.hostname !== 'string' || !GUEST_HOSTNAME_PATTERN.test(config.hostname)) {
      fail(spec, 'guestConfig.hostname must be a hostname', 'guestConfig.hostname');
    }
    result.hostname = config.hostname;
  }
  const user = config.user;
  if (user !== undefined) {
    if (typeof user !== 'object' || user === null) {
      fail(spec, 'guestConfig.user must be an object', 'guestConfig.user');
    }
    const extra = Object.keys(user).filter(
      (key) => !['name', 'password', 'passwordHash'].includes(key),
    );
    if (extra.length > 0)
      fail(spec, `guestConfig.user has unknown field ${extra[0]}`, 'guestConfig.user');
    if (
      typeof user.name !== 'string' ||
      !GUEST_USER_PATTERN.test(user.name) ||
      user.name === 'root'
    ) {
      fail(
        spec,
        `guestConfig.user.name must match ${GUEST_USER_PATTERN} and not be root`,
        'guestConfig.user.name',
      );
    }
    result.user = { name: user.name };
    if (user.password !== undefined) {
      if (
        typeof user.password !== 'string' ||
        user.password.length === 0 ||
        user.password.length > MAX_GUEST_PASSWORD_LENGTH ||
        /[\n\r\0]/.test(user.password)
      ) {
        fail(
          spec,
          `guestConfig.user.password must be 1 to ${MAX_GUEST_PASSWORD_LENGTH} characters on one line`,
          'guestConfig.user.password',
        );
      }
      result.user.password = user.password;
    }
    if (user.passwordHash !== undefined) {
      if (typeof user.passwordHash !== 'string' || !PASSWORD_HASH_PATTERN.test(user.passwordHash)) {
        fail(
          spec,
          'guestConfig.user.passwordHash must be a crypt(3) hash',
          'guestConfig.user.passwordHash',
        );
      }
      if (user.password !== undefined) {
        fail(
          spec,
          'guestConfig.user takes password or passwordHash, not both',
          'guestConfig.user.passwordHash',
        );
      }
      result.user.passwordHash = user.passwordHash;
    }
  }
  return result;
}

/** Turns a display name into a valid hostname label (lowercase letters, digits, dashes). */
export function toHostname(name: string, fallback: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/g, '');
  return label.length > 0 ? label : fallback;
}
