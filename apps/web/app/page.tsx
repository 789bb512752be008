'use client';

import type { Vm } from '@labvisor/shared';
import { useCallback, useEffect, useState } from 'react';
import { AppShell } from '@/components/app-shell';
import { HoursUsed } from '@/components/hours-used';
import { LaunchForm } from '@/components/launch-form';
import { useSession } from '@/components/use-session';
import { VmList } from '@/components/vm-list';
import { api, describeError } from '@/lib/api';

const POLL_MS = 2000;
const TRANSITIONAL = new Set(['starting', 'stopping']);

export default function MyLabsPage() {
  const { me, error } = useSession();
  const [vms, setVms] = useState<Vm[]>();
  const [loadError, setLoadError] = useState<string>();

  const refresh = useCallback(() => {
    api.listVms().then(
      (list) => {
        setVms(list);
        setLoadError(undefined);
      },
      (caught: unknown) => setLoadError(describeError(caught)),
    );
  }, []);

  useEffect(() => {
    if (me) refresh();
  }, [me, refresh]);

  // While a lab starts or stops, follow it.
  const busy = vms?.some((vm) => TRANSITIONAL.has(vm.state)) ?? false;
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(refresh, POLL_MS);
    return () => clearInterval(timer);
  }, [busy, refresh]);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  return (
    <AppShell me={me}>
      <h1>My labs</h1>
      {me.memberships.length > 0 && (
        <p className="muted">
          {me.memberships.map((m) => `${m.tenantName} (${m.role})`).join(' · ')}
        </p>
      )}
      <HoursUsed memberships={me.memberships} />
      <section className="card" aria-labelledby="labs-title">
        <h2 id="labs-title" className="visually-hidden">
          Labs
        </h2>
        {loadError && <p className="alert error">{loadError}</p>}
        {vms ? <VmList vms={vms} onChange={refresh} /> : <p className="muted">Loading labs…</p>}
      </section>
      <section className="card" aria-labelledby="launch-title">
        <h2 id="launch-title">Launch a lab</h2>
        <LaunchForm memberships={me.memberships} onLaunched={refresh} />
      </section>
    </AppShell>
  );
}
