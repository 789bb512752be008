import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { EngineError } from '../errors.js';

/** How long a qemu-img call may take. */
export const QEMU_IMG_TIMEOUT_MS = 60_000;

/** Runs qemu-img and resolves with its stdout; rejects with its stderr in the message. */
export function runQemuImg(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: QEMU_IMG_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = stderr.trim() || error.message;
          reject(new Error(`qemu-img ${args[0]} failed: ${detail}`, { cause: error }));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/** Creates a qcow2 overlay of `sizeBytes` on a read-only `base` (no copy: constant time). */
export async function createOverlay(
  binary: string,
  overlay: string,
  base: string,
  baseFormat: 'qcow2' | 'raw',
  sizeBytes: number,
): Promise<void> {
  await runQemuImg(binary, [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    'cluster_size=65536',
    '-b',
    base,
    '-F',
    baseFormat,
    overlay,
    String(sizeBytes),
  ]);
}

/** Creates a blank qcow2 disk of `sizeBytes`. */
export async function createBlankDisk(
  binary: string,
  file: string,
  sizeBytes: number,
): Promise<void> {
  await runQemuImg(binary, ['create', '-q', '-f', 'qcow2', file, String(sizeBytes)]);
}

/**
 * Reads a disk image's virtual size without running qemu-img: qcow2 stores it big-endian at byte
 * 24 of its header; a raw image is its file size.
 */
export async function readVirtualSize(file: string, format: 'qcow2' | 'raw'): Promise<number> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    throw new EngineError(
      'NOT_FOUND',
      `Base image ${file} cannot be opened: ${(error as Error).message}`,
      {
        path: file,
      },
    );
  }
  try {
    if (format === 'raw') return (await handle.stat()).size;
    const header = Buffer.alloc(32);
    await handle.read(header, 0, 32, 0);
    if (header.readUInt32BE(0) !== 0x514649fb) {
      throw new EngineError('VALIDATION', `Base image ${file} is not a qcow2 image`, {
        path: file,
      });
    }
    return Number(header.readBigUInt64BE(24));
  } finally {
    await handle.close();
  }
}

/** An internal snapshot as `qemu-img info --output=json` lists it. */
export interface QcowSnapshotEntry {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
}

/** Lists a qcow2's internal snapshots; `-U` (force share) lets it read a disk a running QEMU holds. */
export async function listQcowSnapshots(
  binary: string,
  file: string,
): Promise<QcowSnapshotEntry[]> {
  const info = JSON.parse(await runQemuImg(binary, ['info', '-U', '--output=json', file])) as {
    snapshots?: QcowSnapshotEntry[];
  };
  return info.snapshots ?? [];
}
