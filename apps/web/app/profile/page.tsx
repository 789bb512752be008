'use client';

import { ApiTokens } from '@/components/api-tokens';
import { AppShell } from '@/components/app-shell';
import { PasswordForm } from '@/components/password-form';
import { useSession } from '@/components/use-session';

const ROLE_LABELS = { member: 'Member', instructor: 'Instructor', admin: 'Admin' } as const;

/** The signed-in user: who they are, their password, their tenants and roles, and their API tokens. */
export default function ProfilePage() {
  const { me, error } = useSession();
  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  return (
    <AppShell me={me}>
      <h1>Profile</h1>
      <section className="card" aria-labelledby="account-title">
        <h2 id="account-title">Account</h2>
        <dl className="facts">
          <dt>Name</dt>
          <dd>{me.user.name}</dd>
          <dt>Email</dt>
          <dd>{me.user.email}</dd>
          {me.user.isPlatformAdmin && (
            <>
              <dt>Platform</dt>
              <dd>Platform admin</dd>
            </>
          )}
        </dl>
      </section>
      <section className="card" aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <PasswordForm hasPassword={me.user.hasPassword} />
      </section>
      <section className="card" aria-labelledby="tenants-title">
        <h2 id="tenants-title">Classes and teams</h2>
        {me.memberships.length === 0 ? (
          <p className="empty">You are not a member of any class or team yet.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Your role</th>
              </tr>
            </thead>
            <tbody>
              {me.memberships.map((membership) => (
                <tr key={membership.tenantId}>
                  <td>{membership.tenantName}</td>
                  <td>{ROLE_LABELS[membership.role]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card" aria-labelledby="tokens-title">
        <h2 id="tokens-title">API tokens</h2>
        <ApiTokens />
      </section>
    </AppShell>
  );
}
