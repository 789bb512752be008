import fs from 'node:fs';
import path from 'node:path';
import type { BootPath, DriverVm, ExitInfo } from './drivers/driver.js';
import type { EngineLogger } from './logger.js';
import type { VmSpec } from './spec.js';
import type { VmState } from './state.js';

/** What the engine knows of one VM; its folder is `<runDir>/<id>/`. */
export interface VmRecord {
  spec: VmSpec;
  dir: string;
  logger: EngineLogger;
  state: VmState;
  cause: string | undefined;
  /** A process exit reported while an action held the lock; applied when it ends. */
  pendingExit: ExitInfo | undefined;
  /** How its guest came to run, at its last start by this engine. */
  bootPath?: BootPath;
  /** While `stopping`: what the VM is on its way to (a stop or a suspend). */
  ending?: 'stopped' | 'suspended';
}

/** The last state the engine set, kept in `status.json` so a new engine tells a crash from a stop. */
export interface PersistedStatus {
  state: VmState;
  cause?: string;
  /** With `stopping`: a stop or a suspend, for a new engine to finish it. */
  ending?: 'stopped' | 'suspended';
  updatedAt: string;
}

/** The engine's own files in a VM's folder; every other file there is the driver's. */
export function recordFiles(dir: string): { spec: string; status: string } {
  return { spec: path.join(dir, 'vm.json'), status: path.join(dir, 'status.json') };
}

/** Reads a JSON file; undefined when it is absent or not JSON. */
export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes JSON by rename, readable by the engine's user only (a spec may hold a guest password). */
export function writeJsonAtomic(file: string, value: unknown): void {
  const temp = `${file}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/**
 * Writes a record's state to its `status.json` (unless its folder is gone: deleted); when the disk
 * refuses, the file keeps the last state written whole.
 */
export function persistStatus(record: VmRecord): void {
  if (!fs.existsSync(record.dir)) return;
  const status: PersistedStatus = { state: record.state, updatedAt: new Date().toISOString() };
  if (record.cause !== undefined) status.cause = record.cause;
  if (record.state === 'stopping' && record.ending) status.ending = record.ending;
  const file = recordFiles(record.dir).status;
  try {
    writeJsonAtomic(file, status);
  } catch (error) {
    // A full disk: the state holds in memory, the file keeps the last one written whole.
    fs.rmSync(`${file}.tmp`, { force: true });
    record.logger.warn({ err: error, state: record.state }, 'cannot write the VM state to disk');
  }
}

/** The driver's view of a record. */
export function driverVmOf(record: VmRecord): DriverVm {
  return { id: record.spec.id, spec: record.spec, dir: record.dir, logger: record.logger };
}

/**
 * The state of a VM without a guest process, judged from what the last engine recorded and
 * whether a saved memory state exists: a VM that ran has crashed; a start or a stop that was under
 * way ended as a stop (or as a suspend, if its state was saved).
 */
export function judgeWithoutProcess(
  saved: PersistedStatus | undefined,
  hasSavedState: boolean,
): { state: VmState; cause?: string } {
  const last = saved?.state ?? 'stopped';
  if (last === 'running' || last === 'paused') {
    return { state: 'crashed', cause: 'QEMU process exited unexpectedly' };
  }
  // A start or a stop cut short by the engine's own end: not a crash (a start is done again).
  if (last === 'starting' || last === 'stopping') {
    return { state: hasSavedState ? 'suspended' : 'stopped' };
  }
  if (last === 'suspended' && !hasSavedState) {
    return { state: 'error', cause: 'The saved memory state of this suspended VM is missing' };
  }
  return saved?.cause === undefined ? { state: last } : { state: last, cause: saved.cause };
}
