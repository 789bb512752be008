import { z } from 'zod';

/** A UTF-16 surrogate without its pair: text that is not valid Unicode. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether text is fit to show and store: no control characters, no lone surrogates. */
export function isPlainText(text: string): boolean {
  return !LONE_SURROGATE.test(text) && !/\p{Cc}/u.test(text);
}

/** Text a person types as a label, 1 to `max` characters, without control characters. */
export function labelSchema(max: number) {
  return z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(isPlainText, 'must not contain control characters or invalid Unicode');
}

/** A name a person gives a thing: a tenant, a VM, a snapshot, a token. */
export const nameSchema = labelSchema(64);

/** A list response: `{items: [...]}`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item) });
}

/** The body of actions that take none: empty, or an empty object. */
export const emptyBodySchema = z.strictObject({});
