import type { VmState } from '@labvisor/shared';
import { EngineError } from './errors.js';

/** The states of a VM: the public contract's, from the shared package. */
export { VM_STATES, type VmState } from '@labvisor/shared';

/**
 * The one table of legal transitions: for each state, the states it may move to, whether
 * because the engine was asked to (start, stop...) or because it observed QEMU (a crash, a guest
 * poweroff). Every state change goes through {@link assertTransition}; nothing else decides
 * whether an action is allowed.
 */
export const VM_TRANSITIONS: Readonly<Record<VmState, readonly VmState[]>> = {
  // start (cold, or restoring a memory snapshot)
  stopped: ['starting'],
  // up, up but paused (restore of a paused state), failed start (back to where it was), died
  starting: ['running', 'paused', 'stopped', 'suspended', 'error', 'crashed'],
  // pause, stop/suspend, reboot, guest poweroff, QEMU died, memory snapshot restore
  running: ['paused', 'stopping', 'running', 'stopped', 'crashed', 'error'],
  paused: ['running', 'stopping', 'stopped', 'crashed', 'error'],
  // stop finished, suspend finished, QEMU died while stopping, stop failed and QEMU still up
  stopping: ['stopped', 'suspended', 'crashed', 'error', 'running', 'paused'],
  // resume = start from the saved state; a snapshot restore discards the saved state
  suspended: ['starting', 'stopped'],
  crashed: ['starting', 'stopped'],
  error: ['starting', 'stopped'],
};

/** States in which a VM holds host memory and vCPUs (counted by capacity and quotas). */
export const RESOURCE_HOLDING_STATES: readonly VmState[] = [
  'starting',
  'running',
  'paused',
  'stopping',
];

/** States in which a QEMU process is expected to exist. */
export const PROCESS_STATES: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

/** Whether the table allows moving from `from` to `to`. */
export function canTransition(from: VmState, to: VmState): boolean {
  return VM_TRANSITIONS[from].includes(to);
}

/**
 * Throws INVALID_STATE unless the table allows `from` → `to`; `action` names what was asked for
 * the message, e.g. `Cannot pause VM "lab-1" while it is stopped`.
 */
export function assertTransition(vmId: string, from: VmState, to: VmState, action: string): void {
  if (!canTransition(from, to)) {
    throw new EngineError('INVALID_STATE', `Cannot ${action} VM "${vmId}" while it is ${from}`, {
      vmId,
      state: from,
      action,
    });
  }
}

/** Throws INVALID_STATE unless `state` is one of `allowed`; for actions that do not change state (snapshots). */
export function assertStateIn(
  vmId: string,
  state: VmState,
  allowed: readonly VmState[],
  action: string,
): void {
  if (!allowed.includes(state)) {
    throw new EngineError('INVALID_STATE', `Cannot ${action} VM "${vmId}" while it is ${state}`, {
      vmId,
      state,
      action,
      allowed,
    });
  }
}
