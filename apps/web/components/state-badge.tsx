import type { VmState } from '@labvisor/shared';

const LABELS: Record<VmState, string> = {
  stopped: 'Stopped',
  starting: 'Starting…',
  running: 'Running',
  paused: 'Paused',
  suspended: 'Suspended',
  stopping: 'Stopping…',
  crashed: 'Crashed',
  error: 'Error',
  unavailable: 'Unavailable',
};

/** A VM's state as a coloured label. */
export function StateBadge({ state }: { state: VmState }) {
  return <span className={`badge state-${state}`}>{LABELS[state]}</span>;
}
