import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import type {
  Accelerator,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  ExitInfo,
  RunState,
  SnapshotInfo,
  StartOptions,
} from '../driver.js';
import { EngineError } from '../errors.js';
import type { EngineLogger } from '../logger.js';
import { Reverter } from '../revert.js';
import { allocatedBytes, InternalSnapshots } from '../snapshots/internal-snapshots.js';
import { chooseAccelerator, isKvmFailure, type ProbeGuest } from './accel-probe.js';
import {
  describeExit,
  EXIT_POLL_INTERVAL_MS,
  isProcessAlive,
  readPidFile,
  readProcessCmdline,
  signalProcess,
  sleep,
  tailFile,
} from './process.js';
import { buildQemuArgs, guestConfigJson } from './qemu-args.js';
import { createBlankDisk, createOverlay, readVirtualSize } from './qemu-img.js';
import { QmpClient } from './qmp/commands.js';
import { QMP_EVENTS, type ShutdownEventData } from './qmp/events.js';

/** How long QEMU may take from spawn to answering QMP. */
export const START_TIMEOUT_MS = 30_000;
/** How long restoring a saved memory state may take. */
export const RESTORE_TIMEOUT_MS = 120_000;
/** How long saving the memory state may take. */
export const SUSPEND_TIMEOUT_MS = 300_000;
/** How long QEMU gets to exit after `quit` before it is killed. */
export const QUIT_TIMEOUT_MS = 3_000;
/** How long a killed QEMU gets to disappear. */
export const KILL_TIMEOUT_MS = 5_000;
/** Backstop liveness poll for processes whose monitor is not connected. */
export const LIVENESS_POLL_INTERVAL_MS = 1_000;
/** After the monitor closes, how long to wait for the exit status before judging from liveness. */
const EXIT_STATUS_GRACE_MS = 1_000;
const MONITOR_RETRY_INTERVAL_MS = 20;
const STATUS_POLL_INTERVAL_MS = 20;
/** Migration bandwidth for suspend: QEMU's default 32 MiB/s would make a save take seconds. */
const SUSPEND_MAX_BANDWIDTH_BYTES_PER_S = 64 * 1024 * 1024 * 1024;
const GIB = 1024 * 1024 * 1024;
/** Beyond this size, qmp.log is moved to qmp.log.1 when a monitor connects. */
const QMP_LOG_MAX_BYTES = 8 * 1024 * 1024;
/**
 * A QEMU that fails this soon after a start under KVM, in a way {@link isKvmFailure} recognises, is
 * taken as KVM failing this host's guests: KVM is turned off and the VM restarted under TCG.
 */
export const KVM_EARLY_FAILURE_WINDOW_MS = 60_000;
/** Where distributions install QEMU's firmware files. */
const QEMU_DATA_DIRS = ['/usr/share/qemu', '/usr/local/share/qemu', '/usr/share/qemu-kvm'];
/** The fast firmware for direct kernel boots (see {@link buildQemuArgs}). */
const QBOOT_FILE = 'qboot.rom';

/** Options of the QEMU driver. */
export interface QemuDriverOptions {
  qemuBinary: string;
  qemuImgBinary: string;
  accel: 'auto' | Accelerator;
  /** The real kernel `auto` probes KVM with (the tiny image's); without one KVM is not trusted. */
  probeGuest?: Omit<ProbeGuest, 'firmwarePath'>;
  /** Default `/dev/kvm`. */
  kvmDevice?: string;
  /** TCG translation-cache size per VM. */
  tcgTranslationCacheMib?: number;
  logger: EngineLogger;
  observer: DriverObserver;
}

/** One QEMU process the driver knows about. */
interface QemuProcess {
  vmId: string;
  pid: number;
  /** The accelerator it was started with. */
  accel: Accelerator;
  /** When this driver started it (0 for an adopted process). */
  startedAt: number;
  logPath: string;
  paths: DriverVm['paths'];
  child: ChildProcess | undefined;
  client: QmpClient | undefined;
  /** An engine action asked for the process to end. */
  exitRequested: boolean;
  /** The driver no longer watches it (close() or release()). */
  released: boolean;
  shutdownReason: string | undefined;
  childExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: boolean;
  exit: Promise<ExitInfo>;
  resolveExit: (exit: ExitInfo) => void;
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
 * The QEMU driver: one detached QEMU process per VM (its own session, so it outlives the server,
 * even a `kill -9` of it), QMP over a unix socket, qcow2 overlays and internal snapshots.
 */
export class QemuDriver implements Driver {
  readonly name = 'qemu' as const;
  readonly #options: QemuDriverOptions;
  readonly #processes = new Map<string, QemuProcess>();
  readonly #qboot: string | undefined;
  #info: DriverInfo;
  #livenessTimer: NodeJS.Timeout | undefined;

  private constructor(options: QemuDriverOptions, info: DriverInfo, qboot?: string) {
    this.#options = options;
    this.#info = info;
    this.#qboot = qboot;
    this.#livenessTimer = setInterval(() => void this.#pollLiveness(), LIVENESS_POLL_INTERVAL_MS);
    this.#livenessTimer.unref();
  }

  /** Finds QEMU's version and chooses the accelerator; never throws (a broken host sets `info().error`). */
  static async create(options: QemuDriverOptions): Promise<QemuDriver> {
    const features = [
      'sandbox',
      'serial',
      'vnc',
      'disk-throttle',
      'internal-snapshots',
      'memory-snapshots',
      'suspend-to-file',
      'user-network-restricted',
    ];
    let version = '';
    try {
      const output = await runVersion(options.qemuBinary);
      version = /version\s+(\S+)/i.exec(output)?.[1] ?? output.trim();
    } catch (error) {
      const info: DriverInfo = {
        name: 'qemu',
        version: '',
        accel: 'tcg',
        accelReason: 'QEMU cannot be run',
        features: [],
        error: `${options.qemuBinary} cannot be run: ${(error as Error).message}`,
      };
      return new QemuDriver(options, info);
    }
    try {
      await runVersion(options.qemuImgBinary);
    } catch (error) {
      return new QemuDriver(options, {
        name: 'qemu',
        version,
        accel: 'tcg',
        accelReason: 'qemu-img cannot be run',
        features,
        error: `${options.qemuImgBinary} cannot be run: ${(error as Error).message}`,
      });
    }
    const qboot = QEMU_DATA_DIRS.map((dir) => `${dir}/${QBOOT_FILE}`).find((file) =>
      fs.existsSync(file),
    );
    if (qboot) features.push('qboot');
    const choice = await chooseAccelerator(options.accel, {
      qemuBinary: options.qemuBinary,
      ...(options.probeGuest
        ? { probeGuest: { ...options.probeGuest, ...(qboot ? { firmwarePath: qboot } : {}) } }
        : {}),
      ...(options.kvmDevice ? { kvmDevice: options.kvmDevice } : {}),
    });
    options.logger.info(
      { accel: choice.accel, reason: choice.reason, version },
      'accelerator chosen',
    );
    return new QemuDriver(
      options,
      { name: 'qemu', version, accel: choice.accel, accelReason: choice.reason, features },
      qboot,
    );
  }

  info(): DriverInfo {
    return { ...this.#info, features: [...this.#info.features] };
  }

  async createDisk(vm: DriverVm): Promise<void> {
    const sizeBytes = vm.spec.diskGib * GIB;
    const boot = vm.spec.boot;
    if (boot.kind === 'iso') {
      await fsp.access(boot.isoPath).catch(() => {
        throw new EngineError('NOT_FOUND', `ISO ${boot.isoPath} for VM "${vm.id}" does not exist`, {
          path: boot.isoPath,
        });
      });
      await createBlankDisk(this.#options.qemuImgBinary, vm.paths.disk, sizeBytes);
      return;
    }
    const baseSize = await readVirtualSize(boot.baseDiskPath, boot.baseDiskFormat);
    if (baseSize > sizeBytes) {
      throw new EngineError(
        'VALIDATION',
        `Cannot create VM "${vm.id}": its image needs ${Math.ceil(baseSize / GIB)} GiB of disk, ${vm.spec.diskGib} GiB asked`,
        { field: 'diskGib', minimumGib: Math.ceil(baseSize / GIB) },
      );
    }
    await createOverlay(
      this.#options.qemuImgBinary,
      vm.paths.disk,
      boot.baseDiskPath,
      boot.baseDiskFormat,
      sizeBytes,
    );
  }

  /**
   * Starts QEMU under the driver's accelerator. A start that KVM makes fail turns KVM off for
   * every later start and is tried once more under TCG.
   */
  async start(
    vm: DriverVm,
    options: StartOptions = {},
  ): Promise<{ pid: number; runState: RunState }> {
    const accel = this.#info.accel;
    try {
      return await this.#startWith(vm, options, accel);
    } catch (error) {
      if (!(error instanceof KvmFailedError)) throw error;
      this.#disableKvm(vm.logger, error.message);
      return this.#startWith(vm, options, 'tcg');
    }
  }

  async #startWith(
    vm: DriverVm,
    options: StartOptions,
    accel: Accelerator,
  ): Promise<{ pid: number; runState: RunState }> {
    const { paths } = vm;
    const reverter = new Reverter();
    let proc: QemuProcess | undefined;
    try {
      await this.#assertBootFilesExist(vm);
      await this.#removeRuntimeFiles(vm);
      if (vm.spec.guestConfig) {
        await fsp.writeFile(paths.guestConfig, guestConfigJson(vm.spec), { mode: 0o600 });
      }
      const logFd = fs.openSync(paths.log, 'w');
      let stateFd: number | undefined;
      try {
        if (options.restoreStatePath) stateFd = fs.openSync(options.restoreStatePath, 'r');
        const args = buildQemuArgs({
          spec: vm.spec,
          paths,
          accel,
          incomingFd: stateFd === undefined ? undefined : 3,
          loadSnapshot: options.loadSnapshot,
          kernelBootFirmware: this.#qboot,
          ...(this.#options.tcgTranslationCacheMib
            ? { tcgTranslationCacheMib: this.#options.tcgTranslationCacheMib }
            : {}),
        });
        fs.writeSync(
          logFd,
          `${new Date().toISOString()} labvisor: starting ${this.#options.qemuBinary} ${args.join(' ')}\n`,
        );
        vm.logger.debug({ args }, 'spawning QEMU');
        const stdio: Array<'ignore' | number> = ['ignore', logFd, logFd];
        if (stateFd !== undefined) stdio.push(stateFd);
        // detached: QEMU gets its own session and process group, so signals to the server's group
        // (Ctrl-C, systemd's stop of the server) and the server's death do not reach it.
        const child = spawn(this.#options.qemuBinary, args, {
          detached: true,
          stdio,
          cwd: paths.dir,
        });
        proc = await this.#track(vm, child, accel);
      } finally {
        fs.closeSync(logFd);
        if (stateFd !== undefined) fs.closeSync(stateFd);
      }
      const started = proc;
      reverter.add(() => this.#kill(started));
      const client = await this.#connectWhileAlive(started, vm, START_TIMEOUT_MS);
      reverter.add(() => client.close());
      let status = await client.queryStatus();
      if (options.restoreStatePath) {
        const deadline = Date.now() + RESTORE_TIMEOUT_MS;
        while (status.status === 'inmigrate' || status.status === 'restore-vm') {
          if (Date.now() > deadline) throw new Error('restoring the saved state timed out');
          await sleep(STATUS_POLL_INTERVAL_MS);
          status = await client.queryStatus();
        }
        const migration = await client.queryMigrate();
        if (migration.status === 'failed') {
          throw new Error(
            `restoring the saved state failed: ${migration['error-desc'] ?? 'unknown'}`,
          );
        }
        if (options.restoreRunning && !status.running) {
          await client.cont();
          status = await client.queryStatus();
        }
      }
      reverter.success();
      return { pid: started.pid, runState: status.running ? 'running' : 'paused' };
    } catch (error) {
      await reverter.revert((undoError) => vm.logger.warn({ err: undoError }, 'undo step failed'));
      if (accel === 'kvm' && proc && (await this.#endedByKvm(proc))) {
        throw new KvmFailedError(`QEMU failed under KVM starting VM "${vm.id}"`);
      }
      throw await this.#startError(vm, proc, error);
    }
  }

  async adopt(vm: DriverVm): Promise<{ pid: number; runState: RunState } | null> {
    const pid = await readPidFile(vm.paths.pid);
    if (pid === undefined || !(await isProcessAlive(pid))) return null;
    const cmdline = await readProcessCmdline(pid);
    const ours =
      cmdline !== undefined &&
      /qemu/.test(cmdline[0] ?? '') &&
      cmdline.some((arg) => arg.includes(vm.paths.qmp));
    if (!ours) {
      vm.logger.warn({ pid }, 'pid file names a process that is not this VM’s QEMU; ignoring it');
      return null;
    }
    const proc = this.#register(vm, pid, undefined, adoptedAccel(cmdline));
    try {
      const client = await this.#connect(proc, vm);
      const status = await client.queryStatus();
      return { pid, runState: status.running ? 'running' : 'paused' };
    } catch (error) {
      this.#processes.delete(vm.id);
      proc.released = true;
      throw new EngineError(
        'UNAVAILABLE',
        `Failed adopting VM "${vm.id}": QEMU (pid ${pid}) runs but its monitor does not answer: ${(error as Error).message}`,
        { pid },
        { cause: error },
      );
    }
  }

  async stop(vm: DriverVm, options: { timeoutMs: number; force: boolean }): Promise<void> {
    const proc = this.#processes.get(vm.id);
    if (!proc) return;
    proc.exitRequested = true;
    if (!options.force && proc.client?.connected) {
      try {
        const status = await proc.client.queryStatus();
        // ACPI needs running vCPUs to be heard.
        if (!status.running) await proc.client.cont();
        await proc.client.systemPowerdown();
        if (await this.#waitExit(proc, options.timeoutMs)) return;
        vm.logger.warn(
          { timeoutMs: options.timeoutMs },
          'guest ignored the power button; quitting',
        );
      } catch (error) {
        if (proc.exited) return;
        vm.logger.warn({ err: error }, 'graceful stop failed; quitting');
      }
    }
    await this.#kill(proc);
  }

  async queryRunState(vm: DriverVm): Promise<RunState> {
    return (await this.#client(vm).queryStatus()).running ? 'running' : 'paused';
  }

  async reboot(vm: DriverVm): Promise<void> {
    await this.#client(vm).systemReset();
  }

  async pause(vm: DriverVm): Promise<void> {
    await this.#client(vm).stop();
  }

  async resume(vm: DriverVm): Promise<void> {
    await this.#client(vm).cont();
  }

  /**
   * Suspend to disk = QMP `migrate` to a unix socket the engine serves, written to the state file;
   * the vCPUs are stopped first so the save is one pass of a consistent state. The state file is
   * renamed into place only once complete, then QEMU is told to quit.
   */
  async suspend(vm: DriverVm): Promise<{ wasRunning: boolean }> {
    const proc = this.#processes.get(vm.id);
    const client = this.#client(vm);
    const { paths } = vm;
    const temp = `${paths.savedState}.partial`;
    const reverter = new Reverter();
    const status = await client.queryStatus();
    const wasRunning = status.running;
    try {
      await fsp.rm(paths.migrateSocket, { force: true });
      const server = net.createServer();
      reverter.add(() => {
        server.close();
        return fsp.rm(paths.migrateSocket, { force: true });
      });
      reverter.add(() => fsp.rm(temp, { force: true }));
      const written = new Promise<void>((resolve, reject) => {
        server.once('connection', (socket) => {
          server.close();
          const file = fs.createWriteStream(temp);
          socket.pipe(file);
          socket.on('error', reject);
          file.on('error', reject);
          file.on('finish', () => resolve());
        });
      });
      written.catch(() => undefined);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(paths.migrateSocket, () => resolve());
      });
      if (wasRunning) {
        await client.stop();
        reverter.add(() => client.cont());
      }
      await client.migrateSetParameters({ 'max-bandwidth': SUSPEND_MAX_BANDWIDTH_BYTES_PER_S });
      await client.migrate(`unix:${paths.migrateSocket}`);
      const deadline = Date.now() + SUSPEND_TIMEOUT_MS;
      for (;;) {
        const migration = await client.queryMigrate();
        if (migration.status === 'completed') break;
        if (migration.status === 'failed' || migration.status === 'cancelled') {
          throw new Error(`saving memory failed: ${migration['error-desc'] ?? migration.status}`);
        }
        if (Date.now() > deadline) throw new Error('saving memory timed out');
        await sleep(STATUS_POLL_INTERVAL_MS);
      }
      await written;
      const handle = await fsp.open(temp, 'r+');
      await handle.datasync();
      await handle.close();
      await fsp.rename(temp, paths.savedState);
      reverter.add(() => fsp.rm(paths.savedState, { force: true }));
      if (proc) {
        proc.exitRequested = true;
        await this.#kill(proc);
      }
      await fsp.rm(paths.migrateSocket, { force: true });
      reverter.success();
      return { wasRunning };
    } catch (error) {
      await reverter.revert((undoError) => vm.logger.warn({ err: undoError }, 'undo step failed'));
      throw new EngineError(
        'INTERNAL',
        `Failed suspending VM "${vm.id}": ${(error as Error).message}`,
        undefined,
        { cause: error },
      );
    }
  }

  pidOf(vmId: string): number | undefined {
    const proc = this.#processes.get(vmId);
    return proc && !proc.exited ? proc.pid : undefined;
  }

  accelOf(vmId: string): Accelerator | undefined {
    const proc = this.#processes.get(vmId);
    return proc && !proc.exited ? proc.accel : undefined;
  }

  async diskUsage(vm: DriverVm): Promise<number> {
    return (await allocatedBytes(vm.paths.disk)) + (await allocatedBytes(vm.paths.savedState));
  }

  #snapshots(vm: DriverVm): InternalSnapshots {
    return new InternalSnapshots(
      this.#options.qemuImgBinary,
      vm.id,
      vm.paths.disk,
      vm.paths.snapshots,
    );
  }

  createSnapshot(
    vm: DriverVm,
    name: string,
    memory: boolean,
    live: boolean,
  ): Promise<SnapshotInfo> {
    return this.#snapshots(vm).create(name, memory, live ? this.#client(vm) : undefined);
  }

  restoreSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void> {
    return this.#snapshots(vm).restore(name, live ? this.#client(vm) : undefined);
  }

  deleteSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void> {
    return this.#snapshots(vm).delete(name, live ? this.#client(vm) : undefined);
  }

  listSnapshots(vm: DriverVm): Promise<SnapshotInfo[]> {
    return this.#snapshots(vm).list();
  }

  /** Reads a snapshot's metadata or throws NOT_FOUND. */
  getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo> {
    return this.#snapshots(vm).get(name);
  }

  release(vmId: string): void {
    const proc = this.#processes.get(vmId);
    if (!proc) return;
    proc.released = true;
    proc.client?.close();
    this.#processes.delete(vmId);
  }

  async close(): Promise<void> {
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#livenessTimer = undefined;
    for (const vmId of [...this.#processes.keys()]) this.release(vmId);
  }

  #client(vm: DriverVm): QmpClient {
    const client = this.#processes.get(vm.id)?.client;
    if (!client?.connected) {
      throw new EngineError('UNAVAILABLE', `VM "${vm.id}" has no connected QEMU monitor`, {
        vmId: vm.id,
      });
    }
    return client;
  }

  #register(
    vm: DriverVm,
    pid: number,
    child: ChildProcess | undefined,
    accel: Accelerator,
  ): QemuProcess {
    let resolveExit!: (exit: ExitInfo) => void;
    const exit = new Promise<ExitInfo>((resolve) => {
      resolveExit = resolve;
    });
    const proc: QemuProcess = {
      vmId: vm.id,
      pid,
      accel,
      startedAt: child ? Date.now() : 0,
      logPath: vm.paths.log,
      paths: vm.paths,
      child,
      client: undefined,
      exitRequested: false,
      released: false,
      shutdownReason: undefined,
      childExit: undefined,
      exited: false,
      exit,
      resolveExit,
    };
    this.#processes.set(vm.id, proc);
    return proc;
  }

  /** Registers a freshly spawned child once it has a pid (or throws if it could not be spawned). */
  async #track(vm: DriverVm, child: ChildProcess, accel: Accelerator): Promise<QemuProcess> {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (error) => reject(error));
    });
    child.unref();
    const proc = this.#register(vm, child.pid!, child, accel);
    child.once('exit', (code, signal) => {
      proc.childExit = { code, signal };
      void this.#finalize(proc);
    });
    return proc;
  }

  /** Connects QMP, retrying while the socket is not there yet, failing as soon as QEMU exits. */
  async #connectWhileAlive(proc: QemuProcess, vm: DriverVm, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exited || proc.childExit) throw new Error('QEMU exited during start');
      try {
        return await this.#connect(proc, vm);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(MONITOR_RETRY_INTERVAL_MS);
      }
    }
  }

  async #connect(proc: QemuProcess, vm: DriverVm): Promise<QmpClient> {
    const logSize = await fsp.stat(vm.paths.qmpLog).then(
      (stat) => stat.size,
      () => 0,
    );
    if (logSize > QMP_LOG_MAX_BYTES) await fsp.rename(vm.paths.qmpLog, `${vm.paths.qmpLog}.1`);
    const client = new QmpClient({ socketPath: vm.paths.qmp, logPath: vm.paths.qmpLog });
    await client.connect();
    proc.client = client;
    client.on('event', (event) => {
      if (proc.released) return;
      switch (event.event) {
        case QMP_EVENTS.SHUTDOWN:
          proc.shutdownReason = (event.data as unknown as ShutdownEventData).reason;
          break;
        case QMP_EVENTS.STOP:
          this.#options.observer.onRunState(proc.vmId, 'paused');
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
      if (proc.exited || proc.released || proc.child) continue;
      if (!(await isProcessAlive(proc.pid))) await this.#finalize(proc);
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
    let cause: string;
    if (proc.shutdownReason === 'guest-shutdown') cause = 'The guest powered off';
    else if (proc.shutdownReason === 'host-signal')
      cause = 'QEMU was stopped by a signal from the host';
    else if (proc.childExit) cause = describeExit(code, signal);
    else cause = 'QEMU process exited unexpectedly';
    let acceleratorFailed = false;
    if (!proc.exitRequested && proc.shutdownReason !== 'guest-shutdown') {
      const tail = await tailFile(proc.logPath, 5);
      if (proc.accel === 'kvm' && Date.now() - proc.startedAt < KVM_EARLY_FAILURE_WINDOW_MS) {
        acceleratorFailed = isKvmFailure({ signal }, await tailFile(proc.logPath, 20));
      }
      if (acceleratorFailed) {
        cause = `${cause} under KVM, which this host cannot run guests with; restarting under TCG`;
        this.#disableKvm(this.#options.logger.child({ vmId: proc.vmId }), cause);
      }
      this.#options.logger.warn({ vmId: proc.vmId, cause, qemuLog: tail }, 'QEMU ended unasked');
    }
    await Promise.all(
      [proc.paths.qmp, proc.paths.serial, proc.paths.vnc, proc.paths.pid].map((file) =>
        fsp.rm(file, { force: true }),
      ),
    );
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

  /** Resolves true once the process is gone, false after `timeoutMs`. */
  async #waitExit(proc: QemuProcess, timeoutMs: number): Promise<boolean> {
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

  /** Ends a process: `quit`, then SIGKILL; resolves once it is gone. */
  async #kill(proc: QemuProcess): Promise<void> {
    proc.exitRequested = true;
    if (proc.exited) return;
    if (proc.client?.connected) {
      await proc.client.quit().catch(() => undefined);
      if (await this.#waitExit(proc, QUIT_TIMEOUT_MS)) return;
    }
    signalProcess(proc.pid, 'SIGKILL');
    if (!(await this.#waitExit(proc, KILL_TIMEOUT_MS))) {
      throw new EngineError(
        'INTERNAL',
        `QEMU of VM "${proc.vmId}" (pid ${proc.pid}) survived SIGKILL`,
      );
    }
  }

  /** A base image replaced under an overlay would make QEMU fail obscurely: say which file is gone. */
  async #assertBootFilesExist(vm: DriverVm): Promise<void> {
    const boot = vm.spec.boot;
    const files =
      boot.kind === 'kernel'
        ? [boot.kernelPath, boot.initrdPath, boot.baseDiskPath]
        : boot.kind === 'disk'
          ? [boot.baseDiskPath]
          : [boot.isoPath];
    for (const file of [...files, vm.paths.disk]) {
      if (!fs.existsSync(file)) {
        throw new EngineError('NOT_FOUND', `Failed starting VM "${vm.id}": ${file} is missing`, {
          vmId: vm.id,
          path: file,
        });
      }
    }
  }

  async #removeRuntimeFiles(vm: DriverVm): Promise<void> {
    const { paths } = vm;
    await Promise.all(
      [paths.qmp, paths.serial, paths.vnc, paths.pid, paths.migrateSocket].map((file) =>
        fsp.rm(file, { force: true }),
      ),
    );
  }

  /** Turns KVM off for every later start: this host's guests fail under it. */
  #disableKvm(logger: EngineLogger, reason: string): void {
    if (this.#info.accel !== 'kvm') return;
    this.#info = {
      ...this.#info,
      accel: 'tcg',
      accelReason: `KVM is unusable: a real guest failed under it (${firstLine(reason)}); guests run under TCG`,
    };
    logger.error({ reason }, 'KVM failed a real guest; falling back to TCG');
  }

  /** Whether a process that ended during its start was ended by KVM (judged from qemu.log). */
  async #endedByKvm(proc: QemuProcess): Promise<boolean> {
    if (!proc.childExit) return false;
    return isKvmFailure(proc.childExit, await tailFile(proc.logPath, 20));
  }

  async #startError(
    vm: DriverVm,
    proc: QemuProcess | undefined,
    error: unknown,
  ): Promise<EngineError> {
    if (error instanceof EngineError) return error;
    let reason = (error as Error).message;
    if (proc?.childExit) reason = describeExit(proc.childExit.code, proc.childExit.signal);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !proc) {
      reason = `${this.#options.qemuBinary} not found`;
    }
    const logTail = await tailFile(vm.paths.log, 5);
    return new EngineError(
      'INTERNAL',
      `Failed starting VM "${vm.id}": ${reason} (see qemu.log)`,
      { vmId: vm.id, logTail },
      { cause: error },
    );
  }
}

/** A start failed because of KVM: {@link QemuDriver.start} retries it under TCG. */
class KvmFailedError extends Error {}

/** The accelerator an adopted QEMU runs with, read from its command line. */
function adoptedAccel(cmdline: string[] | undefined): Accelerator {
  const index = cmdline?.indexOf('-accel') ?? -1;
  return index >= 0 && cmdline?.[index + 1]?.startsWith('kvm') ? 'kvm' : 'tcg';
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
