'use client';

import { useParams } from 'next/navigation';
import { SectionPage, tenantSection } from '@/components/section-page';
import { UsageChart } from '@/components/usage-chart';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

const DAYS = 30;

/** A tenant's VM-hours per day and member over the last 30 days (tenant and platform admins). */
export default function TenantUsagePage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  // Usage first: it is what only admins may see, so a refusal stops here.
  const loaded = useApiLoad(me && tenantId, async () => {
    const usage = await api.tenantUsage(tenantId, DAYS);
    const [tenant, quota] = await Promise.all([api.getTenant(tenantId), api.quota(tenantId)]);
    return { usage, tenant, quota };
  });

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const { data } = loaded;
  return (
    <SectionPage
      me={me}
      section={tenantSection(me, tenantId)}
      sectionLabel="Tenant"
      title={data ? `${data.tenant.name}: usage` : 'Usage'}
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <section className="card" aria-labelledby="usage-title">
        <h2 id="usage-title">VM-hours per day, last {DAYS} days</h2>
        {!data ? (
          !loaded.error && <p className="muted">Loading usage…</p>
        ) : (
          <>
            <p className="muted">
              Days are UTC; a VM still running counts up to now. This month the tenant used{' '}
              {data.quota.usage.vmHoursPerMonth} of its {data.quota.limits.vmHoursPerMonth}{' '}
              VM-hours.
            </p>
            {data.usage.items.length === 0 ? (
              <p className="empty">No VM ran in this tenant in the last {DAYS} days.</p>
            ) : (
              <UsageChart usage={data.usage} />
            )}
          </>
        )}
      </section>
    </SectionPage>
  );
}
