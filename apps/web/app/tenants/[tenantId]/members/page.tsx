'use client';

import type { TenantRole } from '@labvisor/shared';
import { TENANT_ROLES } from '@labvisor/shared';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { InviteLinks } from '@/components/invite-links';
import { MemberTable, type MemberTableHandlers, ROLE_LABELS } from '@/components/member-table';
import { ActionFeedback, type PageActions, usePageActions } from '@/components/page-actions';
import { RosterImportCard } from '@/components/roster-import';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/** A tenant's members: roles, own limits inside the tenant quota, adding and removing people. */
export default function TenantMembersPage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  // Members first: the API refuses them to plain members and hides other tenants.
  const loaded = useApiLoad(me && tenantId, async () => {
    const members = await api.listMembers(tenantId);
    const [tenant, quota] = await Promise.all([api.getTenant(tenantId), api.quota(tenantId)]);
    return { members, tenant, quota };
  });
  const actions = usePageActions(loaded.reload);
  const changes = useMemberChanges(tenantId, actions);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;

  const { data } = loaded;
  // Instructors may list members; changing them is for the tenant's admins (the API decides).
  const canManage =
    me.user.isPlatformAdmin ||
    me.memberships.some((m) => m.tenantId === tenantId && m.role === 'admin');

  return (
    <SectionPage
      me={me}
      section={tenantSection(me, tenantId)}
      sectionLabel="Tenant"
      title={data ? `${data.tenant.name}: members` : 'Members'}
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="members-title">
        <h2 id="members-title">Members</h2>
        {!data ? (
          !loaded.error && <p className="muted">Loading members…</p>
        ) : (
          <>
            <p className="muted">
              Tenant quota: {data.quota.limits.runningVms} running VMs · {data.quota.limits.vcpus}{' '}
              vCPUs · {data.quota.limits.memoryMib} MiB memory · {data.quota.limits.diskGib} GiB
              disk. A member's own limits must fit inside it.
              {!canManage && ' Only admins of the tenant can change members.'}
            </p>
            {data.members.length === 0 ? (
              <p className="empty">This tenant has no members yet.</p>
            ) : (
              <MemberTable
                members={data.members}
                quota={data.quota}
                canManage={canManage}
                editing={changes.editing}
                limitsError={changes.limitsError}
                handlers={changes.handlers}
              />
            )}
          </>
        )}
      </section>
      {data && <InviteLinks tenantId={tenantId} canInviteAnyRole={canManage} />}
      {data && canManage && <RosterImportCard tenantId={tenantId} onApplied={loaded.reload} />}
      {canManage && data && (
        <section className="card" aria-labelledby="add-member-title">
          <h2 id="add-member-title">Add a member</h2>
          <AddMemberForm onAdd={changes.add} />
        </section>
      )}
    </SectionPage>
  );
}

/**
 * The changes a tenant admin makes to members, through the page's actions, and which member's
 * limits editor is open. A change that was made closes the editor; a refused limit shows in it.
 */
function useMemberChanges(tenantId: string, actions: PageActions) {
  const [limitsError, setLimitsError] = useState<string>();
  const [editing, setEditing] = useState<string>();

  const run = async (
    work: () => Promise<unknown>,
    done: string,
    onRefused?: (sentence: string) => void,
  ): Promise<boolean> => {
    setLimitsError(undefined);
    const succeeded = await actions.run(work, done, onRefused);
    if (succeeded) setEditing(undefined);
    return succeeded;
  };

  const handlers: MemberTableHandlers = {
    onEdit: (member, open) => {
      setLimitsError(undefined);
      setEditing(open ? member.userId : undefined);
    },
    onRole: (member, role) =>
      run(
        () => api.setMemberRole(tenantId, member.userId, role),
        `${member.name} is now ${ROLE_LABELS[role].toLowerCase()}.`,
      ),
    onLimits: (member, limits) =>
      run(
        () => api.setMemberLimits(tenantId, member.userId, limits),
        `Saved the limits of ${member.name}.`,
        setLimitsError,
      ),
    onRemove: (member) =>
      run(
        () => api.removeMember(tenantId, member.userId),
        `Removed ${member.name} from the tenant.`,
      ),
  };
  const add = (email: string, role: TenantRole) =>
    run(() => api.addMember(tenantId, { email, role }), `Added ${email} as ${role}.`);

  return { editing, limitsError, handlers, add };
}

function AddMemberForm({
  onAdd,
}: {
  onAdd: (email: string, role: TenantRole) => Promise<boolean>;
}) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<TenantRole>('member');
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    if (await onAdd(email.trim(), role)) setEmail('');
    setBusy(false);
  };
  return (
    <form onSubmit={submit}>
      <p className="muted small">
        The person needs an account first; a platform admin creates accounts. Adding someone who is
        already a member changes their role.
      </p>
      <div className="form-row">
        <div className="field grow">
          <label htmlFor="member-email">Email</label>
          <input
            id="member-email"
            type="email"
            required
            autoComplete="off"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="member-role">Role</label>
          <select
            id="member-role"
            value={role}
            onChange={(event) => setRole(event.target.value as TenantRole)}
          >
            {TENANT_ROLES.map((value) => (
              <option key={value} value={value}>
                {ROLE_LABELS[value]}
              </option>
            ))}
          </select>
        </div>
        <button className="button primary" type="submit" disabled={busy}>
          Add member
        </button>
      </div>
    </form>
  );
}
