import path from 'node:path';
import { EngineError } from '../../errors.js';

/** Longest path a unix socket may have on Linux (sun_path is 108 bytes with the NUL). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

/** The QEMU driver's files in a VM's folder (the engine keeps `vm.json` and `status.json` there). */
export interface QemuPaths {
  dir: string;
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
  /** What the guest wrote on its serial port since the last start, up to a cap (then rotated). */
  serialLog: string;
  /** The serial log's previous part, once it was rotated. */
  serialLogPrevious: string;
  /** Memory state of a suspended VM. */
  savedState: string;
  /** Whether the guest ran when its memory state was saved (`{"wasRunning": true}`). */
  savedStateInfo: string;
  /** The spec's guest configuration as JSON (mode 0600), which QEMU hands the guest by fw_cfg. */
  guestConfig: string;
  /** Unix socket of the guest agent's serial line (VMs whose image runs the Labvisor agent). */
  agent: string;
}

/** The QEMU files of the VM whose folder is `dir`. */
export function qemuPaths(dir: string): QemuPaths {
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    disk: file('disk.qcow2'),
    snapshots: file('snapshots.json'),
    pid: file('qemu.pid'),
    qmp: file('qmp.sock'),
    serial: file('serial.sock'),
    vnc: file('vnc.sock'),
    log: file('qemu.log'),
    qmpLog: file('qmp.log'),
    serialLog: file('serial.log'),
    serialLogPrevious: file('serial.log.1'),
    savedState: file('saved-state.bin'),
    savedStateInfo: file('saved-state.json'),
    guestConfig: file('guest-config.json'),
    agent: file('agent.sock'),
  };
}

/** Throws VALIDATION when a VM's socket paths would be too long for unix sockets. */
export function assertSocketPathsFit(id: string, paths: QemuPaths): void {
  for (const socket of [paths.qmp, paths.serial, paths.vnc, paths.agent]) {
    if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH_BYTES) {
      throw new EngineError(
        'VALIDATION',
        `Cannot create VM "${id}": its socket paths would be longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes; use a shorter run directory`,
        { path: socket },
      );
    }
  }
}
