import { z } from 'zod';

/** A name a person gives a thing: a tenant, a VM, a snapshot, a token. */
export const nameSchema = z.string().trim().min(1).max(64);

/** A list response: `{items: [...]}`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item) });
}

/** The body of actions that take none: empty, or an empty object. */
export const emptyBodySchema = z.strictObject({});
