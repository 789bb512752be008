import { canTransition, type VmState } from '@labvisor/shared';
import { EngineError } from './errors.js';

/** The states and the one transition table: the public contract's, from the shared package. */
export {
  canTransition,
  LIVE_STATES,
  PROCESS_STATES,
  RESOURCE_HOLDING_STATES,
  VM_STATES,
  VM_TRANSITIONS,
  type VmState,
} from '@labvisor/shared';

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
