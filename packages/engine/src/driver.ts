import type { EngineLogger } from './logger.js';
import type { VmPaths } from './paths.js';
import type { VmSpec } from './spec.js';

/** Accelerators a driver can run guests with. */
export type Accelerator = 'kvm' | 'tcg';

/** What the driver is and whether it works, for `/readyz`. */
export interface DriverInfo {
  name: 'qemu';
  /** e.g. `7.2.22`; empty when the binary could not be run. */
  version: string;
  /** The accelerator new guests start with. */
  accel: Accelerator;
  /** Why that accelerator: configured, what the KVM probe saw, or the guest KVM failed. */
  accelReason: string;
  /** e.g. `sandbox`, `internal-snapshots`, `suspend-to-file`, `vnc`, `serial`, `disk-throttle`. */
  features: string[];
  /** Set when the driver is unusable (no QEMU binary...): every VM action then fails UNAVAILABLE. */
  error?: string;
}

/** A VM as a driver sees it: its spec, its files and a logger bound to it. */
export interface DriverVm {
  id: string;
  spec: VmSpec;
  paths: VmPaths;
  logger: EngineLogger;
}

/** Whether the guest's vCPUs run. */
export type RunState = 'running' | 'paused';

/** How a QEMU process ended. */
export interface ExitInfo {
  /** True when an engine action (stop, suspend, kill) ended it. */
  requested: boolean;
  /** Exit status, when the engine is the process's parent. */
  code: number | null;
  /** Terminating signal, when the engine is the process's parent. */
  signal: NodeJS.Signals | null;
  /** The reason of QEMU's SHUTDOWN event, if it sent one (e.g. `guest-shutdown`). */
  shutdownReason?: string;
  /** One sentence for users, without host paths: `QEMU was killed by signal SIGKILL`. */
  cause: string;
  /**
   * The accelerator made the guest fail soon after its start (KVM on a host that cannot run this
   * guest under it): the driver has switched to TCG, and the VM should be started again.
   */
  acceleratorFailed?: boolean;
}

/** Callbacks through which a driver reports what it observes without being asked. */
export interface DriverObserver {
  /** A QEMU process ended (requested or not). Called once per process. */
  onExit(vmId: string, exit: ExitInfo): void;
  /** The guest was paused or resumed by something other than an engine action (e.g. an I/O error). */
  onRunState(vmId: string, state: RunState): void;
}

/** Options of {@link Driver.start}. */
export interface StartOptions {
  /** Restore this saved memory state (suspend file) instead of booting. */
  restoreStatePath?: string;
  /** Whether the guest ran when its state was saved (it is resumed after the restore if so). */
  restoreRunning?: boolean;
  /** Start from this internal snapshot (with memory). */
  loadSnapshot?: string;
}

/** A snapshot as listed. */
export interface SnapshotInfo {
  name: string;
  /** Whether it holds the guest's memory (a restore continues where it was) or only the disk. */
  memory: boolean;
  /** Memory state size plus the overlay data the snapshot pinned when it was taken. */
  sizeBytes: number;
  /** ISO 8601. */
  createdAt: string;
}

/**
 * The seam between the engine facade and a hypervisor (Incus's driver layout): everything that
 * touches processes and disk images. The facade owns states, locks, capacity and undo steps; a
 * driver method runs only when the facade's state table allowed it.
 */
export interface Driver {
  readonly name: 'qemu';
  /** Version, accelerator, features, or why the driver is unusable. */
  info(): DriverInfo;
  /** Creates the VM's disk: an overlay on the read-only base, or a blank disk for ISO boots. */
  createDisk(vm: DriverVm): Promise<void>;
  /** Starts QEMU; resolves once QMP answers, with the guest's run state. */
  start(vm: DriverVm, options?: StartOptions): Promise<{ pid: number; runState: RunState }>;
  /** Finds a QEMU process left by an earlier engine and reconnects to it; null if there is none. */
  adopt(vm: DriverVm): Promise<{ pid: number; runState: RunState } | null>;
  /** Stops QEMU: ACPI power button, then `quit`, then SIGKILL; resolves when the process is gone. */
  stop(vm: DriverVm, options: { timeoutMs: number; force: boolean }): Promise<void>;
  /** Asks QEMU whether the guest's vCPUs run. */
  queryRunState(vm: DriverVm): Promise<RunState>;
  /** Hard-resets the guest. */
  reboot(vm: DriverVm): Promise<void>;
  pause(vm: DriverVm): Promise<void>;
  resume(vm: DriverVm): Promise<void>;
  /** Saves the memory state to `vm.paths.savedState` and ends QEMU. */
  suspend(vm: DriverVm): Promise<{ wasRunning: boolean }>;
  /** The pid of the VM's QEMU process, if one is known and alive. */
  pidOf(vmId: string): number | undefined;
  /** The accelerator the VM's live QEMU process runs with. */
  accelOf(vmId: string): Accelerator | undefined;
  /** Bytes the VM takes on the host's disk (overlay, saved state). */
  diskUsage(vm: DriverVm): Promise<number>;
  /** Takes a snapshot; `live` when QEMU runs. */
  createSnapshot(vm: DriverVm, name: string, memory: boolean, live: boolean): Promise<SnapshotInfo>;
  /** One snapshot, or NOT_FOUND. */
  getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo>;
  /** Reverts the disk (and memory, for memory snapshots while live) to a snapshot. */
  restoreSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void>;
  deleteSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void>;
  listSnapshots(vm: DriverVm): Promise<SnapshotInfo[]>;
  /** Forgets a VM's process without touching it (closes its monitor). */
  release(vmId: string): void;
  /** Closes every monitor; never stops a guest. */
  close(): Promise<void>;
}
