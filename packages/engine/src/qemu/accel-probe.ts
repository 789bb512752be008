import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Accelerator } from '../driver.js';

/** How long a probe guest may take to print its marker before KVM is judged unusable. */
export const ACCEL_PROBE_TIMEOUT_MS = 4_000;
/** What the probe guest prints on its serial port. */
export const PROBE_MARKER = 'LABVISOR-PROBE-OK';

/**
 * A 512-byte boot sector that writes {@link PROBE_MARKER} to COM1 (port 0x3f8) and halts. The
 * firmware loads it at 0x7c00; it needs no image, kernel or disk from the host, so the probe works
 * before any image is built. Under kvm-pvm a standard guest (firmware included) never gets here.
 */
export function buildProbeBootSector(): Buffer {
  const code = [
    0x31,
    0xc0, //          xor ax, ax
    0x8e,
    0xd8, //          mov ds, ax
    0xba,
    0xf8,
    0x03, //    mov dx, 0x3f8
    0xbe,
    0x16,
    0x7c, //    mov si, 0x7c16 (the message)
    0xac, //                next: lodsb
    0x84,
    0xc0, //          test al, al
    0x74,
    0x03, //          jz done
    0xee, //                out dx, al
    0xeb,
    0xf8, //          jmp next
    0xfa, //                done: cli
    0xf4, //                hlt
    0xeb,
    0xfd, //          jmp hlt
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector, 0);
  Buffer.from(`${PROBE_MARKER}\n\0`, 'latin1').copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** The outcome of one probe. */
export interface ProbeResult {
  ok: boolean;
  elapsedMs: number;
  /** Why the probe failed (QEMU's error or the timeout). */
  reason?: string;
}

/** Boots the probe guest under `accel` and reports whether it printed its marker within `timeoutMs`. */
export async function probeAccelerator(
  qemuBinary: string,
  accel: Accelerator,
  timeoutMs = ACCEL_PROBE_TIMEOUT_MS,
): Promise<ProbeResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'labvisor-probe-'));
  const image = path.join(dir, 'probe.img');
  await fs.writeFile(image, buildProbeBootSector());
  const started = Date.now();
  const child = spawn(
    qemuBinary,
    [
      '-nodefaults',
      '-no-user-config',
      '-machine',
      'pc',
      '-accel',
      accel === 'tcg' ? 'tcg,tb-size=16' : 'kvm',
      '-m',
      '16M',
      '-display',
      'none',
      '-monitor',
      'none',
      '-serial',
      'stdio',
      '-drive',
      `file=${image},format=raw,if=ide`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    return await new Promise<ProbeResult>((resolve) => {
      let stdout = '';
      let stderr = '';
      const finish = (result: ProbeResult): void => {
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(
        () =>
          finish({
            ok: false,
            elapsedMs: Date.now() - started,
            reason: `no boot within ${timeoutMs} ms`,
          }),
        timeoutMs,
      );
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes(PROBE_MARKER)) finish({ ok: true, elapsedMs: Date.now() - started });
      });
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.on('error', (error) =>
        finish({ ok: false, elapsedMs: Date.now() - started, reason: error.message }),
      );
      child.on('exit', (code, signal) =>
        finish({
          ok: false,
          elapsedMs: Date.now() - started,
          reason: stderr.trim() || `QEMU exited (${signal ?? `status ${code}`})`,
        }),
      );
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The accelerator chosen and why. */
export interface AccelChoice {
  accel: Accelerator;
  reason: string;
}

/**
 * Chooses the accelerator: `kvm`/`tcg` are taken as given; `auto` uses KVM only when /dev/kvm
 * exists and a probe guest really boots under it (kvm-pvm hosts expose /dev/kvm yet hang standard
 * guests), TCG otherwise.
 */
export async function chooseAccelerator(
  requested: 'auto' | Accelerator,
  qemuBinary: string,
  kvmDevice = '/dev/kvm',
): Promise<AccelChoice> {
  if (requested !== 'auto') return { accel: requested, reason: `configured as ${requested}` };
  try {
    await fs.access(kvmDevice, fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: `${kvmDevice} is not usable` };
  }
  const probe = await probeAccelerator(qemuBinary, 'kvm');
  return probe.ok
    ? { accel: 'kvm', reason: `KVM probe guest booted in ${probe.elapsedMs} ms` }
    : { accel: 'tcg', reason: `KVM probe failed: ${probe.reason}` };
}
