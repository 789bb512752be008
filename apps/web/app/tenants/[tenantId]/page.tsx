'use client';

import { useParams } from 'next/navigation';
import { useCallback, useEffect, useRef } from 'react';
import { ClassFiles } from '@/components/class-files';
import { ClassSettings } from '@/components/class-settings';
import { ClassVmTable } from '@/components/class-vm-table';
import { ConfirmButton } from '@/components/confirm-button';
import { ActionFeedback, type PageActions, usePageActions } from '@/components/page-actions';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { useVmEvents } from '@/components/use-vm-events';
import { api } from '@/lib/api';

/** A burst of changes (a class starting its labs at once) is read again once, this long after. */
const RELOAD_DELAY_MS = 500;

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
  const actions = usePageActions(reload);
  const reloadSoon = useDelayedReload(reload, RELOAD_DELAY_MS);
  // A change to a lab of the class (its state, a console opened or closed, a snapshot) arrives as
  // an event; the page then reads the class again. What the stream missed is read on reconnect.
  const vmIds = new Set(loaded.data?.vms.map((vm) => vm.id));
  useVmEvents(loaded.data !== undefined, {
    onOpen: reloadSoon,
    onVm: (vm) => {
      if (vm.tenantId === tenantId) reloadSoon();
    },
    onDeleted: (vmId) => {
      if (vmIds.has(vmId)) reloadSoon();
    },
  });

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
        Every lab in this class and who is connected to it now, updated as it changes.
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
      {data && <ClassFiles tenantId={tenantId} />}
      {data && (
        <ResetClassCard tenantId={tenantId} memberLabs={memberLabsOf(data)} actions={actions} />
      )}
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

/** `reload`, called once `delayMs` after the first of any number of calls in that time. */
function useDelayedReload(reload: () => void, delayMs: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      reload();
    }, delayMs);
  }, [reload, delayMs]);
}

/** How many labs the class's members (role member) have: what "Reset every member's lab" resets. */
function memberLabsOf(data: {
  vms: { ownerId: string }[];
  members: { userId: string; role: string }[];
}): number {
  const members = new Set(data.members.filter((m) => m.role === 'member').map((m) => m.userId));
  return data.vms.filter((vm) => members.has(vm.ownerId)).length;
}

/** Resets every member's lab to its image, after a confirmation that says what is lost. */
function ResetClassCard({
  tenantId,
  memberLabs,
  actions,
}: {
  tenantId: string;
  memberLabs: number;
  actions: PageActions;
}) {
  return (
    <section className="card" aria-labelledby="reset-class-title">
      <h2 id="reset-class-title">Start the class over</h2>
      <ActionFeedback actions={actions} />
      <p className="muted">
        Brings every member’s lab back to its image (a class template, or the image it was made
        from). One lab is reset from its own page.
      </p>
      <ConfirmButton
        label="Reset every member’s lab"
        question={`Lost for good, in ${memberLabs === 1 ? 'the 1 lab' : `all ${memberLabs} labs`} of the class’s members: everything written to their disks since they were made, their snapshots and suspended sessions. Running labs restart as new.`}
        confirmLabel="Reset them and lose it"
        danger
        disabled={memberLabs === 0}
        onConfirm={async () => {
          let summary = '';
          const done = await actions.run(async () => {
            const { reset, refused } = await api.resetClassLabs(tenantId);
            const notes = refused.map((lab) => `${lab.name}: ${lab.reason}`).join(' ');
            summary = `${reset.length === 1 ? '1 lab is' : `${reset.length} labs are`} being reset.${notes ? ` Not reset — ${notes}` : ''}`;
          });
          if (done) actions.show(summary);
        }}
      />
    </section>
  );
}
