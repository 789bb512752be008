'use client';

import { useParams } from 'next/navigation';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { ScheduleForm } from '@/components/schedule-form';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/**
 * A tenant's class hours (instructors and admins): when a session ends the class's running labs
 * are suspended with their work kept, and before the next they come back; outside them students
 * start labs only if the class allows it.
 */
export default function TenantSchedulePage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  const loaded = useApiLoad(me && tenantId, async () => {
    const [schedule, tenant] = await Promise.all([
      api.getSchedule(tenantId),
      api.getTenant(tenantId),
    ]);
    return { schedule, tenant };
  });
  const actions = usePageActions(loaded.reload);

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
      title={data ? `${data.tenant.name}: class hours` : 'Class hours'}
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="schedule-title">
        <h2 id="schedule-title">Class hours</h2>
        <p className="muted">
          When a session ends, the class’s running labs are suspended, their work kept; a few
          minutes before the next they come back by themselves.
        </p>
        {data && (
          <p role="status">
            {data.schedule.schedule === null
              ? 'No class hours: labs run whenever their students start them.'
              : data.schedule.inClassHours
                ? 'Class hours are on now.'
                : 'Outside class hours now.'}
          </p>
        )}
        {data && (
          <ScheduleForm
            // A saved schedule shows as saved (the form starts again from it).
            key={JSON.stringify(data.schedule.schedule)}
            initial={data.schedule.schedule}
            onSave={(schedule) =>
              actions.run(() => api.putSchedule(tenantId, schedule), 'Class hours saved.')
            }
          />
        )}
        {data?.schedule.schedule && (
          <button
            className="button"
            type="button"
            onClick={() => actions.run(() => api.deleteSchedule(tenantId), 'Class hours removed.')}
          >
            Remove class hours
          </button>
        )}
      </section>
    </SectionPage>
  );
}
