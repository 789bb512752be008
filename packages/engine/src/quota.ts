/** The resources a tenant quota limits (see the public contract's quota keys). */
export const QUOTA_RESOURCES = [
  'runningVms',
  'vcpus',
  'memoryMib',
  'diskGib',
  'snapshots',
  'vmHoursPerMonth',
] as const;

/** One of {@link QUOTA_RESOURCES}. */
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** Limits per resource; a missing (or null) limit means unlimited. */
export type QuotaLimits = Partial<Record<QuotaResource, number | null>>;

/** Current usage per resource; missing means 0. */
export type QuotaUsage = Partial<Record<QuotaResource, number>>;

/** What an action would add per resource; missing means 0. */
export type QuotaRequest = Partial<Record<QuotaResource, number>>;

/** The answer of {@link checkQuota}: allowed, or the first resource that would go over its limit. */
export type QuotaDecision =
  | { allow: true }
  | { allow: false; resource: QuotaResource; limit: number; used: number; requested: number };

/**
 * Pure quota arithmetic for admission: `limits + usage + request → allow | deny`.
 * A request is denied when, for some resource, `used + requested > limit`. Resources the request
 * does not increase are never the reason for a denial, so a tenant already over a lowered limit
 * can still stop, delete or shrink things. Resources are checked in {@link QUOTA_RESOURCES} order.
 */
export function checkQuota(
  limits: QuotaLimits,
  usage: QuotaUsage,
  request: QuotaRequest,
): QuotaDecision {
  for (const resource of QUOTA_RESOURCES) {
    const requested = request[resource] ?? 0;
    if (requested <= 0) continue;
    const limit = limits[resource];
    if (limit === undefined || limit === null) continue;
    const used = usage[resource] ?? 0;
    if (used + requested > limit) {
      return { allow: false, resource, limit, used, requested };
    }
  }
  return { allow: true };
}

/** Every resource over its limit, for messages that list them all; empty when allowed. */
export function listQuotaViolations(
  limits: QuotaLimits,
  usage: QuotaUsage,
  request: QuotaRequest,
): Array<{ resource: QuotaResource; limit: number; used: number; requested: number }> {
  const violations = [];
  for (const resource of QUOTA_RESOURCES) {
    const decision = checkQuota(
      { [resource]: limits[resource] },
      { [resource]: usage[resource] },
      { [resource]: request[resource] },
    );
    if (!decision.allow) violations.push(decision);
  }
  return violations.map(({ resource, limit, used, requested }) => ({
    resource,
    limit,
    used,
    requested,
  }));
}
