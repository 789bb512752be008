import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EngineError } from '../../errors.js';
import type { EngineLogger } from '../../logger.js';
import { toHostname, type VmSpec } from '../../spec.js';
import { readJson } from '../../vm-record.js';
import type { DriverVm } from '../driver.js';
import type { Accelerator } from './accel-probe.js';
import { GuestAgent, type GuestIdentity } from './guest-agent.js';
import { isProcessAlive, readPidFile, readProcessCmdline } from './process-utils.js';
import { DISK_NODE_NAME } from './qemu-args.js';
import { createOverlay, readVirtualSize } from './qemu-img.js';
import { qemuPaths } from './qemu-paths.js';
import type { QemuProcesses } from './qemu-processes.js';
import { type QemuLaunch, type StartContext, startQemu } from './qemu-start.js';
import { saveMemoryState } from './qemu-suspend.js';

/** How long a template's guest may take to boot until its agent answers (Debian under TCG). */
export const TEMPLATE_BOOT_TIMEOUT_MS = 600_000;
/** How long a restored clone's agent may take to answer a ping. */
const AGENT_READY_TIMEOUT_MS = 30_000;
/** How long a clone's agent may take to take its identity. */
export const IDENTITY_TIMEOUT_MS = 120_000;
/** Bumped when what a template holds changes, so older ones are rebuilt (3: SeaBIOS and a generation ID). */
const TEMPLATE_FORMAT = 3;

const GIB = 1024 ** 3;
/** The file in a VM's folder saying its disk is a fresh clone's (see {@link Templates.cloneLaunch}). */
export const CLONE_MARKER = 'clone-of.json';

/** What {@link CLONE_MARKER} holds. */
interface CloneMarker {
  template?: string;
}

/** A booted template on disk: what a clone starts from. */
export interface Template {
  key: string;
  /** Its RAM (mapped privately by clones). */
  memoryFile: string;
  /** Its device state, saved without RAM (`x-ignore-shared`). */
  stateFile: string;
  /** Its disk as it was when saved: the read-only base of each clone's overlay. */
  diskFile: string;
  /** Its disk's virtual size, in bytes. */
  diskBytes: number;
}

/** What `template.json` keeps beside a built template. */
interface TemplateInfo {
  key: string;
  inputs: TemplateInputs | undefined;
  diskBytes: number;
  builtAt: string;
}

/** What a template of an image and size is built for, and what must match for a clone. */
interface TemplateInputs {
  format: number;
  qemuVersion: string;
  accel: Accelerator;
  vcpus: number;
  memoryMib: number;
  /** The image's files, each by path, size and modification time (a rebuilt image differs). */
  files: string[];
  cmdline: string;
}

/**
 * Booted templates of images, one per image, size, QEMU version and accelerator, under
 * `<dir>/<key>/`: a guest booted until its agent answers, then saved with its RAM in a file
 * (`share=on`) and its device state without it. A VM of the same image and size then starts as a
 * clone in a fraction of a second instead of booting (QEMU's docs/system/vm-templating.rst).
 * Only images that run the Labvisor agent qualify: a clone needs it to get its own identity.
 */
export class Templates {
  readonly #building = new Map<string, Promise<Template>>();
  #closed = false;

  constructor(
    private readonly deps: {
      dir: string;
      qemuVersion: string;
      qemuImgBinary: string;
      processes: QemuProcesses;
      startContext: () => StartContext;
      accel: () => Accelerator;
      logger: EngineLogger;
    },
  ) {}

  /** The key of the template a VM of `spec` would start from; undefined when none can exist. */
  keyOf(spec: VmSpec): string | undefined {
    const inputs = this.#inputsOf(spec);
    if (!inputs) return undefined;
    return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
  }

  /** The ready template for `spec`, if one is built. */
  find(spec: VmSpec): Template | undefined {
    const key = this.keyOf(spec);
    return key ? this.byKey(key) : undefined;
  }

  /** The template of `key` if it is still on disk (clones of it may start from it). */
  byKey(key: string): Template | undefined {
    const info = readJson<TemplateInfo>(path.join(this.deps.dir, key, 'template.json'));
    return info ? { ...this.#filesOf(key), diskBytes: info.diskBytes } : undefined;
  }

  /**
   * Builds the template for `spec` (once: concurrent calls share the build); resolves with it.
   * Templates are built one at a time: each boots a guest.
   */
  build(spec: VmSpec): Promise<Template> {
    const key = this.keyOf(spec);
    if (!key) {
      return Promise.reject(
        new EngineError(
          'VALIDATION',
          'Only kernel-boot images whose guest runs the Labvisor agent can have a template',
        ),
      );
    }
    const ready = this.find(spec);
    if (ready) return Promise.resolve(ready);
    let building = this.#building.get(key);
    if (!building) {
      const previous = Promise.all([...this.#building.values()].map((b) => b.catch(() => null)));
      building = previous
        .then(() => this.#build(key, spec))
        .finally(() => this.#building.delete(key));
      this.#building.set(key, building);
    }
    return building;
  }

  /** Ends the guests of builds under way (a template is never left half-built and running). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const key of this.#building.keys()) {
      const proc = this.deps.processes.get(`template-${key}`);
      if (proc) await this.deps.processes.kill(proc).catch(() => undefined);
    }
  }

  /**
   * Deletes the templates no VM can start from any more (their image, QEMU or
   * accelerator changed) and no VM's disk rests on (`disks`: every VM disk's backing file).
   * Answers how many went.
   */
  async removeUnused(disks: ReadonlySet<string>): Promise<number> {
    const entries = await fsp.readdir(this.deps.dir).catch(() => [] as string[]);
    let removed = 0;
    for (const key of entries) {
      if (key.endsWith('.building') || this.#building.has(key)) continue;
      const info = readJson<TemplateInfo>(path.join(this.deps.dir, key, 'template.json'));
      if (info?.inputs && this.#isCurrent(info.inputs)) continue;
      if (disks.has(this.#filesOf(key).diskFile)) continue;
      await fsp.rm(path.join(this.deps.dir, key), { recursive: true, force: true });
      this.deps.logger.info({ template: key }, 'unused template removed');
      removed++;
    }
    return removed;
  }

  /** Whether a template built from `inputs` still matches its image and this host. */
  #isCurrent(inputs: TemplateInputs): boolean {
    const now = {
      ...inputs,
      format: TEMPLATE_FORMAT,
      qemuVersion: this.deps.qemuVersion,
      accel: this.deps.accel(),
      files: inputs.files.map((file) => fileFingerprint(pathOfFingerprint(file))),
    };
    return JSON.stringify(now) === JSON.stringify(inputs);
  }

  /** Starts building the template for `spec` in the background, if it can have one. */
  prepare(spec: VmSpec): void {
    if (!this.keyOf(spec) || this.find(spec)) return;
    this.build(spec).catch((error: unknown) =>
      this.deps.logger.warn({ err: error, image: spec.boot }, 'building a template failed'),
    );
  }

  /**
   * Makes the VM's disk a clone's when its template is built: an overlay on the template's disk,
   * and the marker that makes its first start continue the template. False when there is none.
   */
  async createCloneDisk(vm: DriverVm, sizeBytes: number): Promise<boolean> {
    const template = this.find(vm.spec);
    if (!template) return false;
    await createOverlay(
      this.deps.qemuImgBinary,
      qemuPaths(vm.dir).disk,
      template.diskFile,
      'qcow2',
      Math.max(sizeBytes, template.diskBytes),
    );
    const marker: CloneMarker = { template: template.key };
    await fsp.writeFile(path.join(vm.dir, CLONE_MARKER), `${JSON.stringify(marker)}\n`, {
      mode: 0o600,
    });
    return true;
  }

  /**
   * How a fresh clone's first start goes: it continues its template's guest and gives it the
   * VM's identity, when the template still matches (same QEMU, accelerator and image); a warm
   * pool's clone (`pooled`) stays paused without it until {@link applyIdentity}.
   * Undefined (boot from the disk) for any other start. Either way the marker is used up: once the
   * guest has run, its disk no longer matches the template's memory.
   */
  async cloneLaunch(
    vm: DriverVm,
    options: { pooled: boolean; mac?: string | undefined },
  ): Promise<QemuLaunch | undefined> {
    const markerFile = path.join(vm.dir, CLONE_MARKER);
    const marker = readJson<CloneMarker>(markerFile);
    if (!marker) return undefined;
    await fsp.rm(markerFile, { force: true });
    const template = marker.template ? this.byKey(marker.template) : undefined;
    if (!template || this.keyOf(vm.spec) !== template.key) {
      vm.logger.info({ template: marker.template }, 'its template no longer matches; booting');
      return undefined;
    }
    return {
      clone: {
        memoryFile: template.memoryFile,
        stateFile: template.stateFile,
        paused: options.pooled,
      },
      afterStart: async (client) => {
        // The guest learns of a disk larger than its template's.
        const diskBytes = vm.spec.diskGib * GIB;
        if (template.diskBytes < diskBytes) await client.blockResize(DISK_NODE_NAME, diskBytes);
        if (!options.pooled) await this.applyIdentity(vm, options.mac);
      },
    };
  }

  /** Gives a clone that runs the identity of its spec (and its lease's `mac`) through its agent. */
  async applyIdentity(vm: DriverVm, mac?: string): Promise<void> {
    const agent = await GuestAgent.connect(qemuPaths(vm.dir).agent);
    try {
      // A line that answers first (pings repeat), so the identity is never sent into a line the
      // restored guest does not read yet.
      await agent.waitReady(AGENT_READY_TIMEOUT_MS);
      const identity = identityOf(vm.spec);
      await agent.applyIdentity(mac ? { ...identity, mac } : identity, IDENTITY_TIMEOUT_MS);
    } finally {
      agent.close();
    }
  }

  #inputsOf(spec: VmSpec): TemplateInputs | undefined {
    const boot = spec.boot;
    // A clone continues its template's devices: a VM with a home disk boots instead.
    if (!spec.guestAgent || boot.kind !== 'kernel' || spec.homeDisk) return undefined;
    const files = [boot.kernelPath, boot.initrdPath, boot.baseDiskPath].map(fileFingerprint);
    if (files.some((file) => file === undefined)) return undefined;
    return {
      format: TEMPLATE_FORMAT,
      qemuVersion: this.deps.qemuVersion,
      accel: this.deps.accel(),
      vcpus: spec.vcpus,
      memoryMib: spec.memoryMib,
      files: files as string[],
      cmdline: boot.cmdline,
    };
  }

  #filesOf(key: string, dir = path.join(this.deps.dir, key)): Omit<Template, 'diskBytes'> {
    return {
      key,
      memoryFile: path.join(dir, 'memory.ram'),
      stateFile: path.join(dir, 'saved-state.bin'),
      diskFile: path.join(dir, 'disk.qcow2'),
    };
  }

  async #endBuildGuest(vmId: string): Promise<void> {
    const proc = this.deps.processes.get(vmId);
    if (proc) await this.deps.processes.kill(proc);
    this.deps.processes.release(vmId);
  }

  /**
   * Boots the template's guest in `<key>.building/`, waits for its agent, saves its device state
   * without RAM, ends it and renames the folder into place: a half-built template is never used.
   */
  async #build(key: string, spec: VmSpec): Promise<Template> {
    const ready = this.find(spec);
    if (ready) return ready;
    if (this.#closed) throw new Error('the driver is closed');
    const started = Date.now();
    const logger = this.deps.logger.child({ template: key });
    const buildDir = path.join(this.deps.dir, `${key}.building`);
    await killLeftBuild(buildDir);
    await fsp.rm(buildDir, { recursive: true, force: true });
    await fsp.mkdir(buildDir, { recursive: true, mode: 0o700 });
    const vm: DriverVm = {
      id: `template-${key}`,
      spec: {
        ...spec,
        id: `template-${key}`,
        name: 'template',
        guestConfig: { hostname: 'template' },
      },
      dir: buildDir,
      logger,
    };
    const paths = qemuPaths(buildDir);
    const boot = vm.spec.boot as Extract<VmSpec['boot'], { kind: 'kernel' }>;
    const baseSize = await readVirtualSize(boot.baseDiskPath, boot.baseDiskFormat);
    await createOverlay(
      this.deps.qemuImgBinary,
      paths.disk,
      boot.baseDiskPath,
      boot.baseDiskFormat,
      baseSize,
    );
    const { memoryFile } = this.#filesOf(key, buildDir);
    logger.info({ image: boot.baseDiskPath }, 'building a template');
    try {
      await startQemu(
        this.deps.startContext(),
        vm,
        { sharedMemoryFile: memoryFile },
        this.deps.accel(),
      );
      const agent = await GuestAgent.connect(paths.agent);
      try {
        await agent.waitReady(TEMPLATE_BOOT_TIMEOUT_MS);
      } finally {
        agent.close();
      }
      const client = this.deps.processes.client(vm.id);
      await client.migrateSetCapabilities({ 'x-ignore-shared': true });
      await saveMemoryState(client, paths, this.deps.startContext().qemuUser);
    } catch (error) {
      // A failed build leaves nothing (its RAM file alone is as large as the guest's memory).
      await this.#endBuildGuest(vm.id);
      await fsp.rm(buildDir, { recursive: true, force: true });
      throw error;
    }
    await this.#endBuildGuest(vm.id);
    await Promise.all(
      [paths.log, paths.qmpLog, paths.serialLog, paths.guestConfig, paths.savedStateInfo].map(
        (file) => fsp.rm(file, { force: true }),
      ),
    );
    await fsp.chmod(paths.disk, 0o400);
    await fsp.writeFile(
      path.join(buildDir, 'template.json'),
      `${JSON.stringify({ key, inputs: this.#inputsOf(spec), diskBytes: baseSize, builtAt: new Date().toISOString() } satisfies TemplateInfo, null, 2)}\n`,
      { mode: 0o600 },
    );
    const dir = path.join(this.deps.dir, key);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(buildDir, dir);
    logger.info({ durationMs: Date.now() - started }, 'template built');
    return { ...this.#filesOf(key), diskBytes: baseSize };
  }
}

/** Ends the QEMU of a build an earlier engine left running (it died while building). */
async function killLeftBuild(buildDir: string): Promise<void> {
  const paths = qemuPaths(buildDir);
  const pid = await readPidFile(paths.pid);
  if (pid === undefined || !(await isProcessAlive(pid))) return;
  const cmdline = await readProcessCmdline(pid);
  if (cmdline?.some((arg) => arg.includes(paths.qmp))) process.kill(pid, 'SIGKILL');
}

/** A file's identity for a template key: path, size and modification time; undefined if absent. */
function fileFingerprint(file: string): string | undefined {
  try {
    const stat = fs.statSync(file);
    return `${file}:${stat.size}:${Math.trunc(stat.mtimeMs)}`;
  } catch {
    return undefined;
  }
}

/** The path of a {@link fileFingerprint} (`path:size:mtime`). */
function pathOfFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, fingerprint.lastIndexOf(':', fingerprint.lastIndexOf(':') - 1));
}

/** The identity a clone of `spec` takes: its own hostname, user, machine-id, clock and seed. */
export function identityOf(spec: VmSpec): GuestIdentity {
  return {
    hostname: spec.guestConfig?.hostname ?? toHostname(spec.name, spec.id),
    ...(spec.guestConfig?.user ? { user: spec.guestConfig.user } : {}),
    machineId: createHash('sha256').update(spec.id).digest('hex').slice(0, 32),
    time: Math.floor(Date.now() / 1000),
    seed: randomBytes(32).toString('base64'),
  };
}
