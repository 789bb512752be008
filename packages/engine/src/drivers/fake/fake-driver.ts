import fs from 'node:fs';
import path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import type { HostResources } from '../../capacity.js';
import { EngineError } from '../../errors.js';
import type {
  ConsoleKind,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  RunState,
  SnapshotInfo,
  StartOptions,
  StartResult,
} from '../driver.js';
import { bootPathOf } from '../driver.js';

/**
 * A driver without guests, for tests of the engine facade's own rules (state table, locks,
 * capacity, observed exits): it records what it was asked, keeps pids in a map, writes marker
 * files for disks and saved states, and lets a test make a start fail or a guest die.
 */
export class FakeDriver implements Driver {
  readonly name = 'fake';
  /** What was asked of it, e.g. `start a`, in order. */
  readonly calls: string[] = [];
  readonly pids = new Map<string, number>();
  /** A start waits for this (to hold a start in flight). */
  startGate: Promise<void> = Promise.resolve();
  /** Every start fails with this while set. */
  failStart: Error | undefined;
  /** Guests a new engine finds running, by VM id. */
  adoptable = new Map<string, RunState>();
  /** Makes {@link info} report the driver unusable. */
  infoError: string | undefined;
  /** The options of the last start. */
  lastStart: StartOptions | undefined;
  nextPid = 1000;
  /**
   * Every console stream opened (`stream`, the one handed out), with what viewers wrote to it
   * (`input`, unread unless a test reads it) and what the guest prints (`output`).
   */
  readonly consoles: Array<{
    vmId: string;
    kind: ConsoleKind;
    stream: Duplex;
    input: PassThrough;
    output: PassThrough;
  }> = [];

  constructor(readonly observer: DriverObserver) {}

  info(): DriverInfo {
    const info: DriverInfo = { name: 'fake', version: '1.0', features: [], details: {} };
    if (this.infoError) info.error = this.infoError;
    return info;
  }
  hostResources(): HostResources {
    return { memoryMib: 1024, vcpus: 2 };
  }
  async createDisk(vm: DriverVm): Promise<void> {
    this.calls.push(`createDisk ${vm.id}`);
    fs.writeFileSync(path.join(vm.dir, 'disk'), 'disk');
  }
  async start(vm: DriverVm, options: StartOptions = {}): Promise<StartResult> {
    this.calls.push(`start ${vm.id}`);
    this.lastStart = options;
    await this.startGate;
    if (this.failStart) throw this.failStart;
    if (options.restoreSavedState) await this.discardSavedState(vm);
    const pid = this.nextPid++;
    this.pids.set(vm.id, pid);
    return {
      pid,
      runState: 'running',
      bootPath: bootPathOf(options),
    };
  }
  async adopt(vm: DriverVm): Promise<{ pid: number; runState: RunState } | null> {
    const runState = this.adoptable.get(vm.id);
    if (!runState) return null;
    this.pids.set(vm.id, 4242);
    return { pid: 4242, runState };
  }
  async stop(vm: DriverVm): Promise<void> {
    this.calls.push(`stop ${vm.id}`);
    this.pids.delete(vm.id);
  }
  async queryRunState(): Promise<RunState> {
    return 'running';
  }
  async reboot(vm: DriverVm): Promise<void> {
    this.calls.push(`reboot ${vm.id}`);
  }
  async pause(vm: DriverVm): Promise<void> {
    this.calls.push(`pause ${vm.id}`);
  }
  async resume(vm: DriverVm): Promise<void> {
    this.calls.push(`resume ${vm.id}`);
  }
  async suspend(vm: DriverVm): Promise<void> {
    this.pids.delete(vm.id);
    fs.writeFileSync(this.savedStatePath(vm), 'state');
  }
  hasSavedState(vm: DriverVm): boolean {
    return fs.existsSync(this.savedStatePath(vm));
  }
  async discardSavedState(vm: DriverVm): Promise<void> {
    fs.rmSync(this.savedStatePath(vm), { force: true });
  }
  /** Where the fake keeps a VM's saved state. */
  savedStatePath(vm: { dir: string }): string {
    return path.join(vm.dir, 'saved-state');
  }
  pidOf(vmId: string): number | undefined {
    return this.pids.get(vmId);
  }
  accelOf(vmId: string): string | undefined {
    return this.pids.has(vmId) ? 'none' : undefined;
  }
  async openConsole(vm: DriverVm, kind: ConsoleKind): Promise<Duplex> {
    const input = new PassThrough();
    const output = new PassThrough();
    const stream = Duplex.from({ readable: output, writable: input });
    this.consoles.push({ vmId: vm.id, kind, stream, input, output });
    return stream;
  }
  /** Bytes each VM takes on disk, as tests set them (4 KiB when unset). */
  readonly diskBytes = new Map<string, number>();
  async diskUsage(vm: DriverVm): Promise<number> {
    return this.diskBytes.get(vm.id) ?? 4096;
  }
  async createSnapshot(): Promise<SnapshotInfo> {
    throw new EngineError('UNAVAILABLE', 'The fake driver takes no snapshots');
  }
  async getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo> {
    throw new EngineError('NOT_FOUND', `VM "${vm.id}" has no snapshot "${name}"`);
  }
  async restoreSnapshot(): Promise<void> {}
  async deleteSnapshot(): Promise<void> {}
  async listSnapshots(): Promise<SnapshotInfo[]> {
    return [];
  }
  release(): void {}
  async close(): Promise<void> {
    this.calls.push('close');
  }
  /** Makes a guest die on its own, as the hypervisor would report it. */
  die(
    vmId: string,
    exit: { cause: string; shutdownReason?: string; acceleratorFailed?: boolean },
  ): void {
    this.pids.delete(vmId);
    this.observer.onExit(vmId, { requested: false, code: null, signal: 'SIGKILL', ...exit });
  }
}
