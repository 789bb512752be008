'use client';

import type { Member, Quota, TenantRole } from '@labvisor/shared';
import { TENANT_ROLES } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';
import { ConfirmButton } from './confirm-button';

/** The limits a tenant admin can give one member, with their labels. */
const MEMBER_LIMITS = [
  { key: 'runningVms', label: 'Running VMs', unit: 'VMs' },
  { key: 'vcpus', label: 'vCPUs', unit: 'vCPUs' },
  { key: 'memoryMib', label: 'Memory (MiB)', unit: 'MiB' },
  { key: 'diskGib', label: 'Disk (GiB)', unit: 'GiB' },
  { key: 'vmHoursPerMonth', label: 'Hours a month', unit: 'hours a month' },
  { key: 'idleSuspendMinutes', label: 'Idle minutes', unit: 'idle minutes' },
] as const;

type MemberLimitKey = (typeof MEMBER_LIMITS)[number]['key'];

/** Each tenant role as the portal names it. */
export const ROLE_LABELS: Record<TenantRole, string> = {
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

/** What a member table asks of the page when an admin changes a member. */
export interface MemberTableHandlers {
  /** Opens or closes the member's limits editor. */
  onEdit: (member: Member, open: boolean) => void;
  onRole: (member: Member, role: TenantRole) => void;
  onLimits: (member: Member, limits: Member['limits']) => void;
  onRemove: (member: Member) => void;
}

/**
 * A tenant's members with their roles and own limits; for the tenant's admins (`canManage`) a
 * role menu, a limits editor below the row being edited and a Remove button on every row.
 */
export function MemberTable({
  members,
  quota,
  canManage,
  editing,
  limitsError,
  handlers,
}: {
  members: Member[];
  quota: Quota;
  canManage: boolean;
  /** The user id of the member whose limits are being edited. */
  editing: string | undefined;
  limitsError: string | undefined;
  handlers: MemberTableHandlers;
}) {
  return (
    <table className="table members">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Role</th>
          <th scope="col">Hours this month</th>
          <th scope="col">Own limits</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {members.map((member) => (
          <MemberRow
            key={member.userId}
            member={member}
            quota={quota}
            canManage={canManage}
            editing={editing === member.userId}
            limitsError={limitsError}
            onEdit={(open) => handlers.onEdit(member, open)}
            onRole={(role) => handlers.onRole(member, role)}
            onLimits={(limits) => handlers.onLimits(member, limits)}
            onRemove={() => handlers.onRemove(member)}
          />
        ))}
      </tbody>
    </table>
  );
}

/** One member's row, and below it the member's limits editor while it is open. */
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
        <td>
          {member.vmHoursThisMonth}
          {member.limits?.vmHoursPerMonth !== undefined && ` of ${member.limits.vmHoursPerMonth}`}
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
                question={
                  member.homeDiskGib === null
                    ? `Remove ${member.name} from the tenant?`
                    : `Remove ${member.name} from the tenant? Their home disk (${member.homeDiskGib} GiB) is deleted with everything on it.`
                }
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
          <td colSpan={5}>
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

/** A member's own limits, each empty (the tenant quota applies) or a number. */
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
              placeholder={
                key === 'idleSuspendMinutes' ? "the class's" : `up to ${quota.limits[key]}`
              }
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
