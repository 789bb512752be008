'use client';

import type { RosterImport, RosterRow } from '@labvisor/shared';
import { type ChangeEvent, useState } from 'react';
import { ROLE_LABELS } from '@/components/member-table';
import { api, describeError } from '@/lib/api';

const OUTCOME_LABELS: Record<RosterRow['outcome'], string> = {
  'new-account': 'new account',
  added: 'added',
  'role-changed': 'role changed',
  'already-member': 'already a member',
  refused: 'refused',
};

/**
 * A tenant admin's roster import: a CSV file (email, name, optional role) is previewed row by
 * row, then applied in one go; the new accounts' one-time sign-in links are shown once.
 */
export function RosterImportCard({
  tenantId,
  onApplied,
}: {
  tenantId: string;
  onApplied: () => void;
}) {
  const [csv, setCsv] = useState<string>();
  const [result, setResult] = useState<RosterImport>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const run = async (text: string, dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.importRoster(tenantId, text, dryRun));
      if (!dryRun) onApplied();
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };
  const choose = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    const text = await file.text();
    setCsv(text);
    await run(text, true);
  };
  const toApply = result && !result.applied ? result.rows.length - result.counts.refused : 0;

  return (
    <section className="card" aria-labelledby="roster-title">
      <h2 id="roster-title">Import a roster</h2>
      <p className="muted">
        A CSV file with one person per line: email, name, and optionally member, instructor or
        admin. You see what it will do before anything changes; new accounts get a one-time sign-in
        link to hand out instead of a password.
      </p>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <div className="field">
        <label htmlFor="roster-file">Roster (CSV)</label>
        <input id="roster-file" type="file" accept=".csv,text/csv" onChange={choose} />
      </div>
      {result && (
        <>
          <p role="status">
            {result.applied ? 'Imported' : 'Preview'}: {result.counts['new-account']} new accounts,{' '}
            {result.counts.added} added, {result.counts['role-changed']} role changes,{' '}
            {result.counts['already-member']} already members, {result.counts.refused} refused.
          </p>
          <RosterTable rows={result.rows} />
          {!result.applied && csv && (
            <button
              className="button primary"
              type="button"
              disabled={busy || toApply === 0}
              onClick={() => run(csv, false)}
            >
              Import {toApply} rows
            </button>
          )}
        </>
      )}
    </section>
  );
}

/** Each row of the roster with what the import does with it, and a new account's link. */
function RosterTable({ rows }: { rows: RosterRow[] }) {
  return (
    <table className="table" aria-label="Roster rows">
      <thead>
        <tr>
          <th scope="col">Line</th>
          <th scope="col">Email</th>
          <th scope="col">Name</th>
          <th scope="col">Role</th>
          <th scope="col">Outcome</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.line}>
            <td>{row.line}</td>
            <td>{row.email}</td>
            <td>{row.name}</td>
            <td>{row.role ? ROLE_LABELS[row.role] : ''}</td>
            <td>
              {OUTCOME_LABELS[row.outcome]}
              {row.reason && <span className="muted">: {row.reason}</span>}
              {row.signInPath && (
                <div className="small">
                  Sign-in link (shown once):{' '}
                  <code className="secret">{`${window.location.origin}${row.signInPath}`}</code>
                </div>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
