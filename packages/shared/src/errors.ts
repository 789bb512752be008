import { z } from 'zod';

/** The error codes of the public contract; each maps to one HTTP status in the server. */
export const ERROR_CODES = [
  'VALIDATION',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'QUOTA_EXCEEDED',
  'INVALID_STATE',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

/** An error code of the public contract. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The wire shape of every error, on REST and WebSocket alike. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The wire shape of every error. */
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Details of a `QUOTA_EXCEEDED` refusal. */
export const quotaRefusalSchema = z.object({
  resource: z.string(),
  limit: z.number(),
  used: z.number(),
  requested: z.number(),
});

/** Details of a `QUOTA_EXCEEDED` refusal. */
export type QuotaRefusal = z.infer<typeof quotaRefusalSchema>;
