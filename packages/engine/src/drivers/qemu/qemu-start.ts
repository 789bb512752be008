import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { EngineError } from '../../errors.js';
import { Reverter } from '../../revert.js';
import type { DriverVm, RunState } from '../driver.js';
import { type Accelerator, isKvmFailure } from './accel-probe.js';
import type { GuestNic } from './network/guest-networks.js';
import { describeExit, tailFile } from './process-utils.js';
import { buildQemuArgs, guestConfigJson } from './qemu-args.js';
import { type QemuPaths, qemuPaths } from './qemu-paths.js';
import type { QemuProcess, QemuProcesses } from './qemu-processes.js';
import { finishRestore, readSavedStateInfo } from './qemu-suspend.js';
import type { QemuUser } from './qemu-user.js';
import type { QmpClient } from './qmp/commands.js';

/** How long QEMU may take from spawn to answering QMP. */
export const START_TIMEOUT_MS = 30_000;

/** What starting QEMU needs from its driver. */
export interface StartContext {
  processes: QemuProcesses;
  qemuBinary: string;
  tcgTranslationCacheMib: number | undefined;
  /** The account QEMU drops to once it has opened the VM's files; none keeps the server's user. */
  qemuUser: QemuUser | undefined;
}

/** How QEMU starts: booting, continuing a saved state or a snapshot, or as a template's clone. */
export interface QemuLaunch {
  /** Continue from the memory state a suspend saved. */
  restoreSavedState?: boolean;
  /** Start from this internal snapshot (with memory). */
  loadSnapshot?: string;
  /** Guest RAM in this file, shared: a template being built writes its memory there. */
  sharedMemoryFile?: string;
  /**
   * Start as a clone of a template: its RAM file mapped privately (copy-on-write), its device
   * state loaded with `x-ignore-shared` (the state file holds no RAM), then resumed — or left
   * `paused` (a warm pool's clone).
   */
  clone?: { memoryFile: string; stateFile: string; paused?: boolean };
  /** Runs once the guest runs, before the start counts as done; a failure ends the guest. */
  afterStart?: (client: QmpClient) => Promise<void>;
  /** The VM's place on its guest network; QEMU then runs in the network's namespace. */
  nic?: GuestNic;
}

/** A start failed because of KVM: the driver turns KVM off and retries it under TCG. */
export class KvmFailedError extends Error {}

/**
 * Starts QEMU for a VM under `accel`: checks its files, writes its guest config, spawns QEMU
 * (handing it the saved memory state when restoring), connects QMP and, after a restore, waits for
 * the state to load. A failure ends the process and throws a sentence; a failure KVM caused throws
 * {@link KvmFailedError}.
 */
export async function startQemu(
  context: StartContext,
  vm: DriverVm,
  launch: QemuLaunch,
  accel: Accelerator,
): Promise<{ pid: number; runState: RunState }> {
  const paths = qemuPaths(vm.dir);
  const reverter = new Reverter();
  let proc: QemuProcess | undefined;
  try {
    assertBootFilesExist(vm, paths);
    await removeRuntimeFiles(paths);
    // A new start begins a new serial log (QEMU appends to it).
    await fsp.rm(paths.serialLogPrevious, { force: true });
    await fsp.writeFile(paths.serialLog, '', { mode: 0o600 });
    if (vm.spec.guestConfig) {
      await fsp.writeFile(paths.guestConfig, guestConfigJson(vm.spec), { mode: 0o600 });
    }
    const stateFile = launch.restoreSavedState ? paths.savedState : launch.clone?.stateFile;
    const stateFd = stateFile === undefined ? undefined : fs.openSync(stateFile, 'r');
    try {
      const args = buildQemuArgs({
        spec: vm.spec,
        paths,
        accel,
        ...(stateFd === undefined ? {} : { incoming: launch.clone ? 'defer' : 3 }),
        ...memoryFileOf(launch),
        loadSnapshot: launch.loadSnapshot,
        ...(context.qemuUser ? { runAs: context.qemuUser.name } : {}),
        ...(launch.nic ? { nic: launch.nic } : {}),
        ...(context.tcgTranslationCacheMib
          ? { tcgTranslationCacheMib: context.tcgTranslationCacheMib }
          : {}),
      });
      proc = await context.processes.spawn(vm, paths, {
        binary: context.qemuBinary,
        args,
        accel,
        ...(stateFd === undefined ? {} : { stateFd }),
        ...(launch.nic ? { namespace: launch.nic.namespace } : {}),
      });
    } finally {
      if (stateFd !== undefined) fs.closeSync(stateFd);
    }
    const spawned = proc;
    reverter.add(() => context.processes.kill(spawned));
    const client = await context.processes.connectWhileAlive(spawned, START_TIMEOUT_MS);
    reverter.add(() => client.close());
    let running = (await client.queryStatus()).running;
    if (launch.clone) {
      await client.migrateSetCapabilities({ 'x-ignore-shared': true });
      await client.migrateIncoming('fd:3');
      running = await finishRestore(client, !launch.clone.paused);
      // Off again: a later suspend of the clone saves its whole RAM, as any VM's.
      await client.migrateSetCapabilities({ 'x-ignore-shared': false });
    } else if (launch.restoreSavedState) {
      running = await finishRestore(client, readSavedStateInfo(paths).wasRunning);
    }
    await launch.afterStart?.(client);
    reverter.success();
    return { pid: spawned.pid, runState: running ? 'running' : 'paused' };
  } catch (error) {
    await reverter.revert((undoError) => vm.logger.warn({ err: undoError }, 'undo step failed'));
    if (accel === 'kvm' && proc?.childExit) {
      const log = await tailFile(paths.log, 20);
      if (isKvmFailure(proc.childExit, log)) {
        throw new KvmFailedError(`QEMU failed under KVM starting VM "${vm.id}"`);
      }
    }
    throw await startError(vm, paths, {
      error,
      childExit: proc?.childExit,
      spawned: proc !== undefined,
      qemuBinary: context.qemuBinary,
    });
  }
}

/** QEMU's memory arguments for a launch: a file for templates and their clones. */
function memoryFileOf(launch: QemuLaunch): { memoryFile?: { path: string; share: boolean } } {
  if (launch.sharedMemoryFile)
    return { memoryFile: { path: launch.sharedMemoryFile, share: true } };
  if (launch.clone) return { memoryFile: { path: launch.clone.memoryFile, share: false } };
  return {};
}

/**
 * Throws NOT_FOUND when a file a start needs is gone: a base image replaced under an overlay would
 * make QEMU fail obscurely, so say which (in words; the path goes to the details only).
 */
export function assertBootFilesExist(vm: DriverVm, paths: QemuPaths): void {
  const boot = vm.spec.boot;
  const files =
    boot.kind === 'kernel'
      ? [boot.kernelPath, boot.initrdPath, boot.baseDiskPath]
      : boot.kind === 'disk'
        ? [boot.baseDiskPath]
        : boot.kind === 'iso'
          ? [boot.isoPath]
          : [boot.imagePath];
  for (const file of [...files, paths.disk]) {
    if (!fs.existsSync(file)) {
      throw new EngineError(
        'NOT_FOUND',
        `Failed starting VM "${vm.id}": ${file === paths.disk ? 'its disk' : 'a file of its image'} is missing`,
        { vmId: vm.id, path: file },
      );
    }
  }
}

/** Removes what an earlier QEMU of the VM may have left: sockets and its pid file. */
export async function removeRuntimeFiles(paths: QemuPaths): Promise<void> {
  await Promise.all(
    [paths.qmp, paths.serial, paths.vnc, paths.pid, paths.agent].map((file) =>
      fsp.rm(file, { force: true }),
    ),
  );
}

/**
 * The error of a failed start, as a sentence: how QEMU ended (or why it did not run), with the
 * last lines of qemu.log in the details for operators.
 */
export async function startError(
  vm: DriverVm,
  paths: QemuPaths,
  failure: {
    error: unknown;
    childExit?: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    spawned: boolean;
    qemuBinary: string;
  },
): Promise<EngineError> {
  const { error } = failure;
  if (error instanceof EngineError) return error;
  let reason = (error as Error).message;
  if (failure.childExit) reason = describeExit(failure.childExit.code, failure.childExit.signal);
  if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !failure.spawned) {
    reason = `${failure.qemuBinary} not found`;
  }
  const logTail = await tailFile(paths.log, 5);
  return new EngineError(
    'INTERNAL',
    `Failed starting VM "${vm.id}": ${reason} (see qemu.log)`,
    { vmId: vm.id, logTail },
    { cause: error },
  );
}
