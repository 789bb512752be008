import { z } from 'zod';
import { nameSchema } from './common.js';
import { networkModeSchema } from './vms.js';

/** A tenant: a class, a department, a customer. */
export const tenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  recordingEnabled: z.boolean(),
  /** The image the tenant's launch form offers first; null: the first image listed. */
  defaultImageId: z.string().nullable(),
  /**
   * Minutes without real console input (and no interactive console open) after which a VM is
   * suspended to disk, its work kept; null: never.
   */
  idleSuspendMinutes: z.int().nullable(),
  /** The network a VM gets when its launch names none. */
  defaultNetwork: networkModeSchema,
  /** Whether the tenant's `class` network also reaches the internet (outbound only). */
  classInternet: z.boolean(),
  /** Each VM's bandwidth each way, in megabits per second (platform admins); null: unlimited. */
  bandwidthMbps: z.int().nullable(),
  /** How many of its VMs may reach the internet (platform admins); null: no cap. */
  maxInternetVms: z.int().nullable(),
  /**
   * Each member's persistent home disk in GiB (0: none): attached to their labs, mounted as their
   * home by the Labvisor images, kept when a lab is reset, counted in the tenant's diskGib.
   */
  homeDiskGib: z.int(),
  /** The network modes this platform offers (its configuration and what its host can run). */
  networkModes: z.array(networkModeSchema),
  createdAt: z.string(),
});

/** A tenant. */
export type Tenant = z.infer<typeof tenantSchema>;

/** Body of `POST /api/v1/tenants`. */
export const createTenantRequestSchema = z.strictObject({ name: nameSchema });

/**
 * Body of `PATCH /api/v1/tenants/:tenantId`: the name, recording and network limits are platform
 * admins' to change; the class settings (default image, idle policy, network) its tenant admins' too.
 */
export const updateTenantRequestSchema = z.strictObject({
  name: nameSchema.optional(),
  recordingEnabled: z.boolean().optional(),
  defaultImageId: z.uuid().nullable().optional(),
  idleSuspendMinutes: z
    .int()
    .min(5)
    .max(24 * 60)
    .nullable()
    .optional(),
  defaultNetwork: networkModeSchema.optional(),
  classInternet: z.boolean().optional(),
  bandwidthMbps: z.int().min(1).max(100_000).nullable().optional(),
  maxInternetVms: z.int().min(0).max(100_000).nullable().optional(),
  homeDiskGib: z.int().min(0).max(1024).optional(),
});

/** Body of `POST /api/v1/tenants`. */
export type CreateTenantRequest = z.infer<typeof createTenantRequestSchema>;

/** Body of `PATCH /api/v1/tenants/:tenantId`. */
export type UpdateTenantRequest = z.infer<typeof updateTenantRequestSchema>;
