import { z } from 'zod';

/** A person who ran VMs in a tenant during the period; `userId` null for a deleted account. */
export const usageMemberSchema = z.object({
  userId: z.string().nullable(),
  name: z.string(),
  email: z.string().nullable(),
});

/** Query of `GET /api/v1/tenants/:tenantId/usage`: how many days back, today included. */
export const tenantUsageQuerySchema = z.strictObject({
  days: z.coerce.number().int().min(1).max(366).default(30),
});

/** Answer of `GET /api/v1/tenants/:tenantId/usage`: VM-hours per UTC day and member. */
export const tenantUsageSchema = z.object({
  /** The days covered, oldest first, as `YYYY-MM-DD` (UTC); the last one is today. */
  days: z.array(z.string()),
  members: z.array(usageMemberSchema),
  /** One entry per day and member that ran VMs that day (no zero entries). */
  items: z.array(
    z.object({ date: z.string(), userId: z.string().nullable(), vmHours: z.number() }),
  ),
});

/** Answer of `GET /api/v1/tenants/:tenantId/usage`. */
export type TenantUsage = z.infer<typeof tenantUsageSchema>;
