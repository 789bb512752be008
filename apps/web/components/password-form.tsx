'use client';

import { type FormEvent, useState } from 'react';
import { api, describeError } from '@/lib/api';

/**
 * Sets the user's password; an account without one (made by a roster import) is asked to set it,
 * since its sign-in link worked once.
 */
export function PasswordForm({ hasPassword }: { hasPassword: boolean }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);
  const [hasOne, setHasOne] = useState(hasPassword);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    setBusy(true);
    try {
      await api.setPassword({
        ...(hasOne ? { currentPassword: String(form.get('current')) } : {}),
        newPassword: String(form.get('new')),
      });
      target.reset();
      setHasOne(true);
      setMessage({ ok: true, text: 'Your password is set.' });
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Password">
      {!hasOne && (
        <p className="alert warning">
          Your account has no password yet: set one now to sign in again later.
        </p>
      )}
      {message && (
        <p className={`alert ${message.ok ? 'success' : 'error'}`} role="status">
          {message.text}
        </p>
      )}
      <div className="form-row">
        {hasOne && (
          <div className="field">
            <label htmlFor="password-current">Current password</label>
            <input
              id="password-current"
              name="current"
              type="password"
              autoComplete="current-password"
              required
            />
          </div>
        )}
        <div className="field">
          <label htmlFor="password-new">New password (at least 8 characters)</label>
          <input
            id="password-new"
            name="new"
            type="password"
            autoComplete="new-password"
            minLength={8}
            required
          />
        </div>
      </div>
      <button className="button primary" type="submit" disabled={busy}>
        {hasOne ? 'Change password' : 'Set password'}
      </button>
    </form>
  );
}
