import type { Duplex } from 'node:stream';
import type { BootPath } from '@labvisor/shared';
import type { HostResources } from '../capacity.js';
import type { EngineLogger } from '../logger.js';
import type { VmSpec } from '../spec.js';

/** What a driver is and whether it works, for `/readyz` and the admin page. */
export interface DriverInfo {
  /** The driver's name, e.g. `qemu`. */
  name: string;
  /** The hypervisor's version, e.g. `7.2.22`; empty when it could not be run. */
  version: string;
  /**
   * What it can do, e.g. `serial`, `vnc`, `memory-snapshots`, `suspend-to-file`;
   * `shared-instances` when its guests live in a cluster other servers reach too (replicas).
   */
  features: string[];
  /**
   * Facts for operators, named by the driver (the QEMU driver: `accel`, `accelReason`,
   * `qemuVersion`).
   */
  details: Record<string, string>;
  /** Set when the driver is unusable (no hypervisor...): every VM action then fails UNAVAILABLE. */
  error?: string;
}

/**
 * A VM as a driver sees it: its spec, the folder the engine gave it (the engine keeps `vm.json`
 * and `status.json` there; every other file in it is the driver's) and a logger bound to it.
 */
export interface DriverVm {
  id: string;
  spec: VmSpec;
  dir: string;
  logger: EngineLogger;
}

/** Whether the guest's vCPUs run. */
export type RunState = 'running' | 'paused';

/** Largest file moved in or out of a guest (`readGuestFile`, `writeGuestFile`). */
export const MAX_GUEST_FILE_BYTES = 1024 * 1024;

/** A guest an engine took over: its process, its state, and why it is out of reach, if it is. */
export interface Adopted {
  pid: number;
  runState: RunState;
  unavailable?: string;
}

/** The consoles a VM has: its serial terminal (raw bytes) and its display (RFB). */
export type ConsoleKind = 'serial' | 'vnc';

/** How a guest's process ended. */
export interface ExitInfo {
  /** True when an engine action (stop, suspend, kill) ended it. */
  requested: boolean;
  /** Exit status, when known. */
  code: number | null;
  /** Terminating signal, when known. */
  signal: NodeJS.Signals | null;
  /** Why the guest ended, if it said (e.g. `guest-shutdown`, `host-signal`). */
  shutdownReason?: string;
  /** One sentence for users, without host paths: `QEMU was killed by signal SIGKILL`. */
  cause: string;
  /**
   * The accelerator made the guest fail soon after its start (KVM on a host that cannot run this
   * guest under it): the driver has switched to another, and the VM should be started again.
   */
  acceleratorFailed?: boolean;
}

/** Callbacks through which a driver reports what it observes without being asked. */
export interface DriverObserver {
  /** A guest's process ended (requested or not). Called once per process. */
  onExit(vmId: string, exit: ExitInfo): void;
  /**
   * The guest was paused or resumed by something other than an engine action (an I/O error), with
   * the reason when the driver knows it (a full disk).
   */
  onRunState(vmId: string, state: RunState, cause?: string): void;
  /**
   * The guest's host went out of reach (`reason`: a sentence, e.g. an Incus member offline) or
   * came back (`runState`: how the guest is now). Drivers of one host never call it.
   */
  onAvailability?(vmId: string, change: { reason: string } | { runState: RunState }): void;
  /**
   * A guest this driver was not running was found running (or paused) on a cluster other servers
   * share: another server started it. Drivers of one host never call it.
   */
  onStartedElsewhere?(vmId: string, runState: RunState): void;
}

export type { BootPath };

/** What {@link Driver.start} answers once the driver controls the guest. */
export interface StartResult {
  pid: number;
  runState: RunState;
  bootPath: BootPath;
}

/** How a start with `options` runs when it is not a template's clone. */
export function bootPathOf(options: StartOptions): BootPath {
  if (options.restoreSavedState) return 'saved-state';
  return options.loadSnapshot ? 'snapshot' : 'cold';
}

/** Options of {@link Driver.start}. */
export interface StartOptions {
  /** Continue from the memory state {@link Driver.suspend} saved, instead of booting. */
  restoreSavedState?: boolean;
  /** Start from this snapshot (with memory). */
  loadSnapshot?: string;
  /**
   * A warm pool's VM: start as a clone of its template (UNAVAILABLE when there is none) and leave
   * it paused, without its identity, until {@link Driver.claim}.
   */
  pooled?: boolean;
}

/**
 * A tenant's limits as a driver that partitions its hosts by tenant enforces them too. Only what
 * both count alike: the engine's quota counts CPUs and memory of running VMs only, Incus counts
 * every instance's, so a project bounds the number of instances (each VM holds at least 1 GiB of
 * the tenant's disk quota) and each instance carries its own CPU and memory limits.
 */
export interface ProjectLimits {
  instances: number;
}

/** A member of a cluster of hosts (the Incus driver's), as the admin page lists it. */
export interface HostMember {
  name: string;
  /** As the cluster says: `Online`, `Offline`, `Evacuated`... */
  status: string;
  /** The cluster's word on it (why it is offline), or empty. */
  message: string;
  vcpus: number;
  memoryMib: number;
  /** Labvisor's VMs placed on it. */
  vms: number;
}

/** A snapshot as listed. */
export interface SnapshotInfo {
  name: string;
  /** Whether it holds the guest's memory (a restore continues where it was) or only the disk. */
  memory: boolean;
  /** Memory state size plus the disk data the snapshot pinned when it was taken. */
  sizeBytes: number;
  /** ISO 8601. */
  createdAt: string;
}

/**
 * The seam between the engine facade and a hypervisor (Incus's driver layout): everything that
 * touches guest processes, disks, consoles and saved states. The facade owns states, locks,
 * capacity admission and undo; a driver method runs only when the facade's state table allowed it.
 */
export interface Driver {
  readonly name: string;
  /** Version, features, details, or why the driver is unusable. */
  info(): DriverInfo;
  /** The host's CPUs and memory that guests share. */
  hostResources(): HostResources;
  /**
   * Creates the VM's disk (and checks the VM fits the driver); the VM's folder exists. A driver
   * with templates may make it a clone's: its first start then continues the template's guest.
   */
  createDisk(vm: DriverVm): Promise<void>;
  /** Starts the guest; resolves once the driver controls it, with its run state. */
  start(vm: DriverVm, options?: StartOptions): Promise<StartResult>;
  /**
   * Builds, ahead of any VM, the template VMs of `spec`'s image and size will start from (drivers
   * with the `templates` feature); resolves once it is ready.
   */
  buildTemplate?(spec: VmSpec): Promise<void>;
  /** Deletes templates no VM can start from and none of `vms` rests on; answers how many. */
  removeUnusedTemplates?(vms: DriverVm[]): Promise<number>;
  /**
   * Hands a warm pool's paused clone to its user: resumes it and gives it the identity of its
   * (updated) spec — hostname, user, machine-id, clock (drivers with the `templates` feature).
   */
  claim?(vm: DriverVm): Promise<void>;
  /**
   * Finds a guest left running by an earlier engine and takes it over; null if there is none.
   * `unavailable` says why a guest cannot be reached now (its cluster member is offline): it may
   * well run on, and the driver reports it back once it can.
   */
  adopt(vm: DriverVm): Promise<Adopted | null>;
  /**
   * Whether the VM's instance exists (running or not), for a driver whose instances other servers
   * make too (`shared-instances`): a VM another server admitted may not have one yet.
   */
  hasInstance?(vm: DriverVm): Promise<boolean>;
  /** Stops the guest: power button, then harder after `timeoutMs` (at once with `force`). */
  stop(vm: DriverVm, options: { timeoutMs: number; force: boolean }): Promise<void>;
  /** Whether the guest's vCPUs run. */
  queryRunState(vm: DriverVm): Promise<RunState>;
  /** Hard-resets the guest. */
  reboot(vm: DriverVm): Promise<void>;
  pause(vm: DriverVm): Promise<void>;
  resume(vm: DriverVm): Promise<void>;
  /** Saves the guest's memory state and ends its process; `start({restoreSavedState})` continues it. */
  suspend(vm: DriverVm): Promise<void>;
  /** Whether the VM has a saved memory state to continue from. */
  hasSavedState(vm: DriverVm): boolean;
  /** Throws the saved memory state away (stop of a suspended VM, restore of a snapshot). */
  discardSavedState(vm: DriverVm): Promise<void>;
  /** The pid of the VM's guest process, if one is known and alive. */
  pidOf(vmId: string): number | undefined;
  /** The accelerator the VM's live guest runs with (e.g. `kvm`, `tcg`). */
  accelOf(vmId: string): string | undefined;
  /** Opens a byte stream to a console of a running guest (one per viewer for `vnc`). */
  openConsole(vm: DriverVm, kind: ConsoleKind): Promise<Duplex>;
  /** Bytes the VM takes on the host's disk (disk, snapshots, saved state). */
  diskUsage(vm: DriverVm): Promise<number>;
  /** Takes a snapshot; `live` when the guest runs. */
  createSnapshot(vm: DriverVm, name: string, memory: boolean, live: boolean): Promise<SnapshotInfo>;
  /** One snapshot, or NOT_FOUND. */
  getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo>;
  /** Reverts the disk (and memory, for memory snapshots while live) to a snapshot. */
  restoreSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void>;
  deleteSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void>;
  listSnapshots(vm: DriverVm): Promise<SnapshotInfo[]>;
  /** Forgets a VM's process without touching it. */
  release(vmId: string): void;
  /**
   * Throws the stopped VM's disk and snapshots away and makes its disk again from its image (a
   * clone of the template when there is one), as {@link createDisk} did (feature `reset`).
   */
  resetDisk?(vm: DriverVm): Promise<void>;
  /** Writes the stopped VM's disk, flattened onto its base, as one standalone qcow2 file (feature `publish`). */
  exportDisk?(vm: DriverVm, target: string): Promise<void>;
  /** A file of the running guest, through its agent (feature `guest-files`). */
  readGuestFile?(vm: DriverVm, guestPath: string): Promise<Buffer>;
  /** Writes a file into the running guest, through its agent (feature `guest-files`). */
  writeGuestFile?(vm: DriverVm, guestPath: string, bytes: Buffer): Promise<void>;
  /** Frees what a deleted VM held beyond its folder (its network lease and tap). */
  removeVm?(vm: DriverVm): Promise<void>;
  /** The VM's address on its guest network (`internet` and `class` modes), once it has one. */
  addressOf?(vm: DriverVm): string | undefined;
  /** Bytes each VM's guest received (`in`) and sent (`out`) on its network since its last start. */
  networkCounters?(): Promise<Map<string, { in: number; out: number }>>;
  /** A byte stream to TCP `port` of a running guest with a network (UNAVAILABLE: nothing answers). */
  openGuestPort?(vm: DriverVm, port: number): Promise<Duplex>;
  /**
   * Mirrors a tenant's limits onto the driver's own partition of its hosts (the Incus driver's
   * project), creating it when needed: a second wall behind the engine's exact admission.
   */
  syncProject?(project: string, limits: ProjectLimits): Promise<void>;
  /** The cluster's members (drivers of several hosts); absent for one host. */
  members?(): HostMember[];
  /**
   * Evacuates a member (its VMs move to the others and run on there; it takes no new ones) or
   * restores it (its VMs come back); resolves once the cluster has done it.
   */
  setMemberState?(member: string, action: 'evacuate' | 'restore'): Promise<void>;
  /** Stops watching every guest; never stops one. */
  close(): Promise<void>;
}
