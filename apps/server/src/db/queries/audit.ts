import type { AuditEntry as ApiAuditEntry, VmActivity } from '@labvisor/shared';
import type { Knex } from 'knex';

/** One audit entry: who did what to which object, from where. */
export interface AuditEntry {
  actorId: string | null;
  tenantId?: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  ip?: string | undefined;
  details?: Record<string, unknown>;
}

/** Appends an entry to the audit log. */
export async function recordAudit(knex: Knex, entry: AuditEntry): Promise<void> {
  await knex('audit_log').insert({
    actor_id: entry.actorId,
    tenant_id: entry.tenantId ?? null,
    action: entry.action,
    target_type: entry.targetType ?? null,
    target_id: entry.targetId ?? null,
    ip: entry.ip ?? null,
    details: JSON.stringify(entry.details ?? {}),
  });
}

/** Audit entries, newest first, with filters and `before` (an entry id) for paging. */
export async function listAuditEntries(
  knex: Knex,
  filters: {
    tenantId?: string | undefined;
    action?: string | undefined;
    actorId?: string | undefined;
    before?: number | undefined;
    limit: number;
  },
): Promise<ApiAuditEntry[]> {
  const rows = await knex('audit_log')
    .leftJoin('users', 'users.id', 'audit_log.actor_id')
    .modify((q) => {
      if (filters.tenantId) q.where('audit_log.tenant_id', filters.tenantId);
      if (filters.action) q.where('audit_log.action', filters.action);
      if (filters.actorId) q.where('audit_log.actor_id', filters.actorId);
      if (filters.before) q.where('audit_log.id', '<', filters.before);
    })
    .orderBy('audit_log.id', 'desc')
    .limit(filters.limit)
    .select('audit_log.*', 'users.email as actor_email');
  // biome-ignore lint/suspicious/noExplicitAny: a joined row, mapped field by field below
  return rows.map((row: Record<string, any>) => ({
    id: String(row.id),
    actorId: row.actor_id,
    actorEmail: row.actor_email,
    tenantId: row.tenant_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    ip: row.ip,
    details: parseDetails(row.details),
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

/**
 * What the audit log holds about one VM, newest first (started, stopped, snapshots, consoles
 * opened), without addresses: students see this too.
 */
export async function listVmActivity(
  knex: Knex,
  vmId: string,
  limit: number,
): Promise<VmActivity[]> {
  const rows = await knex('audit_log')
    .leftJoin('users', 'users.id', 'audit_log.actor_id')
    .where({ 'audit_log.target_type': 'vm', 'audit_log.target_id': vmId })
    .orderBy('audit_log.id', 'desc')
    .limit(limit)
    .select<
      {
        id: string | number;
        action: string;
        actor_id: string | null;
        actor_name: string | null;
        details: Record<string, unknown> | string | null;
        created_at: Date;
      }[]
    >(
      'audit_log.id',
      'audit_log.action',
      'audit_log.actor_id',
      'users.name as actor_name',
      'audit_log.details',
      'audit_log.created_at',
    );
  return rows.map((row) => ({
    id: String(row.id),
    action: row.action,
    actorId: row.actor_id,
    actorName: row.actor_name,
    details: parseDetails(row.details),
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

/** An entry's details: a JSON column (an object) or, on some drivers, its text. */
function parseDetails(details: Record<string, unknown> | string | null): Record<string, unknown> {
  return typeof details === 'string' ? JSON.parse(details) : (details ?? {});
}
