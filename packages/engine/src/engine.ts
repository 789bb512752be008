import { EventEmitter } from 'node:events';
import fsp from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { VmState } from '@labvisor/shared';
import {
  assertCapacity,
  type CapacityReport,
  computeCapacity,
  DEFAULT_OVERCOMMIT,
  type HostResources,
  type OvercommitRatios,
} from './capacity.js';
import {
  type ConsoleKind,
  type Driver,
  type DriverInfo,
  type HostMember,
  MAX_GUEST_FILE_BYTES,
  type ProjectLimits,
  type SnapshotInfo,
} from './drivers/driver.js';
import { createDriver } from './drivers/registry.js';
import {
  type CreateSnapshotOptions,
  DEFAULT_MIN_FREE_DISK_BYTES,
  type DriverFactory,
  type EngineConfig,
  SHUTDOWN_TIMEOUT_MS,
  type StopOptions,
} from './engine-config.js';
import { EngineError, toEngineError } from './errors.js';
import { type EngineLogger, SILENT_LOGGER } from './logger.js';
import { type HomeDisk, type VmNetwork, type VmSpec, validateVmSpec } from './spec.js';
import {
  assertStateIn,
  assertTransition,
  LIVE_STATES,
  PROCESS_STATES,
  RESOURCE_HOLDING_STATES,
} from './state.js';
import { driverVmOf, type VmRecord } from './vm-record.js';
import { type InterruptedAction, type VmStateEvent, type VmStatus, VmTable } from './vm-table.js';

export type { VmStateEvent, VmStatus } from './vm-table.js';

/** The spec of a VM another server made on a shared cluster, or undefined if there is none. */
export type VmSource = (id: string) => Promise<VmSpec | undefined>;
export type { CreateSnapshotOptions, DriverFactory, EngineConfig, StopOptions };
export { SHUTDOWN_TIMEOUT_MS };

const MIB = 1024 * 1024;

/**
 * The facade the server calls: this host's VMs. Every lifecycle action runs under a per-VM lock;
 * the state table decides what is allowed; a failed start is an `error` with its reason.
 * Emits `vm-state` ({@link VmStateEvent}) on every state change, observed or requested, and
 * `vm-deleted` `{vmId}`.
 */
/** States a VM can be reset from (not while it is starting or stopping). */
const RESETTABLE_STATES: VmState[] = [
  'stopped',
  'running',
  'paused',
  'suspended',
  'crashed',
  'error',
];

export class Engine extends EventEmitter<{
  'vm-state': [VmStateEvent];
  'vm-deleted': [{ vmId: string }];
}> {
  readonly #config: EngineConfig;
  readonly #logger: EngineLogger;
  readonly #overcommit: OvercommitRatios;
  readonly #table: VmTable;
  #driver!: Driver;
  /** The driver's guests live in a cluster other servers reach too (`shared-instances`). */
  #sharesInstances = false;
  #host!: HostResources;
  #closed = false;
  #vmSource: VmSource | undefined;

  private constructor(config: EngineConfig) {
    super();
    this.#config = config;
    this.#logger = (config.logger ?? SILENT_LOGGER).child({ component: 'engine' });
    this.#overcommit = { ...DEFAULT_OVERCOMMIT, ...config.overcommit };
    this.#table = new VmTable(this.#logger, {
      onState: (event) => this.emit('vm-state', event),
      onAcceleratorFailure: (record) => this.#restartAfterAcceleratorFailure(record),
    });
  }

  /** Creates an engine: starts its driver and adopts the VMs found in the run directory. */
  static async create(config: EngineConfig, driverFactory?: DriverFactory): Promise<Engine> {
    const engine = new Engine(config);
    // VMs' folders hold guest passwords (fw_cfg), disks and sockets: for the engine's user only.
    await fsp.mkdir(config.runDir, { recursive: true, mode: 0o700 });
    await fsp.chmod(config.runDir, 0o700);
    const observer = engine.#table.observer;
    engine.#driver = driverFactory
      ? await driverFactory(observer, engine.#logger)
      : await createDriver(config.driver, engine.#logger, observer);
    engine.#table.attach(engine.#driver);
    engine.#sharesInstances = engine.#driver.info().features.includes('shared-instances');
    engine.#host = config.host ?? engine.#driver.hostResources();
    await engine.#table.load(config.runDir);
    for (const interrupted of engine.#table.takeInterrupted()) engine.#finish(interrupted);
    return engine;
  }

  /**
   * Where the engine learns of VMs that another server made on a cluster both reach (a driver
   * with the `shared-instances` feature): asked for the spec of a VM it does not know, before it
   * answers NOT_FOUND. Server replicas set it; a driver of one host's guests never asks.
   */
  setVmSource(source: VmSource): void {
    this.#vmSource = source;
  }

  /** The driver's name, version, features and details, or why it is unusable. */
  info(): DriverInfo {
    return this.#driver.info();
  }

  /** Host resources, what may be handed out (host × overcommit) and what VMs holding resources use. */
  capacity(): CapacityReport {
    const holding = this.#table
      .all()
      .filter((record) => RESOURCE_HOLDING_STATES.includes(record.state))
      .map(({ spec }) => ({ memoryMib: spec.memoryMib, vcpus: spec.vcpus }));
    return computeCapacity(this.#host, this.#overcommit, holding);
  }

  /** The members of the driver's cluster of hosts; none for a driver of one host. */
  members(): HostMember[] {
    return this.#driver.members?.() ?? [];
  }

  /**
   * Evacuates a cluster member (its VMs move to the others) or restores it. NOT_FOUND for a member
   * the cluster does not have; UNAVAILABLE for a driver of one host.
   */
  async setMemberState(member: string, action: 'evacuate' | 'restore'): Promise<void> {
    if (!this.#driver.setMemberState) {
      throw new EngineError(
        'UNAVAILABLE',
        `The ${this.#driver.name} driver runs one host: no member to ${action}`,
      );
    }
    if (!this.members().some((each) => each.name === member)) {
      throw new EngineError('NOT_FOUND', `The cluster has no member "${member}"`);
    }
    await this.#driver.setMemberState(member, action);
  }

  /**
   * Mirrors a tenant's limits onto the driver's partition of its hosts (an Incus project); does
   * nothing with a driver that has none.
   */
  async syncProject(project: string, limits: ProjectLimits): Promise<void> {
    await this.#driver.syncProject?.(project, limits);
  }

  /**
   * Creates a VM, stopped: writes its spec to `<runDir>/<id>/vm.json` and has the driver make its
   * disk (a copy-on-write overlay on the read-only base). CONFLICT if the id exists.
   */
  async createVm(input: VmSpec): Promise<VmStatus> {
    this.#assertUsable('create', input?.id);
    const spec = validateVmSpec(input);
    await this.assertDiskRoom(`create VM "${spec.id}"`, 0);
    const record = await this.#table.create(spec, this.#config.runDir);
    return this.#table.status(record);
  }

  /**
   * Builds the template that VMs of this spec's image and size start from, so that the first of
   * them is a clone too (the spec's id and name are not used). UNAVAILABLE when the driver has no
   * templates; VALIDATION when the image cannot have one (it runs no guest agent).
   */
  async buildTemplate(input: VmSpec): Promise<void> {
    this.#assertUsable('build a template for', input?.id);
    const spec = validateVmSpec(input);
    if (!this.#driver.buildTemplate)
      throw new EngineError('UNAVAILABLE', `The ${this.#driver.name} driver has no templates`);
    try {
      await this.#driver.buildTemplate(spec);
    } catch (error) {
      throw toEngineError(error, 'Failed building a template');
    }
  }

  /**
   * Deletes the templates no VM can start from any more (a rebuilt image, another QEMU) and no
   * VM's disk rests on; answers how many went (0 for drivers without templates).
   */
  async removeUnusedTemplates(): Promise<number> {
    this.#assertOpen();
    return (await this.#driver.removeUnusedTemplates?.(this.#table.all().map(driverVmOf))) ?? 0;
  }

  /**
   * Starts a VM that is stopped, crashed or in error; for a suspended VM (or one whose restore
   * failed), continues its saved memory state. CAPACITY_EXCEEDED beyond host × overcommit.
   */
  async startVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'start', (record) => this.#start(record));
  }

  /**
   * Starts a new VM for a warm pool: as a clone of its image's template, left `paused` without its
   * identity until {@link claimVm}. UNAVAILABLE when the driver has no template for it.
   */
  async startPooledVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'start', (record) => this.#start(record, { pooled: true }));
  }

  /**
   * Hands a warm pool's paused VM to its user: its name and guest configuration become `identity`'s,
   * and it runs with that identity applied (boot path `pool`). A failure ends its guest and leaves
   * it in `error` with the reason.
   */
  async claimVm(id: string, identity: Pick<VmSpec, 'name' | 'guestConfig'>): Promise<VmStatus> {
    return this.#withVm(id, 'claim', async (record) => {
      assertStateIn(id, record.state, ['paused'], 'claim');
      const vm = driverVmOf(record);
      if (!this.#driver.claim) {
        throw new EngineError('UNAVAILABLE', `The ${this.#driver.name} driver has no warm pools`);
      }
      const spec: VmSpec = { ...record.spec, name: identity.name };
      delete spec.guestConfig;
      if (identity.guestConfig) spec.guestConfig = identity.guestConfig;
      this.#table.updateSpec(record, validateVmSpec(spec));
      const started = Date.now();
      try {
        await this.#driver.claim(driverVmOf(record));
      } catch (error) {
        const failure = toEngineError(error, `Failed taking VM "${id}" from its warm pool`);
        await this.#driver.stop(vm, { timeoutMs: 0, force: true }).catch(() => {});
        this.#table.setState(record, 'error', failure.message);
        throw failure;
      }
      record.bootPath = 'pool';
      this.#table.setState(record, 'running');
      record.logger.info({ durationMs: Date.now() - started }, 'VM taken from its warm pool');
      return this.#table.status(record);
    });
  }

  /** Bytes each VM's guest received (`in`) and sent (`out`) on its network since its last start. */
  async networkCounters(): Promise<Map<string, { in: number; out: number }>> {
    this.#assertOpen();
    return (await this.#driver.networkCounters?.()) ?? new Map();
  }

  /**
   * A byte stream to TCP `port` of a running VM's guest, over its network (a lab's web app):
   * INVALID_STATE unless it runs, VALIDATION without a network, UNAVAILABLE when nothing answers.
   */
  async openGuestPort(id: string, port: number): Promise<Duplex> {
    const record = await this.#known(id);
    assertStateIn(id, record.state, ['running'], 'open a port of');
    if (!record.spec.network || record.spec.network.mode === 'none') {
      throw new EngineError('VALIDATION', `VM "${id}" has no network to open a port on`, {
        field: 'network',
      });
    }
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new EngineError('VALIDATION', `Port ${port} is not a TCP port`, { field: 'port' });
    }
    if (!this.#driver.openGuestPort) {
      throw new EngineError('UNAVAILABLE', `The ${this.#driver.name} driver cannot open ports`);
    }
    return this.#driver.openGuestPort(driverVmOf(record), port);
  }

  /**
   * Gives a VM its owner's home disk, or takes it away (`undefined`), from its next start; only
   * while no guest runs and none is suspended (a saved state holds its devices). VALIDATION for a
   * driver without `home-disks`.
   */
  async setVmHomeDisk(id: string, homeDisk: HomeDisk | undefined): Promise<VmStatus> {
    return this.#withVm(id, 'change the home disk of', async (record) => {
      const same = JSON.stringify(record.spec.homeDisk) === JSON.stringify(homeDisk);
      if (same) return this.#table.status(record);
      if (homeDisk && !this.info().features.includes('home-disks')) {
        throw new EngineError('VALIDATION', `The ${this.#driver.name} driver has no home disks`);
      }
      assertStateIn(id, record.state, ['stopped', 'crashed', 'error'], 'change the home disk of');
      const spec: VmSpec = { ...record.spec };
      if (homeDisk) spec.homeDisk = homeDisk;
      else delete spec.homeDisk;
      this.#table.updateSpec(record, validateVmSpec(spec));
      return this.#table.status(record);
    });
  }

  /**
   * Changes how a VM reaches the network; only while no guest runs and none is suspended (its
   * memory holds the old network's address). The next start uses it.
   */
  async setVmNetwork(id: string, network: VmNetwork): Promise<VmStatus> {
    return this.#withVm(id, 'change the network of', async (record) => {
      assertStateIn(id, record.state, ['stopped', 'crashed', 'error'], 'change the network of');
      this.#table.updateSpec(record, validateVmSpec({ ...record.spec, network }));
      return this.#table.status(record);
    });
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
        this.#table.setState(record, 'stopped');
        return this.#table.status(record);
      }
      await this.#table.endProcess(record, 'stopped', 'stop', () =>
        this.#driver.stop(vm, {
          timeoutMs: options.timeoutMs ?? SHUTDOWN_TIMEOUT_MS,
          force: options.force ?? false,
        }),
      );
      return this.#table.status(record);
    });
  }

  /** Hard-resets a running (or paused: it is resumed) VM. */
  async rebootVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'reboot', async (record) => {
      assertTransition(id, record.state, 'running', 'reboot');
      const vm = driverVmOf(record);
      await this.#driver.reboot(vm);
      if (record.state === 'paused') await this.#driver.resume(vm);
      this.#table.setState(record, 'running');
      return this.#table.status(record);
    });
  }

  /** Pauses a running VM's vCPUs (it keeps its memory and host resources). */
  async pauseVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'pause', async (record) => {
      assertTransition(id, record.state, 'paused', 'pause');
      await this.#driver.pause(driverVmOf(record));
      this.#table.setState(record, 'paused');
      return this.#table.status(record);
    });
  }

  /** Resumes a paused VM; for a suspended VM this is {@link startVm} (restore of the saved state). */
  async resumeVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'resume', async (record) => {
      if (record.state === 'suspended') return this.#start(record);
      assertTransition(id, record.state, 'running', 'resume');
      if (record.state === 'paused') await this.#driver.resume(driverVmOf(record));
      this.#table.setState(record, 'running');
      return this.#table.status(record);
    });
  }

  /**
   * Suspends a running or paused VM to disk: its memory state is saved and its process ends, so it
   * holds disk only. {@link startVm} (or {@link resumeVm}) continues it where it was. `cause`,
   * when given, is the suspended state's reason, carried by the same state event.
   */
  async suspendVm(id: string, options: { cause?: string } = {}): Promise<VmStatus> {
    return this.#withVm(id, 'suspend', async (record) => {
      await this.assertDiskRoom(`suspend VM "${id}"`, record.spec.memoryMib);
      await this.#table.endProcess(
        record,
        'suspended',
        'suspend',
        () => this.#driver.suspend(driverVmOf(record)),
        options.cause,
      );
      return this.#table.status(record);
    });
  }

  /**
   * Brings a VM back to its image: ends its guest if one runs, throws its disk, snapshots and
   * saved state away and makes a fresh disk on the same base (a clone of its template when there
   * is one); a VM whose guest ran is started again. UNAVAILABLE for drivers without `reset`.
   */
  async resetVm(id: string): Promise<VmStatus> {
    return this.#withVm(id, 'reset', async (record) => {
      assertStateIn(id, record.state, RESETTABLE_STATES, 'reset');
      if (!this.#driver.resetDisk)
        throw new EngineError('UNAVAILABLE', `The ${this.#driver.name} driver cannot reset VMs`);
      const vm = driverVmOf(record);
      const wasRunning = PROCESS_STATES.includes(record.state);
      if (wasRunning) {
        await this.#table.endProcess(record, 'stopped', 'reset', () =>
          this.#driver.stop(vm, { timeoutMs: 0, force: true }),
        );
      }
      await this.#driver.discardSavedState(vm);
      try {
        await this.#driver.resetDisk(vm);
      } catch (error) {
        const failure = toEngineError(error, `Failed resetting VM "${id}"`);
        this.#table.setState(record, 'error', failure.message);
        throw failure;
      }
      this.#table.setState(record, 'stopped');
      record.logger.info('VM reset to its image');
      return wasRunning ? this.#start(record) : this.#table.status(record);
    });
  }

  /**
   * Writes a stopped VM's disk, flattened onto its base, as one standalone qcow2 file at `target`
   * (a new image's file). UNAVAILABLE for drivers without `publish`.
   */
  async exportDisk(id: string, target: string): Promise<void> {
    await this.#withVm(id, 'publish', async (record) => {
      assertStateIn(id, record.state, ['stopped'], 'publish');
      if (!this.#driver.exportDisk) {
        throw new EngineError('UNAVAILABLE', `The ${this.#driver.name} driver cannot publish VMs`);
      }
      try {
        await this.#driver.exportDisk(driverVmOf(record), target);
      } catch (error) {
        await fsp.rm(target, { force: true });
        throw toEngineError(error, `Failed writing the disk of VM "${id}"`);
      }
    });
  }

  /**
   * A file of a running guest (at most {@link MAX_GUEST_FILE_BYTES}; an absolute path, or `~/` for
   * the lab user's home), through its agent. UNAVAILABLE for a driver or image without one.
   */
  async readGuestFile(id: string, guestPath: string): Promise<Buffer> {
    return this.#withVm(id, 'read a file of', async (record) => {
      assertStateIn(id, record.state, ['running'], 'read a file of');
      if (!this.#driver.readGuestFile)
        throw new EngineError(
          'UNAVAILABLE',
          `The ${this.#driver.name} driver cannot read guest files`,
        );
      return this.#driver.readGuestFile(driverVmOf(record), guestPath);
    });
  }

  /** Writes a file into a running guest, whole or not at all (see {@link readGuestFile}). */
  async writeGuestFile(id: string, guestPath: string, bytes: Buffer): Promise<void> {
    await this.#withVm(id, 'write a file into', async (record) => {
      assertStateIn(id, record.state, ['running'], 'write a file into');
      if (bytes.length > MAX_GUEST_FILE_BYTES) {
        throw new EngineError(
          'VALIDATION',
          `A file moved into a lab may be at most ${MAX_GUEST_FILE_BYTES / 1024 ** 2} MiB`,
        );
      }
      if (!this.#driver.writeGuestFile)
        throw new EngineError(
          'UNAVAILABLE',
          `The ${this.#driver.name} driver cannot write guest files`,
        );
      await this.#driver.writeGuestFile(driverVmOf(record), guestPath, bytes);
    });
  }

  /** Deletes a VM in any state: ends its guest if one runs, then removes every file of it. */
  async deleteVm(id: string): Promise<void> {
    await this.#withVm(id, 'delete', async (record) => {
      if (this.#driver.pidOf(id) !== undefined) {
        await this.#driver.stop(driverVmOf(record), { timeoutMs: 0, force: true });
      }
      this.#driver.release(id);
      await this.#driver.removeVm?.(driverVmOf(record));
      await fsp.rm(record.dir, { recursive: true, force: true });
      this.#table.delete(id);
      record.logger.info('VM deleted');
      this.emit('vm-deleted', { vmId: id });
    });
  }

  /**
   * Refuses (CAPACITY_EXCEEDED `{resource: "hostDiskMib"}`, "Cannot `what`: …") work that would
   * leave the run directory's file system with less than its reserve free after writing
   * `neededMib`. Creates, snapshots and suspends check it themselves; the server also asks before
   * it admits a create. Never refuses with a driver whose guests' disks live in a cluster's
   * storage (which refuses on its own).
   */
  async assertDiskRoom(what: string, neededMib: number): Promise<void> {
    if (this.#sharesInstances) return;
    const stats = await fsp.statfs(this.#config.runDir);
    const freeMib = Math.floor((stats.bavail * stats.bsize) / MIB);
    const reserveMib = Math.ceil(
      (this.#config.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES) / MIB,
    );
    if (freeMib - neededMib >= reserveMib) return;
    throw new EngineError(
      'CAPACITY_EXCEEDED',
      `Cannot ${what}: the host's disk has ${freeMib} MiB free${neededMib ? `, this needs ${neededMib} MiB` : ''} and ${reserveMib} MiB must stay free for running VMs; an admin frees space (snapshots, suspended VMs, unused images)`,
      // `limit`: what may still be written before the reserve.
      {
        resource: 'hostDiskMib',
        limit: Math.max(0, freeMib - reserveMib),
        used: 0,
        requested: neededMib,
      },
    );
  }

  /** One VM's status; NOT_FOUND if the engine does not know it. */
  async getVm(id: string): Promise<VmStatus> {
    return this.#table.status(await this.#known(id));
  }

  /** Every VM in the run directory, by id. */
  async listVms(): Promise<VmStatus[]> {
    const records = this.#table.all().sort((a, b) => a.spec.id.localeCompare(b.spec.id));
    return Promise.all(records.map((record) => this.#table.status(record)));
  }

  /**
   * Takes a snapshot. Disk-only snapshots work in any settled state; `memory: true` needs a
   * running or paused VM and makes a restore continue where the guest was.
   */
  async createSnapshot(id: string, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    return this.#withVm(id, 'snapshot', async (record) => {
      const live = LIVE_STATES.includes(record.state);
      if (options.memory && !live) {
        throw new EngineError(
          'INVALID_STATE',
          `Cannot take a memory snapshot of VM "${id}" while it is ${record.state}`,
          { vmId: id, state: record.state },
        );
      }
      await this.assertDiskRoom(`snapshot VM "${id}"`, options.memory ? record.spec.memoryMib : 0);
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
      if (LIVE_STATES.includes(record.state)) {
        if (snapshot.memory) {
          await this.#driver.restoreSnapshot(vm, name, true);
          this.#table.setState(record, await this.#driver.queryRunState(vm));
          return this.#table.status(record);
        }
        await this.#table.endProcess(record, 'stopped', 'restore', () =>
          this.#driver.stop(vm, { timeoutMs: 0, force: true }),
        );
        await this.#driver.restoreSnapshot(vm, name, false);
        return this.#start(record);
      }
      assertStateIn(id, record.state, ['stopped', 'suspended', 'crashed', 'error'], 'restore');
      if (this.#driver.hasSavedState(vm)) {
        await this.#driver.discardSavedState(vm);
        this.#table.setState(
          record,
          'stopped',
          `Saved state discarded by restoring snapshot "${name}"`,
        );
      }
      if (snapshot.memory) return this.#start(record, { loadSnapshot: name });
      await this.#driver.restoreSnapshot(vm, name, false);
      return this.#table.status(record);
    });
  }

  /** Deletes a snapshot (live or not). */
  async deleteSnapshot(id: string, name: string): Promise<void> {
    await this.#withVm(id, 'delete snapshot of', async (record) => {
      const vm = driverVmOf(record);
      await this.#driver.getSnapshot(vm, name);
      await this.#driver.deleteSnapshot(vm, name, LIVE_STATES.includes(record.state));
    });
  }

  /** A VM's snapshots, oldest first, with their sizes. */
  async listSnapshots(id: string): Promise<SnapshotInfo[]> {
    return this.#driver.listSnapshots(driverVmOf(await this.#known(id)));
  }

  /**
   * Opens a byte stream to a console of a running or paused VM: its serial terminal (raw bytes)
   * or its display (RFB). INVALID_STATE otherwise; UNAVAILABLE if the guest does not answer.
   */
  async openConsole(id: string, kind: ConsoleKind): Promise<Duplex> {
    const record = await this.#known(id, true);
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

  async #start(
    record: VmRecord,
    options: { loadSnapshot?: string; pooled?: boolean } = {},
  ): Promise<VmStatus> {
    const id = record.spec.id;
    this.#assertUsable('start', id);
    assertTransition(id, record.state, 'starting', 'start');
    // Capacity is checked and the VM marked `starting` in the same tick: concurrent starts of
    // different VMs (each under its own lock) cannot both pass on the same free resources.
    assertCapacity(id, this.capacity(), record.spec);
    this.#table.setState(record, 'starting');
    const vm = driverVmOf(record);
    const restoring = this.#driver.hasSavedState(vm);
    const started = Date.now();
    try {
      const { pid, runState, bootPath } = await this.#driver.start(vm, {
        ...(restoring ? { restoreSavedState: true } : {}),
        ...options,
      });
      record.bootPath = bootPath;
      this.#table.setState(record, runState);
      record.logger.info({ pid, bootPath, durationMs: Date.now() - started }, 'VM started');
      return this.#table.status(record);
    } catch (error) {
      const failure = toEngineError(error, `Failed starting VM "${id}"`);
      // A failed start is an error the user sees with its reason, never a silent return to
      // `stopped`; a saved memory state is kept, so starting again retries the restore.
      this.#table.setState(record, 'error', failure.message);
      throw failure;
    }
  }

  /** Finishes, in the background, a start, stop or suspend that the last engine left under way. */
  #finish({ record, action }: InterruptedAction): void {
    const id = record.spec.id;
    record.logger.info({ action }, 'finishing what the last engine left under way');
    const finishing =
      action === 'start'
        ? this.startVm(id)
        : action === 'stop'
          ? this.stopVm(id)
          : this.suspendVm(id);
    finishing.catch((error: unknown) =>
      record.logger.error({ err: error, action }, 'finishing an interrupted action failed'),
    );
  }

  /** Starts again, under the accelerator the driver switched to, a VM its accelerator failed. */
  #restartAfterAcceleratorFailure(record: VmRecord): void {
    record.logger.warn('restarting the VM under the fallback accelerator');
    this.#table
      .withVm(record.spec.id, 'restart', async (current) => {
        if (current !== record || current.state !== 'crashed') return;
        await this.#start(current);
      })
      .catch((error: unknown) =>
        record.logger.error({ err: error }, 'restart after an accelerator failure failed'),
      );
  }

  #withVm<T>(id: string, action: string, run: (record: VmRecord) => Promise<T>): Promise<T> {
    this.#assertOpen();
    // The VM's lock is taken at the call (an exit seen meanwhile waits for the action); on a
    // shared cluster, once the VM is known and its state read again.
    if (!this.#sharesInstances) return this.#table.withVm(id, action, run);
    return this.#known(id, true).then(() => this.#table.withVm(id, action, run));
  }

  /**
   * The record of a VM: one this engine holds, or one another server made on the shared cluster
   * (asked of the {@link setVmSource}); NOT_FOUND otherwise. With `refresh`, on a shared cluster
   * the state of a known VM is read again first (before an action or a console: another server
   * may have changed it the moment before; the driver's events tell the rest).
   */
  async #known(id: string, refresh = false): Promise<VmRecord> {
    const known = this.#table.find(id);
    if (!this.#sharesInstances) return known ?? this.#table.get(id);
    if (known) {
      if (refresh) await this.#table.refreshShared(known);
      return known;
    }
    const spec = await this.#vmSource?.(id);
    if (spec?.id === id) return this.#table.attachShared(validateVmSpec(spec), this.#config.runDir);
    return this.#table.get(id);
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
}

/** Creates an engine over `config.runDir`: starts its driver and adopts VMs left running. */
export function createEngine(config: EngineConfig): Promise<Engine> {
  return Engine.create(config);
}
