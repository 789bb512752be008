import type { Engine } from '@labvisor/engine';
import { PROCESS_STATES, type VmAction, type VmState } from '@labvisor/shared';
import type { VmRow } from '../../db/queries/vms.js';

/** What a lifecycle action does to a VM, once the lifecycle table allowed it. */
export interface ActionPlan {
  /** The state the VM answers in. */
  state: VmState;
  /** The state it should end in. */
  desired: VmRow['desired_state'];
  /** Whether it needs admission (it takes host resources again). */
  admission: boolean;
  /** The engine call, run after the answer. */
  run: () => Promise<unknown>;
}

/** What `action` does to `vm`: its answered and desired states, admission and engine call. */
export function planAction(engine: Engine, vm: VmRow, action: VmAction): ActionPlan {
  switch (action) {
    case 'start':
      return {
        state: 'starting',
        desired: 'running',
        admission: true,
        run: () => engine.startVm(vm.id),
      };
    case 'resume':
      return vm.state === 'paused'
        ? {
            state: 'running',
            desired: 'running',
            admission: false,
            run: () => engine.resumeVm(vm.id),
          }
        : {
            state: 'starting',
            desired: 'running',
            admission: true,
            run: () => engine.startVm(vm.id),
          };
    case 'stop':
      return {
        // A VM without a process (suspended, crashed, failed) is stopped at once.
        state: PROCESS_STATES.includes(vm.state) ? 'stopping' : 'stopped',
        desired: 'stopped',
        admission: false,
        // A VM whose creation failed in the engine has nothing left to stop.
        run: () => engine.stopVm(vm.id).catch(ignoreNotFound),
      };
    case 'suspend':
      return {
        state: 'stopping',
        desired: 'suspended',
        admission: false,
        run: () => engine.suspendVm(vm.id),
      };
    case 'reboot':
      return {
        state: 'running',
        desired: 'running',
        admission: false,
        run: () => engine.rebootVm(vm.id),
      };
  }
}

/** Swallows the engine's NOT_FOUND (a VM it does not know), rethrows anything else. */
export function ignoreNotFound(error: unknown): undefined {
  if ((error as { code?: string }).code === 'NOT_FOUND') return undefined;
  throw error;
}
