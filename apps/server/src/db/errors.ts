/** Postgres SQLSTATE for a unique violation. */
const UNIQUE_VIOLATION = '23505';
/** Postgres SQLSTATE for a foreign key violation. */
const FOREIGN_KEY_VIOLATION = '23503';

function sqlState(error: unknown): string | undefined {
  return (error as { code?: unknown } | undefined)?.code as string | undefined;
}

/** Whether a database error is a unique-constraint violation (on pg and PGlite alike). */
export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === UNIQUE_VIOLATION;
}

/** Whether a database error is a foreign-key violation. */
export function isForeignKeyViolation(error: unknown): boolean {
  return sqlState(error) === FOREIGN_KEY_VIOLATION;
}

/** Socket errors of a database server that is down or unreachable. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** SQLSTATEs of a server shutting down or not accepting connections (class 08: connection). */
const UNAVAILABLE_SQL_STATES = new Set(['57P01', '57P02', '57P03']);

/**
 * Whether an error means the database cannot be reached right now (server stopped, restarting,
 * network gone, no connection free in time), rather than a fault of the request or the server.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 3; depth++) {
    const candidate = current as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    const code = typeof candidate.code === 'string' ? candidate.code : '';
    if (
      CONNECTION_ERROR_CODES.has(code) ||
      UNAVAILABLE_SQL_STATES.has(code) ||
      code.startsWith('08')
    ) {
      return true;
    }
    if (candidate.name === 'KnexTimeoutError') return true;
    if (
      typeof candidate.message === 'string' &&
      /Connection terminated|connection error|Client was closed|timeout exceeded when trying to connect/i.test(
        candidate.message,
      )
    ) {
      return true;
    }
    current = candidate.cause;
  }
  return false;
}

/**
 * Whether Postgres refused a value the request carried (SQLSTATE class 22, data exception: a NUL
 * or invalid byte in text, a number out of range): the caller's fault, not the server's.
 */
export function isInvalidInputValue(error: unknown): boolean {
  const state = sqlState(error);
  return typeof state === 'string' && state.startsWith('22');
}
