'use client';

import type { BootPath, MeResponse, Vm, VmAction } from '@labvisor/shared';
import Link from 'next/link';
import { useParams, useSearchParams } from 'next/navigation';
import { Suspense, useCallback, useEffect, useState } from 'react';
import { AppShell } from '@/components/app-shell';
import { DesktopViewer } from '@/components/desktop-viewer';
import { LabFilesPanel } from '@/components/lab-files-panel';
import { RecordingsPanel } from '@/components/recordings-panel';
import { SerialTerminal } from '@/components/serial-terminal';
import { SnapshotTimeline } from '@/components/snapshot-timeline';
import { StartOverPanel } from '@/components/start-over-panel';
import { StateBadge } from '@/components/state-badge';
import { useSession } from '@/components/use-session';
import { useTabLeavesConsole } from '@/components/use-tab-leaves-console';
import { useVmEvents } from '@/components/use-vm-events';
import { VmActivityList } from '@/components/vm-activity';
import { ACTION_LABELS, actionsFor, hasConsole, hasDesktop } from '@/components/vm-list';
import { VmNetwork } from '@/components/vm-network';
import { api, describeError } from '@/lib/api';

/** The backstop poll of the VM (its change events bring each change at once). */

/** The console a VM page shows. */
type ConsoleTab = 'terminal' | 'desktop';

/** The VM page: `?mode=view` opens its consoles to watch only (the server drops a watcher's input). */
export default function VmPageWithSearch() {
  return (
    <Suspense fallback={<div className="center muted">Loading…</div>}>
      <VmPage />
    </Suspense>
  );
}

function VmPage() {
  const { vmId } = useParams<{ vmId: string }>();
  const searchParams = useSearchParams();
  const watching = searchParams.get('mode') === 'view';
  const mode = watching ? 'view' : 'interactive';
  const { me, error } = useSession();
  const { vm, loadError, actionError, changes, act, changed } = useVmControl(vmId, me);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const supervisedClass =
    vm === undefined
      ? undefined
      : me.memberships.find((m) => m.tenantId === vm.tenantId && m.role !== 'member');
  const supervises = me.user.isPlatformAdmin || supervisedClass !== undefined;
  return (
    <AppShell me={me}>
      <p>
        {supervisedClass && vm?.ownerId !== me.user.id ? (
          <Link href={`/tenants/${supervisedClass.tenantId}`}>← {supervisedClass.tenantName}</Link>
        ) : (
          <Link href="/">← My labs</Link>
        )}
      </p>
      {loadError && <p className="alert error">{loadError}</p>}
      {vm && (
        <>
          <VmHeading vm={vm} onAction={act} />
          {actionError && (
            <p className="alert error" role="alert">
              {actionError}
            </p>
          )}
          {watching && (
            <p className="banner watch" role="status">
              You are watching: what you type is not sent to the VM.{' '}
              <Link href={`/vms/${vm.id}`}>Take over</Link>
            </p>
          )}
          <VmConsoles
            vm={vm}
            mode={mode}
            initialTab={searchParams.get('tab') === 'desktop' ? 'desktop' : 'terminal'}
          />
          <div className="vm-panels">
            <section className="card" id="snapshots" aria-labelledby="snapshots-title">
              <h2 id="snapshots-title">Snapshots</h2>
              <SnapshotTimeline vm={vm} onChange={changed} />
            </section>
            <section className="card" aria-labelledby="activity-title">
              <h2 id="activity-title">Recent activity</h2>
              <VmActivityList
                vmId={vm.id}
                version={`${vm.state}:${vm.currentSnapshotId}:${changes}`}
              />
            </section>
            <VmNetwork vm={vm} onChanged={changed} />
            {vm.instanceType !== 'container' && <LabFilesPanel vm={vm} />}
            <StartOverPanel vm={vm} supervises={supervises} onChange={changed} />
          </div>
          {supervises && (
            <section className="card" aria-labelledby="recordings-title">
              <h2 id="recordings-title">Console recordings</h2>
              <RecordingsPanel vmId={vm.id} />
            </section>
          )}
        </>
      )}
    </AppShell>
  );
}

/**
 * The VM, followed through change events once the session is known (read again each time the
 * event stream connects), and its lifecycle actions. `changes` counts the changes made from this
 * page or announced by the server, for the panels that show what changed.
 */
function useVmControl(vmId: string, me: MeResponse | undefined) {
  const [vm, setVm] = useState<Vm>();
  const [loadError, setLoadError] = useState<string>();
  const [actionError, setActionError] = useState<string>();
  const [changes, setChanges] = useState(0);

  const refresh = useCallback(() => {
    api.getVm(vmId).then(
      (fresh) => {
        setVm(fresh);
        setLoadError(undefined);
      },
      (caught: unknown) => setLoadError(describeError(caught)),
    );
  }, [vmId]);
  useEffect(() => {
    if (me) refresh();
  }, [me, refresh]);
  useVmEvents(me !== undefined, {
    onOpen: refresh,
    onVm: (changed) => {
      if (changed.id !== vmId) return;
      setVm(changed);
      setChanges((count) => count + 1);
    },
  });

  const changed = () => {
    setChanges((count) => count + 1);
    refresh();
  };
  const act = async (action: VmAction) => {
    setActionError(undefined);
    try {
      setVm(await api.vmAction(vmId, action));
    } catch (caught) {
      setActionError(describeError(caught));
    }
    changed();
  };
  return { vm, loadError, actionError, changes, act, changed };
}

/** How the running guest came to run, as its page says it. */
const BOOT_PATH_LABELS: Record<BootPath, string> = {
  template: 'started instantly from its image’s template',
  pool: 'taken ready from its class’s warm pool',
  cold: 'booted',
  'saved-state': 'resumed where it was suspended',
  snapshot: 'started from a snapshot',
};

/** The VM's name, state and size, and the lifecycle actions its state allows. */
function VmHeading({ vm, onAction }: { vm: Vm; onAction: (action: VmAction) => void }) {
  return (
    <div className="vm-heading">
      <div>
        <h1>
          {vm.name} <StateBadge state={vm.state} />
        </h1>
        <p className="muted">
          {vm.vcpus} vCPU · {vm.memoryMib} MiB · {vm.diskGib} GiB
          {vm.bootPath && (vm.state === 'running' || vm.state === 'paused')
            ? ` · ${BOOT_PATH_LABELS[vm.bootPath]}`
            : ''}
          {vm.stateReason ? ` — ${vm.stateReason}` : ''}
        </p>
      </div>
      <div className="toolbar">
        {actionsFor(vm, ['start', 'resume', 'reboot', 'suspend', 'stop']).map((action) => (
          <button key={action} className="button" type="button" onClick={() => onAction(action)}>
            {ACTION_LABELS[action]}
          </button>
        ))}
      </div>
    </div>
  );
}

/** The VM's consoles, terminal or desktop in tabs, while it runs; `mode` view only watches. */
function VmConsoles({
  vm,
  mode,
  initialTab,
}: {
  vm: Vm;
  mode: 'view' | 'interactive';
  initialTab: ConsoleTab;
}) {
  const [tab, setTab] = useState<ConsoleTab>(hasDesktop(vm) ? initialTab : 'terminal');
  const { tabLeaves, setTabLeaves, tabLeavesRef } = useTabLeavesConsole();
  const consoleOpen = hasConsole(vm);
  return (
    <section className="card">
      <div className="tabs" role="tablist" aria-label="Console">
        {(hasDesktop(vm) ? (['terminal', 'desktop'] as const) : (['terminal'] as const)).map(
          (name) => (
            <button
              key={name}
              type="button"
              role="tab"
              aria-selected={tab === name}
              className={`tab ${tab === name ? 'active' : ''}`}
              onClick={() => setTab(name)}
            >
              {name === 'terminal' ? 'Terminal' : 'Desktop'}
            </button>
          ),
        )}
      </div>
      <label className="check small">
        <input
          type="checkbox"
          checked={tabLeaves}
          onChange={(event) => setTabLeaves(event.target.checked)}
        />
        The Tab key leaves the console (otherwise Tab goes to the lab, where a shell completes with
        it; a keyboard user turns this on to move on from the console)
      </label>
      {!consoleOpen && (
        <p className="empty">
          {vm.state === 'starting' ? 'The lab is starting…' : 'Start the lab to use its consoles.'}
        </p>
      )}
      {vm.state === 'suspended' && (
        <p className="muted" role="status">
          {vm.stateReason ?? 'The lab was suspended.'} It resumes where it was.
        </p>
      )}
      {/* Keyed on the boot: a VM restarted under the page (a disk restore) gets new consoles. */}
      {consoleOpen && tab === 'terminal' && (
        <SerialTerminal key={vm.startedAt} vmId={vm.id} mode={mode} tabLeaves={tabLeavesRef} />
      )}
      {consoleOpen && tab === 'desktop' && hasDesktop(vm) && (
        <DesktopViewer key={vm.startedAt} vmId={vm.id} mode={mode} tabLeaves={tabLeavesRef} />
      )}
    </section>
  );
}
