'use client';

import { LIVE_STATES, type Vm, type VmAction, vmActionsFrom } from '@labvisor/shared';
import Link from 'next/link';
import { api } from '@/lib/api';
import { ActionFeedback, type PageActions, usePageActions } from './page-actions';
import { StateBadge } from './state-badge';

/** The lifecycle actions the lab lists offer as buttons (reboot is on the VM page only). */
const LIST_ACTIONS: readonly VmAction[] = ['start', 'resume', 'suspend', 'stop'];

/**
 * The actions a VM's state allows, from the shared lifecycle table (a container has no suspend);
 * the server still decides.
 */
export function actionsFor(vm: Vm, offered: readonly VmAction[] = LIST_ACTIONS): VmAction[] {
  const legal = vmActionsFrom(vm.state);
  return offered.filter(
    (action) =>
      legal.includes(action) && !(action === 'suspend' && vm.instanceType === 'container'),
  );
}

/** Whether a VM has a desktop (a system container has only its terminal). */
export function hasDesktop(vm: Vm): boolean {
  return vm.instanceType !== 'container';
}

/**
 * Whether a VM's consoles can be opened: its guest runs or is paused, or it is suspended (opening
 * a console resumes it where it was).
 */
export function hasConsole(vm: Vm): boolean {
  return LIVE_STATES.includes(vm.state) || vm.state === 'suspended';
}

/** A VM's lifecycle buttons for its state, and the link to its snapshots. */
export function VmLifecycleButtons({ vm, actions }: { vm: Vm; actions: PageActions }) {
  return (
    <>
      {actionsFor(vm).map((action) => (
        <button
          key={action}
          className="button"
          type="button"
          onClick={() => actions.run(() => api.vmAction(vm.id, action))}
          aria-label={`${ACTION_LABELS[action]} ${vm.name}`}
        >
          {ACTION_LABELS[action]}
        </button>
      ))}
      <Link
        className="button"
        href={`/vms/${vm.id}#snapshots`}
        aria-label={`Snapshots of ${vm.name}`}
      >
        Snapshots
      </Link>
    </>
  );
}

/** The label of each action's button. */
export const ACTION_LABELS: Record<VmAction, string> = {
  start: 'Start',
  stop: 'Stop',
  reboot: 'Reboot',
  suspend: 'Suspend',
  resume: 'Resume',
};

/** The user's labs with their state, resources and quick actions. */
export function VmList({ vms, onChange }: { vms: Vm[]; onChange: () => void }) {
  const actions = usePageActions(onChange);
  if (vms.length === 0) {
    return <p className="empty">You have no labs yet. Launch one below.</p>;
  }
  return (
    <>
      <ActionFeedback actions={actions} />
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Resources</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {vms.map((vm) => (
            <tr key={vm.id}>
              <td className="nowrap">
                <Link href={`/vms/${vm.id}`}>{vm.name}</Link>
              </td>
              <td>
                <StateBadge state={vm.state} />
                {vm.stateReason && ['error', 'crashed', 'unavailable'].includes(vm.state) && (
                  <div className="muted small">{vm.stateReason}</div>
                )}
              </td>
              <td className="muted nowrap">
                {vm.vcpus} vCPU · {vm.memoryMib} MiB · {vm.diskGib} GiB
              </td>
              <td className="actions">
                {hasConsole(vm) && (
                  <>
                    <Link
                      className="button"
                      href={`/vms/${vm.id}`}
                      aria-label={`Open the terminal of ${vm.name}`}
                    >
                      Terminal
                    </Link>
                    {hasDesktop(vm) && (
                      <Link
                        className="button"
                        href={`/vms/${vm.id}?tab=desktop`}
                        aria-label={`Open the desktop of ${vm.name}`}
                      >
                        Desktop
                      </Link>
                    )}
                  </>
                )}
                <VmLifecycleButtons vm={vm} actions={actions} />
                <button
                  className="button danger"
                  type="button"
                  aria-label={`Delete ${vm.name}`}
                  onClick={() => {
                    if (
                      window.confirm(`Delete "${vm.name}" and its disk? This cannot be undone.`)
                    ) {
                      void actions.run(() => api.deleteVm(vm.id), `Deleted ${vm.name}.`);
                    }
                  }}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
