import { z } from 'zod';

/** Roles a user can hold inside a tenant, from least to most powerful. */
export const TENANT_ROLES = ['member', 'instructor', 'admin'] as const;

/** A role inside a tenant. */
export const tenantRoleSchema = z.enum(TENANT_ROLES);

/** A role inside a tenant. */
export type TenantRole = z.infer<typeof tenantRoleSchema>;
