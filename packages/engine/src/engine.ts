import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import {
  assertCapacity,
  type CapacityReport,
  computeCapacity,
  DEFAULT_OVERCOMMIT,
  type HostResources,
  type OvercommitRatios,
} from './capacity.js';
import type {
  ConsoleKind,
  Driver,
  DriverInfo,
  DriverObserver,
  ExitInfo,
  RunState,
  SnapshotInfo,
} from './drivers/driver.js';
import { createDriver, type DriverConfig } from './drivers/registry.js';
import { EngineError, toEngineError } from './errors.js';
import { KeyedLock } from './lock.js';
import { type EngineLogger, SILENT_LOGGER } from './logger.js';
import { VM_ID_PATTERN, type VmSpec, validateVmSpec } from './spec.js';
import {
  assertStateIn,
  assertTransition,
  canTransition,
  LIVE_STATES,
  PROCESS_STATES,
  RESOURCE_HOLDING_STATES,
  type VmState,
} from './state.js';
import {
  driverVmOf,
  judgeWithoutProcess,
  type PersistedStatus,
  persistStatus,
  readJson,
  recordFiles,
  type VmRecord,
  writeJsonAtomic,
} from './vm-record.js';

/** How long a guest gets to power off after the ACPI power button before it is ended. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Configuration of an engine; the server builds it from its validated environment. */
export interface EngineConfig {
  /** One folder per VM, named by the VM id. */
  runDir: string;
  /** Which driver runs the guests, and its settings. */
  driver: DriverConfig;
  /** Host resources to hand out; default what the driver reports. */
  host?: HostResources;
  /** Overcommit ratios; default memory 1.0, vCPUs 4.0. */
  overcommit?: Partial<OvercommitRatios>;
  logger?: EngineLogger;
}

/** A VM as the engine reports it. */
export interface VmStatus {
  id: string;
  state: VmState;
  /** The guest process's pid while one exists. */
  pid?: number;
  /** The accelerator its guest runs with, while one exists (e.g. `kvm`, `tcg`). */
  accel?: string;
  /** Why the VM is in its state, for crashed, error and unexpected stops. */
  cause?: string;
  /** Bytes the VM takes on the host's disk (disk with its snapshots, saved state). */
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
  /** Skip the power button: end the guest at once. */
  force?: boolean;
}

/** Options of {@link Engine.createSnapshot}. */
export interface CreateSnapshotOptions {
  name: string;
  /** Also save the guest's memory (only while it runs or is paused). */
  memory?: boolean;
}

/** Builds a driver for an engine; tests of the facade pass one that builds a fake. */
export type DriverFactory = (observer: DriverObserver, logger: EngineLogger) => Promise<Driver>;

/**
 * The facade the server calls: this host's VMs. Every lifecycle action runs under a per-VM lock;
 * the state table decides what is allowed; a failed start is an `error` with its reason.
 * Emits `vm-state` ({@link VmStateEvent}) on every state change, observed or requested, and
 * `vm-deleted` `{vmId}`.
 */
export class Engine extends EventEmitter<{
  'vm-state': [VmStateEvent];
  'vm-deleted': [{ vmId: string }];
}> {
  readonly #config: EngineConfig;
  readonly #logger: EngineLogger;
  readonly #overcommit: OvercommitRatios;
  readonly #records = new Map<string, VmRecord>();
  readonly #lock = new KeyedLock();
  #driver!: Driver;
  #host!: HostResources;
  #closed = false;

  private constructor(config: EngineConfig) {
    super();
    this.#config = config;
    this.#logger = (config.logger ?? SILENT_LOGGER).child({ component: 'engine' });
    this.#overcommit = { ...DEFAULT_OVERCOMMIT, ...config.overcommit };
  }

  /** Creates an engine: starts its driver and adopts the VMs found in the run directory. */
  static async create(config: EngineConfig, driverFactory?: DriverFactory): Promise<Engine> {
    const engine = new Engine(config);
    await fsp.mkdir(config.runDir, { recursive: true, mode: 0o700 });
    const observer: DriverObserver = {
      onExit: (vmId, exit) => engine.#onExit(vmId, exit),
      onRunState: (vmId, state) => engine.#onRunState(vmId, state),
    };
    engine.#driver = driverFactory
      ? await driverFactory(observer, engine.#logger)
      : await createDriver(config.driver, engine.#logger, observer);
    engine.#host = config.host ?? engine.#driver.hostResources();
    await engine.#adoptAll();
    return engine;
  }

  /** The driver's name, version, features and details, or why it is unusable. */
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
   * Creates a VM, stopped: writes its spec to `<runDir>/<id>/vm.json` and has the driver make its
   * disk (a copy-on-write overlay on the read-only base). CONFLICT if the id exists.
   */
  async createVm(input: VmSpec): Promise<VmStatus> {
    this.#assertUsable('create', input?.id);
    const spec = validateVmSpec(input);
    const dir = path.join(path.resolve(this.#config.runDir), spec.id);
    return this.#lock.run(spec.id, async () => {
      const files = recordFiles(dir);
      if (this.#records.has(spec.id) || fs.existsSync(files.spec)) {
        throw new EngineError('CONFLICT', `VM "${spec.id}" already exists`, { vmId: spec.id });
      }
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      const record: VmRecord = {
        spec,
        dir,
        logger: this.#logger.child({ vmId: spec.id }),
        state: 'stopped',
        cause: undefined,
        pendingExit: undefined,
      };
      try {
        await this.#driver.createDisk(driverVmOf(record));
        writeJsonAtomic(files.spec, spec);
      } catch (error) {
        await fsp.rm(dir, { recursive: true, force: true });
        throw toEngineError(error, `Failed creating VM "${spec.id}"`);
      }
      persistStatus(record);
      this.#records.set(spec.id, record);
      record.logger.info({ spec: { ...spec, guestConfig: undefined } }, 'VM created');
      return this.#status(record);
    });
  }

  /**
   * Starts a VM that is stopped, crashed or in error; for a suspended VM (or one whose restore
   * failed), continues its saved memory state. CAPACITY_EXCEEDED beyond host × overcommit.
   */
  async startVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'start', (record) => this.#start(record));
  }

  /**
   * Stops a VM: ACPI power button, then harder after `timeoutMs` (or at once with `force`). A
   * crashed, errored or suspended VM is marked stopped, losing its saved state.
   */
  async stopVm(id: string, options: StopOptions = {}): Promise<VmStatus> {
    return this.#withVm(id, 'stop', async (record) => {
      const vm = driverVmOf(record);
      if (!PROCESS_STATES.includes(record.state)) {
        assertTransition(id, record.state, 'stopped', 'stop');
        await this.#driver.discardSavedState(vm);
        this.#setState(record, 'stopped');
        return this.#status(record);
      }
      await this.#ending(record, 'stopped', 'stop', () =>
        this.#driver.stop(vm, {
          timeoutMs: options.timeoutMs ?? SHUTDOWN_TIMEOUT_MS,
          force: options.force ?? false,
        }),
      );
      return this.#status(record);
    });
  }

  /** Hard-resets a running (or paused: it is resumed) VM. */
  async rebootVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'reboot', async (record) => {
      assertTransition(id, record.state, 'running', 'reboot');
      const vm = driverVmOf(record);
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
      await this.#driver.pause(driverVmOf(record));
      this.#setState(record, 'paused');
      return this.#status(record);
    });
  }

  /** Resumes a paused VM; for a suspended VM this is {@link startVm} (restore of the saved state). */
  async resumeVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'resume', async (record) => {
      if (record.state === 'suspended') return this.#start(record);
      assertTransition(id, record.state, 'running', 'resume');
      if (record.state === 'paused') await this.#driver.resume(driverVmOf(record));
      this.#setState(record, 'running');
      return this.#status(record);
    });
  }

  /**
   * Suspends a running or paused VM to disk: its memory state is saved and its process ends, so it
   * holds disk only. {@link startVm} (or {@link resumeVm}) continues it where it was.
   */
  async suspendVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'suspend', async (record) => {
      await this.#ending(record, 'suspended', 'suspend', () =>
        this.#driver.suspend(driverVmOf(record)),
      );
      return this.#status(record);
    });
  }

  /** Deletes a VM in any state: ends its guest if one runs, then removes every file of it. */
  async deleteVm(id: string): Promise<void> {
    await this.#withVm(id, 'delete', async (record) => {
      if (this.#driver.pidOf(id) !== undefined) {
        await this.#driver.stop(driverVmOf(record), { timeoutMs: 0, force: true });
      }
      this.#driver.release(id);
      await fsp.rm(record.dir, { recursive: true, force: true });
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
   * Takes a snapshot. Disk-only snapshots work in any settled state; `memory: true` needs a
   * running or paused VM and makes a restore continue where the guest was.
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
        driverVmOf(record),
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
      const vm = driverVmOf(record);
      const snapshot = await this.#driver.getSnapshot(vm, name);
      if (this.#isLive(record)) {
        if (snapshot.memory) {
          await this.#driver.restoreSnapshot(vm, name, true);
          this.#setState(record, await this.#driver.queryRunState(vm));
          return this.#status(record);
        }
        await this.#ending(record, 'stopped', 'restore', () =>
          this.#driver.stop(vm, { timeoutMs: 0, force: true }),
        );
        await this.#driver.restoreSnapshot(vm, name, false);
        return this.#start(record);
      }
      assertStateIn(id, record.state, ['stopped', 'suspended', 'crashed', 'error'], 'restore');
      if (this.#driver.hasSavedState(vm)) {
        await this.#driver.discardSavedState(vm);
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
      const vm = driverVmOf(record);
      await this.#driver.getSnapshot(vm, name);
      await this.#driver.deleteSnapshot(vm, name, this.#isLive(record));
    });
  }

  /** A VM's snapshots, oldest first, with their sizes. */
  async listSnapshots(id: string): Promise<SnapshotInfo[]> {
    return this.#driver.listSnapshots(driverVmOf(this.#record(id)));
  }

  /**
   * Opens a byte stream to a console of a running or paused VM: its serial terminal (raw bytes)
   * or its display (RFB). INVALID_STATE otherwise; UNAVAILABLE if the guest does not answer.
   */
  async openConsole(id: string, kind: ConsoleKind): Promise<Duplex> {
    const record = this.#record(id);
    assertStateIn(id, record.state, LIVE_STATES, `open a console of`);
    return this.#driver.openConsole(driverVmOf(record), kind);
  }

  /** Disconnects from every guest. Never stops one: a new engine adopts them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
    this.removeAllListeners();
  }

  /**
   * Ends a live VM's process (stop, suspend): `stopping`, then `to`. If that fails, back to the
   * state it had while its guest still runs, or `error` with the reason when it does not.
   */
  async #ending(
    record: VmRecord,
    to: 'stopped' | 'suspended',
    action: string,
    end: () => Promise<void>,
  ): Promise<void> {
    const id = record.spec.id;
    const from = record.state;
    assertTransition(id, from, 'stopping', action);
    this.#setState(record, 'stopping');
    try {
      await end();
    } catch (error) {
      const alive = this.#driver.pidOf(id) !== undefined;
      this.#setState(record, alive ? from : 'error', alive ? undefined : (error as Error).message);
      throw toEngineError(error, `Failed to ${action} VM "${id}"`);
    }
    this.#setState(record, to);
  }

  async #start(record: VmRecord, loadSnapshot?: string): Promise<VmStatus> {
    const id = record.spec.id;
    this.#assertUsable('start', id);
    assertTransition(id, record.state, 'starting', 'start');
    // Capacity is checked and the VM marked `starting` in the same tick: concurrent starts of
    // different VMs (each under its own lock) cannot both pass on the same free resources.
    assertCapacity(id, this.capacity(), record.spec);
    this.#setState(record, 'starting');
    const vm = driverVmOf(record);
    const restoring = this.#driver.hasSavedState(vm);
    const started = Date.now();
    try {
      const { pid, runState } = await this.#driver.start(vm, {
        ...(restoring ? { restoreSavedState: true } : {}),
        ...(loadSnapshot ? { loadSnapshot } : {}),
      });
      this.#setState(record, runState);
      record.logger.info({ pid, restoring, durationMs: Date.now() - started }, 'VM started');
      return this.#status(record);
    } catch (error) {
      const failure = toEngineError(error, `Failed starting VM "${id}"`);
      // A failed start is an error the user sees with its reason, never a silent return to
      // `stopped`; a saved memory state is kept, so starting again retries the restore.
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
    record.logger[graceful ? 'info' : 'error']({ cause: exit.cause }, `guest ended: ${next}`);
    this.#setState(record, next, exit.cause);
    if (exit.acceleratorFailed) this.#restartAfterAcceleratorFailure(record);
  }

  /** Starts again, under the accelerator the driver switched to, a VM its accelerator failed. */
  #restartAfterAcceleratorFailure(record: VmRecord): void {
    record.logger.warn('restarting the VM under the fallback accelerator');
    this.#withVm(record.spec.id, 'restart', async (current) => {
      if (current !== record || current.state !== 'crashed') return;
      await this.#start(current);
    }).catch((error: unknown) =>
      record.logger.error({ err: error }, 'restart after an accelerator failure failed'),
    );
  }

  #onRunState(vmId: string, state: RunState): void {
    const record = this.#records.get(vmId);
    if (!record || this.#lock.isHeld(vmId)) return;
    if (LIVE_STATES.includes(record.state) && record.state !== state) {
      this.#setState(record, state, state === 'paused' ? 'Paused by the hypervisor' : undefined);
    }
  }

  #setState(record: VmRecord, state: VmState, cause?: string): void {
    const from = record.state;
    if (from !== state) assertTransition(record.spec.id, from, state, `move to ${state}`);
    const changed = from !== state || record.cause !== cause;
    record.state = state;
    record.cause = cause;
    persistStatus(record);
    if (changed) {
      const event: VmStateEvent = { vmId: record.spec.id, state };
      if (cause !== undefined) event.cause = cause;
      this.emit('vm-state', event);
    }
  }

  /** Loads every VM of the run directory, adopting guests that still run. */
  async #adoptAll(): Promise<void> {
    const entries = await fsp
      .readdir(this.#config.runDir, { withFileTypes: true })
      .catch(() => [] as fs.Dirent[]);
    for (const entry of entries) {
      if (!entry.isDirectory() || !VM_ID_PATTERN.test(entry.name)) continue;
      const dir = path.join(path.resolve(this.#config.runDir), entry.name);
      const files = recordFiles(dir);
      const spec = readJson<VmSpec>(files.spec);
      if (!spec || spec.id !== entry.name) continue;
      const saved = readJson<PersistedStatus>(files.status);
      const record: VmRecord = {
        spec,
        dir,
        logger: this.#logger.child({ vmId: spec.id }),
        state: 'stopped',
        cause: saved?.cause,
        pendingExit: undefined,
      };
      this.#records.set(spec.id, record);
      const vm = driverVmOf(record);
      try {
        const adopted = await this.#driver.adopt(vm);
        if (adopted) {
          record.state = adopted.runState;
          record.cause = undefined;
          record.logger.info({ pid: adopted.pid, state: adopted.runState }, 'adopted running VM');
        } else {
          const judged = judgeWithoutProcess(saved, this.#driver.hasSavedState(vm));
          record.state = judged.state;
          record.cause = judged.cause;
        }
      } catch (error) {
        record.state = 'error';
        record.cause = (error as Error).message;
        record.logger.error({ err: error }, 'adoption failed');
      }
      persistStatus(record);
    }
  }

  #isLive(record: VmRecord): boolean {
    return LIVE_STATES.includes(record.state);
  }

  #record(id: string): VmRecord {
    const record = this.#records.get(id);
    if (!record) throw new EngineError('NOT_FOUND', `VM "${id}" does not exist`, { vmId: id });
    return record;
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
      diskBytes: await this.#driver.diskUsage(driverVmOf(record)),
    };
    const pid = this.#driver.pidOf(record.spec.id);
    const accel = this.#driver.accelOf(record.spec.id);
    if (pid !== undefined) status.pid = pid;
    if (accel !== undefined) status.accel = accel;
    if (record.cause !== undefined) status.cause = record.cause;
    return status;
  }
}

/** Creates an engine over `config.runDir`: starts its driver and adopts VMs left running. */
export function createEngine(config: EngineConfig): Promise<Engine> {
  return Engine.create(config);
}
