import { type EngineErrorCode, isEngineError } from '@labvisor/engine';
import type { ErrorBody, ErrorCode } from '@labvisor/shared';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** The one table from error code to HTTP status. */
export const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  QUOTA_EXCEEDED: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

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

  /** The HTTP status this error answers with. */
  get status(): number {
    return HTTP_STATUS_BY_CODE[this.code];
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

/** Turns anything thrown into an AppError; unknown errors become INTERNAL and keep their cause. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isEngineError(error) && error.code !== 'INTERNAL') {
    return new AppError(CODE_BY_ENGINE_CODE[error.code], error.message, error.details, {
      cause: error,
    });
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

/** Express error handler: answers the contract's error shape; logs server faults with their cause. */
export function errorHandler(logger: Logger, exposeStack: boolean): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const appError = toAppError(error);
    if (appError.code === 'INTERNAL') {
      logger.error(
        { err: appError.cause ?? error, method: req.method, url: req.originalUrl },
        'request failed',
      );
    }
    const body = appError.toBody();
    if (exposeStack && appError.code === 'INTERNAL' && appError.cause instanceof Error) {
      body.error.details = { ...body.error.details, stack: appError.cause.stack };
    }
    if (res.headersSent) return;
    res.status(appError.status).json(body);
  };
}

/** The JSON 404 for routes nobody serves. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}.`));
};
