import { z } from 'zod';
import { AppError } from '../errors.js';

/** Where a value came from, for the error message. */
type Source = 'body' | 'query' | 'path' | 'header';

/**
 * Parses a request part with a strict schema; a bad value answers 400 VALIDATION naming each field.
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  source: Source = 'body',
): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: [...issue.path, key].join('.'),
        message: 'is not a known field',
      }));
    }
    return [{ field: issue.path.join('.') || source, message: issue.message }];
  });
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
  throw new AppError('VALIDATION', `Invalid ${source}: ${summary}`, { source, fields });
}

/** Parses a UUID path parameter; a malformed one answers 400 VALIDATION naming it. */
export function parseIdParam(params: Record<string, string | undefined>, name: string): string {
  return parseInput(z.object({ [name]: z.uuid() }), { [name]: params[name] }, 'path')[
    name
  ] as string;
}
