/** A timestamp column as the API answers it: ISO 8601, or null. */
export function isoOrNull(value: Date | string | null): string | null {
  return value ? new Date(value).toISOString() : null;
}
