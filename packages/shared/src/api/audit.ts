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
