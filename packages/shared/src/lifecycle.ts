/**
 * The one VM lifecycle table: which state may follow which, which actions are legal from which
 * state, which states hold host resources or have a console. The engine's state machine, the
 * server's action planning, the console gateway and the portal's buttons all read it, so they
 * cannot disagree.
 */
import type { VmState } from './api/vms.js';

/**
 * Legal transitions: for each state, the states it may move to, because the engine was asked to
 * (start, stop...) or because it observed the hypervisor (a crash, a guest poweroff).
 */
export const VM_TRANSITIONS: Readonly<Record<VmState, readonly VmState[]>> = {
  // start (cold, or restoring a memory snapshot)
  stopped: ['starting'],
  // up, up but paused (restore of a paused state), failed start, died
  starting: ['running', 'paused', 'stopped', 'suspended', 'error', 'crashed'],
  // pause, stop/suspend, reboot, guest poweroff, died, memory snapshot restore, its host lost
  running: ['paused', 'stopping', 'running', 'stopped', 'crashed', 'error', 'unavailable'],
  paused: ['running', 'stopping', 'stopped', 'crashed', 'error', 'unavailable'],
  // stop finished, suspend finished, died while stopping, stop failed and the guest still up
  stopping: ['stopped', 'suspended', 'crashed', 'error', 'running', 'paused'],
  // resume = start from the saved state; stop or a snapshot restore discards the saved state
  suspended: ['starting', 'stopped'],
  crashed: ['starting', 'stopped'],
  error: ['starting', 'stopped'],
  // its host is back: the guest as the host reports it
  unavailable: ['running', 'paused', 'stopped', 'crashed', 'error'],
};

/** Whether the table allows moving from `from` to `to`. */
export function canTransition(from: VmState, to: VmState): boolean {
  return VM_TRANSITIONS[from].includes(to);
}

/** States in which a VM holds host memory and vCPUs (counted by capacity and quotas). */
export const RESOURCE_HOLDING_STATES: readonly VmState[] = [
  'starting',
  'running',
  'paused',
  'stopping',
  'unavailable',
];

/** States in which the VM's guest exists (a process, an instance), even if it is on its way. */
export const PROCESS_STATES: readonly VmState[] = [
  'starting',
  'running',
  'paused',
  'stopping',
  'unavailable',
];

/**
 * States in which the guest lives (runs, or is paused): its consoles can be opened and a snapshot
 * can hold its memory.
 */
export const LIVE_STATES: readonly VmState[] = ['running', 'paused'];

/** Lifecycle actions of the API: `POST /api/v1/vms/:vmId/<action>`. */
export const VM_ACTIONS = ['start', 'stop', 'reboot', 'suspend', 'resume'] as const;

/** A lifecycle action of the API. */
export type VmAction = (typeof VM_ACTIONS)[number];

/**
 * For each action: the states it runs from, and the states in which it is already done (asked
 * again, it answers the VM unchanged: actions are idempotent, so a client may retry safely).
 * Anything else is INVALID_STATE.
 */
export const VM_ACTION_RULES: Readonly<
  Record<VmAction, { from: readonly VmState[]; done: readonly VmState[] }>
> = {
  start: { from: ['stopped', 'crashed', 'error'], done: ['starting', 'running'] },
  // stop of a suspended, crashed or failed VM discards what is left of its run (a saved state)
  stop: {
    from: ['running', 'paused', 'suspended', 'crashed', 'error'],
    done: ['stopping', 'stopped'],
  },
  // a reboot of a paused VM resumes it
  reboot: { from: ['running', 'paused'], done: [] },
  suspend: { from: ['running', 'paused'], done: ['stopping', 'suspended'] },
  // resume of a suspended VM restores its saved state
  resume: { from: ['paused', 'suspended'], done: ['starting', 'running'] },
};

/** What asking `action` of a VM in `state` does: runs it, answers at once (done), or is refused. */
export function planVmAction(state: VmState, action: VmAction): 'run' | 'done' | 'refused' {
  const rules = VM_ACTION_RULES[action];
  if (rules.from.includes(state)) return 'run';
  if (rules.done.includes(state)) return 'done';
  return 'refused';
}

/** The actions that run from `state`, in the order a portal offers them. */
export function vmActionsFrom(state: VmState): VmAction[] {
  return VM_ACTIONS.filter((action) => VM_ACTION_RULES[action].from.includes(state));
}
