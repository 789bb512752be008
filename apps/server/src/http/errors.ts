import type { ErrorCode } from '@labvisor/shared';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { AppError, toAppError } from '../errors.js';

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
    res.status(HTTP_STATUS_BY_CODE[appError.code]).json(body);
  };
}

/** The JSON 404 for routes nobody serves. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}.`));
};
