'use client';

import { AppShell } from '@/components/app-shell';
import { useSession } from '@/components/use-session';

export default function MyLabsPage() {
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
      <h1>My labs</h1>
      <section className="card">
        <p>
          Signed in as <strong>{me.user.name}</strong>
          {me.memberships.length > 0 && (
            <> — member of {me.memberships.map((m) => `${m.tenantName} (${m.role})`).join(', ')}</>
          )}
        </p>
        <p className="empty">You have no labs yet.</p>
      </section>
    </AppShell>
  );
}
