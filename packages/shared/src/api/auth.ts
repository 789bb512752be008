import { z } from 'zod';
import { tenantRoleSchema } from '../roles.js';

/** Body of `POST /api/v1/auth/login`. */
export const loginRequestSchema = z.strictObject({
  email: z.string().trim().toLowerCase().pipe(z.email()),
  password: z.string().min(1).max(1024),
});

/** Body of `POST /api/v1/auth/login`. */
export type LoginRequest = z.infer<typeof loginRequestSchema>;

/** A user as the API shows it (never with a password hash). */
export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  isPlatformAdmin: z.boolean(),
  disabled: z.boolean(),
  /** Whether the account has a password (an imported one has none until its user sets it). */
  hasPassword: z.boolean(),
  createdAt: z.string(),
});

/** A user as the API shows it. */
export type User = z.infer<typeof userSchema>;

/** One tenant membership of the signed-in user. */
export const membershipSchema = z.object({
  tenantId: z.string(),
  tenantName: z.string(),
  role: tenantRoleSchema,
});

/** One tenant membership of the signed-in user. */
export type Membership = z.infer<typeof membershipSchema>;

/** Answer of `POST /api/v1/auth/login`. */
export const loginResponseSchema = z.object({ user: userSchema, csrfToken: z.string() });

/** Answer of `POST /api/v1/auth/login`. */
export type LoginResponse = z.infer<typeof loginResponseSchema>;

/** Answer of `GET /api/v1/me`. */
export const meResponseSchema = z.object({
  user: userSchema,
  memberships: z.array(membershipSchema),
  /** What cookie-authenticated changes send as `X-CSRF-Token`; empty for API tokens (they need none). */
  csrfToken: z.string(),
});

/** Answer of `GET /api/v1/me`. */
export type MeResponse = z.infer<typeof meResponseSchema>;

/** Answer of `GET /api/v1/auth/providers`: which sign-in methods are offered. */
export const authProvidersSchema = z.object({ password: z.boolean(), oidc: z.boolean() });

/** Where an OpenID Connect provider returns: its parameters, passed on as they came. */
export const oidcCallbackQuerySchema = z.looseObject({});
