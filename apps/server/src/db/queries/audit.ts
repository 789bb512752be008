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
