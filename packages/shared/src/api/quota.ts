import { z } from 'zod';

const limit = z.int().min(0).max(1_000_000);

/** A tenant's limits. VM-holding resources count starting, running and paused VMs. */
export const quotaLimitsSchema = z.strictObject({
  runningVms: limit,
  vcpus: limit,
  memoryMib: limit,
  diskGib: limit,
  snapshots: limit,
  vmHoursPerMonth: limit,
});

/** A tenant's limits. */
export type QuotaLimits = z.infer<typeof quotaLimitsSchema>;

/** What a tenant uses now, under the same keys as its limits. */
export const quotaUsageSchema = z.object({
  runningVms: z.number(),
  vcpus: z.number(),
  memoryMib: z.number(),
  diskGib: z.number(),
  snapshots: z.number(),
  vmHoursPerMonth: z.number(),
});

/** What a tenant uses now. */
export type QuotaUsage = z.infer<typeof quotaUsageSchema>;

/** Answer of `GET /api/v1/tenants/:tenantId/quota`: the tenant's, and the caller's own hours. */
export const quotaSchema = z.object({
  limits: quotaLimitsSchema,
  usage: quotaUsageSchema,
  /** The caller's own hours this month and their own budget (null: only the tenant's applies). */
  yours: z.object({ vmHoursThisMonth: z.number(), vmHoursPerMonth: z.number().nullable() }),
});

/** Answer of `GET /api/v1/tenants/:tenantId/quota`. */
export type Quota = z.infer<typeof quotaSchema>;

/** Body of `PUT /api/v1/tenants/:tenantId/quota`. */
export const putQuotaRequestSchema = z.strictObject({ limits: quotaLimitsSchema });
