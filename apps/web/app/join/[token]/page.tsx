'use client';

import type { InvitePreview, MeResponse } from '@labvisor/shared';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { ROLE_LABELS } from '@/components/member-table';
import { ApiError, api, describeError } from '@/lib/api';

/**
 * Where an invite link leads (`/join/<token>`): says which class or team it joins and as what,
 * then joins the signed-in user, or lets a visitor sign in or create an account to join.
 */
export default function JoinPage() {
  const { token } = useParams<{ token: string }>();
  const router = useRouter();
  const [invite, setInvite] = useState<InvitePreview>();
  const [me, setMe] = useState<MeResponse | null>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.lookupInvite(token).then(setInvite, (caught: unknown) => setError(describeError(caught)));
    api.me().then(setMe, (caught: unknown) => {
      if (caught instanceof ApiError && caught.code === 'UNAUTHENTICATED') setMe(null);
      else setError(describeError(caught));
    });
  }, [token]);

  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      router.replace('/');
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  };

  return (
    <main className="center">
      <section className="card narrow" aria-labelledby="join-title">
        <h1 id="join-title">{invite ? `Join ${invite.tenantName}` : 'Join a class'}</h1>
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
        {invite && (
          <p>
            This link adds you to <strong>{invite.tenantName}</strong> as{' '}
            {invite.role === 'member' ? 'a' : 'an'} {ROLE_LABELS[invite.role].toLowerCase()}
            {invite.allowedDomains.length > 0 &&
              ` (for ${invite.allowedDomains.map((domain) => `@${domain}`).join(', ')} addresses)`}
            .
          </p>
        )}
        {invite && me && (
          <button
            className="button primary block"
            type="button"
            disabled={busy}
            onClick={() => run(() => api.acceptInvite(token))}
          >
            {busy ? 'Joining…' : `Join ${invite.tenantName} as ${me.user.email}`}
          </button>
        )}
        {invite && me === null && (
          <>
            <p>
              <Link className="button block" href={`/login?next=/join/${token}`}>
                I have an account: sign in
              </Link>
            </p>
            <RegisterForm
              busy={busy}
              onSubmit={(account) => run(() => api.registerWithInvite({ token, ...account }))}
            />
          </>
        )}
      </section>
    </main>
  );
}

/** A new account's name, email and password. */
function RegisterForm({
  busy,
  onSubmit,
}: {
  busy: boolean;
  onSubmit: (account: { name: string; email: string; password: string }) => void;
}) {
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    onSubmit({
      name: String(form.get('name')),
      email: String(form.get('email')),
      password: String(form.get('password')),
    });
  };
  return (
    <form onSubmit={submit} aria-labelledby="register-title">
      <h2 id="register-title">Or create an account</h2>
      <div className="field">
        <label htmlFor="register-name">Name</label>
        <input id="register-name" name="name" autoComplete="name" required maxLength={128} />
      </div>
      <div className="field">
        <label htmlFor="register-email">Email</label>
        <input id="register-email" name="email" type="email" autoComplete="email" required />
      </div>
      <div className="field">
        <label htmlFor="register-password">Password (at least 8 characters)</label>
        <input
          id="register-password"
          name="password"
          type="password"
          autoComplete="new-password"
          minLength={8}
          required
        />
      </div>
      <button className="button primary block" type="submit" disabled={busy}>
        {busy ? 'Creating your account…' : 'Create my account and join'}
      </button>
    </form>
  );
}
