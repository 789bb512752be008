import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import {
  assertCapacity,
  type CapacityReport,
  computeCapacity,
  DEFAULT_OVERCOMMIT,
  detectHostResources,
  type HostResources,
  type OvercommitRatios,
} from './capacity.js';
import type {
  Accelerator,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  ExitInfo,
  RunState,
  SnapshotInfo,
} from './driver.js';
import { EngineError, toEngineError } from './errors.js';
import { KeyedLock } from './lock.js';
import { type EngineLogger, SILENT_LOGGER } from './logger.js';
import { assertSocketPathsFit, type VmPaths, vmPaths } from './paths.js';
import { tailFile } from './qemu/process.js';
import { QemuDriver } from './qemu/qemu-driver.js';
import { Reverter } from './revert.js';
import { VM_ID_PATTERN, type VmSpec, validateVmSpec } from './spec.js';
import {
  assertStateIn,
  assertTransition,
  canTransition,
  PROCESS_STATES,
  RESOURCE_HOLDING_STATES,
  type VmState,
} from './state.js';

/** How long a guest gets to power off after the ACPI power button before QEMU is ended. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Configuration of an engine; the server builds it from its validated environment. */
export interface EngineConfig {
  /** One subfolder per VM, named by the VM id. */
  runDir: string;
  /** `auto` probes KVM and falls back to TCG. */
  accel: 'auto' | Accelerator;
  /**
   * The real kernel and initramfs `auto` boots to probe KVM (the tiny image's); without them
   * `auto` does not trust KVM and picks TCG.
   */
  probeGuest?: { kernelPath: string; initrdPath: string };
  /** The KVM device `auto` checks; default `/dev/kvm`. */
  kvmDevice?: string;
  /** Default `qemu-system-x86_64`. */
  qemuBinary?: string;
  /** Default `qemu-img`. */
  qemuImgBinary?: string;
  /** Host resources to hand out; default from node:os. */
  host?: HostResources;
  /** Overcommit ratios; default memory 1.0, vCPUs 4.0. */
  overcommit?: Partial<OvercommitRatios>;
  logger?: EngineLogger;
  /**
   * TCG translation-cache size per VM in MiB; default 1/16 of the guest's memory, 16 to 256 MiB.
   * More helps heavy guests and costs host memory.
   */
  tcgTranslationCacheMib?: number;
}

/** A VM as the engine reports it. */
export interface VmStatus {
  id: string;
  state: VmState;
  /** QEMU's pid while a process exists. */
  pid?: number;
  /** The accelerator, while a process exists. */
  accel?: Accelerator;
  /** Why the VM is in its state, for crashed, error and unexpected stops. */
  cause?: string;
  /** Bytes the VM takes on the host's disk (overlay with its snapshots, saved state). */
  diskBytes: number;
}

/** Payload of the `vm-state` event. */
export interface VmStateEvent {
  vmId: string;
  state: VmState;
  cause?: string;
}

/** Options of {@link Engine.stopVm}. */
export interface StopOptions {
  /** Grace period after the ACPI power button (default {@link SHUTDOWN_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Skip the power button: end QEMU at once. */
  force?: boolean;
}

/** Options of {@link Engine.createSnapshot}. */
export interface CreateSnapshotOptions {
  name: string;
  /** Also save the guest's memory (only while it runs or is paused). */
  memory?: boolean;
}

/** Unix sockets the server connects to for consoles. */
export interface ConsoleEndpoints {
  /** QEMU's serial chardev: one client at a time, raw terminal bytes. */
  serialSocket: string;
  /** QEMU's VNC server (RFB). */
  vncSocket: string;
}

interface PersistedStatus {
  state: VmState;
  cause?: string;
  /** For a suspended VM: whether the guest ran when it was saved. */
  wasRunning?: boolean;
  updatedAt: string;
}

interface VmRecord {
  spec: VmSpec;
  paths: VmPaths;
  logger: EngineLogger;
  state: VmState;
  cause: string | undefined;
  wasRunning: boolean;
  /** A process exit reported while an action held the lock; applied when it ends. */
  pendingExit: ExitInfo | undefined;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes JSON by rename, readable by the engine's user only (a spec may hold a guest password). */
function writeJsonAtomic(file: string, value: unknown): void {
  const temp = `${file}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/**
 * The facade the server calls: this host's VMs. Every lifecycle action runs under a per-VM lock;
 * the state table in state.ts decides what is allowed; a failed start undoes its steps.
 * Emits `vm-state` ({@link VmStateEvent}) on every state change, observed or requested, and
 * `vm-deleted` `{vmId}`.
 */
export class Engine extends EventEmitter<{
  'vm-state': [VmStateEvent];
  'vm-deleted': [{ vmId: string }];
}> {
  readonly #config: EngineConfig;
  readonly #logger: EngineLogger;
  readonly #host: HostResources;
  readonly #overcommit: OvercommitRatios;
  readonly #records = new Map<string, VmRecord>();
  readonly #lock = new KeyedLock();
  #driver!: Driver;
  #closed = false;

  private constructor(config: EngineConfig) {
    super();
    this.#config = config;
    this.#logger = (config.logger ?? SILENT_LOGGER).child({ component: 'engine' });
    this.#host = config.host ?? detectHostResources();
    this.#overcommit = { ...DEFAULT_OVERCOMMIT, ...config.overcommit };
  }

  /**
   * Creates an engine: probes the accelerator and adopts the VMs found in the run directory.
   * `createDriver` replaces the QEMU driver (tests of the facade use a fake one).
   */
  static async create(
    config: EngineConfig,
    createDriver?: (observer: DriverObserver) => Promise<Driver>,
  ): Promise<Engine> {
    const engine = new Engine(config);
    await fsp.mkdir(config.runDir, { recursive: true });
    const observer: DriverObserver = {
      onExit: (vmId, exit) => engine.#onExit(vmId, exit),
      onRunState: (vmId, state) => engine.#onRunState(vmId, state),
    };
    engine.#driver = createDriver
      ? await createDriver(observer)
      : await QemuDriver.create({
          qemuBinary: config.qemuBinary ?? 'qemu-system-x86_64',
          qemuImgBinary: config.qemuImgBinary ?? 'qemu-img',
          accel: config.accel,
          ...(config.probeGuest ? { probeGuest: config.probeGuest } : {}),
          ...(config.kvmDevice ? { kvmDevice: config.kvmDevice } : {}),
          ...(config.tcgTranslationCacheMib
            ? { tcgTranslationCacheMib: config.tcgTranslationCacheMib }
            : {}),
          logger: engine.#logger,
          observer,
        });
    await engine.#adoptAll();
    return engine;
  }

  /** The driver's name, QEMU version, accelerator and features, or why it is unusable. */
  info(): DriverInfo {
    return this.#driver.info();
  }

  /** Host resources, what may be handed out (host × overcommit) and what VMs holding resources use. */
  capacity(): CapacityReport {
    const holding = [...this.#records.values()]
      .filter((record) => RESOURCE_HOLDING_STATES.includes(record.state))
      .map((record) => ({ memoryMib: record.spec.memoryMib, vcpus: record.spec.vcpus }));
    return computeCapacity(this.#host, this.#overcommit, holding);
  }

  /**
   * Creates a VM, stopped: writes its spec to `<runDir>/<id>/vm.json` and makes its disk, a qcow2
   * overlay on the read-only base (constant time) of `diskGib`. CONFLICT if the id exists.
   */
  async createVm(input: VmSpec): Promise<VmStatus> {
    this.#assertUsable('create', input?.id);
    const spec = validateVmSpec(input);
    const paths = vmPaths(this.#config.runDir, spec.id);
    assertSocketPathsFit(spec.id, paths);
    return this.#lock.run(spec.id, async () => {
      if (this.#records.has(spec.id) || fs.existsSync(paths.spec)) {
        throw new EngineError('CONFLICT', `VM "${spec.id}" already exists`, { vmId: spec.id });
      }
      const reverter = new Reverter();
      try {
        await fsp.mkdir(paths.dir, { recursive: true });
        reverter.add(() => fsp.rm(paths.dir, { recursive: true, force: true }));
        const record: VmRecord = {
          spec,
          paths,
          logger: this.#logger.child({ vmId: spec.id }),
          state: 'stopped',
          cause: undefined,
          wasRunning: false,
          pendingExit: undefined,
        };
        await this.#driver.createDisk(this.#driverVm(record));
        writeJsonAtomic(paths.spec, spec);
        this.#persist(record);
        this.#records.set(spec.id, record);
        reverter.success();
        record.logger.info({ spec }, 'VM created');
        return this.#status(record);
      } catch (error) {
        await reverter.revert();
        throw toEngineError(error, `Failed creating VM "${spec.id}"`);
      }
    });
  }

  /**
   * Starts a VM that is stopped, crashed or in error; for a suspended VM, restores its saved memory
   * state so the guest continues where it was. CAPACITY_EXCEEDED beyond host × overcommit.
   */
  async startVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'start', (record) => this.#start(record));
  }

  /**
   * Stops a VM: ACPI power button, then `quit` and SIGKILL after `timeoutMs` (or at once with
   * `force`). A crashed or errored VM is just marked stopped; a suspended one loses its saved state.
   */
  async stopVm(id: string, options: StopOptions = {}): Promise<VmStatus> {
    return this.#withVm(id, 'stop', async (record) => {
      if (record.state === 'suspended' || record.state === 'crashed' || record.state === 'error') {
        await fsp.rm(record.paths.savedState, { force: true });
        this.#setState(record, 'stopped');
        return this.#status(record);
      }
      const from = record.state;
      assertTransition(id, from, 'stopping', 'stop');
      this.#setState(record, 'stopping');
      try {
        await this.#driver.stop(this.#driverVm(record), {
          timeoutMs: options.timeoutMs ?? SHUTDOWN_TIMEOUT_MS,
          force: options.force ?? false,
        });
      } catch (error) {
        throw this.#failedEnding(record, from, error, `Failed stopping VM "${id}"`);
      }
      this.#setState(record, 'stopped');
      return this.#status(record);
    });
  }

  /** Hard-resets a running (or paused: it is resumed) VM. */
  async rebootVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'reboot', async (record) => {
      assertTransition(id, record.state, 'running', 'reboot');
      const vm = this.#driverVm(record);
      await this.#driver.reboot(vm);
      if (record.state === 'paused') await this.#driver.resume(vm);
      this.#setState(record, 'running');
      return this.#status(record);
    });
  }

  /** Pauses a running VM's vCPUs (it keeps its memory and host resources). */
  async pauseVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'pause', async (record) => {
      assertTransition(id, record.state, 'paused', 'pause');
      await this.#driver.pause(this.#driverVm(record));
      this.#setState(record, 'paused');
      return this.#status(record);
    });
  }

  /** Resumes a paused VM; for a suspended VM this is {@link startVm} (restore of the saved state). */
  async resumeVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'resume', async (record) => {
      if (record.state === 'suspended') return this.#start(record);
      assertTransition(id, record.state, 'running', 'resume');
      if (record.state === 'paused') await this.#driver.resume(this.#driverVm(record));
      this.#setState(record, 'running');
      return this.#status(record);
    });
  }

  /**
   * Suspends a running or paused VM to disk: its memory state is saved to a file and QEMU ends, so
   * it holds disk only. {@link startVm} (or {@link resumeVm}) continues it where it was.
   */
  async suspendVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'suspend', async (record) => {
      const from = record.state;
      assertTransition(id, from, 'stopping', 'suspend');
      this.#setState(record, 'stopping');
      try {
        const { wasRunning } = await this.#driver.suspend(this.#driverVm(record));
        record.wasRunning = wasRunning;
      } catch (error) {
        throw this.#failedEnding(record, from, error, `Failed suspending VM "${id}"`);
      }
      this.#setState(record, 'suspended');
      return this.#status(record);
    });
  }

  /** Deletes a VM in any state: ends its QEMU if one runs, then removes every file of it. */
  async deleteVm(id: string): Promise<void> {
    await this.#withVm(id, 'delete', async (record) => {
      if (this.#driver.pidOf(id) !== undefined) {
        await this.#driver.stop(this.#driverVm(record), { timeoutMs: 0, force: true });
      }
      this.#driver.release(id);
      await fsp.rm(record.paths.dir, { recursive: true, force: true });
      this.#records.delete(id);
      record.logger.info('VM deleted');
      this.emit('vm-deleted', { vmId: id });
    });
  }

  /** One VM's status; NOT_FOUND if the engine does not know it. */
  async getVm(id: string): Promise<VmStatus> {
    return this.#status(this.#record(id));
  }

  /** Every VM in the run directory, by id. */
  async listVms(): Promise<VmStatus[]> {
    const ids = [...this.#records.keys()].sort();
    return Promise.all(ids.map((id) => this.#status(this.#record(id))));
  }

  /**
   * Takes an internal snapshot. Disk-only snapshots work in any settled state; `memory: true` needs
   * a running or paused VM and makes a restore continue where the guest was.
   */
  async createSnapshot(id: string, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    return this.#withVm(id, 'snapshot', async (record) => {
      const live = this.#isLive(record);
      if (options.memory && !live) {
        throw new EngineError(
          'INVALID_STATE',
          `Cannot take a memory snapshot of VM "${id}" while it is ${record.state}`,
          { vmId: id, state: record.state },
        );
      }
      const snapshot = await this.#driver.createSnapshot(
        this.#driverVm(record),
        options.name,
        options.memory ?? false,
        live,
      );
      record.logger.info({ snapshot }, 'snapshot taken');
      return snapshot;
    });
  }

  /**
   * Restores a snapshot. A memory snapshot restored on a live VM continues from it at once; on a
   * stopped VM it starts the VM from it. A disk snapshot on a live VM stops the VM (its current
   * disk is being thrown away anyway), reverts the disk and starts it again. A suspended VM loses
   * its saved state (it belongs to the disk being replaced).
   */
  async restoreSnapshot(id: string, name: string): Promise<VmStatus> {
    return this.#withVm(id, 'restore snapshot of', async (record) => {
      const vm = this.#driverVm(record);
      const snapshot = await this.#driver.getSnapshot(vm, name);
      if (this.#isLive(record)) {
        if (snapshot.memory) {
          await this.#driver.restoreSnapshot(vm, name, true);
          const runState = await this.#driver.queryRunState(vm);
          this.#setState(record, runState);
          return this.#status(record);
        }
        const from = record.state;
        this.#setState(record, 'stopping');
        try {
          await this.#driver.stop(vm, { timeoutMs: 0, force: true });
        } catch (error) {
          this.#setState(record, from);
          throw error;
        }
        this.#setState(record, 'stopped');
        await this.#driver.restoreSnapshot(vm, name, false);
        return this.#start(record);
      }
      assertStateIn(id, record.state, ['stopped', 'suspended', 'crashed', 'error'], 'restore');
      if (record.state === 'suspended') {
        await fsp.rm(record.paths.savedState, { force: true });
        this.#setState(record, 'stopped', `Saved state discarded by restoring snapshot "${name}"`);
      }
      if (snapshot.memory) return this.#start(record, name);
      await this.#driver.restoreSnapshot(vm, name, false);
      return this.#status(record);
    });
  }

  /** Deletes a snapshot (live or not). */
  async deleteSnapshot(id: string, name: string): Promise<void> {
    await this.#withVm(id, 'delete snapshot of', async (record) => {
      const vm = this.#driverVm(record);
      await this.#driver.getSnapshot(vm, name);
      await this.#driver.deleteSnapshot(vm, name, this.#isLive(record));
    });
  }

  /** A VM's snapshots, oldest first, with their sizes. */
  async listSnapshots(id: string): Promise<SnapshotInfo[]> {
    return this.#driver.listSnapshots(this.#driverVm(this.#record(id)));
  }

  /** The unix sockets of a VM's serial console and VNC server (they exist while QEMU runs). */
  consoleEndpoints(id: string): ConsoleEndpoints {
    const { paths } = this.#record(id);
    return { serialSocket: paths.serial, vncSocket: paths.vnc };
  }

  /** Disconnects from every QEMU monitor. Never stops a guest: a new engine adopts them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
    this.removeAllListeners();
  }

  /**
   * After a stop or suspend failed: back to the state it had if QEMU still runs, `error` with the
   * reason if it does not. Returns the error to throw.
   */
  #failedEnding(record: VmRecord, from: VmState, error: unknown, context: string): EngineError {
    const alive = this.#driver.pidOf(record.spec.id) !== undefined;
    this.#setState(record, alive ? from : 'error', alive ? undefined : (error as Error).message);
    return toEngineError(error, context);
  }

  async #start(record: VmRecord, loadSnapshot?: string): Promise<VmStatus> {
    const id = record.spec.id;
    this.#assertUsable('start', id);
    const from = record.state;
    assertTransition(id, from, 'starting', 'start');
    // Capacity is checked and the VM marked `starting` in the same tick: concurrent starts of
    // different VMs (each under its own lock) cannot both pass on the same free resources.
    assertCapacity(id, this.capacity(), record.spec);
    this.#setState(record, 'starting');
    const restoring =
      (from === 'suspended' || from === 'error') && fs.existsSync(record.paths.savedState);
    const started = Date.now();
    try {
      const { pid, runState } = await this.#driver.start(this.#driverVm(record), {
        ...(restoring
          ? { restoreStatePath: record.paths.savedState, restoreRunning: record.wasRunning }
          : {}),
        ...(loadSnapshot ? { loadSnapshot } : {}),
      });
      if (restoring) await fsp.rm(record.paths.savedState, { force: true });
      record.wasRunning = false;
      this.#setState(record, runState);
      record.logger.info({ pid, restoring, durationMs: Date.now() - started }, 'VM started');
      return this.#status(record);
    } catch (error) {
      const failure = toEngineError(error, `Failed starting VM "${id}"`);
      // A failed start is an error the user sees with its reason, never a silent return to
      // `stopped`; a suspended VM keeps its saved state, so starting it again retries the restore.
      this.#setState(record, 'error', failure.message);
      throw failure;
    }
  }

  async #withVm<T>(id: string, action: string, run: (record: VmRecord) => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#lock.run(id, async () => {
      const record = this.#record(id);
      const started = Date.now();
      record.logger.debug({ action }, `${action} started`);
      try {
        const result = await run(record);
        record.logger.debug({ action, durationMs: Date.now() - started }, `${action} finished`);
        return result;
      } catch (error) {
        record.logger.warn({ action, err: error }, `${action} failed`);
        throw error;
      } finally {
        this.#applyPendingExit(record);
      }
    });
  }

  #onExit(vmId: string, exit: ExitInfo): void {
    const record = this.#records.get(vmId);
    if (!record || exit.requested) return;
    if (this.#lock.isHeld(vmId)) {
      record.pendingExit = exit;
      return;
    }
    this.#applyExit(record, exit);
  }

  #applyPendingExit(record: VmRecord): void {
    const exit = record.pendingExit;
    record.pendingExit = undefined;
    if (exit && this.#records.get(record.spec.id) === record) this.#applyExit(record, exit);
  }

  #applyExit(record: VmRecord, exit: ExitInfo): void {
    if (!PROCESS_STATES.includes(record.state)) return;
    if (this.#driver.pidOf(record.spec.id) !== undefined) return;
    const graceful =
      exit.shutdownReason === 'guest-shutdown' || exit.shutdownReason === 'host-signal';
    const next: VmState = graceful ? 'stopped' : 'crashed';
    if (!canTransition(record.state, next)) return;
    record.logger[graceful ? 'info' : 'error']({ cause: exit.cause }, `QEMU ended: ${next}`);
    this.#setState(record, next, exit.cause);
    if (exit.acceleratorFailed) this.#restartAfterAcceleratorFailure(record);
  }

  /** Starts again, under the accelerator the driver switched to, a VM its accelerator failed. */
  #restartAfterAcceleratorFailure(record: VmRecord): void {
    const id = record.spec.id;
    record.logger.warn('restarting the VM under the fallback accelerator');
    this.#withVm(id, 'restart', async (current) => {
      if (current !== record || current.state !== 'crashed') return;
      await this.#start(current);
    }).catch((error: unknown) =>
      record.logger.error({ err: error }, 'restart after an accelerator failure failed'),
    );
  }

  #onRunState(vmId: string, state: RunState): void {
    const record = this.#records.get(vmId);
    if (!record || this.#lock.isHeld(vmId)) return;
    if ((record.state === 'running' || record.state === 'paused') && record.state !== state) {
      this.#setState(record, state, state === 'paused' ? 'Paused by QEMU' : undefined);
    }
  }

  #setState(record: VmRecord, state: VmState, cause?: string): void {
    const from = record.state;
    if (from !== state) assertTransition(record.spec.id, from, state, `move to ${state}`);
    const changed = from !== state || record.cause !== cause;
    record.state = state;
    record.cause = cause;
    this.#persist(record);
    if (changed) {
      const event: VmStateEvent = { vmId: record.spec.id, state };
      if (cause !== undefined) event.cause = cause;
      this.emit('vm-state', event);
    }
  }

  #persist(record: VmRecord): void {
    if (!fs.existsSync(record.paths.dir)) return;
    const status: PersistedStatus = { state: record.state, updatedAt: new Date().toISOString() };
    if (record.cause !== undefined) status.cause = record.cause;
    if (record.state === 'suspended' || record.state === 'error') {
      status.wasRunning = record.wasRunning;
    }
    writeJsonAtomic(record.paths.status, status);
  }

  async #adoptAll(): Promise<void> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(this.#config.runDir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || !VM_ID_PATTERN.test(entry.name)) continue;
      const paths = vmPaths(this.#config.runDir, entry.name);
      const spec = readJson<VmSpec>(paths.spec);
      if (!spec || spec.id !== entry.name) continue;
      const saved = readJson<PersistedStatus>(paths.status);
      const record: VmRecord = {
        spec,
        paths,
        logger: this.#logger.child({ vmId: spec.id }),
        state: 'stopped',
        cause: saved?.cause,
        wasRunning: saved?.wasRunning ?? false,
        pendingExit: undefined,
      };
      this.#records.set(spec.id, record);
      try {
        const adopted = await this.#driver.adopt(this.#driverVm(record));
        if (adopted) {
          record.state = adopted.runState;
          record.cause = undefined;
          record.logger.info({ pid: adopted.pid, state: adopted.runState }, 'adopted running VM');
        } else {
          await this.#judgeWithoutProcess(record, saved);
        }
      } catch (error) {
        record.state = 'error';
        record.cause = (error as Error).message;
        record.logger.error({ err: error }, 'adoption failed');
      }
      this.#persist(record);
    }
  }

  /** Decides the state of a VM with no QEMU process from what the last engine recorded. */
  async #judgeWithoutProcess(record: VmRecord, saved: PersistedStatus | undefined): Promise<void> {
    const last = saved?.state ?? 'stopped';
    if (last === 'running' || last === 'paused' || last === 'starting') {
      record.state = 'crashed';
      record.cause = 'QEMU process exited unexpectedly';
      record.logger.error({ qemuLog: await tailFile(record.paths.log, 5) }, 'VM found crashed');
    } else if (last === 'stopping') {
      record.state = fs.existsSync(record.paths.savedState) ? 'suspended' : 'stopped';
    } else if (last === 'suspended' && !fs.existsSync(record.paths.savedState)) {
      record.state = 'error';
      record.cause = 'The saved memory state of this suspended VM is missing';
    } else {
      record.state = last;
    }
  }

  #isLive(record: VmRecord): boolean {
    return record.state === 'running' || record.state === 'paused';
  }

  #record(id: string): VmRecord {
    const record = this.#records.get(id);
    if (!record) throw new EngineError('NOT_FOUND', `VM "${id}" does not exist`, { vmId: id });
    return record;
  }

  #driverVm(record: VmRecord): DriverVm {
    return { id: record.spec.id, spec: record.spec, paths: record.paths, logger: record.logger };
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineError('UNAVAILABLE', 'The engine is closed');
  }

  #assertUsable(action: string, id: unknown): void {
    this.#assertOpen();
    const error = this.#driver.info().error;
    if (error) {
      throw new EngineError(
        'UNAVAILABLE',
        `Cannot ${action} VM${typeof id === 'string' ? ` "${id}"` : ''}: ${error}`,
      );
    }
  }

  async #status(record: VmRecord): Promise<VmStatus> {
    const status: VmStatus = {
      id: record.spec.id,
      state: record.state,
      diskBytes: await this.#driver.diskUsage(this.#driverVm(record)),
    };
    const pid = this.#driver.pidOf(record.spec.id);
    const accel = this.#driver.accelOf(record.spec.id);
    if (pid !== undefined) status.pid = pid;
    if (accel !== undefined) status.accel = accel;
    if (record.cause !== undefined) status.cause = record.cause;
    return status;
  }
}

/** Creates an engine over `config.runDir`: probes the accelerator and adopts VMs left running. */
export function createEngine(config: EngineConfig): Promise<Engine> {
  return Engine.create(config);
}
