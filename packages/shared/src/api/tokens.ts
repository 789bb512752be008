import { z } from 'zod';
import { nameSchema } from './common.js';

/** Body of `POST /api/v1/tokens`. */
export const createTokenRequestSchema = z.strictObject({
  name: nameSchema,
  expiresInDays: z.int().min(1).max(365).optional(),
});

/** An API token as listed: never with its secret. */
export const apiTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});

/** An API token as listed. */
export type ApiToken = z.infer<typeof apiTokenSchema>;

/** Answer of `POST /api/v1/tokens`: the secret `token` is shown this once. */
export const createdTokenSchema = apiTokenSchema.extend({ token: z.string() });

/** Answer of `POST /api/v1/tokens`. */
export type CreatedToken = z.infer<typeof createdTokenSchema>;
