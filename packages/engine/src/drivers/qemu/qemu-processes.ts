import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { EngineError } from '../../errors.js';
import type { EngineLogger } from '../../logger.js';
import type { DriverObserver, DriverVm, ExitInfo } from '../driver.js';
import type { Accelerator } from './accel-probe.js';
import { isKvmFailure } from './accel-probe.js';
import {
  describeExit,
  EXIT_POLL_INTERVAL_MS,
  isProcessAlive,
  QEMU_ENVIRONMENT,
  signalProcess,
  sleep,
  tailFile,
} from './process-utils.js';
import type { QemuPaths } from './qemu-paths.js';
import { QmpClient } from './qmp/commands.js';
import { QMP_EVENTS, type ShutdownEventData } from './qmp/events.js';

/** How long QEMU gets to exit after `quit` before it is killed. */
export const QUIT_TIMEOUT_MS = 3_000;
/** How long a killed QEMU gets to disappear. */
export const KILL_TIMEOUT_MS = 5_000;
/** The size past which a VM's serial.log is rotated into serial.log.1 (so at most twice this). */
export const SERIAL_LOG_MAX_BYTES = 8 * 1024 * 1024;
/** Backstop liveness poll (and serial log check) for processes. */
export const LIVENESS_POLL_INTERVAL_MS = 1_000;
/**
 * A QEMU that fails this soon after a start under KVM, in a way {@link isKvmFailure} recognises, is
 * taken as KVM failing this host's guests: KVM is turned off and the VM restarted under TCG.
 */
export const KVM_EARLY_FAILURE_WINDOW_MS = 60_000;
/** After the monitor closes, how long to wait for the exit status before judging from liveness. */
const EXIT_STATUS_GRACE_MS = 1_000;
const MONITOR_RETRY_INTERVAL_MS = 20;
/** Beyond this size, qmp.log is moved to qmp.log.1 when a monitor connects. */
const QMP_LOG_MAX_BYTES = 8 * 1024 * 1024;

/** One QEMU process the driver knows about. */
export interface QemuProcess {
  vmId: string;
  pid: number;
  /** The accelerator it was started with. */
  accel: Accelerator;
  /** When this driver started it (0 for an adopted process). */
  startedAt: number;
  paths: QemuPaths;
  child: ChildProcess | undefined;
  client: QmpClient | undefined;
  /** An engine action asked for the process to end. */
  exitRequested: boolean;
  /** The driver no longer watches it (close() or release()). */
  released: boolean;
  shutdownReason: string | undefined;
  /** Why the guest's next stop happens, when QEMU said so first (a write that found no space). */
  stopCause: string | undefined;
  childExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: boolean;
  exit: Promise<ExitInfo>;
  resolveExit: (exit: ExitInfo) => void;
}

/** The reason of a guest paused because the host's disk had no room for its write. */
export const DISK_FULL_CAUSE =
  "Paused: the host's disk is full, so its last write was held back and nothing was lost; resume it once an admin has freed space";

/** What the process table needs from its driver. */
export interface QemuProcessesOptions {
  logger: EngineLogger;
  observer: DriverObserver;
  /** A guest failed under KVM soon after its start (the driver turns KVM off). */
  onKvmFailure: (vmId: string, cause: string) => void;
  /** The size past which a VM's serial.log is rotated (default {@link SERIAL_LOG_MAX_BYTES}). */
  serialLogMaxBytes?: number;
}

/**
 * The QEMU processes of one driver: spawned detached (their own session, so they outlive the
 * server, even a `kill -9` of it) or adopted by pid; each with its QMP monitor; watched until they
 * end, when their runtime files are removed and the observer hears how they ended.
 */
export class QemuProcesses {
  readonly #options: QemuProcessesOptions;
  readonly #processes = new Map<string, QemuProcess>();
  #livenessTimer: NodeJS.Timeout | undefined;

  constructor(options: QemuProcessesOptions) {
    this.#options = options;
    this.#livenessTimer = setInterval(() => void this.#pollLiveness(), LIVENESS_POLL_INTERVAL_MS);
    this.#livenessTimer.unref();
  }

  /** The live process of a VM. */
  get(vmId: string): QemuProcess | undefined {
    const proc = this.#processes.get(vmId);
    return proc && !proc.exited ? proc : undefined;
  }

  /** The connected monitor of a VM's process, or UNAVAILABLE. */
  client(vmId: string): QmpClient {
    const client = this.#processes.get(vmId)?.client;
    if (!client?.connected) {
      throw new EngineError('UNAVAILABLE', `VM "${vmId}" has no connected QEMU monitor`, { vmId });
    }
    return client;
  }

  /**
   * Spawns QEMU detached, its output appended to qemu.log after the command line; `stateFd` is
   * handed to it as fd 3 (`-incoming fd:3`).
   */
  async spawn(
    vm: DriverVm,
    paths: QemuPaths,
    command: {
      binary: string;
      args: string[];
      accel: Accelerator;
      stateFd?: number;
      /** A network namespace to run in (nsenter execs QEMU there: the pid stays QEMU's). */
      namespace?: string;
    },
  ): Promise<QemuProcess> {
    const logFd = fs.openSync(paths.log, 'w', 0o600);
    try {
      fs.writeSync(
        logFd,
        `${new Date().toISOString()} labvisor: starting ${command.binary} ${command.args.join(' ')}\n`,
      );
      vm.logger.debug({ args: command.args }, 'spawning QEMU');
      const stdio: Array<'ignore' | number> = ['ignore', logFd, logFd];
      if (command.stateFd !== undefined) stdio.push(command.stateFd);
      // detached: QEMU gets its own session and process group, so signals to the server's group
      // (Ctrl-C, systemd's stop of the server) and the server's death do not reach it.
      const [binary, args] = command.namespace
        ? [
            'nsenter',
            [`--net=/run/netns/${command.namespace}`, '--', command.binary, ...command.args],
          ]
        : [command.binary, command.args];
      const child = spawn(binary, args, {
        detached: true,
        stdio,
        cwd: paths.dir,
        env: QEMU_ENVIRONMENT,
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', (error) => reject(error));
      });
      child.unref();
      const proc = this.register(vm.id, paths, child.pid!, child, command.accel);
      child.once('exit', (code, signal) => {
        proc.childExit = { code, signal };
        void this.#finalize(proc);
      });
      return proc;
    } finally {
      fs.closeSync(logFd);
    }
  }

  /** Adds a process to the table (a spawned child, or an adopted pid without one). */
  register(
    vmId: string,
    paths: QemuPaths,
    pid: number,
    child: ChildProcess | undefined,
    accel: Accelerator,
  ): QemuProcess {
    let resolveExit!: (exit: ExitInfo) => void;
    const exit = new Promise<ExitInfo>((resolve) => {
      resolveExit = resolve;
    });
    const proc: QemuProcess = {
      vmId,
      pid,
      accel,
      startedAt: child ? Date.now() : 0,
      paths,
      child,
      client: undefined,
      exitRequested: false,
      released: false,
      shutdownReason: undefined,
      stopCause: undefined,
      childExit: undefined,
      exited: false,
      exit,
      resolveExit,
    };
    this.#processes.set(vmId, proc);
    return proc;
  }

  /** Drops a process that could not be taken over, without touching it. */
  forget(proc: QemuProcess): void {
    proc.released = true;
    if (this.#processes.get(proc.vmId) === proc) this.#processes.delete(proc.vmId);
  }

  /** Connects QMP, retrying while the socket is not there yet, failing as soon as QEMU exits. */
  async connectWhileAlive(proc: QemuProcess, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exited || proc.childExit) throw new Error('QEMU exited during start');
      try {
        return await this.connect(proc);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(MONITOR_RETRY_INTERVAL_MS);
      }
    }
  }

  /** Connects the process's QMP monitor and follows its events. */
  async connect(proc: QemuProcess): Promise<QmpClient> {
    const { paths } = proc;
    const logSize = await fsp.stat(paths.qmpLog).then(
      (stat) => stat.size,
      () => 0,
    );
    if (logSize > QMP_LOG_MAX_BYTES) await fsp.rename(paths.qmpLog, `${paths.qmpLog}.1`);
    const client = new QmpClient({ socketPath: paths.qmp, logPath: paths.qmpLog });
    await client.connect();
    proc.client = client;
    client.on('event', (event) => {
      if (proc.released) return;
      switch (event.event) {
        case QMP_EVENTS.SHUTDOWN:
          proc.shutdownReason = (event.data as unknown as ShutdownEventData).reason;
          break;
        case QMP_EVENTS.BLOCK_IO_ERROR:
          // `werror=enospc`: QEMU stops the guest instead of failing its write, then says STOP.
          if ((event.data as { nospace?: boolean }).nospace) proc.stopCause = DISK_FULL_CAUSE;
          break;
        case QMP_EVENTS.STOP:
          this.#options.observer.onRunState(proc.vmId, 'paused', proc.stopCause);
          proc.stopCause = undefined;
          break;
        case QMP_EVENTS.RESUME:
          this.#options.observer.onRunState(proc.vmId, 'running');
          break;
        default:
          break;
      }
    });
    client.on('close', () => void this.#onMonitorClosed(proc, client));
    return client;
  }

  /** Ends a process: `quit`, then SIGKILL; resolves once it is gone. */
  async kill(proc: QemuProcess): Promise<void> {
    proc.exitRequested = true;
    if (proc.exited) return;
    if (proc.client?.connected) {
      await proc.client.quit().catch(() => undefined);
      if (await this.waitExit(proc, QUIT_TIMEOUT_MS)) return;
    }
    signalProcess(proc.pid, 'SIGKILL');
    if (!(await this.waitExit(proc, KILL_TIMEOUT_MS))) {
      throw new EngineError(
        'INTERNAL',
        `QEMU of VM "${proc.vmId}" (pid ${proc.pid}) survived SIGKILL`,
      );
    }
  }

  /** Resolves true once the process is gone, false after `timeoutMs`. */
  async waitExit(proc: QemuProcess, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!proc.exited) {
      if (Date.now() >= deadline) return false;
      // An adopted QEMU is not our child: no exit event, so poll its liveness too.
      if (!proc.child && !(await isProcessAlive(proc.pid))) {
        await this.#finalize(proc);
        break;
      }
      await Promise.race([proc.exit, sleep(EXIT_POLL_INTERVAL_MS)]);
    }
    return true;
  }

  /** Stops watching a VM's process without touching it (closes its monitor). */
  release(vmId: string): void {
    const proc = this.#processes.get(vmId);
    if (!proc) return;
    proc.released = true;
    proc.client?.close();
    this.#processes.delete(vmId);
  }

  /** Stops watching every process. */
  close(): void {
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#livenessTimer = undefined;
    for (const vmId of [...this.#processes.keys()]) this.release(vmId);
  }

  async #onMonitorClosed(proc: QemuProcess, client: QmpClient): Promise<void> {
    if (proc.released || proc.exited || proc.client !== client) return;
    // The kernel closes QMP the moment QEMU dies; its exit status (if we are the parent) follows.
    const deadline = Date.now() + EXIT_STATUS_GRACE_MS;
    while (Date.now() < deadline) {
      if (proc.exited || proc.childExit) return;
      if (!proc.child && !(await isProcessAlive(proc.pid))) break;
      await sleep(25);
    }
    if (proc.exited || proc.childExit) return;
    if (await isProcessAlive(proc.pid)) {
      this.#options.logger.warn(
        { vmId: proc.vmId, pid: proc.pid },
        'QMP monitor closed but QEMU still runs',
      );
      return;
    }
    await this.#finalize(proc);
  }

  async #pollLiveness(): Promise<void> {
    for (const proc of this.#processes.values()) {
      if (proc.exited || proc.released) continue;
      await this.#capSerialLog(proc);
      if (proc.child) continue;
      if (!(await isProcessAlive(proc.pid))) await this.#finalize(proc);
    }
  }

  /**
   * Keeps a guest from filling the host's disk through its serial port: past the cap, serial.log
   * becomes serial.log.1 (replacing the one before) and starts again empty. QEMU appends, so it
   * writes on at the new end.
   */
  async #capSerialLog(proc: QemuProcess): Promise<void> {
    const { serialLog, serialLogPrevious } = proc.paths;
    const size = await fsp.stat(serialLog).then(
      (stat) => stat.size,
      () => 0,
    );
    if (size <= (this.#options.serialLogMaxBytes ?? SERIAL_LOG_MAX_BYTES)) return;
    try {
      await fsp.copyFile(serialLog, serialLogPrevious);
      await fsp.truncate(serialLog, 0);
    } catch (error) {
      this.#options.logger.warn({ err: error, vmId: proc.vmId }, 'rotating serial.log failed');
    }
  }

  /** Runs once per process when it is gone: cleans its runtime files and reports how it ended. */
  async #finalize(proc: QemuProcess): Promise<void> {
    if (proc.exited) return;
    proc.exited = true;
    if (proc.released) {
      // Another engine owns this VM now (it may already run a new QEMU in the same folder).
      proc.resolveExit({ requested: true, code: null, signal: null, cause: 'released' });
      return;
    }
    proc.client?.close();
    if (this.#processes.get(proc.vmId) === proc) this.#processes.delete(proc.vmId);
    const code = proc.childExit?.code ?? null;
    const signal = proc.childExit?.signal ?? null;
    let cause = describeEnd(proc);
    let acceleratorFailed = false;
    if (!proc.exitRequested && proc.shutdownReason !== 'guest-shutdown') {
      const tail = await tailFile(proc.paths.log, 20);
      const early = Date.now() - proc.startedAt < KVM_EARLY_FAILURE_WINDOW_MS;
      acceleratorFailed = proc.accel === 'kvm' && early && isKvmFailure({ signal }, tail);
      if (acceleratorFailed) {
        cause = `${cause} under KVM, which this host cannot run guests with; restarting under TCG`;
        this.#options.onKvmFailure(proc.vmId, cause);
      }
      this.#options.logger.warn(
        { vmId: proc.vmId, cause, qemuLog: tail.split('\n').slice(-5).join('\n') },
        'QEMU ended unasked',
      );
    }
    const { qmp, serial, vnc, pid } = proc.paths;
    await Promise.all([qmp, serial, vnc, pid].map((file) => fsp.rm(file, { force: true })));
    const exit: ExitInfo = {
      requested: proc.exitRequested,
      code,
      signal,
      cause,
      ...(proc.shutdownReason ? { shutdownReason: proc.shutdownReason } : {}),
      ...(acceleratorFailed ? { acceleratorFailed } : {}),
    };
    proc.resolveExit(exit);
    if (!proc.released) this.#options.observer.onExit(proc.vmId, exit);
  }
}

/** How a process ended, in a sentence for users. */
function describeEnd(proc: QemuProcess): string {
  if (proc.shutdownReason === 'guest-shutdown') return 'The guest powered off';
  if (proc.shutdownReason === 'host-signal') return 'QEMU was stopped by a signal from the host';
  if (proc.childExit) return describeExit(proc.childExit.code, proc.childExit.signal);
  return 'QEMU process exited unexpectedly';
}
