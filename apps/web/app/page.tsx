'use client';

import type { Vm } from '@labvisor/shared';
import { useCallback, useEffect, useState } from 'react';
import { AppShell } from '@/components/app-shell';
import { HoursUsed } from '@/components/hours-used';
import { LaunchForm } from '@/components/launch-form';
import { useSession } from '@/components/use-session';
import { useVmEvents } from '@/components/use-vm-events';
import { VmList } from '@/components/vm-list';
import { api, describeError } from '@/lib/api';

export default function MyLabsPage() {
  const { me, error } = useSession();
  const [vms, setVms] = useState<Vm[]>();
  const [loadError, setLoadError] = useState<string>();
  /** Why a launch from a learning platform made no lab (quota, class hours, no default image). */
  const [launchError, setLaunchError] = useState<string>();

  useEffect(() => {
    setLaunchError(new URLSearchParams(window.location.search).get('error') ?? undefined);
  }, []);

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

  // Each change arrives as an event; what the stream missed while away is read when it reconnects.
  useVmEvents(me !== undefined, {
    onOpen: refresh,
    onVm: (changed) =>
      setVms((list) =>
        list?.some((vm) => vm.id === changed.id)
          ? list.map((vm) => (vm.id === changed.id ? changed : vm))
          : list && changed.ownerId === me?.user.id
            ? [...list, changed].sort((a, b) => a.name.localeCompare(b.name))
            : list,
      ),
    onDeleted: (vmId) => setVms((list) => list?.filter((vm) => vm.id !== vmId)),
  });

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
      {launchError && (
        <p className="alert error" role="alert">
          {launchError}
        </p>
      )}
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
