import { execFile } from 'node:child_process';
import type { EngineLogger } from '../../logger.js';
import { type Accelerator, chooseAccelerator, type ProbeGuest } from './accel-probe.js';

/** What the QEMU driver can do on any host it runs on. */
const QEMU_FEATURES = [
  'sandbox',
  'serial',
  'vnc',
  'disk-throttle',
  'internal-snapshots',
  'memory-snapshots',
  'suspend-to-file',
  'user-network-restricted',
];

/** What {@link detectQemu} found on this host. */
export interface QemuHost {
  /** e.g. `7.2.22`; empty when QEMU cannot be run. */
  version: string;
  features: string[];
  accel: Accelerator;
  accelReason: string;
  /** Why VMs cannot run here (no QEMU, no qemu-img). */
  error: string | undefined;
}

/** What {@link detectQemu} needs. */
export interface DetectQemuOptions {
  qemuBinary: string;
  qemuImgBinary: string;
  accel: 'auto' | Accelerator;
  probeGuest?: ProbeGuest;
  kvmDevice?: string;
  logger: EngineLogger;
}

function runVersion(binary: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: 10_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout);
    });
  });
}

/**
 * Finds QEMU's version and qemu-img, and chooses the accelerator; never throws (a host
 * without QEMU answers with `error` set).
 */
export async function detectQemu(options: DetectQemuOptions): Promise<QemuHost> {
  let version = '';
  try {
    const output = await runVersion(options.qemuBinary);
    version = /version\s+(\S+)/i.exec(output)?.[1] ?? output.trim();
  } catch (error) {
    return {
      version: '',
      features: [],
      accel: 'tcg',
      accelReason: 'QEMU cannot be run',
      error: `${options.qemuBinary} cannot be run: ${(error as Error).message}`,
    };
  }
  const features = [...QEMU_FEATURES];
  try {
    await runVersion(options.qemuImgBinary);
  } catch (error) {
    return {
      version,
      features,
      accel: 'tcg',
      accelReason: 'qemu-img cannot be run',
      error: `${options.qemuImgBinary} cannot be run: ${(error as Error).message}`,
    };
  }
  const choice = await chooseAccelerator(options.accel, {
    qemuBinary: options.qemuBinary,
    ...(options.probeGuest ? { probeGuest: options.probeGuest } : {}),
    ...(options.kvmDevice ? { kvmDevice: options.kvmDevice } : {}),
  });
  options.logger.info(
    { accel: choice.accel, reason: choice.reason, version },
    'accelerator chosen',
  );
  return {
    version,
    features,
    accel: choice.accel,
    accelReason: choice.reason,
    error: undefined,
  };
}
