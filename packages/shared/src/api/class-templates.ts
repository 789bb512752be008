import { z } from 'zod';
import { nameSchema } from './common.js';
import { vmSchema } from './vms.js';

/** Body of `POST /api/v1/vms/:vmId/publish`: the name of the class template (an image of the tenant). */
export const publishVmRequestSchema = z.strictObject({ name: nameSchema });

/** Body of `POST /api/v1/vms/:vmId/publish`. */
export type PublishVmRequest = z.infer<typeof publishVmRequestSchema>;

/**
 * Body of `POST /api/v1/tenants/:tenantId/reset-labs`: whose labs to reset; absent: the labs of
 * every member (role member) of the class.
 */
export const resetClassLabsRequestSchema = z.strictObject({
  ownerIds: z.array(z.uuid()).min(1).max(1000).optional(),
});

/** Body of `POST /api/v1/tenants/:tenantId/reset-labs`. */
export type ResetClassLabsRequest = z.infer<typeof resetClassLabsRequestSchema>;

/** Answer of `POST /api/v1/tenants/:tenantId/reset-labs`: the labs being reset, and the others with why. */
export const resetClassLabsResponseSchema = z.object({
  reset: z.array(vmSchema),
  refused: z.array(z.object({ vmId: z.string(), name: z.string(), reason: z.string() })),
});

/** Answer of `POST /api/v1/tenants/:tenantId/reset-labs`. */
export type ResetClassLabsResponse = z.infer<typeof resetClassLabsResponseSchema>;
