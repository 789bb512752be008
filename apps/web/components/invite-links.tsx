'use client';

import type { CreateInviteRequest, Invite, TenantRole } from '@labvisor/shared';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { ROLE_LABELS } from '@/components/member-table';
import { api, describeError } from '@/lib/api';

/** How an invite stands, in words. */
function describeInvite(invite: Invite): string {
  const uses = `${invite.uses}${invite.maxUses === null ? '' : ` of ${invite.maxUses}`} joined`;
  if (invite.revokedAt) return `revoked · ${uses}`;
  if (!invite.usable) return `no longer usable · ${uses}`;
  const expiry = invite.expiresAt
    ? `until ${new Date(invite.expiresAt).toLocaleDateString()}`
    : 'no expiry';
  return `${uses} · ${expiry}`;
}

/**
 * A tenant's invite links (instructors and admins): make one (shown once, to copy), see how each
 * was used, revoke one. Instructors invite members; admins any role.
 */
export function InviteLinks({
  tenantId,
  canInviteAnyRole,
}: {
  tenantId: string;
  canInviteAnyRole: boolean;
}) {
  const [invites, setInvites] = useState<Invite[]>();
  const [made, setMade] = useState<string>();
  const [error, setError] = useState<string>();
  const reload = useCallback(
    () =>
      api
        .listInvites(tenantId)
        .then(setInvites, (caught: unknown) => setError(describeError(caught))),
    [tenantId],
  );
  useEffect(() => void reload(), [reload]);

  const create = async (body: CreateInviteRequest) => {
    setError(undefined);
    try {
      const invite = await api.createInvite(tenantId, body);
      setMade(`${window.location.origin}${invite.path}`);
      await reload();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  const revoke = async (invite: Invite) => {
    setError(undefined);
    try {
      await api.revokeInvite(tenantId, invite.id);
      await reload();
    } catch (caught) {
      setError(describeError(caught));
    }
  };

  return (
    <section className="card" aria-labelledby="invites-title">
      <h2 id="invites-title">Invite links</h2>
      <p className="muted">
        Whoever opens a link signs in or creates an account, and joins with its role. Post it where
        your class will find it; revoke it when the class is in.
      </p>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      {made && (
        <div className="alert success token-secret" role="status" aria-label="New invite link">
          <p>Copy the link now: it will not be shown again.</p>
          <code className="secret">{made}</code>
        </div>
      )}
      <InviteForm canInviteAnyRole={canInviteAnyRole} onCreate={create} />
      {invites && invites.length > 0 && (
        <ul className="invite-list">
          {invites.map((invite) => (
            <li key={invite.id}>
              <span>
                {ROLE_LABELS[invite.role]} link
                {invite.allowedDomains.length > 0 &&
                  ` for ${invite.allowedDomains.map((domain) => `@${domain}`).join(', ')}`}{' '}
                <span className="muted">({describeInvite(invite)})</span>
              </span>
              {!invite.revokedAt && (
                <ConfirmButton
                  label={`Revoke the ${ROLE_LABELS[invite.role].toLowerCase()} link`}
                  question="People who have not joined yet can no longer use it."
                  confirmLabel="Revoke the link"
                  onConfirm={() => revoke(invite)}
                />
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The role, expiry, most uses and email domains of a new link. */
function InviteForm({
  canInviteAnyRole,
  onCreate,
}: {
  canInviteAnyRole: boolean;
  onCreate: (body: CreateInviteRequest) => Promise<void>;
}) {
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const days = Number(form.get('days'));
    const uses = Number(form.get('uses'));
    const domains = String(form.get('domains') ?? '')
      .split(/[\s,]+/)
      .map((domain) => domain.replace(/^@/, ''))
      .filter(Boolean);
    setBusy(true);
    await onCreate({
      role: (form.get('role') as TenantRole | null) ?? 'member',
      ...(days > 0 ? { expiresInDays: days } : {}),
      ...(uses > 0 ? { maxUses: uses } : {}),
      ...(domains.length > 0 ? { allowedDomains: domains } : {}),
    });
    setBusy(false);
  };
  return (
    <form onSubmit={submit} aria-label="Make an invite link">
      <div className="form-row">
        {canInviteAnyRole && (
          <div className="field">
            <label htmlFor="invite-role">Joins as</label>
            <select id="invite-role" name="role" defaultValue="member">
              {(['member', 'instructor', 'admin'] as const).map((role) => (
                <option key={role} value={role}>
                  {ROLE_LABELS[role]}
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field">
          <label htmlFor="invite-days">Valid for (days)</label>
          <input id="invite-days" name="days" type="number" min={1} max={365} defaultValue={14} />
        </div>
        <div className="field">
          <label htmlFor="invite-uses">Most people</label>
          <input id="invite-uses" name="uses" type="number" min={0} max={10000} placeholder="any" />
        </div>
        <div className="field">
          <label htmlFor="invite-domains">Allowed domains</label>
          <input id="invite-domains" name="domains" placeholder="any, or e.g. uni.example" />
        </div>
      </div>
      <button className="button primary" type="submit" disabled={busy}>
        {busy ? 'Making the link…' : 'Make an invite link'}
      </button>
    </form>
  );
}
