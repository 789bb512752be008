import { z } from 'zod';
import { createVmRequestSchema } from './vms.js';

/** Most paused clones one pool keeps ready. */
export const MAX_POOL_COUNT = 60;

/**
 * A warm pool as set: how many paused clones of an image at one size (vCPUs, memory, disk) a
 * tenant keeps ready. A launch of that image and size takes one, already booted.
 */
export const poolSettingSchema = z.strictObject({
  imageId: createVmRequestSchema.shape.imageId,
  vcpus: createVmRequestSchema.shape.vcpus,
  memoryMib: createVmRequestSchema.shape.memoryMib,
  diskGib: createVmRequestSchema.shape.diskGib,
  count: z.int().min(0).max(MAX_POOL_COUNT),
  /**
   * Kept only during the tenant's class hours (filled from `prepareMinutes` before a session,
   * emptied when it ends); always kept without class hours.
   */
  classHoursOnly: z.boolean().default(false),
});

/** A warm pool as set. */
export type PoolSetting = z.infer<typeof poolSettingSchema>;

/** Body of `PUT /api/v1/tenants/:tenantId/pools`: every pool of the tenant (others are emptied). */
export const putPoolsRequestSchema = z.strictObject({
  pools: z.array(poolSettingSchema).max(20),
});

/** Body of `PUT /api/v1/tenants/:tenantId/pools`. */
export type PutPoolsRequest = z.infer<typeof putPoolsRequestSchema>;

/** A warm pool with what it holds now. */
export const poolSchema = poolSettingSchema.extend({
  imageName: z.string(),
  /** Paused clones ready to be taken. */
  ready: z.int(),
  /** Clones being made. */
  starting: z.int(),
  /** Why the pool holds fewer than `count` (the tenant quota, the host, a failed start), if it does. */
  shortBecause: z.string().nullable(),
});

/** A warm pool with what it holds now. */
export type Pool = z.infer<typeof poolSchema>;

/** Answer of `GET|PUT /api/v1/tenants/:tenantId/pools`. */
export const poolsSchema = z.object({ pools: z.array(poolSchema) });

/** Answer of `GET|PUT /api/v1/tenants/:tenantId/pools`. */
export type Pools = z.infer<typeof poolsSchema>;
