import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { QEMU_ENVIRONMENT } from './process-utils.js';
import { machineArgs, TCG_TB_SIZE_MIB } from './qemu-args.js';

/** The accelerators QEMU runs guests with here: hardware (KVM) or software emulation (TCG). */
export type Accelerator = 'kvm' | 'tcg';

/** How long the probe guest's kernel may take to reach its marker before KVM is judged unusable. */
export const ACCEL_PROBE_TIMEOUT_MS = 10_000;
/** What a Linux kernel prints on its console when it hands over to the initramfs's init. */
export const KERNEL_STARTED_MARKER = 'Run /init as init process';
/** Guest memory of the probe: what a small real guest has. */
const PROBE_MEMORY_MIB = 256;

/** The guest the probe boots: a real kernel and initramfs (the tiny image's). */
export interface ProbeGuest {
  kernelPath: string;
  initrdPath: string;
}

/** The outcome of one probe. */
export interface ProbeResult {
  ok: boolean;
  elapsedMs: number;
  /** Why the probe failed (QEMU's error or the timeout). */
  reason?: string;
}

/** The QEMU arguments of a probe: the machine, accelerator and CPU model of real guests. */
export function probeArgs(accel: Accelerator, guest: ProbeGuest): string[] {
  return [
    '-nodefaults',
    '-no-user-config',
    ...machineArgs(accel, TCG_TB_SIZE_MIB),
    '-m',
    `${PROBE_MEMORY_MIB}M`,
    '-smp',
    '1',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    guest.kernelPath,
    '-initrd',
    guest.initrdPath,
    '-append',
    'console=ttyS0 loglevel=7 panic=-1',
  ];
}

/**
 * Boots a real kernel under `accel` with the machine type and CPU model of real guests, and reports
 * whether it reached {@link KERNEL_STARTED_MARKER} within `timeoutMs`. (A boot sector alone is not
 * enough: measured on kvm-pvm hosts, it sometimes passes while real guests then abort.)
 */
export async function probeAccelerator(
  qemuBinary: string,
  accel: Accelerator,
  guest: ProbeGuest,
  timeoutMs = ACCEL_PROBE_TIMEOUT_MS,
): Promise<ProbeResult> {
  const started = Date.now();
  const child = spawn(qemuBinary, probeArgs(accel, guest), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: QEMU_ENVIRONMENT,
  });
  try {
    return await new Promise<ProbeResult>((resolve) => {
      let stdout = '';
      let stderr = '';
      const finish = (result: ProbeResult): void => {
        clearTimeout(timer);
        resolve(result);
      };
      const fail = (reason: string) =>
        finish({ ok: false, elapsedMs: Date.now() - started, reason });
      const timer = setTimeout(
        () => fail(`the probe guest's kernel did not start within ${timeoutMs} ms`),
        timeoutMs,
      );
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        // Only the tail matters; keep it bounded.
        stdout = (stdout + chunk).slice(-4096);
        if (stdout.includes(KERNEL_STARTED_MARKER)) {
          finish({ ok: true, elapsedMs: Date.now() - started });
        }
      });
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-4096);
      });
      child.on('error', (error) => fail(error.message));
      child.on('exit', (code, signal) =>
        fail(
          `QEMU ${signal ? `was killed by signal ${signal}` : `exited with status ${code}`}${
            stderr.trim() ? `: ${lastLine(stderr)}` : ''
          }`,
        ),
      );
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
}

/** The accelerator chosen and why. */
export interface AccelChoice {
  accel: Accelerator;
  reason: string;
}

/** What {@link chooseAccelerator} needs besides the request. */
export interface AccelChoiceOptions {
  qemuBinary: string;
  /** The guest to probe KVM with; without one, `auto` does not trust KVM. */
  probeGuest?: ProbeGuest;
  /** Default `/dev/kvm`. */
  kvmDevice?: string;
  timeoutMs?: number;
}

/**
 * Chooses the accelerator: `kvm`/`tcg` are taken as given; `auto` uses KVM only when the KVM device
 * is usable and a real kernel boots under it with the arguments real guests get (kvm-pvm hosts
 * expose /dev/kvm, yet standard guests hang or abort there), TCG otherwise.
 */
export async function chooseAccelerator(
  requested: 'auto' | Accelerator,
  options: AccelChoiceOptions,
): Promise<AccelChoice> {
  if (requested !== 'auto') return { accel: requested, reason: `configured as ${requested}` };
  const kvmDevice = options.kvmDevice ?? '/dev/kvm';
  try {
    await fs.access(kvmDevice, fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: `${kvmDevice} is not usable` };
  }
  if (!options.probeGuest) {
    return {
      accel: 'tcg',
      reason: 'no guest kernel to probe KVM with (the tiny image is not built)',
    };
  }
  const probe = await probeAccelerator(
    options.qemuBinary,
    'kvm',
    options.probeGuest,
    options.timeoutMs,
  );
  return probe.ok
    ? { accel: 'kvm', reason: `a real kernel booted under KVM in ${probe.elapsedMs} ms` }
    : { accel: 'tcg', reason: `KVM probe failed: ${probe.reason}` };
}

/**
 * Whether a QEMU that ended during or soon after its start under KVM failed because of KVM, judged
 * by what QEMU wrote (e.g. `failed to set MSR 0x10a`, `kvm_buf_set_msrs: Assertion ... failed`,
 * `failed to initialize kvm`) or by an abort, which is how QEMU ends on a KVM assertion.
 */
export function isKvmFailure(exit: { signal: NodeJS.Signals | null }, qemuLog: string): boolean {
  // The engine's own lines in qemu.log (the command line, with `-accel kvm`) say nothing.
  const qemuLines = qemuLog.split('\n').filter((line) => !line.includes(' labvisor: '));
  return exit.signal === 'SIGABRT' || qemuLines.some((line) => /\bkvm|\bMSR\b/i.test(line));
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}
