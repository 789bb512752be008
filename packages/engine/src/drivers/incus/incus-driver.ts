import type { Duplex } from 'node:stream';
import type { HostResources } from '../../capacity.js';
import { EngineError } from '../../errors.js';
import type { EngineLogger } from '../../logger.js';
import type {
  Adopted,
  ConsoleKind,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  ExitInfo,
  HostMember,
  ProjectLimits,
  RunState,
  SnapshotInfo,
  StartOptions,
  StartResult,
} from '../driver.js';
import { IncusClient, type IncusConnection, IncusError } from './incus-client.js';
import { toEngineErrorFromIncus } from './incus-errors.js';
import { IncusEvents } from './incus-events.js';
import { IncusImages } from './incus-images.js';
import { IncusPlacement } from './incus-placement.js';
import { type IncusInstance, type IncusMember, IncusPoller } from './incus-poller.js';

/** Settings of the Incus driver. */
export interface IncusDriverConfig extends IncusConnection {
  kind: 'incus';
  /** The storage pool instances' root disks are made in (default `data`). */
  storagePool?: string;
  /** How often members and instances are read, beside the events (default 5 s). */
  pollMs?: number;
}

/** What Incus answers for `/1.0/instances/<name>/state`. */
interface InstanceState {
  status: string;
  pid: number;
  disk?: Record<string, { usage?: number }>;
}

/** What Incus answers for `/1.0/instances/<name>?recursion=1`: the instance with its state. */
interface InstanceFull {
  status: string;
  location: string;
  state: InstanceState;
}

/** Incus's snapshot of an instance. */
interface IncusSnapshot {
  name: string;
  created_at: string;
  stateful: boolean;
}

/** How long Incus takes to attach a console once its sockets are open (keys before are lost). */
const CONSOLE_ATTACH_MS = 200;

/** Incus projects of Labvisor tenants are named with this prefix; VMs' instances too. */
const NAME_PREFIX = 'lv-';

/** The Incus instance of a VM. */
export function instanceNameOf(vmId: string): string {
  return `${NAME_PREFIX}${vmId}`;
}

/** The Incus project of a VM's tenant (`default` for a VM without one). */
export function projectNameOf(project: string | undefined): string {
  return project === undefined ? 'default' : `${NAME_PREFIX}${project}`;
}

/**
 * Runs VMs as instances of an Incus cluster (Incus's REST API, mutual TLS): system containers from
 * Labvisor's container images, one Incus project per tenant whose limits mirror the tenant quota,
 * each lab placed on the least-loaded online member. Consoles are Incus's console WebSockets. What containers cannot do here
 * (suspend to a file, memory snapshots, a display) is absent from its features.
 */
export class IncusDriver implements Driver {
  readonly name = 'incus';
  readonly #client: IncusClient;
  readonly #config: IncusDriverConfig;
  readonly #logger: EngineLogger;
  readonly #observer: DriverObserver;
  readonly #events: IncusEvents;
  /** Pids of the instances this driver runs (the container's init, on its member), by VM id. */
  readonly #pids = new Map<string, number>();
  /** VMs this driver is stopping: their stop events are its own. */
  readonly #ending = new Set<string>();
  /** Projects known to exist. */
  readonly #projects = new Set<string>(['default']);
  /** Where each running VM's instance is (its member and project), by VM id. */
  readonly #locations = new Map<string, { member: string; project: string }>();
  /**
   * When this driver last changed or heard of a change of each VM's state (its own start, stop,
   * freeze; a lifecycle event), by VM id: a poll begun before is older than what it knows.
   */
  readonly #changedAt = new Map<string, number>();
  /** VMs whose member is out of reach. */
  readonly #unavailable = new Set<string>();
  readonly #poller: IncusPoller;
  readonly #placement: IncusPlacement;
  readonly #images: IncusImages;
  readonly #version: string;
  readonly #host: HostResources;
  /** Each member's CPUs and memory, by name. */
  readonly #resources: Map<string, HostResources>;

  private constructor(
    config: IncusDriverConfig,
    client: IncusClient,
    facts: { version: string; host: HostResources; resources: Map<string, HostResources> },
    logger: EngineLogger,
    observer: DriverObserver,
  ) {
    this.#config = config;
    this.#client = client;
    this.#version = facts.version;
    this.#host = facts.host;
    this.#resources = facts.resources;
    this.#logger = logger;
    this.#observer = observer;
    this.#events = new IncusEvents(client, logger, (name, action) =>
      this.#onLifecycle(name, action),
    );
    this.#poller = new IncusPoller(
      client,
      logger,
      {
        onMemberChange: (member) => this.#onMemberChange(member),
        onInstances: (instances, readSince) => this.#onInstances(instances, readSince),
      },
      config.pollMs,
    );
    this.#placement = new IncusPlacement(this.#poller);
    this.#images = new IncusImages(client, logger);
  }

  /** Connects to the cluster, reads its members and resources, and follows its lifecycle events. */
  static async create(
    config: IncusDriverConfig,
    logger: EngineLogger,
    observer: DriverObserver,
  ): Promise<IncusDriver> {
    const client = new IncusClient(config);
    const server = await client.call<{ environment: { server_version: string } }>('GET', '/1.0');
    const members = await client
      .call<Array<{ server_name: string; status: string }>>(
        'GET',
        '/1.0/cluster/members?recursion=1',
      )
      .catch(() => [] as Array<{ server_name: string; status: string }>);
    const host: HostResources = { vcpus: 0, memoryMib: 0 };
    const resources = new Map<string, HostResources>();
    // A member offline now cannot tell its resources: it counts from when it is back.
    const online = members.filter((member) => member.status === 'Online');
    if (online.length < members.length) {
      logger.warn(
        { offline: members.filter((m) => m.status !== 'Online').map((m) => m.server_name) },
        'cluster members offline at start: their resources are not counted',
      );
    }
    for (const target of members.length > 0 ? online.map((m) => m.server_name) : ['']) {
      const answer = await client.call<{ cpu: { total: number }; memory: { total: number } }>(
        'GET',
        `/1.0/resources${target ? `?target=${encodeURIComponent(target)}` : ''}`,
      );
      const own = {
        vcpus: answer.cpu.total,
        memoryMib: Math.floor(answer.memory.total / 1024 ** 2),
      };
      resources.set(target, own);
      host.vcpus += own.vcpus;
      host.memoryMib += own.memoryMib;
    }
    const driver = new IncusDriver(
      config,
      client,
      { version: server.environment.server_version, host, resources },
      logger,
      observer,
    );
    await driver.#events.start();
    await driver.#poller.start();
    return driver;
  }

  info(): DriverInfo {
    return {
      name: this.name,
      version: this.#version,
      features: ['serial', 'containers', 'snapshots', 'projects', 'shared-instances'],
      details: {
        incusVersion: this.#version,
        members:
          this.#poller
            .list()
            .map((member) => `${member.name} (${member.status.toLowerCase()})`)
            .join(', ') || 'standalone',
        instanceType: 'container',
      },
    };
  }

  hostResources(): HostResources {
    return this.#host;
  }

  members(): HostMember[] {
    const placed = this.#placement.count((instance) => instance.startsWith(NAME_PREFIX));
    return this.#poller.list().map((member) => ({
      name: member.name,
      status: member.status,
      message: member.message,
      vcpus: this.#resources.get(member.name)?.vcpus ?? 0,
      memoryMib: this.#resources.get(member.name)?.memoryMib ?? 0,
      vms: placed.get(member.name) ?? 0,
    }));
  }

  /**
   * Evacuates or restores a member through Incus: the VMs it moves stop on one member and start on
   * another, which is not an exit; once it is done, each is as Incus reports it, where it now is.
   */
  async setMemberState(member: string, action: 'evacuate' | 'restore'): Promise<void> {
    const live = [...this.#locations].filter(([vmId]) => this.#pids.has(vmId));
    for (const [vmId] of live) this.#ending.add(vmId);
    try {
      await this.#call(
        action,
        member,
        'POST',
        `/1.0/cluster/members/${encodeURIComponent(member)}/state`,
        { action },
      );
    } finally {
      // One read of every instance says which labs moved; only those are read again.
      await this.#poller.refresh();
      const now = new Map(this.#poller.instances().map((instance) => [instance.name, instance]));
      for (const [vmId, location] of live) {
        const instance = now.get(instanceNameOf(vmId));
        if (instance && instance.location === location.member && isLive(instance.status)) continue;
        await this.#settle(vmId, location.project).catch((error) =>
          this.#logger.warn({ err: error, vmId }, 'cannot read a VM after a member moved'),
        );
      }
      for (const [vmId] of live) this.#ending.delete(vmId);
    }
  }

  /** After a move: the VM's process and member as Incus reports them, or its exit. */
  async #settle(vmId: string, project: string): Promise<void> {
    const instance = await this.#client.call<InstanceFull>(
      'GET',
      `/1.0/instances/${instanceNameOf(vmId)}?recursion=1&project=${project}`,
    );
    if (isLive(instance.status)) {
      this.#pids.set(vmId, instance.state.pid);
      this.#locations.set(vmId, { member: instance.location, project });
      return;
    }
    this.#pids.delete(vmId);
    this.#observer.onExit(
      vmId,
      exitOf('The container stopped while its host was evacuated or restored'),
    );
  }

  /** Sets a tenant's project limits (creating the project when needed). */
  async syncProject(project: string, limits: ProjectLimits): Promise<void> {
    const name = projectNameOf(project);
    await this.#ensureProject(name);
    // PUT, not PATCH: Incus's PATCH of a project re-applies its features and fails.
    const current = await this.#call<{ description: string; config: Record<string, string> }>(
      'read project',
      name,
      'GET',
      `/1.0/projects/${name}`,
    );
    await this.#call('update the limits of project', name, 'PUT', `/1.0/projects/${name}`, {
      description: current.description,
      config: {
        ...current.config,
        'limits.instances': String(limits.instances),
      },
    });
  }

  async createDisk(vm: DriverVm): Promise<void> {
    const boot = vm.spec.boot;
    if (boot.kind !== 'container') {
      throw new EngineError(
        'VALIDATION',
        `Cannot create VM "${vm.id}": the Incus driver runs container images, and its image is a ${boot.kind} image`,
        { field: 'imageId' },
      );
    }
    const fingerprint = await this.#images.ensure(boot.imagePath);
    const project = projectNameOf(vm.spec.project);
    await this.#ensureProject(project);
    // Placement by the driver: Incus's own places parallel creates on one member (each sees the
    // same counts), and a class arrives in parallel.
    const target = this.#placement.place(instanceNameOf(vm.id));
    try {
      await this.#create(vm, project, fingerprint, target);
    } catch (error) {
      this.#placement.forget(instanceNameOf(vm.id));
      throw error;
    }
  }

  async #create(
    vm: DriverVm,
    project: string,
    fingerprint: string,
    target: string | undefined,
  ): Promise<void> {
    const targetQuery = target ? `&target=${encodeURIComponent(target)}` : '';
    await this.#call('create', vm.id, 'POST', `/1.0/instances?project=${project}${targetQuery}`, {
      name: instanceNameOf(vm.id),
      type: 'container',
      source: { type: 'image', fingerprint },
      config: {
        'limits.cpu': String(vm.spec.vcpus),
        'limits.memory': `${vm.spec.memoryMib}MiB`,
      },
      devices: {
        root: { type: 'disk', path: '/', pool: this.#config.storagePool ?? 'data' },
      },
    });
  }

  async start(vm: DriverVm, options: StartOptions = {}): Promise<StartResult> {
    if (options.restoreSavedState || options.loadSnapshot || options.pooled) {
      throw new EngineError(
        'UNAVAILABLE',
        `Containers here start only from their disk (VM "${vm.id}")`,
      );
    }
    await this.#setState(vm, 'start', { action: 'start' });
    const pid = this.#track(vm.id, vm.spec.project, await this.#instance(vm));
    return { pid, runState: 'running', bootPath: 'cold' };
  }

  async adopt(vm: DriverVm): Promise<Adopted | null> {
    let instance: InstanceFull;
    try {
      instance = await this.#instance(vm);
    } catch (error) {
      if (error instanceof EngineError && error.code === 'NOT_FOUND') return null;
      // Its member does not answer (offline, unreachable): out of reach, not gone. Where it
      // lives is in the cluster's database, which answers without the member.
      if (!(error instanceof EngineError && error.code === 'UNAVAILABLE')) throw error;
      const where = this.#where(vm);
      const placed = await this.#client
        .call<{ location: string }>('GET', `/1.0/instances/${where.name}?project=${where.project}`)
        .catch(() => undefined);
      const member = await this.#offlineMember(placed?.location);
      return this.#outOfReach(
        vm.id,
        member ? describeOffline(member) : `Its host cannot be reached (${error.message})`,
      );
    }
    if (!isLive(instance.status)) {
      const member = await this.#offlineMember(instance.location);
      if (member) {
        this.#track(vm.id, vm.spec.project, instance);
        return this.#outOfReach(vm.id, describeOffline(member));
      }
      return null;
    }
    const pid = this.#track(vm.id, vm.spec.project, instance);
    return { pid, runState: instance.status === 'Frozen' ? 'paused' : 'running' };
  }

  /** An adopted VM whose guest cannot be reached now: followed until its member is back. */
  #outOfReach(vmId: string, reason: string): Adopted {
    if (!this.#pids.has(vmId)) this.#pids.set(vmId, 0);
    this.#unavailable.add(vmId);
    return { pid: this.#pids.get(vmId) ?? 0, runState: 'running', unavailable: reason };
  }

  /** The cluster member `name` when it is not online (its status and message), else undefined. */
  async #offlineMember(name: string | undefined): Promise<IncusMember | undefined> {
    if (!name || name === 'none') return undefined;
    const member = await this.#client
      .call<{ server_name: string; status: string; message: string; url: string }>(
        'GET',
        `/1.0/cluster/members/${encodeURIComponent(name)}`,
      )
      .catch(() => undefined);
    if (!member || member.status === 'Online' || member.status === 'Evacuated') return undefined;
    return {
      name: member.server_name,
      status: member.status,
      message: member.message,
      url: member.url,
    };
  }

  async hasInstance(vm: DriverVm): Promise<boolean> {
    try {
      await this.#instance(vm);
      return true;
    } catch (error) {
      if (error instanceof EngineError && error.code === 'NOT_FOUND') return false;
      throw error;
    }
  }

  async stop(vm: DriverVm, options: { timeoutMs: number; force: boolean }): Promise<void> {
    this.#ending.add(vm.id);
    try {
      if (!options.force && options.timeoutMs > 0) {
        const timeout = Math.max(1, Math.round(options.timeoutMs / 1000));
        // Incus's stop with a timeout fails when the guest does not power off in time: then force.
        const stopped = await this.#setState(vm, 'stop', { action: 'stop', timeout }).then(
          () => true,
          () => false,
        );
        if (stopped) return;
      }
      await this.#setState(vm, 'stop', { action: 'stop', force: true });
    } finally {
      this.#pids.delete(vm.id);
      this.#ending.delete(vm.id);
    }
  }

  async queryRunState(vm: DriverVm): Promise<RunState> {
    return (await this.#state(vm)).status === 'Frozen' ? 'paused' : 'running';
  }

  async reboot(vm: DriverVm): Promise<void> {
    this.#ending.add(vm.id);
    try {
      await this.#setState(vm, 'reboot', { action: 'restart', force: true });
      this.#pids.set(vm.id, (await this.#state(vm)).pid);
    } finally {
      this.#ending.delete(vm.id);
    }
  }

  async pause(vm: DriverVm): Promise<void> {
    await this.#setState(vm, 'pause', { action: 'freeze' });
  }

  async resume(vm: DriverVm): Promise<void> {
    await this.#setState(vm, 'resume', { action: 'unfreeze' });
  }

  async suspend(vm: DriverVm): Promise<void> {
    throw new EngineError(
      'UNAVAILABLE',
      `VM "${vm.id}" cannot be suspended: the Incus driver's containers have no saved state here`,
    );
  }

  hasSavedState(): boolean {
    return false;
  }

  async discardSavedState(): Promise<void> {}

  pidOf(vmId: string): number | undefined {
    return this.#pids.get(vmId);
  }

  accelOf(vmId: string): string | undefined {
    return this.#pids.has(vmId) ? 'container' : undefined;
  }

  /** The instance's console WebSocket (a terminal on the container's /dev/console). */
  async openConsole(vm: DriverVm, kind: ConsoleKind): Promise<Duplex> {
    if (kind !== 'serial') {
      throw new EngineError('UNAVAILABLE', `VM "${vm.id}" is a container: it has no display`);
    }
    const { name, project } = this.#where(vm);
    let operation: { id: string; metadata: { fds: Record<string, string> } | null };
    try {
      operation = (await this.#client.start(
        'POST',
        `/1.0/instances/${name}/console?project=${project}`,
        // force: a console left attached (a viewer gone without closing) is taken over.
        { type: 'console', width: 80, height: 24, force: true },
      )) as unknown as typeof operation;
    } catch (error) {
      throw toEngineErrorFromIncus(error, `Failed to open the console of VM "${vm.id}"`);
    }
    const fds = operation.metadata?.fds ?? {};
    let control: Duplex | undefined;
    let data: Duplex;
    try {
      control = await this.#client.openOperationStream(operation.id, fds.control ?? '');
      data = await this.#client.openOperationStream(operation.id, fds['0'] ?? '');
    } catch (error) {
      control?.destroy();
      throw new EngineError(
        'UNAVAILABLE',
        `Failed to open the console of VM "${vm.id}": ${(error as Error).message}`,
      );
    }
    // The console lasts as long as its control socket: close it with the data stream.
    data.once('close', () => control.destroy());
    control.on('error', () => data.destroy());
    control.resume();
    // Incus attaches the console a moment after both sockets open; keys sent before are lost.
    await new Promise((resolve) => setTimeout(resolve, CONSOLE_ATTACH_MS));
    return data;
  }

  async diskUsage(vm: DriverVm): Promise<number> {
    try {
      return (await this.#state(vm)).disk?.root?.usage ?? 0;
    } catch {
      return 0;
    }
  }

  async createSnapshot(vm: DriverVm, name: string, memory: boolean): Promise<SnapshotInfo> {
    if (memory) {
      throw new EngineError(
        'UNAVAILABLE',
        `VM "${vm.id}" is a container: its snapshots hold its disk, not its memory`,
      );
    }
    const where = this.#where(vm);
    await this.#call(
      'snapshot',
      vm.id,
      'POST',
      `/1.0/instances/${where.name}/snapshots?project=${where.project}`,
      { name, stateful: false },
    );
    return this.getSnapshot(vm, name);
  }

  async getSnapshot(vm: DriverVm, name: string): Promise<SnapshotInfo> {
    const where = this.#where(vm);
    const snapshot = await this.#call<IncusSnapshot>(
      'read snapshot of',
      vm.id,
      'GET',
      `/1.0/instances/${where.name}/snapshots/${encodeURIComponent(name)}?project=${where.project}`,
    ).catch((error: EngineError) => {
      if (error.code !== 'NOT_FOUND') throw error;
      throw new EngineError('NOT_FOUND', `VM "${vm.id}" has no snapshot "${name}"`);
    });
    return snapshotInfoOf(snapshot);
  }

  async restoreSnapshot(vm: DriverVm, name: string): Promise<void> {
    const where = this.#where(vm);
    await this.#call(
      'restore snapshot of',
      vm.id,
      'PUT',
      `/1.0/instances/${where.name}?project=${where.project}`,
      { restore: name },
    );
  }

  async deleteSnapshot(vm: DriverVm, name: string): Promise<void> {
    const where = this.#where(vm);
    await this.#call(
      'delete snapshot of',
      vm.id,
      'DELETE',
      `/1.0/instances/${where.name}/snapshots/${encodeURIComponent(name)}?project=${where.project}`,
    );
  }

  async listSnapshots(vm: DriverVm): Promise<SnapshotInfo[]> {
    const where = this.#where(vm);
    const snapshots = await this.#call<IncusSnapshot[]>(
      'list snapshots of',
      vm.id,
      'GET',
      `/1.0/instances/${where.name}/snapshots?recursion=1&project=${where.project}`,
    );
    return snapshots.map(snapshotInfoOf).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  release(vmId: string): void {
    this.#pids.delete(vmId);
    this.#locations.delete(vmId);
    this.#unavailable.delete(vmId);
    this.#changedAt.delete(vmId);
  }

  /** Deletes the VM's instance (and its snapshots) from the cluster. */
  async removeVm(vm: DriverVm): Promise<void> {
    const where = this.#where(vm);
    await this.#call(
      'delete',
      vm.id,
      'DELETE',
      `/1.0/instances/${where.name}?project=${where.project}`,
    ).catch((error: EngineError) => {
      if (error.code !== 'NOT_FOUND') throw error;
    });
  }

  async close(): Promise<void> {
    this.#poller.close();
    this.#events.close();
    this.#client.close();
  }

  /**
   * A lifecycle event of an instance: a guest that stopped or was frozen without this driver, or
   * that another server (a replica on the same cluster) started.
   */
  #onLifecycle(instance: string, action: string): void {
    if (instance.startsWith(NAME_PREFIX)) {
      this.#changedAt.set(instance.slice(NAME_PREFIX.length), Date.now());
    }
    if (action === 'instance-stopped' || action === 'instance-shutdown') {
      this.#observe(instance, 'Stopped');
    } else if (action === 'instance-paused') this.#observe(instance, 'Frozen');
    else if (action === 'instance-resumed') this.#observe(instance, 'Running');
    else if (action === 'instance-started') this.#observe(instance, 'Running', { started: true });
  }

  /** Every instance as the poller read it: what the events did not say. */
  #onInstances(instances: IncusInstance[], readSince: number): void {
    for (const instance of instances) {
      this.#placement.forget(instance.name);
      const vmId = instance.name.slice(NAME_PREFIX.length);
      if (this.#unavailable.has(vmId)) {
        if (this.#poller.isOnline(instance.location)) this.#comeBack(vmId, instance.status);
        continue;
      }
      // The VM changed (by this driver, or as an event said) after the read began: the read is
      // older than what the driver knows.
      if ((this.#changedAt.get(vmId) ?? 0) >= readSince) continue;
      this.#observe(instance.name, instance.status);
    }
  }

  /**
   * An instance's status as observed (an event, a poll): reported when it is news. One this driver
   * does not follow that a start event names was started by another server: followed from now on.
   */
  #observe(instance: string, status: string, event: { started?: boolean } = {}): void {
    if (!instance.startsWith(NAME_PREFIX)) return;
    const vmId = instance.slice(NAME_PREFIX.length);
    if (this.#ending.has(vmId) || this.#unavailable.has(vmId)) return;
    if (!this.#pids.has(vmId)) {
      // Only a start event says another server started it (a poll may see a guest that restarted
      // itself, or read before its stop); its process id is read when this driver next reads it.
      if (!event.started) return;
      this.#pids.set(vmId, 0);
      this.#observer.onStartedElsewhere?.(vmId, 'running');
      return;
    }
    if (status === 'Stopped') {
      this.#pids.delete(vmId);
      this.#observer.onExit(vmId, exitOf('The container stopped', 'guest-shutdown'));
    } else if (status === 'Frozen') this.#observer.onRunState(vmId, 'paused');
    else if (status === 'Running') this.#observer.onRunState(vmId, 'running');
  }

  /** The VM's instance with its state and member, in one request. */
  #instance(vm: DriverVm): Promise<InstanceFull> {
    const where = this.#where(vm);
    return this.#call<InstanceFull>(
      'read',
      vm.id,
      'GET',
      `/1.0/instances/${where.name}?recursion=1&project=${where.project}`,
    );
  }

  /** Remembers a live instance's process and member; answers its pid. */
  #track(vmId: string, project: string | undefined, instance: InstanceFull): number {
    this.#pids.set(vmId, instance.state.pid);
    if (instance.location && instance.location !== 'none') {
      this.#locations.set(vmId, { member: instance.location, project: projectNameOf(project) });
    }
    return instance.state.pid;
  }

  /**
   * A member's status changed: while it is not online the VMs it runs are unavailable (not
   * crashed: their containers may well run on); the polls bring them back once it is.
   */
  #onMemberChange(member: IncusMember): void {
    // An evacuated member answers: its VMs were moved (see setMemberState).
    if (member.status !== 'Offline') return;
    for (const [vmId, location] of this.#locations) {
      if (location.member !== member.name) continue;
      if (!this.#pids.has(vmId) || this.#unavailable.has(vmId)) continue;
      this.#unavailable.add(vmId);
      this.#observer.onAvailability?.(vmId, { reason: describeOffline(member) });
    }
  }

  /** An unavailable VM whose member is online again: as Incus now reports its instance. */
  #comeBack(vmId: string, status: string): void {
    if (isLive(status)) {
      this.#unavailable.delete(vmId);
      this.#observer.onAvailability?.(vmId, {
        runState: status === 'Frozen' ? 'paused' : 'running',
      });
    } else if (status === 'Stopped') {
      this.#unavailable.delete(vmId);
      this.#pids.delete(vmId);
      this.#observer.onExit(vmId, exitOf('The container stopped while its host was out of reach'));
    }
  }

  #where(vm: DriverVm): { name: string; project: string } {
    return { name: instanceNameOf(vm.id), project: projectNameOf(vm.spec.project) };
  }

  async #state(vm: DriverVm): Promise<InstanceState> {
    const where = this.#where(vm);
    return this.#call<InstanceState>(
      'read the state of',
      vm.id,
      'GET',
      `/1.0/instances/${where.name}/state?project=${where.project}`,
    );
  }

  async #setState(vm: DriverVm, verb: string, body: Record<string, unknown>): Promise<void> {
    this.#changedAt.set(vm.id, Date.now());
    const where = this.#where(vm);
    try {
      await this.#call(
        verb,
        vm.id,
        'PUT',
        `/1.0/instances/${where.name}/state?project=${where.project}`,
        body,
      );
    } finally {
      this.#changedAt.set(vm.id, Date.now());
    }
  }

  /** An API call on behalf of VM (or project) `subject`, its refusals as engine errors. */
  async #call<T = unknown>(
    verb: string,
    subject: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    try {
      return await this.#client.call<T>(method, path, body);
    } catch (error) {
      throw toEngineErrorFromIncus(error, `Failed to ${verb} "${subject}"`);
    }
  }

  async #ensureProject(name: string): Promise<void> {
    if (this.#projects.has(name)) return;
    try {
      await this.#client.call('POST', '/1.0/projects', {
        name,
        description: 'Labvisor tenant',
        // The project shares the default project's images and profiles.
        config: { 'features.images': 'false', 'features.profiles': 'false' },
      });
    } catch (error) {
      if (!(error instanceof IncusError && /already exists/i.test(error.message))) {
        throw toEngineErrorFromIncus(error, `Failed to create project "${name}"`);
      }
    }
    this.#projects.add(name);
  }
}

/** Whether an instance's status is a live guest's (running, or frozen: paused). */
function isLive(status: string): boolean {
  return status === 'Running' || status === 'Frozen';
}

/** How a container ended without Labvisor asking, as the engine takes it. */
function exitOf(cause: string, shutdownReason?: string): ExitInfo {
  return {
    requested: false,
    code: null,
    signal: null,
    cause,
    ...(shutdownReason ? { shutdownReason } : {}),
  };
}

function snapshotInfoOf(snapshot: IncusSnapshot): SnapshotInfo {
  const name = snapshot.name.split('/').pop() ?? snapshot.name;
  return { name, memory: snapshot.stateful, sizeBytes: 0, createdAt: snapshot.created_at };
}

/** Why a VM on a member that is not online is out of reach, as its page says it. */
function describeOffline(member: IncusMember): string {
  return `Its host "${member.name}" is ${member.status.toLowerCase()}${member.message ? ` (${member.message})` : ''}`;
}
