'use client';

import type { Vm } from '@labvisor/shared';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useCallback, useEffect, useState } from 'react';
import { AppShell } from '@/components/app-shell';
import { DesktopViewer } from '@/components/desktop-viewer';
import { RecordingsPanel } from '@/components/recordings-panel';
import { SerialTerminal } from '@/components/serial-terminal';
import { StateBadge } from '@/components/state-badge';
import { useSession } from '@/components/use-session';
import { api, describeError } from '@/lib/api';

const POLL_MS = 2000;

export default function VmPage() {
  const { vmId } = useParams<{ vmId: string }>();
  const { me, error } = useSession();
  const [vm, setVm] = useState<Vm>();
  const [loadError, setLoadError] = useState<string>();
  const [tab, setTab] = useState<'terminal' | 'desktop'>('terminal');

  const refresh = useCallback(() => {
    api.getVm(vmId).then(setVm, (caught: unknown) => setLoadError(describeError(caught)));
  }, [vmId]);
  useEffect(() => {
    if (!me) return;
    refresh();
    const timer = setInterval(refresh, POLL_MS);
    return () => clearInterval(timer);
  }, [me, refresh]);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const supervises =
    vm !== undefined &&
    (me.user.isPlatformAdmin ||
      me.memberships.some((m) => m.tenantId === vm.tenantId && m.role !== 'member'));
  const hasConsole = vm?.state === 'running' || vm?.state === 'paused';
  return (
    <AppShell me={me}>
      <p>
        <Link href="/">← My labs</Link>
      </p>
      {loadError && <p className="alert error">{loadError}</p>}
      {vm && (
        <>
          <h1>
            {vm.name} <StateBadge state={vm.state} />
          </h1>
          <p className="muted">
            {vm.vcpus} vCPU · {vm.memoryMib} MiB · {vm.diskGib} GiB
            {vm.stateReason ? ` — ${vm.stateReason}` : ''}
          </p>
          <section className="card">
            <div className="tabs" role="tablist" aria-label="Console">
              {(['terminal', 'desktop'] as const).map((name) => (
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
              ))}
            </div>
            {!hasConsole && (
              <p className="empty">
                {vm.state === 'starting'
                  ? 'The lab is starting…'
                  : 'Start the lab to use its consoles.'}
              </p>
            )}
            {hasConsole && tab === 'terminal' && <SerialTerminal vmId={vm.id} />}
            {hasConsole && tab === 'desktop' && <DesktopViewer vmId={vm.id} />}
          </section>
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
