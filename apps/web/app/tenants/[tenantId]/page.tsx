'use client';

import type { ConsoleConnection, Member, Tenant, Vm } from '@labvisor/shared';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useCallback, useEffect, useState } from 'react';
import { AppShell } from '@/components/app-shell';
import { ClassVmTable } from '@/components/class-vm-table';
import { useSession } from '@/components/use-session';
import { api, describeError } from '@/lib/api';

const POLL_MS = 3000;

/** The class view for instructors and admins: every VM of the tenant, live. */
export default function ClassPage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  const [tenant, setTenant] = useState<Tenant>();
  const [members, setMembers] = useState<Member[]>();
  const [vms, setVms] = useState<Vm[]>();
  const [connections, setConnections] = useState<ConsoleConnection[]>([]);
  const [refused, setRefused] = useState<string>();
  const [loadError, setLoadError] = useState<string>();

  const refresh = useCallback(() => {
    Promise.all([api.listVms(tenantId), api.tenantConsoles(tenantId)]).then(
      ([list, live]) => {
        setVms(list);
        setConnections(live);
        setLoadError(undefined);
      },
      (caught: unknown) => setLoadError(describeError(caught)),
    );
  }, [tenantId]);

  useEffect(() => {
    if (!me) return;
    let timer: ReturnType<typeof setInterval> | undefined;
    // The class's consoles answer "not allowed" to members: then the page shows only that.
    Promise.all([api.getTenant(tenantId), api.tenantConsoles(tenantId), api.listMembers(tenantId)])
      .then(([found, live, people]) => {
        setTenant(found);
        setConnections(live);
        setMembers(people);
        refresh();
        timer = setInterval(refresh, POLL_MS);
      })
      .catch((caught: unknown) => setRefused(describeError(caught)));
    return () => clearInterval(timer);
  }, [me, tenantId, refresh]);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const isTenantAdmin =
    me.user.isPlatformAdmin ||
    me.memberships.some((m) => m.tenantId === tenantId && m.role === 'admin');
  return (
    <AppShell me={me}>
      {refused ? (
        <>
          <h1>Class</h1>
          <p className="alert error" role="alert">
            You cannot open this class page. {refused}
          </p>
          <p>
            <Link href="/">← My labs</Link>
          </p>
        </>
      ) : !tenant || !members ? (
        <p className="muted">Loading the class…</p>
      ) : (
        <>
          <div className="vm-heading">
            <div>
              <h1>{tenant.name}</h1>
              <p className="muted">
                Every lab in this class and who is connected to it now. Updates every few seconds.
              </p>
            </div>
            {isTenantAdmin && (
              <nav className="toolbar" aria-label="Class administration">
                <Link className="button" href={`/tenants/${tenantId}/members`}>
                  Members
                </Link>
                <Link className="button" href={`/tenants/${tenantId}/usage`}>
                  Usage
                </Link>
              </nav>
            )}
          </div>
          <section className="card" aria-labelledby="class-labs-title">
            <h2 id="class-labs-title" className="visually-hidden">
              Labs
            </h2>
            {loadError && <p className="alert error">{loadError}</p>}
            {vms ? (
              <ClassVmTable
                vms={vms}
                members={members}
                connections={connections}
                onChange={refresh}
              />
            ) : (
              <p className="muted">Loading labs…</p>
            )}
          </section>
        </>
      )}
    </AppShell>
  );
}
