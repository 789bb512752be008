import { z } from 'zod';
import { tenantRoleSchema } from '../roles.js';
import { newPasswordSchema } from './users.js';

/** Prefix of every one-time sign-in link's token. */
export const SIGN_IN_LINK_PREFIX = 'lvl_';

/** Most rows one roster import takes. */
export const MAX_ROSTER_ROWS = 2000;

/** Body of `POST /api/v1/tenants/:tenantId/roster`: the CSV text (email, name, optional role). */
export const rosterImportRequestSchema = z.strictObject({
  csv: z.string().min(1).max(1_000_000),
});

/** Query of `POST /api/v1/tenants/:tenantId/roster`: `?dryRun=1` previews, changing nothing. */
export const rosterImportQuerySchema = z.strictObject({
  dryRun: z.enum(['0', '1', 'true', 'false']).optional(),
});

/** What an import does (or did) with one row of the CSV. */
export const rosterOutcomeSchema = z.enum([
  'new-account',
  'added',
  'role-changed',
  'already-member',
  'refused',
]);

/** One row of a roster import and what it does. */
export const rosterRowSchema = z.object({
  /** Its line in the file (1 is the first). */
  line: z.int(),
  email: z.string(),
  name: z.string(),
  role: tenantRoleSchema.nullable(),
  outcome: rosterOutcomeSchema,
  /** Why it is refused. */
  reason: z.string().nullable(),
  /** A new account's one-time sign-in link (`/signin/<token>`), in an applied import only. */
  signInPath: z.string().nullable(),
});

/** One row of a roster import. */
export type RosterRow = z.infer<typeof rosterRowSchema>;

/** Answer of `POST /api/v1/tenants/:tenantId/roster`. */
export const rosterImportSchema = z.object({
  /** False for a preview (`?dryRun=1`). */
  applied: z.boolean(),
  rows: z.array(rosterRowSchema),
  counts: z.record(rosterOutcomeSchema, z.int()),
});

/** Answer of a roster import or its preview. */
export type RosterImport = z.infer<typeof rosterImportSchema>;

/** Body of `POST /api/v1/auth/link`: a one-time sign-in link's token. */
export const signInLinkRequestSchema = z.strictObject({
  token: z.string().startsWith(SIGN_IN_LINK_PREFIX).max(100),
});

/** Body of `PUT /api/v1/me/password`: the current password (unless the account has none yet). */
export const setPasswordRequestSchema = z.strictObject({
  currentPassword: z.string().min(1).max(1024).optional(),
  newPassword: newPasswordSchema,
});
