'use client';

import type { User } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { ADMIN_SECTION, SectionPage } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';
import { formatDateTime } from '@/lib/format';

/** Every account: create one, disable or enable it (platform admins). */
export default function AdminUsersPage() {
  const { me, error } = useSession();
  const loaded = useApiLoad(me && 'users', () => api.listUsers());
  const actions = usePageActions(loaded.reload);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;

  const users = loaded.data;
  return (
    <SectionPage
      me={me}
      section={ADMIN_SECTION}
      sectionLabel="Admin"
      title="Users"
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="users-title">
        <h2 id="users-title">Accounts</h2>
        {!users ? (
          !loaded.error && <p className="muted">Loading users…</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <UserRow
                  key={user.id}
                  user={user}
                  isSelf={user.id === me.user.id}
                  onDisable={(disabled) =>
                    actions.run(
                      () => api.setUserDisabled(user.id, disabled),
                      disabled
                        ? `Disabled ${user.email}: they can no longer sign in.`
                        : `Enabled ${user.email}.`,
                    )
                  }
                />
              ))}
            </tbody>
          </table>
        )}
      </section>
      {users && (
        <section className="card" aria-labelledby="create-user-title">
          <h2 id="create-user-title">Create a user</h2>
          <CreateUserForm
            onCreate={(body) => actions.run(() => api.createUser(body), `Created ${body.email}.`)}
          />
        </section>
      )}
    </SectionPage>
  );
}

function UserRow({
  user,
  isSelf,
  onDisable,
}: {
  user: User;
  isSelf: boolean;
  onDisable: (disabled: boolean) => void;
}) {
  return (
    <tr>
      <td>
        {user.name}
        {user.isPlatformAdmin && <span className="badge role-admin">Platform admin</span>}
      </td>
      <td>{user.email}</td>
      <td>
        {user.disabled ? (
          <span className="badge state-error">Disabled</span>
        ) : (
          <span className="badge state-running">Active</span>
        )}
      </td>
      <td>{formatDateTime(user.createdAt)}</td>
      <td className="actions">
        {user.disabled ? (
          <button
            className="button"
            type="button"
            aria-label={`Enable ${user.email}`}
            onClick={() => onDisable(false)}
          >
            Enable
          </button>
        ) : (
          !isSelf && (
            <ConfirmButton
              label="Disable"
              ariaLabel={`Disable ${user.email}`}
              question={`Disable ${user.email}? They are signed out and their API tokens and consoles stop working.`}
              confirmLabel="Disable account"
              danger
              onConfirm={() => onDisable(true)}
            />
          )
        )}
      </td>
    </tr>
  );
}

function CreateUserForm({
  onCreate,
}: {
  onCreate: (body: {
    email: string;
    name: string;
    password: string;
    isPlatformAdmin: boolean;
  }) => Promise<boolean>;
}) {
  const empty = { email: '', name: '', password: '', isPlatformAdmin: false };
  const [form, setForm] = useState(empty);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    if (await onCreate({ ...form, email: form.email.trim(), name: form.name.trim() }))
      setForm(empty);
    setBusy(false);
  };
  return (
    <form onSubmit={submit}>
      <div className="form-row">
        <div className="field grow">
          <label htmlFor="user-email">Email</label>
          <input
            id="user-email"
            type="email"
            required
            autoComplete="off"
            value={form.email}
            onChange={(event) => setForm({ ...form, email: event.target.value })}
          />
        </div>
        <div className="field grow">
          <label htmlFor="user-name">Name</label>
          <input
            id="user-name"
            required
            maxLength={128}
            autoComplete="off"
            value={form.name}
            onChange={(event) => setForm({ ...form, name: event.target.value })}
          />
        </div>
        <div className="field grow">
          <label htmlFor="user-password">Password</label>
          <input
            id="user-password"
            type="password"
            required
            minLength={8}
            autoComplete="new-password"
            aria-describedby="user-password-hint"
            value={form.password}
            onChange={(event) => setForm({ ...form, password: event.target.value })}
          />
          <span id="user-password-hint" className="muted small">
            At least 8 characters.
          </span>
        </div>
      </div>
      <div className="toolbar">
        <label className="check">
          <input
            type="checkbox"
            checked={form.isPlatformAdmin}
            onChange={(event) => setForm({ ...form, isPlatformAdmin: event.target.checked })}
          />
          Platform admin (can manage every tenant and user)
        </label>
        <span className="spacer" />
        <button className="button primary" type="submit" disabled={busy}>
          Create user
        </button>
      </div>
    </form>
  );
}
