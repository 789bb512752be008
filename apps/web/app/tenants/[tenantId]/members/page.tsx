'use client';

import type { Member, Quota, TenantRole } from '@labvisor/shared';
import { TENANT_ROLES } from '@labvisor/shared';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/** The limits a tenant admin can give one member, with their labels. */
const MEMBER_LIMITS = [
  { key: 'runningVms', label: 'Running VMs', unit: 'VMs' },
  { key: 'vcpus', label: 'vCPUs', unit: 'vCPUs' },
  { key: 'memoryMib', label: 'Memory (MiB)', unit: 'MiB' },
  { key: 'diskGib', label: 'Disk (GiB)', unit: 'GiB' },
] as const;

type MemberLimitKey = (typeof MEMBER_LIMITS)[number]['key'];

const ROLE_LABELS: Record<TenantRole, string> = {
  member: 'Member',
  instructor: 'Instructor',
  admin: 'Admin',
};

/** A member's limits in words: "2 VMs · 4 vCPUs", or that only the tenant quota applies. */
function describeLimits(limits: Member['limits']): string {
  const parts = MEMBER_LIMITS.flatMap(({ key, unit }) =>
    limits?.[key] === undefined ? [] : [`${limits[key]} ${unit}`],
  );
  return parts.length > 0 ? parts.join(' · ') : 'Tenant quota only';
}

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
  const [limitsError, setLimitsError] = useState<string>();
  const [editing, setEditing] = useState<string>();

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

  /** A change that was made closes the form it came from; a refused limit shows beside its form. */
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
              <table className="table members">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Role</th>
                    <th scope="col">Own limits</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.members.map((member) => (
                    <MemberRow
                      key={member.userId}
                      member={member}
                      quota={data.quota}
                      canManage={canManage}
                      editing={editing === member.userId}
                      limitsError={limitsError}
                      onEdit={(open) => {
                        setLimitsError(undefined);
                        setEditing(open ? member.userId : undefined);
                      }}
                      onRole={(role) =>
                        run(
                          () => api.setMemberRole(tenantId, member.userId, role),
                          `${member.name} is now ${ROLE_LABELS[role].toLowerCase()}.`,
                        )
                      }
                      onLimits={(limits) =>
                        run(
                          () => api.setMemberLimits(tenantId, member.userId, limits),
                          `Saved the limits of ${member.name}.`,
                          setLimitsError,
                        )
                      }
                      onRemove={() =>
                        run(
                          () => api.removeMember(tenantId, member.userId),
                          `Removed ${member.name} from the tenant.`,
                        )
                      }
                    />
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </section>
      {canManage && data && (
        <section className="card" aria-labelledby="add-member-title">
          <h2 id="add-member-title">Add a member</h2>
          <AddMemberForm
            onAdd={(email, role) =>
              run(() => api.addMember(tenantId, { email, role }), `Added ${email} as ${role}.`)
            }
          />
        </section>
      )}
    </SectionPage>
  );
}

function MemberRow({
  member,
  quota,
  canManage,
  editing,
  limitsError,
  onEdit,
  onRole,
  onLimits,
  onRemove,
}: {
  member: Member;
  quota: Quota;
  canManage: boolean;
  editing: boolean;
  limitsError: string | undefined;
  onEdit: (open: boolean) => void;
  onRole: (role: TenantRole) => void;
  onLimits: (limits: Member['limits']) => void;
  onRemove: () => void;
}) {
  return (
    <>
      <tr>
        <td>
          <div>{member.name}</div>
          <div className="muted small">{member.email}</div>
        </td>
        <td>
          {canManage ? (
            <select
              className="inline-select"
              aria-label={`Role of ${member.name}`}
              value={member.role}
              onChange={(event) => onRole(event.target.value as TenantRole)}
            >
              {TENANT_ROLES.map((role) => (
                <option key={role} value={role}>
                  {ROLE_LABELS[role]}
                </option>
              ))}
            </select>
          ) : (
            <span className="badge">{ROLE_LABELS[member.role]}</span>
          )}
        </td>
        <td>{describeLimits(member.limits)}</td>
        <td className="actions">
          {canManage && (
            <>
              <button
                className="button"
                type="button"
                aria-expanded={editing}
                aria-label={`Edit limits of ${member.name}`}
                onClick={() => onEdit(!editing)}
              >
                Edit limits
              </button>
              <ConfirmButton
                label="Remove"
                ariaLabel={`Remove ${member.name}`}
                question={`Remove ${member.name} from the tenant?`}
                confirmLabel="Remove member"
                danger
                onConfirm={onRemove}
              />
            </>
          )}
        </td>
      </tr>
      {editing && (
        <tr className="inline-editor">
          <td colSpan={4}>
            <LimitsForm
              member={member}
              quota={quota}
              error={limitsError}
              onSave={onLimits}
              onCancel={() => onEdit(false)}
            />
          </td>
        </tr>
      )}
    </>
  );
}

function LimitsForm({
  member,
  quota,
  error,
  onSave,
  onCancel,
}: {
  member: Member;
  quota: Quota;
  error: string | undefined;
  onSave: (limits: Member['limits']) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<Record<MemberLimitKey, string>>(
    () =>
      Object.fromEntries(
        MEMBER_LIMITS.map(({ key }) => [key, member.limits?.[key]?.toString() ?? '']),
      ) as Record<MemberLimitKey, string>,
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const limits = Object.fromEntries(
      MEMBER_LIMITS.flatMap(({ key }) => (values[key] === '' ? [] : [[key, Number(values[key])]])),
    );
    onSave(Object.keys(limits).length > 0 ? limits : null);
  };
  return (
    <form onSubmit={submit} aria-label={`Limits of ${member.name}`}>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <p className="muted small">
        Leave a field empty to let {member.name} use up to the tenant's quota.
      </p>
      <div className="form-row">
        {MEMBER_LIMITS.map(({ key, label }) => (
          <div className="field" key={key}>
            <label htmlFor={`${member.userId}-${key}`}>{label}</label>
            <input
              id={`${member.userId}-${key}`}
              type="number"
              min={0}
              step={1}
              inputMode="numeric"
              placeholder={`up to ${quota.limits[key]}`}
              value={values[key]}
              onChange={(event) => setValues({ ...values, [key]: event.target.value })}
            />
          </div>
        ))}
      </div>
      <div className="toolbar">
        <button className="button primary" type="submit">
          Save limits
        </button>
        <button className="button" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
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
