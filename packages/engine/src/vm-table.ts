import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { BootPath, Driver, DriverObserver, ExitInfo, RunState } from './drivers/driver.js';
import { EngineError, toEngineError } from './errors.js';
import { KeyedLock } from './lock.js';
import type { EngineLogger } from './logger.js';
import { VM_ID_PATTERN, type VmSpec } from './spec.js';
import {
  assertTransition,
  canTransition,
  LIVE_STATES,
  PROCESS_STATES,
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
  /** How its guest came to run at its last start by this engine (e.g. `template`, `cold`). */
  bootPath?: BootPath;
  /** Its address on its guest network (`internet` and `class` modes), once it has one. */
  address?: string;
}

/** A lifecycle action the last engine left under way, for the next to finish. */
export interface InterruptedAction {
  record: VmRecord;
  action: 'start' | 'stop' | 'suspend';
}

/** Payload of the engine's `vm-state` event. */
export interface VmStateEvent {
  vmId: string;
  state: VmState;
  cause?: string;
  /** With `running` or `paused`: how the guest came to run (`pool`: taken from a warm pool). */
  bootPath?: BootPath;
  /** With `running` or `paused`: the guest's address on its network, when it has one. */
  address?: string;
}

/** What the table tells its engine. */
export interface VmTableEvents {
  /** A VM changed state (or cause). */
  onState(event: VmStateEvent): void;
  /** A VM's accelerator failed it soon after its start; the driver has switched to another. */
  onAcceleratorFailure(record: VmRecord): void;
}

/**
 * The engine's VMs: one record per VM folder, a lock per VM under which every action runs, every
 * state change checked against the transition table, persisted and announced, and the exits and
 * pauses the driver observes applied (after the action holding the lock, if one does).
 */
export class VmTable {
  readonly #records = new Map<string, VmRecord>();
  /** What {@link load} found under way when the last engine ended, for this one to finish. */
  #interrupted: InterruptedAction[] = [];
  readonly #lock = new KeyedLock();
  readonly #logger: EngineLogger;
  readonly #events: VmTableEvents;
  #driver: Driver | undefined;

  constructor(logger: EngineLogger, events: VmTableEvents) {
    this.#logger = logger;
    this.#events = events;
  }

  /** What the driver calls when it observes a guest on its own. */
  readonly observer: DriverObserver = {
    onExit: (vmId, exit) => this.#onExit(vmId, exit),
    onRunState: (vmId, state, cause) => this.#onRunState(vmId, state, cause),
    onAvailability: (vmId, change) => this.#onAvailability(vmId, change),
    onStartedElsewhere: (vmId, runState) => {
      const record = this.#records.get(vmId);
      if (record) this.#applyShared(record, runState);
    },
  };

  /** Attaches the driver (created with {@link observer}). */
  attach(driver: Driver): void {
    this.#driver = driver;
  }

  /** Every record. */
  all(): VmRecord[] {
    return [...this.#records.values()];
  }

  /** One record; NOT_FOUND if the engine does not know the VM. */
  get(id: string): VmRecord {
    const record = this.#records.get(id);
    if (!record) throw new EngineError('NOT_FOUND', `VM "${id}" does not exist`, { vmId: id });
    return record;
  }

  #add(record: VmRecord): void {
    this.#records.set(record.spec.id, record);
  }

  delete(id: string): void {
    this.#records.delete(id);
  }

  /** A new record for a VM, `stopped`, with a logger bound to it. */
  #newRecord(spec: VmSpec, dir: string): VmRecord {
    return {
      spec,
      dir,
      logger: this.#logger.child({ vmId: spec.id }),
      state: 'stopped',
      cause: undefined,
      pendingExit: undefined,
    };
  }

  /**
   * Creates a VM's folder, its disk (by the driver) and its `vm.json`, and adds it `stopped`;
   * CONFLICT if the id exists. A failure leaves no folder.
   */
  async create(spec: VmSpec, runDir: string): Promise<VmRecord> {
    const driver = this.#requireDriver();
    const dir = path.join(path.resolve(runDir), spec.id);
    return this.#lock.run(spec.id, async () => {
      const files = recordFiles(dir);
      if (this.#records.has(spec.id) || fs.existsSync(files.spec)) {
        throw new EngineError('CONFLICT', `VM "${spec.id}" already exists`, { vmId: spec.id });
      }
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      const record = this.#newRecord(spec, dir);
      try {
        await driver.createDisk(driverVmOf(record));
        writeJsonAtomic(files.spec, spec);
      } catch (error) {
        await fsp.rm(dir, { recursive: true, force: true });
        throw toEngineError(error, `Failed creating VM "${spec.id}"`);
      }
      persistStatus(record);
      this.#add(record);
      record.logger.info({ spec: { ...spec, guestConfig: undefined } }, 'VM created');
      return record;
    });
  }

  /**
   * Records a VM whose instance another server made on a cluster both reach, with the state its
   * driver reports (running, paused, or else stopped); the record already there if one is.
   */
  async attachShared(spec: VmSpec, runDir: string): Promise<VmRecord> {
    const driver = this.#requireDriver();
    return this.#lock.run(spec.id, async () => {
      const known = this.#records.get(spec.id);
      if (known) return known;
      const dir = path.join(path.resolve(runDir), spec.id);
      const record = this.#newRecord(spec, dir);
      const vm = driverVmOf(record);
      const adopted = await driver.adopt(vm);
      // Admitted by another server that has not made its instance yet: not a VM here yet.
      if (!adopted && driver.hasInstance && !(await driver.hasInstance(vm))) {
        throw new EngineError('NOT_FOUND', `VM "${spec.id}" has no instance yet`, {
          vmId: spec.id,
        });
      }
      if (adopted) {
        record.state = adopted.unavailable ? 'unavailable' : adopted.runState;
        record.cause = adopted.unavailable;
      }
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      writeJsonAtomic(recordFiles(dir).spec, spec);
      persistStatus(record);
      this.#add(record);
      record.logger.info({ state: record.state }, 'VM attached from the cluster');
      return record;
    });
  }

  /** One record, or undefined if the engine does not know the VM. */
  find(id: string): VmRecord | undefined {
    return this.#records.get(id);
  }

  /**
   * Reads a shared instance's state from its driver again (another server may have started or
   * stopped it) and takes it as an observation: not while this engine acts on the VM (before or
   * after the read), and not when the driver cannot tell now.
   */
  async refreshShared(record: VmRecord): Promise<void> {
    const id = record.spec.id;
    if (this.#lock.isHeld(id)) return;
    const adopted = await this.#requireDriver()
      .adopt(driverVmOf(record))
      .catch(() => undefined);
    // Out of reach now: its member's return decides (the driver reports it).
    if (adopted === undefined || adopted?.unavailable || this.#records.get(id) !== record) return;
    this.#applyShared(record, adopted ? adopted.runState : 'stopped');
  }

  /**
   * A shared instance found running, paused or stopped while its record says otherwise: another
   * server changed it, and the record follows. Ignored while this engine acts on the VM, for an
   * `unavailable` one (its member's return decides) and for one in a transition of its own.
   */
  #applyShared(record: VmRecord, observed: RunState | 'stopped'): void {
    const id = record.spec.id;
    if (this.#lock.isHeld(id) || record.state === observed) return;
    const live = LIVE_STATES.includes(record.state);
    const settled = ['stopped', 'crashed', 'error'].includes(record.state);
    if (observed === 'stopped' ? !live : !(live || settled)) return;
    record.logger.info({ from: record.state, to: observed }, 'state changed by another server');
    record.state = observed;
    record.cause = undefined;
    persistStatus(record);
    this.#events.onState({ vmId: id, state: observed });
  }

  /** Runs an action on a known VM under its lock, then applies an exit observed meanwhile. */
  async withVm<T>(id: string, action: string, run: (record: VmRecord) => Promise<T>): Promise<T> {
    return this.#lock.run(id, async () => {
      const record = this.get(id);
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

  /** Replaces a VM's spec, in memory and in its `vm.json`. */
  updateSpec(record: VmRecord, spec: VmSpec): void {
    writeJsonAtomic(recordFiles(record.dir).spec, spec);
    record.spec = spec;
  }

  /** Moves a VM to `state` (INVALID_STATE unless the table allows it), persists and announces it. */
  setState(record: VmRecord, state: VmState, cause?: string): void {
    const from = record.state;
    if (from !== state) assertTransition(record.spec.id, from, state, `move to ${state}`);
    const changed = from !== state || record.cause !== cause;
    record.state = state;
    record.cause = cause;
    persistStatus(record);
    if (changed) {
      const event: VmStateEvent = { vmId: record.spec.id, state };
      if (cause !== undefined) event.cause = cause;
      if (LIVE_STATES.includes(state) && record.bootPath !== undefined)
        event.bootPath = record.bootPath;
      const address = this.#requireDriver().addressOf?.(driverVmOf(record));
      if (LIVE_STATES.includes(state) && address !== undefined) event.address = address;
      this.#events.onState(event);
    }
  }

  /** A VM's status as the engine reports it. */
  async status(record: VmRecord): Promise<VmStatus> {
    const driver = this.#requireDriver();
    const status: VmStatus = {
      id: record.spec.id,
      state: record.state,
      diskBytes: await driver.diskUsage(driverVmOf(record)),
    };
    const pid = driver.pidOf(record.spec.id);
    const accel = driver.accelOf(record.spec.id);
    if (pid !== undefined) status.pid = pid;
    if (accel !== undefined) status.accel = accel;
    if (record.cause !== undefined) status.cause = record.cause;
    if (record.bootPath !== undefined) status.bootPath = record.bootPath;
    const address = driver.addressOf?.(driverVmOf(record));
    if (address !== undefined) status.address = address;
    return status;
  }

  /**
   * Ends a live VM's process (stop, suspend): `stopping`, then `to`. If that fails, back to the
   * state it had while its guest still runs, or `error` with the reason when it does not. `cause`
   * is the reason `to` is reached with.
   */
  async endProcess(
    record: VmRecord,
    to: 'stopped' | 'suspended',
    action: string,
    end: () => Promise<void>,
    cause?: string,
  ): Promise<void> {
    const id = record.spec.id;
    const from = record.state;
    assertTransition(id, from, 'stopping', action);
    record.ending = to;
    this.setState(record, 'stopping');
    try {
      await end();
    } catch (error) {
      const alive = this.#requireDriver().pidOf(id) !== undefined;
      record.ending = undefined;
      this.setState(record, alive ? from : 'error', alive ? undefined : (error as Error).message);
      throw toEngineError(error, `Failed to ${action} VM "${id}"`);
    }
    record.ending = undefined;
    this.setState(record, to, cause);
  }

  /** Loads every VM folder of `runDir`, adopting guests that still run and judging the others. */
  async load(runDir: string): Promise<void> {
    const driver = this.#requireDriver();
    const entries = await fsp
      .readdir(runDir, { withFileTypes: true })
      .catch(() => [] as fs.Dirent[]);
    for (const entry of entries) {
      if (!entry.isDirectory() || !VM_ID_PATTERN.test(entry.name)) continue;
      const dir = path.join(path.resolve(runDir), entry.name);
      const files = recordFiles(dir);
      const spec = readJson<VmSpec>(files.spec);
      if (!spec || spec.id !== entry.name) continue;
      const saved = readJson<PersistedStatus>(files.status);
      const record = this.#newRecord(spec, dir);
      record.cause = saved?.cause;
      this.#add(record);
      const vm = driverVmOf(record);
      try {
        let adopted = await driver.adopt(vm);
        // A start the last engine did not finish: a guest that runs has started (kept); one that
        // does not run yet (QEMU waiting for its state or for `cont`) is ended, and the start is
        // done again once the engine is up. A stop or suspend whose guest still runs is finished.
        const interruptedStart = saved?.state === 'starting' && adopted?.runState !== 'running';
        if (interruptedStart && adopted) {
          await driver.stop(vm, { timeoutMs: 0, force: true });
          driver.release(vm.id);
          adopted = null;
        }
        if (interruptedStart) this.#interrupted.push({ record, action: 'start' });
        if (saved?.state === 'stopping' && adopted) {
          this.#interrupted.push({
            record,
            action: saved.ending === 'suspended' ? 'suspend' : 'stop',
          });
        }
        if (adopted?.unavailable) {
          record.state = 'unavailable';
          record.cause = adopted.unavailable;
          record.logger.warn({ cause: adopted.unavailable }, 'adopted VM out of reach');
        } else if (adopted) {
          record.state = adopted.runState;
          record.cause = undefined;
          record.logger.info({ pid: adopted.pid, state: adopted.runState }, 'adopted running VM');
        } else {
          const judged = judgeWithoutProcess(saved, driver.hasSavedState(vm));
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

  /** The starts, stops and suspends the last engine left unfinished (once: the list empties). */
  takeInterrupted(): InterruptedAction[] {
    const interrupted = this.#interrupted;
    this.#interrupted = [];
    return interrupted;
  }

  #requireDriver(): Driver {
    if (!this.#driver) throw new EngineError('UNAVAILABLE', 'The engine has no driver yet');
    return this.#driver;
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
    if (this.#driver?.pidOf(record.spec.id) !== undefined) return;
    const graceful =
      exit.shutdownReason === 'guest-shutdown' || exit.shutdownReason === 'host-signal';
    const next: VmState = graceful ? 'stopped' : 'crashed';
    if (!canTransition(record.state, next)) return;
    record.logger[graceful ? 'info' : 'error']({ cause: exit.cause }, `guest ended: ${next}`);
    this.setState(record, next, exit.cause);
    if (exit.acceleratorFailed) this.#events.onAcceleratorFailure(record);
  }

  #onAvailability(vmId: string, change: { reason: string } | { runState: RunState }): void {
    const record = this.#records.get(vmId);
    if (!record || this.#lock.isHeld(vmId)) return;
    const next = 'reason' in change ? 'unavailable' : change.runState;
    if (record.state === next || !canTransition(record.state, next)) return;
    const cause = 'reason' in change ? change.reason : undefined;
    record.logger[cause ? 'warn' : 'info']({ cause }, `guest ${next}`);
    this.setState(record, next, cause);
  }

  #onRunState(vmId: string, state: RunState, cause?: string): void {
    const record = this.#records.get(vmId);
    if (!record || this.#lock.isHeld(vmId)) return;
    if (LIVE_STATES.includes(record.state) && record.state !== state) {
      const reason = state === 'paused' ? (cause ?? 'Paused by the hypervisor') : undefined;
      if (cause) record.logger.warn({ cause }, 'guest paused');
      this.setState(record, state, reason);
    }
  }
}
