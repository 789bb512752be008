import { z } from 'zod';
import { tenantRoleSchema } from '../roles.js';
import { labelSchema } from './common.js';

/** An email address, trimmed and lower-cased. */
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email());

/** A new account's password. */
export const newPasswordSchema = z.string().min(8).max(1024);

/** Body of `POST /api/v1/users` (platform admin). */
export const createUserRequestSchema = z.strictObject({
  email: emailSchema,
  name: labelSchema(128),
  password: newPasswordSchema,
  isPlatformAdmin: z.boolean().optional(),
});

/** Body of `POST /api/v1/tenants/:tenantId/members`. */
export const addMemberRequestSchema = z.strictObject({
  email: emailSchema,
  role: tenantRoleSchema,
});

/** A member's own limits inside the tenant quota; a missing key means only the tenant quota applies. */
export const memberLimitsSchema = z.strictObject({
  runningVms: z.int().min(0).optional(),
  vcpus: z.int().min(0).optional(),
  memoryMib: z.int().min(0).optional(),
  diskGib: z.int().min(0).optional(),
  /** The member's monthly hour budget, enforced while their VMs run (suspended at 100 %). */
  vmHoursPerMonth: z.number().min(0).max(1_000_000).optional(),
  /** Minutes without input after which the member's VMs are suspended, instead of the tenant's. */
  idleSuspendMinutes: z
    .int()
    .min(5)
    .max(24 * 60)
    .optional(),
});

/** Body of `PUT /api/v1/tenants/:tenantId/members/:userId/limits`; `null` removes them. */
export const putMemberLimitsRequestSchema = z.strictObject({
  limits: memberLimitsSchema.nullable(),
});

/** A tenant member. */
export const memberSchema = z.object({
  userId: z.string(),
  email: z.string(),
  name: z.string(),
  role: tenantRoleSchema,
  limits: memberLimitsSchema.nullable(),
  /** Hours their VMs ran this month (UTC), a running VM counted up to now. */
  vmHoursThisMonth: z.number(),
  /** The size of their home disk in the tenant, in GiB; null: they have none. */
  homeDiskGib: z.int().nullable(),
  createdAt: z.string(),
});

/** A tenant member. */
export type Member = z.infer<typeof memberSchema>;

/** Body of `PATCH /api/v1/tenants/:tenantId/members/:userId`: the member's new role. */
export const updateMemberRequestSchema = z.strictObject({ role: tenantRoleSchema });

/** Body of `PATCH /api/v1/users/:userId` (platform admin): rename, disable or enable an account. */
export const updateUserRequestSchema = z
  .strictObject({
    name: labelSchema(128).optional(),
    disabled: z.boolean().optional(),
  })
  .refine((body) => body.name !== undefined || body.disabled !== undefined, {
    message: 'Give a new name or disabled: true|false.',
  });

/** Body of `POST /api/v1/users`. */
export type CreateUserRequest = z.infer<typeof createUserRequestSchema>;

/** Body of `PATCH /api/v1/users/:userId`. */
export type UpdateUserRequest = z.infer<typeof updateUserRequestSchema>;

/** Body of `POST /api/v1/tenants/:tenantId/members`. */
export type AddMemberRequest = z.infer<typeof addMemberRequestSchema>;
