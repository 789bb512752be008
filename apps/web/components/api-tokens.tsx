'use client';

import type { ApiToken, CreatedToken } from '@labvisor/shared';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, describeError } from '@/lib/api';
import { formatDateTime, timeAgo } from '@/lib/format';
import { ConfirmButton } from './confirm-button';

/** How long a new token lives; the API takes 1 to 365 days, or no expiry. */
const EXPIRY_CHOICES = [
  { days: 7, label: '7 days' },
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
  { days: 0, label: 'Never' },
];

/** What creating a token sends: its name and, unless it never expires, its lifetime. */
type NewToken = Parameters<typeof api.createToken>[0];

/** The signed-in user's API tokens: list, create (the secret shown once) and revoke. */
export function ApiTokens() {
  const [tokens, setTokens] = useState<ApiToken[]>();
  const [error, setError] = useState<string>();
  const [created, setCreated] = useState<CreatedToken>();

  const refresh = useCallback(() => {
    api.listTokens().then(setTokens, (caught: unknown) => setError(describeError(caught)));
  }, []);
  useEffect(refresh, [refresh]);

  const create = async (request: NewToken): Promise<boolean> => {
    setError(undefined);
    try {
      setCreated(await api.createToken(request));
      refresh();
      return true;
    } catch (caught) {
      setError(describeError(caught));
      return false;
    }
  };

  const revoke = async (token: ApiToken) => {
    setError(undefined);
    try {
      await api.revokeToken(token.id);
      if (created?.id === token.id) setCreated(undefined);
    } catch (caught) {
      setError(describeError(caught));
    }
    refresh();
  };

  return (
    <>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      {/* Keyed on the token: a new one starts without the last one's "Copied." */}
      {created && (
        <NewTokenSecret key={created.id} token={created} onDone={() => setCreated(undefined)} />
      )}
      {!tokens ? (
        <p className="muted">Loading tokens…</p>
      ) : tokens.length === 0 ? (
        <p className="empty">No API tokens. Create one for scripts and command-line tools.</p>
      ) : (
        <TokenTable tokens={tokens} onRevoke={(token) => void revoke(token)} />
      )}
      <CreateTokenForm onCreate={create} />
    </>
  );
}

/** A token just created, its secret shown this once with a Copy button. */
function NewTokenSecret({ token, onDone }: { token: CreatedToken; onDone: () => void }) {
  const [copied, setCopied] = useState<string>();
  const copy = async (secret: string) => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied.');
    } catch {
      setCopied('Copying is blocked here: select the token and copy it yourself.');
    }
  };
  return (
    <section className="token-secret" aria-label="New token">
      <p>
        <strong>Token “{token.name}” created.</strong> Copy it now: it will not be shown again.
        Scripts send it as <code>Authorization: Bearer …</code>.
      </p>
      <div className="toolbar">
        <code className="secret">{token.token}</code>
        <button className="button primary" type="button" onClick={() => copy(token.token)}>
          Copy
        </button>
        <button className="button" type="button" onClick={onDone}>
          Done
        </button>
      </div>
      {copied && (
        <p className="muted small" role="status">
          {copied}
        </p>
      )}
    </section>
  );
}

/** The user's tokens: when each was created, expires and was last used, and a Revoke button. */
function TokenTable({
  tokens,
  onRevoke,
}: {
  tokens: ApiToken[];
  onRevoke: (token: ApiToken) => void;
}) {
  return (
    <table className="table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Created</th>
          <th scope="col">Expires</th>
          <th scope="col">Last used</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((token) => (
          <tr key={token.id}>
            <td>{token.name}</td>
            <td>{formatDateTime(token.createdAt)}</td>
            <td>{token.expiresAt ? formatDateTime(token.expiresAt) : 'Never'}</td>
            <td>{token.lastUsedAt ? timeAgo(token.lastUsedAt) : 'Never'}</td>
            <td className="actions">
              <ConfirmButton
                label="Revoke"
                ariaLabel={`Revoke ${token.name}`}
                question={`Revoke “${token.name}”? Scripts using it stop working at once.`}
                confirmLabel={`Revoke “${token.name}”`}
                danger
                onConfirm={() => onRevoke(token)}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Names a new token and chooses when it expires; the name clears once the token is created. */
function CreateTokenForm({ onCreate }: { onCreate: (request: NewToken) => Promise<boolean> }) {
  const [name, setName] = useState('');
  const [days, setDays] = useState(90);
  const [creating, setCreating] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setCreating(true);
    if (await onCreate({ name, ...(days > 0 ? { expiresInDays: days } : {}) })) setName('');
    setCreating(false);
  };
  return (
    <form className="token-form" onSubmit={submit}>
      <h3>Create a token</h3>
      <div className="grid">
        <div className="field">
          <label htmlFor="token-name">Token name</label>
          <input
            id="token-name"
            value={name}
            required
            maxLength={64}
            placeholder="e.g. grading script"
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="token-expiry">Expires after</label>
          <select
            id="token-expiry"
            value={days}
            onChange={(event) => setDays(Number(event.target.value))}
          >
            {EXPIRY_CHOICES.map((choice) => (
              <option key={choice.days} value={choice.days}>
                {choice.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <button className="button primary" type="submit" disabled={creating}>
        {creating ? 'Creating…' : 'Create token'}
      </button>
    </form>
  );
}
