import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { EngineError } from '../../errors.js';

/** How long a qemu-img call may take. */
export const QEMU_IMG_TIMEOUT_MS = 60_000;

/** What a qemu-img run answered. */
export interface QemuImgResult {
  /** Its exit status; -1 when it ran too long or said too much. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The one qemu-img runner: answers its exit code and output; one that runs longer than
 * `timeoutMs` or says too much is a failure (exit code -1). Rejects only when it cannot run at all.
 */
export function execQemuImg(
  binary: string,
  args: string[],
  timeoutMs = QEMU_IMG_TIMEOUT_MS,
): Promise<QemuImgResult> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: unknown; killed?: boolean }) | null;
        if (failure?.killed || failure?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          resolve({
            exitCode: -1,
            stdout: '',
            stderr: `qemu-img ${args[0]} did not finish in time`,
          });
          return;
        }
        const exitCode = failure ? failure.code : 0;
        if (typeof exitCode !== 'number') {
          reject(new Error(`qemu-img ${args[0]} did not run: ${error?.message}`, { cause: error }));
          return;
        }
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** Runs qemu-img and resolves with its stdout; rejects with its complaint in the message. */
export async function runQemuImg(binary: string, args: string[]): Promise<string> {
  const result = await execQemuImg(binary, args);
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim() || `exit status ${result.exitCode}`;
    throw new Error(`qemu-img ${args[0]} failed: ${detail}`);
  }
  return result.stdout;
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
    throw new EngineError('NOT_FOUND', 'The image file of this VM cannot be opened', {
      path: file,
      reason: (error as Error).message,
    });
  }
  try {
    if (format === 'raw') return (await handle.stat()).size;
    const header = Buffer.alloc(32);
    await handle.read(header, 0, 32, 0);
    if (header.readUInt32BE(0) !== 0x514649fb) {
      throw new EngineError('VALIDATION', 'The image file of this VM is not a qcow2 image', {
        path: file,
      });
    }
    return Number(header.readBigUInt64BE(24));
  } finally {
    await handle.close();
  }
}

/**
 * The backing file a qcow2 overlay names in its header (absolute, resolved against the overlay's
 * folder), or undefined when it has none or cannot be read.
 */
export async function readBackingFile(file: string): Promise<string | undefined> {
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const header = Buffer.alloc(20);
    await handle.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x514649fb) return undefined;
    const offset = Number(header.readBigUInt64BE(8));
    const size = header.readUInt32BE(16);
    if (offset === 0 || size === 0 || size > 4096) return undefined;
    const name = Buffer.alloc(size);
    await handle.read(name, 0, size, offset);
    return path.resolve(path.dirname(file), name.toString('utf8'));
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
