import { z } from 'zod';

/** One audit log entry: who did what to which object, from where. */
export const auditEntrySchema = z.object({
  /** Increasing; pass the oldest one shown as `before` to page to older entries. */
  id: z.string(),
  actorId: z.string().nullable(),
  actorEmail: z.string().nullable(),
  tenantId: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

/** One audit log entry. */
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** Query of `GET /api/v1/audit`: filters, and `before` (an entry id) to page to older entries. */
export const auditQuerySchema = z.strictObject({
  tenantId: z.uuid().optional(),
  action: z.string().max(64).optional(),
  actorId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional(),
});

/** Query of `GET /api/v1/audit`. */
export type AuditQuery = z.input<typeof auditQuerySchema>;
