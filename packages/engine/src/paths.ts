import path from 'node:path';
import { EngineError } from './errors.js';

/** Longest path a unix socket may have on Linux (sun_path is 108 bytes with the NUL). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

/** The files of one VM under `<runDir>/<id>/`. */
export interface VmPaths {
  dir: string;
  /** The spec, as given to createVm. */
  spec: string;
  /** The last state the engine set, so a new engine can tell a crash from a stop. */
  status: string;
  /** The qcow2 overlay (or blank disk for ISO boots); internal snapshots live inside it. */
  disk: string;
  /** Snapshot metadata the qcow2 does not hold (memory flag, size at creation). */
  snapshots: string;
  pid: string;
  qmp: string;
  serial: string;
  vnc: string;
  /** QEMU's stderr and stdout. */
  log: string;
  /** Every QMP command, reply and event. */
  qmpLog: string;
  /** Everything the guest wrote on its serial port since the last start. */
  serialLog: string;
  /** Memory state of a suspended VM. */
  savedState: string;
  /** Unix socket the engine serves while QEMU migrates its memory state into `savedState`. */
  migrateSocket: string;
  /** The spec's guest configuration as JSON (mode 0600), which QEMU hands the guest by fw_cfg. */
  guestConfig: string;
}

/** The paths of VM `id` under `runDir`. */
export function vmPaths(runDir: string, id: string): VmPaths {
  const dir = path.join(path.resolve(runDir), id);
  return {
    dir,
    spec: path.join(dir, 'vm.json'),
    status: path.join(dir, 'status.json'),
    disk: path.join(dir, 'disk.qcow2'),
    snapshots: path.join(dir, 'snapshots.json'),
    pid: path.join(dir, 'qemu.pid'),
    qmp: path.join(dir, 'qmp.sock'),
    serial: path.join(dir, 'serial.sock'),
    vnc: path.join(dir, 'vnc.sock'),
    log: path.join(dir, 'qemu.log'),
    qmpLog: path.join(dir, 'qmp.log'),
    serialLog: path.join(dir, 'serial.log'),
    savedState: path.join(dir, 'saved-state.bin'),
    migrateSocket: path.join(dir, 'migrate.sock'),
    guestConfig: path.join(dir, 'guest-config.json'),
  };
}

/** Throws VALIDATION when a VM's socket paths would be too long for unix sockets. */
export function assertSocketPathsFit(id: string, paths: VmPaths): void {
  for (const socket of [paths.qmp, paths.serial, paths.vnc, paths.migrateSocket]) {
    if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH_BYTES) {
      throw new EngineError(
        'VALIDATION',
        `Cannot create VM "${id}": socket path ${socket} is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes; use a shorter run directory or id`,
        { path: socket },
      );
    }
  }
}
