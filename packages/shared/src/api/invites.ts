import { z } from 'zod';
import { tenantRoleSchema } from '../roles.js';
import { loginResponseSchema, membershipSchema } from './auth.js';
import { labelSchema } from './common.js';
import { emailSchema, newPasswordSchema } from './users.js';

/** Prefix of every invite token, so a pasted one is recognisable. */
export const INVITE_TOKEN_PREFIX = 'lvi_';

/** An email domain an invite admits, e.g. `uni.example` (lower case, no `@`). */
const emailDomainSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a domain');

/** Body of `POST /api/v1/tenants/:tenantId/invites`. */
export const createInviteRequestSchema = z.strictObject({
  /** The role whoever joins gets; instructors may invite members only. */
  role: tenantRoleSchema.default('member'),
  /** Days until the link stops working; absent: it does not expire. */
  expiresInDays: z.int().min(1).max(365).optional(),
  /** How many people may join with it; absent: any number. */
  maxUses: z.int().min(1).max(10_000).optional(),
  /** Only accounts whose email is in one of these domains may join; empty or absent: any. */
  allowedDomains: z.array(emailDomainSchema).max(20).optional(),
});

/** Body of `POST /api/v1/tenants/:tenantId/invites`. */
export type CreateInviteRequest = z.input<typeof createInviteRequestSchema>;

/** An invite link of a tenant as its instructors and admins see it (never its token). */
export const inviteSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  role: tenantRoleSchema,
  expiresAt: z.string().nullable(),
  maxUses: z.int().nullable(),
  uses: z.int(),
  allowedDomains: z.array(z.string()),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  /** Whether someone can join with it now (not revoked, expired or used up). */
  usable: z.boolean(),
});

/** An invite link of a tenant. */
export type Invite = z.infer<typeof inviteSchema>;

/** Answer of creating an invite: the link's token, shown this once. */
export const createdInviteSchema = inviteSchema.extend({
  token: z.string(),
  /** The portal page that joins with it: `/join/<token>`. */
  path: z.string(),
});

/** Body of the invite routes that carry the link's token. */
export const inviteTokenRequestSchema = z.strictObject({
  token: z.string().startsWith(INVITE_TOKEN_PREFIX).max(100),
});

/** Answer of `POST /api/v1/invites/lookup`: what joining with the link does. */
export const invitePreviewSchema = z.object({
  tenantName: z.string(),
  role: tenantRoleSchema,
  expiresAt: z.string().nullable(),
  allowedDomains: z.array(z.string()),
});

/** What joining with a link does. */
export type InvitePreview = z.infer<typeof invitePreviewSchema>;

/** Answer of `POST /api/v1/invites/accept`: the membership the user now has. */
export const inviteAcceptedSchema = membershipSchema;

/** Body of `POST /api/v1/invites/register`: a new account that joins with the link. */
export const inviteRegisterRequestSchema = inviteTokenRequestSchema.extend({
  email: emailSchema,
  name: labelSchema(128),
  password: newPasswordSchema,
});

/** Answer of `POST /api/v1/invites/register`: the new account, signed in. */
export const inviteRegisteredSchema = loginResponseSchema;
