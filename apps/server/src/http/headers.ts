import { idempotencyKeyHeaderSchema } from '@labvisor/shared';
import type { Request } from 'express';
import { parseInput } from './validate.js';

/** The request's `Idempotency-Key` header, checked (400 VALIDATION when malformed). */
export function idempotencyKeyOf(req: Request): string | undefined {
  return parseInput(
    idempotencyKeyHeaderSchema,
    { 'idempotency-key': req.get('idempotency-key') },
    'header',
  )['idempotency-key'];
}
