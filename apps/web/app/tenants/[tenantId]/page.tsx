'use client';

import { useParams } from 'next/navigation';
import { ClassSettings } from '@/components/class-settings';
import { ClassVmTable } from '@/components/class-vm-table';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad, usePolling } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

const POLL_MS = 3000;

/** The class view for instructors and admins: every VM of the tenant and who is connected, live. */
export default function ClassPage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  // The class's consoles answer "not allowed" to members: asked first, so a refusal stops here.
  const loaded = useApiLoad(me && tenantId, async () => {
    const connections = await api.tenantConsoles(tenantId);
    const [tenant, members, vms] = await Promise.all([
      api.getTenant(tenantId),
      api.listMembers(tenantId),
      api.listVms(tenantId),
    ]);
    return { connections, tenant, members, vms };
  });
  const { reload } = loaded;
  const ready = loaded.data !== undefined;
  usePolling(ready, reload, POLL_MS);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const { data } = loaded;
  const canManage =
    me.user.isPlatformAdmin ||
    me.memberships.some((m) => m.tenantId === tenantId && m.role === 'admin');
  return (
    <SectionPage
      me={me}
      section={tenantSection(me, tenantId)}
      sectionLabel="Class"
      title={data ? data.tenant.name : 'Class'}
      refusal={loaded.refusal}
    >
      <p className="muted">
        Every lab in this class and who is connected to it now. Updates every few seconds.
      </p>
      <section className="card" aria-labelledby="class-labs-title">
        <h2 id="class-labs-title" className="visually-hidden">
          Labs
        </h2>
        {loaded.error && <p className="alert error">{loaded.error}</p>}
        {data ? (
          <ClassVmTable
            vms={data.vms}
            members={data.members}
            connections={data.connections}
            onChange={reload}
          />
        ) : (
          <p className="muted">Loading the class…</p>
        )}
      </section>
      {data && canManage && (
        <ClassSettings
          key={data.tenant.id}
          tenant={data.tenant}
          platformAdmin={me.user.isPlatformAdmin}
        />
      )}
    </SectionPage>
  );
}
