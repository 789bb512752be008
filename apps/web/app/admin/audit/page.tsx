'use client';

import type { AuditEntry, Tenant, User } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';
import { ADMIN_SECTION, SectionPage } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api, describeError } from '@/lib/api';
import { formatDateTime } from '@/lib/format';

/** Entries fetched at a time. */
const PAGE_SIZE = 50;

interface Filters {
  tenantId: string;
  action: string;
  actorId: string;
}

const NO_FILTERS: Filters = { tenantId: '', action: '', actorId: '' };

/** The audit log, newest first, filtered by tenant, action and actor, paged to older entries. */
export default function AdminAuditPage() {
  const { me, error } = useSession();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const [olderDone, setOlderDone] = useState(false);
  const [olderError, setOlderError] = useState<string>();
  // The log first: only platform admins get it unfiltered, so anyone else stops at the refusal.
  const loaded = useApiLoad(me && JSON.stringify(filters), async () => {
    const entries = await api.audit({ ...filters, limit: PAGE_SIZE });
    const [tenants, users] = await Promise.all([api.listTenants(), api.listUsers()]);
    return { entries, tenants, users };
  });

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;

  const applyFilters = (next: Filters) => {
    setOlder([]);
    setOlderDone(false);
    setOlderError(undefined);
    setFilters(next);
  };
  const { data } = loaded;
  const entries = data ? [...data.entries, ...older] : [];
  const lastPage = older.length > 0 ? olderDone : (data?.entries.length ?? 0) < PAGE_SIZE;
  const showOlder = async () => {
    const oldest = entries[entries.length - 1];
    try {
      const page = await api.audit({ ...filters, before: oldest?.id, limit: PAGE_SIZE });
      setOlder((shown) => [...shown, ...page]);
      setOlderDone(page.length < PAGE_SIZE);
    } catch (caught) {
      setOlderError(describeError(caught));
    }
  };

  return (
    <SectionPage
      me={me}
      section={ADMIN_SECTION}
      sectionLabel="Admin"
      title="Audit log"
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      {data && (
        <section className="card" aria-labelledby="audit-filters-title">
          <h2 id="audit-filters-title" className="visually-hidden">
            Filters
          </h2>
          <FilterForm
            filters={filters}
            tenants={data.tenants}
            users={data.users}
            actions={[...new Set(entries.map((entry) => entry.action))].sort()}
            onApply={applyFilters}
          />
        </section>
      )}
      <section className="card" aria-labelledby="audit-title">
        <h2 id="audit-title">Entries, newest first</h2>
        {!data ? (
          !loaded.error && <p className="muted">Loading the audit log…</p>
        ) : entries.length === 0 ? (
          <p className="empty">No entries match these filters.</p>
        ) : (
          <>
            <AuditTable entries={entries} tenants={data.tenants} users={data.users} />
            {olderError && <p className="alert error">{olderError}</p>}
            <div className="toolbar pager">
              {lastPage ? (
                <span className="muted">That is the oldest entry.</span>
              ) : (
                <button className="button" type="button" onClick={showOlder}>
                  Show older entries
                </button>
              )}
            </div>
          </>
        )}
      </section>
    </SectionPage>
  );
}

function FilterForm({
  filters,
  tenants,
  users,
  actions,
  onApply,
}: {
  filters: Filters;
  tenants: Tenant[];
  users: User[];
  actions: string[];
  onApply: (filters: Filters) => void;
}) {
  const [draft, setDraft] = useState(filters);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onApply({ ...draft, action: draft.action.trim() });
  };
  return (
    <form className="form-row" onSubmit={submit}>
      <div className="field grow">
        <label htmlFor="audit-tenant">Tenant</label>
        <select
          id="audit-tenant"
          value={draft.tenantId}
          onChange={(event) => setDraft({ ...draft, tenantId: event.target.value })}
        >
          <option value="">All tenants</option>
          {tenants.map((tenant) => (
            <option key={tenant.id} value={tenant.id}>
              {tenant.name}
            </option>
          ))}
        </select>
      </div>
      <div className="field grow">
        <label htmlFor="audit-action">Action</label>
        <input
          id="audit-action"
          list="audit-actions"
          placeholder="e.g. member.add"
          value={draft.action}
          onChange={(event) => setDraft({ ...draft, action: event.target.value })}
        />
        <datalist id="audit-actions">
          {actions.map((action) => (
            <option key={action} value={action} />
          ))}
        </datalist>
      </div>
      <div className="field grow">
        <label htmlFor="audit-actor">Actor</label>
        <select
          id="audit-actor"
          value={draft.actorId}
          onChange={(event) => setDraft({ ...draft, actorId: event.target.value })}
        >
          <option value="">Anyone</option>
          {users.map((user) => (
            <option key={user.id} value={user.id}>
              {user.email}
            </option>
          ))}
        </select>
      </div>
      <button className="button primary" type="submit">
        Apply filters
      </button>
      <button
        className="button"
        type="button"
        onClick={() => {
          setDraft(NO_FILTERS);
          onApply(NO_FILTERS);
        }}
      >
        Clear filters
      </button>
    </form>
  );
}

/** An entry's details as short text: `role: admin; limits: vcpus 4, runningVms 2`. */
function describeDetails(details: Record<string, unknown>): string {
  const text = (value: unknown): string => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return Object.entries(value)
        .map(([key, inner]) => `${key} ${text(inner)}`)
        .join(', ');
    return typeof value === 'string' ? value : JSON.stringify(value);
  };
  return Object.entries(details)
    .map(([key, value]) => `${key}: ${text(value)}`)
    .join('; ');
}

function AuditTable({
  entries,
  tenants,
  users,
}: {
  entries: AuditEntry[];
  tenants: Tenant[];
  users: User[];
}) {
  const tenantNames = new Map(tenants.map((tenant) => [tenant.id, tenant.name]));
  const userEmails = new Map(users.map((user) => [user.id, user.email]));
  const targetOf = (entry: AuditEntry) => {
    if (!entry.targetType) return '—';
    const name =
      entry.targetType === 'user'
        ? userEmails.get(entry.targetId ?? '')
        : entry.targetType === 'tenant'
          ? tenantNames.get(entry.targetId ?? '')
          : undefined;
    return `${entry.targetType} ${name ?? entry.targetId?.slice(0, 8) ?? ''}`;
  };
  return (
    <table className="table audit">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Tenant</th>
          <th scope="col">Target</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((entry) => (
          <tr key={entry.id}>
            <td className="nowrap">{formatDateTime(entry.createdAt)}</td>
            <td>{entry.actorEmail ?? <span className="muted">nobody signed in</span>}</td>
            <td>
              <code>{entry.action}</code>
            </td>
            <td>
              {entry.tenantId ? (tenantNames.get(entry.tenantId) ?? 'a deleted tenant') : '—'}
            </td>
            <td>{targetOf(entry)}</td>
            <td className="small details">
              {describeDetails(entry.details)}
              {entry.ip && <div className="muted">from {entry.ip}</div>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
