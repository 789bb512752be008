import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { detectHostResources, type HostResources } from '../../capacity.js';
import { EngineError } from '../../errors.js';
import type { EngineLogger } from '../../logger.js';
import type { VmSpec } from '../../spec.js';
import type {
  BootPath,
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
import type { Accelerator, ProbeGuest } from './accel-probe.js';
import { GuestAgent } from './guest-agent.js';
import { ensureHomeDisk } from './home-disk.js';
import { allocatedBytes, InternalSnapshots } from './internal-snapshots.js';
import {
  GuestNetworks,
  type GuestNetworksConfig,
  type GuestNic,
} from './network/guest-networks.js';
import { isProcessAlive, readPidFile, readProcessCmdline, tailFile } from './process-utils.js';
import { connectConsole } from './qemu-consoles.js';
import {
  createBlankDisk,
  createOverlay,
  readBackingFile,
  readVirtualSize,
  runQemuImg,
} from './qemu-img.js';
import { detectQemu, type QemuHost } from './qemu-info.js';
import { assertSocketPathsFit, qemuPaths } from './qemu-paths.js';
import { QemuProcesses } from './qemu-processes.js';
import { KvmFailedError, type QemuLaunch, type StartContext, startQemu } from './qemu-start.js';
import { removeSavedState, saveMemoryState } from './qemu-suspend.js';
import { type QemuUser, resolveQemuUser } from './qemu-user.js';
import { CLONE_MARKER, Templates } from './templates.js';

const GIB = 1024 * 1024 * 1024;

/** Configuration of the QEMU driver (`{kind: 'qemu', …}` in the engine's configuration). */
export interface QemuDriverConfig {
  kind: 'qemu';
  /** `auto` uses KVM only when a real guest runs under it, else TCG. */
  accel: 'auto' | Accelerator;
  /** Default `qemu-system-x86_64`. */
  qemuBinary?: string;
  /** Default `qemu-img`. */
  qemuImgBinary?: string;
  /** The real kernel `auto` probes KVM with (the tiny image's); without one KVM is not trusted. */
  probeGuest?: ProbeGuest;
  /** Default `/dev/kvm`. */
  kvmDevice?: string;
  /**
   * TCG translation-cache size per VM in MiB; default 1/8 of the guest’s memory, 16 to 256 MiB.
   * More helps heavy guests and costs host memory.
   */
  tcgTranslationCacheMib?: number;
  /** The size past which a VM's serial.log is rotated (default 8 MiB). */
  serialLogMaxBytes?: number;
  /**
   * Where booted templates are kept. When set, a VM whose image runs the Labvisor agent starts as
   * a clone of its image's template (one is built for the next VM when none is); else VMs boot.
   */
  templatesDir?: string;
  /**
   * Guest networks (`internet` and `class` modes): when set and the host can run them (root,
   * nftables, dnsmasq), VMs may have them; else only `none`.
   */
  guestNetworks?: GuestNetworksConfig;
  /**
   * The account QEMU runs as when the server runs as root (default `labvisor-qemu`,
   * made when missing); QEMU opens each VM's files as root, then drops to it.
   */
  qemuUser?: string;
}

/**
 * The QEMU driver: one detached QEMU process per VM, QMP over a unix socket, qcow2 overlays and
 * internal snapshots, suspend by migration to a file, consoles on unix sockets.
 */
/** How long the guest agent may take to answer before a file moves (it may be busy booting). */
const GUEST_AGENT_READY_MS = 10_000;
/** How long a file of at most 1 MiB may take through the guest's serial line. */
const GUEST_FILE_TIMEOUT_MS = 120_000;

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  readonly #qemuBinary: string;
  readonly #qemuImgBinary: string;
  readonly #tcgTranslationCacheMib: number | undefined;
  readonly #logger: EngineLogger;
  readonly #host: QemuHost;
  readonly #processes: QemuProcesses;
  readonly #templates: Templates | undefined;
  readonly #networks: GuestNetworks | undefined;
  /** Why VMs cannot have guest networks here, when they cannot. */
  readonly #networksUnavailable: string | undefined;
  readonly #qemuUser: QemuUser | undefined;
  #accel: Accelerator;
  #accelReason: string;

  private constructor(
    config: QemuDriverConfig,
    host: QemuHost,
    logger: EngineLogger,
    observer: DriverObserver,
    networksUnavailable: string | undefined,
    qemuUser: QemuUser | undefined,
  ) {
    this.#qemuUser = qemuUser;
    this.#qemuBinary = config.qemuBinary ?? 'qemu-system-x86_64';
    this.#qemuImgBinary = config.qemuImgBinary ?? 'qemu-img';
    this.#tcgTranslationCacheMib = config.tcgTranslationCacheMib;
    this.#logger = logger;
    this.#host = host;
    this.#accel = host.accel;
    this.#accelReason = host.accelReason;
    this.#processes = new QemuProcesses({
      logger,
      observer,
      ...(config.serialLogMaxBytes ? { serialLogMaxBytes: config.serialLogMaxBytes } : {}),
      onKvmFailure: (vmId, cause) => this.#disableKvm(logger.child({ vmId }), cause),
    });
    this.#templates = config.templatesDir
      ? new Templates({
          dir: config.templatesDir,
          qemuVersion: host.version,
          qemuImgBinary: this.#qemuImgBinary,
          processes: this.#processes,
          startContext: () => this.#startContext(),
          accel: () => this.#accel,
          logger: logger.child({ component: 'templates' }),
        })
      : undefined;
    this.#networksUnavailable = config.guestNetworks
      ? networksUnavailable
      : 'guest networks are off in the configuration';
    this.#networks =
      config.guestNetworks && !networksUnavailable
        ? new GuestNetworks(config.guestNetworks, logger.child({ component: 'network' }))
        : undefined;
  }

  /** Finds QEMU and chooses the accelerator; never throws (a broken host sets `info().error`). */
  static async create(
    config: QemuDriverConfig,
    logger: EngineLogger,
    observer: DriverObserver,
  ): Promise<QemuDriver> {
    const host = await detectQemu({
      qemuBinary: config.qemuBinary ?? 'qemu-system-x86_64',
      qemuImgBinary: config.qemuImgBinary ?? 'qemu-img',
      accel: config.accel,
      ...(config.probeGuest ? { probeGuest: config.probeGuest } : {}),
      ...(config.kvmDevice ? { kvmDevice: config.kvmDevice } : {}),
      logger,
    });
    const networksUnavailable = config.guestNetworks
      ? await GuestNetworks.unavailableReason()
      : undefined;
    if (networksUnavailable) logger.warn({ reason: networksUnavailable }, 'no guest networks');
    let qemuUser: QemuUser | undefined;
    try {
      qemuUser = await resolveQemuUser(config.qemuUser);
    } catch (error) {
      host.error ??= (error as Error).message;
    }
    return new QemuDriver(config, host, logger, observer, networksUnavailable, qemuUser);
  }

  info(): DriverInfo {
    const info: DriverInfo = {
      name: this.name,
      version: this.#host.version,
      features: [
        ...this.#host.features,
        'reset',
        'publish',
        'home-disks',
        'guest-files',
        ...(this.#templates ? ['templates'] : []),
        ...(this.#networks ? ['guest-networks'] : []),
      ],
      details: {
        accel: this.#accel,
        accelReason: this.#accelReason,
        qemuVersion: this.#host.version,
        qemuRunsAs: this.#qemuUser?.name ?? "the server's user",
        guestNetworks: this.#networks
          ? `on (namespace ${this.#networks.namespace})`
          : `off: ${this.#networksUnavailable}`,
      },
    };
    if (this.#host.error) info.error = this.#host.error;
    return info;
  }

  hostResources(): HostResources {
    return detectHostResources();
  }

  async resetDisk(vm: DriverVm): Promise<void> {
    const paths = qemuPaths(vm.dir);
    for (const file of [paths.disk, paths.snapshots, path.join(vm.dir, CLONE_MARKER)])
      await fsp.rm(file, { force: true });
    await this.createDisk(vm);
  }

  async exportDisk(vm: DriverVm, target: string): Promise<void> {
    await runQemuImg(this.#qemuImgBinary, [
      'convert',
      '-O',
      'qcow2',
      qemuPaths(vm.dir).disk,
      target,
    ]);
  }

  async readGuestFile(vm: DriverVm, guestPath: string): Promise<Buffer> {
    return this.#withAgent(vm, (agent) => agent.readFile(guestPath, GUEST_FILE_TIMEOUT_MS));
  }

  async writeGuestFile(vm: DriverVm, guestPath: string, bytes: Buffer): Promise<void> {
    await this.#withAgent(vm, (agent) => agent.writeFile(guestPath, bytes, GUEST_FILE_TIMEOUT_MS));
  }

  /**
   * Runs `work` on the guest's agent: UNAVAILABLE when the image runs none or it does not
   * answer, VALIDATION with the agent's sentence when it refuses (no such file, a bad path).
   */
  async #withAgent<T>(vm: DriverVm, work: (agent: GuestAgent) => Promise<T>): Promise<T> {
    if (!vm.spec.guestAgent) {
      throw new EngineError(
        'UNAVAILABLE',
        `VM "${vm.id}" runs no Labvisor guest agent: files cannot be moved in or out of it`,
      );
    }
    let agent: GuestAgent;
    try {
      agent = await GuestAgent.connect(qemuPaths(vm.dir).agent);
      await agent.waitReady(GUEST_AGENT_READY_MS);
    } catch (error) {
      throw new EngineError(
        'UNAVAILABLE',
        `The guest agent of VM "${vm.id}" does not answer (${(error as Error).message})`,
      );
    }
    try {
      return await work(agent);
    } catch (error) {
      const message = (error as Error).message;
      const unanswered = /did not answer|line closed/.test(message);
      throw new EngineError(unanswered ? 'UNAVAILABLE' : 'VALIDATION', message);
    } finally {
      agent.close();
    }
  }

  async createDisk(vm: DriverVm): Promise<void> {
    const paths = qemuPaths(vm.dir);
    assertSocketPathsFit(vm.id, paths);
    const sizeBytes = vm.spec.diskGib * GIB;
    const boot = vm.spec.boot;
    if (boot.kind === 'container') {
      throw new EngineError(
        'VALIDATION',
        `Cannot create VM "${vm.id}": its image is a container image, which the QEMU driver does not run`,
        { field: 'imageId' },
      );
    }
    if (boot.kind === 'iso') {
      await fsp.access(boot.isoPath).catch(() => {
        throw new EngineError('NOT_FOUND', `The ISO of VM "${vm.id}" does not exist`, {
          path: boot.isoPath,
        });
      });
      await createBlankDisk(this.#qemuImgBinary, paths.disk, sizeBytes);
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
    if (await this.#templates?.createCloneDisk(vm, sizeBytes)) return;
    await createOverlay(
      this.#qemuImgBinary,
      paths.disk,
      boot.baseDiskPath,
      boot.baseDiskFormat,
      sizeBytes,
    );
    // The next VM of this image and size starts from a template.
    this.#templates?.prepare(vm.spec);
  }

  async buildTemplate(spec: VmSpec): Promise<void> {
    if (!this.#templates)
      throw new EngineError('UNAVAILABLE', 'Templates are off (no templatesDir)');
    await this.#templates.build(spec);
  }

  async removeUnusedTemplates(vms: DriverVm[]): Promise<number> {
    if (!this.#templates) return 0;
    const disks = await Promise.all(vms.map((vm) => readBackingFile(qemuPaths(vm.dir).disk)));
    return this.#templates.removeUnused(new Set(disks.filter((disk) => disk !== undefined)));
  }

  /**
   * Starts QEMU under the driver's accelerator. A start that KVM makes fail turns KVM off for
   * every later start and is tried once more under TCG. After a restore the saved state is gone.
   */
  async start(vm: DriverVm, options: StartOptions = {}): Promise<StartResult> {
    if (vm.spec.homeDisk) await ensureHomeDisk(vm.spec.homeDisk);
    const launch = await this.#launchOf(vm, options);
    const bootPath: BootPath = launch.clone ? 'template' : bootPathOf(options);
    let started: { pid: number; runState: RunState };
    try {
      started = await startQemu(this.#startContext(), vm, launch, this.#accel);
    } catch (error) {
      if (!(error instanceof KvmFailedError)) throw error;
      this.#disableKvm(vm.logger, error.message);
      started = await startQemu(this.#startContext(), vm, await this.#launchOf(vm, options), 'tcg');
    }
    if (options.restoreSavedState) await removeSavedState(qemuPaths(vm.dir));
    return { ...started, bootPath };
  }

  /**
   * How QEMU starts for `options`: as a fresh clone's first start, or as asked. A warm pool's VM
   * starts as a clone or not at all.
   */
  async #launchOf(vm: DriverVm, options: StartOptions): Promise<QemuLaunch> {
    const nic = await this.#attachNetwork(vm);
    const launch = await this.#bootOf(vm, options, nic?.mac);
    return nic ? { ...launch, nic } : launch;
  }

  /** Gives the VM its place on its guest network, if it has one; UNAVAILABLE when it cannot. */
  async #attachNetwork(vm: DriverVm): Promise<GuestNic | undefined> {
    const network = vm.spec.network;
    if (!network || network.mode === 'none') {
      await this.#networks?.release(vm.id);
      return undefined;
    }
    if (!this.#networks) {
      throw new EngineError(
        'UNAVAILABLE',
        `VM "${vm.id}" cannot have a network on this host: ${this.#networksUnavailable}`,
        { vmId: vm.id },
      );
    }
    try {
      return await this.#networks.attach(vm.id, network);
    } catch (error) {
      if (error instanceof EngineError) throw error;
      throw new EngineError(
        'INTERNAL',
        `Failed setting up the network of VM "${vm.id}"`,
        { vmId: vm.id, reason: (error as Error).message },
        { cause: error },
      );
    }
  }

  /** How QEMU boots for `options`; a clone's NIC takes `mac` (its network lease's). */
  async #bootOf(vm: DriverVm, options: StartOptions, mac: string | undefined): Promise<QemuLaunch> {
    if (options.restoreSavedState || options.loadSnapshot) return options;
    const pooled = options.pooled ?? false;
    const clone = await this.#templates?.cloneLaunch(vm, { pooled, mac });
    if (clone) return clone;
    if (pooled) {
      throw new EngineError(
        'UNAVAILABLE',
        `VM "${vm.id}" cannot join a warm pool: its image and size have no template`,
        { vmId: vm.id },
      );
    }
    return options;
  }

  #startContext(): StartContext {
    return {
      processes: this.#processes,
      qemuBinary: this.#qemuBinary,
      tcgTranslationCacheMib: this.#tcgTranslationCacheMib,
      qemuUser: this.#qemuUser,
    };
  }

  async adopt(vm: DriverVm): Promise<{ pid: number; runState: RunState } | null> {
    const paths = qemuPaths(vm.dir);
    const pid = await readPidFile(paths.pid);
    if (pid === undefined || !(await isProcessAlive(pid))) {
      const log = await tailFile(paths.log, 5);
      if (log) vm.logger.debug({ qemuLog: log }, 'no QEMU process to adopt');
      return null;
    }
    const cmdline = await readProcessCmdline(pid);
    const ours =
      cmdline !== undefined &&
      /qemu/.test(cmdline[0] ?? '') &&
      cmdline.some((arg) => arg.includes(paths.qmp));
    if (!ours) {
      vm.logger.warn({ pid }, 'pid file names a process that is not this VM’s QEMU; ignoring it');
      return null;
    }
    const proc = this.#processes.register(vm.id, paths, pid, undefined, adoptedAccel(cmdline));
    try {
      const client = await this.#processes.connect(proc);
      const status = await client.queryStatus();
      return { pid, runState: status.running ? 'running' : 'paused' };
    } catch (error) {
      this.#processes.forget(proc);
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
        if (await this.#processes.waitExit(proc, options.timeoutMs)) return;
        vm.logger.warn(
          { timeoutMs: options.timeoutMs },
          'guest ignored the power button; quitting',
        );
      } catch (error) {
        if (proc.exited) return;
        vm.logger.warn({ err: error }, 'graceful stop failed; quitting');
      }
    }
    await this.#processes.kill(proc);
  }

  async queryRunState(vm: DriverVm): Promise<RunState> {
    return (await this.#processes.client(vm.id).queryStatus()).running ? 'running' : 'paused';
  }

  async reboot(vm: DriverVm): Promise<void> {
    await this.#processes.client(vm.id).systemReset();
  }

  async pause(vm: DriverVm): Promise<void> {
    await this.#processes.client(vm.id).stop();
  }

  async resume(vm: DriverVm): Promise<void> {
    await this.#processes.client(vm.id).cont();
  }

  async claim(vm: DriverVm): Promise<void> {
    if (!this.#templates)
      throw new EngineError('UNAVAILABLE', 'Templates are off (no templatesDir)');
    await this.#processes.client(vm.id).cont();
    const networked = vm.spec.network && vm.spec.network.mode !== 'none';
    await this.#templates.applyIdentity(
      vm,
      networked ? this.#networks?.nicOf(vm.id)?.mac : undefined,
    );
  }

  /** Saves the memory state to a file (see {@link saveMemoryState}), then ends QEMU. */
  async suspend(vm: DriverVm): Promise<void> {
    const paths = qemuPaths(vm.dir);
    try {
      await saveMemoryState(this.#processes.client(vm.id), paths, this.#qemuUser);
      const proc = this.#processes.get(vm.id);
      if (proc) await this.#processes.kill(proc);
    } catch (error) {
      throw new EngineError(
        'INTERNAL',
        `Failed suspending VM "${vm.id}": ${(error as Error).message}`,
        undefined,
        { cause: error },
      );
    }
  }

  hasSavedState(vm: DriverVm): boolean {
    return fs.existsSync(qemuPaths(vm.dir).savedState);
  }

  discardSavedState(vm: DriverVm): Promise<void> {
    return removeSavedState(qemuPaths(vm.dir));
  }

  pidOf(vmId: string): number | undefined {
    return this.#processes.get(vmId)?.pid;
  }

  accelOf(vmId: string): Accelerator | undefined {
    return this.#processes.get(vmId)?.accel;
  }

  /** Connects to QEMU's serial chardev (one client at a time) or VNC server (one per viewer). */
  openConsole(vm: DriverVm, kind: ConsoleKind): Promise<Duplex> {
    return connectConsole(qemuPaths(vm.dir), vm.id, kind);
  }

  async diskUsage(vm: DriverVm): Promise<number> {
    const paths = qemuPaths(vm.dir);
    return (await allocatedBytes(paths.disk)) + (await allocatedBytes(paths.savedState));
  }

  #snapshots(vm: DriverVm): InternalSnapshots {
    const paths = qemuPaths(vm.dir);
    return new InternalSnapshots(this.#qemuImgBinary, vm.id, paths.disk, paths.snapshots);
  }

  #liveClient(vm: DriverVm, live: boolean) {
    return live ? this.#processes.client(vm.id) : undefined;
  }

  createSnapshot(
    vm: DriverVm,
    name: string,
    memory: boolean,
    live: boolean,
  ): Promise<SnapshotInfo> {
    return this.#snapshots(vm).create(name, memory, this.#liveClient(vm, live));
  }

  restoreSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void> {
    return this.#snapshots(vm).restore(name, this.#liveClient(vm, live));
  }

  deleteSnapshot(vm: DriverVm, name: string, live: boolean): Promise<void> {
    return this.#snapshots(vm).delete(name, this.#liveClient(vm, live));
  }

  listSnapshots(vm: DriverVm): Promise<SnapshotInfo[]> {
    return this.#snapshots(vm).list();
  }

  getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo> {
    return this.#snapshots(vm).get(name);
  }

  release(vmId: string): void {
    this.#processes.release(vmId);
  }

  async removeVm(vm: DriverVm): Promise<void> {
    await this.#networks?.release(vm.id);
  }

  async openGuestPort(vm: DriverVm, port: number): Promise<Duplex> {
    if (!this.#networks) {
      throw new EngineError('UNAVAILABLE', `Guest networks are off: ${this.#networksUnavailable}`);
    }
    return this.#networks.connect(vm.id, port);
  }

  async networkCounters(): Promise<Map<string, { in: number; out: number }>> {
    return (await this.#networks?.counters()) ?? new Map();
  }

  addressOf(vm: DriverVm): string | undefined {
    if (!vm.spec.network || vm.spec.network.mode === 'none') return undefined;
    return this.#networks?.nicOf(vm.id)?.address;
  }

  async close(): Promise<void> {
    await this.#templates?.close();
    this.#processes.close();
  }

  /** Turns KVM off for every later start: this host's guests fail under it. */
  #disableKvm(logger: EngineLogger, reason: string): void {
    if (this.#accel !== 'kvm') return;
    this.#accel = 'tcg';
    this.#accelReason = `KVM is unusable: a real guest failed under it (${firstLine(reason)}); guests run under TCG`;
    logger.error({ reason }, 'KVM failed a real guest; falling back to TCG');
  }
}

/** The accelerator an adopted QEMU runs with, read from its command line. */
function adoptedAccel(cmdline: string[] | undefined): Accelerator {
  const index = cmdline?.indexOf('-accel') ?? -1;
  return index >= 0 && cmdline?.[index + 1]?.startsWith('kvm') ? 'kvm' : 'tcg';
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
