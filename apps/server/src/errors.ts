import { type EngineErrorCode, isEngineError } from '@labvisor/engine';
import type { ErrorBody, ErrorCode } from '@labvisor/shared';
import { isDatabaseUnavailable, isInvalidInputValue } from './db/errors.js';
import { detailsWithoutHostPaths } from './host-paths.js';

/** How each engine error code reaches the API: a full host is a capacity refusal, like a quota. */
const CODE_BY_ENGINE_CODE: Record<EngineErrorCode, ErrorCode> = {
  VALIDATION: 'VALIDATION',
  INVALID_STATE: 'INVALID_STATE',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  CAPACITY_EXCEEDED: 'QUOTA_EXCEEDED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
};

/** An error meant for the API's caller: a contract code, a sentence, optional details. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The contract's wire shape. */
  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

/**
 * Turns anything thrown into an AppError; unknown errors become INTERNAL and keep their cause. An
 * engine refusal keeps its sentence but not the details that name host files (its cause keeps
 * them for the log).
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isEngineError(error) && error.code !== 'INTERNAL') {
    return new AppError(
      CODE_BY_ENGINE_CODE[error.code],
      error.message,
      detailsWithoutHostPaths(error.details),
      { cause: error },
    );
  }
  if (isDatabaseUnavailable(error)) {
    return new AppError(
      'UNAVAILABLE',
      'The database is not available right now; try again in a moment.',
      undefined,
      { cause: error },
    );
  }
  if (isInvalidInputValue(error)) {
    return new AppError(
      'VALIDATION',
      'A value in the request cannot be used (invalid text or a number out of range).',
      undefined,
      { cause: error },
    );
  }
  const httpError = error as { type?: string; status?: number } | undefined;
  // body-parser's errors carry a type; they are the caller's fault, not ours.
  if (httpError?.type === 'entity.too.large') {
    return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  }
  if (httpError?.type === 'entity.parse.failed') {
    return new AppError('VALIDATION', 'The request body is not valid JSON.');
  }
  if (httpError?.type === 'encoding.unsupported' || httpError?.type === 'charset.unsupported') {
    return new AppError('VALIDATION', 'The request body has an unsupported encoding.');
  }
  return new AppError('INTERNAL', 'Something went wrong on the server.', undefined, {
    cause: error,
  });
}
