import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import type { ImageFormat } from '@labvisor/shared';
import { AppError } from '../http/errors.js';

/** How long one qemu-img call on an uploaded file may take. */
const QEMU_IMG_TIMEOUT_MS = 120_000;
/** Where an ISO 9660 file system says who it is: `CD001` in the first volume descriptor (sector 16). */
const ISO9660_SIGNATURE_OFFSET = 32_769;
const ISO9660_SIGNATURE = 'CD001';
/** `qemu-img check` exit codes: 0 clean, 3 only leaked clusters (wasted space, harmless). */
const QEMU_IMG_CHECK_PASSED = new Set([0, 3]);

/** What qemu-img reads an image file as. */
const QEMU_FORMAT: Record<ImageFormat, 'qcow2' | 'raw'> = {
  qcow2: 'qcow2',
  raw: 'raw',
  iso: 'raw',
};

/** The part of `qemu-img info --output=json` an upload is judged by. */
interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  encrypted?: boolean;
  'format-specific'?: { data?: { 'data-file'?: string } };
}

/** What checking an uploaded file found: a guest can safely boot from it. */
export interface InspectedImage {
  virtualSizeBytes: number;
}

/**
 * Checks an uploaded image file with qemu-img before anything uses it: it is of the declared format
 * (qemu-img's own probe agrees), its virtual size is within `maxVirtualBytes`, it refers to no other
 * file (no backing file, no external data file: they could expose any file of the host to a guest),
 * it is not encrypted, a qcow2 passes `qemu-img check` and an ISO carries the ISO 9660 signature.
 * Throws VALIDATION with a sentence naming what is wrong.
 */
export async function inspectImage(
  file: string,
  format: ImageFormat,
  options: { qemuImgBinary: string; maxVirtualBytes: number },
): Promise<InspectedImage> {
  const refuse = (reason: string, details?: Record<string, unknown>) =>
    new AppError(
      'VALIDATION',
      `The uploaded file cannot be used as a ${format} image: ${reason}.`,
      {
        format,
        ...details,
      },
    );
  if (format === 'iso' && !(await hasIso9660Signature(file))) {
    throw refuse('it has no ISO 9660 signature (CD001 at byte 32769)');
  }
  const qemuFormat = QEMU_FORMAT[format];
  // Probing (no -f) tells what the bytes are; the declared format must be what they are.
  const probed = await readInfo(options.qemuImgBinary, file, undefined);
  if (!probed.ok) throw refuse(`qemu-img cannot read it (${probed.error})`);
  if (probed.info.format !== qemuFormat) {
    throw refuse(`it is a ${probed.info.format} image`, { detectedFormat: probed.info.format });
  }
  const read = await readInfo(options.qemuImgBinary, file, qemuFormat);
  if (!read.ok) throw refuse(`qemu-img cannot read it (${read.error})`);
  const info = read.info;
  const backing = info['backing-filename'] ?? info['full-backing-filename'];
  if (backing !== undefined) throw refuse('it refers to a backing file; upload a flattened image');
  if (info['format-specific']?.data?.['data-file'] !== undefined) {
    throw refuse('it keeps its data in an external data file; upload a self-contained image');
  }
  if (info.encrypted) throw refuse('it is encrypted');
  const virtualSizeBytes = info['virtual-size'];
  if (typeof virtualSizeBytes !== 'number') throw refuse('qemu-img reports no virtual size');
  if (virtualSizeBytes > options.maxVirtualBytes) {
    throw refuse(
      `its virtual size of ${formatGib(virtualSizeBytes)} is above the limit of ${formatGib(options.maxVirtualBytes)}`,
      { virtualSizeBytes, maxVirtualBytes: options.maxVirtualBytes },
    );
  }
  if (format === 'qcow2') {
    const check = await runQemuImg(options.qemuImgBinary, [
      'check',
      '-f',
      'qcow2',
      '--output=json',
      file,
    ]);
    if (!QEMU_IMG_CHECK_PASSED.has(check.exitCode)) {
      throw refuse(`qemu-img check finds it damaged (${describeFailure(check, file)})`);
    }
  }
  return { virtualSizeBytes };
}

async function hasIso9660Signature(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const signature = Buffer.alloc(ISO9660_SIGNATURE.length);
    const { bytesRead } = await handle.read(
      signature,
      0,
      signature.length,
      ISO9660_SIGNATURE_OFFSET,
    );
    return bytesRead === signature.length && signature.toString('latin1') === ISO9660_SIGNATURE;
  } finally {
    await handle.close();
  }
}

/** `qemu-img info` of a file, with `-f` when given (it never opens backing files). */
async function readInfo(
  binary: string,
  file: string,
  format: 'qcow2' | 'raw' | undefined,
): Promise<{ ok: true; info: QemuImgInfo } | { ok: false; error: string }> {
  const args = ['info', '--output=json', ...(format ? ['-f', format] : []), file];
  const result = await runQemuImg(binary, args);
  if (result.exitCode !== 0) return { ok: false, error: describeFailure(result, file) };
  return { ok: true, info: JSON.parse(result.stdout) as QemuImgInfo };
}

interface QemuImgResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs qemu-img and answers its exit code and output; fails only when it cannot run at all. */
function runQemuImg(binary: string, args: string[]): Promise<QemuImgResult> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: QEMU_IMG_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error ? (error as { code?: unknown }).code : 0;
        if (typeof exitCode !== 'number') {
          reject(new Error(`qemu-img ${args[0]} did not run: ${error?.message}`, { cause: error }));
          return;
        }
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** qemu-img's complaint as a short phrase, without the server's temporary path. */
function describeFailure(result: QemuImgResult, file: string): string {
  const text = result.stderr.trim() || `exit status ${result.exitCode}`;
  return text
    .replaceAll(`'${file}'`, 'the file')
    .replaceAll(file, 'the file')
    .replace(/^qemu-img: /, '')
    .split('\n')[0]!;
}

function formatGib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
