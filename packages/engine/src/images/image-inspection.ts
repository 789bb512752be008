import fs from 'node:fs/promises';
import type { ImageFormat } from '@labvisor/shared';
import { execQemuImg, type QemuImgResult } from '../drivers/qemu/qemu-img.js';
import { EngineError } from '../errors.js';

/** How long one qemu-img call on an uploaded file may take. */
const INSPECTION_TIMEOUT_MS = 120_000;
/** Where an ISO 9660 file system says who it is: `CD001` in the first volume descriptor (sector 16). */
const ISO9660_SIGNATURE_OFFSET = 32_769;
const ISO9660_SIGNATURE = 'CD001';
/** `qemu-img check` exit codes: 0 clean, 3 only leaked clusters (wasted space, harmless). */
const QEMU_IMG_CHECK_PASSED = new Set([0, 3]);
/** The qcow2 header's magic, `QFI\xfb`. */
const QCOW2_MAGIC = 0x514649fb;
/** qcow2 v3 incompatible feature bit: the guest data lives in an external data file. */
const QCOW2_EXTERNAL_DATA_FILE = 0x4n;

/**
 * The first bytes of image formats qemu knows, so that a file declared raw or ISO but holding
 * another format is named rather than silently booted as bytes.
 */
const FORMAT_MAGICS: Array<{ name: string; offset: number; magic: string }> = [
  { name: 'qcow2', offset: 0, magic: 'QFI\xfb' },
  { name: 'vmdk', offset: 0, magic: 'KDMV' },
  { name: 'vmdk', offset: 0, magic: '# Disk DescriptorFile' },
  { name: 'vdi', offset: 0, magic: '<<< Oracle VM VirtualBox Disk Image >>>' },
  { name: 'vhdx', offset: 0, magic: 'vhdxfile' },
  { name: 'vpc', offset: 0, magic: 'conectix' },
  { name: 'qed', offset: 0, magic: 'QED\x00' },
];

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
 * (judged by its header: qemu-img never probes), its virtual size is within `maxVirtualBytes`, it refers to no other
 * file (no backing file, no external data file: they could expose any file of the host to a guest),
 * it is not encrypted, a qcow2 passes `qemu-img check` and an ISO carries the ISO 9660 signature.
 * Throws VALIDATION with a sentence naming what is wrong.
 */
export async function inspectImage(
  file: string,
  format: ImageFormat,
  options: { maxVirtualBytes: number; qemuImgBinary?: string },
): Promise<InspectedImage> {
  const qemuImgBinary = options.qemuImgBinary ?? 'qemu-img';
  const refuse = (reason: string, details?: Record<string, unknown>) =>
    new EngineError(
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
  // qemu-img never guesses the format (a guessed VMDK descriptor would open host files it names),
  // and a qcow2 is opened only once its own header shows it names no other file.
  const head = await readHead(file);
  const detected = FORMAT_MAGICS.find(
    ({ offset, magic }) => head.toString('latin1', offset, offset + magic.length) === magic,
  )?.name;
  const qemuFormat = QEMU_FORMAT[format];
  if (qemuFormat === 'qcow2' && detected !== 'qcow2') {
    throw refuse(detected ? `it is a ${detected} image` : 'it has no qcow2 header', {
      detectedFormat: detected ?? null,
    });
  }
  if (qemuFormat === 'raw' && detected !== undefined) {
    throw refuse(`it is a ${detected} image`, { detectedFormat: detected });
  }
  if (qemuFormat === 'qcow2') {
    const refusal = qcow2HeaderRefusal(head);
    if (refusal) throw refuse(refusal);
  }
  const read = await readInfo(qemuImgBinary, file, qemuFormat);
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
    const check = await execQemuImg(
      qemuImgBinary,
      ['check', '-f', 'qcow2', '--output=json', file],
      INSPECTION_TIMEOUT_MS,
    );
    if (!QEMU_IMG_CHECK_PASSED.has(check.exitCode)) {
      throw refuse(`qemu-img check finds it damaged (${describeFailure(check, file)})`);
    }
  }
  return { virtualSizeBytes };
}

/** The file's first 512 bytes (fewer when it is shorter). */
async function readHead(file: string): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Why a qcow2 header is refused before qemu-img opens it, or undefined: a backing file or an
 * external data file (opening the image would open them: any file of the host), or encryption.
 */
function qcow2HeaderRefusal(head: Buffer): string | undefined {
  if (head.length < 72 || head.readUInt32BE(0) !== QCOW2_MAGIC) return 'it has no qcow2 header';
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) return `it is qcow2 version ${version}`;
  if (head.readBigUInt64BE(8) !== 0n)
    return 'it refers to a backing file; upload a flattened image';
  if (head.readUInt32BE(32) !== 0) return 'it is encrypted';
  if (version === 3) {
    if (head.length < 80) return 'its qcow2 header is truncated';
    if ((head.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA_FILE) !== 0n) {
      return 'it keeps its data in an external data file; upload a self-contained image';
    }
  }
  return undefined;
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

/** `qemu-img info` of a file read as `format` (never probed; it does not open backing files). */
async function readInfo(
  binary: string,
  file: string,
  format: 'qcow2' | 'raw',
): Promise<{ ok: true; info: QemuImgInfo } | { ok: false; error: string }> {
  const args = ['info', '--output=json', '-f', format, file];
  const result = await execQemuImg(binary, args, INSPECTION_TIMEOUT_MS);
  if (result.exitCode !== 0) return { ok: false, error: describeFailure(result, file) };
  return { ok: true, info: JSON.parse(result.stdout) as QemuImgInfo };
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
