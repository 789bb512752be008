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
