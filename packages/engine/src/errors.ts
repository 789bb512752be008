/** The error codes the engine raises; the server maps each one to an HTTP status. */
export const ENGINE_ERROR_CODES = [
  'VALIDATION',
  'INVALID_STATE',
  'NOT_FOUND',
  'CONFLICT',
  'CAPACITY_EXCEEDED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

/** One of {@link ENGINE_ERROR_CODES}. */
export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

/** The one error type the engine throws: a code the server maps, a message that says what failed and for what, and details. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: EngineErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EngineError';
    this.code = code;
    this.details = details;
  }
}

/** Whether a value is an {@link EngineError}. */
export function isEngineError(value: unknown): value is EngineError {
  return value instanceof EngineError;
}

/** Turns anything thrown into an {@link EngineError}: engine errors pass through, the rest become INTERNAL with the cause kept. */
export function toEngineError(value: unknown, context?: string): EngineError {
  if (value instanceof EngineError) return value;
  const reason = value instanceof Error ? value.message : String(value);
  return new EngineError('INTERNAL', context ? `${context}: ${reason}` : reason, undefined, {
    cause: value,
  });
}
